"""Each time limit of ``Timeout`` raises ``APITimeoutError`` naming it."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import pytest
import trio
import trio.testing

import openai_trio
from openai_sansio import Origin
from openai_trio import Client, PoolStats, Timeout
from openai_trio.testing import FakeResponse, FakeServer

KEY = "sk-test-timeouts"
MESSAGES = [{"role": "user", "content": "Hello"}]
CHUNK = {
    "id": "c",
    "object": "chat.completion.chunk",
    "created": 0,
    "model": "m",
    "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}],
}


@asynccontextmanager
async def fake_client(**kwargs: Any) -> AsyncIterator[tuple[FakeServer, Client]]:
    async with FakeServer() as server:
        kwargs.setdefault("api_key", KEY)
        kwargs.setdefault("base_url", "http://fake.test/v1")
        async with Client(connector=server.connect, **kwargs) as client:
            yield server, client


async def test_connect_timeout(autojump_clock: trio.testing.MockClock) -> None:
    async def black_hole(_origin: Origin) -> trio.abc.Stream:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async with Client(api_key=KEY, base_url="http://x.test/v1", connector=black_hole, max_retries=1) as client:
        start = trio.current_time()
        with pytest.raises(openai_trio.APITimeoutError) as info:
            await client.models.list(timeout=Timeout(connect=3.0))
        assert info.value.limit == "connect"
        assert info.value.seconds == 3.0
        assert "connect" in str(info.value)
        # Two attempts of 3 s plus one backoff sleep of at most 0.5 s.
        assert 6.0 <= trio.current_time() - start <= 6.5
        assert client.pool_stats() == PoolStats()


async def test_read_timeout_waiting_for_headers(autojump_clock: trio.testing.MockClock) -> None:
    async with fake_client(max_retries=0, timeout=Timeout(read=2.5)) as (server, client):
        server.enqueue(FakeResponse.hanging())
        start = trio.current_time()
        with pytest.raises(openai_trio.APITimeoutError) as info:
            await client.models.list()
        assert info.value.limit == "read"
        assert trio.current_time() - start == pytest.approx(2.5)
        assert client.pool_stats() == PoolStats()


async def test_read_timeout_is_per_receive(autojump_clock: trio.testing.MockClock) -> None:
    async with fake_client(max_retries=0, timeout=Timeout(read=2.0)) as (server, client):
        # Ten pieces 1.5 s apart: 13.5 s in all, but no gap reaches 2 s.
        server.enqueue(FakeResponse.sse([CHUNK] * 10, delay=1.5))
        async with await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        ) as stream:
            items = [c async for c in stream]
        assert len(items) == 10


async def test_read_timeout_inside_stream(autojump_clock: trio.testing.MockClock) -> None:
    async with fake_client(timeout=Timeout(read=2.0)) as (server, client):
        server.enqueue(FakeResponse.sse([CHUNK] * 3, delay=5.0))
        got = []
        async with await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        ) as stream:
            with pytest.raises(openai_trio.APITimeoutError) as info:
                async for chunk in stream:
                    got.append(chunk)
        assert info.value.limit == "read"
        assert len(got) == 1
        # Never retried once the stream was handed out.
        assert len(server.requests) == 1
        assert client.pool_stats() == PoolStats()


async def test_total_timeout_over_retries(autojump_clock: trio.testing.MockClock) -> None:
    async with fake_client(max_retries=10, timeout=Timeout(read=3.0, total=10.0)) as (server, client):
        server.enqueue(*[FakeResponse.hanging()] * 10)
        start = trio.current_time()
        with pytest.raises(openai_trio.APITimeoutError) as info:
            await client.models.list()
        assert info.value.limit == "total"
        assert info.value.seconds == 10.0
        assert trio.current_time() - start <= 10.0 + 1e-6
        assert 2 <= len(server.requests) <= 4
        assert client.pool_stats() == PoolStats()


async def test_total_timeout_while_reading(autojump_clock: trio.testing.MockClock) -> None:
    async with fake_client(max_retries=0) as (server, client):
        server.enqueue(FakeResponse.hanging())
        with pytest.raises(openai_trio.APITimeoutError) as info:
            await client.models.list(timeout=Timeout(read=100.0, total=4.0))
        assert info.value.limit == "total"


async def test_total_deadline_also_bounds_the_stream(autojump_clock: trio.testing.MockClock) -> None:
    async with fake_client(timeout=Timeout(read=5.0, total=6.0)) as (server, client):
        server.enqueue(FakeResponse.sse([CHUNK] * 10, delay=2.0))
        got = []
        async with await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        ) as stream:
            with pytest.raises(openai_trio.APITimeoutError) as info:
                async for chunk in stream:
                    got.append(chunk)
        assert info.value.limit == "total"
        assert 2 <= len(got) <= 4


async def test_write_timeout(autojump_clock: trio.testing.MockClock) -> None:
    peers: list[trio.abc.Stream] = []

    async def stalled(_origin: Origin) -> trio.abc.Stream:
        # A lockstep pair blocks send_all until the other side reads, and
        # nobody ever reads.
        client_side, server_side = trio.testing.lockstep_stream_pair()
        peers.append(server_side)
        return client_side

    async with Client(api_key=KEY, base_url="http://x.test/v1", connector=stalled, max_retries=0) as client:
        with pytest.raises(openai_trio.APITimeoutError) as info:
            await client.embeddings.create(
                model="m", input="x" * 1000, timeout=Timeout(write=1.5)
            )
        assert info.value.limit == "write"
        assert client.pool_stats() == PoolStats()
    for peer in peers:
        await peer.aclose()


async def test_timeout_as_number(autojump_clock: trio.testing.MockClock) -> None:
    async with fake_client(max_retries=0) as (server, client):
        server.enqueue(FakeResponse.hanging())
        with pytest.raises(openai_trio.APITimeoutError) as info:
            await client.models.list(timeout=2.0)
        # A bare number sets every limit but connect; the tighter scope
        # (read, opened later) and total end together: either name is fair.
        assert info.value.limit in ("read", "total")
        assert info.value.seconds == 2.0


async def test_no_timeout_at_all(autojump_clock: trio.testing.MockClock) -> None:
    async with fake_client(max_retries=0, timeout=None) as (server, client):
        server.enqueue(FakeResponse.json({"object": "list", "data": []}, headers_delay=10_000.0))
        page = await client.models.list()
        assert list(page) == []
