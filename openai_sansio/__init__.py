"""openai_sansio: the OpenAI API as bytes in, typed events out.

No sockets, no clock, no randomness: a runtime adapter (``openai_trio``, or
the blocking and asyncio drivers under ``examples/``) moves the bytes and
passes in the time and the random bytes this core needs.
"""

from typing import TYPE_CHECKING

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
    ContentFilterFinishReasonError,
    ErrorResponse,
    IncompleteResponseError,
    InternalServerError,
    LengthFinishReasonError,
    LocalProtocolError,
    NotFoundError,
    OpenAIError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
    RemoteProtocolError,
    StreamDecodeError,
    StreamResetError,
    StructuredOutputError,
    UnexpectedContentTypeError,
    UnprocessableEntityError,
    make_status_error,
)
from ._events import (
    NEED_DATA,
    ConnectionClosed,
    ConnectionTerminated,
    DataReceived,
    Event,
    ResponseComplete,
    ResponseReceived,
    Sentinel,
    StreamReset,
)
from ._headers import Headers
from ._request import FilePart, Origin, Request, StreamedBody
from ._version import __version__

# isort: split
from ._sse import DEFAULT_MAX_EVENT_SIZE, ServerSentEvent, SSEDecoder

# isort: split
from ._http11 import HTTP11Connection

# isort: split
from ._multipart import FileContent, FileTypes, MultipartBody, encode_multipart

# --- section: call (owned by the call/retry work) ---
# isort: split
from ._call import NOT_GIVEN, Call, NotGiven, Omit, RequestOptions, new_idempotency_key, omit
from ._retry import RetryPolicy

# isort: split
# --- section: models and streams (owned by the models work) ---
from ._streaming import (
    AssistantStreamDecoder,
    ChatCompletionStreamDecoder,
    CompletionStreamDecoder,
    ResponseStreamDecoder,
    StreamDecoder,
    UnknownAssistantStreamEvent,
    UnknownStreamEvent,
)

# isort: split
# --- section: call lifecycle (owned by the lifecycle work) ---
from ._lifecycle import (
    MAX_BODY_BYTES,
    MAX_ERROR_BODY_BYTES,
    RESPONSE_KINDS,
    Action,
    CallLifecycle,
    Done,
    Raise,
    ReadBody,
    ResponseKind,
    Retry,
    SendRequest,
    StartStream,
    StreamBody,
    lifecycle_for,
)

# isort: split
from ._operations import OPERATIONS, Operation, get_operation, validate_request

# isort: split
from ._proxy import Proxy, select_proxy
from ._tunnel import ProxyError, TunnelConnection, TunnelEstablished

# isort: split
# --- section: generated surface (``openai_sansio.api`` is imported on first use) ---
from ._prepared import PreparedOperation, prepare

