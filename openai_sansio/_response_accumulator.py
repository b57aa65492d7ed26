"""Rebuild a whole Responses API response from its stream events.

``ResponseAccumulator.feed(event)`` takes the typed events of a streamed
``responses.create`` (or of a resumed ``responses.retrieve(stream=True)``)
and returns the events to hand to the caller: the same events, except
``response.output_text.delta`` / ``.done``,
``response.function_call_arguments.delta`` and ``response.completed``, which
become the helper events below (the official SDK's ``ResponseStream`` adds
the same ``snapshot`` / ``parsed`` fields to those four).

``current_response()`` is the response accumulated so far: the last
lifecycle event's response with the output items built from the
``output_item.added`` / ``content_part`` / delta / ``output_item.done``
events.  ``final_response()`` is the response of the terminal event
(``response.completed``, ``.incomplete`` or ``.failed``) as a
``ParsedResponse``; when a server leaves its ``output`` out (or empty) the
accumulated items fill it.  A completed response goes through
``parse_response`` as ``parse()``'s would (``output_parsed`` built into a
``text_format`` type, function calls' ``parsed_arguments`` as the ``tools``
say); an incomplete or failed one is not parsed (its text may be cut short;
the SDK's ``get_final_response()`` raises for want of ``response.completed``).

No I/O; text is kept as append-only pieces and joined when read, so the
cost is linear in what arrived; the text held is bounded by ``max_chars``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Iterable, Literal, Mapping, Union

import attrs

from ._chat_accumulator import DEFAULT_MAX_ACCUMULATED_CHARS, _decode_json, _Log, _short
from ._errors import LocalProtocolError, RemoteProtocolError
from ._partial_json import parse_partial_json
from ._structured import FunctionTool, parse_response, parse_structured

if TYPE_CHECKING:
    from ._parsed import ParsedResponse
    from .types.responses import Response, ResponseStreamEvent

__all__ = [
    "ResponseAccumulator",
    "ResponseCompletedEvent",
    "ResponseFunctionCallArgumentsDeltaEvent",
    "ResponseHelperEvent",
    "ResponseTextDeltaEvent",
    "ResponseTextDoneEvent",
]


@attrs.frozen(repr=False)
class ResponseTextDeltaEvent:
    """``response.output_text.delta`` with ``snapshot``, the part's text so
    far, and (with a structured text format) ``parsed``, what that partial
    JSON describes.  ``event`` is the event as received."""

    event: Any
    _log: _Log[str] = attrs.field(alias="_log", eq=False)
    _count: int = attrs.field(alias="_count")
    _structured: bool = attrs.field(alias="_structured", eq=False)
    type: Literal["response.output_text.delta"] = attrs.field(
        default="response.output_text.delta", init=False
    )

    delta = property(lambda self: self.event.delta)
    item_id = property(lambda self: self.event.item_id)
    output_index = property(lambda self: self.event.output_index)
    content_index = property(lambda self: self.event.content_index)
    sequence_number = property(lambda self: self.event.sequence_number)
    logprobs = property(lambda self: self.event.logprobs)

    @property
    def snapshot(self) -> str:
        return self._log.text(self._count)

    @property
    def parsed(self) -> Any:
        return parse_partial_json(self.snapshot) if self._structured else None

    def __repr__(self) -> str:
        return f"ResponseTextDeltaEvent(delta={_short(self.event.delta)}, sequence_number={self.event.sequence_number})"


@attrs.frozen(repr=False)
class ResponseTextDoneEvent:
    """``response.output_text.done`` with ``parsed``: the structured output
    (an instance of the ``text_format`` type when one was given, the decoded
    JSON for a JSON schema mapping), None without a structured format and,
    as in the SDK, for the text of a message whose ``phase`` is other than
    ``final_answer``."""

    event: Any
    parsed: Any
    type: Literal["response.output_text.done"] = attrs.field(
        default="response.output_text.done", init=False
    )

    text = property(lambda self: self.event.text)
    item_id = property(lambda self: self.event.item_id)
    output_index = property(lambda self: self.event.output_index)
    content_index = property(lambda self: self.event.content_index)
    sequence_number = property(lambda self: self.event.sequence_number)
    logprobs = property(lambda self: self.event.logprobs)

    def __repr__(self) -> str:
        return f"ResponseTextDoneEvent(text={_short(self.event.text)}, sequence_number={self.event.sequence_number})"


@attrs.frozen(repr=False)
class ResponseFunctionCallArgumentsDeltaEvent:
    """``response.function_call_arguments.delta`` with ``snapshot``, the
    arguments so far, and ``parsed_arguments``, what that partial JSON
    describes."""

    event: Any
    _log: _Log[str] = attrs.field(alias="_log", eq=False)
    _count: int = attrs.field(alias="_count")
    type: Literal["response.function_call_arguments.delta"] = attrs.field(
        default="response.function_call_arguments.delta", init=False
    )

    delta = property(lambda self: self.event.delta)
    item_id = property(lambda self: self.event.item_id)
    output_index = property(lambda self: self.event.output_index)
    sequence_number = property(lambda self: self.event.sequence_number)

    @property
    def snapshot(self) -> str:
        return self._log.text(self._count)

    @property
    def parsed_arguments(self) -> Any:
        return parse_partial_json(self.snapshot)

    def __repr__(self) -> str:
        return (
            f"ResponseFunctionCallArgumentsDeltaEvent(delta={_short(self.event.delta)}, "
            f"sequence_number={self.event.sequence_number})"
        )


@attrs.frozen(repr=False)
class ResponseCompletedEvent:
    """``response.completed`` whose ``response`` is the final
    ``ParsedResponse`` (output filled from the stream when the server left
    it out)."""

    event: Any
    response: ParsedResponse[Any]
    type: Literal["response.completed"] = attrs.field(default="response.completed", init=False)

    sequence_number = property(lambda self: self.event.sequence_number)

    def __repr__(self) -> str:
        return f"ResponseCompletedEvent(id={getattr(self.response, 'id', None)!r})"


ResponseHelperEvent = Union[
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseCompletedEvent,
]

_LIFECYCLE = frozenset(
    {"response.created", "response.queued", "response.in_progress"}
)
_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})

# Delta events that grow one text field of an output item: event type ->
# (list of sub-parts the field sits in, or None for the item itself; field).
_ITEM_TEXT_DELTAS: dict[str, tuple[str | None, str]] = {
    "response.output_text.delta": ("content", "text"),
    "response.refusal.delta": ("content", "refusal"),
    "response.function_call_arguments.delta": (None, "arguments"),
    "response.custom_tool_call_input.delta": (None, "input"),
    "response.mcp_call_arguments.delta": (None, "arguments"),
    "response.code_interpreter_call_code.delta": (None, "code"),
    "response.reasoning_summary_text.delta": ("summary", "text"),
    "response.reasoning_text.delta": ("content", "text"),
}
# Where the sub-part's index is, by sub-part list.
_PART_INDEX = {"content": "content_index", "summary": "summary_index"}


class _Item:
    __slots__ = ("done", "logs", "parts", "raw")

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw: dict[str, Any] = dict(raw)
        self.done: dict[str, Any] | None = None
        # Sub-parts by list name and index (content parts, summary parts).
        self.parts: dict[str, dict[int, dict[str, Any]]] = {}
        # Growing text fields: (list name or None, index, field) -> pieces.
        self.logs: dict[tuple[str | None, int, str], _Log[str]] = {}

    def to_dict(self) -> dict[str, Any]:
        if self.done is not None:
            return self.done
        out = dict(self.raw)
        parts = {name: {i: dict(p) for i, p in found.items()} for name, found in self.parts.items()}
        for (name, index, field), log in self.logs.items():
            text = log.text(len(log.pieces))
            if name is None:
                out[field] = text
            else:
                part = parts.setdefault(name, {}).setdefault(index, {})
                if "type" not in part:
                    # A delta whose content_part.added never came: the part
                    # still needs its type, or output_text would skip it.
                    part.update(_implied_part(out.get("type"), name, field))
                part[field] = text
        for name, found in parts.items():
            out[name] = [found[i] for i in sorted(found)]
        return out


def _implied_part(item_type: object, name: str, field: str) -> dict[str, Any]:
    if name == "summary":
        return {"type": "summary_text"}
    if field == "refusal":
        return {"type": "refusal"}
    if item_type == "reasoning":
        return {"type": "reasoning_text"}
    return {"type": "output_text", "annotations": []}


def _responses_models() -> Any:
    return importlib.import_module("openai_sansio.types.responses")


def _text_format_kind(text_format: object) -> tuple[bool, type | None]:
    if text_format is None:
        return False, None
    if isinstance(text_format, type):
        return True, text_format
    if isinstance(text_format, Mapping):
        fmt = text_format.get("format", text_format)
        if isinstance(fmt, Mapping):
            return fmt.get("type") in ("json_schema", "json_object"), None
    return False, None


class ResponseAccumulator:
    """Feed the events of one streamed response; get the helper events and
    the whole ``Response``.

    ``text_format`` (the request's ``text`` mapping, its ``format``, or a
    type for structured outputs) turns on ``parsed`` on the text events;
    ``tools`` (the request's) decides the final function calls'
    ``parsed_arguments``.
    """

    def __init__(
        self,
        *,
        text_format: object = None,
        tools: Iterable[Any] | None = None,
        max_chars: int = DEFAULT_MAX_ACCUMULATED_CHARS,
    ) -> None:
        if max_chars < 0:
            raise LocalProtocolError("max_chars must not be negative")
        self._structured, self._format_type = _text_format_kind(text_format)
        self._tools = [t.for_api("responses") if isinstance(t, FunctionTool) else t for t in tools or ()]
        self._max_chars = max_chars
        self._chars = 0
        self._base: dict[str, Any] | None = None
        self._items: dict[int, _Item] = {}
        self._final: ParsedResponse[Any] | None = None
        self._version = 0
        self._cached: tuple[int, Response] | None = None

    def __repr__(self) -> str:
        return f"<ResponseAccumulator events={self._version} items={len(self._items)}>"

    @property
    def done(self) -> bool:
        """True once a terminal event arrived."""
        return self._final is not None

    def current_response(self) -> Response:
        """The response as accumulated so far; ``LocalProtocolError``
        before the first lifecycle event."""
        if self._base is None:
            raise LocalProtocolError("no response event has been fed yet")
        cached = self._cached
        if cached is not None and cached[0] == self._version:
            return cached[1]
        data = dict(self._base)
        data["output"] = self._output()
        response: Response = _responses_models().Response.from_dict(data)
        self._cached = (self._version, response)
        return response

    def final_response(self) -> ParsedResponse[Any]:
        """The response of the terminal event (parsed when it completed);
        ``LocalProtocolError`` if the stream has not ended with one."""
        if self._final is None:
            raise LocalProtocolError(
                "the stream has not delivered response.completed, .incomplete or .failed"
            )
        return self._final

    def _output(self) -> list[dict[str, Any]]:
        return [self._items[i].to_dict() for i in sorted(self._items)]

    def _grow(self, text: str) -> None:
        self._chars += len(text)
        if self._chars > self._max_chars:
            raise RemoteProtocolError(f"the stream's text grew past {self._max_chars} characters")

    def _item(self, data: Mapping[str, Any], kind: str) -> _Item:
        index = data.get("output_index")
        item = self._items.get(index) if isinstance(index, int) else None
        if item is None:
            raise RemoteProtocolError(f"{kind} arrived for output index {index!r} before its output item")
        return item

    def feed(self, event: ResponseStreamEvent | Any) -> list[ResponseStreamEvent | ResponseHelperEvent]:
        """Take one event; return what to hand to the caller for it."""
        # UnknownStreamEvent (from a custom parser) keeps its payload in ``data``.
        found: Any = event
        data: Mapping[str, Any] = found.to_dict() if hasattr(found, "to_dict") else found.data
        kind = data.get("type")
        if not isinstance(kind, str):
            return [event]
        self._version += 1
        if kind in _LIFECYCLE or kind in _TERMINAL:
            response = data.get("response")
            if isinstance(response, Mapping):
                base = dict(response)
                # A placeholder made for events that came before
                # response.created has no id yet: any id may fill it.
                known = None if self._base is None else self._base.get("id")
                if known is not None and base.get("id") != known:
                    raise RemoteProtocolError("the stream's response id changed")
                self._base = base
            if kind in _TERMINAL:
                return [self._finish(event, kind)]
            return [event]
        if self._base is None:
            # Events ahead of response.created (none in practice) still
            # accumulate, under a response with no fields yet.
            self._base = {}
        if kind == "response.output_item.added":
            index = data.get("output_index")
            item = data.get("item")
            if not isinstance(index, int) or not isinstance(item, Mapping):
                raise RemoteProtocolError("response.output_item.added without an index or item")
            self._items[index] = _Item(item)
            return [event]
        if kind == "response.output_item.done":
            index = data.get("output_index")
            item = data.get("item")
            if not isinstance(index, int) or not isinstance(item, Mapping):
                raise RemoteProtocolError("response.output_item.done without an index or item")
            found = self._items.get(index)
            if found is None:
                found = self._items[index] = _Item(item)
            found.done = dict(item)
            return [event]
        if kind in ("response.content_part.added", "response.content_part.done",
                    "response.reasoning_summary_part.added", "response.reasoning_summary_part.done"):
            name = "content" if "content_part" in kind else "summary"
            item = self._item(data, kind)
            part_index = data.get(_PART_INDEX[name])
            part = data.get("part")
            if isinstance(part_index, int) and isinstance(part, Mapping):
                item.parts.setdefault(name, {})[part_index] = dict(part)
                if kind.endswith(".done"):
                    # The done part is whole: its text replaces the pieces.
                    for key in [k for k in item.logs if k[0] == name and k[1] == part_index]:
                        del item.logs[key]
            return [event]
        if kind == "response.output_text.annotation.added":
            item = self._item(data, kind)
            part = item.parts.setdefault("content", {}).setdefault(
                data.get("content_index", 0), {"type": "output_text", "text": ""}
            )
            part.setdefault("annotations", []).append(data.get("annotation"))
            return [event]
        where = _ITEM_TEXT_DELTAS.get(kind)
        if where is not None:
            return [self._delta(event, data, kind, where)]
        if kind == "response.output_text.done":
            text = data.get("text")
            parsed = self._parse_text(text) if isinstance(text, str) and self._final_answer(data) else None
            return [ResponseTextDoneEvent(event, parsed)]
        return [event]

    def _delta(
        self, event: Any, data: Mapping[str, Any], kind: str, where: tuple[str | None, str]
    ) -> Any:
        item = self._item(data, kind)
        delta = data.get("delta")
        if not isinstance(delta, str):
            return event
        self._grow(delta)
        name, field = where
        sub = 0
        if name is not None:
            found = data.get(_PART_INDEX[name])
            sub = found if isinstance(found, int) else 0
            part = item.parts.setdefault(name, {}).get(sub)
            if part is None:
                item.parts[name][sub] = part = {}
        key = (name, sub, field)
        log = item.logs.get(key)
        if log is None:
            log = item.logs[key] = _Log()
            start = item.raw.get(field) if name is None else item.parts[name][sub].get(field)
            if isinstance(start, str) and start:
                log.pieces.append(start)
        log.pieces.append(delta)
        if kind == "response.output_text.delta":
            return ResponseTextDeltaEvent(
                event, _log=log, _count=len(log.pieces), _structured=self._structured
            )
        if kind == "response.function_call_arguments.delta":
            return ResponseFunctionCallArgumentsDeltaEvent(event, _log=log, _count=len(log.pieces))
        return event

    def _finish(self, event: Any, kind: str) -> Any:
        assert self._base is not None
        data = dict(self._base)
        output = data.get("output")
        if not output and self._items:
            data["output"] = self._output()
        response: Response = _responses_models().Response.from_dict(data)
        completed = kind == "response.completed"
        final = parse_response(
            response,
            text_format=self._format_type if completed else None,
            tools=self._tools if completed else (),
        )
        self._final = final
        if completed:
            return ResponseCompletedEvent(event, final)
        return event

    def _final_answer(self, data: Mapping[str, Any]) -> bool:
        # The SDK's rule: text of a message with another phase (commentary)
        # is not the structured result.
        index = data.get("output_index")
        item = self._items.get(index) if isinstance(index, int) else None
        phase = item.raw.get("phase") if item is not None else None
        return phase is None or phase == "final_answer"

    def _parse_text(self, text: str) -> Any:
        if not self._structured:
            return None
        if self._format_type is None:
            return _decode_json(text)
        return parse_structured(self._format_type, text)

