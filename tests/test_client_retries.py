"""Retries: statuses, Retry-After, idempotency keys, connection errors and
the total deadline.  Time is a MockClock, so backoff sleeps cost nothing."""

from __future__ import annotations

import itertools
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import pytest
import trio
import trio.testing

import openai_trio
from openai_trio import Client, Timeout
from openai_trio.testing import FakeResponse, FakeServer

KEY = "sk-test-retries"
MESSAGES = [{"role": "user", "content": "Hello"}]


@asynccontextmanager
async def fake_client(**kwargs: Any) -> AsyncIterator[tuple[FakeServer, Client]]:
    async with FakeServer() as server:
        kwargs.setdefault("api_key", KEY)
        kwargs.setdefault("base_url", "http://fake.test/v1")
        async with Client(connector=server.connect, **kwargs) as client:
            yield server, client


async def create(client: Client, **kwargs: Any) -> Any:
    return await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, **kwargs)


async def test_429_retry_after_ms_is_honoured(autojump_clock: trio.testing.MockClock) -> None:
    async with fake_client() as (server, client):
        server.enqueue(FakeResponse.error(429, "slow down", headers={"retry-after-ms": "3000"}))
        start = trio.current_time()
        completion = await create(client)
        assert completion.choices
        assert trio.current_time() - start >= 3.0
        assert len(server.requests) == 2
        first, second = server.requests
        assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
        assert [first.headers["x-retry-count"], second.headers["x-retry-count"]] == ["0", "1"]
        assert first.body == second.body


async def test_retry_after_seconds(autojump_clock: trio.testing.MockClock) -> None:
    async with fake_client() as (server, client):
        server.enqueue(FakeResponse.error(503, "busy", headers={"retry-after": "7"}))
        start = trio.current_time()
        await create(client)
        assert 7.0 <= trio.current_time() - start < 8.0


async def test_idempotency_key_differs_between_calls(autojump_clock: trio.testing.MockClock) -> None:
    async with fake_client() as (server, client):
        await create(client)
        await create(client)
        keys = {r.headers["idempotency-key"] for r in server.requests}
        assert len(keys) == 2


async def test_500_retried_until_max_retries(autojump_clock: trio.testing.MockClock) -> None:
    async with fake_client(max_retries=2) as (server, client):
        server.enqueue(*[FakeResponse.error(500, "boom")] * 2)
        await create(client)
        assert len(server.requests) == 3
        server.enqueue(*[FakeResponse.error(500, "boom")] * 3)
        with pytest.raises(openai_trio.InternalServerError):
            await create(client)
        assert len(server.requests) == 6
        # Per call override.
        server.enqueue(FakeResponse.error(500, "boom"))
        with pytest.raises(openai_trio.InternalServerError):
            await create(client, max_retries=0)
        assert len(server.requests) == 7
        assert client.pool_stats().in_use == 0


async def test_backoff_grows(autojump_clock: trio.testing.MockClock) -> None:
    async with fake_client(max_retries=3) as (server, client):
        times: list[float] = []

        def record(_request: Any) -> FakeResponse:
            times.append(trio.current_time())
            return FakeResponse.error(500, "boom")

        server.enqueue(record, record, record, record)
        with pytest.raises(openai_trio.InternalServerError):
            await create(client)
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert len(gaps) == 3
        # 0.5 s, 1 s, 2 s, each shortened by at most 25 % jitter.
        for gap, base in zip(gaps, [0.5, 1.0, 2.0], strict=False):
            assert base * 0.75 - 1e-9 <= gap <= base + 1e-9


async def test_no_retry_on_400() -> None:
    async with fake_client() as (server, client):
        server.enqueue(FakeResponse.error(400, "bad"))
        with pytest.raises(openai_trio.BadRequestError):
            await create(client)
        assert len(server.requests) == 1


async def test_should_retry_header_wins(autojump_clock: trio.testing.MockClock) -> None:
    async with fake_client() as (server, client):
        server.enqueue(FakeResponse.error(500, "no", headers={"x-should-retry": "false"}))
        with pytest.raises(openai_trio.InternalServerError):
            await create(client)
        assert len(server.requests) == 1


async def test_connection_error_is_retried(autojump_clock: trio.testing.MockClock) -> None:
    async with fake_client() as (server, client):
        # Closed with no response on a fresh connection: a connection error.
        server.enqueue(FakeResponse.raw([]))
        completion = await create(client)
        assert completion.choices
        assert len(server.requests) == 2
        assert server.requests[1].headers["x-retry-count"] == "1"
        assert server.connections_opened == 2


async def test_connection_error_after_retries(autojump_clock: trio.testing.MockClock) -> None:
    async with fake_client(max_retries=1) as (server, client):
        server.enqueue(FakeResponse.raw([]), FakeResponse.raw([]))
        with pytest.raises(openai_trio.APIConnectionError) as info:
            await create(client)
        assert not isinstance(info.value, openai_trio.APITimeoutError)
        assert info.value.request is not None
        assert len(server.requests) == 2


async def test_connect_failure_is_connection_error(autojump_clock: trio.testing.MockClock) -> None:
    attempts = 0

    async def refuse(_origin: object) -> trio.abc.Stream:
        nonlocal attempts
        attempts += 1
        raise OSError("connection refused")

    async with Client(api_key=KEY, base_url="http://x.test/v1", connector=refuse) as client:
        with pytest.raises(openai_trio.APIConnectionError) as info:
            await create(client)
        assert isinstance(info.value.__cause__, OSError)
        assert attempts == 3
        assert client.pool_stats() == openai_trio.PoolStats()


async def test_no_retry_after_first_stream_event(autojump_clock: trio.testing.MockClock) -> None:
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
             "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}]}
    async with fake_client() as (server, client):
        # The body is cut after the first chunk: the framing promised more.
        server.enqueue(FakeResponse.sse([chunk, chunk, chunk], close_after=1))
        got = []
        async with await create(client, stream=True) as stream:
            with pytest.raises(openai_trio.APIError):
                async for item in stream:
                    got.append(item)
        assert len(got) == 1
        assert len(server.requests) == 1
        assert client.pool_stats().connections == 0


async def test_stream_create_retries_before_returning(autojump_clock: trio.testing.MockClock) -> None:
    async with fake_client() as (server, client):
        server.enqueue(FakeResponse.error(429, "later", headers={"retry-after-ms": "10"}))
        async with await create(client, stream=True) as stream:
            items = [item async for item in stream]
        assert items
        assert len(server.requests) == 2


async def test_retry_not_attempted_past_total_deadline(autojump_clock: trio.testing.MockClock) -> None:
    async with fake_client(timeout=Timeout(total=2.0)) as (server, client):
        server.enqueue(FakeResponse.error(429, "later", headers={"retry-after": "5"}))
        start = trio.current_time()
        with pytest.raises(openai_trio.RateLimitError):
            await create(client)
        assert trio.current_time() - start < 1.0
        assert len(server.requests) == 1


async def test_retry_after_too_long_is_not_retried(autojump_clock: trio.testing.MockClock) -> None:
    async with fake_client() as (server, client):
        server.enqueue(FakeResponse.error(429, "later", headers={"retry-after": "3600"}))
        with pytest.raises(openai_trio.RateLimitError):
            await create(client)
        assert len(server.requests) == 1


async def test_read_timeout_is_retried(autojump_clock: trio.testing.MockClock) -> None:
    async with fake_client(timeout=Timeout(read=1.0), max_retries=1) as (server, client):
        server.enqueue(FakeResponse.hanging())
        completion = await create(client)
        assert completion.choices
        assert len(server.requests) == 2
