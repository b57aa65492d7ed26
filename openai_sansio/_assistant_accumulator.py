"""Follow an Assistants run stream: the run, its messages and its steps.

``AssistantStreamAccumulator.feed(event)`` takes the typed events of a
streamed ``beta.threads.runs.create`` / ``create_and_run`` /
``submit_tool_outputs`` (what ``AssistantStreamDecoder`` yields) and returns
what to hand to the caller: the same event, except ``thread.message.delta``
and ``thread.run.step.delta``, which become ``MessageDeltaEvent`` /
``RunStepDeltaEvent``: the event's ``event`` and ``data`` plus ``snapshot``,
the message or run step built so far.

A message snapshot starts from ``thread.message.created`` and grows with
each delta: text (``value`` pieces appended, annotations merged by their
``index``), image files, refusals, new content parts by ``index``.  A run
step snapshot starts from ``thread.run.step.created`` and grows with the
tool call deltas merged by ``index`` (code interpreter ``input`` and
``outputs``, file search, function ``arguments``).  The object of a
``.completed`` (or ``.incomplete``, ``.failed``, ...) event replaces what
was built, since the server's whole object is the authority.

The merge: objects are merged key by key, lists of objects with an
``index`` entry by entry, the strings that stream in pieces (``value``,
``arguments``, ``input``, ``logs``, ``refusal``) appended, anything else
replaced.  The official SDK appends every string and adds numbers, so a
repeated ``role`` or ``name`` would come out doubled there; here only the
fields that grow do.

No I/O.  Strings grow as lists of pieces joined when a snapshot is read, so
the cost is linear in what arrived; the characters taken in are bounded by
``max_chars`` and nesting by ``MAX_DELTA_DEPTH``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Literal, Mapping, Union

import attrs

from ._chat_accumulator import DEFAULT_MAX_ACCUMULATED_CHARS
from ._errors import LocalProtocolError, RemoteProtocolError

if TYPE_CHECKING:
    from .types.assistants import (
        MessageDeltaObject,
        MessageObject,
        RunObject,
        RunStepDeltaObject,
        RunStepObject,
    )

__all__ = [
    "AssistantStreamAccumulator",
    "AssistantHelperEvent",
    "MessageDeltaEvent",
    "RunStepDeltaEvent",
    "MAX_DELTA_DEPTH",
]

#: How deep a delta may nest before it is refused (the real ones nest ~6).
MAX_DELTA_DEPTH = 32

_RUN_EVENTS = frozenset(
    {
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.requires_action",
        "thread.run.cancelling",
        "thread.run.completed",
        "thread.run.incomplete",
        "thread.run.failed",
        "thread.run.cancelled",
        "thread.run.expired",
    }
)
# The run stops streaming after these (requires_action waits for tool outputs,
# which continue in a new stream).
_RUN_END_EVENTS = frozenset(
    {
        "thread.run.requires_action",
        "thread.run.completed",
        "thread.run.incomplete",
        "thread.run.failed",
        "thread.run.cancelled",
        "thread.run.expired",
    }
)
_MESSAGE_DONE = frozenset({"thread.message.completed", "thread.message.incomplete"})
_MESSAGE_EVENTS = _MESSAGE_DONE | {
    "thread.message.created", "thread.message.in_progress", "thread.message.delta"
}
_STEP_DONE = frozenset(
    {
        "thread.run.step.completed",
        "thread.run.step.failed",
        "thread.run.step.cancelled",
        "thread.run.step.expired",
    }
)


_STEP_EVENTS = _STEP_DONE | {
    "thread.run.step.created", "thread.run.step.in_progress", "thread.run.step.delta"
}


def _models() -> Any:
    return importlib.import_module("openai_sansio.types.assistants")


# -- the merge tree ------------------------------------------------------------


# The fields whose deltas are pieces of a longer string.
_GROWING = frozenset({"value", "arguments", "input", "logs", "refusal"})


class _Text:
    """A string that grows: its pieces, joined when read."""

    __slots__ = ("pieces",)

    def __init__(self, first: str) -> None:
        self.pieces = [first]


class _Indexed(dict):  # type: ignore[type-arg]
    """A list of objects addressed by their ``index``: index -> entry."""

    __slots__ = ()


class _Merger:
    """Merges deltas into plain trees, counting the characters taken in."""

    __slots__ = ("chars", "max_chars")

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.chars = 0

    def _count(self, text: str) -> None:
        self.chars += len(text)
        if self.chars > self.max_chars:
            raise RemoteProtocolError(f"the run stream's text grew past {self.max_chars} characters")

    def adopt(self, value: Any, depth: int) -> Any:
        """A private copy of a received value, in the tree's terms."""
        if depth > MAX_DELTA_DEPTH:
            raise RemoteProtocolError(f"a run stream delta nests deeper than {MAX_DELTA_DEPTH}")
        if isinstance(value, str):
            self._count(value)
            return value
        if isinstance(value, Mapping):
            return {k: self.adopt(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            if _has_indexed(value):
                out = _Indexed()
                self._merge_entries(out, value, depth)
                return out
            return [self.adopt(v, depth + 1) for v in value]
        return value

    def merge(self, acc: dict[str, Any], delta: Mapping[str, Any], depth: int = 0) -> None:
        if depth > MAX_DELTA_DEPTH:
            raise RemoteProtocolError(f"a run stream delta nests deeper than {MAX_DELTA_DEPTH}")
        for key, value in delta.items():
            old = acc.get(key)
            if old is None or key == "index" or key == "type":
                acc[key] = self.adopt(value, depth + 1)
            elif key in _GROWING and isinstance(value, str) and isinstance(old, (str, _Text)):
                self._count(value)
                if isinstance(old, str):
                    old = acc[key] = _Text(old)
                old.pieces.append(value)
            elif isinstance(value, Mapping) and isinstance(old, dict) and not isinstance(old, _Indexed):
                self.merge(old, value, depth + 1)
            elif isinstance(value, list) and isinstance(old, _Indexed):
                self._merge_entries(old, value, depth)
            elif isinstance(value, list) and isinstance(old, list):
                if _has_indexed(value):
                    # Entries of a whole object have no index: their place is it.
                    indexed = _Indexed(enumerate(old))
                    self._merge_entries(indexed, value, depth)
                    acc[key] = indexed
                else:
                    old.extend(self.adopt(v, depth + 1) for v in value)
            else:
                acc[key] = self.adopt(value, depth + 1)

    def _merge_entries(self, acc: _Indexed, entries: list[Any], depth: int) -> None:
        for entry in entries:
            if not isinstance(entry, Mapping):
                raise RemoteProtocolError("a run stream delta mixes indexed objects with other values")
            index = entry.get("index")
            if type(index) is not int or index < 0:
                raise RemoteProtocolError(f"a run stream delta entry has no usable index: {index!r}")
            found = acc.get(index)
            if isinstance(found, dict) and not isinstance(found, _Indexed):
                self.merge(found, entry, depth + 1)
            else:
                acc[index] = self.adopt(entry, depth + 1)


def _has_indexed(value: list[Any]) -> bool:
    return any(isinstance(v, Mapping) and "index" in v for v in value)


def _plain(node: Any) -> Any:
    """The JSON value a tree node stands for (entries of an indexed list in
    index order, without their ``index``, as in the whole objects)."""
    if isinstance(node, _Text):
        return "".join(node.pieces)
    if isinstance(node, _Indexed):
        out = []
        for i in sorted(node):
            entry = _plain(node[i])
            if isinstance(entry, dict):
                entry.pop("index", None)
            out.append(entry)
        return out
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


class _Snapshot:
    """One message or run step: its tree, or the whole object once done."""

    __slots__ = ("cached", "done", "tree", "version")

    def __init__(self, tree: dict[str, Any]) -> None:
        self.tree = tree
        self.done: Any = None
        self.version = 0
        self.cached: tuple[int, Any] | None = None

    def build(self, model: Any) -> Any:
        if self.done is not None:
            return self.done
        cached = self.cached
        if cached is not None and cached[0] == self.version:
            return cached[1]
        built = model.from_dict(_plain(self.tree))
        self.cached = (self.version, built)
        return built


# -- events --------------------------------------------------------------------


@attrs.frozen(repr=False)
class MessageDeltaEvent:
    """``thread.message.delta`` with ``snapshot``, the message built so far
    (built when read, from the stream as it stands then: read it before the
    next event to see the message as of this delta).  ``received`` is the
    event as decoded."""

    received: Any
    _accumulator: AssistantStreamAccumulator = attrs.field(alias="_accumulator", eq=False)
    _message_id: str = attrs.field(alias="_message_id")
    event: Literal["thread.message.delta"] = attrs.field(default="thread.message.delta", init=False)

    @property
    def data(self) -> MessageDeltaObject:
        return self.received.data  # type: ignore[no-any-return]

    @property
    def snapshot(self) -> MessageObject:
        return self._accumulator.message_snapshot(self._message_id)

    def __repr__(self) -> str:
        return f"MessageDeltaEvent(message_id={self._message_id!r})"


@attrs.frozen(repr=False)
class RunStepDeltaEvent:
    """``thread.run.step.delta`` with ``snapshot``, the run step built so
    far (tool calls merged by index; built when read, like
    ``MessageDeltaEvent.snapshot``)."""

    received: Any
    _accumulator: AssistantStreamAccumulator = attrs.field(alias="_accumulator", eq=False)
    _step_id: str = attrs.field(alias="_step_id")
    event: Literal["thread.run.step.delta"] = attrs.field(default="thread.run.step.delta", init=False)

    @property
    def data(self) -> RunStepDeltaObject:
        return self.received.data  # type: ignore[no-any-return]

    @property
    def snapshot(self) -> RunStepObject:
        return self._accumulator.run_step_snapshot(self._step_id)

    def __repr__(self) -> str:
        return f"RunStepDeltaEvent(step_id={self._step_id!r})"


AssistantHelperEvent = Union[MessageDeltaEvent, RunStepDeltaEvent]


# -- the accumulator -----------------------------------------------------------


def _payload(event: Any) -> tuple[str | None, Any, Any]:
    """The event's name, its ``data`` as received and as a plain mapping."""
    name = getattr(event, "event", None)
    data: Any = getattr(event, "data", None)
    plain = data.to_dict() if hasattr(data, "to_dict") else data
    return (name if isinstance(name, str) else None), data, plain


def _id_of(plain: Any, name: str) -> str:
    found = plain.get("id") if isinstance(plain, Mapping) else None
    if not isinstance(found, str) or not found:
        raise RemoteProtocolError(f"{name} arrived without an id")
    return found


class AssistantStreamAccumulator:
    """Feed the events of one run stream; get the helper events, the run,
    the messages and the run steps as they stand."""

    def __init__(self, *, max_chars: int = DEFAULT_MAX_ACCUMULATED_CHARS) -> None:
        if max_chars < 0:
            raise LocalProtocolError("max_chars must not be negative")
        self._merger = _Merger(max_chars)
        self._run: RunObject | None = None
        self._run_ended = False
        self._messages: dict[str, _Snapshot] = {}
        self._steps: dict[str, _Snapshot] = {}
        self._message_id: str | None = None
        self._step_id: str | None = None
        self._current: Any = None
        self._events = 0

    def __repr__(self) -> str:
        return (
            f"<AssistantStreamAccumulator events={self._events} messages={len(self._messages)} "
            f"run_steps={len(self._steps)}>"
        )

    @property
    def done(self) -> bool:
        """True once the run reached a state the stream ends in (completed,
        failed, cancelled, expired, incomplete, or requires_action)."""
        return self._run_ended

    @property
    def current_event(self) -> Any:
        """The last event fed (as returned by ``feed``)."""
        return self._current

    @property
    def current_run(self) -> RunObject | None:
        """The run of the last ``thread.run.*`` event, None before one."""
        return self._run

    @property
    def current_message_snapshot(self) -> MessageObject | None:
        """The message being written (or the last one), None before any."""
        if self._message_id is None:
            return None
        return self.message_snapshot(self._message_id)

    @property
    def current_run_step_snapshot(self) -> RunStepObject | None:
        """The run step in progress, None between steps."""
        if self._step_id is None:
            return None
        return self.run_step_snapshot(self._step_id)

    def message_snapshot(self, message_id: str) -> MessageObject:
        """The message with this id as built so far."""
        found = self._messages.get(message_id)
        if found is None:
            raise LocalProtocolError(f"no message {message_id!r} in this stream")
        built: MessageObject = found.build(_models().MessageObject)
        return built

    def run_step_snapshot(self, step_id: str) -> RunStepObject:
        """The run step with this id as built so far."""
        found = self._steps.get(step_id)
        if found is None:
            raise LocalProtocolError(f"no run step {step_id!r} in this stream")
        built: RunStepObject = found.build(_models().RunStepObject)
        return built

    def messages(self) -> list[MessageObject]:
        """Every message of the stream, in the order they began."""
        return [self.message_snapshot(i) for i in self._messages]

    def run_steps(self) -> list[RunStepObject]:
        """Every run step of the stream, in the order they began."""
        return [self.run_step_snapshot(i) for i in self._steps]

    def final_run(self) -> RunObject:
        """The last run the stream reported; ``LocalProtocolError`` if it
        reported none."""
        if self._run is None:
            raise LocalProtocolError("the stream delivered no thread.run event")
        return self._run

    def feed(self, event: Any) -> list[Any]:
        """Take one event; return what to hand to the caller for it."""
        self._events += 1
        out = self._feed(event)
        self._current = out
        return [out]

    def _feed(self, event: Any) -> Any:
        name, data, plain = _payload(event)
        if name is None or not isinstance(plain, Mapping):
            return event
        if name in _RUN_EVENTS:
            self._run = data
            if name in _RUN_END_EVENTS:
                self._run_ended = True
            return event
        if name in _MESSAGE_EVENTS:
            return self._message_event(event, name, data, plain)
        if name in _STEP_EVENTS:
            return self._step_event(event, name, data, plain)
        return event

    def _message_event(self, event: Any, name: str, data: Any, plain: Mapping[str, Any]) -> Any:
        message_id = _id_of(plain, name)
        found = self._messages.get(message_id)
        if name == "thread.message.delta":
            if found is None:
                # A delta ahead of its message.created: build from nothing.
                found = self._messages[message_id] = _Snapshot(
                    {"id": message_id, "object": "thread.message", "content": []}
                )
            delta = plain.get("delta")
            if isinstance(delta, Mapping):
                self._merger.merge(found.tree, delta)
            found.version += 1
            self._message_id = message_id
            return MessageDeltaEvent(event, _accumulator=self, _message_id=message_id)
        if found is None:
            found = self._messages[message_id] = _Snapshot(self._merger.adopt(plain, 0))
        elif name in _MESSAGE_DONE:
            found.done = data
        else:
            # created again, or in_progress: the object's fields replace
            # those held, but the content built from the deltas stays.
            self._replace(found, plain, "content")
        found.version += 1
        self._message_id = message_id
        return event

    def _replace(self, found: _Snapshot, plain: Mapping[str, Any], built: str) -> None:
        tree = found.tree
        for key, value in plain.items():
            if key != built or tree.get(key) is None:
                tree[key] = self._merger.adopt(value, 1)

    def _step_event(self, event: Any, name: str, data: Any, plain: Mapping[str, Any]) -> Any:
        step_id = _id_of(plain, name)
        found = self._steps.get(step_id)
        if name == "thread.run.step.delta":
            if found is None:
                found = self._steps[step_id] = _Snapshot({"id": step_id, "object": "thread.run.step"})
            delta = plain.get("delta")
            if isinstance(delta, Mapping):
                self._merger.merge(found.tree, delta)
            found.version += 1
            self._step_id = step_id
            return RunStepDeltaEvent(event, _accumulator=self, _step_id=step_id)
        if found is None:
            found = self._steps[step_id] = _Snapshot(self._merger.adopt(plain, 0))
        elif name in _STEP_DONE:
            found.done = data
        else:
            self._replace(found, plain, "step_details")
        found.version += 1
        if name in _STEP_DONE:
            if step_id == self._step_id or self._step_id is None:
                self._step_id = None
            if found.done is None:
                found.done = data
        else:
            self._step_id = step_id
        return event
