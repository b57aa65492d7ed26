"""Stream decoders: the body bytes of a 200 event stream in, typed items out.

A decoder sits on top of an ``SSEDecoder`` and turns each ``data:`` payload
into one item through a ``parse`` callable (by default a generated model's
``from_dict``).  It also knows the OpenAI conventions layered over SSE: the
``[DONE]`` sentinel, the terminal events of the Responses API, and the several
shapes an error takes inside a stream that already answered 200.

Error semantics, so that nothing the server sent is silently dropped:

* an error the *server reports* (``{"error": ...}``, ``event: error``, a
  Responses ``error`` event) raises ``APIStreamError`` at once; items decoded
  earlier in the same call ride along in its ``received`` list;
* a payload we cannot decode (not JSON, not an object, or an object the
  parser rejects) raises ``StreamDecodeError`` or
  ``APIResponseValidationError``; when items were decoded ahead of it in the
  same call, those are returned first and the error is raised by the next
  ``feed()`` or ``close()``.

After any error the decoder stays failed: later calls raise
``RemoteProtocolError`` (the peer broke the stream, not the caller).
"""

from __future__ import annotations

import enum
import importlib
import json
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Generic,
    NoReturn,
    Protocol,
    Sequence,
    TypeVar,
    overload,
)

import attrs

from ._errors import (
    APIResponseValidationError,
    APIStreamError,
    LocalProtocolError,
    OpenAIError,
    RemoteProtocolError,
    StreamDecodeError,
)
from ._sse import SSEDecoder

if TYPE_CHECKING:
    from ._request import Request
    from .types.assistants import AssistantStreamEvent
    from .types.chat import ChatCompletionChunk
    from .types.completions import Completion
    from .types.responses import ResponseStreamEvent

__all__ = [
    "StreamDecoder",
    "ChatCompletionStreamDecoder",
    "CompletionStreamDecoder",
    "ResponseStreamDecoder",
    "UnknownStreamEvent",
    "AssistantStreamDecoder",
    "UnknownAssistantStreamEvent",
]

T = TypeVar("T")

#: Bytes a finished stream may still receive (and drop) before we call it abuse.
DEFAULT_MAX_TRAILING_BYTES = 64 * 1024

_DONE = "[DONE]"
_GENERIC_ERROR_MESSAGE = "The server reported an error in the event stream."

# What a parser raises when a payload has the wrong shape (a generated
# ``from_dict`` indexes, iterates and calls ``.get`` without checking first).
# Anything else, such as MemoryError, propagates unchanged.
_PARSE_ERRORS = (
    APIResponseValidationError,
    TypeError,
    LookupError,
    AttributeError,
    ValueError,
)

# A deeply nested payload makes the json module recurse until it gives up.
_JSON_ERRORS = (ValueError, RecursionError)

_loads = json.loads


class _Event(Protocol):
    @property
    def event(self) -> str | None: ...

    @property
    def data(self) -> str: ...


class _EventSource(Protocol):
    def feed(self, data: bytes) -> Sequence[_Event]: ...

    def close(self) -> Sequence[_Event]: ...


class _State(enum.Enum):
    OPEN = "open"
    DONE = "done"
    FAILED = "failed"
    CLOSED = "closed"


_OPEN = _State.OPEN


@attrs.frozen
class UnknownStreamEvent:
    """A Responses stream event whose ``type`` this version does not model.

    ``data`` is the decoded payload, untouched.
    """

    type: str
    data: dict[str, Any]


def _new_sse(max_event_size: int | None) -> _EventSource:
    if max_event_size is None:
        return SSEDecoder()
    return SSEDecoder(max_event_size=max_event_size)


def _model_parser(module: str, name: str) -> Callable[[dict[str, Any]], Any]:
    # The generated models are heavy; importing them when the first decoder
    # is made keeps ``import openai_sansio`` cheap.  Only the one module that
    # holds the model is loaded.
    found = getattr(importlib.import_module(module), name)
    parse: Callable[[dict[str, Any]], Any] = getattr(found, "from_dict", found)
    return parse


def _error_message(body: object) -> str:
    inner = body
    if isinstance(body, dict):
        inner = body.get("error")
        if inner is None:
            inner = body
    if isinstance(inner, dict):
        inner = inner.get("message")
    if isinstance(inner, str) and inner:
        return inner
    return _GENERIC_ERROR_MESSAGE


def _preview(text: str) -> str:
    if len(text) > 80:
        return repr(text[:80]) + "..."
    return repr(text)


