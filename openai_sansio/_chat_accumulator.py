"""Rebuild a whole chat completion from its stream, with helper events.

``ChatCompletionAccumulator.feed(chunk)`` takes the ``ChatCompletionChunk``
items of a ``stream=True`` call one by one and returns the helper events each
one causes (the official SDK's ``ChatCompletionStream`` event names: ``chunk``,
``content.delta`` / ``content.done``, ``refusal.delta`` / ``refusal.done``,
``tool_calls.function.arguments.delta`` / ``.done``, ``logprobs.content.*``,
``logprobs.refusal.*``).  ``final_completion()`` builds the ``ChatCompletion``
the non-streaming call would have returned, as a ``ParsedChatCompletion``
(through ``parse_chat_completion``, as ``parse()`` would: the content built
into a ``response_format`` type, tool arguments into their ``FunctionTool``
types).  With something to parse (a type as ``response_format``, or a
strict function tool), a chunk finishing a choice with ``length`` or
``content_filter`` raises ``LengthFinishReasonError`` /
``ContentFilterFinishReasonError`` as it arrives, as the SDK's stream does.

No I/O.  Snapshots on the events are computed when read, from append-only
logs of the pieces, so a stream of ``n`` deltas costs ``O(n)`` however
long the text grows; reading every snapshot costs what building them costs.

Differences from the SDK, on purpose: every event says which choice it
belongs to (``choice_index``; the SDK's events do not, which is ambiguous
with ``n > 1``); a tool call delta without an ``index`` (sent by some
compatible servers) is merged when that is unambiguous instead of failing;
a server that interleaves the deltas of several tool calls gets an
``arguments.done`` event each time it leaves a call (the last one holding
all the arguments; the SDK reports the first only); a chunk without
``usage`` never erases the usage an earlier chunk carried;
the finish-reason errors are raised from the first chunk too (the SDK
lets a stream whose very first chunk finishes pass) and, for a stream that
asked for nothing to be parsed, not from ``final_completion()`` either (the
SDK's ``get_final_completion()`` raises them for any stream);
and the accumulated text is bounded (``max_chars``).
"""

from __future__ import annotations

import importlib
import json
from typing import TYPE_CHECKING, Any, Callable, Generic, Iterable, Literal, Mapping, TypeVar, Union

import attrs

from ._errors import (
    ContentFilterFinishReasonError,
    LengthFinishReasonError,
    LocalProtocolError,
    RemoteProtocolError,
)
from ._partial_json import PartialJSONError, parse_partial_json
from ._structured import (
    FunctionTool,
    _chat_tool,
    _tool_arguments,
    parse_chat_completion,
    parse_structured,
)

if TYPE_CHECKING:
    from ._parsed import ParsedChatCompletion
    from .types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionTokenLogprob

__all__ = [
    "DEFAULT_MAX_ACCUMULATED_CHARS",
    "AmbiguousToolCallError",
    "ChatCompletionAccumulator",
    "ChatCompletionStreamEvent",
    "ChunkEvent",
    "ContentDeltaEvent",
    "ContentDoneEvent",
    "FunctionToolCallArgumentsDeltaEvent",
    "FunctionToolCallArgumentsDoneEvent",
    "LogprobsContentDeltaEvent",
    "LogprobsContentDoneEvent",
    "LogprobsRefusalDeltaEvent",
    "LogprobsRefusalDoneEvent",
    "RefusalDeltaEvent",
    "RefusalDoneEvent",
]

T = TypeVar("T")

#: Characters of content, refusals and tool arguments one accumulator holds
#: at most (all choices together); past it the stream is treated as abuse.
DEFAULT_MAX_ACCUMULATED_CHARS = 64 * 1024 * 1024


class AmbiguousToolCallError(RemoteProtocolError):
    """A tool call delta came without an ``index`` while several tool calls
    were open, so it cannot be told which one it continues."""


