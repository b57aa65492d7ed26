"""The fake server's Assistants runs: streamed the way the API streams them.

``POST /threads/{thread_id}/runs``, ``POST /threads/runs`` (thread and run
at once), ``POST /threads/{thread_id}/runs/{run_id}/submit_tool_outputs``
and ``GET /threads/{thread_id}/runs/{run_id}``.
With ``stream: true`` the answer is an event stream whose kinds are in the
SSE ``event:`` field: the run's lifecycle, a message-creation run step, the
message (created, in progress, one ``thread.message.delta`` per word of the
reply, completed), the run completed, then ``event: done``.  A request that
forces a function tool (``tool_choice`` ``"required"`` or naming one) gets
instead a tool-calls run step whose arguments arrive in pieces and a run
that ends in ``requires_action``; submitting the outputs continues the run
with the message.  Without ``stream`` the run is answered ``queued`` and
reaches that final state over retrievals (see ``FakeAssistants``).
"""

from __future__ import annotations

import time
from typing import Any, Callable

from ._responses import FakeResponse, ReceivedRequest, format_sse

__all__ = ["FakeAssistants", "create_run", "create_thread_and_run", "retrieve_run", "submit_tool_outputs"]

_MAX_KEPT = 1000


def _invalid(message: str, *, param: str | None = None) -> FakeResponse:
    return FakeResponse.error(400, message, type="invalid_request_error", param=param)


class FakeAssistants:
    """The runs that wait for tool outputs, by run id (bounded), and the
    runs ``GET /threads/{thread_id}/runs/{run_id}`` reports.

    A run created without ``stream`` is answered ``queued``; each retrieval
    then moves it on: ``in_progress`` for ``in_progress_polls`` retrievals,
    then its final state (``completed``, or ``requires_action`` when a tool
    is forced).  ``poll_after_ms`` is sent as ``openai-poll-after-ms`` on
    those answers when set.
    """

    def __init__(self) -> None:
        self.waiting: dict[str, dict[str, Any]] = {}
        #: run id -> [states still to report, then the final run]
        self.runs: dict[str, list[dict[str, Any]]] = {}
        self.in_progress_polls = 1
        self.poll_after_ms: int | None = None

    def answer(self, run: dict[str, Any]) -> FakeResponse:
        headers = {} if self.poll_after_ms is None else {"openai-poll-after-ms": str(self.poll_after_ms)}
        return FakeResponse.json(run, headers=headers)

    def progress(self, states: list[dict[str, Any]]) -> None:
        run_id = states[-1]["id"]
        self.runs.pop(run_id, None)
        self.runs[run_id] = states
        while len(self.runs) > _MAX_KEPT:
            del self.runs[next(iter(self.runs))]

    def keep(self, run: dict[str, Any]) -> None:
        if len(self.waiting) >= _MAX_KEPT:
            self.waiting.pop(next(iter(self.waiting)))
        self.waiting[run["id"]] = run


def _run_object(api: Any, thread_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": api._next_id("run_"),
        "object": "thread.run",
        "created_at": int(time.time()),
        "thread_id": thread_id,
        "assistant_id": body.get("assistant_id"),
        "status": "queued",
        "model": body.get("model") or "gpt-4o-mini",
        "instructions": body.get("instructions") or "",
        "tools": body.get("tools") or [],
        "metadata": body.get("metadata") or {},
        "required_action": None,
        "last_error": None,
        "usage": None,
        "temperature": body.get("temperature", 1.0),
        "top_p": body.get("top_p", 1.0),
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "tool_choice": body.get("tool_choice", "auto"),
        "truncation_strategy": {"type": "auto", "last_messages": None},
        "response_format": "auto",
    }


class _Events:
    """The SSE blocks of one run stream, and the run as it goes."""

    def __init__(self, run: dict[str, Any]) -> None:
        self.run = run
        self.blocks: list[str] = []

    def add(self, name: str, data: dict[str, Any]) -> None:
        self.blocks.append(format_sse(data, event=name))

    def status(self, status: str, **fields: Any) -> None:
        self.run = dict(self.run, status=status, **fields)
        self.add(f"thread.run.{status}", self.run)

    def step(self, api: Any, details: dict[str, Any]) -> dict[str, Any]:
        step = {
            "id": api._next_id("step_"),
            "object": "thread.run.step",
            "created_at": self.run["created_at"],
            "run_id": self.run["id"],
            "assistant_id": self.run["assistant_id"],
            "thread_id": self.run["thread_id"],
            "type": details["type"],
            "status": "in_progress",
            "step_details": details,
            "last_error": None,
            "usage": None,
        }
        self.add("thread.run.step.created", step)
        self.add("thread.run.step.in_progress", step)
        return step


def _message(api: Any, events: _Events) -> None:
    """The message-creation step and the message, a delta per word."""
    from ._openai import _words

    run = events.run
    msg_id = api._next_id("msg_")
    step = events.step(api, {"type": "message_creation", "message_creation": {"message_id": msg_id}})
    message: dict[str, Any] = {
        "id": msg_id,
        "object": "thread.message",
        "created_at": run["created_at"],
        "thread_id": run["thread_id"],
        "run_id": run["id"],
        "assistant_id": run["assistant_id"],
        "role": "assistant",
        "status": "in_progress",
        "content": [],
        "attachments": [],
        "metadata": {},
    }
    events.add("thread.message.created", message)
    events.add("thread.message.in_progress", message)
    words = _words(api.reply)
    for i, word in enumerate(words):
        text: dict[str, Any] = {"value": word}
        if i == 0:
            text["annotations"] = []
        events.add(
            "thread.message.delta",
            {"id": msg_id, "object": "thread.message.delta",
             "delta": {"content": [{"index": 0, "type": "text", "text": text}]}},
        )
    done = dict(
        message,
        status="completed",
        completed_at=run["created_at"],
        content=[{"type": "text", "text": {"value": "".join(words), "annotations": []}}],
    )
    events.add("thread.message.completed", done)
    events.add("thread.run.step.completed", dict(step, status="completed", completed_at=run["created_at"]))
    events.status("completed", completed_at=run["created_at"],
                  usage={"prompt_tokens": 1, "completion_tokens": len(words), "total_tokens": 1 + len(words)})


