"""Opt-in resilience for callers with several providers: the decisions.

A client-side rate limiter (requests and tokens per minute, tightened by
the ``x-ratelimit-*`` headers a server sends) and a circuit breaker per
origin.  Both are plain state machines: time comes in as ``now`` (seconds
on any monotonic clock the runtime chooses), nothing here waits.  The trio
adapter's ``ResilientClient`` drives them; another runtime can too.

Nothing is on by default: a ``Client`` never consults these.
"""

from __future__ import annotations

import enum
import math
import re
from collections import deque
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

import attrs

from ._errors import APIConnectionError, APIStatusError, LocalProtocolError
from ._retry import RetryPolicy

__all__ = [
    "CircuitBreaker",
    "CircuitState",
    "RateLimitHeaders",
    "RateLimiter",
    "estimate_tokens",
    "is_failover_error",
    "parse_rate_limit_headers",
    "parse_reset_duration",
]

# --------------------------------------------------------------------------
# The x-ratelimit-* headers
# --------------------------------------------------------------------------

# The reset values look like Go durations: "1s", "6m0s", "20ms", "1h2m3.5s".
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s|us|µs|ns)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
# A longer reset than a day is nonsense from a per-minute limiter; taking
# it would stall the caller for good on one bad header.
_MAX_RESET = 86_400.0
_MAX_DURATION_TEXT = 64


def parse_reset_duration(text: str) -> float | None:
    """Seconds in a reset value (``"6m0s"``, ``"20ms"``, or a bare number of
    seconds), or None when the text is not one.  Capped at a day."""
    text = text.strip()
    if not text or len(text) > _MAX_DURATION_TEXT:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pos = 0
        seconds = 0.0
        for match in _DURATION_PART.finditer(text):
            if match.start() != pos:
                return None
            seconds += float(match[1]) * _UNIT_SECONDS[match[2]]
            pos = match.end()
        if pos != len(text) or pos == 0:
            return None
    if math.isnan(seconds) or seconds < 0:
        return None
    return min(seconds, _MAX_RESET)


def _count(value: str | None) -> int | None:
    if value is None:
        return None
    value = value.strip()
    if not value.isdigit() or len(value) > 18:
        return None
    return int(value)


@attrs.frozen
class RateLimitHeaders:
    """What a response said of the caller's limits (None: not said)."""

    limit_requests: int | None = None
    limit_tokens: int | None = None
    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    reset_requests: float | None = None  # seconds from the response
    reset_tokens: float | None = None
    retry_after: float | None = None  # seconds, from retry-after(-ms)

    @property
    def empty(self) -> bool:
        return self == _NOTHING_SAID


_NOTHING_SAID = RateLimitHeaders()
_RETRY_AFTER = RetryPolicy()


def parse_rate_limit_headers(headers: Mapping[str, str], *, now: float | None = None) -> RateLimitHeaders:
    """The ``x-ratelimit-*`` and ``retry-after`` fields of ``headers``;
    malformed values count as absent.  ``now`` is the wall-clock time, needed
    only for a ``retry-after`` given as an HTTP date."""

    def reset(name: str) -> float | None:
        raw = headers.get(name)
        return None if raw is None else parse_reset_duration(raw)

    retry_after = _RETRY_AFTER.server_delay(headers, now=0.0 if now is None else now)
    if retry_after is not None and not 0 <= retry_after <= _MAX_RESET:
        retry_after = None if retry_after < 0 or math.isnan(retry_after) else _MAX_RESET
    return RateLimitHeaders(
        limit_requests=_count(headers.get("x-ratelimit-limit-requests")),
        limit_tokens=_count(headers.get("x-ratelimit-limit-tokens")),
        remaining_requests=_count(headers.get("x-ratelimit-remaining-requests")),
        remaining_tokens=_count(headers.get("x-ratelimit-remaining-tokens")),
        reset_requests=reset("x-ratelimit-reset-requests"),
        reset_tokens=reset("x-ratelimit-reset-tokens"),
        retry_after=retry_after,
    )


# --------------------------------------------------------------------------
# Token estimates
# --------------------------------------------------------------------------