class _Log(Generic[T]):
    """Append-only pieces of one growing value; a snapshot of the first
    ``count`` pieces is built when asked for and the latest one is kept."""

    __slots__ = ("_cache", "_cache_count", "pieces")

    def __init__(self) -> None:
        self.pieces: list[T] = []
        self._cache: Any = None
        self._cache_count = -1

    def text(self, count: int) -> str:
        if count != self._cache_count:
            self._cache = "".join(self.pieces[:count])  # type: ignore[arg-type]
            self._cache_count = count
        return self._cache  # type: ignore[no-any-return]

    def items(self, count: int) -> list[T]:
        return self.pieces[:count]


def _short(text: str) -> str:
    return repr(text) if len(text) <= 40 else repr(text[:40]) + "..."


# -- events ---------------------------------------------------------------------


@attrs.frozen(repr=False)
class ChunkEvent:
    """One chunk as it arrived.  ``snapshot`` is the completion accumulated
    so far, built when read (like the SDK's, it reflects the stream as of
    the moment it is read, so read it before feeding more)."""

    chunk: ChatCompletionChunk
    _accumulator: ChatCompletionAccumulator = attrs.field(alias="_accumulator", eq=False)
    type: Literal["chunk"] = attrs.field(default="chunk", init=False)

    @property
    def snapshot(self) -> ChatCompletion:
        return self._accumulator.current_completion()

    def __repr__(self) -> str:
        return f"ChunkEvent(id={self.chunk.id!r})"


@attrs.frozen(repr=False)
class ContentDeltaEvent:
    """More message content.  ``snapshot`` is the content so far; with a
    structured ``response_format``, ``parsed`` is what that partial JSON
    describes (see ``parse_partial_json``; ``INCOMPLETE`` while nothing can
    be said), otherwise None."""

    delta: str
    choice_index: int
    _log: _Log[str] = attrs.field(alias="_log", eq=False)
    _count: int = attrs.field(alias="_count")
    _structured: bool = attrs.field(alias="_structured", eq=False)
    type: Literal["content.delta"] = attrs.field(default="content.delta", init=False)

    @property
    def snapshot(self) -> str:
        return self._log.text(self._count)

    @property
    def parsed(self) -> Any:
        if not self._structured:
            return None
        return parse_partial_json(self.snapshot)

    def __repr__(self) -> str:
        return f"ContentDeltaEvent(delta={_short(self.delta)}, choice_index={self.choice_index})"


@attrs.frozen(repr=False)
class ContentDoneEvent:
    """The content is complete.  ``parsed``: the structured output (an
    instance of the ``response_format`` type when one was given, None if
    the model refused; the decoded JSON for a JSON schema or JSON object
    mapping), or None without a structured ``response_format``.  Reading it
    raises ``StructuredOutputError`` if the content does not fit the type
    (``PartialJSONError`` if a mapping's content is not JSON)."""

    content: str
    choice_index: int
    _parse: Callable[[str], Any] = attrs.field(alias="_parse", eq=False)
    _cell: list[Any] = attrs.field(factory=list, init=False, eq=False)
    type: Literal["content.done"] = attrs.field(default="content.done", init=False)

    @property
    def parsed(self) -> Any:
        # Parsed when first read (and kept), so content that is not the
        # promised JSON fails there, not in the middle of the stream.
        cell = self._cell
        if not cell:
            cell.append(self._parse(self.content))
        return cell[0]

    def __repr__(self) -> str:
        return f"ContentDoneEvent(content={_short(self.content)}, choice_index={self.choice_index})"


@attrs.frozen(repr=False)
class RefusalDeltaEvent:
    """More of a refusal; ``snapshot`` is the refusal so far."""

    delta: str
    choice_index: int
    _log: _Log[str] = attrs.field(alias="_log", eq=False)
    _count: int = attrs.field(alias="_count")
    type: Literal["refusal.delta"] = attrs.field(default="refusal.delta", init=False)

    @property
    def snapshot(self) -> str:
        return self._log.text(self._count)

    def __repr__(self) -> str:
        return f"RefusalDeltaEvent(delta={_short(self.delta)}, choice_index={self.choice_index})"