class StreamDecoder(Generic[T]):
    """Decode the body of one event-stream response into items of type ``T``.

    ``feed(data)`` takes body bytes as they arrive and returns the items that
    became complete; ``close()`` is called at end of body.  ``done`` turns true
    once the server said the stream is over; bytes after that are dropped (up
    to ``max_trailing_bytes``, past which the peer is misbehaving).

    ``parse`` turns one decoded JSON object into an item; pass ``dict`` to
    get the raw payloads.  ``sse`` lets a caller supply its own SSE decoder;
    otherwise one is made with ``max_event_size``.  ``request`` is attached to
    every error raised.
    """

    def __init__(
        self,
        parse: Callable[[dict[str, Any]], T],
        *,
        sse: _EventSource | None = None,
        max_event_size: int | None = None,
        max_trailing_bytes: int = DEFAULT_MAX_TRAILING_BYTES,
        request: Request | None = None,
    ) -> None:
        if max_trailing_bytes < 0:
            raise LocalProtocolError("max_trailing_bytes must not be negative")
        if sse is None:
            sse = _new_sse(max_event_size)
        elif max_event_size is not None:
            raise LocalProtocolError("pass either sse or max_event_size, not both")
        self._sse = sse
        self._parse = parse
        self._request = request
        self._max_trailing = max_trailing_bytes
        self._trailing = 0
        self._state = _OPEN
        self._done = False
        # The first error raised, kept so later calls can point at it.
        self._error: OpenAIError | None = None
        # A decode error held back so the items before it could be returned.
        self._pending: OpenAIError | None = None

    @property
    def done(self) -> bool:
        """True once ``[DONE]`` or a terminal event arrived."""
        return self._done

    def feed(self, data: bytes) -> list[T]:
        """Decode more body bytes; return the items they completed."""
        if self._state is _OPEN:
            try:
                events = self._sse.feed(data)
            except RemoteProtocolError as exc:
                self._fail(exc)
                raise
            return self._decode(events)
        return self._feed_after_end(data)

    def close(self) -> list[T]:
        """Signal end of body; return whatever the last bytes completed.

        A stream that ends without ``[DONE]`` is not an error here (several
        compatible servers never send it, and the HTTP layer already catches
        truncated bodies); ``done`` tells the two cases apart.
        """
        state = self._state
        if state is _OPEN:
            try:
                events = self._sse.close()
            except RemoteProtocolError as exc:
                self._fail(exc)
                raise
            items = self._decode(events)
            if self._pending is not None:
                # Nobody calls close() twice, so a held-back error goes now.
                self._raise_failed()
            self._state = _State.CLOSED
            return items
        if state is _State.FAILED:
            self._raise_failed()
        self._state = _State.CLOSED
        return []

    # -- the per-event loop ------------------------------------------------

    def _decode(self, events: Sequence[_Event]) -> list[T]:
        # Hot path: one or a few chunks per call, so everything here is a
        # local lookup or a cheap comparison; rare shapes leave the loop.
        items: list[T] = []
        parse = self._parse
        for ev in events:
            text = ev.data
            if text == _DONE:
                self._finish()
                break
            if not text:
                continue
            if ev.event == "error":
                raise self._fail(self._event_error(text, items))
            try:
                obj = _loads(text)
            except _JSON_ERRORS as exc:
                return self._bad_json(text, exc, items)
            if type(obj) is not dict:
                return self._not_object(text, items)
            if "error" in obj and obj["error"] is not None:
                raise self._fail(self._stream_error(obj, items))
            try:
                items.append(parse(obj))
            except _PARSE_ERRORS as exc:
                return self._invalid(text, exc, items)
        return items

    # -- the rare cases ----------------------------------------------------

    def _finish(self) -> None:
        self._state = _State.DONE
        self._done = True

    def _feed_after_end(self, data: bytes) -> list[T]:
        state = self._state
        if state is _State.DONE:
            # Dropped without parsing, but counted so a peer cannot keep us
            # reading forever after it said it was finished.
            self._trailing += len(data)
            if self._trailing > self._max_trailing:
                raise self._fail(
                    RemoteProtocolError(
                        f"received more than {self._max_trailing} bytes after "
                        "the end of the event stream",
                        request=self._request,
                    )
                )
            return []
        if state is _State.FAILED:
            self._raise_failed()
        raise LocalProtocolError("feed() called after close()")

    def _fail(self, exc: OpenAIError) -> OpenAIError:
        self._state = _State.FAILED
        self._error = exc
        return exc

    def _raise_failed(self) -> NoReturn:
        pending = self._pending
        if pending is not None:
            self._pending = None
            raise pending
        raise RemoteProtocolError(
            f"the event stream already failed: {self._error}", request=self._request
        ) from self._error

    def _hold(self, exc: OpenAIError, items: list[T]) -> list[T]:
        self._fail(exc)
        if items:
            self._pending = exc
            return items
        raise exc

    def _stream_error(self, body: object, items: list[T]) -> APIStreamError:
        return APIStreamError(
            _error_message(body), body=body, received=items, request=self._request
        )

    def _event_error(self, text: str, items: list[T]) -> APIStreamError:
        # An ``event: error`` is an error whatever its data looks like; plain
        # text is kept as the body rather than turned into a decode error.
        body: object
        try:
            body = _loads(text)
        except _JSON_ERRORS:
            body = text
        return self._stream_error(body, items)

    def _bad_json(self, text: str, exc: BaseException, items: list[T]) -> list[T]:
        err = StreamDecodeError(
            f"event stream data is not valid JSON ({exc}): {_preview(text)}",
            data=text,
            request=self._request,
        )
        err.__cause__ = exc
        return self._hold(err, items)

    def _not_object(self, text: str, items: list[T]) -> list[T]:
        err = StreamDecodeError(
            f"event stream data is not a JSON object: {_preview(text)}",
            data=text,
            request=self._request,
        )
        return self._hold(err, items)

    def _invalid(self, text: str, exc: BaseException, items: list[T]) -> list[T]:
        detail = exc.message if isinstance(exc, APIResponseValidationError) else repr(exc)
        err = APIResponseValidationError(
            f"event stream item has an unexpected shape ({detail}): {_preview(text)}",
            body=text,
            status_code=200,
            request=self._request,
        )
        err.__cause__ = exc
        return self._hold(err, items)


