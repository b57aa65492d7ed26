"""Connection pool behaviour seen through the client: reuse, limits, dead
idle connections, draining finished streams and discarding broken ones."""

from __future__ import annotations

import json
import logging
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import pytest
import trio
import trio.testing

import openai_trio
from openai_sansio import HTTP11Connection, Origin, Request
from openai_trio import APIConnectionError, Client, PoolStats, Timeout
from openai_trio._connection import Connection, Limits
from openai_trio._pool import ConnectionPool
from openai_trio.testing import FakeResponse, FakeServer

KEY = "sk-test-pool"
MESSAGES = [{"role": "user", "content": "Hello"}]
CHUNK = {
    "id": "c",
    "object": "chat.completion.chunk",
    "created": 0,
    "model": "m",
    "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}],
}
MODEL = {"id": "m", "object": "model", "created": 0, "owned_by": "me"}


@asynccontextmanager
async def fake_client(**kwargs: Any) -> AsyncIterator[tuple[FakeServer, Client]]:
    async with FakeServer() as server:
        kwargs.setdefault("api_key", KEY)
        kwargs.setdefault("base_url", "http://fake.test/v1")
        async with Client(connector=server.connect, **kwargs) as client:
            yield server, client


@asynccontextmanager
async def tcp_client(**kwargs: Any) -> AsyncIterator[tuple[FakeServer, Client]]:
    async with FakeServer() as server:
        await server.serve_tcp()
        async with Client(api_key=KEY, base_url=server.base_url, **kwargs) as client:
            yield server, client


def keep_alive_then_close(obj: object) -> FakeResponse:
    """A complete keep-alive response after which the server hangs up, as a
    server does when its idle timeout runs out."""
    body = json.dumps(obj).encode()
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    return FakeResponse.raw([head + body], close=True)


async def wait_closed(server: FakeServer) -> None:
    while server.active_connections:  # noqa: ASYNC110 - the fake server has no event for this
        await trio.sleep(0.001)


async def test_sequential_streams_share_one_tcp_connection() -> None:
    async with tcp_client() as (server, client):
        for _ in range(5):
            async with await client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, stream=True
            ) as stream:
                async for _chunk in stream:
                    pass
            assert client.pool_stats() == PoolStats(connections=1, idle=1)
        assert server.connections_opened == 1
        assert {r.connection for r in server.requests} == {1}


async def test_stream_left_after_done_is_drained_and_reused() -> None:
    async with fake_client() as (server, client):
        for _ in range(3):
            async with await client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, stream=True
            ) as stream:
                first = await stream.__anext__()
                assert first is not None
                # Read until the decoder has seen [DONE] but leave the end
                # of the HTTP body unread: aclose() drains it.
                async for _chunk in stream:
                    pass
        assert server.connections_opened == 1


async def test_breaking_out_early_releases_the_connection() -> None:
    async with fake_client() as (server, client):
        server.enqueue(FakeResponse.sse([CHUNK] * 50, delay=0.01))
        async with await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        ) as stream:
            async for _chunk in stream:
                assert client.pool_stats().in_use == 1
                break
        # Unfinished body: the connection is closed, not returned.
        assert client.pool_stats() == PoolStats()
        completion = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert completion.choices
        assert server.connections_opened == 2


async def test_exception_inside_stream_block_releases() -> None:
    async with fake_client() as (_server, client):
        with pytest.raises(KeyError):
            async with await client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, stream=True
            ) as stream:
                await stream.__anext__()
                raise KeyError("user code failed")
        assert client.pool_stats().in_use == 0


async def test_too_much_after_done_closes_instead_of_draining() -> None:
    pieces = [
        b"data: " + json.dumps(CHUNK).encode() + b"\n\n",
        b"data: [DONE]\n\n",
        *([b": " + b"x" * 8190 + b"\n"] * 12),
    ]
    async with fake_client() as (server, client):
        server.enqueue(FakeResponse.sse([], chunks=pieces))
        async with await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        ) as stream:
            items = [c async for c in stream]
        assert len(items) == 1
        assert client.pool_stats() == PoolStats()
        await client.models.list()
        assert server.connections_opened == 2


