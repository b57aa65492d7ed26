"""Cassettes: recorded HTTP/1.1 exchanges as versioned JSON lines.

A cassette file is UTF-8 text, one JSON object per line.  The first line is
a header, ``{"cassette": 1, ...}``; every other line is one exchange::

    {"request": {"method": "POST", "target": "/v1/chat/completions",
                 "headers": [["host", "api.openai.com"], ...],
                 "body": "{\\"model\\": ...}"},
     "response": {"chunks": ["HTTP/1.1 200 OK\\r\\n...", {"base64": "..."}],
                  "delays": [0.21, 0.003]}}

Bodies and chunks are JSON strings when they are valid UTF-8 and
``{"base64": ...}`` otherwise.  A response is the raw bytes as they were
received, split where each read returned (``delays``, when present: the
seconds before each piece arrived).  Credentials are scrubbed when a
request is recorded: they never reach the file.

Everything here is pure: the adapters (``openai_trio.testing`` and the
example drivers) read and write files, keep time and move bytes.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import json
import math
import re
from collections import deque
from typing import Any, Iterable, Mapping, Sequence

import attrs
import h11

from ._errors import LocalProtocolError, OpenAIError
from ._redact import REDACTED, is_credential_name, redact_target, request_secrets, scrub_text

__all__ = [
    "CASSETTE_VERSION",
    "Cassette",
    "CassetteError",
    "CassetteFormatError",
    "CassetteMiss",
    "CassettePlayer",
    "ExchangeRecorder",
    "RecordedExchange",
    "RecordedRequest",
    "RecordedResponse",
    "ReplayChunk",
    "ReplayConnection",
    "cassette_exchange_line",
    "cassette_header_line",
    "cassette_miss",
    "dumps_cassette",
    "loads_cassette",
    "match_recording",
    "normalise_body",
    "scrub_request",
]

CASSETTE_VERSION = 1

_REDACTED_IN_TARGET = "%3Credacted%3E"


# Bounds on what one exchange may hold, so a runaway peer or a huge upload
# cannot make the recorder or the player keep unbounded memory.
MAX_EXCHANGE_BYTES = 256 * 1024 * 1024
_MAX_HEAD = 64 * 1024
# How much of a body or a target the miss message compares and shows.
_MAX_COMPARE = 4096
_MAX_DIFFS = 8
_MAX_DEPTH = 64
_SHOWN_VALUE = 40

_HTTP2_PREFACE = b"PRI * HTTP/2.0"
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


class CassetteError(OpenAIError):
    """Base of the cassette errors: a bad file, a request with no recording."""


class CassetteFormatError(CassetteError):
    """A cassette's text is not a cassette this library reads.

    ``line`` is the 1-based line number the problem was found on.
    """

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"cassette line {line}: {message}")
        self.line = line


class CassetteMiss(CassetteError):
    """No recording matches a request (in replay-only mode).

    ``method`` and ``target`` name the request (its query string scrubbed
    of credentials), ``closest`` is the index of the nearest recording in
    the cassette (None when the cassette is empty) and ``differences``
    says how it differs, a line each.
    """

    def __init__(
        self, method: str, target: str, closest: int | None, differences: Sequence[str], message: str
    ) -> None:
        super().__init__(message)
        self.method = method
        self.target = target
        self.closest = closest
        self.differences = tuple(differences)


# -- records ------------------------------------------------------------------


def _freeze_headers(value: Iterable[Sequence[str]]) -> tuple[tuple[str, str], ...]:
    return tuple((str(n).lower(), str(v)) for n, v in value)


def _bytes_tuple(value: Iterable[bytes]) -> tuple[bytes, ...]:
    return tuple(value)


def _exchange_tuple(value: Iterable[RecordedExchange]) -> tuple[RecordedExchange, ...]:
    return tuple(value)


def _show_size(data: bytes) -> str:
    return f"{len(data)} bytes"


@attrs.frozen(repr=False)
class RecordedRequest:
    """What the client sent: header names lower-cased, credentials scrubbed."""

    method: str
    target: str
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_freeze_headers)
    body: bytes = b""

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    def header(self, name: str) -> str | None:
        key = name.lower()
        for n, v in self.headers:
            if n == key:
                return v
        return None

    def __repr__(self) -> str:
        return f"<RecordedRequest {self.method} {self.path} body={_show_size(self.body)}>"


@attrs.frozen(repr=False)
class RecordedResponse:
    """The bytes received for a request, in the pieces each read returned.

    ``delays``, when recorded, has one entry per chunk: the seconds before
    it arrived (the first counted from the end of the request).  ``reset``
    says the transport failed after the last chunk, rather than the
    exchange ending normally or the client leaving.
    """

    chunks: tuple[bytes, ...] = attrs.field(default=(), converter=_bytes_tuple)
    delays: tuple[float, ...] | None = attrs.field(default=None)
    reset: bool = False

    @delays.validator
    def _check_delays(self, _attribute: object, value: tuple[float, ...] | None) -> None:
        if value is not None and len(value) != len(self.chunks):
            raise ValueError("delays must have one entry per chunk")

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)

    @property
    def status_code(self) -> int | None:
        """The status of the (final) response head, if one was received."""
        data = self.data[:_MAX_HEAD]
        for match in re.finditer(rb"(?:^|\r?\n)HTTP/\d\.\d (\d{3})", data):
            status = int(match.group(1))
            if status >= 200 or status == 101:
                return status
        return None

    def __repr__(self) -> str:
        return (
            f"<RecordedResponse status={self.status_code} chunks={len(self.chunks)} "
            f"size={_show_size(self.data)}>"
        )


@attrs.frozen(repr=False)
class RecordedExchange:
    request: RecordedRequest
    response: RecordedResponse

    def __repr__(self) -> str:
        return f"<RecordedExchange {self.request.method} {self.request.path} -> {self.response.status_code}>"


def _freeze_meta(value: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> tuple[tuple[str, Any], ...]:
    items = tuple(value.items()) if isinstance(value, Mapping) else tuple(value)
    for key, _ in items:
        if key == "cassette":
            raise ValueError("'cassette' is the version field, not metadata")
    return items


@attrs.frozen(repr=False)
class Cassette:
    """Recorded exchanges in the order they happened, and the header's
    metadata (JSON values, kept as given)."""

    exchanges: tuple[RecordedExchange, ...] = attrs.field(default=(), converter=_exchange_tuple)
    meta: tuple[tuple[str, Any], ...] = attrs.field(default=(), converter=_freeze_meta)
    version: int = CASSETTE_VERSION

    def append(self, exchange: RecordedExchange) -> Cassette:
        return attrs.evolve(self, exchanges=(*self.exchanges, exchange))

    def __len__(self) -> int:
        return len(self.exchanges)

    def __repr__(self) -> str:
        return f"<Cassette v{self.version} exchanges={len(self.exchanges)}>"


# -- the text format ----------------------------------------------------------


def _encode_bytes(data: bytes) -> str | dict[str, str]:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


def _line(obj: object) -> str:
    # ensure_ascii=False keeps text readable; JSON escapes "\n" inside
    # strings, so each record stays on one line (the reader splits on "\n"
    # only, never on the other characters str.splitlines() treats as breaks).
    return json.dumps(obj, ensure_ascii=False, separators=(", ", ": "), allow_nan=False) + "\n"


def cassette_header_line(meta: Mapping[str, Any] | Iterable[tuple[str, Any]] = (), version: int = CASSETTE_VERSION) -> str:
    """The header line of a cassette (with its newline)."""
    return _line({"cassette": version, **dict(_freeze_meta(meta))})


def cassette_exchange_line(exchange: RecordedExchange) -> str:
    """One exchange as a cassette line (with its newline), to append to a file."""
    request = exchange.request
    response = exchange.response
    req: dict[str, Any] = {
        "method": request.method,
        "target": request.target,
        "headers": [[n, v] for n, v in request.headers],
    }
    if request.body:
        req["body"] = _encode_bytes(request.body)
    resp: dict[str, Any] = {"chunks": [_encode_bytes(c) for c in response.chunks]}
    if response.delays is not None:
        resp["delays"] = [round(d, 6) for d in response.delays]
    if response.reset:
        resp["reset"] = True
    return _line({"request": req, "response": resp})


def dumps_cassette(cassette: Cassette) -> str:
    """A whole cassette as text: the header line, then a line per exchange."""
    parts = [cassette_header_line(cassette.meta, cassette.version)]
    parts.extend(cassette_exchange_line(e) for e in cassette.exchanges)
    return "".join(parts)


class _Bad(Exception):
    pass


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise _Bad(message)


def _keys(obj: Mapping[str, Any], required: set[str], optional: set[str], where: str) -> None:
    missing = required - obj.keys()
    _expect(not missing, f"{where} lacks {', '.join(sorted(missing))}")
    unknown = obj.keys() - required - optional
    _expect(not unknown, f"{where} has unknown field(s) {', '.join(sorted(map(repr, unknown)))}")


def _decode_bytes(value: object, where: str) -> bytes:
    if isinstance(value, str):
        return _utf8(value, where)
    _expect(isinstance(value, dict), f"{where} must be a string or {{\"base64\": ...}}")
    assert isinstance(value, dict)
    _keys(value, {"base64"}, set(), where)
    text = value["base64"]
    _expect(isinstance(text, str), f"{where}.base64 must be a string")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise _Bad(f"{where}.base64 is not valid base64") from None


def _utf8(text: str, where: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise _Bad(f"{where} holds a lone surrogate") from None


def _parse_request(obj: object) -> RecordedRequest:
    _expect(isinstance(obj, dict), "request must be an object")
    assert isinstance(obj, dict)
    _keys(obj, {"method", "target", "headers"}, {"body"}, "request")
    method, target, headers = obj["method"], obj["target"], obj["headers"]
    _expect(isinstance(method, str) and bool(_TOKEN.match(method)), "request.method must be an HTTP method")
    _expect(isinstance(target, str) and target.startswith("/"), "request.target must be a path starting with '/'")
    _expect(isinstance(headers, list), "request.headers must be a list")
    pairs = []
    for index, pair in enumerate(headers):
        _expect(
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair),
            f"request.headers[{index}] must be a [name, value] pair of strings",
        )
        pairs.append((pair[0], pair[1]))
    body = _decode_bytes(obj["body"], "request.body") if "body" in obj else b""
    return RecordedRequest(method, target, pairs, body)


def _parse_response(obj: object) -> RecordedResponse:
    _expect(isinstance(obj, dict), "response must be an object")
    assert isinstance(obj, dict)
    _keys(obj, {"chunks"}, {"delays", "reset"}, "response")
    chunks = obj["chunks"]
    _expect(isinstance(chunks, list), "response.chunks must be a list")
    data = tuple(_decode_bytes(c, f"response.chunks[{i}]") for i, c in enumerate(chunks))
    delays: tuple[float, ...] | None = None
    if "delays" in obj:
        raw = obj["delays"]
        _expect(isinstance(raw, list) and len(raw) == len(data), "response.delays must have one number per chunk")
        for d in raw:
            _expect(
                isinstance(d, (int, float)) and not isinstance(d, bool) and math.isfinite(d) and d >= 0,
                "response.delays must be non-negative numbers",
            )
        delays = tuple(float(d) for d in raw)
    reset = obj.get("reset", False)
    _expect(isinstance(reset, bool), "response.reset must be true or false")
    return RecordedResponse(data, delays, reset)


def _json_object(text: str) -> dict[str, Any]:
    try:
        obj = json.loads(text)
    except RecursionError:
        raise _Bad("nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise _Bad(f"not JSON ({exc.msg} at column {exc.colno})") from None
    _expect(isinstance(obj, dict), "a line must be a JSON object")
    assert isinstance(obj, dict)
    return obj


def loads_cassette(text: str | bytes) -> Cassette:
    """Parse a cassette's text; ``CassetteFormatError`` names the bad line.

    Blank lines are skipped.  A version other than :data:`CASSETTE_VERSION`
    is refused rather than guessed at.
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        raw = bytes(text)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CassetteFormatError(raw[: exc.start].count(b"\n") + 1, "not UTF-8 text") from None
    if not isinstance(text, str):
        raise TypeError(f"loads_cassette() takes str or bytes, not {type(text).__name__}")
    meta: tuple[tuple[str, Any], ...] | None = None
    exchanges: list[RecordedExchange] = []
    number = 0
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = _json_object(line)
            if meta is None:
                _expect("cassette" in obj, "the first line must be the header, {\"cassette\": <version>, ...}")
                version = obj["cassette"]
                _expect(
                    isinstance(version, int) and not isinstance(version, bool),
                    "the cassette version must be an integer",
                )
                _expect(
                    version == CASSETTE_VERSION,
                    f"unsupported cassette version {version} (this library reads version {CASSETTE_VERSION})",
                )
                meta = tuple((k, v) for k, v in obj.items() if k != "cassette")
                continue
            _keys(obj, {"request", "response"}, set(), "an exchange")
            exchanges.append(RecordedExchange(_parse_request(obj["request"]), _parse_response(obj["response"])))
        except _Bad as exc:
            raise CassetteFormatError(number, str(exc)) from None
    if meta is None:
        raise CassetteFormatError(max(number, 1), "empty: no header line")
    return Cassette(exchanges, meta)