class ChatCompletionStreamDecoder(StreamDecoder[T]):
    """Chat Completions stream: items are ``ChatCompletionChunk`` models."""

    @overload
    def __init__(
        self: ChatCompletionStreamDecoder[ChatCompletionChunk],
        *,
        parse: None = None,
        sse: _EventSource | None = None,
        max_event_size: int | None = None,
        max_trailing_bytes: int = DEFAULT_MAX_TRAILING_BYTES,
        request: Request | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        *,
        parse: Callable[[dict[str, Any]], T],
        sse: _EventSource | None = None,
        max_event_size: int | None = None,
        max_trailing_bytes: int = DEFAULT_MAX_TRAILING_BYTES,
        request: Request | None = None,
    ) -> None: ...

    def __init__(
        self,
        *,
        parse: Callable[[dict[str, Any]], T] | None = None,
        sse: _EventSource | None = None,
        max_event_size: int | None = None,
        max_trailing_bytes: int = DEFAULT_MAX_TRAILING_BYTES,
        request: Request | None = None,
    ) -> None:
        super().__init__(
            _model_parser("openai_sansio.types.chat", "ChatCompletionChunk")
            if parse is None
            else parse,
            sse=sse,
            max_event_size=max_event_size,
            max_trailing_bytes=max_trailing_bytes,
            request=request,
        )


class CompletionStreamDecoder(StreamDecoder[T]):
    """Legacy Completions stream: items are ``Completion`` models."""

    @overload
    def __init__(
        self: CompletionStreamDecoder[Completion],
        *,
        parse: None = None,
        sse: _EventSource | None = None,
        max_event_size: int | None = None,
        max_trailing_bytes: int = DEFAULT_MAX_TRAILING_BYTES,
        request: Request | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        *,
        parse: Callable[[dict[str, Any]], T],
        sse: _EventSource | None = None,
        max_event_size: int | None = None,
        max_trailing_bytes: int = DEFAULT_MAX_TRAILING_BYTES,
        request: Request | None = None,
    ) -> None: ...

    def __init__(
        self,
        *,
        parse: Callable[[dict[str, Any]], T] | None = None,
        sse: _EventSource | None = None,
        max_event_size: int | None = None,
        max_trailing_bytes: int = DEFAULT_MAX_TRAILING_BYTES,
        request: Request | None = None,
    ) -> None:
        super().__init__(
            _model_parser("openai_sansio.types.completions", "Completion")
            if parse is None
            else parse,
            sse=sse,
            max_event_size=max_event_size,
            max_trailing_bytes=max_trailing_bytes,
            request=request,
        )


# Responses events that end the stream; each carries the final response.
_TERMINAL_RESPONSE_EVENTS = frozenset(
    {"response.completed", "response.failed", "response.incomplete"}
)

