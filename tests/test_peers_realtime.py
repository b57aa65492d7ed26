"""The sans-IO WebSocket core against an independent peer: a scripted
Realtime server on the ``websockets`` library (tests/peers/realtime_server.py),
a process of its own on 127.0.0.1, over ws and wss.

The core is driven here over plain trio streams (``trio.open_tcp_stream``,
``trio.SSLStream``), so these tests need nothing of the trio adapter.  What
the peer sent in one session is also replayed into a fresh connection whole,
byte by byte and at hypothesis split points: the same events every way.
"""

from __future__ import annotations

import os
import random
from typing import Any, Callable

import hypothesis
import hypothesis.strategies as st
import pytest
import trio
from peers.realtime_peer import RealtimePeer

from openai_sansio import (
    NEED_DATA,
    AuthenticationError,
    BadRequestError,
    ClientConfig,
    NotFoundError,
    UnknownRealtimeEvent,
    WebSocketClosed,
    WebSocketClosedError,
    WebSocketConnection,
    WebSocketOpened,
    WebSocketState,
    realtime_request,
)
from openai_sansio._websocket import PongReceived
from openai_sansio.types.realtime_events import (
    RealtimeServerEventConversationItemAdded,
    RealtimeServerEventConversationItemDone,
    RealtimeServerEventError,
    RealtimeServerEventResponseContentPartAdded,
    RealtimeServerEventResponseContentPartDone,
    RealtimeServerEventResponseCreated,
    RealtimeServerEventResponseDone,
    RealtimeServerEventResponseOutputItemAdded,
    RealtimeServerEventResponseOutputItemDone,
    RealtimeServerEventResponseTextDelta,
    RealtimeServerEventResponseTextDone,
    RealtimeServerEventSessionCreated,
    RealtimeServerEventSessionUpdated,
)

KEY = "sk-peer-" + "k" * 24
MODEL = "gpt-realtime"
TRANSPORTS = ["ws", "wss"]
# Every wait on the peer is bounded: a hang fails the test, never the run.
DEADLINE = 10.0

RESPONSE_ORDER = [
    RealtimeServerEventResponseCreated,
    RealtimeServerEventResponseOutputItemAdded,
    RealtimeServerEventResponseContentPartAdded,
]
RESPONSE_TAIL = [
    RealtimeServerEventResponseTextDone,
    RealtimeServerEventResponseContentPartDone,
    RealtimeServerEventResponseOutputItemDone,
    RealtimeServerEventResponseDone,
]


