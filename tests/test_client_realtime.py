# The server events are wide unions; the tests know which one they read.
# mypy: disable-error-code="union-attr"
"""client.realtime.connect() and client.responses.connect() against the fake
server's WebSocket mode: over memory streams (``connector=server.connect``),
and once over loopback TCP and TLS."""

from __future__ import annotations

import base64
import io
import logging
import random
import ssl
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
import trustme

import openai_trio
from openai_sansio import Origin, UnknownRealtimeEvent
from openai_trio import (
    APIConnectionError,
    APITimeoutError,
    AudioCollector,
    AuthenticationError,
    LocalProtocolError,
    ResponseInFlightError,
    WebSocketClosedError,
    WebSocketConnectionClosed,
)
from openai_trio.testing import FakeServer

KEY = "sk-test-realtime-canary-7f3a9c"
MODEL = "gpt-realtime"


def client_for(server: FakeServer, **kwargs: Any) -> openai_trio.Client:
    kwargs.setdefault("api_key", KEY)
    return openai_trio.Client(base_url="https://fake.test/v1", connector=server.connect, **kwargs)


async def wait_idle(server: FakeServer) -> None:
    # The server side of a memory stream finishes a moment after the client's.
    with trio.fail_after(5):
        while server.active_connections:  # noqa: ASYNC110 (a poll of a counter)
            await trio.sleep(0.001)


async def next_of(conn: Any, kind: str) -> Any:
    async for event in conn:
        if event.type == kind:
            return event
    raise AssertionError(f"the connection ended before {kind}")


# -- a whole session ------------------------------------------------------------


async def test_a_whole_text_session() -> None:
    async with FakeServer(api_key=KEY) as server, client_for(server) as client:
        async with client.realtime.connect(model=MODEL) as conn:
            created = await conn.recv()
            assert type(created).__name__ == "RealtimeServerEventSessionCreated"
            assert conn.request_id == "req_ws_1"
            await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
            updated = await conn.recv()
            assert updated.type == "session.updated"
            await conn.conversation.item.create(
                item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}
            )
            item = await conn.recv()
            assert item.type == "conversation.item.created"
            await conn.response.create()
            text: list[Any] = []
            async for event in conn:
                if event.type == "response.output_text.delta":
                    text.append(event.delta)
                if event.type == "response.done":
                    assert event.response.status == "completed"
                    break
            assert "".join(text) == server.openai.reply
        await wait_idle(server)
    upgrade = server.requests[-1]
    assert upgrade.path == "/v1/realtime" and upgrade.query["model"] == [MODEL]
    assert upgrade.headers.get("authorization") == f"Bearer {KEY}"
    assert upgrade.headers.get("upgrade") == "websocket"
    # Leaving the block closed with 1000, answered by the server.
    assert server.websocket.close_codes == [1000]
    assert [e["type"] for e in server.websocket.received] == [
        "session.update",
        "conversation.item.create",
        "response.create",
    ]


async def test_call_id_and_extra_query() -> None:
    async with FakeServer() as server, client_for(server) as client, client.realtime.connect(call_id="rtc_123", extra_query={"x": "1"}) as conn:
        assert (await conn.recv()).type == "session.created"
    assert server.requests[-1].query == {"call_id": ["rtc_123"], "x": ["1"]}


