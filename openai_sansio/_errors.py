"""The exception hierarchy shared by the core and every runtime adapter.

Two families matter to callers:

* ``LocalProtocolError``: the caller asked for something we refuse to put on
  the wire (bad parameter, CR/LF in a header, a send in the wrong state).  It
  is always raised before any byte of the offending request is produced.
* ``APIError`` and its subclasses: something came back from (or failed to come
  back from) the server.  ``RemoteProtocolError`` is the peer breaking HTTP,
  SSE or JSON framing; ``APIStatusError`` is a well-formed error response.

Nothing in here ever formats an API key: the request object that errors may
carry redacts credentials in its own repr.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from ._headers import Headers
    from ._request import Request

__all__ = [
    "OpenAIError",
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "StreamDecodeError",
    "APIError",
    "APIStatusError",
    "ErrorResponse",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "UnprocessableEntityError",
    "RateLimitError",
    "InternalServerError",
    "APIConnectionError",
    "APITimeoutError",
    "StreamResetError",
    "IncompleteResponseError",
    "APIResponseValidationError",
    "UnexpectedContentTypeError",
    "APIStreamError",
    "LengthFinishReasonError",
    "ContentFilterFinishReasonError",
    "StructuredOutputError",
    "make_status_error",
]


# How much of a server's error message goes into str(exc).
MAX_MESSAGE_DETAIL = 2000


class OpenAIError(Exception):
    """Base of every exception this package raises on purpose."""


class ProtocolError(OpenAIError):
    """Base of the two protocol errors, mirroring h11's split."""


class LocalProtocolError(ProtocolError):
    """The caller's request cannot be sent as given; nothing was sent."""


class APIError(OpenAIError):
    """Something went wrong talking to the API.

    ``body`` is the decoded JSON body (or raw text) when there was one;
    ``code``, ``param`` and ``type`` are lifted from an OpenAI-style error
    object when present.
    """

    message: str
    request: Request | None
    body: object | None
    code: str | None
    param: str | None
    type: str | None

    def __init__(
        self,
        message: str,
        *,
        request: Request | None = None,
        body: object | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.request = request
        self.body = body
        err = _error_object(body)
        self.code = _opt_str(err.get("code")) if err is not None else None
        self.param = _opt_str(err.get("param")) if err is not None else None
        self.type = _opt_str(err.get("type")) if err is not None else None

    def __str__(self) -> str:
        return self.message


class RemoteProtocolError(ProtocolError, APIError):
    """The peer sent bytes that break HTTP, SSE or JSON framing.

    The connection it arrived on must be discarded.
    """

    def __init__(self, message: str, *, request: Request | None = None) -> None:
        APIError.__init__(self, message, request=request)


class StreamDecodeError(RemoteProtocolError):
    """A streamed ``data:`` payload was not the JSON we expected.

    ``data`` keeps the raw text so nothing the server said is lost.
    """

    def __init__(
        self, message: str, *, data: str, request: Request | None = None
    ) -> None:
        super().__init__(message, request=request)
        self.data = data


class APIStatusError(APIError):
    """The server answered with a 4xx or 5xx status.

    ``response`` gives the SDK's ``exc.response.status_code``,
    ``.headers``, ``.text`` and ``.json()`` spellings.
    """

    status_code: int
    headers: Headers
    request_id: str | None

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        headers: Headers,
        body: object | None,
        request: Request | None = None,
        text: str | None = None,
    ) -> None:
        super().__init__(message, request=request, body=body)
        self.status_code = status_code
        self.headers = headers
        self.request_id = headers.get("x-request-id")
        # Kept as a plain str attribute so that secret scrubbing, which
        # walks an exception's attributes, reaches it too.
        self._text = text

    @property
    def response(self) -> ErrorResponse:
        """The error response, read from this exception's own fields."""
        return ErrorResponse(self)


