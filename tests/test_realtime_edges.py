# The server events are wide unions; the tests know which one they read.
# mypy: disable-error-code="union-attr"
"""client.realtime.connect() and client.responses.connect() at their edges:
transports that fail or stall while connecting, reading and writing; a
scripted peer (wsproto's server side over a memory stream, driven by the
test) for pongs, pings and frames the fake server never sends; settings
refused by connect(); the Responses connection's lanes when the connection
ends under them."""

from __future__ import annotations

import json
import types
from collections import deque
from typing import Any

import pytest
import trio
import trio.testing
from wsproto import ConnectionType, WSConnection
from wsproto import events as we

import openai_trio
from openai_sansio import Origin
from openai_trio import (
    APIConnectionError,
    APITimeoutError,
    AudioCollector,
    LocalProtocolError,
    OpenAIError,
    RemoteProtocolError,
    WebSocketClosedError,
    WebSocketConnectionClosed,
)
from openai_trio.testing import FakeServer

KEY = "sk-test-realtime-edges-canary-3d81"
MODEL = "gpt-realtime"


class Faulty(trio.abc.Stream):
    """A stream whose writes or reads can be made to fail on demand."""

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner
        self.fail_writes = False
        self.fail_reads: BaseException | None = None

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self.fail_writes:
            raise trio.BrokenResourceError("scripted write failure")
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        if self.fail_reads is not None:
            raise self.fail_reads
        data = await self.inner.receive_some(max_bytes)
        if self.fail_reads is not None:
            raise self.fail_reads
        return data

    async def aclose(self) -> None:
        await self.inner.aclose()


