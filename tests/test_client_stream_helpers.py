"""client.chat.completions.stream() and client.responses.stream() against
the fake server: events, text deltas, final objects, tool calls, refusals,
structured outputs, resuming, early exit and cancellation."""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from openai_sansio import (
    LocalProtocolError,
    ResponseCompletedEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
    response_format_from,
    text_format_from,
)
from openai_trio import (
    Client,
    ContentFilterFinishReasonError,
    LengthFinishReasonError,
    ParsedChatCompletion,
    ParsedResponse,
    PoolStats,
    StructuredOutputError,
    function_tool,
)
from openai_trio.testing import FAKE_REPLY, FakeResponse, FakeServer

KEY = "sk-test-stream-helpers"
MESSAGES = [{"role": "user", "content": "Hello"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "strict": True,
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
            "additionalProperties": False,
        },
    },
}
CLOCK = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"tz": {"type": "string", "enum": ["UTC", "CET"]}}}}}
PERSON = {
    "type": "json_schema",
    "json_schema": {
        "name": "person",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}},
            "required": ["name", "tags"],
            "additionalProperties": False,
        },
    },
}


def run(test: Any) -> Any:
    async def main() -> Any:
        async with (
            FakeServer() as server,
            Client(api_key=KEY, base_url="http://fake.test/v1", connector=server.connect, max_retries=0) as client,
        ):
            return await test(server, client)

    return trio.run(main)


def test_chat_text_events_and_final() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        async with client.chat.completions.stream(
            model="gpt-4o-mini", messages=MESSAGES, stream_options={"include_usage": True}
        ) as stream:
            kinds = [event.type async for event in stream]
            final = await stream.get_final_completion()
        assert kinds[0] == "chunk"
        assert kinds.count("content.done") == 1
        assert "content.delta" in kinds
        assert final.choices[0].message.content == FAKE_REPLY
        assert final.choices[0].finish_reason == "stop"
        assert final.usage is not None and final.usage.total_tokens > 0
        assert final.system_fingerprint == "fp_fake"
        assert json.loads(server.requests[-1].body)["stream"] is True
        # The stream ended: its connection carries the next call.
        assert client.pool_stats() == PoolStats(connections=1, idle=1)

    run(test)


def test_chat_text_deltas_and_until_done() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        async with client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
            text = "".join([piece async for piece in stream.text_deltas()])
        assert text == FAKE_REPLY
        async with client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
            await stream.until_done()
            assert stream.current_completion_snapshot.choices[0].message.content == FAKE_REPLY
            assert stream.request_id is None or isinstance(stream.request_id, str)
            assert "ChatCompletionStream" in repr(stream)
        assert server.connections_opened == 1

    run(test)


def test_chat_tool_calls() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        async with client.chat.completions.stream(
            model="gpt-4o", messages=MESSAGES, tools=[WEATHER, CLOCK], tool_choice="required"
        ) as stream:
            events = [event async for event in stream]
            final = await stream.get_final_completion()
        deltas = [e for e in events if e.type == "tool_calls.function.arguments.delta"]
        assert {e.name for e in deltas} == {"get_weather", "get_time"}
        # A strict tool's arguments parse as they stream; as in the SDK, a
        # tool that is not strict gets none.
        assert all(isinstance(e.parsed_arguments, dict) or e.arguments == "" for e in deltas if e.name == "get_weather")
        assert all(e.parsed_arguments is None for e in deltas if e.name == "get_time")
        dones = [e for e in events if e.type == "tool_calls.function.arguments.done"]
        assert [(e.index, e.name, e.arguments, e.parsed_arguments) for e in dones] == [
            (0, "get_weather", '{"city": "example", "days": 1}', {"city": "example", "days": 1}),
            (1, "get_time", '{"tz": "UTC"}', None),
        ]
        message = final.choices[0].message
        assert final.choices[0].finish_reason == "tool_calls"
        assert message.content is None
        assert [c.function.name for c in message.tool_calls or []] == ["get_weather", "get_time"]

    run(test)


def test_chat_refusal() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        server.openai.refusal = "I can't help with that."
        async with client.chat.completions.stream(
            model="gpt-4o", messages=MESSAGES, response_format=PERSON
        ) as stream:
            events = [event async for event in stream]
            final = await stream.get_final_completion()
        assert [e.type for e in events if e.type.startswith("refusal")][-1] == "refusal.done"
        assert not [e for e in events if e.type.startswith("content.")]
        assert final.choices[0].message.refusal == "I can't help with that."
        assert final.choices[0].message.content is None

    run(test)