@attrs.frozen(repr=False)
class RefusalDoneEvent:
    refusal: str
    choice_index: int
    type: Literal["refusal.done"] = attrs.field(default="refusal.done", init=False)

    def __repr__(self) -> str:
        return f"RefusalDoneEvent(refusal={_short(self.refusal)}, choice_index={self.choice_index})"


@attrs.frozen(repr=False)
class FunctionToolCallArgumentsDeltaEvent:
    """More arguments of tool call ``index``.  ``arguments`` is the text so
    far and ``parsed_arguments`` what that partial JSON describes (None for
    a tool the request's ``tools`` do not make parseable: not strict, or
    not listed; as in the SDK)."""

    name: str
    index: int
    arguments_delta: str
    choice_index: int
    _log: _Log[str] = attrs.field(alias="_log", eq=False)
    _count: int = attrs.field(alias="_count")
    _partial: bool = attrs.field(default=True, alias="_partial", eq=False)
    type: Literal["tool_calls.function.arguments.delta"] = attrs.field(
        default="tool_calls.function.arguments.delta", init=False
    )

    @property
    def arguments(self) -> str:
        return self._log.text(self._count)

    @property
    def parsed_arguments(self) -> Any:
        return parse_partial_json(self.arguments) if self._partial else None

    def __repr__(self) -> str:
        return (
            f"FunctionToolCallArgumentsDeltaEvent(name={self.name!r}, index={self.index}, "
            f"arguments_delta={_short(self.arguments_delta)})"
        )


@attrs.frozen(repr=False)
class FunctionToolCallArgumentsDoneEvent:
    """Tool call ``index`` is complete.  ``parsed_arguments``, as in the
    SDK, follows the request's ``tools``: for a ``FunctionTool`` the
    arguments built into its type (or the keyword arguments of its
    function), for another strict function tool the decoded JSON, else
    None; ``StructuredOutputError`` when read if they do not fit.  An
    accumulator told nothing about the tools decodes every call's
    arguments (None when empty; ``PartialJSONError`` when not JSON)."""

    name: str
    index: int
    arguments: str
    choice_index: int
    _parse: Callable[[str, str], Any] | None = attrs.field(default=None, alias="_parse", eq=False)
    _cell: list[Any] = attrs.field(factory=list, init=False, eq=False)
    type: Literal["tool_calls.function.arguments.done"] = attrs.field(
        default="tool_calls.function.arguments.done", init=False
    )

    @property
    def parsed_arguments(self) -> Any:
        # Built when first read and kept, so each read gives the same object.
        cell = self._cell
        if not cell:
            parse = self._parse
            cell.append(_decode_json(self.arguments) if parse is None else parse(self.name, self.arguments))
        return cell[0]

    def __repr__(self) -> str:
        return (
            f"FunctionToolCallArgumentsDoneEvent(name={self.name!r}, index={self.index}, "
            f"arguments={_short(self.arguments)})"
        )


@attrs.frozen(repr=False)
class LogprobsContentDeltaEvent:
    content: list[ChatCompletionTokenLogprob]
    choice_index: int
    _log: _Log[ChatCompletionTokenLogprob] = attrs.field(alias="_log", eq=False)
    _count: int = attrs.field(alias="_count")
    type: Literal["logprobs.content.delta"] = attrs.field(
        default="logprobs.content.delta", init=False
    )

    @property
    def snapshot(self) -> list[ChatCompletionTokenLogprob]:
        return self._log.items(self._count)

    def __repr__(self) -> str:
        return f"LogprobsContentDeltaEvent(tokens={len(self.content)}, choice_index={self.choice_index})"


@attrs.frozen(repr=False)
class LogprobsContentDoneEvent:
    content: list[ChatCompletionTokenLogprob]
    choice_index: int
    type: Literal["logprobs.content.done"] = attrs.field(default="logprobs.content.done", init=False)

    def __repr__(self) -> str:
        return f"LogprobsContentDoneEvent(tokens={len(self.content)}, choice_index={self.choice_index})"