async def test_every_helper_sends_its_event() -> None:
    async with FakeServer() as server, client_for(server) as client, client.realtime.connect(model=MODEL) as conn:
        await next_of(conn, "session.created")
        await conn.conversation.item.create(
            item={"id": "item_a", "type": "message", "role": "user", "content": []}, event_id="ev1"
        )
        assert (await conn.recv()).item.id == "item_a"
        await conn.conversation.item.retrieve(item_id="item_a")
        assert (await conn.recv()).type == "conversation.item.retrieved"
        await conn.conversation.item.truncate(item_id="item_a", content_index=0, audio_end_ms=10)
        assert (await conn.recv()).audio_end_ms == 10
        await conn.conversation.item.delete(item_id="item_a")
        assert (await conn.recv()).item_id == "item_a"
        await conn.conversation.item.delete(item_id="item_a")
        missing = await conn.recv()
        assert missing.type == "error" and missing.error.code == "item_not_found"
        await conn.input_audio_buffer.commit(event_id="ev_commit")
        empty = await conn.recv()
        assert empty.error.code == "input_audio_buffer_commit_empty"
        assert empty.error.event_id == "ev_commit"
        await conn.input_audio_buffer.append(audio=b"\x01\x02" * 10)
        await conn.input_audio_buffer.append(audio=base64.b64encode(b"\x03\x04").decode())
        await conn.input_audio_buffer.commit()
        assert (await conn.recv()).type == "input_audio_buffer.committed"
        assert (await conn.recv()).type == "conversation.item.created"
        await conn.input_audio_buffer.clear()
        assert (await conn.recv()).type == "input_audio_buffer.cleared"
        await conn.response.cancel()
        assert (await conn.recv()).error.code == "response_cancel_not_active"
        await conn.output_audio_buffer.clear()
        assert (await conn.recv()).type == "error"
        await conn.send({"type": "session.update", "session": {"instructions": "Be brief."}})
        assert (await conn.recv()).session.instructions == "Be brief."
    assert bytes(server.websocket.audio_received) == b"\x01\x02" * 10 + b"\x03\x04"
    sent = server.websocket.received
    assert sent[0]["event_id"] == "ev1"
    assert [e["type"] for e in sent[1:4]] == [
        "conversation.item.retrieve",
        "conversation.item.truncate",
        "conversation.item.delete",
    ]


async def test_misuse_is_refused_before_any_byte() -> None:
    async with FakeServer() as server, client_for(server) as client, client.realtime.connect(model=MODEL) as conn:
        await next_of(conn, "session.created")
        with pytest.raises(LocalProtocolError):
            await conn.send({"type": "session.update"})  # no "session"
        with pytest.raises(LocalProtocolError):
            await conn.send({"no": "type"})
        with pytest.raises(LocalProtocolError):
            await conn.input_audio_buffer.append(audio="A" * (openai_trio._realtime.MAX_AUDIO_APPEND_BYTES + 1))
        with pytest.raises(LocalProtocolError):
            await conn.input_audio_buffer.append(audio=123)  # type: ignore[arg-type]
        # The connection is still fine.
        await conn.session.update(session={"instructions": "x"})
        assert (await conn.recv()).type == "session.updated"
    assert [e["type"] for e in server.websocket.received] == ["session.update"]
    with pytest.raises(LocalProtocolError):
        client.realtime.connect()


async def test_unknown_event_types_are_kept_typed() -> None:
    async with FakeServer() as server, client_for(server) as client:
        server.websocket.events_on_connect = [
            {"type": "future.thing", "event_id": "e1", "payload": "x"},
            {"no_type": True},
        ]
        async with client.realtime.connect(model=MODEL) as conn:
            await next_of(conn, "session.created")
            future = await conn.recv()
            assert isinstance(future, UnknownRealtimeEvent)
            assert future.type == "future.thing" and future.event_id == "e1"
            untyped = await conn.recv()
            assert isinstance(untyped, UnknownRealtimeEvent) and untyped.type is None


async def test_bad_input_answered_with_error_events() -> None:
    async with FakeServer() as server, client_for(server) as client, client.realtime.connect(model=MODEL) as conn:
        await next_of(conn, "session.created")
        await conn.send({"type": "no.such.event"})
        error = await conn.recv()
        assert error.type == "error" and error.error.param == "type"
        await conn.send('{"not json')
        assert (await conn.recv()).error.code == "invalid_json"
        await conn.input_audio_buffer.append(audio="***")
        assert (await conn.recv()).error.param == "audio"


# -- audio --------------------------------------------------------------------