def test_chat_structured_output_parsed_as_it_streams() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        async with client.chat.completions.stream(
            model="gpt-4o", messages=MESSAGES, response_format=PERSON
        ) as stream:
            events = [event async for event in stream]
        parsed = [e.parsed for e in events if e.type == "content.delta"]
        assert parsed[-1] == {"name": "example", "tags": ["example"]}
        assert len(parsed) > 2
        assert all(isinstance(p, dict) or p is not None for p in parsed[1:])
        done = next(e for e in events if e.type == "content.done")
        assert done.parsed == {"name": "example", "tags": ["example"]}
        assert json.loads(server.requests[-1].body)["response_format"] == PERSON

    run(test)


def test_early_exit_closes_the_stream() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        async with client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
            async for event in stream:
                if event.type == "content.delta":
                    break
            assert client.pool_stats().in_use == 1
        # Left unfinished: the connection was closed, not pooled.
        assert client.pool_stats() == PoolStats()
        async with client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
            async for _ in stream.text_deltas():
                break
        assert client.pool_stats() == PoolStats()
        # And the client goes on.
        async with client.responses.stream(model="gpt-4o-mini", input="Hi") as rstream:
            assert (await rstream.get_final_response()).output_text == FAKE_REPLY
        assert server.connections_opened == 3

    run(test)


def test_error_in_block_closes_the_stream() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        with pytest.raises(KeyError):
            async with client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
                await stream.__anext__()
                raise KeyError("boom")
        assert client.pool_stats() == PoolStats()

    run(test)


def test_cancellation_mid_stream() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        server.enqueue(FakeResponse.sse([{"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m", "choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": None}]}] * 3, delay=10.0, done=False))
        seen: list[str] = []
        with trio.move_on_after(5) as scope:
            async with client.chat.completions.stream(model="m", messages=MESSAGES) as stream:
                async for piece in stream.text_deltas():
                    seen.append(piece)
        assert scope.cancelled_caught
        assert seen == ["a"]
        assert client.pool_stats() == PoolStats()

    async def main() -> None:
        async with (
            FakeServer() as server,
            Client(api_key=KEY, base_url="http://fake.test/v1", connector=server.connect, max_retries=0) as client,
        ):
            await test(server, client)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_misuse_is_refused_before_any_byte() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        with pytest.raises(LocalProtocolError):
            client.chat.completions.stream(model="m", messages=MESSAGES, stream=True)
        with pytest.raises(LocalProtocolError):
            client.responses.stream(model="m", input="x", stream=True)
        with pytest.raises(LocalProtocolError):
            client.responses.stream(model="m", input="x", starting_after=3)
        with pytest.raises(LocalProtocolError):
            client.responses.stream(response_id="resp_1", model="m")
        manager = client.chat.completions.stream(model="m", messages=MESSAGES)
        async with manager as stream:
            await stream.until_done()
        with pytest.raises(RuntimeError):
            async with manager:
                pass
        assert len(server.requests) == 1

    run(test)


def test_responses_stream() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        async with client.responses.stream(model="gpt-4o-mini", input="Hi") as stream:
            events = [event async for event in stream]
            final = await stream.get_final_response()
        kinds = [e.type for e in events]
        assert kinds[0] == "response.created"
        assert kinds[-1] == "response.completed"
        deltas = [e for e in events if isinstance(e, ResponseTextDeltaEvent)]
        assert deltas[-1].snapshot == FAKE_REPLY
        last = events[-1]
        assert isinstance(last, ResponseCompletedEvent)
        assert last.response is final
        assert final.output_text == FAKE_REPLY
        assert final.status == "completed"
        async with client.responses.stream(model="gpt-4o-mini", input="Hi") as stream:
            text = "".join([piece async for piece in stream.text_deltas()])
            assert stream.current_snapshot.output_text == FAKE_REPLY
        assert text == FAKE_REPLY
        assert client.pool_stats() == PoolStats(connections=1, idle=1)

    run(test)


