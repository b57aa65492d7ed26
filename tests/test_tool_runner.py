"""The tool runner (issue 10): the core's ToolLoop, and run_tools on
``client.chat.completions`` and ``client.responses`` against scripted models
on the fake server."""

from __future__ import annotations

import dataclasses
import enum
import json
import types
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import pytest
import trio
import trio.lowlevel
import trio.testing

import openai_trio
from openai_sansio import LocalProtocolError
from openai_sansio._tool_runner import ToolCall, ToolLoop, ToolLoopError, ToolResult
from openai_trio import Client, Tool, tool
from openai_trio.testing import FakeResponse, FakeServer, ReceivedRequest

KEY = "sk-test-tools"
MESSAGES = [{"role": "user", "content": "What is the weather in Paris and in Rome?"}]
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}


def completion(message: dict[str, Any], finish: str = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": finish, "message": {"role": "assistant", **message}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def calls(*pairs: tuple[str, dict[str, Any] | str]) -> dict[str, Any]:
    return completion(
        {
            "content": None,
            "refusal": None,
            "tool_calls": [
                {"id": f"call_{i}", "type": "function",
                 "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}}
                for i, (name, args) in enumerate(pairs)
            ],
        },
        "tool_calls",
    )


def answer(text: str) -> dict[str, Any]:
    return completion({"content": text, "refusal": None})


def response(output: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": "resp_1", "object": "response", "created_at": 0, "model": "gpt-4o-mini", "status": "completed",
        "output": output, "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
        "error": None, "incomplete_details": None, "instructions": None, "metadata": {},
        "temperature": 1.0, "top_p": 1.0,
    }


class ScriptedModel:
    """Answers each model call with the next scripted body, keeping the requests."""

    def __init__(self, *bodies: dict[str, Any]) -> None:
        self.bodies = list(bodies)
        self.seen: list[dict[str, Any]] = []

    def __call__(self, request: ReceivedRequest) -> FakeResponse:
        self.seen.append(request.json())
        return FakeResponse.json(self.bodies.pop(0))


@asynccontextmanager
async def fake(path: str, model: ScriptedModel) -> AsyncIterator[tuple[FakeServer, Client]]:
    async with FakeServer() as server, Client(
        api_key=KEY, base_url="http://fake.test/v1", connector=server.connect, max_retries=0
    ) as client:
        server.route("POST", path, model)
        yield server, client


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


@attrs.frozen
class Place:
    city: str
    country: str | None = None


async def forecast(place: Place, unit: Unit = Unit.CELSIUS, days: int = 1) -> str:
    """The forecast for a place."""
    return f"{place.city}/{place.country}: {days} day(s) in {unit.value}"


def weather_tool(fn: Any, **options: Any) -> Tool:
    return Tool(fn, name="get_weather", parameters=WEATHER_SCHEMA, **options)


# --- the core's loop -------------------------------------------------------------------


def test_chat_loop_keeps_the_conversation() -> None:
    loop = ToolLoop("chat", {"model": "m", "messages": MESSAGES, "tools": []}, tool_names={"get_weather"}, max_turns=3)
    assert loop.request()["messages"] == MESSAGES
    found = loop.take(calls(("get_weather", {"city": "Paris"}), ("nope", "{}")))
    assert [(c.call_id, c.name) for c in found] == [("call_0", "get_weather"), ("call_1", "nope")]
    assert found[0].parsed_arguments() == {"city": "Paris"}
    assert loop.is_known("get_weather") and not loop.is_known("nope")
    with pytest.raises(LocalProtocolError, match="pending"):
        loop.request()
    with pytest.raises(LocalProtocolError, match="exactly once"):
        loop.supply([ToolResult("call_0", "sunny")])
    with pytest.raises(LocalProtocolError, match="exactly once"):
        loop.supply([ToolResult("call_0", "a"), ToolResult("call_0", "b")])
    loop.supply([ToolResult("call_1", "no such tool", is_error=True), ToolResult("call_0", "sunny")])
    history = loop.request()["messages"]
    assert history[1]["role"] == "assistant" and len(history[1]["tool_calls"]) == 2
    assert history[2:] == [
        {"role": "tool", "tool_call_id": "call_0", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_1", "content": "no such tool"},
    ]
    assert loop.take(answer("Sunny.")) == ()
    assert loop.turns == 2 and not loop.limit_reached
    assert len(loop.history) == 4  # the final answer is not history to send


def test_responses_loop_sends_output_items_back_as_input() -> None:
    loop = ToolLoop("responses", {"model": "m", "input": "Weather?"}, tool_names={"get_weather"}, max_turns=2)
    assert loop.request()["input"] == [{"role": "user", "content": "Weather?"}]
    reasoning = {"type": "reasoning", "id": "rs_1", "summary": []}
    call = {"type": "function_call", "id": "fc_1", "call_id": "call_9", "name": "get_weather",
            "arguments": '{"city": "Rome"}', "status": "completed"}
    found = loop.take(response([reasoning, call]))
    assert found == (ToolCall("call_9", "get_weather", '{"city": "Rome"}'),)
    loop.supply([ToolResult("call_9", "rain")])
    assert loop.request()["input"][1:] == [
        reasoning, call, {"type": "function_call_output", "call_id": "call_9", "output": "rain"}
    ]
    assert loop.take(response([{"type": "message", "id": "m", "role": "assistant", "status": "completed",
                                 "content": [{"type": "output_text", "text": "Rain.", "annotations": []}]}])) == ()
    assert loop.limit_reached
    with pytest.raises(LocalProtocolError, match="turn limit"):
        loop.request()
    listed = ToolLoop("responses", {"model": "m", "input": [{"role": "user", "content": "x"}]},
                      tool_names=(), max_turns=1)
    assert listed.history == [{"role": "user", "content": "x"}]


def test_loop_refuses_what_it_cannot_go_on_from() -> None:
    loop = ToolLoop("chat", {"model": "m", "messages": []}, tool_names=(), max_turns=5)
    with pytest.raises(ToolLoopError, match="no choices"):
        loop.take({"choices": []})
    with pytest.raises(ToolLoopError, match="no message"):
        loop.take({"choices": [{"index": 0}]})
    with pytest.raises(ToolLoopError, match="without an id"):
        loop.take({"choices": [{"message": {"tool_calls": [{"type": "function", "function": {"name": "f"}}]}}]})
    with pytest.raises(ToolLoopError, match="no function name"):
        loop.take({"choices": [{"message": {"tool_calls": [{"id": "c", "function": {}}]}}]})
    # A custom (non-function) tool call is not this loop's to run.
    assert loop.take({"choices": [{"message": {"tool_calls": [{"id": "c", "type": "custom"}]}}]}) == ()
    # A message that is neither a mapping nor a model cannot join the history.
    message = types.SimpleNamespace(tool_calls=[{"id": "c", "type": "function", "function": {"name": "f"}}])
    with pytest.raises(ToolLoopError, match="cannot send back"):
        loop.take({"choices": [{"message": message}]})


@pytest.mark.parametrize(
    ("api", "params", "turns", "message"),
    [
        ("chat", {"messages": []}, 0, "max_turns"),
        ("chat", {"messages": []}, True, "max_turns"),
        ("chat", {"messages": [], "stream": True}, 1, "stream"),
        ("chat", {"messages": "hi"}, 1, "messages"),
        ("chat", {}, 1, "messages"),
        ("responses", {"input": b"x"}, 1, "input"),
        ("responses", {}, 1, "input"),
        ("completions", {}, 1, "api"),
    ],
)
def test_loop_misuse(api: Any, params: dict[str, Any], turns: Any, message: str) -> None:
    with pytest.raises(LocalProtocolError, match=message):
        ToolLoop(api, {"model": "m", **params}, tool_names=(), max_turns=turns)


def test_tool_call_arguments() -> None:
    assert ToolCall("c", "f", "  ").parsed_arguments() == {}
    with pytest.raises(ValueError, match="not a JSON object"):
        ToolCall("c", "f", "[1]").parsed_arguments()
    with pytest.raises(ValueError):
        ToolCall("c", "f", "{oops").parsed_arguments()
    assert "oops" not in repr(ToolCall("c", "f", "{oops"))


# --- run_tools over chat completions ------------------------------------------------------


async def test_chat_tools_run_at_once_and_their_results_go_back() -> None:
    model = ScriptedModel(calls(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})),
                          answer("Sunny in Paris, rain in Rome."))
    both_started = trio.Event()
    started: list[str] = []

    async def get_weather(city: str) -> dict[str, str]:
        started.append(city)
        if len(started) == 2:
            both_started.set()
        # Each waits for the other: this returns only if they run at once.
        with trio.fail_after(5):
            await both_started.wait()
        return {"city": city, "sky": "sunny" if city == "Paris" else "rain"}

    async with fake("/v1/chat/completions", model) as (_, client):
        result = await client.chat.completions.run_tools(
            model="gpt-4o-mini", messages=MESSAGES, tools=[weather_tool(get_weather)]
        )
    assert result.stop_reason == "final" and result.turns == 2
    assert result.response.choices[0].message.content == "Sunny in Paris, rain in Rome."
    first, second = model.seen
    assert first["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "parameters": WEATHER_SCHEMA, "strict": True}}]
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "tool", "tool"]
    assert json.loads(second["messages"][2]["content"]) == {"city": "Paris", "sky": "sunny"}
    assert second["messages"][3]["tool_call_id"] == "call_1"
    assert [run.call.name for run in result.runs] == ["get_weather", "get_weather"]
    assert len(result.history) == 4 and "items" in repr(result)


async def test_tool_failures_become_results_the_model_reads(autojump_clock: trio.testing.MockClock) -> None:
    model = ScriptedModel(
        calls(("explode", {}), ("slow", {}), ("missing", {}), ("get_weather", "{not json"), ("sync", {"n": 2})),
        answer("done"),
    )

    async def explode() -> None:
        raise ValueError("the sensor is offline")

    async def slow() -> str:
        await trio.sleep(100)
        return "late"

    def sync(n: int) -> list[int]:
        return list(range(n))

    tools = [
        Tool(explode, parameters={"type": "object", "properties": {}}),
        Tool(slow, parameters={"type": "object", "properties": {}}, timeout=5),
        weather_tool(lambda city: city),
        Tool(sync, parameters={"type": "object", "properties": {"n": {"type": "integer"}}}),
    ]
    async with fake("/v1/chat/completions", model) as (_, client):
        result = await client.chat.completions.run_tools(model="m", messages=MESSAGES, tools=tools)
    outputs = [m["content"] for m in model.seen[1]["messages"][2:]]
    assert outputs == [
        "error: ValueError: the sensor is offline",
        "error: the tool did not finish within 5 seconds",
        "error: there is no tool named 'missing'",
        outputs[3],
        "[0, 1]",
    ]
    assert outputs[3].startswith("error: the arguments do not fit the tool's parameters")
    assert [run.result.is_error for run in result.runs] == [True, True, True, True, False]


async def test_the_turn_limit_stops_the_loop() -> None:
    model = ScriptedModel(*[calls(("get_weather", {"city": "Oslo"}))] * 3)
    ran: list[str] = []

    async def get_weather(city: str) -> str:
        ran.append(city)
        return "snow"

    async with fake("/v1/chat/completions", model) as (_, client):
        result = await client.chat.completions.run_tools(
            model="m", messages=MESSAGES, tools=[weather_tool(get_weather)], max_turns=3
        )
    assert result.stop_reason == "turn_limit" and result.turns == 3
    assert ran == ["Oslo", "Oslo"]  # the last turn's calls are not run
    assert result.response.choices[0].finish_reason == "tool_calls"


async def test_max_concurrent_tools() -> None:
    model = ScriptedModel(calls(*[("get_weather", {"city": str(i)}) for i in range(4)]), answer("ok"))
    running = 0
    most = 0

    async def get_weather(city: str) -> str:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await trio.lowlevel.checkpoint()
        await trio.lowlevel.checkpoint()
        running -= 1
        return city

    async with fake("/v1/chat/completions", model) as (_, client):
        await client.chat.completions.run_tools(
            model="m", messages=MESSAGES, tools=[weather_tool(get_weather)], max_concurrent_tools=1
        )
    assert most == 1


async def test_cancelling_the_run_cancels_its_tools() -> None:
    model = ScriptedModel(calls(("get_weather", {"city": "Paris"})))
    entered = trio.Event()
    cancelled = False

    async def get_weather(city: str) -> str:
        nonlocal cancelled
        entered.set()
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            cancelled = True
            raise
        return city  # pragma: no cover - never reached

    async with fake("/v1/chat/completions", model) as (_, client), trio.open_nursery() as nursery:

        async def run() -> None:
            await client.chat.completions.run_tools(model="m", messages=MESSAGES, tools=[weather_tool(get_weather)])

        nursery.start_soon(run)
        with trio.fail_after(5):
            await entered.wait()
        nursery.cancel_scope.cancel()
    assert cancelled


async def test_results_are_encoded_for_the_model() -> None:
    @dataclasses.dataclass
    class Forecast:
        sky: str

    @attrs.define
    class Wind:
        knots: int

    values: list[Any] = [Forecast("clear"), Wind(12), None, {"é": 1}, {1, 2}.__class__.__name__]
    model = ScriptedModel(calls(*[("get_weather", {"city": str(i)}) for i in range(len(values))]), answer("ok"))

    async def get_weather(city: str) -> Any:
        return values[int(city)]

    async with fake("/v1/chat/completions", model) as (_, client):
        await client.chat.completions.run_tools(model="m", messages=MESSAGES, tools=[weather_tool(get_weather)])
    outputs = [m["content"] for m in model.seen[1]["messages"][2:]]
    assert outputs == ['{"sky": "clear"}', '{"knots": 12}', "", '{"é": 1}', "set"]


async def test_hosted_tools_pass_through_and_the_decorator() -> None:
    model = ScriptedModel(answer("hi"))

    @tool(timeout=3, parameters=WEATHER_SCHEMA)
    async def lookup(city: str) -> str:
        """Look a city up."""
        return city

    assert isinstance(lookup, Tool) and lookup.timeout == 3 and lookup.description == "Look a city up."
    async with fake("/v1/chat/completions", model) as (_, client):
        result = await client.chat.completions.run_tools(
            model="m", messages=MESSAGES, tools=[lookup, {"type": "custom", "custom": {"name": "grammar"}}]
        )
    assert result.stop_reason == "final" and result.runs == ()
    sent = model.seen[0]["tools"]
    assert sent[0]["function"]["description"] == "Look a city up."
    assert sent[1] == {"type": "custom", "custom": {"name": "grammar"}}


async def test_misuse_is_refused_before_anything_is_sent() -> None:
    model = ScriptedModel()

    async def f(city: str) -> str:
        return city

    async with fake("/v1/chat/completions", model) as (server, client):
        create = client.chat.completions.run_tools
        cases: list[tuple[dict[str, Any], str]] = [
            ({"tools": [weather_tool(f), weather_tool(f)]}, "two tools"),
            ({"tools": [weather_tool(f)], "stream": True}, "stream"),
            ({"tools": [weather_tool(f)], "tool_timeout": 0}, "tool_timeout"),
            ({"tools": [weather_tool(f)], "max_concurrent_tools": 0}, "max_concurrent_tools"),
            ({"tools": [weather_tool(f)], "max_turns": 0}, "max_turns"),
        ]
        for options, message in cases:
            with pytest.raises(LocalProtocolError, match=message):
                await create(model="m", messages=MESSAGES, **options)
        assert server.requests == []
    with pytest.raises(LocalProtocolError, match="callable"):
        Tool("not a function", parameters={})  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="tool name"):
        Tool(f, name="has space", parameters={})
    with pytest.raises(LocalProtocolError, match="timeout"):
        Tool(f, parameters={}, timeout=-1)
    assert repr(weather_tool(f)) == "Tool('get_weather')"