async def test_append_audio_in_bounded_pieces(tmp_path: Path) -> None:
    pcm = bytes(range(256)) * 200  # 51,200 bytes
    path = tmp_path / "in.pcm"
    path.write_bytes(pcm)
    async with FakeServer() as server, client_for(server) as client, client.realtime.connect(model=MODEL) as conn:
        assert await conn.input_audio_buffer.append_audio(pcm) == len(pcm)
        assert await conn.input_audio_buffer.append_audio(path, chunk_size=10_001) == len(pcm)
        with path.open("rb") as f:
            assert await conn.input_audio_buffer.append_audio(f) == len(pcm)
        with pytest.raises(LocalProtocolError):
            await conn.input_audio_buffer.append_audio(io.StringIO("text"))  # type: ignore[arg-type]
        with pytest.raises(LocalProtocolError):
            await conn.input_audio_buffer.append_audio(pcm, chunk_size=1)
        await conn.input_audio_buffer.commit()
        await next_of(conn, "input_audio_buffer.committed")
    appends = [e for e in server.websocket.received if e["type"] == "input_audio_buffer.append"]
    sizes = [len(base64.b64decode(e["audio"])) for e in appends]
    # 15 KiB pieces, then 10,000-byte ones (whole samples), then 15 KiB again.
    assert sizes[:4] == [15360, 15360, 15360, 5120]
    assert sizes[4:10] == [10000] * 5 + [1200]
    assert sizes[10:] == [15360, 15360, 15360, 5120]
    assert bytes(server.websocket.audio_received) == pcm * 3


async def test_collect_output_audio(tmp_path: Path) -> None:
    async with FakeServer() as server, client_for(server) as client:
        server.websocket.audio = bytes(range(200)) * 50
        server.websocket.audio_chunk = 1000
        async with client.realtime.connect(model=MODEL) as conn:
            await conn.response.create()
            audio = await conn.collect_audio()
            assert audio == server.websocket.audio
            await conn.response.create()
            out = tmp_path / "out.pcm"
            assert await conn.collect_audio(out) == len(server.websocket.audio)
            assert out.read_bytes() == server.websocket.audio
            await conn.response.create()
            buffer = io.BytesIO()
            assert await conn.collect_audio(buffer) == len(server.websocket.audio)
            assert buffer.getvalue() == server.websocket.audio


def test_audio_collector_takes_the_beta_name_and_filters_by_response() -> None:
    delta = base64.b64encode(b"abcd").decode()
    beta = UnknownRealtimeEvent("response.audio.delta", {"type": "response.audio.delta", "delta": delta, "response_id": "r1"})
    other = UnknownRealtimeEvent("response.audio.delta", {"type": "response.audio.delta", "delta": delta, "response_id": "r2"})
    collector = AudioCollector(response_id="r1")
    assert collector.feed(beta) == b"abcd"
    assert collector.feed(other) == b""
    assert collector.getvalue() == b"abcd" and collector.total == 4
    assert "abcd" not in repr(collector)


# -- endings --------------------------------------------------------------------


@pytest.mark.parametrize(("code", "retryable"), [(4000, False), (1008, False), (1011, True), (1001, True)])
async def test_server_close_codes_are_typed_errors(code: int, retryable: bool) -> None:
    async with FakeServer() as server, client_for(server) as client:
        server.websocket.close_with(code, "scripted", on="response.create")
        async with client.realtime.connect(model=MODEL) as conn:
            await next_of(conn, "session.created")
            await conn.response.create()
            with pytest.raises(WebSocketClosedError) as info:
                async for _ in conn:
                    pass
            assert info.value.close_code == code and info.value.reason == "scripted"
            assert info.value.retryable is retryable
            # Every later call reports the same ending.
            with pytest.raises(WebSocketClosedError):
                await conn.recv()
            with pytest.raises(WebSocketClosedError):
                await conn.session.update(session={})
        await wait_idle(server)


async def test_a_clean_server_close_ends_iteration() -> None:
    async with FakeServer() as server, client_for(server) as client:
        server.websocket.close_with(1000, "done", on="connect")
        async with client.realtime.connect(model=MODEL) as conn:
            assert [event async for event in conn] == []
            with pytest.raises(WebSocketConnectionClosed) as info:
                await conn.recv()
            assert info.value.code == 1000 and not info.value.local
            with pytest.raises(WebSocketConnectionClosed):
                await conn.response.create()


