"""Assistants run streams: ``client.beta.threads.runs.stream(...)``,
``client.beta.threads.runs.submit_tool_outputs_stream(...)`` and
``client.beta.threads.create_and_run_stream(...)``.

Async context managers around the generated ``stream=True`` calls, like the
chat and Responses helpers: entering sends the request, iterating gives the
run's events (``thread.message.delta`` and ``thread.run.step.delta`` with
the snapshot built so far, see ``openai_sansio.AssistantStreamAccumulator``),
leaving the block closes the HTTP stream however it ends.  Mixed into the
generated namespaces through ``NAMESPACE_MIXINS`` in
``tools/generate_surface.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from openai_sansio import AssistantStreamAccumulator, LocalProtocolError

from ._stream_helpers import _HelperStream
from ._streamed import StreamedResponseManager

if TYPE_CHECKING:
    from typing_extensions import Self

    from openai_sansio.types.assistants import MessageObject, RunObject, RunStepObject

    from ._namespace import Namespace
    from ._streams import AsyncStream

__all__ = [
    "AsyncAssistantStream",
    "BetaThreadsRunsStreamMixin",
    "BetaThreadsStreamMixin",
]


class AsyncAssistantStream(_HelperStream[Any]):
    """The events of one streamed Assistants run.

    Iterating gives each event as decoded (``event.event`` is its name,
    ``event.data`` its payload), the two delta kinds with ``snapshot``.
    The stream ends after ``event: done``; an ``event: error`` raises
    ``APIStreamError``.
    """

    __slots__ = ("_accumulator",)

    def __init__(self, stream: AsyncStream[Any], accumulator: AssistantStreamAccumulator) -> None:
        super().__init__(stream)
        self._accumulator = accumulator

    def __repr__(self) -> str:
        return f"<AsyncAssistantStream {self._accumulator!r}>"

    def _events_of(self, item: Any) -> list[Any]:
        return self._accumulator.feed(item)

    @property
    def current_event(self) -> Any:
        """The last event handed out (None before the first)."""
        return self._accumulator.current_event

    @property
    def current_run(self) -> RunObject | None:
        """The run as of the last ``thread.run.*`` event."""
        return self._accumulator.current_run

    @property
    def current_message_snapshot(self) -> MessageObject | None:
        """The message being written, as built so far."""
        return self._accumulator.current_message_snapshot

    @property
    def current_run_step_snapshot(self) -> RunStepObject | None:
        """The run step in progress, as built so far."""
        return self._accumulator.current_run_step_snapshot

    async def until_done(self) -> Self:
        """Read the stream to its end (dropping the events)."""
        await super().until_done()
        return self

    async def get_final_run(self) -> RunObject:
        """Read to the end; the run as the stream last reported it (for a
        run that needs tool outputs, its ``requires_action`` state).
        ``LocalProtocolError`` if the stream reported no run."""
        await self.until_done()
        return self._accumulator.final_run()

    async def get_final_messages(self) -> list[MessageObject]:
        """Read to the end; the messages the run wrote (possibly none)."""
        await self.until_done()
        return self._accumulator.messages()

    async def get_final_run_steps(self) -> list[RunStepObject]:
        """Read to the end; the run's steps (possibly none)."""
        await self.until_done()
        return self._accumulator.run_steps()

    def text_deltas(self) -> _AssistantTextDeltas:
        """The text pieces of the messages, as strings."""
        return _AssistantTextDeltas(self)


class _AssistantTextDeltas:
    """An async iterator of the text deltas of a run stream.  One message
    delta may carry several text parts; each is its own piece."""

    __slots__ = ("_pending", "_stream")

    def __init__(self, stream: AsyncAssistantStream) -> None:
        self._stream = stream
        self._pending: list[str] = []

    def __aiter__(self) -> _AssistantTextDeltas:
        return self

    async def __anext__(self) -> str:
        pending = self._pending
        while not pending:
            event = await self._stream.__anext__()
            if event.event == "thread.message.delta":
                pending[:] = _texts(event.data)[::-1]
        return pending.pop()


def _texts(delta: Any) -> list[str]:
    content = getattr(getattr(delta, "delta", None), "content", None) or ()
    out = []
    for part in content:
        if getattr(part, "type", None) == "text":
            value = getattr(getattr(part, "text", None), "value", None)
            if isinstance(value, str) and value:
                out.append(value)
    return out


def _check(params: dict[str, Any]) -> None:
    if "stream" in params:
        raise LocalProtocolError("a run stream always streams; leave out 'stream'")
    if "event_handler" in params:
        raise LocalProtocolError(
            "event handlers are not supported: iterate the stream's events instead"
        )


def _manager(call: Any, *args: Any, **params: Any) -> StreamedResponseManager[AsyncAssistantStream]:
    async def start() -> AsyncAssistantStream:
        stream = await call(*args, stream=True, **params)
        return AsyncAssistantStream(stream, AssistantStreamAccumulator())

    return StreamedResponseManager(start)


class BetaThreadsRunsStreamMixin:
    """``client.beta.threads.runs.stream(...)`` and
    ``.submit_tool_outputs_stream(...)``."""

    __slots__ = ()

    def stream(self, *, thread_id: str, **params: Any) -> StreamedResponseManager[AsyncAssistantStream]:
        """Create a run on a thread and stream it.

        Takes what ``create`` takes (``assistant_id``, ``instructions``,
        ``tools``, ...), except ``stream``; ``thread_id`` by keyword.  Use as
        ``async with client.beta.threads.runs.stream(...) as stream:``.
        """
        _check(params)
        namespace: Namespace = self  # type: ignore[assignment]
        return _manager(namespace._view("parsed").create, thread_id, **params)  # type: ignore[attr-defined]

    def submit_tool_outputs_stream(
        self, *, run_id: str, thread_id: str, **params: Any
    ) -> StreamedResponseManager[AsyncAssistantStream]:
        """Send the outputs a ``requires_action`` run waits for, and stream
        the rest of the run.  Takes what ``submit_tool_outputs`` takes
        (``tool_outputs``), except ``stream``."""
        _check(params)
        namespace: Namespace = self  # type: ignore[assignment]
        submit = namespace._view("parsed").submit_tool_outputs  # type: ignore[attr-defined]
        return _manager(submit, run_id, thread_id=thread_id, **params)


class BetaThreadsStreamMixin:
    """``client.beta.threads.create_and_run_stream(...)``."""

    __slots__ = ()

    def create_and_run_stream(self, **params: Any) -> StreamedResponseManager[AsyncAssistantStream]:
        """Create a thread and a run on it, and stream the run.  Takes what
        ``create_and_run`` takes, except ``stream``."""
        _check(params)
        namespace: Namespace = self  # type: ignore[assignment]
        return _manager(namespace._view("parsed").create_and_run, **params)  # type: ignore[attr-defined]