# -- scrubbing ------------------------------------------------------------------


def _known_secrets(secrets: Iterable[str]) -> tuple[str, ...]:
    return request_secrets((), "", secrets)


def scrub_request(request: RecordedRequest, secrets: Iterable[str] = ()) -> RecordedRequest:
    """``request`` with its credentials replaced by ``<redacted>``.

    Scrubbed: the values of credential headers (Authorization, api-key,
    Proxy-Authorization, Cookie and the like), query parameters named like
    a key, and every occurrence of a known secret (those passed in, plus
    the credentials found in the headers) in header values, the target and
    the body.
    """
    # One rule for the whole library: what the client's errors and reprs
    # redact is what a cassette never holds.
    known = request_secrets(request.headers, request.target, secrets)
    headers = [(n, REDACTED if is_credential_name(n) else scrub_text(v, known)) for n, v in request.headers]
    body = request.body
    for secret in known:
        raw = secret.encode("utf-8")
        if raw in body:
            body = body.replace(raw, REDACTED.encode("ascii"))
    # Percent-encoded, so the recorded target stays a valid request target.
    target = redact_target(request.target, known).replace(REDACTED, _REDACTED_IN_TARGET)
    return RecordedRequest(request.method, target, headers, body)


def _mask_response(chunks: Sequence[bytes], secrets: Sequence[str]) -> tuple[bytes, ...]:
    """Mask known secrets and cookies in a response, byte for byte.

    The mask has the secret's length, so every chunk keeps its size and the
    framing (content-length, chunk sizes) stays valid.
    """
    data = bytearray(b"".join(chunks))
    for secret in secrets:
        raw = secret.encode("utf-8")
        start = data.find(raw)
        while start >= 0:
            data[start : start + len(raw)] = b"*" * len(raw)
            start = data.find(raw, start + len(raw))
    head_end = data.find(b"\r\n\r\n", 0, _MAX_HEAD)
    if head_end >= 0:
        for match in re.finditer(rb"\r\nset-cookie:[ \t]*([^\r\n]*)", data[:head_end], re.IGNORECASE):
            start, end = match.span(1)
            data[start:end] = b"*" * (end - start)
    out = []
    offset = 0
    for chunk in chunks:
        out.append(bytes(data[offset : offset + len(chunk)]))
        offset += len(chunk)
    return tuple(out)


