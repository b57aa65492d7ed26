"""``client.chat.completions.stream(...)`` and ``client.responses.stream(...)``.

Both are async context managers around a ``stream=True`` call: entering
sends the request (through the generated ``create``, so retries, timeouts
and the connection handling are the ordinary ones), iterating gives the
helper events of the core accumulators, and leaving the block closes the
HTTP stream however the block ends (a finished stream's connection goes
back to the pool; one left early is closed).

``text_deltas()`` iterates only the text, ``until_done()`` reads to the
end, ``get_final_completion()`` / ``get_final_response()`` read to the end
and return the rebuilt object, parsed as ``parse()`` would parse it
(``ParsedChatCompletion`` / ``ParsedResponse``).  A type as
``response_format`` / ``text_format`` and ``function_tool`` tools are sent
as ``parse()`` sends them (the same core functions), and checked before
anything is sent.  Mixed into the generated namespaces through
``NAMESPACE_MIXINS`` in ``tools/generate_surface.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Callable, Generic, TypeVar, overload

from openai_sansio import (
    NOT_GIVEN,
    ChatCompletionAccumulator,
    LocalProtocolError,
    ResponseAccumulator,
)
from openai_sansio._structured import (
    FunctionTool,
    check_parse_tools,
    response_format_from,
    text_format_from,
)

from ._parsing import _responses_tools
from ._streamed import StreamedResponseManager

if TYPE_CHECKING:
    from typing_extensions import Self

    from openai_sansio import ChatCompletionStreamEvent, ResponseHelperEvent
    from openai_sansio._parsed import ParsedChatCompletion, ParsedResponse
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
T = TypeVar("T")


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


class AsyncChatCompletionStream(_HelperStream["ChatCompletionStreamEvent"], Generic[T]):
    """The helper events of one streamed chat completion (see
    ``openai_sansio.ChatCompletionAccumulator``); ``T`` is the type asked
    for as ``response_format`` (None without one)."""

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

    async def get_final_completion(self) -> ParsedChatCompletion[T]:
        """Read to the end; the whole completion, each message's ``parsed``
        built into the ``response_format`` type (None on a refusal) and each
        function call's ``parsed_arguments`` as ``parse()`` gives them."""
        await self.until_done()
        return self._accumulator.final_completion()

    def text_deltas(self) -> _TextDeltas:
        """The content deltas of the first choice, as strings."""
        return _TextDeltas(self, _chat_text)


class AsyncResponseStream(_HelperStream["ResponseStreamEvent | ResponseHelperEvent"], Generic[T]):
    """The events of one streamed response with the helper fields (see
    ``openai_sansio.ResponseAccumulator``).  ``starting_after`` hides the
    events up to that sequence number (they are still accumulated).  ``T``
    is the ``text_format`` type (None without one)."""

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

    async def get_final_response(self) -> ParsedResponse[T]:
        """Read to the end; the response of the terminal event, with
        ``output_parsed`` and the function calls' ``parsed_arguments`` when
        it completed (``LocalProtocolError`` if the stream ended without
        a terminal event)."""
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
    if found is None:
        # An event of a type this version does not know keeps its payload
        # in to_dict() (the core's stream events) or in .data (a custom parser's).
        payload = event.to_dict() if hasattr(event, "to_dict") else getattr(event, "data", None)
        if isinstance(payload, Mapping):
            found = payload.get("sequence_number")
    return found if isinstance(found, int) and not isinstance(found, bool) else -1


def _given(value: Any) -> bool:
    return value is not NOT_GIVEN and value is not None