async def test_slow_end_after_done_is_bounded_in_time(autojump_clock: trio.testing.MockClock) -> None:
    async with fake_client() as (server, client):
        # Every piece after the first comes 30 s late: [DONE] arrives, then
        # the end of the body would take another 30 s.
        server.enqueue(FakeResponse.sse([CHUNK], chunks=[10_000], delay=30.0))
        server.enqueue(FakeResponse.sse([], chunks=[b"data: [DONE]\n\n", b": late\n\n"], delay=30.0))
        async with await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        ) as stream:
            items = [c async for c in stream]
        assert len(items) == 1
        start = trio.current_time()
        async with await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        ) as stream:
            assert [c async for c in stream] == []
        assert trio.current_time() - start <= 2.0
        assert client.pool_stats().in_use == 0


async def test_connection_close_header_is_respected() -> None:
    async with fake_client() as (server, client):
        server.enqueue(FakeResponse.json(MODEL, keep_alive=False))
        await client.models.retrieve("m")
        assert client.pool_stats() == PoolStats()
        await client.models.retrieve("gpt-4o")
        assert server.connections_opened == 2


async def test_idle_connection_closed_by_peer_is_detected_on_tcp(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="openai_trio")
    async with tcp_client(max_retries=0) as (server, client):
        server.enqueue(keep_alive_then_close(MODEL))
        await client.models.retrieve("m")
        assert client.pool_stats().idle == 1
        await wait_closed(server)
        model = await client.models.retrieve("gpt-4o")
        assert model.id == "gpt-4o"
        assert server.connections_opened == 2
        # Found dead before anything was written to it.
        assert not any("sending again" in r.getMessage() for r in caplog.records)
        assert [r.headers["x-retry-count"] for r in server.requests] == ["0", "0"]


async def test_stale_reused_connection_is_resent_without_a_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="openai_trio")
    async with fake_client(max_retries=0) as (server, client):
        server.enqueue(keep_alive_then_close(MODEL))
        await client.models.retrieve("m")
        await wait_closed(server)
        # Memory streams cannot be checked while idle: the request goes out,
        # meets EOF before any response byte, and is sent again.
        model = await client.models.retrieve("gpt-4o")
        assert model.id == "gpt-4o"
        assert server.connections_opened == 2
        assert any("sending again" in r.getMessage() for r in caplog.records)
        assert client.pool_stats() == PoolStats(connections=1, idle=1)


async def test_fresh_connection_closed_without_response_is_an_error() -> None:
    async with fake_client(max_retries=0) as (server, client):
        server.enqueue(FakeResponse.raw([]))
        with pytest.raises(openai_trio.APIConnectionError):
            await client.models.retrieve("m")
        assert client.pool_stats() == PoolStats()


