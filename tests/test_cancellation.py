"""Cancellation at any checkpoint leaves the pool's accounting right and
the client usable; ``trio.Cancelled`` is never wrapped."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest
import trio
import trio.testing

import openai_trio
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


PHASES = ("connect", "send", "headers", "body")


class JitteryStream(trio.abc.Stream):
    """Wraps a transport so that every send and receive takes a random
    (mock-clock) while: cancellations then land inside writes and reads.

    Each cancellation that lands here is counted by phase: in a write
    ("send"), in a read before any byte of the answer to the last request
    ("headers") or after ("body")."""

    def __init__(self, inner: trio.abc.Stream, rng: random.Random, phases: Counter[str]) -> None:
        self._inner = inner
        self._rng = rng
        self._phases = phases
        self._answer_started = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self._answer_started = False
        try:
            await trio.sleep(self._rng.choice([0.05, 0.3, 0.6]))
            await self._inner.send_all(data)
        except trio.Cancelled:
            self._phases["send"] += 1
            raise

    async def wait_send_all_might_not_block(self) -> None:
        await self._inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        try:
            await trio.sleep(self._rng.choice([0.0, 0.05, 0.2]))
            data = await self._inner.receive_some(max_bytes)
        except trio.Cancelled:
            self._phases["body" if self._answer_started else "headers"] += 1
            raise
        if data:
            self._answer_started = True
        return data

    async def aclose(self) -> None:
        await self._inner.aclose()


def settled(stats: PoolStats) -> bool:
    return stats.in_use == 0 and stats.connecting == 0 and stats.waiting == 0


async def test_random_cancellation_points(autojump_clock: trio.testing.MockClock) -> None:
    rng = random.Random(20261122)
    phases: Counter[str] = Counter()

    def handler(request: ReceivedRequest) -> FakeResponse:
        if request.path.endswith("/chat/completions"):
            return FakeResponse.sse(
                [CHUNK] * rng.randint(1, 5),
                headers_delay=rng.choice([0.0, 0.2, 1.0]),
                delay=rng.choice([0.1, 0.5, 1.0]),
            )
        return FakeResponse.json(MODEL, headers_delay=rng.choice([0.0, 0.3, 1.5]))

    async with FakeServer(handler=handler) as server:

        async def slow_connect(origin: Origin) -> trio.abc.Stream:
            try:
                await trio.sleep(rng.choice([0.05, 0.4, 1.0]))
            except trio.Cancelled:
                phases["connect"] += 1
                raise
            return JitteryStream(await server.connect(origin), rng, phases)

        async with Client(
            api_key=KEY, base_url="http://fake.test/v1", connector=slow_connect, max_connections=4
        ) as client:
            outcomes = {"done": 0, "cancelled": 0}
            escaped: list[BaseException] = []

            async def one(offset: float, streaming: bool) -> None:
                with trio.move_on_after(offset) as scope:
                    try:
                        if streaming:
                            async with await client.chat.completions.create(
                                model="m", messages=MESSAGES, stream=True
                            ) as stream:
                                async for _chunk in stream:
                                    await trio.sleep(rng.choice([0.0, 0.05]))
                        else:
                            await client.models.retrieve("m")
                    except BaseException as exc:
                        escaped.append(exc)
                        raise
                outcomes["cancelled" if scope.cancelled_caught else "done"] += 1

            for _round in range(6):
                async with trio.open_nursery() as nursery:
                    for _ in range(40):
                        nursery.start_soon(one, rng.uniform(0.0, 4.0), rng.random() < 0.5)
                assert settled(client.pool_stats()), client.pool_stats()

            assert outcomes["done"] > 10
            assert outcomes["cancelled"] > 10
            # Only trio's own Cancelled came out: never wrapped, never grouped.
            assert len(escaped) == outcomes["cancelled"]
            assert all(type(exc) is trio.Cancelled for exc in escaped)
            # The run really did cut requests short in every phase.
            assert all(phases[phase] >= 3 for phase in PHASES), phases
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

        async def first_page() -> None:
            await client.models.list()

        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(first_page)
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


async def _stalled_connect(_origin: Origin) -> trio.abc.Stream:
    await trio.sleep_forever()
    raise AssertionError("unreachable")


async def _deaf_peer(_origin: Origin) -> trio.abc.Stream:
    # Nobody ever reads the other end of a lockstep pair: send_all blocks.
    client_side, _server_side = trio.testing.lockstep_stream_pair()
    return client_side


async def _consume_stream(client: Client) -> None:
    async with await client.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream:
        async for _chunk in stream:
            pass


async def _list_models(client: Client) -> None:
    await client.models.list()


IDLE_ONE = PoolStats(connections=1, idle=1)
# (connector or None for the fake server, scripted response, operation,
# pool afterwards)
PHASE_CASES = {
    "connect": (_stalled_connect, None, _list_models, PoolStats()),
    "send": (_deaf_peer, None, _list_models, PoolStats()),
    "headers": (None, FakeResponse.hanging(), _list_models, PoolStats()),
    "body": (
        None,
        FakeResponse(body=(b'{"object": "list",', b' "data": []}'), delay=60.0),
        _list_models,
        PoolStats(),
    ),
    # Cancelled while sleeping between attempts: the 429 was read whole, so
    # its connection is idle in the pool and stays there.
    "backoff": (
        None,
        FakeResponse.error(429, "later", headers={"retry-after-ms": "30000"}),
        _list_models,
        IDLE_ONE,
    ),
    "stream": (None, FakeResponse.sse([CHUNK] * 3, delay=60.0), _consume_stream, PoolStats()),
    "stream-head": (None, FakeResponse.sse([CHUNK], headers_delay=60.0), _consume_stream, PoolStats()),
}


@pytest.mark.parametrize("case", list(PHASE_CASES.values()), ids=list(PHASE_CASES))
async def test_cancelled_in_each_phase_is_trios_own(
    case: tuple[Any, FakeResponse | None, Any, PoolStats], autojump_clock: trio.testing.MockClock
) -> None:
    connector, response, operation, after = case
    async with FakeServer() as server:
        client = Client(
            api_key=KEY, base_url="http://fake.test/v1", connector=connector or server.connect
        )
        async with client:
            if response is not None:
                server.enqueue(response)
            seen: list[BaseException] = []
            with trio.move_on_after(10.0) as scope:
                try:
                    await operation(client)
                except BaseException as exc:
                    seen.append(exc)
                    raise
            assert scope.cancelled_caught
            assert [type(exc) for exc in seen] == [trio.Cancelled]
            assert client.pool_stats() == after
            if connector is None:
                # A connection cancelled mid-exchange is gone; the client is not.
                await client.models.list()
                assert client.pool_stats() == IDLE_ONE
        assert client.pool_stats() == PoolStats()


async def test_cancelled_while_waiting_for_pool_is_trios_own(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        FakeServer() as server,
        Client(
            api_key=KEY, base_url="http://fake.test/v1", connector=server.connect, max_connections=1
        ) as client,
    ):
        server.enqueue(FakeResponse.hanging())
        seen: list[BaseException] = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_list_models, client)
            await trio.sleep(1.0)
            with trio.move_on_after(5.0) as scope:
                try:
                    await client.models.list()
                except BaseException as exc:
                    seen.append(exc)
                    raise
            assert client.pool_stats().waiting == 0
            nursery.cancel_scope.cancel()
        assert scope.cancelled_caught
        assert [type(exc) for exc in seen] == [trio.Cancelled]
        assert settled(client.pool_stats())


async def test_client_aclose_when_cancelled_still_closes(autojump_clock: trio.testing.MockClock) -> None:
    closed: set[int] = set()

    class SlowClose(trio.abc.Stream):
        def __init__(self, inner: trio.abc.Stream) -> None:
            self._inner = inner

        async def send_all(self, data: bytes | bytearray | memoryview) -> None:
            await self._inner.send_all(data)

        async def wait_send_all_might_not_block(self) -> None:
            await self._inner.wait_send_all_might_not_block()

        async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
            return await self._inner.receive_some(max_bytes)

        async def aclose(self) -> None:
            try:
                # A polite close that would never finish.
                await trio.sleep_forever()
            finally:
                closed.add(id(self))
                await trio.aclose_forcefully(self._inner)

    async with FakeServer() as server:

        async def connect(origin: Origin) -> trio.abc.Stream:
            return SlowClose(await server.connect(origin))

        client = Client(api_key=KEY, base_url="http://fake.test/v1", connector=connect)
        server.enqueue(*[FakeResponse.json(MODEL, headers_delay=1.0)] * 6)
        async with trio.open_nursery() as nursery:
            for _ in range(6):
                nursery.start_soon(client.models.retrieve, "m")
        assert client.pool_stats() == PoolStats(connections=6, idle=6)
        start = trio.current_time()
        with trio.CancelScope() as scope:
            scope.cancel()
            # Already cancelled, yet the close runs (shielded), and six
            # stalled polite closes share one short grace period.
            await client.aclose()
        assert len(closed) == 6
        assert trio.current_time() - start <= 0.6
        assert client.pool_stats() == PoolStats()
        # The transport underneath really was closed: the server saw it go.
        with trio.fail_after(1.0):
            while server.active_connections:  # noqa: ASYNC110 - no event to wait on
                await trio.sleep(0.01)
        # Idempotent.
        await client.aclose()
        with pytest.raises(openai_trio.APIConnectionError):
            await client.models.list()