# -- matching ---------------------------------------------------------------------


_MISSING = object()


def _drop_path(obj: Any, segments: Sequence[str]) -> None:
    if not segments:
        return
    first, rest = segments[0], segments[1:]
    if isinstance(obj, dict):
        keys = list(obj) if first == "*" else [first] if first in obj else []
        for key in keys:
            if rest:
                _drop_path(obj[key], rest)
            else:
                del obj[key]
    elif isinstance(obj, list):
        if first == "*":
            indices = list(range(len(obj)))
        elif first.isdigit() and int(first) < len(obj):
            indices = [int(first)]
        else:
            indices = []
        if rest:
            for i in indices:
                _drop_path(obj[i], rest)
        else:
            for i in reversed(indices):
                del obj[i]


def _multipart_boundary(content_type: str | None) -> bytes | None:
    if not content_type or not content_type.lower().startswith("multipart/"):
        return None
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    return match.group(1).encode("latin-1", "replace") if match else None


def normalise_body(request: RecordedRequest, volatile: Iterable[str] = ()) -> object:
    """The body as matching compares it.

    JSON is parsed (so key order and spacing do not matter) and the
    ``volatile`` fields, dotted paths such as ``"user"`` or
    ``"metadata.request_id"`` (``*`` for any key or index, digits for a list
    index), are dropped.  A multipart body has its random boundary replaced
    by a fixed one.  Anything else is compared as bytes.
    """
    body = request.body
    if not body:
        return None
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        pass
    else:
        for path in volatile:
            _drop_path(parsed, path.split("."))
        return parsed
    boundary = _multipart_boundary(request.header("content-type"))
    if boundary:
        return body.replace(boundary, b"BOUNDARY")
    return body