# The event types the API documents.  When the parser rejects one of these the
# payload is malformed; when it rejects any other type, the server is simply
# newer than we are and the event is handed over as ``UnknownStreamEvent``.
_KNOWN_RESPONSE_EVENTS = frozenset(
    {
        "error",
        "response.audio.delta",
        "response.audio.done",
        "response.audio.transcript.delta",
        "response.audio.transcript.done",
        "response.code_interpreter_call.completed",
        "response.code_interpreter_call.in_progress",
        "response.code_interpreter_call.interpreting",
        "response.code_interpreter_call_code.delta",
        "response.code_interpreter_call_code.done",
        "response.completed",
        "response.content_part.added",
        "response.content_part.done",
        "response.created",
        "response.custom_tool_call_input.delta",
        "response.custom_tool_call_input.done",
        "response.failed",
        "response.file_search_call.completed",
        "response.file_search_call.in_progress",
        "response.file_search_call.searching",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.image_generation_call.completed",
        "response.image_generation_call.generating",
        "response.image_generation_call.in_progress",
        "response.image_generation_call.partial_image",
        "response.in_progress",
        "response.incomplete",
        "response.mcp_call.completed",
        "response.mcp_call.failed",
        "response.mcp_call.in_progress",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
        "response.mcp_list_tools.completed",
        "response.mcp_list_tools.failed",
        "response.mcp_list_tools.in_progress",
        "response.output_item.added",
        "response.output_item.done",
        "response.output_text.annotation.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.queued",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_part.done",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.refusal.delta",
        "response.refusal.done",
        "response.shell_call_command.added",
        "response.shell_call_command.delta",
        "response.shell_call_command.done",
        "response.shell_call_output_content.delta",
        "response.shell_call_output_content.done",
        "response.web_search_call.completed",
        "response.web_search_call.in_progress",
        "response.web_search_call.searching",
    }
)


class ResponseStreamDecoder(StreamDecoder[T]):
    """Responses API stream: items are the typed Responses stream events.

    ``done`` turns true after ``response.completed``, ``response.failed`` or
    ``response.incomplete`` (returned as items like any other event), or after
    a ``[DONE]``.  An ``error`` event raises ``APIStreamError``.

    The default parser returns ``types.UnknownObject`` for event types it
    does not know.  A custom ``parse`` may instead raise for them: an event
    whose type the API does not document then arrives as
    ``UnknownStreamEvent`` rather than failing the stream.
    """

    @overload
    def __init__(
        self: ResponseStreamDecoder[ResponseStreamEvent],
        *,
        parse: None = None,
        sse: _EventSource | None = None,
        max_event_size: int | None = None,
        max_trailing_bytes: int = DEFAULT_MAX_TRAILING_BYTES,
        request: Request | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        *,
        parse: Callable[[dict[str, Any]], T],
        sse: _EventSource | None = None,
        max_event_size: int | None = None,
        max_trailing_bytes: int = DEFAULT_MAX_TRAILING_BYTES,
        request: Request | None = None,
    ) -> None: ...

    def __init__(
        self,
        *,
        parse: Callable[[dict[str, Any]], T] | None = None,
        sse: _EventSource | None = None,
        max_event_size: int | None = None,
        max_trailing_bytes: int = DEFAULT_MAX_TRAILING_BYTES,
        request: Request | None = None,
    ) -> None:
        super().__init__(
            _model_parser("openai_sansio.types.responses", "parse_response_stream_event")
            if parse is None
            else parse,
            sse=sse,
            max_event_size=max_event_size,
            max_trailing_bytes=max_trailing_bytes,
            request=request,
        )

    def _decode(self, events: Sequence[_Event]) -> list[T]:
        # Same shape as the base loop, plus the ``type`` checks; kept separate
        # so the chat path pays nothing for them.
        items: list[Any] = []
        parse = self._parse
        for ev in events:
            text = ev.data
            if text == _DONE:
                self._finish()
                break
            if not text:
                continue
            if ev.event == "error":
                raise self._fail(self._event_error(text, items))
            try:
                obj = _loads(text)
            except _JSON_ERRORS as exc:
                return self._bad_json(text, exc, items)
            if type(obj) is not dict:
                return self._not_object(text, items)
            kind = obj.get("type")
            if type(kind) is not str:
                kind = ""
            if kind == "error" or ("error" in obj and obj["error"] is not None):
                raise self._fail(self._stream_error(obj, items))
            try:
                items.append(parse(obj))
            except _PARSE_ERRORS as exc:
                if not kind or kind in _KNOWN_RESPONSE_EVENTS:
                    return self._invalid(text, exc, items)
                items.append(UnknownStreamEvent(kind, obj))
            if kind in _TERMINAL_RESPONSE_EVENTS:
                self._finish()
                break
        return items


