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
    ContentFilterFinishReasonError,
    ErrorResponse,
    IncompleteResponseError,
    InternalServerError,
    LengthFinishReasonError,
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
    StructuredOutputError,
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
from ._runtime import TrioRequiredError
from ._streams import AsyncStream
from ._tls import TCPConnector, default_ssl_context

if TYPE_CHECKING:
    from openai_sansio import (
        BatchFailedError,
        BatchLineError,
        BatchOutputError,
        BatchRequest,
        BatchRequestError,
        BatchResult,
        CircuitBreaker,
        CircuitState,
        FunctionTool,
        InvalidWebhookSignatureError,
        ParsedChatCompletion,
        ParsedResponse,
        PollTimeoutError,
        RateLimiter,
        StreamNotResumableError,
        WebSocketClosedError,
        function_tool,
    )

    from ._assistant_stream import AsyncAssistantStream
    from ._azure import AzureADTokenProvider, AzureClient
    from ._background import BackgroundResponseStream, stream_background_response
    from ._batch_job import BatchJob, BatchResults
    from ._realtime import (
        AudioCollector,
        RealtimeConnection,
        ResponseInFlightError,
        ResponsesConnection,
        ResponseStream,
    )
    from ._resilient import CircuitOpenError, Endpoint, EndpointHealth, ResilientClient
    from ._stream_helpers import AsyncChatCompletionStream, AsyncResponseStream
    from ._tool_runner import Tool, ToolRun, ToolRunResult, tool
    from ._websocket import WebSocketConnectionClosed

# Imported on first use: most programs never need them.
_LAZY = {
    "AzureClient": "._azure",
    "AzureADTokenProvider": "._azure",
    "BackgroundResponseStream": "._background",
    "stream_background_response": "._background",
    "StreamNotResumableError": "._background",
    # WebSockets: wsproto and the event models load with them.
    "RealtimeConnection": "._realtime",
    "ResponsesConnection": "._realtime",
    "ResponseStream": "._realtime",
    "ResponseInFlightError": "._realtime",
    "AudioCollector": "._realtime",
    "WebSocketConnectionClosed": "._websocket",
    "WebSocketClosedError": "openai_sansio",
    # Opt-in resilience around clients.
    "ResilientClient": "._resilient",
    "Endpoint": "._resilient",
    "EndpointHealth": "._resilient",
    "CircuitOpenError": "._resilient",
    "CircuitBreaker": "openai_sansio",
    "CircuitState": "openai_sansio",
    "RateLimiter": "openai_sansio",
    # The tool runner behind chat.completions.run_tools / responses.run_tools.
    "Tool": "._tool_runner",
    "ToolRun": "._tool_runner",
    "ToolRunResult": "._tool_runner",
    "tool": "._tool_runner",
    # Stream helpers (chat.completions.stream, responses.stream).
    "AsyncChatCompletionStream": "._stream_helpers",
    "AsyncResponseStream": "._stream_helpers",
    "AsyncAssistantStream": "._assistant_stream",
    # Structured outputs (chat.completions.parse, responses.parse): the core's.
    "function_tool": "openai_sansio",
    "FunctionTool": "openai_sansio",
    "ParsedChatCompletion": "openai_sansio",
    "ParsedResponse": "openai_sansio",
    # Webhooks and pollers (client.webhooks, create_and_poll): the core's errors.
    "InvalidWebhookSignatureError": "openai_sansio",
    "PollTimeoutError": "openai_sansio",
    # The Batch job helper (client.batches.run / resume) and the core's records.
    "BatchJob": "._batch_job",
    "BatchResults": "._batch_job",
    "BatchFailedError": "openai_sansio",
    "BatchLineError": "openai_sansio",
    "BatchOutputError": "openai_sansio",
    "BatchRequest": "openai_sansio",
    "BatchRequestError": "openai_sansio",
    "BatchResult": "openai_sansio",
}

__all__ = [
    "__version__",
    "Client",
    "AsyncStream",
    "BackgroundResponseStream",
    "stream_background_response",
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
    "RealtimeConnection",
    "ResponsesConnection",
    "ResponseStream",
    "AudioCollector",
    "ResilientClient",
    "Endpoint",
    "EndpointHealth",
    "CircuitBreaker",
    "CircuitState",
    "RateLimiter",
    "Tool",
    "ToolRun",
    "ToolRunResult",
    "tool",
    "AsyncChatCompletionStream",
    "AsyncResponseStream",
    "AsyncAssistantStream",
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
    "IncompleteResponseError",
    "StreamNotResumableError",
    "APITimeoutError",
    "TrioRequiredError",
    "APIResponseValidationError",
    "UnexpectedContentTypeError",
    "APIStreamError",
    "WebSocketClosedError",
    "WebSocketConnectionClosed",
    "ResponseInFlightError",
    "CircuitOpenError",
    "LengthFinishReasonError",
    "ContentFilterFinishReasonError",
    "StructuredOutputError",
    "function_tool",
    "FunctionTool",
    "ParsedChatCompletion",
    "ParsedResponse",
    "InvalidWebhookSignatureError",
    "PollTimeoutError",
    "BatchJob",
    "BatchResults",
    "BatchFailedError",
    "BatchLineError",
    "BatchOutputError",
    "BatchRequest",
    "BatchRequestError",
    "BatchResult",
]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'openai_trio' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
