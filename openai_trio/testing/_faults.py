"""Fault plans: which request the fake server answers badly, and how.

A fault is a small frozen value.  Most faults are rewrites of the
``FakeResponse`` the server was about to send (a delay, a body cut into
crumbs, bytes that break HTTP), so they inherit that class's semantics on
both protocols; the HTTP/2 ones (GOAWAY, RST_STREAM) are acted on by the
HTTP/2 side of the server.  A :class:`FaultPlan` picks a fault, or none,
for every request the server receives and logs its choice.
"""

from __future__ import annotations

import random
from collections import Counter, OrderedDict, deque
from typing import ClassVar, Iterable, Literal, Mapping, Sequence, Union

import attrs

from ._responses import FakeResponse, ReceivedRequest

__all__ = [
    "Fault",
    "DelayHead",
    "PartialChunks",
    "ResetMidBody",
    "LateTerminator",
    "MalformedStatusLine",
    "MalformedHeaders",
    "MalformedChunkSize",
    "EarlyClose",
    "SlowTrickle",
    "OversizedHeaders",
    "RateLimited",
    "ServerErrors",
    "GoAway",
    "ResetStream",
    "FaultPlan",
    "AppliedFault",
    "DEFAULT_FAULTS",
    "HTTP1",
    "HTTP2",
    "REFUSED_STREAM",
    "INTERNAL_ERROR",
]

HTTP1 = "1.1"
HTTP2 = "2"
_BOTH = frozenset({HTTP1, HTTP2})
_ONLY_H1 = frozenset({HTTP1})
_ONLY_H2 = frozenset({HTTP2})

#: HTTP/2 error codes the faults use (RFC 9113, section 7).
REFUSED_STREAM = 0x7
INTERNAL_ERROR = 0x2

# A call tied to a 5xx sequence is remembered until this many calls newer
# than it have started one: a plan serving a long soak stays bounded.
_MAX_TRACKED_CALLS = 10_000
_DEFAULT_LOG_LIMIT = 10_000


def _body_of(response: FakeResponse) -> bytes:
    return b"".join(response.body)


def _crumbs(data: bytes, size: int) -> tuple[bytes, ...]:
    return tuple(data[i : i + size] for i in range(0, len(data), size))


