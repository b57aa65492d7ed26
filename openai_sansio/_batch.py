"""The Batch API's files, without I/O: the input JSONL built and checked
line by line, and the output and error JSONL read back into results.

Building: ``BatchInputEncoder`` turns one request (a ``BatchRequest``, a
mapping shaped like an input line, or a ``(custom_id, body)`` pair) into one
line of bytes after checking it as the server would: the endpoint is one the
Batch API takes, the ``custom_id`` is a non-empty string used once, the
``url`` is the batch's endpoint, and the body passes the operation's own
rules (required parameters, JSON types, bounds) with no parameter the
operation does not know and no ``stream``.  A refusal is a ``BatchLineError``
naming the line, raised before that line exists as bytes.
``encode_batch_input`` is the generator over a whole iterable, in chunks of
bounded size, so a file of any length is never held in memory.

Reading: ``JsonLinesDecoder`` splits a byte stream into JSON lines with a
bound on a line's length (a line over it, or one that is not JSON, is a
``BatchOutputError`` naming its number); ``parse_batch_result`` turns one
output or error line into a ``BatchResult``: the typed response body for a
2xx, or the error (the typed ``APIStatusError`` for a 4xx/5xx answer, a
``BatchRequestError`` for a request the batch never ran).
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator, Mapping, Union

import attrs

from ._errors import (
    LocalProtocolError,
    OpenAIError,
    RemoteProtocolError,
    make_status_error,
)
from ._headers import Headers
from ._operations import _BODY_RULES, get_operation, validate_request

__all__ = [
    "BATCH_ENDPOINTS",
    "BatchFailedError",
    "BatchInputEncoder",
    "BatchLineError",
    "BatchOutputError",
    "BatchRequest",
    "BatchRequestError",
    "BatchResult",
    "JsonLine",
    "JsonLinesDecoder",
    "encode_batch_input",
    "missing_result",
    "parse_batch_result",
]

#: The endpoints the Batch API runs, and the operation whose body rules apply.
BATCH_ENDPOINTS: Mapping[str, str] = {
    "/v1/responses": "createResponse",
    "/v1/chat/completions": "createChatCompletion",
    "/v1/embeddings": "createEmbedding",
    "/v1/completions": "createCompletion",
    "/v1/moderations": "createModeration",
    "/v1/images/generations": "createImage",
    "/v1/images/edits": "createImageEdit",
    "/v1/videos": "createVideo",
}

# The service's own limits on one input file.
MAX_BATCH_REQUESTS = 50_000
MAX_BATCH_BYTES = 200 * 1024 * 1024
DEFAULT_CHUNK_SIZE = 64 * 1024
DEFAULT_MAX_LINE_BYTES = 32 * 1024 * 1024
_MAX_CUSTOM_ID = 512


class BatchLineError(LocalProtocolError):
    """A request that cannot go into a batch input file.

    ``line`` is its 1-based line number in the file (its position in the
    iterable); ``custom_id`` is its id when it had a usable one.
    """

    def __init__(self, message: str, *, line: int, custom_id: str | None = None) -> None:
        where = f"Line {line}" if custom_id is None else f"Line {line} (custom_id {custom_id!r})"
        super().__init__(f"{where}: {message}")
        self.line = line
        self.custom_id = custom_id


class BatchOutputError(RemoteProtocolError):
    """An output, error or input file line that is not what the Batch API
    writes: not JSON, too long, or without the fields every line has.

    ``line`` is the 1-based line number, ``file`` which file it came from
    (``"output"``, ``"error"`` or ``"input"``).
    """

    def __init__(self, message: str, *, line: int, file: str) -> None:
        super().__init__(f"Line {line} of the batch {file} file: {message}")
        self.line = line
        self.file = file


class BatchRequestError(OpenAIError):
    """A request of a batch that has no response: the batch expired or was
    cancelled before it ran, or the service refused it without answering.

    ``code`` is the service's (``"batch_expired"``, ``"batch_cancelled"``,
    ...); ``"missing_result"`` means neither file mentioned the request.
    """

    def __init__(
        self, message: str, *, code: str | None, custom_id: str, param: str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(f"{custom_id}: {message}" if code is None else f"{custom_id}: {code}: {message}")
        self.code = code
        self.custom_id = custom_id
        self.param = param
        self.line = line


class BatchFailedError(OpenAIError):
    """The batch ended ``failed``: its input was refused as a whole, so no
    request ran.  ``batch`` is the last ``Batch`` object; ``errors`` its
    error list (each with a ``line`` of the input file, when known)."""

    def __init__(self, batch: Any) -> None:
        errors = list(getattr(getattr(batch, "errors", None), "data", None) or [])
        first = errors[0] if errors else None
        detail = ""
        if first is not None:
            where = f" (line {first.line})" if first.line is not None else ""
            detail = f": {first.code}{where}: {first.message}"
            if len(errors) > 1:
                detail += f" (and {len(errors) - 1} more)"
        super().__init__(f"Batch {batch.id} failed{detail}")
        self.batch = batch
        self.errors = errors


@attrs.frozen(repr=False)
class BatchRequest:
    """One request of a batch: ``body`` goes to ``url`` (the batch's
    endpoint when left out) and comes back under ``custom_id``."""

    custom_id: str
    body: Mapping[str, Any]
    url: str | None = None
    method: str = "POST"

    def __repr__(self) -> str:
        return f"BatchRequest(custom_id={self.custom_id!r}, <{len(self.body)} body fields>)"


RequestLike = Union[BatchRequest, Mapping[str, Any], "tuple[str, Mapping[str, Any]]"]


def _check_endpoint(endpoint: object) -> str:
    if not isinstance(endpoint, str) or endpoint not in BATCH_ENDPOINTS:
        raise LocalProtocolError(
            f"The Batch API does not run {endpoint!r}; it runs {', '.join(BATCH_ENDPOINTS)}"
        )
    return endpoint


class BatchInputEncoder:
    """Checks and encodes the lines of one batch input file, in order.

    ``endpoint`` may be left out: the first request's ``url`` then chooses
    it.  ``strict=False`` lets body parameters the operation does not know
    through (for a compatible server that takes extra ones).  After the
    last line, ``custom_ids`` lists every id in input order, ``count`` and
    ``size`` the lines and bytes so far.
    """

    __slots__ = ("_ids", "_max_bytes", "_max_requests", "_strict", "custom_ids", "endpoint", "size")

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        strict: bool = True,
        max_requests: int = MAX_BATCH_REQUESTS,
        max_bytes: int = MAX_BATCH_BYTES,
    ) -> None:
        self.endpoint = None if endpoint is None else _check_endpoint(endpoint)
        self._strict = strict
        self._max_requests = max_requests
        self._max_bytes = max_bytes
        self._ids: set[str] = set()
        self.custom_ids: list[str] = []
        self.size = 0

    def __repr__(self) -> str:
        return f"<BatchInputEncoder {self.endpoint} lines={self.count} bytes={self.size}>"

    @property
    def count(self) -> int:
        return len(self.custom_ids)

    def encode(self, request: RequestLike) -> bytes:
        """The input line for ``request``, newline included."""
        number = self.count + 1
        custom_id, method, url, body = _unpack(request, number)

        def fail(message: str) -> BatchLineError:
            return BatchLineError(message, line=number, custom_id=custom_id)

        if custom_id in self._ids:
            raise fail("this custom_id was used by an earlier line; each must be unique")
        if method != "POST":
            raise fail(f"the Batch API sends every request with POST, not {method!r}")
        if self.endpoint is None:
            if url is None:
                raise fail("no endpoint: pass endpoint= or give the first request a url")
            try:
                self.endpoint = _check_endpoint(url)
            except LocalProtocolError as exc:
                raise fail(str(exc)) from None
        elif url is not None and url != self.endpoint:
            raise fail(f"url {url!r} differs from the batch's endpoint {self.endpoint!r}")
        _check_body(BATCH_ENDPOINTS[self.endpoint], body, self._strict, fail)
        if number > self._max_requests:
            raise fail(f"a batch takes at most {self._max_requests:,} requests")
        try:
            text = json.dumps(
                {"custom_id": custom_id, "method": "POST", "url": self.endpoint, "body": body},
                ensure_ascii=False, separators=(",", ":"), allow_nan=False,
            )
        except (TypeError, ValueError) as exc:
            raise fail(f"the body cannot be sent as JSON: {exc}") from None
        line = text.encode("utf-8") + b"\n"
        if self.size + len(line) > self._max_bytes:
            raise fail(f"the input file would exceed {self._max_bytes:,} bytes")
        self.size += len(line)
        self._ids.add(custom_id)
        self.custom_ids.append(custom_id)
        return line


def _unpack(request: object, number: int) -> tuple[str, object, object, Mapping[str, Any]]:
    custom_id: object
    body: object
    if isinstance(request, BatchRequest):
        custom_id, method, url, body = request.custom_id, request.method, request.url, request.body
    elif isinstance(request, Mapping):
        unknown = sorted(str(k) for k in set(request) - {"custom_id", "method", "url", "body"})
        if unknown:
            raise BatchLineError(f"unknown field {unknown[0]!r} (a line has custom_id, method, url, body)",
                                 line=number)
        custom_id, method, url = request.get("custom_id"), request.get("method", "POST"), request.get("url")
        body = request.get("body")
    elif isinstance(request, tuple) and len(request) == 2:
        (custom_id, body), method, url = request, "POST", None
    else:
        raise BatchLineError(
            f"expected a BatchRequest, a mapping or a (custom_id, body) pair, not {type(request).__name__}",
            line=number,
        )
    if not isinstance(custom_id, str) or not custom_id:
        raise BatchLineError(f"custom_id must be a non-empty string, not {custom_id!r}"[:200], line=number)
    if len(custom_id) > _MAX_CUSTOM_ID:
        raise BatchLineError(f"custom_id is longer than {_MAX_CUSTOM_ID} characters", line=number)
    if not isinstance(body, Mapping):
        raise BatchLineError(f"body must be a mapping, not {type(body).__name__}", line=number,
                             custom_id=custom_id)
    if url is not None and not isinstance(url, str):
        raise BatchLineError(f"url must be a string, not {type(url).__name__}", line=number, custom_id=custom_id)
    return custom_id, method, url, body


def _check_body(operation_id: str, body: Mapping[str, Any], strict: bool, fail: Any) -> None:
    op = get_operation(operation_id)
    for key in body:
        if not isinstance(key, str):
            raise fail(f"body keys must be strings, not {type(key).__name__}")
    if body.get("stream") is True:
        raise fail("a batch request cannot stream; leave stream out")
    if strict:
        required, fields = _BODY_RULES.get(operation_id, ((), ()))
        known = set(op.body_params).union(required, (f[0] for f in fields))
        unknown = sorted(k for k in body if k not in known)
        if unknown:
            raise fail(f"unknown parameter `{unknown[0]}` for {operation_id}")
    try:
        # The rules of an operation sent as a form elsewhere (image edits,
        # videos) come from its JSON form, the one a batch line carries.
        validate_request(operation_id, body)
    except LocalProtocolError as exc:
        raise fail(str(exc)) from None


def encode_batch_input(
    requests: Iterable[RequestLike],
    *,
    endpoint: str | None = None,
    encoder: BatchInputEncoder | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Iterator[bytes]:
    """The input file for ``requests`` as chunks of about ``chunk_size``
    bytes (a longer line is a chunk of its own), each line checked before
    it is encoded.  Pass an ``encoder`` to read its ``custom_ids`` after."""
    if encoder is None:
        encoder = BatchInputEncoder(endpoint)
    elif endpoint is not None and encoder.endpoint != endpoint:
        raise LocalProtocolError("endpoint and encoder.endpoint disagree")
    pending: list[bytes] = []
    size = 0
    for request in requests:
        line = encoder.encode(request)
        pending.append(line)
        size += len(line)
        if size >= chunk_size:
            yield b"".join(pending)
            pending, size = [], 0
    if encoder.count == 0:
        raise LocalProtocolError("A batch needs at least one request")
    if pending:
        yield b"".join(pending)


@attrs.frozen(repr=False)
class JsonLine:
    """One line of a JSON Lines file: its 1-based ``number``, its bytes
    (without the line ending) and the decoded ``value``."""

    number: int
    raw: bytes
    value: Any

    def __repr__(self) -> str:
        return f"JsonLine({self.number}, <{len(self.raw)} bytes>)"


class JsonLinesDecoder:
    """Splits a byte stream into JSON values, one per line.

    ``feed`` returns the lines completed by a piece, ``close`` the last one
    when the stream did not end with a newline.  Blank lines are skipped
    (they still count for numbering); ``\\r\\n`` endings are taken.  A line
    longer than ``max_line_bytes`` or that is not UTF-8 JSON raises
    ``BatchOutputError`` with its number; after that the decoder is spent.
    """

    __slots__ = ("_buffer", "_file", "_max", "_number", "_scanned")

    def __init__(self, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES, file: str = "output") -> None:
        if max_line_bytes < 1:
            raise LocalProtocolError("max_line_bytes must be at least 1")
        self._max = max_line_bytes
        self._file = file
        self._buffer = bytearray()
        self._scanned = 0  # bytes of _buffer known to hold no newline
        self._number = 0

    def __repr__(self) -> str:
        return f"<JsonLinesDecoder {self._file} line={self._number} buffered={len(self._buffer)}>"

    @property
    def lines_read(self) -> int:
        return self._number

    def feed(self, data: bytes | bytearray | memoryview) -> list[JsonLine]:
        out: list[JsonLine] = []
        buffer = self._buffer
        buffer += data
        start = 0
        while True:
            end = buffer.find(b"\n", max(start, self._scanned))
            if end < 0:
                break
            self._emit(bytes(buffer[start:end]), out)
            start = end + 1
            self._scanned = start
        del buffer[:start]
        self._scanned = len(buffer)
        if len(buffer) > self._max:
            raise BatchOutputError(f"longer than {self._max:,} bytes", line=self._number + 1, file=self._file)
        return out

    def close(self) -> list[JsonLine]:
        out: list[JsonLine] = []
        if self._buffer:
            rest, self._buffer = bytes(self._buffer), bytearray()
            self._scanned = 0
            self._emit(rest, out)
        return out

    def _emit(self, raw: bytes, out: list[JsonLine]) -> None:
        self._number += 1
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if len(raw) > self._max:
            raise BatchOutputError(f"longer than {self._max:,} bytes", line=self._number, file=self._file)
        if not raw.strip():
            return
        try:
            value = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            reason = "not UTF-8" if isinstance(exc, UnicodeDecodeError) else "not valid JSON"
            raise BatchOutputError(reason, line=self._number, file=self._file) from None
        out.append(JsonLine(self._number, raw, value))


@attrs.frozen(repr=False, eq=False)
class BatchResult:
    """The outcome of one request of a batch.

    ``response`` is the response body (a model such as ``ChatCompletion``
    when the endpoint's is known) for a 2xx answer, else None; ``error``
    is the ``APIStatusError`` subclass the same answer would raise outside a
    batch, or a ``BatchRequestError`` for a request without an answer.
    ``status_code`` and ``request_id`` are the answer's, when there was one;
    ``id`` is the service's id of the line.
    """

    custom_id: str
    response: Any = None
    error: OpenAIError | None = None
    status_code: int | None = None
    request_id: str | None = None
    id: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def unwrap(self) -> Any:
        """The response body, or raise the error."""
        if self.error is not None:
            raise self.error
        return self.response

    def __repr__(self) -> str:
        state = "ok" if self.error is None else type(self.error).__name__
        return f"BatchResult(custom_id={self.custom_id!r}, status_code={self.status_code}, {state})"


def missing_result(custom_id: str, batch_status: str | None) -> BatchResult:
    """The result of a request neither file mentions: cancelled or expired
    with its batch, or (for any other status) lost."""
    code = {"cancelled": "batch_cancelled", "expired": "batch_expired"}.get(batch_status or "", "missing_result")
    message = {
        "batch_cancelled": "the batch was cancelled before this request ran",
        "batch_expired": "the batch expired before this request ran",
    }.get(code, "neither the output nor the error file has a line for this request")
    return BatchResult(custom_id, error=BatchRequestError(message, code=code, custom_id=custom_id))


def parse_batch_result(line: JsonLine, *, endpoint: str | None = None, file: str = "output") -> BatchResult:
    """One line of an output or error file as a ``BatchResult``.  With the
    batch's ``endpoint``, a 2xx body is parsed into the operation's model."""

    def bad(message: str) -> BatchOutputError:
        return BatchOutputError(message, line=line.number, file=file)

    value = line.value
    if not isinstance(value, dict):
        raise bad("not a JSON object")
    custom_id = value.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        raise bad("no custom_id")
    line_id = value.get("id") if isinstance(value.get("id"), str) else None
    response = value.get("response")
    error = value.get("error")
    if response is None:
        if not isinstance(error, dict):
            raise bad("neither a response nor an error")
        return BatchResult(
            custom_id, id=line_id,
            error=BatchRequestError(
                str(error.get("message") or "no message"),
                code=error.get("code") if isinstance(error.get("code"), str) else None,
                param=error.get("param") if isinstance(error.get("param"), str) else None,
                custom_id=custom_id,
            ),
        )
    if not isinstance(response, dict):
        raise bad("response is not an object")
    status = response.get("status_code")
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise bad(f"status_code {status!r} is not an HTTP status")
    request_id = response.get("request_id") if isinstance(response.get("request_id"), str) else None
    body = response.get("body")
    if not 200 <= status < 300:
        headers = Headers([("x-request-id", request_id)] if request_id else [])
        return BatchResult(
            custom_id, id=line_id, status_code=status, request_id=request_id,
            error=make_status_error(status, headers, body),
        )
    parsed = body
    operation_id = BATCH_ENDPOINTS.get(endpoint or "")
    if operation_id is not None and isinstance(body, dict):
        parse = get_operation(operation_id).response_parser()
        if parse is not None:
            try:
                parsed = parse(body)
            except (TypeError, AttributeError, KeyError, ValueError, IndexError, RecursionError) as exc:
                raise bad(f"the response body does not fit {operation_id}'s: {type(exc).__name__}") from None
            if hasattr(parsed, "_request_id"):
                object.__setattr__(parsed, "_request_id", request_id)
    return BatchResult(custom_id, response=parsed, status_code=status, request_id=request_id, id=line_id)

