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
        assert info.value.request is stream.request
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
        # A bare number is a per-operation limit, as in the official SDK.
        assert info.value.limit == "read"
        assert info.value.seconds == 2.0


@pytest.mark.parametrize("limits", [2.0, Timeout(2.0), Timeout(600, read=2.0)])
async def test_a_number_never_cuts_a_healthy_long_stream(
    autojump_clock: trio.testing.MockClock, limits: float | Timeout
) -> None:
    # 20 chunks 1.5 s apart: 30 s in all, far past the 2 s figure, but no
    # single gap reaches it.
    async with fake_client(max_retries=0, timeout=limits) as (server, client):
        server.enqueue(FakeResponse.sse([CHUNK] * 20, delay=1.5))
        start = trio.current_time()
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            text = "".join([t async for t in stream.text_deltas()])
        assert text == "hi" * 20
        assert trio.current_time() - start >= 28.0
        assert client.timeout.total is None


async def test_a_number_also_limits_connect(autojump_clock: trio.testing.MockClock) -> None:
    # httpx semantics: the number is the connect limit too (not capped at 5 s).
    async with Client(
        api_key=KEY, base_url="http://x.test/v1", connector=_stalled_connect, max_retries=0, timeout=8
    ) as client:
        start = trio.current_time()
        with pytest.raises(openai_trio.APITimeoutError) as info:
            await client.models.list()
        assert info.value.limit == "connect"
        assert trio.current_time() - start == pytest.approx(8.0)


async def test_no_timeout_at_all(autojump_clock: trio.testing.MockClock) -> None:
    async with fake_client(max_retries=0, timeout=None) as (server, client):
        server.enqueue(FakeResponse.json({"object": "list", "data": []}, headers_delay=10_000.0))
        page = await client.models.list()
        assert list(page) == []


async def _stalled_connect(_origin: Origin) -> trio.abc.Stream:
    await trio.sleep_forever()
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("limit", "limits", "script"),
    [
        ("connect", Timeout(connect=1.25, total=50.0), "no-connect"),
        ("read", Timeout(read=1.25, total=50.0), "hang"),
        ("read", Timeout(read=1.25, total=50.0), "slow-body"),
        ("total", Timeout(read=40.0, total=1.25), "hang"),
        ("total", Timeout(connect=40.0, total=1.25), "no-connect"),
        ("total", Timeout(read=40.0, total=1.25), "slow-body"),
    ],
)
async def test_timeout_errors_name_their_limit(
    limit: str, limits: Timeout, script: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with FakeServer() as server:
        connector = _stalled_connect if script == "no-connect" else server.connect
        if script == "hang":
            server.enqueue(FakeResponse.hanging())
        elif script == "slow-body":
            server.enqueue(FakeResponse(body=(b'{"object": "list",', b' "data": []}'), delay=100.0))
        async with Client(
            api_key=KEY, base_url="http://fake.test/v1", connector=connector, max_retries=0
        ) as client:
            start = trio.current_time()
            with pytest.raises(openai_trio.APITimeoutError) as info:
                await client.models.list(timeout=limits)
            assert trio.current_time() - start == pytest.approx(1.25)
            err = info.value
            assert isinstance(err, openai_trio.APIConnectionError)
            assert err.limit == limit
            assert err.seconds == 1.25
            assert f"{limit} timeout of 1.25s" in str(err)
            assert err.request is not None and err.request.method == "GET"
            assert client.pool_stats() == PoolStats()


async def test_total_deadline_spans_attempts_and_backoff(autojump_clock: trio.testing.MockClock) -> None:
    async with fake_client(max_retries=100) as (server, client):
        times: list[float] = []

        def refuse(_request: Any) -> FakeResponse:
            times.append(trio.current_time())
            return FakeResponse.error(500, "boom", headers={"retry-after-ms": "400"})

        server.enqueue(refuse, refuse, refuse, FakeResponse.hanging())
        start = trio.current_time()
        with pytest.raises(openai_trio.APITimeoutError) as info:
            await client.models.list(timeout=Timeout(read=100.0, total=5.0))
        # Three failures 0.4 s apart, then the fourth attempt hangs until the
        # one deadline for the whole call, backoff included, strikes.
        assert [t - start for t in times] == pytest.approx([0.0, 0.4, 0.8])
        assert trio.current_time() - start == pytest.approx(5.0)
        assert info.value.limit == "total"
        assert len(server.requests) == 4
        assert client.pool_stats() == PoolStats()


async def test_backoff_that_would_cross_the_deadline_returns_the_last_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with fake_client(max_retries=100) as (server, client):
        server.enqueue(*[FakeResponse.error(500, "boom", headers={"retry-after-ms": "400"})] * 20)
        start = trio.current_time()
        with pytest.raises(openai_trio.InternalServerError):
            await client.models.list(timeout=Timeout(total=1.9))
        # Attempts at 0, 0.4, 0.8, 1.2, 1.6: waiting 0.4 s more would cross
        # the deadline, so the real error comes back at once instead.
        assert trio.current_time() - start == pytest.approx(1.6)
        assert len(server.requests) == 5
