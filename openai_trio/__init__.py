"""openai_trio: an OpenAI API client for trio, on top of ``openai_sansio``.

``Client`` owns a connection pool and runs each call of the sans-IO core:
this package only opens sockets (TCP, verified TLS), keeps time with cancel
scopes and supplies randomness.  The errors, ``Timeout`` and
``ClientConfig`` are the core's own, re-exported here.
"""

from typing import TYPE_CHECKING

from openai_sansio import (
    NOT_GIVEN,
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APIStreamError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientConfig,
    ConflictError,
    ErrorResponse,
    InternalServerError,
    LocalProtocolError,
    NotFoundError,
    NotGiven,
    Omit,
    OpenAIError,
    Origin,
    PermissionDeniedError,
    RateLimitError,
    RemoteProtocolError,
    RequestOptions,
    StreamDecodeError,
    Timeout,
    UnexpectedContentTypeError,
    UnprocessableEntityError,
    __version__,
    omit,
)

from ._client import Client, RawResponse

# isort: split
from ._binary import BinaryResponse, StreamedBinaryResponse
from ._pages import AsyncCursorPage, AsyncPage, AsyncPageTokenPage, AsyncPaginator, PageInfo
from ._pool import PoolStats
from ._proxy import ProxyConnector
from ._streams import AsyncStream
from ._tls import TCPConnector, default_ssl_context

if TYPE_CHECKING:
    from ._azure import AzureADTokenProvider, AzureClient

__all__ = [
    "__version__",
    "Client",
    "AsyncStream",
    "AsyncPage",
    "AsyncCursorPage",
    "AsyncPageTokenPage",
    "PageInfo",
    "AsyncPaginator",
    "RawResponse",
    "BinaryResponse",
    "StreamedBinaryResponse",
    "PoolStats",
    "TCPConnector",
    "ProxyConnector",
    "default_ssl_context",
    "ClientConfig",
    "Timeout",
    "RequestOptions",
    "NOT_GIVEN",
    "NotGiven",
    "omit",
    "Omit",
    "Origin",
    "AzureClient",
    "AzureADTokenProvider",
    # errors
    "OpenAIError",
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
    "APIResponseValidationError",
    "UnexpectedContentTypeError",
    "APIStreamError",
]


def __getattr__(name: str) -> object:
    # Azure support is imported on first use: most programs never need it.
    if name in ("AzureClient", "AzureADTokenProvider"):
        from . import _azure

        value = getattr(_azure, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'openai_trio' has no attribute {name!r}")