class Peer:
    """The server side of one connection, played by the test with wsproto:
    it accepts the upgrade and then does only what the test tells it."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.SERVER)
        self.pending: deque[we.Event] = deque()
        self.accepted = trio.Event()

    async def accept(self) -> None:
        request = await self.next()
        assert isinstance(request, we.Request)
        await self.send(we.AcceptConnection())
        self.accepted.set()

    async def next(self) -> we.Event | None:
        while not self.pending:
            self.pending.extend(self.ws.events())
            if self.pending:
                break
            with trio.fail_after(50):
                data = await self.stream.receive_some(65536)
            if not data:
                return None
            self.ws.receive_data(bytes(data))
        return self.pending.popleft()

    async def send(self, event: we.Event) -> None:
        await self.stream.send_all(self.ws.send(event))

    async def send_json(self, event: dict[str, Any]) -> None:
        await self.send(we.TextMessage(data=json.dumps(event)))


class Peers:
    """A connector whose every connection is a ``Peer`` (listed in
    ``peers``), wrapped in ``Faulty`` (listed in ``streams``)."""

    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self.peers: list[Peer] = []
        self.streams: list[Faulty] = []

    async def __call__(self, origin: Origin) -> trio.abc.Stream:
        client_side, server_side = trio.testing.memory_stream_pair()
        peer = Peer(server_side)
        self.peers.append(peer)
        self._nursery.start_soon(peer.accept)
        self.streams.append(Faulty(client_side))
        return self.streams[-1]


def client_with(connector: Any, **kwargs: Any) -> openai_trio.Client:
    return openai_trio.Client(api_key=KEY, base_url="https://fake.test/v1", connector=connector, **kwargs)


async def next_of(conn: Any, kind: str) -> Any:
    async for event in conn:
        if event.type == kind:
            return event
    raise AssertionError(f"the connection ended before {kind}")


# -- connect() refuses bad settings -----------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [("max_queue", 0), ("max_queue", True), ("max_message_size", 0), ("max_message_size", 1.5), ("close_timeout", None)],
)
def test_connect_refuses_bad_settings(option: str, value: Any) -> None:
    client = client_with(None)
    with pytest.raises(LocalProtocolError, match=option):
        client.realtime.connect(model=MODEL, **{option: value})
    with pytest.raises(LocalProtocolError, match=option):
        client.responses.connect(**{option: value})


@pytest.mark.parametrize("value", [0, -5, True, "60", float("nan")])
def test_responses_connect_refuses_a_bad_reconnect_after(value: Any) -> None:
    with pytest.raises(LocalProtocolError, match="reconnect_after"):
        client_with(None).responses.connect(reconnect_after=value)


# -- opening --------------------------------------------------------------------------


async def test_a_connector_that_fails_is_a_connection_error() -> None:
    async def refused(origin: Origin) -> trio.abc.Stream:
        raise ConnectionRefusedError(111, "Connection refused")

    async with client_with(refused) as client:
        with pytest.raises(APIConnectionError, match="Could not connect") as info:
            async with client.realtime.connect(model=MODEL):
                pass  # pragma: no cover
        assert isinstance(info.value.__cause__, ConnectionRefusedError)


async def test_a_connector_that_hangs_times_out(autojump_clock: trio.testing.MockClock) -> None:
    async def hangs(origin: Origin) -> trio.abc.Stream:
        await trio.sleep_forever()
        raise AssertionError  # pragma: no cover

    async with client_with(hangs, timeout=openai_trio.Timeout(60, connect=3)) as client:
        with pytest.raises(APITimeoutError) as info:
            async with client.responses.connect():
                pass  # pragma: no cover
        assert info.value.limit == "connect"


async def test_a_server_that_never_answers_the_upgrade_times_out(autojump_clock: trio.testing.MockClock) -> None:
    kept: list[trio.abc.Stream] = []

    async def silent(origin: Origin) -> trio.abc.Stream:
        client_side, server_side = trio.testing.memory_stream_pair()
        kept.append(server_side)
        return client_side

    async with client_with(silent, timeout=openai_trio.Timeout(60, read=4)) as client:
        with pytest.raises(APITimeoutError) as info:
            async with client.realtime.connect(model=MODEL):
                pass  # pragma: no cover
        assert info.value.limit == "read"
    # The upgrade request had been sent in full.
    assert b"upgrade: websocket" in (await kept[0].receive_some()).lower()


async def test_a_read_failing_during_the_upgrade_is_a_connection_error() -> None:
    async def failing(origin: Origin) -> trio.abc.Stream:
        client_side, _server_side = trio.testing.memory_stream_pair()
        stream = Faulty(client_side)
        stream.fail_reads = trio.BrokenResourceError("reset by peer")
        return stream

    async with client_with(failing) as client:
        with pytest.raises(APIConnectionError, match="reset by peer"):
            async with client.realtime.connect(model=MODEL):
                pass  # pragma: no cover


# -- reading and writing over a scripted peer ----------------------------------------


async def test_pongs_with_another_payload_do_not_answer_a_ping(autojump_clock: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        peers = Peers(nursery)
        async with client_with(peers) as client, client.realtime.connect(model=MODEL, ping_interval=5, ping_timeout=2) as conn:
            peer = peers.peers[0]
            ping = await peer.next()
            assert isinstance(ping, we.Ping)
            # Unasked pongs, and one for a ping never sent: not the answer.
            await peer.send(we.Pong(payload=b"other"))
            await peer.send(we.Pong(payload=ping.payload + b"x"))
            with pytest.raises(APITimeoutError) as info:
                await conn.recv()
            assert info.value.limit == "ping"


async def test_without_a_ping_timeout_unanswered_pings_are_fine(autojump_clock: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        peers = Peers(nursery)
        async with client_with(peers) as client, client.realtime.connect(model=MODEL, ping_interval=5, ping_timeout=None) as conn:
            peer = peers.peers[0]
            await trio.sleep(60)
            pings: list[bytes] = []
            while len(pings) < 10:
                event = await peer.next()
                assert isinstance(event, we.Ping)
                pings.append(event.payload)
            # Each ping has its own payload.
            assert len(set(pings)) == 10
            await peer.send_json({"type": "session.created", "event_id": "e1", "session": {}})
            assert (await conn.recv()).type == "session.created"


async def test_a_read_failing_after_the_upgrade_ends_the_connection() -> None:
    async with trio.open_nursery() as nursery:
        peers = Peers(nursery)
        async with client_with(peers) as client, client.realtime.connect(model=MODEL, ping_interval=None) as conn:
            peers.streams[0].fail_reads = OSError(104, "Connection reset by peer")
            await peers.peers[0].send_json({"type": "session.created", "event_id": "e1", "session": {}})
            with pytest.raises(APIConnectionError, match="reset by peer"):
                await conn.recv()
            with pytest.raises(APIConnectionError):
                await conn.session.update(session={})


async def test_a_failed_answer_to_a_ping_ends_the_connection() -> None:
    async with trio.open_nursery() as nursery:
        peers = Peers(nursery)
        async with client_with(peers) as client, client.realtime.connect(model=MODEL, ping_interval=None) as conn:
            peers.streams[0].fail_writes = True
            await peers.peers[0].send(we.Ping(payload=b"hi"))
            with pytest.raises(APIConnectionError, match="scripted write failure"):
                await conn.recv()


async def test_a_failed_keepalive_ping_ends_the_connection(autojump_clock: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        peers = Peers(nursery)
        async with client_with(peers) as client, client.realtime.connect(model=MODEL, ping_interval=5) as conn:
            peers.streams[0].fail_writes = True
            with pytest.raises(APIConnectionError, match="scripted write failure"):
                await conn.recv()


@pytest.mark.parametrize("writes_fail", [False, True])
async def test_a_bad_frame_is_a_remote_protocol_error(writes_fail: bool) -> None:
    async with trio.open_nursery() as nursery:
        peers = Peers(nursery)
        async with client_with(peers) as client, client.realtime.connect(model=MODEL, ping_interval=None) as conn:
            peer = peers.peers[0]
            peers.streams[0].fail_writes = writes_fail
            # Opcode 3 is reserved (RFC 6455 5.2).
            await peer.stream.send_all(b"\x83\x00")
            # The server's fault is what is reported, even when telling the
            # server why (a close with 1002) fails to go out.
            with pytest.raises(RemoteProtocolError):
                await conn.recv()
            if not writes_fail:
                close = await peer.next()
                assert isinstance(close, we.CloseConnection) and close.code == 1002


async def test_a_clean_close_stays_clean_when_its_answer_cannot_go_out() -> None:
    async with trio.open_nursery() as nursery:
        peers = Peers(nursery)
        async with client_with(peers) as client, client.realtime.connect(model=MODEL, ping_interval=None) as conn:
            peers.streams[0].fail_writes = True
            await peers.peers[0].send(we.CloseConnection(code=1000, reason="done"))
            assert [event async for event in conn] == []
            with pytest.raises(WebSocketConnectionClosed) as info:
                await conn.recv()
            assert (info.value.code, info.value.reason, info.value.local) == (1000, "done", False)


async def test_close_on_a_broken_transport_does_not_raise() -> None:
    async with trio.open_nursery() as nursery:
        peers = Peers(nursery)
        async with client_with(peers) as client, client.realtime.connect(model=MODEL, ping_interval=None) as conn:
            peers.streams[0].fail_writes = True
            await conn.close(code=4000, reason="bye")
            # The close could not go out: the write's failure is the ending.
            with pytest.raises(APIConnectionError):
                await conn.recv()


async def test_a_bug_under_the_connection_is_not_swallowed() -> None:
    async with trio.open_nursery() as nursery:
        peers = Peers(nursery)
        with pytest.RaisesGroup(pytest.RaisesExc(RuntimeError, match="a bug"), flatten_subgroups=True):
            async with client_with(peers) as client, client.realtime.connect(model=MODEL, ping_interval=None):
                peers.streams[0].fail_reads = RuntimeError("a bug")
                await peers.peers[0].send(we.Ping(payload=b"wake"))
                await trio.sleep_forever()
        nursery.cancel_scope.cancel()


# -- the Realtime helpers ----------------------------------------------------------------


async def test_realtime_helpers_refuse_misuse_and_expose_headers() -> None:
    async with FakeServer() as server, client_with(server.connect) as client:
        manager = client.realtime.connect(model=MODEL)
        async with manager as conn:
            assert conn.headers["x-request-id"] == "req_ws_1" == conn.request_id
            assert conn.headers["upgrade"] == "websocket"
            with pytest.raises(RuntimeError, match="already in use"):
                await manager.__aenter__()
            with pytest.raises(LocalProtocolError, match="chunk_size is over"):
                await conn.input_audio_buffer.append_audio(b"\0" * 4, chunk_size=12 * 1024 * 1024)
            with pytest.raises(LocalProtocolError, match="append_audio takes bytes, a path or a binary file"):
                await conn.input_audio_buffer.append_audio(42)  # type: ignore[arg-type]
            await conn.session.update(session={})
            assert (await next_of(conn, "session.updated")).type == "session.updated"
    assert [e["type"] for e in server.websocket.received] == ["session.update"]


async def test_collect_audio_stops_at_a_clean_close() -> None:
    delta = {"type": "response.output_audio.delta", "event_id": "e", "response_id": "r1", "item_id": "i",
             "output_index": 0, "content_index": 0, "delta": "AQID"}
    async with FakeServer() as server, client_with(server.connect) as client:
        server.websocket.events_on_connect = [delta]
        server.websocket.close_with(1000, "done", on="response.create")
        async with client.realtime.connect(model=MODEL) as conn:
            await conn.response.create()
            # No response.done ever comes: what arrived before the close.
            assert await conn.collect_audio() == b"\x01\x02\x03"


def test_the_audio_collector_skips_what_is_not_its_audio() -> None:
    collector = AudioCollector(response_id="r1")
    assert collector.feed(object()) == b""
    assert collector.feed(types.SimpleNamespace(type=7)) == b""
    other = types.SimpleNamespace(type="response.output_audio.delta", delta="AQID", response_id="r2")
    assert collector.feed(other) == b""
    assert collector.feed(types.SimpleNamespace(type="response.done", response=types.SimpleNamespace(id="r2"))) == b""
    assert not collector.done and collector.total == 0
    with pytest.raises(OpenAIError, match="not valid base64"):
        collector.feed(types.SimpleNamespace(type="response.output_audio.delta", delta="!!", response_id="r1"))
    collector.feed(types.SimpleNamespace(type="response.done", response=types.SimpleNamespace(id="r1")))
    assert collector.done


# -- the Responses connection ------------------------------------------------------------


@pytest.mark.parametrize(("code", "error"), [(1011, WebSocketClosedError), (1000, WebSocketConnectionClosed)])
async def test_a_response_cut_off_by_the_close_raises_how_it_ended(code: int, error: type[Exception]) -> None:
    async with FakeServer() as server, client_with(server.connect) as client:
        server.websocket.close_with(code, "going", on="response.create")
        async with client.responses.connect() as ws:
            stream = await ws.create(model="gpt-4o-mini", input="Hi")
            assert "done=False" in repr(stream)
            with pytest.raises(error):
                async for _ in stream:
                    pass  # pragma: no cover
            # Iterated again: finished, not raised twice.
            assert [event async for event in stream] == []
            # The lane is free: a new create is not refused as in flight
            # (after a clean close it goes out on a new connection).
            server.websocket.close_code = None
            if code == 1000:
                again = await ws.create(model="gpt-4o-mini", input="Again", wait=False)
                assert (await again.__anext__()).type == "response.created"
                assert ws.connections == 2
            else:
                with pytest.raises(WebSocketClosedError):
                    await ws.create(model="gpt-4o-mini", input="Again", wait=False)


async def test_iterating_the_connection_stops_at_a_clean_close() -> None:
    async with FakeServer() as server, client_with(server.connect) as client:
        server.websocket.events_on_connect = [{"type": "rate_limits.updated", "rate_limits": []}]
        server.websocket.close_with(1000, on="connect")
        manager = client.responses.connect()
        assert "ResponsesConnectionManager" in repr(manager) and KEY not in repr(manager)
        async with manager as ws:
            assert [event async for event in ws] == []


async def test_create_refuses_a_stream_id_that_is_not_a_str() -> None:
    async with FakeServer() as server, client_with(server.connect) as client, client.responses.connect() as ws:
        with pytest.raises(LocalProtocolError, match="stream_id"):
            await ws.create(model="gpt-4o-mini", input="Hi", stream_id=5)  # type: ignore[arg-type]
    assert server.websocket.received == []


async def test_a_create_whose_send_fails_frees_its_lane() -> None:
    async with trio.open_nursery() as nursery:
        peers = Peers(nursery)
        async with client_with(peers) as client, client.responses.connect(ping_interval=None) as ws:
            peers.streams[0].fail_writes = True
            with pytest.raises(APIConnectionError):
                await ws.create(model="gpt-4o-mini", input="Hi")
            # The broken connection is the answer, not "in flight".
            with pytest.raises(APIConnectionError):
                await ws.create(model="gpt-4o-mini", input="Hi", wait=False)


async def test_two_creates_racing_a_reconnect_take_turns(autojump_clock: trio.testing.MockClock) -> None:
    async with FakeServer() as server, client_with(server.connect) as client:
        server.websocket.event_delay = 0.1
        async with client.responses.connect(reconnect_after=10) as ws:
            await trio.sleep(20)
            finished: list[str] = []

            async def run(name: str) -> None:
                stream = await ws.create(model="gpt-4o-mini", input=name)
                kinds = [event.type async for event in stream]
                assert kinds[-1] == "response.completed" and kinds.count("response.created") == 1
                finished.append(name)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(run, "a")
                nursery.start_soon(run, "b")
            assert sorted(finished) == ["a", "b"]
            # One reconnect for both.
            assert ws.connections == 2
    assert [e["input"] for e in server.websocket.received] == finished


async def test_leaving_with_a_response_unread_and_its_lane_full(autojump_clock: trio.testing.MockClock) -> None:
    async with FakeServer() as server, client_with(server.connect) as client:
        async with client.responses.connect(max_queue=1, close_timeout=1) as ws:
            stream = await ws.create(model="gpt-4o-mini", input="Hi")
            # Let the reader fill the lane and block on it.
            await trio.testing.wait_all_tasks_blocked()
        # The block ended within the close timeout; the one event queued
        # is still there, then the end.
        first = await stream.__anext__()
        assert first.type == "response.created"
        with pytest.raises(WebSocketConnectionClosed) as info:
            await stream.__anext__()
        assert info.value.local