# -- Assistants runs -----------------------------------------------------------

# The ``event:`` names the API documents for a run stream (``error`` and
# ``done`` are handled before parsing).  Any other name is a newer server,
# handed over as ``UnknownAssistantStreamEvent``.
_KNOWN_ASSISTANT_EVENTS = frozenset(
    {
        "thread.created",
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.requires_action",
        "thread.run.completed",
        "thread.run.incomplete",
        "thread.run.failed",
        "thread.run.cancelling",
        "thread.run.cancelled",
        "thread.run.expired",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.run.step.delta",
        "thread.run.step.completed",
        "thread.run.step.failed",
        "thread.run.step.cancelled",
        "thread.run.step.expired",
        "thread.message.created",
        "thread.message.in_progress",
        "thread.message.delta",
        "thread.message.completed",
        "thread.message.incomplete",
    }
)

# What an SSE event without an ``event:`` field is called (the SSE standard's
# default type).
_DEFAULT_SSE_EVENT = "message"


@attrs.frozen(repr=False)
class UnknownAssistantStreamEvent:
    """A run stream event whose name this version does not model.

    ``event`` is the SSE event name (``"message"`` when the server sent
    none); ``data`` the decoded JSON payload (or the text, if not JSON).
    """

    event: str
    data: Any

    def __repr__(self) -> str:
        return f"UnknownAssistantStreamEvent(event={self.event!r})"


class AssistantStreamDecoder(StreamDecoder[T]):
    """Assistants run stream: items are the typed ``AssistantStreamEvent``
    variants (``types.assistants.ThreadRunCreated``, ``ThreadMessageDelta``,
    ...), each with ``event`` (its SSE name) and ``data`` (the payload).

    Unlike the other streams the kind of an item is in the SSE ``event:``
    field, not in the JSON.  ``event: done`` (or a ``[DONE]`` payload) ends
    the stream and is not an item; ``event: error`` raises
    ``APIStreamError``; an event name the API does not document arrives as
    ``UnknownAssistantStreamEvent``.  ``parse`` receives
    ``{"event": name, "data": payload}``.
    """

    @overload
    def __init__(
        self: AssistantStreamDecoder[AssistantStreamEvent | UnknownAssistantStreamEvent],
        *,
        parse: None = None,
        sse: _EventSource | None = None,
        max_event_size: int | None = None,
        max_trailing_bytes: int = DEFAULT_MAX_TRAILING_BYTES,
        request: Request | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        *,
        parse: Callable[[dict[str, Any]], T],
        sse: _EventSource | None = None,
        max_event_size: int | None = None,
        max_trailing_bytes: int = DEFAULT_MAX_TRAILING_BYTES,
        request: Request | None = None,
    ) -> None: ...

    def __init__(
        self,
        *,
        parse: Callable[[dict[str, Any]], T] | None = None,
        sse: _EventSource | None = None,
        max_event_size: int | None = None,
        max_trailing_bytes: int = DEFAULT_MAX_TRAILING_BYTES,
        request: Request | None = None,
    ) -> None:
        super().__init__(
            _model_parser("openai_sansio.types.assistants", "parse_assistant_stream_event")
            if parse is None
            else parse,
            sse=sse,
            max_event_size=max_event_size,
            max_trailing_bytes=max_trailing_bytes,
            request=request,
        )

    def _decode(self, events: Sequence[_Event]) -> list[T]:
        items: list[Any] = []
        parse = self._parse
        known = _KNOWN_ASSISTANT_EVENTS
        for ev in events:
            name = ev.event or _DEFAULT_SSE_EVENT
            text = ev.data
            if name == "done" or text == _DONE:
                self._finish()
                break
            if name == "error":
                raise self._fail(self._event_error(text, items))
            if not text:
                continue
            try:
                obj = _loads(text)
            except _JSON_ERRORS as exc:
                if name not in known:
                    # A newer event need not carry JSON; keep it as it came.
                    items.append(UnknownAssistantStreamEvent(name, text))
                    continue
                return self._bad_json(text, exc, items)
            if name not in known:
                if type(obj) is dict and obj.get("error") is not None and name == _DEFAULT_SSE_EVENT:
                    # A nameless ``{"error": ...}``: how some proxies report
                    # a failure inside a stream that already answered 200.
                    raise self._fail(self._stream_error(obj, items))
                items.append(UnknownAssistantStreamEvent(name, obj))
                continue
            if type(obj) is not dict:
                return self._not_object(text, items)
            try:
                items.append(parse({"event": name, "data": obj}))
            except _PARSE_ERRORS as exc:
                return self._invalid(text, exc, items)
        return items