def _canonical(body: object) -> object:
    # One text per JSON value: keys sorted, and true, 1 and 1.0 kept apart
    # (Python's == would call them equal).
    if body is None or isinstance(body, bytes):
        return body
    try:
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (ValueError, RecursionError):
        return repr(body)


def _differences(here: object, there: object, prefix: str, out: list[str], depth: int = 0) -> None:
    if len(out) >= _MAX_DIFFS:
        return
    if isinstance(here, dict) and isinstance(there, dict) and depth < _MAX_DEPTH:
        for key in sorted(here.keys() | there.keys(), key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            _differences(here.get(key, _MISSING), there.get(key, _MISSING), name, out, depth + 1)
        return
    if isinstance(here, list) and isinstance(there, list) and len(here) == len(there) and depth < _MAX_DEPTH:
        for index, (a, b) in enumerate(zip(here, there, strict=True)):
            _differences(a, b, f"{prefix}.{index}" if prefix else str(index), out, depth + 1)
        return
    if type(here) is type(there) and here == there:
        return
    out.append(f"{prefix or 'body'}: {_shown(here)} here, {_shown(there)} recorded")


def _shown(value: object) -> str:
    if value is _MISSING:
        return "absent"
    if isinstance(value, (bytes, bytearray)):
        return f"{len(value)} bytes"
    if isinstance(value, (dict, list)):
        return f"a {type(value).__name__} of {len(value)}"
    text = repr(value)
    return text if len(text) <= _SHOWN_VALUE else text[: _SHOWN_VALUE - 3] + "..."


def _score(here: object, there: object) -> float:
    diffs: list[str] = []
    _differences(here, there, "", diffs)
    if not diffs:
        return 0.0
    if isinstance(here, (bytes, bytearray)) and isinstance(there, (bytes, bytearray)):
        ratio = difflib.SequenceMatcher(None, bytes(here[:_MAX_COMPARE]), bytes(there[:_MAX_COMPARE])).ratio()
        return 1.0 - ratio
    return float(len(diffs))


def match_recording(
    request: RecordedRequest,
    exchanges: Sequence[RecordedExchange],
    *,
    volatile: Iterable[str] = (),
    match_headers: Iterable[str] = (),
    used: Iterable[int] = (),
) -> int | None:
    """The index of the first exchange not in ``used`` whose request has
    ``request``'s method, target (path and query) and normalised body
    (and the headers named in ``match_headers``); None if there is none."""
    volatile = tuple(volatile)
    names = tuple(n.lower() for n in match_headers)
    taken = set(used)
    wanted = _canonical(normalise_body(request, volatile))
    for index, exchange in enumerate(exchanges):
        if index in taken:
            continue
        recorded = exchange.request
        if recorded.method != request.method or recorded.target != request.target:
            continue
        if any(recorded.header(n) != request.header(n) for n in names):
            continue
        if _canonical(normalise_body(recorded, volatile)) == wanted:
            return index
    return None


def cassette_miss(
    request: RecordedRequest,
    exchanges: Sequence[RecordedExchange],
    *,
    volatile: Iterable[str] = (),
    match_headers: Iterable[str] = (),
    used: Iterable[int] = (),
) -> CassetteMiss:
    """The error for a request ``match_recording`` found nothing for: it names
    the request and the closest recording, and says what differs."""
    volatile = tuple(volatile)
    names = tuple(n.lower() for n in match_headers)
    taken = set(used)
    label = f"{request.method} {request.target}"
    if not exchanges:
        message = f"no recording matches {label}: the cassette is empty"
        return CassetteMiss(request.method, request.target, None, (), message)
    wanted = normalise_body(request, volatile)
    same = [i for i, e in enumerate(exchanges) if (e.request.method, e.request.target) == (request.method, request.target)]
    differences: list[str] = []
    if same:
        scored = []
        for i in same:
            recorded = exchanges[i].request
            header_diffs = [
                f"header {n}: {_shown(request.header(n) or _MISSING)} here, "
                f"{_shown(recorded.header(n) or _MISSING)} recorded"
                for n in names
                if recorded.header(n) != request.header(n)
            ]
            score = _score(wanted, normalise_body(recorded, volatile)) + len(header_diffs)
            scored.append((score, i in taken, i, header_diffs))
        # Nearest body first; among equals, one still unused.
        score, was_used, closest, header_diffs = min(scored)
        recorded = exchanges[closest].request
        _differences(wanted, normalise_body(recorded, volatile), "", differences)
        differences = [f"body {d}" if not d.startswith("body") else d for d in differences] + header_diffs
        if not differences and was_used:
            differences = ["it matches, but was used already (each recording answers once; allow_reuse=True lifts that)"]
    else:
        def distance(i: int) -> float:
            recorded = exchanges[i].request
            a = f"{request.method} {request.target}"[:_MAX_COMPARE]
            b = f"{recorded.method} {recorded.target}"[:_MAX_COMPARE]
            return 1.0 - difflib.SequenceMatcher(None, a, b).ratio()

        closest = min(range(len(exchanges)), key=distance)
        recorded = exchanges[closest].request
        if recorded.method != request.method:
            differences.append(f"method: {request.method} here, {recorded.method} recorded")
        if recorded.target != request.target:
            differences.append(f"target: {request.target} here, {recorded.target} recorded")
    shown = "; ".join(differences)
    message = (
        f"no recording matches {label}; closest is #{closest} "
        f"{exchanges[closest].request.method} {exchanges[closest].request.target}: {shown}"
    )
    return CassetteMiss(request.method, request.target, closest, differences, message)


# -- parsing what the client writes ---------------------------------------------


class _RequestParser:
    """A server-side h11 over the bytes a client writes, one request at a time."""

    def __init__(self, max_body: int) -> None:
        self._max_body = max_body
        self._conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEAD)
        self._head: h11.Request | None = None
        self._body = bytearray()
        self._checked_preface = False
        self._first = bytearray()

    def feed(self, data: bytes) -> list[tuple[h11.Request, bytes]]:
        """The requests ``data`` completes (usually none or one)."""
        if not data:
            # Writing nothing is not the end of the stream.
            return []
        if not self._checked_preface:
            self._first += data[: len(_HTTP2_PREFACE)]
            if len(self._first) >= len(_HTTP2_PREFACE) or not data:
                self._checked_preface = True
                if bytes(self._first).startswith(_HTTP2_PREFACE):
                    raise CassetteError(
                        "the client spoke HTTP/2 (h2c); cassettes hold HTTP/1.1 exchanges: pass h2c=False"
                    )
        self._conn.receive_data(data)
        done: list[tuple[h11.Request, bytes]] = []
        while True:
            try:
                event = self._conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise CassetteError(f"the client's bytes are not an HTTP/1.1 request: {exc}") from None
            if event is h11.NEED_DATA or event is h11.PAUSED or isinstance(event, h11.ConnectionClosed):
                if event is h11.PAUSED:
                    self._restart()
                    continue
                return done
            if isinstance(event, h11.Request):
                self._head = event
                self._body = bytearray()
            elif isinstance(event, h11.Data):
                self._body += event.data
                if len(self._body) > self._max_body:
                    raise CassetteError(f"a request body over {self._max_body} bytes cannot be recorded or matched")
            elif isinstance(event, h11.EndOfMessage):
                assert self._head is not None
                done.append((self._head, bytes(self._body)))
                self._head = None
                self._body = bytearray()
                self._restart()

    def _restart(self) -> None:
        # A new parser for the next request, carrying over what the client
        # already sent: h11's server side would otherwise wait for our
        # response before reading on.
        leftover, closed = self._conn.trailing_data
        self._conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEAD)
        if leftover:
            self._conn.receive_data(bytes(leftover))
        if closed:
            self._conn.receive_data(b"")


