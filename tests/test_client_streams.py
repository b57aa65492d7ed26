"""Streams whose bytes arrive whole, one byte at a time, or cut at random
points decode to the same items, and still hand their connection back."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

import openai_trio
from openai_trio import Client, PoolStats
from openai_trio.testing import FakeResponse, FakeServer

KEY = "sk-test-streams"
MESSAGES = [{"role": "user", "content": "Hello"}]
WORDS = ["Hé", "llo", ", ", "wörld", " 🌍", "!\n", "\r", ""]


def chunk(text: str) -> dict[str, Any]:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }


def body_bytes() -> bytes:
    events = b"".join(b"data: " + json.dumps(chunk(w)).encode() + b"\n\n" for w in WORDS)
    return events + b"data: [DONE]\n\n"


async def collect(pieces: list[bytes]) -> tuple[list[str | None], int, PoolStats]:
    async with (
        FakeServer() as server,
        Client(api_key=KEY, base_url="http://fake.test/v1", connector=server.connect) as client,
    ):
        server.enqueue(FakeResponse.sse([], chunks=pieces))
        async with await client.chat.completions.create(
            model="m", messages=MESSAGES, stream=True
        ) as stream:
            texts = [c.choices[0].delta.content async for c in stream]
        # The connection went back to the pool and carries the next call.
        await client.models.retrieve("gpt-4o")
        return texts, server.connections_opened, client.pool_stats()


def check(pieces: list[bytes]) -> None:
    texts, opened, stats = trio.run(collect, pieces)
    assert texts == WORDS
    assert opened == 1
    assert stats == PoolStats(connections=1, idle=1)


def test_whole_body() -> None:
    check([body_bytes()])


def test_one_byte_at_a_time() -> None:
    data = body_bytes()
    check([data[i : i + 1] for i in range(len(data))])


@settings(max_examples=60, deadline=None, database=None)
@given(st.lists(st.integers(min_value=0, max_value=len(body_bytes())), max_size=12))
def test_random_split_points(cuts: list[int]) -> None:
    data = body_bytes()
    points = sorted(set(cuts))
    bounds = [0, *points, len(data)]
    pieces = [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    check(pieces)


async def test_responses_terminal_event_ends_stream_and_reuses_connection() -> None:
    async with (
        FakeServer() as server,
        Client(api_key=KEY, base_url="http://fake.test/v1", connector=server.connect) as client,
    ):
        for _ in range(3):
            async with await client.responses.create(
                model="gpt-4o-mini", input="hi", stream=True
            ) as stream:
                kinds = [event.type async for event in stream]
            assert kinds[-1] == "response.completed"
        assert server.connections_opened == 1


async def test_stream_ending_without_done_is_not_an_error() -> None:
    async with (
        FakeServer() as server,
        Client(api_key=KEY, base_url="http://fake.test/v1", connector=server.connect) as client,
    ):
        server.enqueue(FakeResponse.sse([chunk("a"), chunk("b")], done=False))
        async with await client.chat.completions.create(
            model="m", messages=MESSAGES, stream=True
        ) as stream:
            texts = [c.choices[0].delta.content async for c in stream]
        assert texts == ["a", "b"]
        assert client.pool_stats() == PoolStats(connections=1, idle=1)


async def test_invalid_json_in_stream_raises_after_earlier_items() -> None:
    async with (
        FakeServer() as server,
        Client(api_key=KEY, base_url="http://fake.test/v1", connector=server.connect) as client,
    ):
        server.enqueue(
            FakeResponse.sse([], chunks=[b"data: " + json.dumps(chunk("a")).encode() + b"\n\ndata: {oops\n\n"])
        )
        got = []
        async with await client.chat.completions.create(
            model="m", messages=MESSAGES, stream=True
        ) as stream:
            try:
                async for c in stream:
                    got.append(c.choices[0].delta.content)
            except openai_trio.StreamDecodeError as exc:
                assert exc.data == "{oops"
            else:
                raise AssertionError("expected StreamDecodeError")
        assert got == ["a"]
        # The HTTP body itself ended cleanly, so the connection stays usable.
        assert client.pool_stats().in_use == 0
        assert (await client.models.retrieve("gpt-4o")).id == "gpt-4o"


@pytest.mark.parametrize("transport", ["memory", "tcp"])
@pytest.mark.parametrize("how", ["break", "exception", "cancel", "done-undrained"])
async def test_leaving_the_block_releases_before_it_exits(how: str, transport: str) -> None:
    async with FakeServer() as server:
        if transport == "tcp":
            await server.serve_tcp()
            client = Client(api_key=KEY, base_url=server.base_url)
        else:
            client = Client(api_key=KEY, base_url="http://fake.test/v1", connector=server.connect)
        async with client:
            if how == "done-undrained":
                # [DONE] arrives, the end of the body comes later: leaving
                # drains it (briefly) and keeps the connection.
                server.enqueue(
                    FakeResponse.sse([], chunks=[body_bytes(), b": tail\n\n"], delay=0.05)
                )
            else:
                server.enqueue(FakeResponse.sse([chunk(w) for w in WORDS], delay=0.05))
            with trio.CancelScope() as scope:
                try:
                    async with await client.chat.completions.create(
                        model="m", messages=MESSAGES, stream=True
                    ) as stream:
                        async for _item in stream:
                            assert client.pool_stats().in_use == 1
                            if how == "break" or how == "done-undrained":
                                break
                            if how == "exception":
                                raise KeyError("caller failed")
                            scope.cancel()
                            # The cancellation lands at the stream's next read.
                except KeyError:
                    pass
                finally:
                    # Right after the block, before any checkpoint.
                    stats = client.pool_stats()
            assert scope.cancelled_caught == (how == "cancel")
            assert stats.in_use == 0
            if how == "done-undrained":
                assert stats == PoolStats(connections=1, idle=1)
            else:
                # An unfinished body: the connection is closed, not pooled.
                assert stats == PoolStats()
            assert (await client.models.retrieve("gpt-4o")).id == "gpt-4o"


async def test_aclose_while_cancelled_still_releases(autojump_clock: trio.testing.MockClock) -> None:
    async with (
        FakeServer() as server,
        Client(api_key=KEY, base_url="http://fake.test/v1", connector=server.connect) as client,
    ):
        server.enqueue(FakeResponse.sse([], chunks=[body_bytes(), b": tail\n\n"], delay=60.0))
        server.enqueue(FakeResponse.sse([chunk("a")] * 3, delay=60.0))
        for _ in range(2):
            stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            await stream.__anext__()
            start = trio.current_time()
            with trio.CancelScope() as scope:
                scope.cancel()
                await stream.aclose()
                await stream.aclose()
            # Shielded, and bounded well under the server's 60 s.
            assert trio.current_time() - start <= 1.5
            assert client.pool_stats().in_use == 0
        assert client.pool_stats() == PoolStats()
