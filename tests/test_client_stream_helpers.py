"""client.chat.completions.stream() and client.responses.stream() against
the fake server: events, text deltas, final objects, tool calls, refusals,
structured outputs, resuming, early exit and cancellation."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio
import trio.testing

from openai_sansio import (
    LocalProtocolError,
    ResponseCompletedEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)
from openai_trio import Client, PoolStats
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
        # Arguments parse as they stream.
        assert all(isinstance(e.parsed_arguments, dict) or e.arguments == "" for e in deltas)
        dones = [e for e in events if e.type == "tool_calls.function.arguments.done"]
        assert [(e.index, e.name, e.parsed_arguments) for e in dones] == [
            (0, "get_weather", {"city": "example", "days": 1}),
            (1, "get_time", {"tz": "UTC"}),
        ]
        message = final.choices[0].message
        assert final.choices[0].finish_reason == "tool_calls"
        assert message.content is None
        assert [c.function.name for c in message.tool_calls or []] == ["get_weather", "get_time"]  # type: ignore[union-attr]

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