async def test_close_early_then_leave() -> None:
    async with FakeServer() as server, client_for(server) as client:
        async with client.realtime.connect(model=MODEL) as conn:
            await conn.close(code=4001, reason="bye")
            # What had arrived before the close is still read, then the end.
            assert [event.type async for event in conn] == ["session.created"]
            with pytest.raises(WebSocketConnectionClosed) as info:
                await conn.recv()
            assert info.value.local
        await wait_idle(server)
    assert server.websocket.close_codes == [4001]


async def test_401_without_the_right_bearer() -> None:
    async with FakeServer(api_key=KEY) as server, client_for(server, api_key="sk-wrong-canary-0000") as client:
        with pytest.raises(AuthenticationError) as info:
            async with client.realtime.connect(model=MODEL):
                pass  # pragma: no cover
        assert info.value.status_code == 401
        assert "sk-wrong-canary-0000" not in str(info.value) and "sk-wrong" not in repr(info.value.request)
        await wait_idle(server)
    assert server.websocket.connections == 0


async def test_ping_pong_and_ping_timeout(autojump_clock: trio.testing.MockClock) -> None:
    async with FakeServer() as server, client_for(server) as client:
        async with client.realtime.connect(model=MODEL, ping_interval=5, ping_timeout=2) as conn:
            await next_of(conn, "session.created")
            await trio.sleep(60)  # a dozen pings, each answered
            await conn.session.update(session={})
            assert (await conn.recv()).type == "session.updated"
        server.websocket.answer_pings = False
        async with client.realtime.connect(model=MODEL, ping_interval=5, ping_timeout=2) as conn:
            await next_of(conn, "session.created")
            with pytest.raises(APITimeoutError) as info:
                await conn.recv()
            assert info.value.limit == "ping"
            with pytest.raises(APITimeoutError):
                await conn.response.create()
        await wait_idle(server)
    with pytest.raises(LocalProtocolError):
        client.realtime.connect(model=MODEL, ping_timeout=0)


async def test_cancellation_at_random_points(autojump_clock: trio.testing.MockClock) -> None:
    rng = random.Random(9)
    async with FakeServer() as server, client_for(server) as client:
        server.websocket.event_delay = 0.01
        for _ in range(25):
            at = rng.uniform(0, 0.5)
            with trio.move_on_after(at) as scope:
                async with client.realtime.connect(model=MODEL) as conn:
                    await next_of(conn, "session.created")
                    await conn.session.update(session={"output_modalities": ["text"]})
                    await conn.response.create()
                    await next_of(conn, "response.done")
                    await trio.sleep(1)
            assert scope.cancelled_caught
            await wait_idle(server)
        # Cancelled while the client waits for the lock, mid-send and
        # mid-handshake too: nothing is left open on either side.
        assert server.active_connections == 0


async def test_cancelled_propagates_untouched() -> None:
    async with FakeServer() as server, client_for(server) as client:
        caught: list[BaseException] = []
        with trio.CancelScope() as scope:
            try:
                async with client.realtime.connect(model=MODEL) as conn:
                    await next_of(conn, "session.created")
                    scope.cancel()
                    await trio.sleep_forever()
            except BaseException as exc:
                caught.append(exc)
                raise
        assert len(caught) == 1 and type(caught[0]) is trio.Cancelled
        await wait_idle(server)


class _Breakable(trio.abc.Stream):
    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner
        self.broken = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self.broken:
            raise trio.BrokenResourceError("scripted failure")
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_failed_send_marks_the_connection_broken() -> None:
    async with FakeServer() as server:
        streams: list[_Breakable] = []

        async def connector(origin: Origin) -> trio.abc.Stream:
            streams.append(_Breakable(await server.connect(origin)))
            return streams[-1]

        async with openai_trio.Client(api_key=KEY, base_url="https://fake.test/v1", connector=connector) as client, client.realtime.connect(model=MODEL) as conn:
            await next_of(conn, "session.created")
            streams[0].broken = True
            with pytest.raises(APIConnectionError) as info:
                await conn.session.update(session={})
            assert "scripted failure" in str(info.value)
            with pytest.raises(APIConnectionError):
                await conn.response.create()
            with pytest.raises(APIConnectionError):
                await conn.recv()
        await wait_idle(server)