def test_responses_stream_resume() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        async with client.responses.stream(model="gpt-4o-mini", input="Hi", background=True) as first:
            created = await first.__anext__()
        response_id = created.response.id  # type: ignore[union-attr]
        async with client.responses.stream(response_id=response_id, starting_after=4) as stream:
            events = [event async for event in stream]
            final = await stream.get_final_response()
        assert events[0].sequence_number == 5
        assert final.output_text == FAKE_REPLY
        request = server.requests[-1]
        assert request.method == "GET" and request.query["stream"] == ["true"]

    run(test)


def test_responses_structured_text() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        server.openai.reply = '{"name": "Ada", "tags": []}'
        text = {"format": {"type": "json_schema", "name": "person", "schema": PERSON["json_schema"]["schema"]}}  # type: ignore[index]
        async with client.responses.stream(model="gpt-4o-mini", input="Hi", text=text) as stream:
            events = [event async for event in stream]
        parsed = [e.parsed for e in events if isinstance(e, ResponseTextDeltaEvent)]
        assert parsed[-1] == {"name": "Ada", "tags": []}
        done = next(e for e in events if isinstance(e, ResponseTextDoneEvent))
        assert done.parsed == {"name": "Ada", "tags": []}

    run(test)


# -- structured outputs and parsed tool calls ---------------------------------


class Priority(enum.Enum):
    LOW = "low"
    HIGH = "high"


@attrs.define
class Task:
    title: str
    priority: Priority
    subtasks: list[Task]
    due: str | None


@dataclasses.dataclass
class Plan:
    """A plan for the week."""

    owner: str
    tasks: list[Task]


def get_forecast(city: str, days: int = 1) -> str:
    """The forecast for a city."""
    return city


def sent(server: FakeServer) -> Any:
    return json.loads(server.requests[-1].body)


def test_chat_stream_into_a_type() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        async with client.chat.completions.stream(model="gpt-4o", messages=MESSAGES, response_format=Plan) as stream:
            events = [event async for event in stream]
            final = await stream.get_final_completion()
        partial = [e.parsed for e in events if e.type == "content.delta"]
        assert len(partial) > 2 and all(p is None or isinstance(p, dict) for p in partial)
        (done,) = [e for e in events if e.type == "content.done"]
        assert isinstance(done.parsed, Plan) and done.parsed.owner == "example"
        assert done.parsed is done.parsed
        assert isinstance(final, ParsedChatCompletion)
        plan = final.choices[0].message.parsed
        assert isinstance(plan, Plan) and isinstance(plan.tasks[0], Task)
        assert plan.tasks[0].priority is Priority.LOW
        assert plan == done.parsed
        # The same strict schema parse() sends.
        assert sent(server)["response_format"] == response_format_from(Plan)
        assert sent(server)["stream"] is True
        # A mapping format is sent as it is and nothing is built.
        async with client.chat.completions.stream(model="gpt-4o", messages=MESSAGES, response_format=PERSON) as loose:
            untyped = await loose.get_final_completion()
        assert isinstance(untyped, ParsedChatCompletion) and untyped.choices[0].message.parsed is None

    run(test)


def test_chat_stream_refusal_with_a_type() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        server.openai.refusal = "I can't help with that."
        async with client.chat.completions.stream(model="gpt-4o", messages=MESSAGES, response_format=Plan) as stream:
            events = [event async for event in stream]
            final = await stream.get_final_completion()
        assert not [e for e in events if e.type == "content.done"]
        message = final.choices[0].message
        assert message.parsed is None and message.refusal == "I can't help with that."

    run(test)


def test_chat_stream_content_that_does_not_fit() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        server.openai.reply = '{"owner": "me", "tasks": "none"}'
        async with client.chat.completions.stream(model="gpt-4o", messages=MESSAGES, response_format=Plan) as stream:
            events = [event async for event in stream]
            done = next(e for e in events if e.type == "content.done")
            # The stream went to its end; reading the value is what fails.
            with pytest.raises(StructuredOutputError) as info:
                _ = done.parsed
            assert info.value.path == "$.tasks"
            with pytest.raises(StructuredOutputError):
                await stream.get_final_completion()

    run(test)


