"""``client.chat.completions.run_tools()`` and ``client.responses.run_tools()``:
call the model, run the functions it asks for, feed their results back, and
stop on an answer without tool calls or at the turn limit.

The conversation's bookkeeping is the core's ``ToolLoop``; this module runs
the tools: all the calls of one turn at once in a nursery, each under its
own timeout, and an exception from a tool becomes a result the model reads
(``trio.Cancelled`` and other ``BaseException`` s are never caught).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

import attrs
import trio

from openai_sansio import LocalProtocolError, StructuredOutputError
from openai_sansio._tool_runner import Api, ToolCall, ToolLoop, ToolResult

__all__ = ["Tool", "ToolRun", "ToolRunResult", "run_tools", "tool"]

R = TypeVar("R")
ToolFunction = Callable[..., Any]
_DEFAULT_TOOL_TIMEOUT = 60.0


def _check_seconds(name: str, value: float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or math.isnan(value):
        raise LocalProtocolError(f"{name} must be a positive number of seconds or None, not {value!r}")


class Tool:
    """A function the model may call.

    ``parameters`` is the JSON schema of its keyword arguments; without it
    the schema is built from the function's signature (strict mode: every
    parameter required, optional ones nullable).  ``timeout`` overrides the
    runner's ``tool_timeout`` for this tool.  The function may be ``async``
    (awaited in the run's nursery) or plain (run in a worker thread, so a
    blocking one does not stall the others).
    """

    __slots__ = ("_typed", "description", "function", "name", "parameters", "strict", "timeout")

    def __init__(
        self,
        function: ToolFunction,
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        strict: bool = True,
        timeout: float | None = None,
    ) -> None:
        if not callable(function):
            raise LocalProtocolError(f"a tool must be callable, not {type(function).__name__}")
        if isinstance(function, type):
            # Calling a class only builds it: the model would be calling
            # nothing.  A class of parameters belongs in a function's signature.
            raise LocalProtocolError(
                f"a tool runs a function, not the class {function.__name__}: write a function "
                f"taking it, such as def run(arguments: {function.__name__})"
            )
        _check_seconds("timeout", timeout)
        self.function = function
        self.name = name or getattr(function, "__name__", None) or ""
        if not self.name or not all(c.isalnum() or c in "_-" for c in self.name) or len(self.name) > 64:
            raise LocalProtocolError(
                f"tool name {self.name!r} must be 1-64 letters, digits, underscores or dashes"
            )
        doc = inspect.getdoc(function) if description is None else description
        self.description = doc or None
        # A schema built from the signature also builds the arguments: a
        # nested class, an enum or a list of them arrives as that type.
        self._typed = parameters is None
        self.parameters = dict(parameters) if parameters is not None else _schema_of(function, strict)
        self.strict = strict
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"

    def definition(self, api: Api) -> dict[str, Any]:
        """The entry of the request's ``tools`` list."""
        fields: dict[str, Any] = {"name": self.name, "parameters": self.parameters, "strict": self.strict}
        if self.description:
            fields["description"] = self.description
        if api == "chat":
            return {"type": "function", "function": fields}
        return {"type": "function", **fields}

    def arguments_from(self, call: ToolCall) -> dict[str, Any]:
        """The keyword arguments of a call (``ValueError`` when they do not
        fit: the model reads why)."""
        if not self._typed:
            return call.parsed_arguments()
        from openai_sansio._structured import parse_tool_arguments

        built: dict[str, Any] = parse_tool_arguments(self.function, call.arguments or "{}")
        return built

    async def invoke(self, arguments: Mapping[str, Any]) -> Any:
        if inspect.iscoroutinefunction(self.function):
            return await self.function(**arguments)
        result = await trio.to_thread.run_sync(lambda: self.function(**arguments))
        if inspect.isawaitable(result):
            return await result
        return result


def tool(
    function: ToolFunction | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    strict: bool = True,
    timeout: float | None = None,
) -> Any:
    """``@tool`` or ``@tool(timeout=5)`` over a function: the ``Tool`` for it."""

    def make(fn: ToolFunction) -> Tool:
        return Tool(fn, name=name, description=description, parameters=parameters, strict=strict, timeout=timeout)

    return make if function is None else make(function)


def _schema_of(function: ToolFunction, strict: bool) -> dict[str, Any]:
    # The schema builder of structured outputs, loaded only when a tool
    # leaves its schema to it.
    from openai_sansio._structured import parameters_schema

    return parameters_schema(function, strict=strict)


@attrs.frozen
class ToolRun:
    """One tool call and what came of it."""

    call: ToolCall
    result: ToolResult


@attrs.frozen
class ToolRunResult(Generic[R]):
    """How a ``run_tools`` call ended.

    ``response`` is the model's last answer: the final one when
    ``stop_reason == "final"``; with ``"turn_limit"`` it is the answer whose
    tool calls were not run.  ``history`` is the whole conversation
    (``messages`` for chat, ``input`` items for Responses), ready to send
    again; ``runs`` every tool call made, in order.
    """

    response: R
    stop_reason: Literal["final", "turn_limit"]
    turns: int
    history: list[Any] = attrs.field(repr=lambda h: f"<{len(h)} items>")
    runs: tuple[ToolRun, ...] = attrs.field(repr=lambda r: f"<{len(r)} runs>")