# isort: split
# --- section: SDK parity (Azure, embeddings) ---
if TYPE_CHECKING:
    from ._assistant_accumulator import (
        AssistantHelperEvent,
        AssistantStreamAccumulator,
        MessageDeltaEvent,
        RunStepDeltaEvent,
    )
    from ._azure import AZURE_DEPLOYMENT_PATHS, AzureConfig
    from ._batch import (
        BATCH_ENDPOINTS,
        BatchFailedError,
        BatchInputEncoder,
        BatchLineError,
        BatchOutputError,
        BatchRequest,
        BatchRequestError,
        BatchResult,
        JsonLine,
        JsonLinesDecoder,
        encode_batch_input,
        missing_result,
        parse_batch_result,
    )
    from ._cassette import (
        CASSETTE_VERSION,
        Cassette,
        CassetteError,
        CassetteFormatError,
        CassetteMiss,
        CassettePlayer,
        ExchangeRecorder,
        RecordedExchange,
        RecordedRequest,
        RecordedResponse,
        ReplayChunk,
        ReplayConnection,
        cassette_exchange_line,
        cassette_header_line,
        cassette_miss,
        dumps_cassette,
        loads_cassette,
        match_recording,
        normalise_body,
        scrub_request,
    )
    from ._chat_accumulator import (
        DEFAULT_MAX_ACCUMULATED_CHARS,
        AmbiguousToolCallError,
        ChatCompletionAccumulator,
        ChatCompletionStreamEvent,
        ChunkEvent,
        ContentDeltaEvent,
        ContentDoneEvent,
        FunctionToolCallArgumentsDeltaEvent,
        FunctionToolCallArgumentsDoneEvent,
        LogprobsContentDeltaEvent,
        LogprobsContentDoneEvent,
        LogprobsRefusalDeltaEvent,
        LogprobsRefusalDoneEvent,
        RefusalDeltaEvent,
        RefusalDoneEvent,
    )
    from ._embeddings import (
        decode_base64_embedding,
        decode_embeddings_response,
        embeddings_encoding_format,
    )
    from ._http2 import HTTP2Connection
    from ._parsed import (
        ParsedChatCompletion,
        ParsedChatCompletionMessage,
        ParsedChoice,
        ParsedFunction,
        ParsedFunctionToolCall,
        ParsedResponse,
        ParsedResponseFunctionToolCall,
        ParsedResponseOutputMessage,
        ParsedResponseOutputText,
    )
    from ._partial_json import INCOMPLETE, PartialJSONError, parse_partial_json
    from ._polling import (
        BATCH_TERMINAL_STATUSES,
        DEFAULT_POLL_INTERVAL_MS,
        MAX_POLL_INTERVAL_MS,
        RUN_TERMINAL_STATUSES,
        PollDone,
        Poller,
        PollKind,
        PollStep,
        PollTimeoutError,
        PollWait,
        poll_after_ms,
    )
    from ._realtime_events import (
        UnknownRealtimeEvent,
        decode_realtime_server_event,
        decode_realtime_server_message,
        decode_responses_ws_server_event,
        decode_responses_ws_server_message,
        validate_realtime_client_event,
        validate_responses_ws_client_event,
    )
    from ._resilience import (
        CircuitBreaker,
        CircuitState,
        RateLimiter,
        RateLimitHeaders,
        estimate_tokens,
        is_failover_error,
        parse_rate_limit_headers,
        parse_reset_duration,
    )
    from ._response_accumulator import (
        ResponseAccumulator,
        ResponseCompletedEvent,
        ResponseFunctionCallArgumentsDeltaEvent,
        ResponseHelperEvent,
        ResponseTextDeltaEvent,
        ResponseTextDoneEvent,
    )
    from ._resume import TERMINAL_RESPONSE_EVENTS, ResponseStreamResumer, StreamNotResumableError
    from ._structured import (
        FunctionTool,
        function_tool,
        parse_chat_completion,
        parse_response,
        parse_structured,
        parse_tool_arguments,
        response_format_from,
        strict_json_schema,
        text_format_from,
    )
    from ._tool_runner import ToolCall, ToolLoop, ToolLoopError, ToolResult
    from ._webhooks import (
        DEFAULT_WEBHOOK_TOLERANCE,
        WEBHOOK_EVENT_TYPES,
        InvalidWebhookSignatureError,
        UnknownWebhookEvent,
        WebhookEvent,
        WebhookHeaders,
        decode_webhook_event,
        unwrap_webhook,
        verify_webhook_signature,
    )
    from ._websocket import (
        DEFAULT_MAX_WEBSOCKET_MESSAGE_SIZE,
        RESPONSES_WEBSOCKET_MAX_AGE,
        BinaryMessage,
        PongReceived,
        WebSocketClosed,
        WebSocketClosedError,
        WebSocketConnection,
        WebSocketOpened,
        WebSocketRequest,
        WebSocketState,
        realtime_request,
        responses_websocket_request,
    )