def test_chat_stream_function_tools_give_typed_arguments() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        tools = [function_tool(get_forecast), function_tool(Task)]
        async with client.chat.completions.stream(
            model="gpt-4o", messages=MESSAGES, tools=tools, tool_choice="required", response_format=Plan
        ) as stream:
            events = [event async for event in stream]
            final = await stream.get_final_completion()
        dones = [e for e in events if e.type == "tool_calls.function.arguments.done"]
        assert [e.name for e in dones] == ["get_forecast", "Task"]
        forecast, task = (e.parsed_arguments for e in dones)
        assert forecast == {"city": "example", "days": 1}
        assert isinstance(task, Task) and task.priority is Priority.LOW
        assert dones[1].parsed_arguments is task
        calls = final.choices[0].message.tool_calls or []
        assert calls[0].function.parsed_arguments == forecast
        assert isinstance(calls[1].function.parsed_arguments, Task)
        assert final.choices[0].message.parsed is None
        assert [t["function"]["strict"] for t in sent(server)["tools"]] == [True, True]
        # Without a response format they parse just the same.
        async with client.chat.completions.stream(
            model="gpt-4o", messages=MESSAGES, tools=[function_tool(Task, api="responses")], tool_choice="required"
        ) as plain:
            untyped = await plain.get_final_completion()
        assert isinstance((untyped.choices[0].message.tool_calls or [])[0].function.parsed_arguments, Task)
        assert sent(server)["tools"][0]["function"]["name"] == "Task"

    run(test)


def scripted_chat(finish_reason: str, *, first: bool = False) -> FakeResponse:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": "chatcmpl-cut", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    if first:
        return FakeResponse.sse([chunk({"role": "assistant", "content": '{"owner": "m'}, finish_reason)])
    return FakeResponse.sse([
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": '{"owner": '}),
        chunk({"content": '"m'}, finish_reason),
    ])


@pytest.mark.parametrize(
    ("finish_reason", "error"),
    [("length", LengthFinishReasonError), ("content_filter", ContentFilterFinishReasonError)],
)
@pytest.mark.parametrize("first", [False, True], ids=["later-chunk", "first-chunk"])
def test_chat_stream_finish_reason_errors(finish_reason: str, error: type[Exception], first: bool) -> None:
    async def test(server: FakeServer, client: Client) -> None:
        server.enqueue(scripted_chat(finish_reason, first=first))
        seen: list[str] = []
        with pytest.raises(error) as info:
            async with client.chat.completions.stream(model="gpt-4o", messages=MESSAGES, response_format=Plan) as stream:
                async for event in stream:
                    seen.append(event.type)
        # Raised as the chunk with the finish reason arrived, holding what came.
        completion = info.value.completion  # type: ignore[attr-defined]
        assert completion.id == "chatcmpl-cut"
        assert completion.choices[0].message.content == '{"owner": "m'
        assert completion.choices[0].finish_reason == finish_reason
        assert "content.done" not in seen
        assert seen.count("chunk") == (0 if first else 2)
        # The block closed the stream (pooled only if its end had been read).
        assert client.pool_stats().in_use == 0
        # A strict tool is something to parse too, as in the SDK.
        server.enqueue(scripted_chat(finish_reason, first=first))
        with pytest.raises(error):
            async with client.chat.completions.stream(
                model="gpt-4o", messages=MESSAGES, tools=[function_tool(get_forecast)]
            ) as stream:
                await stream.get_final_completion()
        # With nothing to parse, a cut stream is just a cut stream.
        server.enqueue(scripted_chat(finish_reason, first=first))
        async with client.chat.completions.stream(model="gpt-4o", messages=MESSAGES, response_format=PERSON) as stream:
            final = await stream.get_final_completion()
        assert final.choices[0].finish_reason == finish_reason
        assert final.choices[0].message.content == '{"owner": "m'

    run(test)


def test_chat_stream_parse_misuse_refused_before_any_byte() -> None:
    loose = {"type": "function", "function": {"name": "loose", "parameters": {"type": "object"}}}

    async def test(server: FakeServer, client: Client) -> None:
        with pytest.raises(LocalProtocolError, match="not strict"):
            client.chat.completions.stream(model="gpt-4o", messages=MESSAGES, response_format=Plan, tools=[loose])
        with pytest.raises(LocalProtocolError, match="function tools"):
            client.chat.completions.stream(
                model="gpt-4o", messages=MESSAGES, response_format=Plan, tools=[{"type": "custom", "custom": {}}]
            )
        with pytest.raises(LocalProtocolError, match="object type"):
            client.chat.completions.stream(model="gpt-4o", messages=MESSAGES, response_format=int)
        with pytest.raises(LocalProtocolError, match=r"Bad\.scores"):
            client.chat.completions.stream(model="gpt-4o", messages=MESSAGES, response_format=Bad)
        with pytest.raises(LocalProtocolError, match="not both"):
            client.responses.stream(model="gpt-4o", input="x", text_format=Plan, text={"format": {"type": "text"}})
        with pytest.raises(LocalProtocolError, match="object type"):
            client.responses.stream(model="gpt-4o", input="x", text_format=str)
        assert server.requests == []
        # Without a type to parse into, the same loose tool is fine (as in the SDK).
        async with client.chat.completions.stream(model="gpt-4o", messages=MESSAGES, tools=[loose]) as stream:
            await stream.until_done()
        assert len(server.requests) == 1

    run(test)