@pytest.mark.parametrize(
    "pieces",
    [
        [b"NOT HTTP AT ALL\r\n\r\n"],
        [b"HTTP/1.1 200 OK\r\nbroken header line\r\n\r\n"],
        [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"],
    ],
)
async def test_malformed_response_is_remote_protocol_error(pieces: list[bytes]) -> None:
    async with fake_client(max_retries=3) as (server, client):
        server.enqueue(FakeResponse.raw(pieces))
        with trio.fail_after(5):
            with pytest.raises(openai_trio.APIError) as info:
                await client.models.retrieve("m")
        assert isinstance(info.value, openai_trio.RemoteProtocolError)
        assert len(server.requests) == 1
        assert client.pool_stats() == PoolStats()
        assert (await client.models.retrieve("gpt-4o")).id == "gpt-4o"


async def test_a_body_cut_short_by_a_close_is_retried_as_a_connection_error() -> None:
    async with fake_client(max_retries=3) as (server, client):
        server.enqueue(FakeResponse.raw([b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc"]))
        with trio.fail_after(5):
            assert (await client.models.retrieve("gpt-4o")).id == "gpt-4o"
        assert len(server.requests) == 2
        server.enqueue(FakeResponse.raw([b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc"]))
        with trio.fail_after(5), pytest.raises(openai_trio.IncompleteResponseError) as info:
            await client.models.retrieve("m", max_retries=0)
        # Both a protocol failure and a connection error.
        assert isinstance(info.value, openai_trio.RemoteProtocolError)
        assert isinstance(info.value, openai_trio.APIConnectionError)
        assert "received 3 bytes, expected 10" in str(info.value)
        assert client.pool_stats() == PoolStats()


async def test_malformed_head_is_not_retried() -> None:
    async with fake_client(max_retries=3) as (server, client):
        server.enqueue(FakeResponse.raw([b"HTTP/1.1 200 OK\r\nbroken header line\r\n\r\n"]))
        with pytest.raises(openai_trio.RemoteProtocolError):
            await client.models.retrieve("m")
        assert len(server.requests) == 1


async def test_max_connections_makes_callers_wait() -> None:
    async with fake_client(max_connections=1) as (server, client):
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        )
        results: list[str] = []

        async def second() -> None:
            model = await client.models.retrieve("gpt-4o")
            results.append(model.id)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(second)
            await trio.testing.wait_all_tasks_blocked()
            assert client.pool_stats().waiting == 1
            assert results == []
            async with stream:
                async for _chunk in stream:
                    pass
        assert results == ["gpt-4o"]
        assert server.connections_opened == 1
        assert client.pool_stats() == PoolStats(connections=1, idle=1)


async def test_pool_timeout(autojump_clock: trio.testing.MockClock) -> None:
    async with fake_client(max_connections=1, max_retries=0) as (_server, client):
        async with await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        ):
            with pytest.raises(openai_trio.APITimeoutError) as info:
                await client.models.retrieve("gpt-4o", timeout=Timeout(pool=2.0))
            assert info.value.limit == "pool"
            assert client.pool_stats().waiting == 0
        assert client.pool_stats().in_use == 0


async def test_concurrent_requests_open_parallel_connections() -> None:
    async with fake_client(max_connections=3) as (server, client):
        async with trio.open_nursery() as nursery:
            for _ in range(6):
                nursery.start_soon(client.models.retrieve, "gpt-4o")
        assert 1 <= server.connections_opened <= 3
        stats = client.pool_stats()
        assert stats.in_use == 0 and stats.connections == stats.idle <= 3


async def test_pool_validates_and_refuses_after_close() -> None:
    async def never(_origin: Origin) -> trio.abc.Stream:
        raise AssertionError("not called")

    with pytest.raises(ValueError):
        ConnectionPool(never, max_connections=0)
    pool = ConnectionPool(never)
    assert pool.max_connections == 100
    await pool.aclose()
    with pytest.raises(openai_trio.APIConnectionError):
        await pool.acquire(Origin("http", "x", 80), Limits())


async def test_fresh_acquire_evicts_an_idle_connection_at_the_limit() -> None:
    opened: list[trio.abc.Stream] = []

    async def connect(_origin: Origin) -> trio.abc.Stream:
        client_side, server_side = trio.testing.memory_stream_pair()
        opened.append(server_side)
        return client_side

    pool = ConnectionPool(connect, max_connections=1)
    origin = Origin("http", "x", 80)
    conn = await pool.acquire(origin, Limits())
    await pool.release(conn)
    assert pool.stats() == PoolStats(connections=1, idle=1)
    again = await pool.acquire(origin, Limits())
    assert again is conn
    await pool.release(again)
    fresh = await pool.acquire(origin, Limits(), fresh=True)
    assert fresh is not conn
    assert conn.is_closed
    assert pool.stats() == PoolStats(connections=1, in_use=1)
    await pool.release(fresh, discard=True)
    assert pool.stats() == PoolStats()
    await pool.aclose()
    for stream in opened:
        await stream.aclose()


async def test_reused_connection_closed_before_response_is_resent() -> None:
    async with fake_client(max_retries=0) as (server, client):
        await client.models.retrieve("gpt-4o")
        # The server reads the next request on the same connection and hangs
        # up without a byte of response.
        server.enqueue(FakeResponse.raw([]))
        model = await client.models.retrieve("gpt-4o")
        assert model.id == "gpt-4o"
        assert [r.connection for r in server.requests] == [1, 1, 2]
        assert [r.headers["x-retry-count"] for r in server.requests] == ["0", "0", "0"]
        assert client.pool_stats() == PoolStats(connections=1, idle=1)


async def test_stale_resend_happens_once_only() -> None:
    async with fake_client(max_retries=0) as (server, client):
        await client.models.retrieve("gpt-4o")
        server.enqueue(FakeResponse.raw([]), FakeResponse.raw([]))
        # The second close comes on a fresh connection: a real error.
        with pytest.raises(openai_trio.APIConnectionError):
            await client.models.retrieve("gpt-4o")
        assert len(server.requests) == 3
        assert client.pool_stats() == PoolStats()


class FaultyStream(trio.abc.Stream):
    """A transport that fails in a chosen way."""

    def __init__(self, *, on_send: BaseException | None = None, on_receive: BaseException | None = None) -> None:
        self.on_send = on_send
        self.on_receive = on_receive
        self.closed = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await trio.lowlevel.checkpoint()
        if self.on_send is not None:
            raise self.on_send

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.lowlevel.checkpoint()
        if self.on_receive is not None:
            raise self.on_receive
        return b""

    async def aclose(self) -> None:
        self.closed = True
        await trio.lowlevel.checkpoint()


@pytest.mark.parametrize(
    "stream",
    [
        FaultyStream(on_send=trio.BrokenResourceError("send broke")),
        FaultyStream(on_send=ConnectionResetError("reset")),
        FaultyStream(on_receive=trio.BrokenResourceError("receive broke")),
        FaultyStream(on_receive=ConnectionResetError("reset")),
    ],
    ids=["send-broken", "send-reset", "receive-broken", "receive-reset"],
)
async def test_transport_errors_become_connection_errors(stream: FaultyStream) -> None:
    async def connect(_origin: Origin) -> trio.abc.Stream:
        return stream

    async with Client(api_key=KEY, base_url="http://x.test/v1", connector=connect, max_retries=0) as client:
        with pytest.raises(openai_trio.APIConnectionError) as info:
            await client.models.list()
        assert not isinstance(info.value, openai_trio.APITimeoutError)
        assert isinstance(info.value.__cause__, (OSError, trio.BrokenResourceError))
        assert info.value.request is not None
        assert client.pool_stats() == PoolStats()
    assert stream.closed


async def test_connection_repr_and_double_close() -> None:
    async with fake_client() as (_server, client):
        await client.models.list()
        (conn,) = client._pool._origins[Origin("http", "fake.test", 80)].connections
        assert "idle" in repr(conn)
        assert conn.max_streams == 1
        await conn.aclose()
        await conn.aclose()
        assert "closed" in repr(conn)
        # A closed idle connection is dropped when next looked at.
        await client.models.list()
        assert client.pool_stats() == PoolStats(connections=1, idle=1)


async def test_reused_tcp_connection_closed_after_a_post_was_read_is_not_sent_again_free() -> None:
    # Looks healthy while idle; the server reads the next request on it and
    # hangs up without answering, as one does when its keep-alive timer
    # fires just as the request arrives.  It may have acted on the POST, so
    # with max_retries=0 it is not sent a second time.
    async with tcp_client(max_retries=0) as (server, client):
        await client.models.retrieve("gpt-4o")
        server.enqueue(FakeResponse.raw([]))
        with pytest.raises(APIConnectionError):
            await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert [r.path for r in server.requests] == ["/v1/models/gpt-4o", "/v1/chat/completions"]
        assert client.pool_stats() == PoolStats()


async def test_reused_tcp_connection_closed_after_a_post_spends_a_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="openai_trio")
    async with tcp_client(max_retries=1) as (server, client):
        await client.models.retrieve("gpt-4o")
        server.enqueue(FakeResponse.raw([]))
        completion = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert completion.choices
        assert [r.connection for r in server.requests] == [1, 1, 2]
        # The second copy is a counted retry carrying the same key, so the
        # server can tell it is one.
        assert [r.headers["x-retry-count"] for r in server.requests] == ["0", "0", "1"]
        assert server.requests[1].headers["idempotency-key"] == server.requests[2].headers["idempotency-key"]
        assert any("Retrying" in r.getMessage() for r in caplog.records)
        assert client.pool_stats() == PoolStats(connections=1, idle=1)


async def test_reused_tcp_connection_closed_after_a_get_sends_it_again_free(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="openai_trio")
    async with tcp_client(max_retries=0) as (server, client):
        await client.models.retrieve("gpt-4o")
        server.enqueue(FakeResponse.raw([]))
        model = await client.models.retrieve("gpt-4o-mini")
        assert model.id == "gpt-4o-mini"
        assert [r.connection for r in server.requests] == [1, 1, 2]
        assert [r.headers["x-retry-count"] for r in server.requests] == ["0", "0", "0"]
        assert any("sending again" in r.getMessage() for r in caplog.records)


async def test_a_post_whose_idempotency_key_was_removed_reaches_the_server_once() -> None:
    # The case: max_retries=2 and no key used to reach the server
    # six times (each attempt re-sent once on a fresh connection).
    async with tcp_client(max_retries=2) as (server, client):
        await client.models.retrieve("gpt-4o")
        for _ in range(6):
            server.enqueue(FakeResponse.raw([]))
        with pytest.raises(APIConnectionError):
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, extra_headers={"Idempotency-Key": None}
            )
        posts = [r for r in server.requests if r.method == "POST"]
        assert len(posts) == 1 and "idempotency-key" not in posts[0].headers


async def test_with_a_key_a_post_reaches_the_server_at_most_one_plus_max_retries_times() -> None:
    async with tcp_client(max_retries=2) as (server, client):
        await client.models.retrieve("gpt-4o")
        for _ in range(6):
            server.enqueue(FakeResponse.raw([]))
        with pytest.raises(APIConnectionError):
            await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        posts = [r for r in server.requests if r.method == "POST"]
        assert [r.headers["x-retry-count"] for r in posts] == ["0", "1", "2"]


async def test_idle_tcp_connection_with_stray_bytes_is_not_reused() -> None:
    async with tcp_client(max_retries=0) as (server, client):
        body = json.dumps(MODEL).encode()
        # A complete response followed by bytes that answer nothing, then the
        # server keeps the connection open: whatever it is, it is not ours
        # to read as the next response.
        server.enqueue(
            FakeResponse.raw(
                [
                    b"HTTP/1.1 200 OK\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body,
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}",
                ],
                close=False,
                delay=0.05,
            )
        )
        await client.models.retrieve("m")
        await trio.sleep(0.2)
        model = await client.models.retrieve("gpt-4o")
        assert model.id == "gpt-4o"
        assert server.connections_opened == 2
        assert client.pool_stats() == PoolStats(connections=1, idle=1)


async def test_many_sequential_requests_and_streams_share_one_tcp_connection() -> None:
    async with tcp_client() as (server, client):
        for i in range(10):
            if i % 2:
                await client.models.retrieve("gpt-4o")
            else:
                async with await client.chat.completions.create(
                    model="gpt-4o-mini", messages=MESSAGES, stream=True
                ) as stream:
                    # Leave right after the last item: the end of the body
                    # is drained by the close so the connection is reused.
                    async for _chunk in stream:
                        pass
        assert server.connections_opened == 1
        assert client.connections_opened == 1
        assert len(server.requests) == 10


ORIGIN = Origin("http", "x.test", 80)


class RecordingStream(trio.abc.Stream):
    """Records every write; yields to the scheduler inside each one, so
    two unsynchronised writers would interleave."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await trio.lowlevel.checkpoint()
        self.writes.append(bytes(data))
        await trio.lowlevel.checkpoint()

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


class MultiplexingProtocol:
    """A stand-in for a multiplexed (HTTP/2-like) protocol: many requests
    at once, each framed as one large byte run of its own letter."""

    max_streams = 8
    is_idle = True
    is_reusable = True
    is_closed = False

    def __init__(self) -> None:
        self._next = 1
        self._out = b""

    def send(self, request: Request) -> int:
        stream_id = self._next
        self._next += 2
        self._out += request.method[:1].encode() * 200_000
        return stream_id

    def data_to_send(self) -> bytes:
        out, self._out = self._out, b""
        return out

    def receive_data(self, data: bytes) -> None:
        raise AssertionError("not used")

    def next_event(self) -> Any:
        raise AssertionError("not used")


async def test_concurrent_senders_never_interleave_bytes() -> None:
    stream = RecordingStream()
    conn = Connection(stream, ORIGIN, MultiplexingProtocol())
    ids: list[int] = []

    async def send(method: str) -> None:
        ids.append(await conn.send_request(Request(method, ORIGIN, "/", ()), Limits()))

    async with trio.open_nursery() as nursery:
        for method in ("A", "B", "C"):
            nursery.start_soon(send, method)
    assert sorted(ids) == [1, 3, 5]
    # Several writes each (the body is sent in pieces), yet every request's
    # bytes are contiguous on the wire.
    assert len(stream.writes) > 3
    wire = b"".join(stream.writes)
    runs = [wire[i : i + 200_000] for i in range(0, len(wire), 200_000)]
    assert len(runs) == 3
    assert all(len(set(run)) == 1 for run in runs)
    await conn.aclose()


@pytest.mark.parametrize(
    "failure",
    [trio.BrokenResourceError("gone"), ConnectionResetError("reset"), KeyboardInterrupt()],
    ids=["broken", "reset", "interrupt"],
)
async def test_send_failure_marks_the_connection_broken(failure: BaseException) -> None:
    stream = FaultyStream(on_send=failure)
    conn = Connection(stream, ORIGIN, HTTP11Connection())
    assert (conn.has_free_slot, conn.is_closed) == (True, False)
    with pytest.raises((openai_trio.APIConnectionError, KeyboardInterrupt)) as info:
        await conn.send_request(Request("GET", ORIGIN, "/", ()), Limits())
    if not isinstance(failure, KeyboardInterrupt):
        assert info.value.__cause__ is failure
    assert conn.is_closed
    assert not conn.has_free_slot and not conn.can_return_to_pool
    await conn.aclose()
    assert stream.closed


async def test_send_cancelled_midway_marks_the_connection_broken() -> None:
    client_side, _server_side = trio.testing.lockstep_stream_pair()
    conn = Connection(client_side, ORIGIN, HTTP11Connection())
    with trio.move_on_after(0.01) as scope:
        await conn.send_request(Request("POST", ORIGIN, "/", (), b"x" * 100_000), Limits())
    assert scope.cancelled_caught
    assert conn.is_closed
    await conn.aclose()


class ScriptedStream(trio.abc.Stream):
    """Answers the first request with a canned keep-alive response, then
    fails the next read with ``failure``: a reused connection reset by the
    peer before it answered."""

    def __init__(self, response: bytes, failure: BaseException) -> None:
        self._replies = [response]
        self._failure = failure
        self._ready = False
        self.closed = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await trio.lowlevel.checkpoint()
        self._ready = True

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.lowlevel.checkpoint()
        assert self._ready
        self._ready = False
        if self._replies:
            return self._replies.pop()
        raise self._failure

    async def aclose(self) -> None:
        self.closed = True
        await trio.lowlevel.checkpoint()


@pytest.mark.parametrize(
    "failure", [ConnectionResetError("reset"), trio.BrokenResourceError("gone")], ids=["reset", "broken"]
)
async def test_reused_connection_reset_before_answer_is_resent(failure: BaseException) -> None:
    body = json.dumps(MODEL).encode()
    canned = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
    async with FakeServer() as server:
        scripted = ScriptedStream(canned, failure)
        streams = [scripted]

        async def connect(origin: Origin) -> trio.abc.Stream:
            return streams.pop() if streams else await server.connect(origin)

        async with Client(
            api_key=KEY, base_url="http://fake.test/v1", connector=connect, max_retries=0
        ) as client:
            assert (await client.models.retrieve("m")).id == "m"
            assert (await client.models.retrieve("gpt-4o")).id == "gpt-4o"
            assert scripted.closed
            assert len(server.requests) == 1
            assert server.requests[0].headers["x-retry-count"] == "0"
            assert client.pool_stats() == PoolStats(connections=1, idle=1)


async def test_total_deadline_while_waiting_for_the_pool(autojump_clock: trio.testing.MockClock) -> None:
    async with fake_client(max_connections=1, max_retries=0) as (_server, client):
        held = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        async with held:
            start = trio.current_time()
            with pytest.raises(openai_trio.APITimeoutError) as info:
                await client.models.retrieve("gpt-4o", timeout=Timeout(pool=50.0, total=2.0))
            assert info.value.limit == "total"
            assert trio.current_time() - start == pytest.approx(2.0)
            assert client.pool_stats().waiting == 0


async def test_client_closed_while_connecting() -> None:
    release = trio.Event()
    peers: list[trio.abc.Stream] = []

    async def slow(_origin: Origin) -> trio.abc.Stream:
        await release.wait()
        client_side, server_side = trio.testing.memory_stream_pair()
        peers.append(server_side)
        return client_side

    client = Client(api_key=KEY, base_url="http://x.test/v1", connector=slow, max_retries=3)
    errors: list[BaseException] = []

    async def call() -> None:
        try:
            await client.models.list()
        except openai_trio.APIConnectionError as exc:
            errors.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(call)
        await trio.testing.wait_all_tasks_blocked()
        assert client.pool_stats().connecting == 1
        await client.aclose()
        release.set()
    assert len(errors) == 1 and "closed" in str(errors[0])
    assert client.pool_stats() == PoolStats()
    assert client.connections_opened == 1
    for peer in peers:
        # The connection that arrived too late was closed at once.
        assert await peer.receive_some() == b""
        await peer.aclose()
