"""client.beta.threads.runs.stream(), .submit_tool_outputs_stream() and
client.beta.threads.create_and_run_stream() against the fake server: events
by name, text deltas, final run and messages, a tool call round trip, early
exit, server errors, cancellation and misuse."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio
import trio.testing

from openai_sansio import APIStreamError, LocalProtocolError, MessageDeltaEvent, RunStepDeltaEvent
from openai_sansio.types import assistants
from openai_trio import AsyncAssistantStream, Client, PoolStats
from openai_trio.testing import FAKE_REPLY, FakeResponse, FakeServer, format_sse

KEY = "sk-test-assistant-stream"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def run(test: Any, clock: Any = None) -> Any:
    async def main() -> Any:
        async with (
            FakeServer() as server,
            Client(api_key=KEY, base_url="http://fake.test/v1", connector=server.connect, max_retries=0) as client,
        ):
            return await test(server, client)

    return trio.run(main, clock=clock)


def test_run_stream_events_and_finals() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        async with client.beta.threads.runs.stream(thread_id="thread_1", assistant_id="asst_1") as stream:
            assert isinstance(stream, AsyncAssistantStream)
            events = [event async for event in stream]
            run = await stream.get_final_run()
            messages: list[Any] = await stream.get_final_messages()
            steps = await stream.get_final_run_steps()
        names = [e.event for e in events]
        assert names[:3] == ["thread.run.created", "thread.run.queued", "thread.run.in_progress"]
        assert names[-1] == "thread.run.completed"
        assert "done" not in names
        assert isinstance(events[0], assistants.ThreadRunCreated)
        deltas: list[Any] = [e for e in events if isinstance(e, MessageDeltaEvent)]
        assert deltas and deltas[-1].snapshot.content[0].text.value == FAKE_REPLY
        assert run.status == "completed" and stream.current_run is run
        assert [m.content[0].text.value for m in messages] == [FAKE_REPLY]
        assert [s.type for s in steps] == ["message_creation"]
        request = server.requests[-1]
        assert request.path == "/v1/threads/thread_1/runs"
        assert json.loads(request.body) == {"assistant_id": "asst_1", "stream": True}
        assert KEY not in repr(stream)
        # Finished: its connection went back to the pool and is reused.
        async with client.beta.threads.runs.stream(thread_id="thread_1", assistant_id="asst_1") as again:
            await again.until_done()
        assert server.connections_opened == 1

    run(test)


def test_create_and_run_stream_text_deltas() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        async with client.beta.threads.create_and_run_stream(assistant_id="asst_1", instructions="Be brief") as stream:
            pieces = [piece async for piece in stream.text_deltas()]
            assert stream.current_message_snapshot is not None
        assert len(pieces) > 1 and "".join(pieces) == FAKE_REPLY
        assert server.requests[-1].path == "/v1/threads/runs"

        async with client.beta.threads.create_and_run_stream(assistant_id="asst_1") as stream:
            first = await stream.__anext__()
        assert first.event == "thread.created" and isinstance(first, assistants.ThreadStreamEvent)

    run(test)


def test_tool_call_round_trip() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        async with client.beta.threads.runs.stream(
            thread_id="thread_1", assistant_id="asst_1", tools=[WEATHER], tool_choice="required"
        ) as stream:
            snapshots: list[Any] = [e.snapshot async for e in stream if isinstance(e, RunStepDeltaEvent)]
            run: Any = await stream.get_final_run()
        assert run.status == "requires_action"
        call = snapshots[-1].step_details.tool_calls[0]
        assert call.function.name == "get_weather"
        assert json.loads(call.function.arguments) == {"city": "example"}
        (wanted,) = run.required_action.submit_tool_outputs.tool_calls
        assert wanted.id == call.id

        async with client.beta.threads.runs.submit_tool_outputs_stream(
            thread_id="thread_1", run_id=run.id, tool_outputs=[{"tool_call_id": wanted.id, "output": "sunny"}]
        ) as stream:
            text = "".join([piece async for piece in stream.text_deltas()])
            final = await stream.get_final_run()
        assert text == FAKE_REPLY
        assert final.id == run.id and final.status == "completed"
        assert server.requests[-1].path == f"/v1/threads/thread_1/runs/{run.id}/submit_tool_outputs"

    run(test)


def test_early_exit_closes_the_stream() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        async with client.beta.threads.runs.stream(thread_id="t", assistant_id="a") as stream:
            async for event in stream:
                if event.event == "thread.message.delta":
                    break
            assert client.pool_stats().in_use == 1
        assert client.pool_stats() == PoolStats()
        async with client.beta.threads.runs.stream(thread_id="t", assistant_id="a") as stream:
            async for _ in stream.text_deltas():
                break
        assert client.pool_stats() == PoolStats()
        with pytest.raises(KeyError):
            async with client.beta.threads.runs.stream(thread_id="t", assistant_id="a") as stream:
                await stream.__anext__()
                raise KeyError("boom")
        assert client.pool_stats() == PoolStats()
        async with client.beta.threads.create_and_run_stream(assistant_id="a") as stream:
            assert len(await stream.get_final_messages()) == 1
        assert server.connections_opened == 4

    run(test)


def test_server_error_event() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        created = {"id": "run_1", "object": "thread.run", "status": "queued"}
        server.enqueue(FakeResponse.sse([
            format_sse(created, event="thread.run.created"),
            format_sse({"message": "The run broke", "type": "server_error"}, event="error"),
        ], done=False))
        seen: list[str] = []
        with pytest.raises(APIStreamError) as caught:
            async with client.beta.threads.runs.stream(thread_id="t", assistant_id="a") as stream:
                async for event in stream:
                    seen.append(event.event)
        assert seen == ["thread.run.created"]
        assert caught.value.message == "The run broke"
        assert client.pool_stats() == PoolStats()

    run(test)


def test_unknown_events_pass_through() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        server.enqueue(FakeResponse.sse([
            format_sse({"id": "x"}, event="thread.something_new"),
            format_sse("[DONE]", event="done"),
        ], done=False))
        async with client.beta.threads.runs.stream(thread_id="t", assistant_id="a") as stream:
            events = [e async for e in stream]
        assert [(e.event, e.data) for e in events] == [("thread.something_new", {"id": "x"})]
        with pytest.raises(LocalProtocolError):
            stream._accumulator.final_run()

    run(test)


def test_cancellation_mid_stream() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        delta = {"id": "m", "object": "thread.message.delta",
                 "delta": {"content": [{"index": 0, "type": "text", "text": {"value": "a"}}]}}
        server.enqueue(FakeResponse.sse([
            format_sse({"id": "m", "object": "thread.message", "content": []}, event="thread.message.created"),
            *[format_sse(delta, event="thread.message.delta")] * 3,
        ], delay=10.0, done=False))
        seen: list[str] = []
        with trio.move_on_after(15) as scope:
            async with client.beta.threads.runs.stream(thread_id="t", assistant_id="a") as stream:
                async for piece in stream.text_deltas():
                    seen.append(piece)
        assert scope.cancelled_caught
        assert seen == ["a"]
        assert client.pool_stats() == PoolStats()

    run(test, clock=trio.testing.MockClock(autojump_threshold=0))


def test_misuse_is_refused_before_any_byte() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        runs = client.beta.threads.runs
        with pytest.raises(LocalProtocolError):
            runs.stream(thread_id="t", assistant_id="a", stream=True)
        with pytest.raises(LocalProtocolError):
            runs.stream(thread_id="t", assistant_id="a", event_handler=object())
        with pytest.raises(LocalProtocolError):
            runs.submit_tool_outputs_stream(thread_id="t", run_id="r", tool_outputs=[], stream=False)
        with pytest.raises(LocalProtocolError):
            client.beta.threads.create_and_run_stream(assistant_id="a", stream=True)
        with pytest.raises(TypeError):
            runs.stream("t", assistant_id="a")  # type: ignore[call-arg]
        with pytest.raises(LocalProtocolError):
            async with runs.stream(thread_id="", assistant_id="a"):
                pass
        with pytest.raises(TypeError):
            async with runs.stream(thread_id="t"):
                pass
        assert server.requests == []
        manager = runs.stream(thread_id="t", assistant_id="a")
        async with manager as stream:
            await stream.until_done()
        with pytest.raises(RuntimeError):
            async with manager:
                pass
        assert len(server.requests) == 1

    run(test)