# --- run_tools over the Responses API ---------------------------------------------------------


async def test_responses_tools_round_trip() -> None:
    call = {"type": "function_call", "id": "fc_1", "call_id": "call_7", "name": "get_weather",
            "arguments": '{"city": "Rome"}', "status": "completed"}
    final = {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": "Rain in Rome.", "annotations": []}]}
    model = ScriptedModel(response([call]), response([final]))

    async def get_weather(city: str) -> str:
        return f"rain in {city}"

    async with fake("/v1/responses", model) as (_, client):
        result = await client.responses.run_tools(
            model="gpt-4o-mini", input="Weather in Rome?", tools=[weather_tool(get_weather)], store=False
        )
    assert result.stop_reason == "final"
    assert result.response.output_text == "Rain in Rome."
    first, second = model.seen
    assert first["tools"] == [{"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA,
                               "strict": True}]
    assert first["store"] is False
    assert second["input"] == [
        {"role": "user", "content": "Weather in Rome?"},
        call,
        {"type": "function_call_output", "call_id": "call_7", "output": "rain in Rome"},
    ]


def test_exported() -> None:
    for name in ("Tool", "tool", "ToolRunResult", "ToolRun"):
        assert name in openai_trio.__all__


async def test_a_schema_from_the_signature_and_typed_arguments() -> None:
    model = ScriptedModel(
        calls(
            ("forecast", {"place": {"city": "Oslo", "country": "NO"}, "unit": "fahrenheit", "days": 3}),
            ("forecast", {"place": {"city": "Rome", "country": None}, "unit": None, "days": None}),
            ("forecast", {"place": {"city": 7}, "unit": "kelvin"}),
        ),
        answer("ok"),
    )
    made = Tool(forecast)
    assert made.description == "The forecast for a place."
    schema = made.parameters
    assert schema["additionalProperties"] is False
    assert sorted(schema["required"]) == ["days", "place", "unit"]  # strict: all required
    async with fake("/v1/chat/completions", model) as (_, client):
        result = await client.chat.completions.run_tools(model="m", messages=MESSAGES, tools=[forecast])
    sent = model.seen[0]["tools"][0]["function"]
    assert sent["name"] == "forecast" and sent["strict"] is True and sent["parameters"] == schema
    outputs = [run.result.output for run in result.runs]
    assert outputs[0] == "Oslo/NO: 3 day(s) in fahrenheit"
    assert outputs[1] == "Rome/None: 1 day(s) in celsius"  # null leaves the defaults
    assert outputs[2].startswith("error: the arguments do not fit the tool's parameters")
    assert result.runs[2].result.is_error