class _Stalling(_Breakable):
    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self.broken:
            await trio.sleep_forever()
        await self.inner.send_all(data)


async def test_a_stalled_write_times_out(autojump_clock: trio.testing.MockClock) -> None:
    async with FakeServer() as server:
        streams: list[_Stalling] = []

        async def connector(origin: Origin) -> trio.abc.Stream:
            streams.append(_Stalling(await server.connect(origin)))
            return streams[-1]

        client = openai_trio.Client(
            api_key=KEY, base_url="https://fake.test/v1", connector=connector, timeout=openai_trio.Timeout(5)
        )
        async with client, client.realtime.connect(model=MODEL, ping_interval=None) as conn:
            await next_of(conn, "session.created")
            streams[0].broken = True
            with pytest.raises(APITimeoutError) as info:
                await conn.input_audio_buffer.append(audio=b"\0" * 1000)
            assert info.value.limit == "write"
            with pytest.raises(APITimeoutError):
                await conn.recv()
        await wait_idle(server)


# -- the Responses WebSocket mode ---------------------------------------------------


async def test_responses_create_returns_that_responses_events() -> None:
    async with FakeServer(api_key=KEY) as server, client_for(server) as client, client.responses.connect() as ws:
        stream = await ws.create(model="gpt-4o-mini", input="Hi")
        kinds = [event.type async for event in stream]
        assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
        assert stream.final is not None and stream.final.response.status == "completed"
        again = await ws.create(model="gpt-4o-mini", input="Again", previous_response_id=stream.final.response.id)
        async with again:
            async for event in again:
                if event.type == "response.output_text.delta":
                    break
        bad = await ws.create(model="gpt-4o-mini", input=123)
        errors = [event async for event in bad]
        assert len(errors) == 1 and errors[0].type == "error"
    assert server.requests[-1].path == "/v1/responses"
    assert [e["type"] for e in server.websocket.received] == ["response.create"] * 3


async def test_one_response_in_flight(autojump_clock: trio.testing.MockClock) -> None:
    async with FakeServer() as server, client_for(server) as client:
        server.websocket.event_delay = 0.1
        async with client.responses.connect() as ws:
            first = await ws.create(model="gpt-4o-mini", input="one")
            with pytest.raises(ResponseInFlightError):
                await ws.create(model="gpt-4o-mini", input="two", wait=False)
            order: list[str] = []

            async def second() -> None:
                stream = await ws.create(model="gpt-4o-mini", input="two")
                order.append("second sent")
                async for _ in stream:
                    pass
                order.append("second done")

            async with trio.open_nursery() as nursery:
                nursery.start_soon(second)
                async for event in first:
                    if event.type == "response.output_text.delta" and "first delta" not in order:
                        order.append("first delta")
                order.append("first done")
            assert order == ["first delta", "first done", "second sent", "second done"]
            # A stream closed early: its response still runs on the server,
            # so the lane stays busy until its last event, which is dropped
            # with the rest rather than mixed into the next response.
            early = await ws.create(model="gpt-4o-mini", input="three")
            await early.aclose()
            with pytest.raises(ResponseInFlightError):
                await ws.create(model="gpt-4o-mini", input="four", wait=False)
            late = await ws.create(model="gpt-4o-mini", input="four")
            events = [event async for event in late]
            assert [e.type for e in events].count("response.created") == 1
            assert events[-1].type == "response.completed"
            ids = {e.response.id for e in events if e.type in ("response.created", "response.completed")}
            assert len(ids) == 1


async def test_stream_id_lanes_run_side_by_side(autojump_clock: trio.testing.MockClock) -> None:
    async with FakeServer() as server, client_for(server) as client, client.responses.connect() as ws:
        a = await ws.create(model="gpt-4o-mini", input="a", stream_id="a")
        b = await ws.create(model="gpt-4o-mini", input="b", stream_id="b", wait=False)
        events_b = [event async for event in b]
        events_a = [event async for event in a]
        assert {event.stream_id for event in events_a} == {"a"}
        assert {event.stream_id for event in events_b} == {"b"}
    assert [e["stream_id"] for e in server.websocket.received] == ["a", "b"]