# Imported on first use (see ``__getattr__`` at the end): most programs never
# touch them, and every module loaded here is paid for by every import.
_LAZY = {
    # h2 and its hpack/hyperframe cost an import most HTTP/1.1 users never need.
    "HTTP2Connection": "._http2",
    "AzureConfig": "._azure",
    "AZURE_DEPLOYMENT_PATHS": "._azure",
    # Batch API files: input lines built and checked, output lines read back.
    "BATCH_ENDPOINTS": "._batch",
    "BatchFailedError": "._batch",
    "BatchInputEncoder": "._batch",
    "BatchLineError": "._batch",
    "BatchOutputError": "._batch",
    "BatchRequest": "._batch",
    "BatchRequestError": "._batch",
    "BatchResult": "._batch",
    "JsonLine": "._batch",
    "JsonLinesDecoder": "._batch",
    "encode_batch_input": "._batch",
    "missing_result": "._batch",
    "parse_batch_result": "._batch",
    "decode_base64_embedding": "._embeddings",
    "decode_embeddings_response": "._embeddings",
    "embeddings_encoding_format": "._embeddings",
    # Cassettes are for tests: their parsing and matching load on first use.
    "CASSETTE_VERSION": "._cassette",
    "Cassette": "._cassette",
    "CassetteError": "._cassette",
    "CassetteFormatError": "._cassette",
    "CassetteMiss": "._cassette",
    "CassettePlayer": "._cassette",
    "ExchangeRecorder": "._cassette",
    "RecordedExchange": "._cassette",
    "RecordedRequest": "._cassette",
    "RecordedResponse": "._cassette",
    "ReplayChunk": "._cassette",
    "ReplayConnection": "._cassette",
    "cassette_exchange_line": "._cassette",
    "cassette_header_line": "._cassette",
    "cassette_miss": "._cassette",
    "dumps_cassette": "._cassette",
    "loads_cassette": "._cassette",
    "match_recording": "._cassette",
    "normalise_body": "._cassette",
    "scrub_request": "._cassette",
    "ResponseStreamResumer": "._resume",
    "StreamNotResumableError": "._resume",
    "TERMINAL_RESPONSE_EVENTS": "._resume",
    # Stream helpers: partial JSON of what a model is still writing.
    "INCOMPLETE": "._partial_json",
    "PartialJSONError": "._partial_json",
    "parse_partial_json": "._partial_json",
    "AmbiguousToolCallError": "._chat_accumulator",
    "ChatCompletionAccumulator": "._chat_accumulator",
    "ChatCompletionStreamEvent": "._chat_accumulator",
    "ChunkEvent": "._chat_accumulator",
    "ContentDeltaEvent": "._chat_accumulator",
    "ContentDoneEvent": "._chat_accumulator",
    "FunctionToolCallArgumentsDeltaEvent": "._chat_accumulator",
    "FunctionToolCallArgumentsDoneEvent": "._chat_accumulator",
    "LogprobsContentDeltaEvent": "._chat_accumulator",
    "LogprobsContentDoneEvent": "._chat_accumulator",
    "LogprobsRefusalDeltaEvent": "._chat_accumulator",
    "LogprobsRefusalDoneEvent": "._chat_accumulator",
    "RefusalDeltaEvent": "._chat_accumulator",
    "RefusalDoneEvent": "._chat_accumulator",
    "DEFAULT_MAX_ACCUMULATED_CHARS": "._chat_accumulator",
    "ResponseAccumulator": "._response_accumulator",
    "ResponseCompletedEvent": "._response_accumulator",
    "ResponseFunctionCallArgumentsDeltaEvent": "._response_accumulator",
    "ResponseHelperEvent": "._response_accumulator",
    "ResponseTextDeltaEvent": "._response_accumulator",
    "ResponseTextDoneEvent": "._response_accumulator",
    "AssistantHelperEvent": "._assistant_accumulator",
    "AssistantStreamAccumulator": "._assistant_accumulator",
    "MessageDeltaEvent": "._assistant_accumulator",
    "RunStepDeltaEvent": "._assistant_accumulator",
    # Structured outputs: schemas from types, and parsed completions.
    "FunctionTool": "._structured",
    "function_tool": "._structured",
    "parse_chat_completion": "._structured",
    "parse_response": "._structured",
    "parse_structured": "._structured",
    "parse_tool_arguments": "._structured",
    "response_format_from": "._structured",
    "strict_json_schema": "._structured",
    "text_format_from": "._structured",
    "ParsedChatCompletion": "._parsed",
    "ParsedChatCompletionMessage": "._parsed",
    "ParsedChoice": "._parsed",
    "ParsedFunction": "._parsed",
    "ParsedFunctionToolCall": "._parsed",
    "ParsedResponse": "._parsed",
    "ParsedResponseFunctionToolCall": "._parsed",
    "ParsedResponseOutputMessage": "._parsed",
    "ParsedResponseOutputText": "._parsed",
    # Opt-in resilience: rate limiter and circuit breaker state machines.
    "CircuitBreaker": "._resilience",
    "CircuitState": "._resilience",
    "RateLimitHeaders": "._resilience",
    "RateLimiter": "._resilience",
    "estimate_tokens": "._resilience",
    "is_failover_error": "._resilience",
    "parse_rate_limit_headers": "._resilience",
    "parse_reset_duration": "._resilience",
    # Pollers: when to retrieve again (time is an argument).
    "BATCH_TERMINAL_STATUSES": "._polling",
    "DEFAULT_POLL_INTERVAL_MS": "._polling",
    "MAX_POLL_INTERVAL_MS": "._polling",
    "RUN_TERMINAL_STATUSES": "._polling",
    "PollDone": "._polling",
    "PollKind": "._polling",
    "PollStep": "._polling",
    "PollTimeoutError": "._polling",
    "PollWait": "._polling",
    "Poller": "._polling",
    "poll_after_ms": "._polling",
    # Webhooks: signature checks and typed events (time is an argument).
    "DEFAULT_WEBHOOK_TOLERANCE": "._webhooks",
    "WEBHOOK_EVENT_TYPES": "._webhooks",
    "InvalidWebhookSignatureError": "._webhooks",
    "UnknownWebhookEvent": "._webhooks",
    "WebhookEvent": "._webhooks",
    "WebhookHeaders": "._webhooks",
    "decode_webhook_event": "._webhooks",
    "unwrap_webhook": "._webhooks",
    "verify_webhook_signature": "._webhooks",
    # The tool runner's conversation bookkeeping.
    "ToolCall": "._tool_runner",
    "ToolLoop": "._tool_runner",
    "ToolLoopError": "._tool_runner",
    "ToolResult": "._tool_runner",
    # WebSockets (Realtime, Responses WebSocket mode): wsproto loads on first use.
    "DEFAULT_MAX_WEBSOCKET_MESSAGE_SIZE": "._websocket",
    "RESPONSES_WEBSOCKET_MAX_AGE": "._websocket",
    "BinaryMessage": "._websocket",
    "PongReceived": "._websocket",
    "WebSocketClosed": "._websocket",
    "WebSocketClosedError": "._websocket",
    "WebSocketConnection": "._websocket",
    "WebSocketOpened": "._websocket",
    "WebSocketRequest": "._websocket",
    "WebSocketState": "._websocket",
    "realtime_request": "._websocket",
    "responses_websocket_request": "._websocket",
    # Typed WebSocket events: the generated models load on the first decode.
    "UnknownRealtimeEvent": "._realtime_events",
    "decode_realtime_server_event": "._realtime_events",
    "decode_realtime_server_message": "._realtime_events",
    "decode_responses_ws_server_event": "._realtime_events",
    "decode_responses_ws_server_message": "._realtime_events",
    "validate_realtime_client_event": "._realtime_events",
    "validate_responses_ws_client_event": "._realtime_events",
}

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
    "StreamResetError",
    "IncompleteResponseError",
    "APIResponseValidationError",
    "APIStreamError",
    "UnexpectedContentTypeError",
    "LengthFinishReasonError",
    "ContentFilterFinishReasonError",
    "StructuredOutputError",
    "make_status_error",
    "ErrorResponse",
    # events and requests
    "NEED_DATA",
    "Sentinel",
    "Event",
    "ResponseReceived",
    "DataReceived",
    "ResponseComplete",
    "ConnectionClosed",
    "StreamReset",
    "ConnectionTerminated",
    "Headers",
    "Origin",
    "Request",
    # --- more names are appended below by each section ---
    "Call",  # call
    "RequestOptions",  # call
    "NOT_GIVEN",  # call
    "NotGiven",  # call
    "omit",  # call
    "Omit",  # call
    "new_idempotency_key",  # call
    "RetryPolicy",  # call
    "SSEDecoder",  # sse
    "ServerSentEvent",  # sse
    "DEFAULT_MAX_EVENT_SIZE",  # sse
    "StreamDecoder",  # streams
    "ChatCompletionStreamDecoder",  # streams
    "CompletionStreamDecoder",  # streams
    "ResponseStreamDecoder",  # streams
    "UnknownStreamEvent",  # streams
    "AssistantStreamDecoder",  # streams
    "UnknownAssistantStreamEvent",  # streams
    "ToolCall",  # tool runner
    "ToolLoop",  # tool runner
    "ToolLoopError",  # tool runner
    "ToolResult",  # tool runner
    "CircuitBreaker",  # resilience
    "CircuitState",  # resilience
    "RateLimitHeaders",  # resilience
    "RateLimiter",  # resilience
    "estimate_tokens",  # resilience
    "is_failover_error",  # resilience
    "parse_rate_limit_headers",  # resilience
    "parse_reset_duration",  # resilience
    "BATCH_ENDPOINTS",  # batch
    "BatchFailedError",  # batch
    "BatchInputEncoder",  # batch
    "BatchLineError",  # batch
    "BatchOutputError",  # batch
    "BatchRequest",  # batch
    "BatchRequestError",  # batch
    "BatchResult",  # batch
    "JsonLine",  # batch
    "JsonLinesDecoder",  # batch
    "encode_batch_input",  # batch
    "missing_result",  # batch
    "parse_batch_result",  # batch
    "BATCH_TERMINAL_STATUSES",  # pollers
    "DEFAULT_POLL_INTERVAL_MS",  # pollers
    "MAX_POLL_INTERVAL_MS",  # pollers
    "RUN_TERMINAL_STATUSES",  # pollers
    "PollDone",  # pollers
    "PollKind",  # pollers
    "PollStep",  # pollers
    "PollTimeoutError",  # pollers
    "PollWait",  # pollers
    "Poller",  # pollers
    "poll_after_ms",  # pollers
    "DEFAULT_WEBHOOK_TOLERANCE",  # webhooks
    "WEBHOOK_EVENT_TYPES",  # webhooks
    "InvalidWebhookSignatureError",  # webhooks
    "UnknownWebhookEvent",  # webhooks
    "WebhookEvent",  # webhooks
    "WebhookHeaders",  # webhooks
    "decode_webhook_event",  # webhooks
    "unwrap_webhook",  # webhooks
    "verify_webhook_signature",  # webhooks
    "INCOMPLETE",  # stream helpers
    "PartialJSONError",  # stream helpers
    "parse_partial_json",  # stream helpers
    "AmbiguousToolCallError",  # stream helpers
    "ChatCompletionAccumulator",  # stream helpers
    "ChatCompletionStreamEvent",  # stream helpers
    "ChunkEvent",  # stream helpers
    "ContentDeltaEvent",  # stream helpers
    "ContentDoneEvent",  # stream helpers
    "FunctionToolCallArgumentsDeltaEvent",  # stream helpers
    "FunctionToolCallArgumentsDoneEvent",  # stream helpers
    "LogprobsContentDeltaEvent",  # stream helpers
    "LogprobsContentDoneEvent",  # stream helpers
    "LogprobsRefusalDeltaEvent",  # stream helpers
    "LogprobsRefusalDoneEvent",  # stream helpers
    "RefusalDeltaEvent",  # stream helpers
    "RefusalDoneEvent",  # stream helpers
    "DEFAULT_MAX_ACCUMULATED_CHARS",  # stream helpers
    "ResponseAccumulator",  # stream helpers
    "ResponseCompletedEvent",  # stream helpers
    "ResponseFunctionCallArgumentsDeltaEvent",  # stream helpers
    "ResponseHelperEvent",  # stream helpers
    "ResponseTextDeltaEvent",  # stream helpers
    "ResponseTextDoneEvent",  # stream helpers
    "AssistantHelperEvent",  # stream helpers
    "AssistantStreamAccumulator",  # stream helpers
    "MessageDeltaEvent",  # stream helpers
    "RunStepDeltaEvent",  # stream helpers
    "FunctionTool",  # structured outputs
    "function_tool",  # structured outputs
    "parse_chat_completion",  # structured outputs
    "parse_response",  # structured outputs
    "parse_structured",  # structured outputs
    "parse_tool_arguments",  # structured outputs
    "response_format_from",  # structured outputs
    "strict_json_schema",  # structured outputs
    "text_format_from",  # structured outputs
    "ParsedChatCompletion",  # structured outputs
    "ParsedChatCompletionMessage",  # structured outputs
    "ParsedChoice",  # structured outputs
    "ParsedFunction",  # structured outputs
    "ParsedFunctionToolCall",  # structured outputs
    "ParsedResponse",  # structured outputs
    "ParsedResponseFunctionToolCall",  # structured outputs
    "ParsedResponseOutputMessage",  # structured outputs
    "ParsedResponseOutputText",  # structured outputs
    "HTTP11Connection",  # http11
    "HTTP2Connection",  # http2 (imported on first use)
    "StreamedBody",  # request bodies
    "FilePart",  # request bodies
    "MultipartBody",  # request bodies
    "encode_multipart",  # request bodies
    "FileTypes",  # request bodies
    "FileContent",  # request bodies
    "CallLifecycle",  # lifecycle
    "lifecycle_for",  # lifecycle
    "Action",  # lifecycle
    "SendRequest",  # lifecycle
    "ReadBody",  # lifecycle
    "StartStream",  # lifecycle
    "StreamBody",  # lifecycle
    "Retry",  # lifecycle
    "Raise",  # lifecycle
    "Done",  # lifecycle
    "ResponseKind",  # lifecycle
    "RESPONSE_KINDS",  # lifecycle
    "MAX_BODY_BYTES",  # lifecycle
    "MAX_ERROR_BODY_BYTES",  # lifecycle
    "OPERATIONS",  # operations
    "Operation",  # operations
    "get_operation",  # operations
    "validate_request",  # operations
    "Proxy",  # proxies
    "select_proxy",  # proxies
    "ProxyError",  # proxies
    "TunnelConnection",  # proxies
    "TunnelEstablished",  # proxies
    "PreparedOperation",  # surface
    "prepare",  # surface
    "AzureConfig",  # azure
    "AZURE_DEPLOYMENT_PATHS",  # azure
    "embeddings_encoding_format",  # embeddings
    "decode_base64_embedding",  # embeddings
    "decode_embeddings_response",  # embeddings
    "CASSETTE_VERSION",  # cassettes
    "Cassette",  # cassettes
    "CassetteError",  # cassettes
    "CassetteFormatError",  # cassettes
    "CassetteMiss",  # cassettes
    "CassettePlayer",  # cassettes
    "ExchangeRecorder",  # cassettes
    "RecordedExchange",  # cassettes
    "RecordedRequest",  # cassettes
    "RecordedResponse",  # cassettes
    "ReplayChunk",  # cassettes
    "ReplayConnection",  # cassettes
    "cassette_exchange_line",  # cassettes
    "cassette_header_line",  # cassettes
    "cassette_miss",  # cassettes
    "dumps_cassette",  # cassettes
    "loads_cassette",  # cassettes
    "match_recording",  # cassettes
    "normalise_body",  # cassettes
    "scrub_request",  # cassettes
    "ResponseStreamResumer",  # background streams
    "StreamNotResumableError",  # background streams
    "TERMINAL_RESPONSE_EVENTS",  # background streams
    "DEFAULT_MAX_WEBSOCKET_MESSAGE_SIZE",  # websockets
    "RESPONSES_WEBSOCKET_MAX_AGE",  # websockets
    "BinaryMessage",  # websockets
    "PongReceived",  # websockets
    "WebSocketClosed",  # websockets
    "WebSocketClosedError",  # websockets
    "WebSocketConnection",  # websockets
    "WebSocketOpened",  # websockets
    "WebSocketRequest",  # websockets
    "WebSocketState",  # websockets
    "realtime_request",  # websockets
    "responses_websocket_request",  # websockets
    "UnknownRealtimeEvent",  # websocket events
    "decode_realtime_server_event",  # websocket events
    "decode_realtime_server_message",  # websocket events
    "decode_responses_ws_server_event",  # websocket events
    "decode_responses_ws_server_message",  # websocket events
    "validate_realtime_client_event",  # websocket events
    "validate_responses_ws_client_event",  # websocket events
]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'openai_sansio' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