def _to_recorded(head: h11.Request, body: bytes) -> RecordedRequest:
    return RecordedRequest(
        head.method.decode("ascii", "replace"),
        head.target.decode("ascii", "replace"),
        [(n.decode("latin-1"), v.decode("latin-1")) for n, v in head.headers],
        body,
    )


# -- recording ------------------------------------------------------------------------


class ExchangeRecorder:
    """Turns one connection's traffic into recorded exchanges.

    Feed it what the client wrote (:meth:`request_data`) and what it read
    (:meth:`response_data`, ``b""`` for the end of the stream), each with
    the time it happened; each call returns the exchanges it completed.  An
    exchange completes when its response does (by HTTP/1.1 framing), when
    the connection ends, or when the client starts another request.
    ``secrets``: values to scrub wherever they appear, besides the
    credential headers the client sends.
    """

    def __init__(
        self, *, secrets: Iterable[str] = (), timings: bool = False, max_bytes: int = MAX_EXCHANGE_BYTES
    ) -> None:
        self._secrets = tuple(secrets)
        self._timings = timings
        self._max_bytes = max_bytes
        self._parser = _RequestParser(max_bytes)
        self._failed = False
        self._open: RecordedRequest | None = None
        self._found: tuple[str, ...] = ()
        self._chunks: list[bytes] = []
        self._delays: list[float] = []
        self._size = 0
        self._last = 0.0
        self._response: h11.Connection | None = None
        self._response_done = False

    def request_data(self, data: bytes, now: float) -> list[RecordedExchange]:
        """Bytes the client wrote.  ``CassetteError`` if they cannot be
        recorded (HTTP/2, not HTTP at all, over the size bound); after that
        the connection is no longer recorded."""
        if self._failed:
            return []
        done: list[RecordedExchange] = []
        try:
            requests = self._parser.feed(bytes(data))
        except CassetteError:
            # Only the first error matters: later writes (a goodbye at
            # close) must not replace it with a vaguer one.
            self._failed = True
            self._open = None
            raise
        for head, body in requests:
            raw = _to_recorded(head, body)
            found = request_secrets(raw.headers, raw.target)
            if self._open is not None:
                done.extend(self._finish())
            self._start(scrub_request(raw, self._secrets), found, head.method, now)
        return done

    def _start(self, request: RecordedRequest, found: tuple[str, ...], method: bytes, now: float) -> None:
        self._open = request
        self._found = found
        self._chunks = []
        self._delays = []
        self._size = 0
        self._last = now
        self._response_done = False
        # The client side of h11 only to find where the response ends; it
        # needs the method (a HEAD response has no body) and nothing else.
        conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEAD)
        conn.send(h11.Request(method=method, target=b"/", headers=[(b"host", b"recorded")]))
        conn.send(h11.EndOfMessage())
        self._response = conn

    def response_data(self, data: bytes, now: float) -> list[RecordedExchange]:
        if self._open is None:
            # Bytes that answer no request: nothing to attach them to.
            return []
        if not data:
            return self._finish()
        data = bytes(data)
        self._size += len(data)
        if self._size > self._max_bytes:
            raise CassetteError(f"a response over {self._max_bytes} bytes cannot be recorded")
        self._chunks.append(data)
        self._delays.append(max(0.0, now - self._last))
        self._last = now
        if self._response is not None and not self._response_done:
            self._response.receive_data(data)
            try:
                while True:
                    event = self._response.next_event()
                    if event is h11.NEED_DATA or event is h11.PAUSED:
                        break
                    if isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                        self._response_done = True
                        break
            except h11.RemoteProtocolError:
                # A malformed answer is recorded as it is (the client sees
                # the same); it ends with the connection or the next request.
                self._response = None
        if self._response_done:
            return self._finish()
        return []

    def transport_failed(self, now: float) -> list[RecordedExchange]:
        """The read failed (a reset): the exchange ends with that failure."""
        if self._open is None:
            return []
        return self._finish(reset=True)

    def close(self) -> list[RecordedExchange]:
        """The connection is being closed: an open exchange ends here."""
        if self._open is None:
            return []
        return self._finish()

    def _finish(self, *, reset: bool = False) -> list[RecordedExchange]:
        assert self._open is not None
        known = _known_secrets([*self._secrets, *self._found])
        chunks = _mask_response(self._chunks, known)
        delays = tuple(self._delays) if self._timings else None
        exchange = RecordedExchange(self._open, RecordedResponse(chunks, delays, reset))
        self._open = None
        self._response = None
        self._chunks = []
        self._delays = []
        return [exchange]