@attrs.define
class Bad:
    scores: dict[str, int]


def test_responses_stream_into_a_type() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        async with client.responses.stream(
            model="gpt-4o", input="Plan my week", text_format=Plan, text={"verbosity": "low"}
        ) as stream:
            events = [event async for event in stream]
            final = await stream.get_final_response()
        (done,) = [e for e in events if isinstance(e, ResponseTextDoneEvent)]
        assert isinstance(done.parsed, Plan) and done.parsed.owner == "example"
        partial = [e.parsed for e in events if isinstance(e, ResponseTextDeltaEvent)]
        assert all(p is None or isinstance(p, dict) for p in partial)
        assert isinstance(final, ParsedResponse)
        assert isinstance(final.output_parsed, Plan) and final.output_parsed == done.parsed
        last = events[-1]
        assert isinstance(last, ResponseCompletedEvent) and last.response is final
        text = sent(server)["text"]
        assert text == {"verbosity": "low", "format": text_format_from(Plan)}

    run(test)


def test_responses_stream_function_tools() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        async with client.responses.stream(
            model="gpt-4o", input="Weather?", tools=[function_tool(get_forecast), function_tool(Task, api="responses")],
            tool_choice="required",
        ) as stream:
            events = [event async for event in stream]
            final = await stream.get_final_response()
        assert any(e.type == "response.function_call_arguments.done" for e in events)
        calls = [item for item in final.output if item.type == "function_call"]
        assert [c.name for c in calls] == ["get_forecast", "Task"]
        assert calls[0].parsed_arguments == {"city": "example", "days": 1}
        assert isinstance(calls[1].parsed_arguments, Task)
        assert [t["name"] for t in sent(server)["tools"]] == ["get_forecast", "Task"]
        assert final.output_parsed is None

    run(test)


def test_responses_stream_resumed_into_a_type() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        async with client.responses.stream(
            model="gpt-4o", input="Plan my week", text_format=Plan, background=True
        ) as first:
            created = await first.__anext__()
        response_id = created.response.id  # type: ignore[union-attr]
        async with client.responses.stream(response_id=response_id, starting_after=3, text_format=Plan) as stream:
            final = await stream.get_final_response()
        assert isinstance(final.output_parsed, Plan)
        assert server.requests[-1].method == "GET"

    run(test)


def test_responses_stream_incomplete_is_not_parsed() -> None:
    base = {"id": "resp_cut", "object": "response", "created_at": 1, "model": "gpt-4o", "output": [],
            "tools": [], "parallel_tool_calls": True, "tool_choice": "auto", "error": None,
            "incomplete_details": None, "instructions": None, "metadata": {}, "temperature": 1.0, "top_p": 1.0}
    message = {"type": "message", "id": "msg_1", "role": "assistant", "status": "in_progress", "content": []}
    at = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    events = [
        {"type": "response.created", "sequence_number": 0, "response": dict(base, status="in_progress")},
        {"type": "response.output_item.added", "sequence_number": 1, "output_index": 0, "item": message},
        {"type": "response.content_part.added", "sequence_number": 2, **at,
         "part": {"type": "output_text", "text": "", "annotations": []}},
        {"type": "response.output_text.delta", "sequence_number": 3, **at, "delta": '{"owner": "m', "logprobs": []},
        {"type": "response.incomplete", "sequence_number": 4, "response": dict(
            base, status="incomplete", incomplete_details={"reason": "max_output_tokens"})},
    ]

    async def test(server: FakeServer, client: Client) -> None:
        server.enqueue(FakeResponse.sse(events, done=False))
        async with client.responses.stream(model="gpt-4o", input="x", text_format=Plan) as stream:
            final = await stream.get_final_response()
        assert isinstance(final, ParsedResponse)
        assert final.status == "incomplete" and final.output_parsed is None
        assert final.output_text == '{"owner": "m'

    run(test)