async def test_reconnect_at_the_age_limit(autojump_clock: trio.testing.MockClock) -> None:
    async with FakeServer() as server, client_for(server) as client:
        async with client.responses.connect(reconnect_after=100) as ws:
            async for _ in await ws.create(model="gpt-4o-mini", input="one"):
                pass
            await trio.sleep(150)
            async for _ in await ws.create(model="gpt-4o-mini", input="two"):
                pass
            assert ws.connections == 2
        # The server's own limit: it ends the connection, the next create
        # opens a new one.
        server.websocket.max_age = 30
        async with client.responses.connect(reconnect_after=None) as ws:
            await trio.sleep(40)
            limit = await ws.recv()
            assert limit.type == "error" and limit.error.code == "websocket_connection_limit_reached"
            with pytest.raises(WebSocketConnectionClosed):
                await ws.recv()
            async for _ in await ws.create(model="gpt-4o-mini", input="three"):
                pass
            assert ws.connections == 2
        await wait_idle(server)
    assert server.websocket.connections == 4


async def test_responses_sdk_surface() -> None:
    async with FakeServer() as server, client_for(server) as client, client.responses.connect() as ws:
        await ws.response.create(model="gpt-4o-mini", input="Hi")
        async for event in ws:
            if event.type == "response.completed":
                break
        await ws.send({"type": "response.create", "model": "gpt-4o-mini", "input": "Hi"})
        assert (await ws.recv()).type == "response.created"


# -- secrets ----------------------------------------------------------------------


async def test_secrets_never_in_reprs_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    async with FakeServer(api_key=KEY) as server:
        server.websocket.close_with(4003, "bye", on="response.create")
        client = openai_trio.Client(
            api_key=KEY,
            base_url="https://fake.test/v1",
            connector=server.connect,
            default_query={"api-key": KEY},
        )
        async with client:
            manager = client.realtime.connect(model=MODEL)
            seen.append(repr(manager))
            async with manager as conn:
                seen += [repr(conn), conn.url, repr(conn._session)]
                await conn.response.create()
                with pytest.raises(WebSocketClosedError) as info:
                    async for _ in conn:
                        pass
                seen += [str(info.value), repr(info.value), repr(info.value.request)]
            async with client.responses.connect() as ws:
                seen += [repr(ws)]
            bad = client.with_options(api_key="sk-other-canary-1234")
            with pytest.raises(AuthenticationError) as refused:
                async with bad.realtime.connect(model=MODEL):
                    pass  # pragma: no cover
            seen += [str(refused.value), repr(refused.value.request)]
    seen += [record.getMessage() for record in caplog.records]
    for text in seen:
        assert KEY not in text and "sk-other-canary-1234" not in text, text


# -- over loopback TCP and TLS --------------------------------------------------------


async def test_over_tcp_and_tls() -> None:
    async with FakeServer(api_key=KEY) as server:
        await server.serve_tcp()
        async with openai_trio.Client(api_key=KEY, base_url=server.base_url) as client, client.realtime.connect(model=MODEL) as conn:
            assert conn.url.startswith("ws://127.0.0.1:")
            assert (await conn.recv()).type == "session.created"
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    async with FakeServer(api_key=KEY) as server:
        # The server offers h2 too: the WebSocket must be offered http/1.1 only.
        await server.serve_tcp(ssl_context=server_ctx)
        async with openai_trio.Client(api_key=KEY, base_url=server.base_url, ssl_context=client_ctx) as client:
            async with client.realtime.connect(model=MODEL) as conn:
                assert conn.url.startswith("wss://127.0.0.1:")
                await conn.session.update(session={"output_modalities": ["text"]})
                await conn.response.create()
                done = await next_of(conn, "response.done")
                assert done.response.status == "completed"
            async with client.responses.connect() as ws:
                kinds = [event.type async for event in await ws.create(model="gpt-4o-mini", input="Hi")]
                assert kinds[-1] == "response.completed"
            # HTTP calls on the same context still get h2 offered.
            assert client_ctx is not None
        assert server.websocket.connections == 2