class ErrorResponse:
    """The response an ``APIStatusError`` was made from, shaped like the
    ``httpx.Response`` the official SDK puts on ``exc.response``.

    It is a view of the exception, not a second copy of the body: whatever
    was redacted there (a credential echoed by the server) is redacted here.
    """

    __slots__ = ("_error",)

    def __init__(self, error: APIStatusError) -> None:
        self._error = error

    def __repr__(self) -> str:
        return f"<ErrorResponse [{self.status_code}]>"

    @property
    def status_code(self) -> int:
        return self._error.status_code

    @property
    def headers(self) -> Headers:
        return self._error.headers

    @property
    def request(self) -> Request | None:
        return self._error.request

    @property
    def request_id(self) -> str | None:
        return self._error.request_id

    @property
    def is_success(self) -> bool:
        return False

    @property
    def is_error(self) -> bool:
        return True

    @property
    def text(self) -> str:
        """The body as text (only its first MiB is ever read)."""
        text = self._error._text
        if text is not None:
            return text
        body = self._error.body
        if body is None:
            return ""
        if isinstance(body, str):
            return body
        return json.dumps(body, ensure_ascii=False)

    @property
    def content(self) -> bytes:
        return self.text.encode("utf-8")

    def json(self) -> Any:
        """The body decoded as JSON; ``ValueError`` when it is not JSON."""
        return json.loads(self.text)


class BadRequestError(APIStatusError):
    pass


class AuthenticationError(APIStatusError):
    pass


class PermissionDeniedError(APIStatusError):
    pass


class NotFoundError(APIStatusError):
    pass


class ConflictError(APIStatusError):
    pass


class UnprocessableEntityError(APIStatusError):
    pass


class RateLimitError(APIStatusError):
    pass


class InternalServerError(APIStatusError):
    pass


class APIConnectionError(APIError):
    """The request could not be completed at the transport level."""

    def __init__(
        self, message: str = "Connection error.", *, request: Request | None = None
    ) -> None:
        super().__init__(message, request=request)


class APITimeoutError(APIConnectionError):
    """A time limit ran out.  ``limit`` names which one: ``"connect"``,
    ``"read"``, ``"write"``, ``"pool"`` or ``"total"``."""

    def __init__(
        self, limit: str, seconds: float, *, request: Request | None = None
    ) -> None:
        super().__init__(
            f"Request timed out: {limit} timeout of {seconds:g}s exceeded.",
            request=request,
        )
        self.limit = limit
        self.seconds = seconds


# RFC 9113 section 7, for messages.
_H2_ERROR_NAMES = (
    "NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",
    "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR",
    "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
)


def h2_error_name(code: int) -> str:
    """The RFC 9113 name of an HTTP/2 error code, or its number."""
    return _H2_ERROR_NAMES[code] if 0 <= code < len(_H2_ERROR_NAMES) else f"0x{code:x}"


class IncompleteResponseError(RemoteProtocolError, APIConnectionError):
    """The server closed the connection in the middle of a response (its
    head or its body cut short).

    Both a protocol failure (the response is unusable and the connection is
    discarded: ``except RemoteProtocolError`` catches it) and a broken
    connection, retried like any other connection error (as the official
    SDK retries its "incomplete message body" errors): bytes that break
    HTTP are not retried, a close is."""


class StreamResetError(APIConnectionError):
    """The server reset the HTTP/2 stream of the request (RST_STREAM), or
    ended the connection with an error (GOAWAY) before the response was
    complete.  ``error_code`` is the HTTP/2 error code; the connection's
    other streams are not affected by a reset."""

    def __init__(
        self, stream_id: int, error_code: int, *, goaway: bool = False, request: Request | None = None
    ) -> None:
        what = "the connection (GOAWAY)" if goaway else "the stream"
        super().__init__(
            f"The server reset {what} before the response was complete: "
            f"HTTP/2 error {h2_error_name(error_code)} on stream {stream_id}.",
            request=request,
        )
        self.stream_id = stream_id
        self.error_code = error_code


class APIResponseValidationError(APIError):
    """A successful response whose body does not have the expected shape."""

    def __init__(
        self,
        message: str,
        *,
        body: object | None = None,
        status_code: int | None = None,
        request: Request | None = None,
    ) -> None:
        super().__init__(message, request=request, body=body)
        self.status_code = status_code


