"""``client.chat.completions.stream(...)`` and ``client.responses.stream(...)``.

Both are async context managers around a ``stream=True`` call: entering
sends the request (through the generated ``create``, so retries, timeouts
and the connection handling are the ordinary ones), iterating gives the
helper events of the core accumulators, and leaving the block closes the
HTTP stream however the block ends (a finished stream's connection goes
back to the pool; one left early is closed).

``text_deltas()`` iterates only the text, ``until_done()`` reads to the
end, ``get_final_completion()`` / ``get_final_response()`` read to the end
and return the rebuilt object.  Mixed into the generated namespaces
through ``NAMESPACE_MIXINS`` in ``tools/generate_surface.py``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, Generic, TypeVar

from openai_sansio import (
    NOT_GIVEN,
    ChatCompletionAccumulator,
    LocalProtocolError,
    ResponseAccumulator,
)

from ._streamed import StreamedResponseManager

if TYPE_CHECKING:
    from typing_extensions import Self

    from openai_sansio import ChatCompletionStreamEvent, ResponseHelperEvent
    from openai_sansio.types.chat import ChatCompletion, ChatCompletionChunk
    from openai_sansio.types.responses import Response, ResponseStreamEvent

    from ._namespace import Namespace
    from ._streams import AsyncStream

__all__ = [
    "AsyncChatCompletionStream",
    "ChatCompletionsStreamMixin",
    "AsyncResponseStream",
    "ResponsesStreamMixin",
]

E = TypeVar("E")


class _HelperStream(Generic[E]):
    """What the two helper streams share: an ``AsyncStream`` underneath,
    an accumulator turning its items into events, a queue of events."""

    __slots__ = ("_pending", "_stream")

    def __init__(self, stream: AsyncStream[Any]) -> None:
        self._stream = stream
        # Events made from one item but not yet handed out, last first.
        self._pending: list[E] = []

    def _events_of(self, item: Any) -> list[E]:
        raise NotImplementedError

    @property
    def request_id(self) -> str | None:
        """The ``x-request-id`` of the response."""
        return self._stream.request_id

    @property
    def response(self) -> AsyncStream[Any]:
        """The raw stream underneath (headers, status code)."""
        return self._stream

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> E:
        pending = self._pending
        while not pending:
            # StopAsyncIteration from the stream ends this iteration too.
            item = await self._stream.__anext__()
            pending[:] = self._events_of(item)[::-1]
        return pending.pop()

    async def until_done(self) -> Self:
        """Read the stream to its end (dropping the events)."""
        async for _ in self:
            pass
        return self

    async def aclose(self) -> None:
        """Stop reading and give the connection back; idempotent."""
        self._pending.clear()
        await self._stream.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class AsyncChatCompletionStream(_HelperStream["ChatCompletionStreamEvent"]):
    """The helper events of one streamed chat completion (see
    ``openai_sansio.ChatCompletionAccumulator``)."""

    __slots__ = ("_accumulator",)

    def __init__(self, stream: AsyncStream[ChatCompletionChunk], accumulator: ChatCompletionAccumulator) -> None:
        super().__init__(stream)
        self._accumulator = accumulator

    def __repr__(self) -> str:
        return f"<AsyncChatCompletionStream {self._accumulator!r}>"

    def _events_of(self, item: Any) -> list[ChatCompletionStreamEvent]:
        return self._accumulator.feed(item)

    @property
    def current_completion_snapshot(self) -> ChatCompletion:
        """The completion accumulated so far."""
        return self._accumulator.current_completion()

    async def get_final_completion(self) -> ChatCompletion:
        """Read to the end; the whole completion."""
        await self.until_done()
        return self._accumulator.final_completion()

    def text_deltas(self) -> _TextDeltas:
        """The content deltas of the first choice, as strings."""
        return _TextDeltas(self, _chat_text)


class AsyncResponseStream(_HelperStream["ResponseStreamEvent | ResponseHelperEvent"]):
    """The events of one streamed response with the helper fields (see
    ``openai_sansio.ResponseAccumulator``).  ``starting_after`` hides the
    events up to that sequence number (they are still accumulated)."""

    __slots__ = ("_accumulator", "_starting_after")

    def __init__(
        self,
        stream: AsyncStream[ResponseStreamEvent],
        accumulator: ResponseAccumulator,
        starting_after: int | None = None,
    ) -> None:
        super().__init__(stream)
        self._accumulator = accumulator
        self._starting_after = starting_after

    def __repr__(self) -> str:
        return f"<AsyncResponseStream {self._accumulator!r}>"

    def _events_of(self, item: Any) -> list[ResponseStreamEvent | ResponseHelperEvent]:
        events = self._accumulator.feed(item)
        after = self._starting_after
        if after is None:
            return events
        return [e for e in events if _sequence_number(e) > after]

    @property
    def current_snapshot(self) -> Response:
        """The response accumulated so far."""
        return self._accumulator.current_response()

    async def get_final_response(self) -> Response:
        """Read to the end; the response of the terminal event
        (``LocalProtocolError`` if the stream ended without one)."""
        await self.until_done()
        return self._accumulator.final_response()

    def text_deltas(self) -> _TextDeltas:
        """The ``response.output_text.delta`` texts, as strings."""
        return _TextDeltas(self, _response_text)


class _TextDeltas:
    """An async iterator of the text pieces of a helper stream (a class,
    not an async generator, so leaving a loop early leaves nothing to
    finalize: the stream's block closes the connection)."""

    __slots__ = ("_pick", "_stream")

    def __init__(self, stream: _HelperStream[Any], pick: Callable[[Any], str | None]) -> None:
        self._stream = stream
        self._pick = pick

    def __aiter__(self) -> _TextDeltas:
        return self

    async def __anext__(self) -> str:
        pick = self._pick
        while True:
            text = pick(await self._stream.__anext__())
            if text:
                return text


def _chat_text(event: Any) -> str | None:
    if event.type == "content.delta" and event.choice_index == 0:
        return event.delta  # type: ignore[no-any-return]
    return None


def _response_text(event: Any) -> str | None:
    if event.type == "response.output_text.delta":
        return event.delta  # type: ignore[no-any-return]
    return None


def _sequence_number(event: Any) -> int:
    found = getattr(event, "sequence_number", None)
    if found is None and hasattr(event, "data"):
        found = event.data.get("sequence_number")
    return found if isinstance(found, int) else -1


def _wire_format(value: Any, what: str) -> Any:
    """A type given as a structured format becomes its JSON schema
    mapping through the structured-outputs helper."""
    if not isinstance(value, type):
        return value
    try:
        module = importlib.import_module("openai_sansio._structured")
    except ImportError:
        raise LocalProtocolError(
            f"a type as {what} needs the structured-outputs helper; pass the mapping instead"
        ) from None
    return module.response_format_from(value)


class ChatCompletionsStreamMixin:
    """``client.chat.completions.stream(...)``."""

    __slots__ = ()

    def stream(self, **params: Any) -> StreamedResponseManager[AsyncChatCompletionStream]:
        """Stream a chat completion with helper events.

        Takes what ``create`` takes, except ``stream``.  ``response_format``
        may be a mapping or (with the structured-outputs helper) a type;
        structured formats give ``parsed`` on the content events.  Use as
        ``async with client.chat.completions.stream(...) as stream:``.
        """
        if "stream" in params:
            raise LocalProtocolError("stream() always streams; leave out 'stream'")
        response_format = params.get("response_format", NOT_GIVEN)
        given_format = None if response_format is NOT_GIVEN else response_format
        if given_format is not None:
            params["response_format"] = _wire_format(given_format, "response_format")
        namespace: Namespace = self  # type: ignore[assignment]
        create = namespace._view("parsed").create  # type: ignore[attr-defined]

        async def start() -> AsyncChatCompletionStream:
            stream = await create(stream=True, **params)
            accumulator = ChatCompletionAccumulator(response_format=given_format)
            return AsyncChatCompletionStream(stream, accumulator)

        return StreamedResponseManager(start)


class ResponsesStreamMixin:
    """``client.responses.stream(...)``."""

    __slots__ = ()

    def stream(
        self,
        *,
        response_id: str | None = None,
        starting_after: int | None = None,
        text_format: Any = None,
        **params: Any,
    ) -> StreamedResponseManager[AsyncResponseStream]:
        """Stream a response with helper events.

        Takes what ``create`` takes, except ``stream``; ``text_format`` is a
        type for structured outputs (with the structured-outputs helper),
        else the request's ``text`` decides.  With ``response_id`` it
        resumes a background response instead: the stream is retrieved from
        its start (so the whole response is rebuilt) and the events up to
        ``starting_after`` are not handed out.
        """
        if "stream" in params:
            raise LocalProtocolError("stream() always streams; leave out 'stream'")
        namespace: Namespace = self  # type: ignore[assignment]
        parsed = namespace._view("parsed")
        text = params.get("text", NOT_GIVEN)
        if text_format is not None:
            if text is not NOT_GIVEN:
                raise LocalProtocolError("pass text_format or text, not both")
            params["text"] = {"format": _text_format_param(text_format)}
        format_spec: Any = text_format
        if format_spec is None and isinstance(text, Mapping):
            format_spec = text
        if response_id is not None:
            allowed = {"include", "include_obfuscation", "extra_headers", "extra_query",
                       "extra_body", "timeout", "max_retries"}
            unexpected = sorted(set(params) - allowed)
            if unexpected:
                raise LocalProtocolError(
                    f"resuming with response_id takes no creation parameters ({', '.join(unexpected)})"
                )

            async def start() -> AsyncResponseStream:
                stream = await parsed.retrieve(response_id, stream=True, **params)  # type: ignore[attr-defined]
                return AsyncResponseStream(stream, ResponseAccumulator(text_format=format_spec), starting_after)

            return StreamedResponseManager(start)
        if starting_after is not None:
            raise LocalProtocolError("starting_after needs response_id")

        async def start_new() -> AsyncResponseStream:
            stream = await parsed.create(stream=True, **params)  # type: ignore[attr-defined]
            return AsyncResponseStream(stream, ResponseAccumulator(text_format=format_spec))

        return StreamedResponseManager(start_new)


def _text_format_param(text_format: Any) -> Any:
    wire = _wire_format(text_format, "text_format")
    if isinstance(wire, Mapping) and wire.get("type") == "json_schema" and "json_schema" in wire:
        # Chat's nesting ({"type", "json_schema": {...}}) flattened the way
        # the Responses API takes it.
        return {"type": "json_schema", **wire["json_schema"]}
    return wire