def _tool_calls(api: Any, events: _Events, calls: list[tuple[str, str]]) -> None:
    """A tool-calls step whose arguments arrive in pieces; the run then
    waits for the outputs."""
    from ._openai import _pieces

    ids = [api._next_id("call_") for _ in calls]
    step = events.step(api, {"type": "tool_calls", "tool_calls": []})
    for index, ((name, arguments), call_id) in enumerate(zip(calls, ids, strict=True)):
        first = {"index": index, "id": call_id, "type": "function",
                 "function": {"name": name, "arguments": "", "output": None}}
        pieces = [first] + [{"index": index, "type": "function", "function": {"arguments": p}}
                            for p in _pieces(arguments)]
        for piece in pieces:
            events.add(
                "thread.run.step.delta",
                {"id": step["id"], "object": "thread.run.step.delta",
                 "delta": {"step_details": {"type": "tool_calls", "tool_calls": [piece]}}},
            )
    whole = [
        {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments, "output": None}}
        for (name, arguments), call_id in zip(calls, ids, strict=True)
    ]
    events.add("thread.run.step.completed", dict(
        step, status="completed", step_details={"type": "tool_calls", "tool_calls": whole}))
    events.status("requires_action", required_action={
        "type": "submit_tool_outputs",
        "submit_tool_outputs": {"tool_calls": [
            {"id": c["id"], "type": "function",
             "function": {"name": c["function"]["name"], "arguments": c["function"]["arguments"]}}
            for c in whole
        ]},
    })


def _answer(api: Any, body: dict[str, Any], events: _Events, calls: list[tuple[str, str]]) -> FakeResponse:
    events.status("queued")
    queued = events.run
    events.status("in_progress", started_at=events.run["created_at"])
    running = events.run
    if calls:
        _tool_calls(api, events, calls)
        api.assistants.keep(events.run)
    else:
        _message(api, events)
    assistants: FakeAssistants = api.assistants
    if body.get("stream") is not True:
        # As the API does: the run is queued, and polling sees it progress.
        assistants.progress([running] * assistants.in_progress_polls + [events.run])
        return assistants.answer(queued)
    assistants.progress([events.run])
    events.blocks.append(format_sse("[DONE]", event="done"))
    return FakeResponse.sse(events.blocks, done=False)


def _start(api: Any, body: dict[str, Any], thread_id: str, before: Callable[[_Events], None] | None) -> FakeResponse:
    from ._openai import _forced_tool_calls

    assistant = body.get("assistant_id")
    if not isinstance(assistant, str) or not assistant:
        return _invalid("Missing required parameter: 'assistant_id'.", param="assistant_id")
    events = _Events(_run_object(api, thread_id, body))
    if before is not None:
        before(events)
    events.add("thread.run.created", events.run)
    return _answer(api, body, events, _forced_tool_calls(body))


def create_run(api: Any, request: ReceivedRequest, body: dict[str, Any], thread_id: str) -> FakeResponse:
    return _start(api, body, thread_id, None)


def create_thread_and_run(api: Any, request: ReceivedRequest, body: dict[str, Any]) -> FakeResponse:
    thread_id = api._next_id("thread_")

    def thread_created(events: _Events) -> None:
        events.add("thread.created", {
            "id": thread_id, "object": "thread", "created_at": events.run["created_at"],
            "metadata": {}, "tool_resources": {},
        })

    return _start(api, body, thread_id, thread_created)


def retrieve_run(api: Any, request: ReceivedRequest, body: Any, thread_id: str, run_id: str) -> FakeResponse:
    assistants: FakeAssistants = api.assistants
    states = assistants.runs.get(run_id)
    if states is None or states[-1]["thread_id"] != thread_id:
        return FakeResponse.error(404, f"No run found with id '{run_id}'.", type="invalid_request_error")
    run = states.pop(0) if len(states) > 1 else states[0]
    return assistants.answer(run)


def submit_tool_outputs(
    api: Any, request: ReceivedRequest, body: dict[str, Any], thread_id: str, run_id: str
) -> FakeResponse:
    run = api.assistants.waiting.get(run_id)
    if run is None or run["thread_id"] != thread_id:
        return FakeResponse.error(404, f"No run found with id '{run_id}'.", type="invalid_request_error")
    outputs = body.get("tool_outputs")
    if not isinstance(outputs, list):
        return _invalid("Missing required parameter: 'tool_outputs'.", param="tool_outputs")
    wanted = {c["id"] for c in run["required_action"]["submit_tool_outputs"]["tool_calls"]}
    given = {o.get("tool_call_id") for o in outputs if isinstance(o, dict)}
    if given != wanted:
        return _invalid("Expected tool outputs for call ids " + ", ".join(sorted(wanted)) + ".",
                        param="tool_outputs")
    del api.assistants.waiting[run_id]
    events = _Events(dict(run, required_action=None))
    return _answer(api, body, events, [])