@attrs.frozen(repr=False)
class LogprobsRefusalDeltaEvent:
    refusal: list[ChatCompletionTokenLogprob]
    choice_index: int
    _log: _Log[ChatCompletionTokenLogprob] = attrs.field(alias="_log", eq=False)
    _count: int = attrs.field(alias="_count")
    type: Literal["logprobs.refusal.delta"] = attrs.field(
        default="logprobs.refusal.delta", init=False
    )

    @property
    def snapshot(self) -> list[ChatCompletionTokenLogprob]:
        return self._log.items(self._count)

    def __repr__(self) -> str:
        return f"LogprobsRefusalDeltaEvent(tokens={len(self.refusal)}, choice_index={self.choice_index})"


@attrs.frozen(repr=False)
class LogprobsRefusalDoneEvent:
    refusal: list[ChatCompletionTokenLogprob]
    choice_index: int
    type: Literal["logprobs.refusal.done"] = attrs.field(default="logprobs.refusal.done", init=False)

    def __repr__(self) -> str:
        return f"LogprobsRefusalDoneEvent(tokens={len(self.refusal)}, choice_index={self.choice_index})"


ChatCompletionStreamEvent = Union[
    ChunkEvent,
    ContentDeltaEvent,
    ContentDoneEvent,
    RefusalDeltaEvent,
    RefusalDoneEvent,
    FunctionToolCallArgumentsDeltaEvent,
    FunctionToolCallArgumentsDoneEvent,
    LogprobsContentDeltaEvent,
    LogprobsContentDoneEvent,
    LogprobsRefusalDeltaEvent,
    LogprobsRefusalDoneEvent,
]


def _decode_json(text: str) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise PartialJSONError(f"not valid JSON ({exc})", 0) from None


# -- state ------------------------------------------------------------------------


class _ToolCall:
    __slots__ = ("arguments", "done", "id", "index", "kind", "name", "raw_extra")

    def __init__(self, index: int) -> None:
        self.index = index
        self.id: str | None = None
        self.kind: str | None = None
        self.name = ""
        self.arguments: _Log[str] = _Log()
        self.done = False
        self.raw_extra: dict[str, Any] = {}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.raw_extra)
        out["id"] = self.id if self.id is not None else ""
        out["type"] = self.kind or "function"
        out["function"] = {
            "name": self.name,
            "arguments": self.arguments.text(len(self.arguments.pieces)),
        }
        return out


class _Choice:
    __slots__ = (
        "content", "content_done", "content_seen", "current_tool", "extra", "finish_reason",
        "function_call", "index", "logprobs_content", "logprobs_content_done",
        "logprobs_refusal", "logprobs_refusal_done", "logprobs_seen", "refusal",
        "refusal_done", "refusal_seen", "role", "tool_calls",
    )

    def __init__(self, index: int) -> None:
        self.index = index
        self.role: str | None = None
        self.content: _Log[str] = _Log()
        self.content_seen = False
        self.refusal: _Log[str] = _Log()
        self.refusal_seen = False
        self.tool_calls: dict[int, _ToolCall] = {}
        self.current_tool: int | None = None
        self.function_call: dict[str, str] | None = None
        self.logprobs_seen = False
        self.logprobs_content: _Log[Any] | None = None
        self.logprobs_refusal: _Log[Any] | None = None
        self.finish_reason: str | None = None
        self.content_done = False
        self.refusal_done = False
        self.logprobs_content_done = False
        self.logprobs_refusal_done = False
        # Message keys this version does not model, merged the SDK's way.
        self.extra: dict[str, Any] = {}

    def message_dict(self) -> dict[str, Any]:
        message: dict[str, Any] = dict(self.extra)
        message["role"] = self.role or "assistant"
        message["content"] = (
            self.content.text(len(self.content.pieces)) if self.content_seen else None
        )
        message["refusal"] = (
            self.refusal.text(len(self.refusal.pieces)) if self.refusal_seen else None
        )
        if self.tool_calls:
            message["tool_calls"] = [
                self.tool_calls[i].to_dict() for i in sorted(self.tool_calls)
            ]
        if self.function_call is not None:
            message["function_call"] = dict(self.function_call)
        return message

    def logprobs_dict(self) -> dict[str, Any] | None:
        if not self.logprobs_seen:
            return None
        out: dict[str, Any] = {"content": None, "refusal": None}
        if self.logprobs_content is not None:
            out["content"] = [lp.to_dict() for lp in self.logprobs_content.pieces]
        if self.logprobs_refusal is not None:
            out["refusal"] = [lp.to_dict() for lp in self.logprobs_refusal.pieces]
        return out


