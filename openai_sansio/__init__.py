"""openai_sansio: the OpenAI API as bytes in, typed events out.

No sockets, no clock, no randomness: a runtime adapter (``openai_trio``, or
the blocking and asyncio drivers under ``examples/``) moves the bytes and
passes in the time and the random bytes this core needs.
"""

from ._config import DEFAULT_BASE_URL, ClientConfig, Timeout
from ._errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APIStreamError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    LocalProtocolError,
    NotFoundError,
    OpenAIError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
    RemoteProtocolError,
    StreamDecodeError,
    UnprocessableEntityError,
    make_status_error,
)
from ._events import (
    NEED_DATA,
    ConnectionClosed,
    DataReceived,
    Event,
    ResponseComplete,
    ResponseReceived,
    Sentinel,
)
from ._headers import Headers
from ._request import Origin, Request
from ._version import __version__

# --- section: sse (owned by the SSE work) ---
# --- section: http11 (owned by the HTTP/1.1 work) ---
# --- section: call (owned by the call/retry work) ---
# --- section: models and streams (owned by the models work) ---

__all__ = [
    "__version__",
    # config
    "ClientConfig",
    "Timeout",
    "DEFAULT_BASE_URL",
    # errors
    "OpenAIError",
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "StreamDecodeError",
    "APIError",
    "APIStatusError",
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
    "APIResponseValidationError",
    "APIStreamError",
    "make_status_error",
    # events and requests
    "NEED_DATA",
    "Sentinel",
    "Event",
    "ResponseReceived",
    "DataReceived",
    "ResponseComplete",
    "ConnectionClosed",
    "Headers",
    "Origin",
    "Request",
    # --- more names are appended below by each section ---
]