# -- replaying ------------------------------------------------------------------------


@attrs.frozen(repr=False)
class ReplayChunk:
    """One read's worth of recorded bytes: ``delay`` seconds after the
    previous one (0.0 when timings were not recorded).  ``reset``: instead
    of bytes, the transport fails here."""

    data: bytes
    delay: float = 0.0
    reset: bool = False

    def __repr__(self) -> str:
        return f"<ReplayChunk {len(self.data)} bytes delay={self.delay}{' reset' if self.reset else ''}>"


class CassettePlayer:
    """Answers requests from a cassette.

    Each recording answers one request, the first unused match in
    recording order (so repeated identical requests get successive
    recordings), unless ``allow_reuse``.  ``volatile``: dotted body paths
    matching ignores; ``match_headers``: header names that must match too;
    ``secrets``: values scrubbed from live requests before matching, as
    the recorder scrubbed them.

    A connection (:meth:`connection`) takes the bytes a client writes and
    hands back the recorded chunks, for any driver: the trio replay
    stream, or a blocking or asyncio one.
    """

    def __init__(
        self,
        cassette: Cassette,
        *,
        allow_reuse: bool = False,
        volatile: Iterable[str] = (),
        match_headers: Iterable[str] = (),
        secrets: Iterable[str] = (),
        max_body: int = MAX_EXCHANGE_BYTES,
    ) -> None:
        if not isinstance(cassette, Cassette):
            raise TypeError(f"expected a Cassette, got {type(cassette).__name__}")
        self.cassette = cassette
        if isinstance(volatile, str) or isinstance(match_headers, str):
            raise LocalProtocolError("volatile and match_headers take a list of names, not one string")
        self.allow_reuse = allow_reuse
        self.volatile = tuple(volatile)
        self.match_headers = tuple(match_headers)
        self._secrets = tuple(secrets)
        self._max_body = max_body
        self._used: set[int] = set()
        #: Indices of the recordings played, in order.
        self.played: list[int] = []

    def __repr__(self) -> str:
        return f"<CassettePlayer exchanges={len(self.cassette)} played={len(self.played)}>"

    @property
    def unplayed(self) -> list[int]:
        """Indices of the recordings no request has used yet."""
        return [i for i in range(len(self.cassette)) if i not in self._used]

    def scrub(self, request: RecordedRequest) -> RecordedRequest:
        return scrub_request(request, self._secrets)

    def find(self, request: RecordedRequest) -> RecordedExchange:
        """The recording answering ``request`` (scrubbed first), marked used;
        ``CassetteMiss`` when there is none."""
        request = self.scrub(request)
        rules = {"volatile": self.volatile, "match_headers": self.match_headers}
        used = () if self.allow_reuse else self._used
        index = match_recording(request, self.cassette.exchanges, used=used, **rules)
        if index is None:
            raise cassette_miss(request, self.cassette.exchanges, used=self._used, **rules)
        self._used.add(index)
        self.played.append(index)
        return self.cassette.exchanges[index]

    def connection(self) -> ReplayConnection:
        return ReplayConnection(self)


