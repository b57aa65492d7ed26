"""Cancellation at any checkpoint leaves the pool's accounting right and
the client usable; ``trio.Cancelled`` is never wrapped."""

from __future__ import annotations

import random
from typing import Any

import trio
import trio.testing

from openai_sansio import Origin
from openai_trio import Client, PoolStats
from openai_trio.testing import FakeResponse, FakeServer, ReceivedRequest

KEY = "sk-test-cancel"
MESSAGES = [{"role": "user", "content": "Hello"}]
CHUNK = {
    "id": "c",
    "object": "chat.completion.chunk",
    "created": 0,
    "model": "m",
    "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}],
}
MODEL = {"id": "m", "object": "model", "created": 0, "owned_by": "me"}


class JitteryStream(trio.abc.Stream):
    """Wraps a transport so that every send and receive takes a random
    (mock-clock) while: cancellations then land inside writes and reads."""

    def __init__(self, inner: trio.abc.Stream, rng: random.Random) -> None:
        self._inner = inner
        self._rng = rng

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await trio.sleep(self._rng.choice([0.0, 0.01, 0.2]))
        await self._inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        await trio.sleep(self._rng.choice([0.0, 0.01, 0.1]))
        return await self._inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self._inner.aclose()


def settled(stats: PoolStats) -> bool:
    return stats.in_use == 0 and stats.connecting == 0 and stats.waiting == 0


async def test_random_cancellation_points(autojump_clock: trio.testing.MockClock) -> None:
    rng = random.Random(20261122)

    def handler(request: ReceivedRequest) -> FakeResponse:
        if request.path.endswith("/chat/completions"):
            return FakeResponse.sse(
                [CHUNK] * rng.randint(1, 5),
                headers_delay=rng.choice([0.0, 0.2, 1.0]),
                delay=rng.choice([0.0, 0.1, 0.5]),
            )
        return FakeResponse.json(MODEL, headers_delay=rng.choice([0.0, 0.3, 1.5]))

    async with FakeServer(handler=handler) as server:

        async def slow_connect(origin: Origin) -> trio.abc.Stream:
            await trio.sleep(rng.choice([0.0, 0.05, 0.4]))
            return JitteryStream(await server.connect(origin), rng)

        async with Client(
            api_key=KEY, base_url="http://fake.test/v1", connector=slow_connect, max_connections=4
        ) as client:
            outcomes = {"done": 0, "cancelled": 0}

            async def one(offset: float, streaming: bool) -> None:
                with trio.move_on_after(offset) as scope:
                    if streaming:
                        async with await client.chat.completions.create(
                            model="m", messages=MESSAGES, stream=True
                        ) as stream:
                            async for _chunk in stream:
                                await trio.sleep(rng.choice([0.0, 0.05]))
                    else:
                        await client.models.retrieve("m")
                outcomes["cancelled" if scope.cancelled_caught else "done"] += 1

            for _round in range(4):
                async with trio.open_nursery() as nursery:
                    for _ in range(40):
                        nursery.start_soon(one, rng.uniform(0.0, 3.0), rng.random() < 0.5)
                assert settled(client.pool_stats()), client.pool_stats()

            assert outcomes["done"] > 10
            assert outcomes["cancelled"] > 10
            stats = client.pool_stats()
            assert stats.connections == stats.idle <= 4
            # Still fully usable.
            assert (await client.models.retrieve("m")).id == "m"
            async with await client.chat.completions.create(
                model="m", messages=MESSAGES, stream=True
            ) as stream:
                assert [c async for c in stream]
            assert settled(client.pool_stats())


async def test_cancelled_propagates_untouched() -> None:
    async with (
        FakeServer() as server,
        Client(api_key=KEY, base_url="http://fake.test/v1", connector=server.connect) as client,
    ):
        server.enqueue(FakeResponse.hanging())
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.models.list)
                await trio.testing.wait_all_tasks_blocked()
                assert client.pool_stats().in_use == 1
                scope.cancel()
        assert scope.cancelled_caught
        assert client.pool_stats() == PoolStats()


async def test_cancel_before_start() -> None:
    async with (
        FakeServer() as server,
        Client(api_key=KEY, base_url="http://fake.test/v1", connector=server.connect) as client,
    ):
        with trio.CancelScope() as scope:
            scope.cancel()
            await client.models.list()
        assert scope.cancelled_caught
        assert client.pool_stats() == PoolStats()
        assert (await client.models.retrieve("gpt-4o")).id == "gpt-4o"


async def test_cancel_while_iterating_releases_before_block_exit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        FakeServer() as server,
        Client(api_key=KEY, base_url="http://fake.test/v1", connector=server.connect) as client,
    ):
        server.enqueue(FakeResponse.sse([CHUNK] * 5, delay=10.0))
        seen: list[Any] = []
        with trio.move_on_after(15.0) as scope:
            async with await client.chat.completions.create(
                model="m", messages=MESSAGES, stream=True
            ) as stream:
                try:
                    async for chunk in stream:
                        seen.append(chunk)
                finally:
                    stats_inside = client.pool_stats()
        assert scope.cancelled_caught
        assert len(seen) == 2
        # Released by the stream itself when the cancellation hit it.
        assert stats_inside.in_use == 0
        assert client.pool_stats() == PoolStats()


async def test_cancel_while_waiting_for_pool(autojump_clock: trio.testing.MockClock) -> None:
    async with (
        FakeServer() as server,
        Client(
            api_key=KEY, base_url="http://fake.test/v1", connector=server.connect, max_connections=1
        ) as client,
    ):
        async with await client.chat.completions.create(
            model="m", messages=MESSAGES, stream=True
        ) as stream:
            with trio.move_on_after(1.0) as scope:
                await client.models.list()
            assert scope.cancelled_caught
            assert client.pool_stats().waiting == 0
            async for _chunk in stream:
                pass
        assert client.pool_stats() == PoolStats(connections=1, idle=1)
        await client.models.list()