_MESSAGE_KEYS = frozenset({"role", "content", "refusal", "tool_calls", "function_call"})


def _merge(acc: dict[str, Any], key: str, value: Any) -> None:
    # Strings grow, lists get longer, mappings merge; anything else is the
    # latest value (what the SDK's generic delta merge does).
    old = acc.get(key)
    if old is None:
        acc[key] = list(value) if isinstance(value, list) else value
    elif isinstance(old, str) and isinstance(value, str):
        acc[key] = old + value
    elif isinstance(old, list) and isinstance(value, list):
        old.extend(value)
    elif isinstance(old, dict) and isinstance(value, dict):
        merged = dict(old)
        for k, v in value.items():
            _merge(merged, k, v)
        acc[key] = merged
    else:
        acc[key] = value


def _chat_models() -> Any:
    return importlib.import_module("openai_sansio.types.chat")


def _response_format_kind(response_format: object) -> tuple[bool, type | None]:
    """(stream content is JSON, the type to parse the final content into)."""
    if response_format is None:
        return False, None
    if isinstance(response_format, type):
        return True, response_format
    if isinstance(response_format, Mapping):
        return response_format.get("type") in ("json_schema", "json_object"), None
    return False, None


def _parseable_tool(tool: object) -> bool:
    """Whether a request tool's calls get parsed (the SDK's rule: a
    ``FunctionTool``, or a function tool marked strict)."""
    if isinstance(tool, FunctionTool):
        return True
    if not isinstance(tool, Mapping) or tool.get("type") != "function":
        return False
    fields = tool.get("function")
    return isinstance(fields, Mapping) and fields.get("strict") is True