class ReplayConnection:
    """One replayed connection: the client's bytes in, recorded chunks out.

    :meth:`receive_data` takes what the client wrote; once a request is
    complete its recording's chunks are queued (``CassetteMiss`` if there
    is none), and :meth:`next_chunk` hands them out one read at a time,
    then None: the recorded server has nothing more to say, which a reader
    sees as the end of the stream.
    """

    def __init__(self, player: CassettePlayer) -> None:
        self._player = player
        self._parser = _RequestParser(player._max_body)
        self._queue: deque[ReplayChunk] = deque()
        self._raw = bytearray()
        self.failed = False

    def receive_data(self, data: bytes) -> None:
        data = bytes(data)
        if self.failed:
            raise CassetteError("this replayed connection already failed")
        self._raw += data
        try:
            requests = self._parser.feed(data)
        except CassetteError:
            self.failed = True
            raise
        for head, body in requests:
            try:
                exchange = self._player.find(_to_recorded(head, body))
            except CassetteMiss:
                # The missed request's bytes stay for take_unanswered().
                self.failed = True
                raise
            self._raw.clear()
            response = exchange.response
            delays = response.delays or (0.0,) * len(response.chunks)
            self._queue = deque(ReplayChunk(c, d) for c, d in zip(response.chunks, delays, strict=True))
            if response.reset:
                self._queue.append(ReplayChunk(b"", 0.0, reset=True))

    def take_unanswered(self) -> bytes:
        """The bytes of the request in progress (for handing a missed request
        to a live server); they hold credentials, so keep them out of errors."""
        data = bytes(self._raw)
        self._raw.clear()
        return data

    def next_chunk(self) -> ReplayChunk | None:
        if self._queue:
            return self._queue.popleft()
        return None