class Seeded:
    """A deterministic random source: a connection made with the same seed
    sends the same key and masks, so recorded server bytes replay."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def __call__(self, n: int) -> bytes:
        return self._random.randbytes(n)


def base_url(peer: RealtimePeer, transport: str) -> str:
    return peer.wss_base_url if transport == "wss" else peer.ws_base_url


class Driver:
    """One WebSocketConnection over a trio stream to the peer; ``received``
    keeps every byte the peer sent, for replays."""

    def __init__(self, stream: trio.abc.Stream, conn: WebSocketConnection) -> None:
        self.stream = stream
        self.conn = conn
        self.received: list[bytes] = []

    async def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            await self.stream.send_all(data)

    async def next(self) -> Any:
        """The next event; errors raised by the core come straight out."""
        while True:
            event = self.conn.next_event()
            await self.flush()
            if event is not NEED_DATA:
                return event
            data = bytes(await self.stream.receive_some(65536))
            self.received.append(data)
            self.conn.receive_data(data)

    async def send(self, event: Any) -> None:
        self.conn.send(event)
        await self.flush()

    async def until(self, kind: type, limit: int = 100_000) -> list[Any]:
        """Events up to and including the first ``kind``."""
        events = []
        for _ in range(limit):
            event = await self.next()
            events.append(event)
            if isinstance(event, kind):
                return events
        raise AssertionError(f"no {kind.__name__} in {limit} events")


async def connect(
    peer: RealtimePeer,
    transport: str,
    *,
    config: ClientConfig | None = None,
    random_bytes: Callable[[int], bytes] = os.urandom,
    **request: Any,
) -> Driver:
    if config is None:
        config = ClientConfig(api_key=KEY, base_url=base_url(peer, transport))
    stream: trio.abc.Stream = await trio.open_tcp_stream(peer.host, peer.wss_port if transport == "wss" else peer.ws_port)
    if transport == "wss":
        stream = trio.SSLStream(stream, peer.certs.client_context(), server_hostname=peer.host)
    conn = WebSocketConnection(realtime_request(config, **{"model": MODEL, **request}), random_bytes=random_bytes)
    driver = Driver(stream, conn)
    await driver.flush()
    return driver


async def opened(peer: RealtimePeer, transport: str, **kwargs: Any) -> tuple[Driver, WebSocketOpened]:
    driver = await connect(peer, transport, **kwargs)
    event = await driver.next()
    assert isinstance(event, WebSocketOpened)
    assert driver.conn.state is WebSocketState.OPEN
    return driver, event


async def close(driver: Driver) -> WebSocketClosed:
    driver.conn.close()
    await driver.flush()
    events = await driver.until(WebSocketClosed)
    closed = events[-1]
    assert isinstance(closed, WebSocketClosed)
    await driver.stream.aclose()
    return closed


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_handshake_and_session_created(realtime_peer: RealtimePeer, transport: str) -> None:
    with trio.fail_after(DEADLINE):
        driver, event = await opened(realtime_peer, transport)
        assert event.headers.get("x-request-id", "").startswith("req_peer")
        created = await driver.next()
        assert isinstance(created, RealtimeServerEventSessionCreated)
        assert created.type == "session.created"
        closed = await close(driver)
        assert closed.code == 1000 and closed.local
        assert driver.conn.state is WebSocketState.CLOSED


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_session_update_and_conversation_item(realtime_peer: RealtimePeer, transport: str) -> None:
    with trio.fail_after(DEADLINE):
        driver, _ = await opened(realtime_peer, transport)
        assert isinstance(await driver.next(), RealtimeServerEventSessionCreated)
        await driver.send(
            {"type": "session.update", "session": {"type": "realtime", "instructions": "Be terse."}}
        )
        updated = await driver.next()
        assert isinstance(updated, RealtimeServerEventSessionUpdated)
        assert updated.to_dict()["session"]["instructions"] == "Be terse."
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}
        await driver.send({"type": "conversation.item.create", "item": item})
        added, done = await driver.next(), await driver.next()
        assert isinstance(added, RealtimeServerEventConversationItemAdded)
        assert isinstance(done, RealtimeServerEventConversationItemDone)
        assert added.to_dict()["item"]["content"] == item["content"]
        await close(driver)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_response_deltas_in_order(realtime_peer: RealtimePeer, transport: str) -> None:
    count = 500
    with trio.fail_after(DEADLINE):
        driver, _ = await opened(realtime_peer, transport)
        assert isinstance(await driver.next(), RealtimeServerEventSessionCreated)
        await driver.send({"type": "response.create", "response": {"metadata": {"deltas": str(count)}}})
        events = await driver.until(RealtimeServerEventResponseDone)
        assert [type(e) for e in events[:3]] == RESPONSE_ORDER
        deltas = events[3:-4]
        assert [type(e) for e in events[-4:]] == RESPONSE_TAIL
        assert all(isinstance(e, RealtimeServerEventResponseTextDelta) for e in deltas)
        assert [e.delta for e in deltas] == [f"w{i} " for i in range(count)]
        text_done = events[-4]
        assert isinstance(text_done, RealtimeServerEventResponseTextDone)
        assert text_done.text == "".join(e.delta for e in deltas)
        done = events[-1]
        assert isinstance(done, RealtimeServerEventResponseDone)
        assert done.to_dict()["response"]["status"] == "completed"
        await close(driver)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_error_events_for_bad_input_and_session_goes_on(realtime_peer: RealtimePeer, transport: str) -> None:
    with trio.fail_after(DEADLINE):
        driver, _ = await opened(realtime_peer, transport)
        assert isinstance(await driver.next(), RealtimeServerEventSessionCreated)
        # A type this version does not model goes out as given; the peer
        # names the client's event in its error.
        await driver.send({"type": "session.frobnicate", "event_id": "evt_client_1"})
        error = await driver.next()
        assert isinstance(error, RealtimeServerEventError)
        assert error.error.code == "invalid_value"
        assert error.error.event_id == "evt_client_1"
        await driver.send("this is not JSON")
        error = await driver.next()
        assert isinstance(error, RealtimeServerEventError)
        assert error.error.code == "invalid_json"
        await driver.send(b"\x00\x01")
        error = await driver.next()
        assert isinstance(error, RealtimeServerEventError)
        assert error.error.code == "invalid_message"
        await driver.send({"type": "session.update", "session": {"type": "realtime"}})
        assert isinstance(await driver.next(), RealtimeServerEventSessionUpdated)
        await close(driver)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("code", "retryable"), [(4001, False), (1008, False), (1011, True), (1013, True)])
async def test_forced_close_code_is_typed_error(
    realtime_peer: RealtimePeer, transport: str, code: int, retryable: bool
) -> None:
    with trio.fail_after(DEADLINE):
        driver, _ = await opened(realtime_peer, transport)
        assert isinstance(await driver.next(), RealtimeServerEventSessionCreated)
        metadata = {"close_code": str(code), "close_reason": "scripted close"}
        await driver.send({"type": "response.create", "response": {"metadata": metadata}})
        with pytest.raises(WebSocketClosedError) as info:
            await driver.until(WebSocketClosed)
        assert info.value.close_code == code
        assert info.value.reason == "scripted close"
        assert info.value.retryable is retryable
        assert driver.conn.state is WebSocketState.CLOSED
        # The error repeats: a loop over next_event cannot miss the ending.
        with pytest.raises(WebSocketClosedError):
            driver.conn.next_event()
        await driver.stream.aclose()


async def test_forced_normal_close_ends_cleanly(realtime_peer: RealtimePeer) -> None:
    with trio.fail_after(DEADLINE):
        driver, _ = await opened(realtime_peer, "ws")
        assert isinstance(await driver.next(), RealtimeServerEventSessionCreated)
        await driver.send({"type": "response.create", "response": {"metadata": {"close_code": "1000"}}})
        closed = await driver.next()
        assert closed == WebSocketClosed(1000, "", local=False)
        await driver.stream.aclose()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_ping_answered_by_peer(realtime_peer: RealtimePeer, transport: str) -> None:
    with trio.fail_after(DEADLINE):
        driver, _ = await opened(realtime_peer, transport)
        assert isinstance(await driver.next(), RealtimeServerEventSessionCreated)
        driver.conn.ping(b"are you there")
        await driver.flush()
        assert await driver.next() == PongReceived(b"are you there")
        await close(driver)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_no_bearer_is_authentication_error(realtime_peer: RealtimePeer, transport: str) -> None:
    config = ClientConfig(api_key=None, base_url=base_url(realtime_peer, transport))
    with trio.fail_after(DEADLINE):
        driver = await connect(realtime_peer, transport, config=config)
        with pytest.raises(AuthenticationError) as info:
            await driver.next()
        assert info.value.status_code == 401
        assert "Authorization: Bearer" in info.value.message
        assert info.value.request_id is not None and info.value.request_id.startswith("req_peer")
        assert driver.conn.state is WebSocketState.CLOSED
        await driver.stream.aclose()


async def test_key_in_another_header_is_not_a_bearer(realtime_peer: RealtimePeer) -> None:
    # The key sent as api-key (Azure's header) is no bearer to this peer;
    # the error names no part of it.
    config = ClientConfig(api_key=KEY, base_url=realtime_peer.ws_base_url, api_key_header="api-key")
    with trio.fail_after(DEADLINE):
        driver = await connect(realtime_peer, "ws", config=config)
        with pytest.raises(AuthenticationError) as info:
            await driver.next()
        assert KEY not in str(info.value) and KEY not in repr(info.value)
        assert KEY not in repr(info.value.request)
        await driver.stream.aclose()


async def test_wrong_path_and_missing_model_are_typed(realtime_peer: RealtimePeer) -> None:
    with trio.fail_after(DEADLINE):
        config = ClientConfig(api_key=KEY, base_url=f"http://{realtime_peer.host}:{realtime_peer.ws_port}/v2")
        driver = await connect(realtime_peer, "ws", config=config)
        with pytest.raises(NotFoundError):
            await driver.next()
        await driver.stream.aclose()
        # call_id= gets a session; the peer wants one of the two.
        driver, _ = await opened(realtime_peer, "ws", model=None, call_id="rtc_peer_1")
        assert isinstance(await driver.next(), RealtimeServerEventSessionCreated)
        await close(driver)
        driver = await connect(
            realtime_peer, "ws", model=None, call_id="x", extra_query={"call_id": None}
        )
        with pytest.raises(BadRequestError):
            await driver.next()
        await driver.stream.aclose()


async def test_two_sessions_at_once(realtime_peer: RealtimePeer) -> None:
    results: dict[str, str] = {}

    async def session(transport: str) -> None:
        driver, _ = await opened(realtime_peer, transport)
        assert isinstance(await driver.next(), RealtimeServerEventSessionCreated)
        await driver.send({"type": "response.create", "response": {"metadata": {"deltas": "50"}}})
        events = await driver.until(RealtimeServerEventResponseDone)
        results[transport] = "".join(e.delta for e in events if isinstance(e, RealtimeServerEventResponseTextDelta))
        await close(driver)

    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            for transport in TRANSPORTS:
                nursery.start_soon(session, transport)
    expected = "".join(f"w{i} " for i in range(50))
    assert results == {"ws": expected, "wss": expected}


# -- the peer's bytes, split every way ----------------------------------------

SEED = 1234


def _record(peer: RealtimePeer) -> tuple[bytes, list[Any]]:
    """One ws session (session.created, an update, a 40-delta response, an
    error event, a client close) with a seeded random source: the bytes the
    peer sent and the events they made."""

    async def main() -> tuple[bytes, list[Any]]:
        with trio.fail_after(DEADLINE):
            driver, first = await opened(peer, "ws", random_bytes=Seeded(SEED))
            events = [first, await driver.next()]
            await driver.send({"type": "session.update", "session": {"type": "realtime", "instructions": "x"}})
            events.append(await driver.next())
            await driver.send({"type": "response.create", "response": {"metadata": {"deltas": "40"}}})
            events += await driver.until(RealtimeServerEventResponseDone)
            await driver.send({"type": "nope"})
            events.append(await driver.next())
            driver.conn.close()
            await driver.flush()
            events += await driver.until(WebSocketClosed)
            await driver.stream.aclose()
            return b"".join(driver.received), events

    return trio.run(main)


@pytest.fixture(scope="module")
def recorded(realtime_peer: RealtimePeer) -> tuple[bytes, list[Any]]:
    return _record(realtime_peer)


def replay(wire: bytes, pieces: list[bytes]) -> list[Any]:
    """Feed the recorded bytes to a fresh connection (same seed, so the same
    key); the client's own sends are repeated at the same points, since the
    close frame's answer depends on them."""
    conn = WebSocketConnection(
        realtime_request(ClientConfig(api_key=KEY, base_url="http://127.0.0.1:1/v1"), model=MODEL),
        random_bytes=Seeded(SEED),
    )
    events: list[Any] = []
    for piece in pieces:
        conn.receive_data(piece)
        while True:
            event = conn.next_event()
            if event is NEED_DATA:
                break
            events.append(event)
            # The client's sends in the recording followed these events.
            if isinstance(event, RealtimeServerEventSessionCreated):
                conn.send({"type": "session.update", "session": {"type": "realtime", "instructions": "x"}})
            elif isinstance(event, RealtimeServerEventSessionUpdated):
                conn.send({"type": "response.create", "response": {"metadata": {"deltas": "40"}}})
            elif isinstance(event, RealtimeServerEventResponseDone):
                conn.send({"type": "nope"})
            elif isinstance(event, RealtimeServerEventError):
                conn.close()
            if isinstance(event, WebSocketClosed):
                return events
    return events


def test_recording_is_a_whole_session(recorded: tuple[bytes, list[Any]]) -> None:
    wire, events = recorded
    assert isinstance(events[0], WebSocketOpened)
    assert isinstance(events[-1], WebSocketClosed) and events[-1].local
    assert sum(isinstance(e, RealtimeServerEventResponseTextDelta) for e in events) == 40
    assert not any(isinstance(e, UnknownRealtimeEvent) for e in events)
    assert replay(wire, [wire]) == events


def test_recording_byte_by_byte(recorded: tuple[bytes, list[Any]]) -> None:
    wire, events = recorded
    assert replay(wire, [wire[i : i + 1] for i in range(len(wire))]) == events


@hypothesis.settings(
    max_examples=60, deadline=None, suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture]
)
@hypothesis.given(cuts=st.lists(st.integers(min_value=0), max_size=40))
def test_recording_at_random_split_points(recorded: tuple[bytes, list[Any]], cuts: list[int]) -> None:
    wire, events = recorded
    points = sorted({c % (len(wire) + 1) for c in cuts})
    pieces, last = [], 0
    for point in points:
        pieces.append(wire[last:point])
        last = point
    pieces.append(wire[last:])
    assert replay(wire, [p for p in pieces if p]) == events