# Keys of a request body whose strings the model reads; the rest (model
# names, ids, enum values) costs next to nothing.
_CHARS_PER_TOKEN = 4
_OUTPUT_CAPS = ("max_completion_tokens", "max_output_tokens", "max_tokens")
_MAX_WALK = 100_000


def estimate_tokens(body: Mapping[str, Any] | None) -> int:
    """A rough token count of a request, for a tokens-per-minute budget.

    Text in the body at about four characters a token, plus the output cap
    the request sets (``max_completion_tokens``, ``max_output_tokens`` or
    ``max_tokens``); servers count what the limit counts the same way: the
    prompt plus the most the answer may use.  After the call the limiter
    is told the real usage (``RateLimiter.settle``).
    """
    if not body:
        return 0
    chars = 0
    # Breadth first, so a bounded walk of a huge (or circular) body still
    # counts the text near its top.
    queue: deque[Any] = deque([body])
    seen = 0
    while queue and seen < _MAX_WALK:
        item = queue.popleft()
        seen += 1
        if isinstance(item, str):
            chars += len(item)
        elif isinstance(item, Mapping):
            queue.extend(item.values())
        elif isinstance(item, (list, tuple)):
            queue.extend(item)
    output = 0
    for name in _OUTPUT_CAPS:
        cap = body.get(name)
        if isinstance(cap, int) and not isinstance(cap, bool) and cap > 0:
            output = cap
            break
    return -(-chars // _CHARS_PER_TOKEN) + output


# --------------------------------------------------------------------------
# The rate limiter
# --------------------------------------------------------------------------


@attrs.define
class _Bucket:
    """A token bucket refilled continuously, ``per_minute`` a minute.

    ``level`` may go below zero: a request larger than what is left is let
    through once the bucket is full enough that it would have been, and
    then it owes the difference (so one huge prompt is not refused for
    ever by a small budget)."""

    per_minute: float | None  # None: no limit known yet
    level: float = 0.0
    updated: float | None = None
    blocked_until: float = -math.inf

    def refill(self, now: float) -> None:
        if self.per_minute is None:
            return
        if self.updated is None:
            self.level = self.per_minute
        elif now > self.updated:
            self.level = min(self.per_minute, self.level + (now - self.updated) * self.per_minute / 60.0)
        self.updated = now if self.updated is None else max(self.updated, now)

    def delay(self, now: float, amount: float) -> float:
        wait = max(0.0, self.blocked_until - now)
        if self.per_minute is None or self.per_minute <= 0:
            return wait
        self.refill(now)
        # Never ask for more than a full bucket, or a large request waits for ever.
        need = min(amount, self.per_minute) - self.level
        if need > 0:
            wait = max(wait, need * 60.0 / self.per_minute)
        return wait

    def take(self, now: float, amount: float) -> None:
        self.refill(now)
        self.level -= amount


@attrs.define(repr=False)
class RateLimiter:
    """Requests and tokens per minute for one endpoint (one key at one
    provider), as a caller-side budget.

    ``requests_per_minute`` and ``tokens_per_minute`` set the budgets;
    either may be None, in which case the server's ``x-ratelimit-limit-*``
    header sets it when it first arrives.  ``observe()`` also takes the
    server's remaining counts and reset times: when it says none are left,
    the budget waits until the reset, whatever the local count thinks.

    The runtime asks ``delay(now, tokens)`` how long to wait, waits, asks
    again (another caller may have gone first), and calls ``take(now,
    tokens)`` when the delay is zero, right before sending.
    """

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    _requests: _Bucket = attrs.field(init=False)
    _tokens: _Bucket = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        for name in ("requests_per_minute", "tokens_per_minute"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or math.isinf(value)
            ):
                raise LocalProtocolError(f"{name} must be a positive number or None, not {value!r}")
        self._requests = _Bucket(self.requests_per_minute)
        self._tokens = _Bucket(self.tokens_per_minute)

    def __repr__(self) -> str:
        return (
            f"RateLimiter(requests_per_minute={self._requests.per_minute!r}, "
            f"tokens_per_minute={self._tokens.per_minute!r})"
        )

    def delay(self, now: float, tokens: int = 0) -> float:
        """Seconds to wait before a request estimated at ``tokens`` may go."""
        return max(self._requests.delay(now, 1), self._tokens.delay(now, tokens))

    def take(self, now: float, tokens: int = 0) -> None:
        """Count a request (and its estimated tokens) as sent at ``now``."""
        self._requests.take(now, 1)
        self._tokens.take(now, tokens)

    def settle(self, estimated: int, used: int) -> None:
        """The call used ``used`` tokens where ``estimated`` were counted:
        give back (or charge) the difference."""
        bucket = self._tokens
        if bucket.per_minute is None:
            return
        bucket.level = min(bucket.per_minute, bucket.level + estimated - used)

    def observe(self, now: float, said: RateLimitHeaders) -> None:
        """Take what a response said of the limits (``parse_rate_limit_headers``)."""
        for bucket, limit, remaining, reset in (
            (self._requests, said.limit_requests, said.remaining_requests, said.reset_requests),
            (self._tokens, said.limit_tokens, said.remaining_tokens, said.reset_tokens),
        ):
            if bucket.per_minute is None and limit is not None and limit > 0:
                bucket.per_minute = float(limit)
                bucket.updated = None
            if remaining is None:
                continue
            bucket.refill(now)
            if bucket.per_minute is not None:
                bucket.level = min(bucket.level, float(remaining))
            if remaining == 0 and reset is not None:
                bucket.blocked_until = max(bucket.blocked_until, now + reset)
        if said.retry_after is not None:
            # A 429's retry-after holds every request, whichever budget ran out.
            self._requests.blocked_until = max(self._requests.blocked_until, now + said.retry_after)


# --------------------------------------------------------------------------
# The circuit breaker
# --------------------------------------------------------------------------


class CircuitState(enum.Enum):
    CLOSED = "closed"  # calls go through
    OPEN = "open"  # calls are refused until the recovery time has passed
    HALF_OPEN = "half_open"  # a few probe calls go through; their outcome decides


class _Input(enum.Enum):
    FAILURE_LIMIT = "failure limit reached"
    RECOVERY_DUE = "recovery time passed"
    SUCCESS = "probe succeeded"
    FAILURE = "probe failed"
    HEALTHY = "health check answered"


# The whole machine.  A pair not listed leaves the state as it is.
_TRANSITIONS: dict[tuple[CircuitState, _Input], CircuitState] = {
    (CircuitState.CLOSED, _Input.FAILURE_LIMIT): CircuitState.OPEN,
    (CircuitState.OPEN, _Input.RECOVERY_DUE): CircuitState.HALF_OPEN,
    (CircuitState.HALF_OPEN, _Input.SUCCESS): CircuitState.CLOSED,
    (CircuitState.HALF_OPEN, _Input.FAILURE): CircuitState.OPEN,
    (CircuitState.OPEN, _Input.HEALTHY): CircuitState.CLOSED,
    (CircuitState.HALF_OPEN, _Input.HEALTHY): CircuitState.CLOSED,
}


@attrs.define
class _Circuit:
    state: CircuitState = CircuitState.CLOSED
    failures: int = 0
    opened_at: float = -math.inf
    probes: int = 0

    def move(self, event: _Input) -> None:
        self.state = _TRANSITIONS.get((self.state, event), self.state)


def is_failover_error(error: BaseException) -> bool:
    """Whether another endpoint might succeed where this error came back.

    Connection errors and timeouts, 408, 409 (a lock conflict), 429, and
    5xx: the endpoint is down, busy or out of budget.  401 and 403 too: a
    revoked or exhausted key at one provider says nothing of the next.
    Other 4xx describe the request itself, which another endpoint would
    refuse the same way.
    """
    if isinstance(error, APIConnectionError):
        return True
    if isinstance(error, APIStatusError):
        status = error.status_code
        return status >= 500 or status in (401, 403, 408, 409, 429)
    return False


def _trips_breaker(error: BaseException) -> bool:
    # A breaker watches for an endpoint that is down: 429 and auth errors
    # mean it is up and answering, so they do not count.
    if isinstance(error, APIConnectionError):
        return True
    return isinstance(error, APIStatusError) and error.status_code >= 500


@attrs.define(repr=False)
class CircuitBreaker:
    """One circuit per key (an origin, say): after ``failure_threshold``
    failures in a row it opens and refuses calls for ``recovery_time``
    seconds, then lets ``half_open_calls`` probes through; a probe that
    succeeds closes it, one that fails opens it again.

    Failures are connection errors, timeouts and 5xx answers; other
    answers, 429 included, show the endpoint is up and count as successes.
    """

    failure_threshold: int = 5
    recovery_time: float = 30.0
    half_open_calls: int = 1
    _circuits: dict[Hashable, _Circuit] = attrs.field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        for name in ("failure_threshold", "half_open_calls"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise LocalProtocolError(f"{name} must be a positive int, not {value!r}")
        value = self.recovery_time
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
            raise LocalProtocolError(f"recovery_time must be a finite number of seconds, not {value!r}")

    def __repr__(self) -> str:
        return (
            f"CircuitBreaker(failure_threshold={self.failure_threshold}, recovery_time={self.recovery_time}, "
            f"half_open_calls={self.half_open_calls}, open={sum(1 for _ in self.open_keys())})"
        )

    def _circuit(self, key: Hashable, now: float) -> _Circuit:
        circuit = self._circuits.get(key)
        if circuit is None:
            circuit = self._circuits[key] = _Circuit()
        if circuit.state is CircuitState.OPEN and now - circuit.opened_at >= self.recovery_time:
            circuit.move(_Input.RECOVERY_DUE)
            circuit.probes = 0
        return circuit

    def state(self, key: Hashable, now: float) -> CircuitState:
        return self._circuit(key, now).state

    def open_keys(self) -> Iterable[Hashable]:
        return (key for key, circuit in self._circuits.items() if circuit.state is CircuitState.OPEN)

    def allow(self, key: Hashable, now: float) -> bool:
        """Whether a call to ``key`` may go now.  A half-open circuit counts
        the call as one of its probes: report its outcome with ``record``."""
        circuit = self._circuit(key, now)
        if circuit.state is CircuitState.CLOSED:
            return True
        if circuit.state is CircuitState.HALF_OPEN and circuit.probes < self.half_open_calls:
            circuit.probes += 1
            return True
        return False

    def retry_at(self, key: Hashable, now: float) -> float:
        """When an open circuit lets a probe through (``now`` if it would now)."""
        circuit = self._circuit(key, now)
        if circuit.state is CircuitState.OPEN:
            return circuit.opened_at + self.recovery_time
        return now

    def record(self, key: Hashable, now: float, error: BaseException | None = None) -> None:
        """The outcome of a call allowed by ``allow``: None for a success, or
        the error it raised (which counts as a failure or not, see above)."""
        circuit = self._circuit(key, now)
        failed = error is not None and _trips_breaker(error)
        if circuit.state is CircuitState.HALF_OPEN:
            circuit.probes = max(0, circuit.probes - 1)
            circuit.move(_Input.FAILURE if failed else _Input.SUCCESS)
            if failed:
                circuit.opened_at = now
            circuit.failures = 0
            return
        if not failed:
            circuit.failures = 0
            return
        circuit.failures += 1
        if circuit.failures >= self.failure_threshold and circuit.state is CircuitState.CLOSED:
            circuit.move(_Input.FAILURE_LIMIT)
            circuit.opened_at = now
            circuit.failures = 0

    def record_health(self, key: Hashable, now: float, error: BaseException | None = None) -> None:
        """The outcome of a health check, which took no probe: an answer
        closes the circuit whatever its state; a failure counts as any
        failure does (and reopens a half-open circuit)."""
        circuit = self._circuit(key, now)
        if error is None or not _trips_breaker(error):
            circuit.move(_Input.HEALTHY)
            circuit.failures = 0
            return
        if circuit.state is CircuitState.HALF_OPEN:
            circuit.move(_Input.FAILURE)
            circuit.opened_at = now
            return
        if circuit.state is CircuitState.CLOSED:
            circuit.failures += 1
            if circuit.failures >= self.failure_threshold:
                circuit.move(_Input.FAILURE_LIMIT)
                circuit.opened_at = now
                circuit.failures = 0

    def release(self, key: Hashable, now: float) -> None:
        """A call allowed by ``allow`` ended with no outcome (cancelled):
        free its probe without judging the endpoint."""
        circuit = self._circuit(key, now)
        if circuit.state is CircuitState.HALF_OPEN:
            circuit.probes = max(0, circuit.probes - 1)