class ChatCompletionAccumulator:
    """Feed the chunks of one streamed chat completion; get helper events
    and, at the end, the whole ``ParsedChatCompletion``.

    ``response_format`` (the request's mapping, or a type for structured
    outputs) turns on ``parsed`` on the content events; ``tools`` (the
    request's) decides the tool calls' ``parsed_arguments``.  A type, or a
    strict tool among ``tools``, also makes a ``length`` or
    ``content_filter`` finish reason an error as the chunk arrives.
    ``max_chars`` bounds the text held (content, refusals and tool arguments
    together); a stream past it raises ``RemoteProtocolError``.
    """

    def __init__(
        self,
        *,
        response_format: object = None,
        tools: Iterable[Any] | None = None,
        max_chars: int = DEFAULT_MAX_ACCUMULATED_CHARS,
    ) -> None:
        if max_chars < 0:
            raise LocalProtocolError("max_chars must not be negative")
        self._structured, self._format_type = _response_format_kind(response_format)
        self._tools: list[Any] | None = None
        if tools is not None:
            self._tools = [t.for_api("chat") if isinstance(t, FunctionTool) else t for t in tools]
        self._parseable = self._format_type is not None or any(map(_parseable_tool, self._tools or ()))
        self._partial_by_name: dict[str, bool] = {}
        self._final: tuple[int, ParsedChatCompletion[Any]] | None = None
        self._max_chars = max_chars
        self._chars = 0
        self._choices: dict[int, _Choice] = {}
        self._top: dict[str, Any] | None = None
        self._usage: Any = None
        self._version = 0
        self._cached: tuple[int, ChatCompletion] | None = None

    def __repr__(self) -> str:
        return f"<ChatCompletionAccumulator chunks={self._version} choices={len(self._choices)}>"

    # -- results --------------------------------------------------------------

    def current_completion(self) -> ChatCompletion:
        """The completion as accumulated so far (finish reasons may still be
        None); ``LocalProtocolError`` before the first chunk."""
        if self._top is None:
            raise LocalProtocolError("no chunk has been fed yet")
        cached = self._cached
        if cached is not None and cached[0] == self._version:
            return cached[1]
        top = dict(self._top)
        top["object"] = "chat.completion"
        top["choices"] = [
            {
                "index": c.index,
                "message": c.message_dict(),
                "logprobs": c.logprobs_dict(),
                "finish_reason": c.finish_reason,
            }
            for c in (self._choices[i] for i in sorted(self._choices))
        ]
        if self._usage is not None:
            top["usage"] = self._usage.to_dict()
        completion: ChatCompletion = _chat_models().ChatCompletion.from_dict(top)
        self._cached = (self._version, completion)
        return completion

    def final_completion(self) -> ParsedChatCompletion[Any]:
        """The whole completion, once the stream ended, through
        ``parse_chat_completion``: each message's ``parsed`` built into the
        ``response_format`` type (None on a refusal), each function call's
        ``parsed_arguments`` as the ``tools`` say.  ``StructuredOutputError``
        if the content does not fit; the finish-reason errors only when
        there was something to parse."""
        completion = self.current_completion()
        found = self._final
        if found is not None and found[0] == self._version:
            return found[1]
        parsed = parse_chat_completion(
            completion,
            response_format=self._format_type,
            tools=self._tools or (),
            finish_reason_errors=self._parseable,
        )
        self._final = (self._version, parsed)
        return parsed

    # -- feeding --------------------------------------------------------------

    def feed(self, chunk: ChatCompletionChunk) -> list[ChatCompletionStreamEvent]:
        """Take one chunk; return the helper events it causes, ``ChunkEvent``
        first.  Chunks that are not chat completion chunks (Azure's content
        filter notes carry ``object: ""``) cause no event."""
        if getattr(chunk, "object", None) != "chat.completion.chunk":
            return []
        self._version += 1
        self._take_top(chunk)
        events: list[ChatCompletionStreamEvent] = [ChunkEvent(chunk, _accumulator=self)]
        for choice_chunk in chunk.choices or ():
            self._feed_choice(choice_chunk, events)
        if self._parseable:
            # Checked once the whole chunk is in, so the error's completion
            # holds everything received (its events are not handed out).
            for choice_chunk in chunk.choices or ():
                if choice_chunk.finish_reason == "length":
                    raise LengthFinishReasonError(completion=self.current_completion())
                if choice_chunk.finish_reason == "content_filter":
                    raise ContentFilterFinishReasonError(completion=self.current_completion())
        return events

    def _take_top(self, chunk: ChatCompletionChunk) -> None:
        top = self._top
        if top is None:
            raw = dict(chunk.to_dict())
            raw.pop("choices", None)
            raw.pop("usage", None)
            raw.pop("obfuscation", None)
            self._top = raw
        else:
            # Later chunks repeat the same id/model; fingerprints and
            # service tiers sometimes arrive only late.
            for key in ("system_fingerprint", "service_tier", "moderation"):
                value = getattr(chunk, key, None)
                if value is not None:
                    top[key] = value.to_dict() if hasattr(value, "to_dict") else value
        if chunk.usage is not None:
            self._usage = chunk.usage

    def _grow(self, text: str) -> None:
        self._chars += len(text)
        if self._chars > self._max_chars:
            raise RemoteProtocolError(
                f"the stream's text grew past {self._max_chars} characters"
            )

    def _feed_choice(self, choice_chunk: Any, events: list[ChatCompletionStreamEvent]) -> None:
        index = choice_chunk.index if isinstance(choice_chunk.index, int) else 0
        state = self._choices.get(index)
        if state is None:
            state = self._choices[index] = _Choice(index)
        delta = choice_chunk.delta
        raw_delta: Mapping[str, Any] = (delta.to_dict() if delta is not None else {}) or {}
        if delta is not None:
            if delta.role:
                state.role = delta.role
            for key, value in raw_delta.items():
                if key not in _MESSAGE_KEYS and value is not None:
                    _merge(state.extra, key, value)
            content = delta.content
            if content is not None:
                self._grow(content)
                state.content_seen = True
                state.content.pieces.append(content)
                if content:
                    events.append(
                        ContentDeltaEvent(
                            content,
                            index,
                            _log=state.content,
                            _count=len(state.content.pieces),
                            _structured=self._structured,
                        )
                    )
            refusal = delta.refusal
            if refusal is not None:
                self._grow(refusal)
                state.refusal_seen = True
                state.refusal.pieces.append(refusal)
                if refusal:
                    events.append(
                        RefusalDeltaEvent(
                            refusal, index, _log=state.refusal, _count=len(state.refusal.pieces)
                        )
                    )
            if delta.function_call is not None:
                self._feed_function_call(state, delta.function_call)
        logprobs = choice_chunk.logprobs
        if logprobs is not None:
            self._feed_logprobs(state, logprobs, events)
        if choice_chunk.finish_reason:
            state.finish_reason = choice_chunk.finish_reason
            self._content_done(state, events)
            if state.current_tool is not None:
                self._tool_done(state, state.current_tool, events)
        raw_tools = raw_delta.get("tool_calls")
        if delta is not None and delta.tool_calls and isinstance(raw_tools, list):
            for tool_delta, raw_tool in zip(delta.tool_calls, raw_tools, strict=False):
                self._feed_tool_call(state, tool_delta, raw_tool, events)

    def _feed_function_call(self, state: _Choice, call: Any) -> None:
        found = state.function_call
        if found is None:
            found = state.function_call = {"name": "", "arguments": ""}
        if call.name:
            found["name"] += call.name
        if call.arguments:
            self._grow(call.arguments)
            found["arguments"] += call.arguments

    def _feed_logprobs(self, state: _Choice, logprobs: Any, events: list[ChatCompletionStreamEvent]) -> None:
        state.logprobs_seen = True
        index = state.index
        if logprobs.content is not None:
            log = state.logprobs_content
            if log is None:
                log = state.logprobs_content = _Log()
            log.pieces.extend(logprobs.content)
            if logprobs.content:
                events.append(
                    LogprobsContentDeltaEvent(
                        list(logprobs.content), index, _log=log, _count=len(log.pieces)
                    )
                )
        if logprobs.refusal is not None:
            log = state.logprobs_refusal
            if log is None:
                log = state.logprobs_refusal = _Log()
            log.pieces.extend(logprobs.refusal)
            if logprobs.refusal:
                events.append(
                    LogprobsRefusalDeltaEvent(
                        list(logprobs.refusal), index, _log=log, _count=len(log.pieces)
                    )
                )

    def _tool_index(self, state: _Choice, tool_delta: Any, raw_tool: Mapping[str, Any]) -> int:
        index = raw_tool.get("index")
        if isinstance(index, int) and not isinstance(index, bool):
            return index
        if index is not None:
            raise RemoteProtocolError(f"a tool call delta has a non-integer index: {index!r}")
        # No index: a new id starts a new call, a known id continues its
        # call, and without an id the delta continues the only call there is.
        calls = state.tool_calls
        ident = tool_delta.id
        if ident:
            for call in calls.values():
                if call.id == ident:
                    return call.index
            return max(calls, default=-1) + 1
        if not calls:
            return 0
        if len(calls) == 1:
            return next(iter(calls))
        raise AmbiguousToolCallError(
            f"a tool call delta without an index or id arrived while {len(calls)} tool "
            "calls were open"
        )

    def _feed_tool_call(
        self,
        state: _Choice,
        tool_delta: Any,
        raw_tool: Any,
        events: list[ChatCompletionStreamEvent],
    ) -> None:
        if not isinstance(raw_tool, Mapping):
            raise RemoteProtocolError("a tool call delta is not an object")
        index = self._tool_index(state, tool_delta, raw_tool)
        if state.current_tool != index:
            # A new call starts: the text before it and the call before it are complete.
            self._content_done(state, events)
            if state.current_tool is not None:
                self._tool_done(state, state.current_tool, events)
            state.current_tool = index
        call = state.tool_calls.get(index)
        if call is None:
            call = state.tool_calls[index] = _ToolCall(index)
        elif call.done:
            # A server interleaving calls came back to one already reported
            # done: it is reported done again when left, with all its text.
            call.done = False
        if tool_delta.id and call.id is None:
            call.id = tool_delta.id
        if tool_delta.type:
            call.kind = tool_delta.type
        for key, value in raw_tool.items():
            if key not in ("index", "id", "type", "function") and value is not None:
                _merge(call.raw_extra, key, value)
        function = tool_delta.function
        piece = ""
        if function is not None:
            if function.name:
                call.name += function.name
            if function.arguments:
                piece = function.arguments
                self._grow(piece)
                call.arguments.pieces.append(piece)
        if function is not None:
            events.append(
                FunctionToolCallArgumentsDeltaEvent(
                    call.name,
                    index,
                    piece,
                    state.index,
                    _log=call.arguments,
                    _count=len(call.arguments.pieces),
                    _partial=self._partial_for(call.name),
                )
            )

    def _partial_for(self, name: str) -> bool:
        tools = self._tools
        if tools is None:
            return True
        found = self._partial_by_name.get(name)
        if found is None:
            found = self._partial_by_name[name] = _parseable_tool(_chat_tool(tools, name))
        return found

    def _content_done(self, state: _Choice, events: list[ChatCompletionStreamEvent]) -> None:
        index = state.index
        if state.content_seen and state.content.pieces and not state.content_done:
            text = state.content.text(len(state.content.pieces))
            if text:
                state.content_done = True
                refused = self._format_type is not None and bool(state.refusal.text(len(state.refusal.pieces)))
                events.append(ContentDoneEvent(text, index, _parse=_refused if refused else self._parse_content))
        if state.refusal_seen and not state.refusal_done and state.refusal.pieces:
            state.refusal_done = True
            events.append(RefusalDoneEvent(state.refusal.text(len(state.refusal.pieces)), index))
        if state.logprobs_content is not None and not state.logprobs_content_done:
            state.logprobs_content_done = True
            events.append(LogprobsContentDoneEvent(list(state.logprobs_content.pieces), index))
        if state.logprobs_refusal is not None and not state.logprobs_refusal_done:
            state.logprobs_refusal_done = True
            events.append(LogprobsRefusalDoneEvent(list(state.logprobs_refusal.pieces), index))

    def _tool_done(self, state: _Choice, index: int, events: list[ChatCompletionStreamEvent]) -> None:
        call = state.tool_calls.get(index)
        if call is None or call.done:
            return
        call.done = True
        events.append(
            FunctionToolCallArgumentsDoneEvent(
                call.name,
                index,
                call.arguments.text(len(call.arguments.pieces)),
                state.index,
                _parse=None if self._tools is None else self._parse_arguments,
            )
        )

    def _parse_arguments(self, name: str, arguments: str) -> Any:
        # The rule parse_chat_completion applies to the final tool calls.
        tool = _chat_tool(self._tools or (), name)
        fields = tool.get("function") if tool is not None else None
        return _tool_arguments(tool, fields, arguments)

    def _parse_content(self, text: str) -> Any:
        if not self._structured:
            return None
        if self._format_type is None:
            return _decode_json(text)
        return parse_structured(self._format_type, text)


def _refused(text: str) -> None:
    # A message that refused has nothing to build, whatever content came with it.
    return None

