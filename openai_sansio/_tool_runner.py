"""The bookkeeping of a tool-calling conversation, for any runtime.

``ToolLoop`` holds the conversation (chat ``messages`` or Responses
``input``), turns each model answer into the tool calls it asks for, and
each set of tool results into the next request body, until the model
answers without calling a tool or the turn limit is reached.  It calls no
tool and sends nothing: the trio adapter (``openai_trio.run_tools``) runs the
tools, concurrently, and the calls.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal

import attrs

from ._errors import LocalProtocolError, OpenAIError

__all__ = ["ToolCall", "ToolLoop", "ToolLoopError", "ToolResult"]

Api = Literal["chat", "responses"]


class ToolLoopError(OpenAIError):
    """A model answer the loop cannot go on from (no choices, a tool call
    without an id)."""


@attrs.frozen
class ToolCall:
    """One function call a model asked for."""

    call_id: str
    name: str
    arguments: str = attrs.field(repr=lambda text: f"<{len(text)} chars>")

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments as a JSON object; ``ValueError`` when they are not one."""
        value = json.loads(self.arguments) if self.arguments.strip() else {}
        if not isinstance(value, dict):
            raise ValueError(f"the arguments of {self.name} are not a JSON object")
        return value


@attrs.frozen
class ToolResult:
    """What a tool gave back (or how it failed), for the model to read."""

    call_id: str
    output: str = attrs.field(repr=lambda text: f"<{len(text)} chars>")
    is_error: bool = False


def _field(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _wire(obj: Any) -> dict[str, Any]:
    if isinstance(obj, Mapping):
        return dict(obj)
    to_dict = getattr(obj, "to_dict", None)
    if to_dict is None:
        raise ToolLoopError(f"cannot send back a {type(obj).__name__} as conversation history")
    out: dict[str, Any] = to_dict()
    return out


class ToolLoop:
    """One tool-calling conversation.

    ``params`` are the create call's keyword arguments (``model``,
    ``messages`` for chat or ``input`` for Responses, ``tools`` and the
    rest); the loop keeps its own copy of the conversation and extends it.
    ``tool_names`` are the functions the caller can run: a call to another
    name gets an error result the model can read, not an exception.
    """

    def __init__(self, api: Api, params: Mapping[str, Any], *, tool_names: Collection[str], max_turns: int) -> None:
        if api not in ("chat", "responses"):
            raise LocalProtocolError(f"api must be 'chat' or 'responses', not {api!r}")
        if isinstance(max_turns, bool) or not isinstance(max_turns, int) or max_turns < 1:
            raise LocalProtocolError(f"max_turns must be a positive int, not {max_turns!r}")
        if params.get("stream"):
            raise LocalProtocolError("run_tools makes its own calls: pass no stream=")
        self.api: Api = api
        self.max_turns = max_turns
        self.turns = 0
        self._names = frozenset(tool_names)
        self._params = dict(params)
        self._pending: tuple[ToolCall, ...] = ()
        if api == "chat":
            messages = params.get("messages")
            if not isinstance(messages, Sequence) or isinstance(messages, (str, bytes)):
                raise LocalProtocolError("run_tools for chat needs messages=[...]")
            self._history: list[Any] = list(messages)
        else:
            given = params.get("input")
            if isinstance(given, str):
                self._history = [{"role": "user", "content": given}]
            elif isinstance(given, Sequence) and not isinstance(given, bytes):
                self._history = list(given)
            else:
                raise LocalProtocolError("run_tools for responses needs input= (a string or a list of items)")

    @property
    def history(self) -> list[Any]:
        """The conversation so far: what the next request sends."""
        return list(self._history)

    @property
    def pending(self) -> tuple[ToolCall, ...]:
        """The calls whose results ``supply`` still waits for."""
        return self._pending

    @property
    def limit_reached(self) -> bool:
        return self.turns >= self.max_turns

    def is_known(self, name: str) -> bool:
        return name in self._names

    def request(self) -> dict[str, Any]:
        """The keyword arguments of the next model call."""
        if self._pending:
            raise LocalProtocolError("supply the results of the pending tool calls first")
        if self.limit_reached:
            raise LocalProtocolError(f"the turn limit ({self.max_turns}) is reached")
        body = dict(self._params)
        body["messages" if self.api == "chat" else "input"] = list(self._history)
        return body

    def take(self, response: Any) -> tuple[ToolCall, ...]:
        """Read a model answer: the function calls it asks for, in order
        (empty: the answer is final).  The answer joins the history."""
        if self._pending:
            raise LocalProtocolError("supply the results of the pending tool calls first")
        self.turns += 1
        calls: list[ToolCall] = []
        if self.api == "chat":
            choices = _field(response, "choices") or ()
            if not choices:
                raise ToolLoopError("the model's answer has no choices")
            message = _field(choices[0], "message")
            if message is None:
                raise ToolLoopError("the model's answer has no message")
            for call in _field(message, "tool_calls") or ():
                if _field(call, "type") not in (None, "function"):
                    continue  # custom tools are not functions this loop runs
                function = _field(call, "function")
                calls.append(self._call(_field(call, "id"), _field(function, "name"), _field(function, "arguments")))
            if calls:
                self._history.append(_wire(message))
        else:
            output = _field(response, "output") or ()
            for item in output:
                if _field(item, "type") == "function_call":
                    calls.append(self._call(_field(item, "call_id"), _field(item, "name"), _field(item, "arguments")))
            if calls:
                # Output items go back as input items as they came (the
                # API takes its own output, reasoning items included).
                self._history.extend(_wire(item) for item in output)
        self._pending = tuple(calls)
        return self._pending

    @staticmethod
    def _call(call_id: object, name: object, arguments: object) -> ToolCall:
        if not isinstance(call_id, str) or not call_id:
            raise ToolLoopError("a tool call came without an id, so its result could not be matched")
        if not isinstance(name, str):
            raise ToolLoopError(f"tool call {call_id} has no function name")
        return ToolCall(call_id, name, arguments if isinstance(arguments, str) else "")

    def supply(self, results: Sequence[ToolResult]) -> None:
        """The results of every pending call (in any order); they join the
        history in the order the calls were made."""
        by_id = {result.call_id: result for result in results}
        wanted = [call.call_id for call in self._pending]
        if len(by_id) != len(results) or set(by_id) != set(wanted):
            raise LocalProtocolError(
                f"results must answer each pending call exactly once (calls: {wanted}, results: "
                f"{[r.call_id for r in results]})"
            )
        for call_id in wanted:
            result = by_id[call_id]
            if self.api == "chat":
                self._history.append({"role": "tool", "tool_call_id": call_id, "content": result.output})
            else:
                self._history.append({"type": "function_call_output", "call_id": call_id, "output": result.output})
        self._pending = ()