def _as_output(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    elif attrs.has(type(value)):
        value = attrs.asdict(value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


async def _run_one(call: ToolCall, found: Tool | None, default_timeout: float | None) -> ToolResult:
    if found is None:
        return ToolResult(call.call_id, f"error: there is no tool named {call.name!r}", is_error=True)
    try:
        arguments = found.arguments_from(call)
    except (ValueError, StructuredOutputError) as exc:
        return ToolResult(call.call_id, f"error: the arguments do not fit the tool's parameters ({exc})", is_error=True)
    limit = found.timeout if found.timeout is not None else default_timeout
    with trio.move_on_after(math.inf if limit is None else limit) as scope:
        try:
            value = await found.invoke(arguments)
        except Exception as exc:  # the model reads what went wrong and may try again
            return ToolResult(call.call_id, f"error: {type(exc).__name__}: {exc}", is_error=True)
    if scope.cancelled_caught:
        return ToolResult(call.call_id, f"error: the tool did not finish within {limit:g} seconds", is_error=True)
    return ToolResult(call.call_id, _as_output(value))


async def _run_at(
    results: list[ToolResult | None],
    index: int,
    call: ToolCall,
    found: Tool | None,
    default_timeout: float | None,
    limiter: trio.CapacityLimiter | None,
) -> None:
    if limiter is None:
        results[index] = await _run_one(call, found, default_timeout)
        return
    async with limiter:
        results[index] = await _run_one(call, found, default_timeout)


async def run_tools(
    create: Callable[..., Awaitable[R]],
    api: Api,
    params: Mapping[str, Any],
    tools: Sequence[Tool | ToolFunction | Mapping[str, Any]],
    *,
    max_turns: int = 10,
    tool_timeout: float | None = _DEFAULT_TOOL_TIMEOUT,
    max_concurrent_tools: int | None = None,
) -> ToolRunResult[R]:
    """The loop behind the ``run_tools`` methods; ``create`` makes one model call."""
    _check_seconds("tool_timeout", tool_timeout)
    if max_concurrent_tools is not None and (
        isinstance(max_concurrent_tools, bool) or not isinstance(max_concurrent_tools, int) or max_concurrent_tools < 1
    ):
        raise LocalProtocolError(f"max_concurrent_tools must be a positive int or None, not {max_concurrent_tools!r}")
    runnable: dict[str, Tool] = {}
    definitions: list[Any] = []
    for entry in tools:
        if isinstance(entry, Mapping):
            definitions.append(dict(entry))  # a hosted tool, or a definition run elsewhere
            continue
        made = entry if isinstance(entry, Tool) else Tool(entry)
        if made.name in runnable:
            raise LocalProtocolError(f"two tools are named {made.name!r}")
        runnable[made.name] = made
        definitions.append(made.definition(api))
    if "tools" in params:
        raise LocalProtocolError("pass every tool in run_tools' tools=, runnable or not")
    loop = ToolLoop(api, {**params, "tools": definitions}, tool_names=runnable, max_turns=max_turns)
    limiter = trio.CapacityLimiter(max_concurrent_tools) if max_concurrent_tools is not None else None
    runs: list[ToolRun] = []
    while True:
        response = await create(**loop.request())
        calls = loop.take(response)
        if not calls:
            return ToolRunResult(response, "final", loop.turns, loop.history, tuple(runs))
        if loop.limit_reached:
            return ToolRunResult(response, "turn_limit", loop.turns, loop.history, tuple(runs))
        results: list[ToolResult | None] = [None] * len(calls)
        async with trio.open_nursery() as nursery:
            for index, call in enumerate(calls):
                nursery.start_soon(_run_at, results, index, call, runnable.get(call.name), tool_timeout, limiter)
        done = [result for result in results if result is not None]
        loop.supply(done)
        runs.extend(ToolRun(call, result) for call, result in zip(calls, done, strict=True))


class _ToolRunnerMixin:
    """``run_tools`` over a namespace's ``create``; ``_api`` says which API."""

    __slots__ = ()
    _api: ClassVar[Api]

    if TYPE_CHECKING:
        create: Callable[..., Awaitable[Any]]

    async def run_tools(
        self,
        *,
        tools: Sequence[Tool | ToolFunction | Mapping[str, Any]],
        max_turns: int = 10,
        tool_timeout: float | None = _DEFAULT_TOOL_TIMEOUT,
        max_concurrent_tools: int | None = None,
        **params: Any,
    ) -> ToolRunResult[Any]:
        """Call the model until it answers without calling a tool.

        ``params`` are ``create``'s (``model``, ``messages`` or ``input``,
        ...; no ``stream``); ``tools`` are ``Tool`` s, plain functions, or
        tool definitions (dicts) passed through as they are.  Returns a
        ``ToolRunResult`` whose ``response`` is the model's last answer.
        Over the Responses API the conversation is sent whole as ``input``
        each turn (output items included), so it works with ``store=False``.
        """
        return await run_tools(
            self.create, self._api, params, tools,
            max_turns=max_turns, tool_timeout=tool_timeout, max_concurrent_tools=max_concurrent_tools,
        )


class ChatCompletionsToolRunner(_ToolRunnerMixin):
    """Mixed into ``client.chat.completions``."""

    __slots__ = ()
    _api = "chat"


class ResponsesToolRunner(_ToolRunnerMixin):
    """Mixed into ``client.responses``."""

    __slots__ = ()
    _api = "responses"