class ChatCompletionsStreamMixin:
    """``client.chat.completions.stream(...)``."""

    __slots__ = ()

    @overload
    def stream(
        self, *, response_format: type[T], tools: Iterable[Any] = ..., **params: Any
    ) -> StreamedResponseManager[AsyncChatCompletionStream[T]]: ...
    @overload
    def stream(
        self, *, response_format: Mapping[str, Any] = ..., tools: Iterable[Any] = ..., **params: Any
    ) -> StreamedResponseManager[AsyncChatCompletionStream[None]]: ...
    def stream(
        self, *, response_format: Any = NOT_GIVEN, tools: Any = NOT_GIVEN, **params: Any
    ) -> StreamedResponseManager[AsyncChatCompletionStream[Any]]:
        """Stream a chat completion with helper events.

        Takes what ``create`` takes, except ``stream``.  ``response_format``
        is a mapping (sent as it is; JSON formats give ``parsed`` on the
        content events as decoded JSON) or a type, sent as its strict JSON
        schema as ``parse()`` sends it: ``content.done`` and the final
        message's ``parsed`` are then instances of it, and, as with
        ``parse()``, ``tools`` must be strict function tools.  Calls of
        ``function_tool`` tools get ``parsed_arguments`` built into their
        type.  With something to parse, a choice finishing with ``length``
        or ``content_filter`` raises ``LengthFinishReasonError`` /
        ``ContentFilterFinishReasonError`` as its chunk arrives.  Use as
        ``async with client.chat.completions.stream(...) as stream:``.
        """
        if "stream" in params:
            raise LocalProtocolError("stream() always streams; leave out 'stream'")
        given_format = response_format if _given(response_format) else None
        rich = given_format is not None and not isinstance(given_format, Mapping)
        tool_list: list[Any] | None = None
        if _given(tools):
            if rich:
                # A type asks for parsing, so the tools are held to parse()'s rules.
                tool_list = check_parse_tools(tools, "chat")
            else:
                tool_list = [t.for_api("chat") if isinstance(t, FunctionTool) else t for t in tools]
            params["tools"] = tool_list
        if given_format is not None:
            params["response_format"] = response_format_from(given_format)
        namespace: Namespace = self  # type: ignore[assignment]
        create = namespace._view("parsed").create  # type: ignore[attr-defined]

        async def start() -> AsyncChatCompletionStream[Any]:
            stream = await create(stream=True, **params)
            accumulator = ChatCompletionAccumulator(response_format=given_format, tools=tool_list or ())
            return AsyncChatCompletionStream(stream, accumulator)

        return StreamedResponseManager(start)


class ResponsesStreamMixin:
    """``client.responses.stream(...)``."""

    __slots__ = ()

    @overload
    def stream(
        self,
        *,
        response_id: str | None = ...,
        starting_after: int | None = ...,
        text_format: type[T],
        tools: Iterable[Any] = ...,
        **params: Any,
    ) -> StreamedResponseManager[AsyncResponseStream[T]]: ...
    @overload
    def stream(
        self,
        *,
        response_id: str | None = ...,
        starting_after: int | None = ...,
        text_format: None = ...,
        tools: Iterable[Any] = ...,
        **params: Any,
    ) -> StreamedResponseManager[AsyncResponseStream[None]]: ...
    def stream(
        self,
        *,
        response_id: str | None = None,
        starting_after: int | None = None,
        text_format: Any = None,
        tools: Any = NOT_GIVEN,
        **params: Any,
    ) -> StreamedResponseManager[AsyncResponseStream[Any]]:
        """Stream a response with helper events.

        Takes what ``create`` takes, except ``stream``.  ``text_format`` (a
        type) goes out as ``text.format`` as ``parse()`` sends it (other
        ``text`` settings are kept); ``output_text.done`` then carries
        ``parsed`` and the final response ``output_parsed``, instances of
        it.  Without it the request's ``text`` decides (a JSON schema format
        gives decoded JSON).  ``function_tool`` tools are sent in the
        Responses shape and the final function calls get
        ``parsed_arguments``.  With ``response_id`` it resumes a background
        response instead: the stream is retrieved from its start (so the
        whole response is rebuilt) and the events up to ``starting_after``
        are not handed out.
        """
        if "stream" in params:
            raise LocalProtocolError("stream() always streams; leave out 'stream'")
        namespace: Namespace = self  # type: ignore[assignment]
        parsed = namespace._view("parsed")
        tool_list: list[Any] = []
        if _given(tools):
            tool_list = _responses_tools(tools)
        text = params.get("text", NOT_GIVEN)
        if text_format is not None and response_id is None:
            if _given(text) and not isinstance(text, Mapping):
                raise LocalProtocolError("text must be a mapping")
            if _given(text) and "format" in text:
                raise LocalProtocolError("pass text_format or text.format, not both")
            params["text"] = {**(text if _given(text) else {}), "format": text_format_from(text_format)}
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

            async def start() -> AsyncResponseStream[Any]:
                stream = await parsed.retrieve(response_id, stream=True, **params)  # type: ignore[attr-defined]
                accumulator = ResponseAccumulator(text_format=format_spec, tools=tool_list)
                return AsyncResponseStream(stream, accumulator, starting_after)

            return StreamedResponseManager(start)
        if starting_after is not None:
            raise LocalProtocolError("starting_after needs response_id")
        if _given(tools):
            params["tools"] = tool_list

        async def start_new() -> AsyncResponseStream[Any]:
            stream = await parsed.create(stream=True, **params)  # type: ignore[attr-defined]
            return AsyncResponseStream(stream, ResponseAccumulator(text_format=format_spec, tools=tool_list))

        return StreamedResponseManager(start_new)
