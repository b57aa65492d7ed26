"""Edges of the stream helpers against the fake server: the raw stream and
request id under a helper stream, a helper stream used as its own async
context manager, reprs, and misuse of ``text`` refused before any byte."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import trio

from openai_sansio import LocalProtocolError
from openai_trio import AsyncStream, Client
from openai_trio.testing import FakeResponse, FakeServer

KEY = "sk-test-stream-helper-edges"


@dataclasses.dataclass
class Reply:
    text: str

MESSAGES = [{"role": "user", "content": "Hello"}]


def run(test: Any) -> Any:
    async def main() -> Any:
        async with (
            FakeServer() as server,
            Client(api_key=KEY, base_url="http://fake.test/v1", connector=server.connect, max_retries=0) as client,
        ):
            return await test(server, client)

    return trio.run(main)


def test_chat_stream_exposes_the_raw_stream_and_request_id() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        server.enqueue(FakeResponse.sse(
            [{"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
              "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}]}],
            headers={"x-request-id": "req_chat_1"},
        ))
        async with client.chat.completions.stream(model="gpt-4o", messages=MESSAGES) as stream:
            assert stream.request_id == "req_chat_1"
            assert isinstance(stream.response, AsyncStream)
            assert stream.response.status_code == 200
            # The helper stream is itself an async context manager that closes it.
            async with stream as same:
                assert same is stream
                assert [e.type async for e in same] == ["chunk", "content.delta", "content.done"]
            assert "hi" not in repr(stream)

    run(test)


def test_response_stream_repr_counts_without_the_text() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        async with client.responses.stream(model="gpt-4o", input="Hello") as stream:
            final = await stream.get_final_response()
            shown = repr(stream)
        assert shown.startswith("<AsyncResponseStream <ResponseAccumulator events=")
        assert f"items={len(final.output)}>>" in shown
        assert final.output_text not in shown

    run(test)


def test_response_stream_refuses_a_text_that_is_not_a_mapping() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        with pytest.raises(LocalProtocolError, match="text must be a mapping"):
            async with client.responses.stream(model="gpt-4o", input="x", text_format=Reply, text="loud"):
                raise AssertionError("the stream should not open")
        assert server.requests == []

    run(test)


def test_a_resumed_stream_keeps_unknown_events_after_the_cursor() -> None:
    # Event types newer than this version carry their sequence number in
    # their payload: those after starting_after are handed over, not dropped.
    response = {"id": "resp_r", "object": "response", "created_at": 1, "status": "in_progress", "model": "m",
                "output": [], "tools": [], "parallel_tool_calls": True, "tool_choice": "auto"}
    events = [
        {"type": "response.created", "sequence_number": 0, "response": response},
        {"type": "response.future_thing", "sequence_number": 1, "note": "early"},
        {"type": "response.future_thing", "sequence_number": 2, "note": "late"},
        {"type": "response.completed", "sequence_number": 3, "response": {**response, "status": "completed"}},
    ]

    async def test(server: FakeServer, client: Client) -> None:
        server.route("GET", "/v1/responses/resp_r", FakeResponse.sse(events, done=False))
        async with client.responses.stream(response_id="resp_r", starting_after=1) as stream:
            seen = [event async for event in stream]
        kinds = [getattr(e, "type", None) or e.to_dict()["type"] for e in seen]
        assert kinds == ["response.future_thing", "response.completed"]
        assert seen[0].to_dict()["note"] == "late"

    run(test)