class UnexpectedContentTypeError(APIResponseValidationError):
    """A successful response whose content type is not what the call asked
    for, such as a JSON body answering a streamed call.  ``content_type`` is
    the header as sent (None when there was none)."""

    def __init__(
        self,
        message: str,
        *,
        content_type: str | None,
        body: object | None = None,
        status_code: int | None = None,
        request: Request | None = None,
    ) -> None:
        super().__init__(message, body=body, status_code=status_code, request=request)
        self.content_type = content_type


class APIStreamError(APIError):
    """An error reported by the server inside a 200 event stream.

    ``received`` holds the items decoded from the same ``feed()`` call before
    the error, so nothing that arrived ahead of it is lost.
    """

    def __init__(
        self,
        message: str,
        *,
        body: object | None,
        received: list[Any] | None = None,
        request: Request | None = None,
    ) -> None:
        super().__init__(message, request=request, body=body)
        self.received: list[Any] = [] if received is None else received


class LengthFinishReasonError(OpenAIError):
    """A completion asked to be parsed stopped at its token limit, so its
    content is cut short and cannot be parsed.  ``completion`` is the
    completion as received (when streaming, as accumulated: without usage
    unless the stream carried it)."""

    def __init__(self, *, completion: Any) -> None:
        message = "Could not parse response content as the length limit was reached"
        usage = getattr(completion, "usage", None)
        if usage is not None:
            message += f" - {usage}"
        super().__init__(message)
        self.completion = completion


class ContentFilterFinishReasonError(OpenAIError):
    """A completion asked to be parsed was stopped by the content filter.
    ``completion`` is the completion when there is one."""

    def __init__(self, *, completion: Any = None) -> None:
        super().__init__(
            "Could not parse response content as the request was rejected by the content filter"
        )
        self.completion = completion


class StructuredOutputError(APIResponseValidationError):
    """A structured output (or a strict tool call's arguments) that does not
    fit the type it was asked for: not JSON, or JSON of another shape.
    ``path`` says where the mismatch is (``$`` is the whole value, then
    ``.field`` and ``[index]``); ``body`` is the text or value received."""

    def __init__(self, message: str, *, path: str = "$", body: object | None = None) -> None:
        super().__init__(message, body=body)
        self.path = path


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def _error_object(body: object) -> Mapping[str, Any] | None:
    if isinstance(body, Mapping):
        inner = body.get("error")
        if isinstance(inner, Mapping):
            return inner
        return body
    return None


def _opt_str(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def make_status_error(
    status_code: int,
    headers: Headers,
    body: object | None,
    *,
    request: Request | None = None,
    text: str | None = None,
) -> APIStatusError:
    """Build the typed exception for an error status and its decoded body
    (``text``: the body as text, for ``exc.response.text``)."""
    err = _error_object(body)
    detail: object | None = None
    if err is not None:
        detail = err.get("message")
        if detail is None and isinstance(body, Mapping) and isinstance(body.get("error"), str):
            # Some OpenAI-compatible servers answer {"error": "text"}.
            detail = body["error"]
    elif isinstance(body, str) and body:
        detail = body
    message = f"Error code: {status_code}"
    if detail:
        detail = str(detail)
        if len(detail) > MAX_MESSAGE_DETAIL:
            # An HTML page or a stack dump as the "message": str(exc) ends
            # up in logs and terminals, so it shows the start; the whole
            # body stays on exc.body and exc.response.text.
            cut = len(detail) - MAX_MESSAGE_DETAIL
            detail = f"{detail[:MAX_MESSAGE_DETAIL]}... [{cut:,} more characters; see exc.body]"
        message += f" - {detail}"
    cls = _STATUS_CLASSES.get(status_code)
    if cls is None:
        cls = InternalServerError if status_code >= 500 else APIStatusError
    return cls(
        message, status_code=status_code, headers=headers, body=body, request=request, text=text
    )