def _positive_int(_inst: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be a positive int, got {value!r}")


def _non_negative(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{attribute.name} must be a number >= 0, got {value!r}")


@attrs.frozen
class Fault:
    """Base of every fault kind.

    ``protocols`` are the HTTP versions a fault makes sense on; a plan
    never serves a fault to a request of another version (it logs the
    request as unfaulted, with the fault it skipped).  ``unprocessed``
    faults tell the client the server did not act on the request (it may
    send it again without spending a retry); the server does not run its
    handler for them.
    """

    protocols: ClassVar[frozenset[str]] = _BOTH

    @property
    def unprocessed(self) -> bool:
        return False

    @property
    def kind(self) -> str:
        return type(self).__name__

    def applies_to(self, http_version: str) -> bool:
        return http_version in self.protocols

    def apply(self, response: FakeResponse) -> FakeResponse:
        """The response to send instead of ``response``."""
        return response


@attrs.frozen
class DelayHead(Fault):
    """Wait ``seconds`` before the status line (or HEADERS frame)."""

    seconds: float = attrs.field(default=0.05, validator=_non_negative)

    def apply(self, response: FakeResponse) -> FakeResponse:
        return attrs.evolve(response, headers_delay=response.headers_delay + self.seconds)


@attrs.frozen
class PartialChunks(Fault):
    """The body in pieces of ``size`` bytes, each its own write (and its own
    chunk, or DATA frame)."""

    size: int = attrs.field(default=1, validator=_positive_int)

    def apply(self, response: FakeResponse) -> FakeResponse:
        return attrs.evolve(response, body=_crumbs(_body_of(response), self.size))


@attrs.frozen
class ResetMidBody(Fault):
    """Send the head and ``after_bytes`` bytes of the body (one byte less
    than the whole body if it is shorter), then drop the connection.

    ``abort`` resets a TCP connection (RST) instead of closing it in order.
    """

    after_bytes: int = attrs.field(default=16, validator=attrs.validators.ge(0))
    abort: bool = True

    def apply(self, response: FakeResponse) -> FakeResponse:
        body = _body_of(response)
        if not body:
            # Nothing to cut: promise a byte that never comes.
            return attrs.evolve(response, body=(b"{",), close_after=0, chunked=False)
        cut = min(self.after_bytes, len(body) - 1)
        pieces = (body[:cut], body[cut:]) if cut else (body,)
        return attrs.evolve(response, body=pieces, close_after=len(pieces) - 1)


@attrs.frozen
class LateTerminator(Fault):
    """The whole body at once, then a wait of ``seconds`` before the end of
    the message (HTTP/1.1's final empty chunk, HTTP/2's END_STREAM)."""

    seconds: float = attrs.field(default=0.05, validator=_non_negative)

    def apply(self, response: FakeResponse) -> FakeResponse:
        return attrs.evolve(response, chunked=True, end_delay=response.end_delay + self.seconds)


def _status_head(status: bytes) -> bytes:
    return b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


@attrs.frozen
class MalformedStatusLine(Fault):
    """A status line that is not one (HTTP/1.1 only)."""

    protocols: ClassVar[frozenset[str]] = _ONLY_H1
    line: bytes = b"HTTP/1.1 2OO OK"

    def apply(self, response: FakeResponse) -> FakeResponse:
        return FakeResponse.raw([self.line + b"\r\ncontent-length: 2\r\n\r\n{}"])


@attrs.frozen
class MalformedHeaders(Fault):
    """A head with a line that is not a header field (HTTP/1.1 only)."""

    protocols: ClassVar[frozenset[str]] = _ONLY_H1
    line: bytes = b"this line has no colon"

    def apply(self, response: FakeResponse) -> FakeResponse:
        return FakeResponse.raw([b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n" + self.line + b"\r\n\r\n{}"])


@attrs.frozen
class MalformedChunkSize(Fault):
    """A chunked body whose first chunk size is not hexadecimal (HTTP/1.1 only)."""

    protocols: ClassVar[frozenset[str]] = _ONLY_H1
    size_line: bytes = b"zz"

    def apply(self, response: FakeResponse) -> FakeResponse:
        head = (
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        return FakeResponse.raw([head + self.size_line + b"\r\n{}\r\n0\r\n\r\n"])


@attrs.frozen
class EarlyClose(Fault):
    """Read the request, then close the connection without a byte of answer."""

    def apply(self, response: FakeResponse) -> FakeResponse:
        return FakeResponse.raw([])


@attrs.frozen
class SlowTrickle(Fault):
    """The body ``size`` bytes at a time, ``interval`` seconds apart."""

    interval: float = attrs.field(default=0.005, validator=_non_negative)
    size: int = attrs.field(default=8, validator=_positive_int)

    def apply(self, response: FakeResponse) -> FakeResponse:
        return attrs.evolve(response, body=_crumbs(_body_of(response), self.size), delay=self.interval)


@attrs.frozen
class OversizedHeaders(Fault):
    """A response head padded with a header of ``size`` bytes (the client
    bounds heads at 64 KiB by default)."""

    size: int = attrs.field(default=128 * 1024, validator=_positive_int)

    def apply(self, response: FakeResponse) -> FakeResponse:
        return attrs.evolve(response, headers=(*response.headers, ("x-padding", "p" * self.size)))


def _seconds(value: float) -> str:
    return repr(float(value)) if value != int(value) else str(int(value))


@attrs.frozen
class RateLimited(Fault):
    """A 429 with ``retry-after`` (seconds) and, when given, ``retry-after-ms``."""

    retry_after: float | None = attrs.field(default=0.01)
    retry_after_ms: float | None = None

    def apply(self, response: FakeResponse) -> FakeResponse:
        headers = []
        if self.retry_after is not None:
            headers.append(("retry-after", _seconds(self.retry_after)))
        if self.retry_after_ms is not None:
            headers.append(("retry-after-ms", _seconds(self.retry_after_ms)))
        return FakeResponse.error(429, "Rate limit reached (a scripted fault).", headers=headers)


def _int_tuple(value: Iterable[int]) -> tuple[int, ...]:
    return tuple(value)


@attrs.frozen
class ServerErrors(Fault):
    """A sequence of 5xx answers to one call: its first attempt gets
    ``statuses[0]``, its retries the next ones, then it is served normally.

    Attempts of one call are recognised by the plan's ``call_key`` header;
    a request without it gets just the first status.
    """

    statuses: tuple[int, ...] = attrs.field(default=(500, 502), converter=_int_tuple)
    retry_after_ms: float | None = 1

    def __attrs_post_init__(self) -> None:
        if not self.statuses or not all(isinstance(s, int) and 500 <= s <= 599 for s in self.statuses):
            raise ValueError(f"statuses must be a non-empty sequence of 5xx ints, got {self.statuses!r}")

    def status_response(self, status: int) -> FakeResponse:
        headers = [] if self.retry_after_ms is None else [("retry-after-ms", _seconds(self.retry_after_ms))]
        return FakeResponse.error(status, f"A scripted {status}.", headers=headers)

    def apply(self, response: FakeResponse) -> FakeResponse:
        return self.status_response(self.statuses[0])


@attrs.frozen
class GoAway(Fault):
    """An HTTP/2 GOAWAY as the request arrives (HTTP/2 only).

    ``last_stream="below"`` leaves this request out (the server will not
    process it, so the client may send it again elsewhere); ``"above"``
    keeps it in, answers it normally and closes the connection once the
    streams it kept are done.
    """

    protocols: ClassVar[frozenset[str]] = _ONLY_H2
    last_stream: Literal["below", "above"] = attrs.field(
        default="below", validator=attrs.validators.in_(("below", "above"))
    )
    error_code: int = 0

    @property
    def unprocessed(self) -> bool:
        return self.last_stream == "below"


@attrs.frozen
class ResetStream(Fault):
    """An HTTP/2 RST_STREAM on the request's stream (HTTP/2 only).

    ``after_bytes=None`` resets before the head; a number sends the head
    and that many body bytes first.  A ``REFUSED_STREAM`` before the head
    tells the client the request was not processed.
    """

    protocols: ClassVar[frozenset[str]] = _ONLY_H2
    error_code: int = INTERNAL_ERROR
    after_bytes: int | None = None

    @property
    def unprocessed(self) -> bool:
        return self.error_code == REFUSED_STREAM and self.after_bytes is None

    def apply(self, response: FakeResponse) -> FakeResponse:
        if self.after_bytes is None:
            return response
        body = _body_of(response)
        cut = min(self.after_bytes, max(len(body) - 1, 0))
        return attrs.evolve(response, body=(body[:cut], body[cut:]) if cut else (b"", body))


#: One of each kind, with its default parameters (what ``FaultPlan.random``
#: draws from unless told otherwise).
DEFAULT_FAULTS: tuple[Fault, ...] = (
    DelayHead(),
    PartialChunks(),
    ResetMidBody(),
    LateTerminator(),
    MalformedStatusLine(),
    MalformedHeaders(),
    MalformedChunkSize(),
    EarlyClose(),
    SlowTrickle(),
    OversizedHeaders(),
    RateLimited(),
    ServerErrors(),
    GoAway("below"),
    GoAway("above"),
    ResetStream(REFUSED_STREAM),
    ResetStream(INTERNAL_ERROR),
    ResetStream(INTERNAL_ERROR, after_bytes=8),
)


@attrs.frozen
class AppliedFault:
    """What the plan chose for one request, in the order requests arrived.

    ``fault`` is None for a request served normally; ``skipped`` is a fault
    the plan picked that does not apply to the request's protocol.
    ``call`` is the value of the plan's ``call_key`` header, if present.
    """

    index: int
    method: str
    path: str
    http_version: str
    call: str | None
    fault: Fault | None
    skipped: Fault | None = None


FaultEntry = Union[Fault, None]
_Script = Union[FaultEntry, Sequence[FaultEntry]]


class _PathRoute:
    __slots__ = ("method", "script", "segments", "served")

    def __init__(self, key: str, script: _Script) -> None:
        method, sep, path = key.partition(" ")
        if not sep or not path.startswith("/"):
            raise ValueError(f"a route is 'METHOD /path', got {key!r}")
        self.method = method.upper()
        self.segments = path.strip("/").split("/")
        self.script: Fault | tuple[FaultEntry, ...] | None = (
            script if script is None or isinstance(script, Fault) else _check_script(script)
        )
        self.served = 0

    def matches(self, method: str, path: str) -> bool:
        segments = path.strip("/").split("/")
        return (
            method == self.method
            and len(segments) == len(self.segments)
            and all(
                (p.startswith("{") and p.endswith("}") and s != "") or p == s
                for p, s in zip(self.segments, segments, strict=True)
            )
        )

    def next(self) -> Fault | None:
        script = self.script
        if script is None or isinstance(script, Fault):
            return script
        index = self.served
        self.served += 1
        return script[index] if index < len(script) else None


def _check_script(entries: Iterable[FaultEntry]) -> tuple[FaultEntry, ...]:
    out = tuple(entries)
    for entry in out:
        if entry is not None and not isinstance(entry, Fault):
            raise TypeError(f"a fault script holds Fault instances or None, not {type(entry).__name__}")
    return out


class FaultPlan:
    """Which fault, if any, each request the fake server receives gets.

    * ``FaultPlan([f0, None, f2])``: the server's first request gets ``f0``,
      the second none, the third ``f2``, the rest none.
    * ``FaultPlan(routes={"POST /v1/chat/completions": [f0, f1]})``: the
      same, counted per route (``{name}`` matches any one path segment); a
      single fault instead of a list applies to every matching request.
      Routes are tried before the script.
    * ``FaultPlan.random(seed=1, rate=0.3, kinds=...)``: each request gets a
      fault with probability ``rate``, drawn from ``kinds`` (a sequence, or
      a mapping of fault to weight).

    ``call_key`` names the request header that ties the attempts of one
    call together: it lets a :class:`ServerErrors` sequence follow the
    call's retries and, in a random plan, makes each attempt's draw depend
    on the seed, the call and the attempt number only (not on the order in
    which concurrent requests arrived).  By default it is the
    ``idempotency-key`` the client sends with every POST.

    ``applied`` logs each choice (the newest ``log_limit``); ``counts``
    counts the faults served by kind, and ``received`` every request.
    """

    def __init__(
        self,
        script: Iterable[FaultEntry] = (),
        *,
        routes: Mapping[str, _Script] | None = None,
        call_key: str | None = "idempotency-key",
        log_limit: int = _DEFAULT_LOG_LIMIT,
    ) -> None:
        self._script = _check_script(script)
        self._routes = [_PathRoute(key, value) for key, value in (routes or {}).items()]
        self._call_key = call_key.lower() if call_key is not None else None
        self._random: tuple[int, float, tuple[Fault, ...], tuple[float, ...]] | None = None
        self._rng: random.Random | None = None
        # Per call: attempts seen, and the 5xx statuses still to serve it.
        self._calls: OrderedDict[str, tuple[int, tuple[int, ...], ServerErrors | None]] = OrderedDict()
        self.applied: deque[AppliedFault] = deque(maxlen=log_limit)
        self.counts: Counter[str] = Counter()
        self.received = 0

    @classmethod
    def random(
        cls,
        *,
        seed: int,
        rate: float = 0.3,
        kinds: Sequence[Fault] | Mapping[Fault, float] = DEFAULT_FAULTS,
        call_key: str | None = "idempotency-key",
        log_limit: int = _DEFAULT_LOG_LIMIT,
    ) -> FaultPlan:
        """A seeded random plan: the same seed and the same requests give
        the same faults."""
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise ValueError(f"rate must be a number in [0, 1], got {rate!r}")
        if isinstance(kinds, Mapping):
            faults, weights = tuple(kinds), tuple(float(w) for w in kinds.values())
        else:
            faults = tuple(kinds)
            weights = (1.0,) * len(faults)
        _check_script(faults)
        if not faults or any(w < 0 for w in weights) or not sum(weights) > 0:
            raise ValueError("kinds must hold at least one fault, with non-negative weights that are not all 0")
        plan = cls(call_key=call_key, log_limit=log_limit)
        plan._random = (seed, float(rate), faults, weights)
        plan._rng = random.Random(seed)
        return plan

    def __repr__(self) -> str:
        mode = "random" if self._random is not None else "scripted"
        return f"<FaultPlan {mode} received={self.received} faults={sum(self.counts.values())}>"

    def _draw(self, call: str | None, attempt: int) -> Fault | None:
        assert self._random is not None and self._rng is not None
        seed, rate, faults, weights = self._random
        rng = self._rng if call is None else random.Random(f"{seed}/{call}/{attempt}")
        if rng.random() >= rate:
            return None
        return rng.choices(faults, weights)[0]

    def choose(self, request: ReceivedRequest) -> Fault | None:
        """The fault for ``request`` (the fake server calls this once per
        request it receives, in order of arrival)."""
        index = self.received
        self.received += 1
        call = request.headers.get(self._call_key) if self._call_key is not None else None
        attempt = 0
        pending: tuple[int, ...] = ()
        sequence: ServerErrors | None = None
        if call is not None:
            attempt, pending, sequence = self._calls.pop(call, (0, (), None))
        fault: Fault | None
        if pending and sequence is not None:
            fault = attrs.evolve(sequence, statuses=pending)
            pending = pending[1:]
        else:
            fault = self._pick(request, call, attempt)
            if isinstance(fault, ServerErrors) and fault.applies_to(request.http_version):
                pending, sequence = fault.statuses[1:], fault
        if call is not None:
            self._calls[call] = (attempt + 1, pending, sequence)
            if len(self._calls) > _MAX_TRACKED_CALLS:
                self._calls.popitem(last=False)
        skipped = None
        if fault is not None and not fault.applies_to(request.http_version):
            fault, skipped = None, fault
        if fault is not None:
            self.counts[fault.kind] += 1
        self.applied.append(
            AppliedFault(index, request.method, request.path, request.http_version, call, fault, skipped)
        )
        return fault

    def _pick(self, request: ReceivedRequest, call: str | None, attempt: int) -> Fault | None:
        for route in self._routes:
            if route.matches(request.method, request.path):
                return route.next()
        if self._random is not None:
            return self._draw(call, attempt)
        index = self.received - 1
        return self._script[index] if index < len(self._script) else None
