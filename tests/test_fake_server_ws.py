"""The fake server's WebSocket mode driven by a bare wsproto client, for
what the library's own client never sends: refused upgrades, frames in the
upgrade's packet, binary and malformed frames, unanswered closes, bad
client events and the server's own failure paths."""

from __future__ import annotations

import base64
import json
import math
from collections import deque
from typing import Any

import pytest
import trio
import trio.testing
from wsproto import ConnectionType, WSConnection
from wsproto import events as we

from openai_trio.testing import FakeOpenAI, FakeResponse, FakeServer, ReceivedRequest

KEY = "sk-test-fake-ws-canary-51c2"
AUTH = [(b"authorization", f"Bearer {KEY}".encode())]
_MASK = b"\x11\x22\x33\x44"


def frame(opcode: int, payload: bytes, *, masked: bool = True, fin: bool = True) -> bytes:
    """One frame, as a client must send it (masked) or not."""
    assert len(payload) < 126
    head = bytes([(0x80 if fin else 0) | opcode, (0x80 if masked else 0) | len(payload)])
    if not masked:
        return head + payload
    return head + _MASK + bytes(b ^ _MASK[i % 4] for i, b in enumerate(payload))


def text_frame(event: dict[str, Any]) -> bytes:
    return frame(0x1, json.dumps(event).encode())


class Raw:
    """A WebSocket client with nothing done for it: pings, closes and
    messages are the test's to send, raw frames included."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.pending: deque[we.Event] = deque()

    @classmethod
    async def open(cls, server: FakeServer, target: str = "/v1/realtime?model=m", *, extra: bytes = b"") -> Raw:
        raw = cls(await server.connect())
        request = raw.ws.send(we.Request(host="fake.test", target=target, extra_headers=AUTH))
        await raw.stream.send_all(request + extra)
        assert isinstance(await raw.next(), we.AcceptConnection)
        return raw

    async def next(self) -> we.Event | None:
        """The next event from the server; None at EOF."""
        while not self.pending:
            self.pending.extend(self.ws.events())
            if self.pending:
                break
            # A bound on every read: a server that never answers fails the
            # test (at once on an autojump clock) rather than hanging it.
            with trio.fail_after(50):
                data = await self.stream.receive_some(65536)
            if not data:
                return None
            self.ws.receive_data(bytes(data))
        return self.pending.popleft()

    async def json(self) -> dict[str, Any]:
        event = await self.next()
        assert isinstance(event, we.TextMessage) and event.message_finished, event
        decoded = json.loads(event.data)
        assert isinstance(decoded, dict)
        return decoded

    async def send(self, event: dict[str, Any]) -> None:
        await self.stream.send_all(self.ws.send(we.TextMessage(data=json.dumps(event))))

    async def rest(self) -> list[we.Event]:
        """Every event up to EOF."""
        seen = []
        while (event := await self.next()) is not None:
            seen.append(event)
        return seen


async def wait_idle(server: FakeServer, limit: float = 5) -> None:
    with trio.fail_after(limit):
        while server.active_connections:  # noqa: ASYNC110 (a poll of a counter)
            await trio.sleep(0.001)


async def refusal(server: FakeServer, head: bytes) -> tuple[bytes, dict[str, Any]]:
    stream = await server.connect()
    await stream.send_all(head)
    data = b""
    while chunk := await stream.receive_some(65536):
        data += chunk
    status, _, body = data.partition(b"\r\n\r\n")
    return status.split(b"\r\n")[0], json.loads(body)["error"]


# -- the upgrade ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "headers", "message"),
    [
        ("/v1/realtime", b"sec-websocket-key: a2V5a2V5a2V5a2V5a2V5aw==\r\nsec-websocket-version: 13\r\n", "needs a model"),
        ("/v1/realtime?model=m", b"sec-websocket-version: 13\r\n", "Not a valid WebSocket upgrade"),
        ("/v1/responses", b"sec-websocket-key: a2V5a2V5a2V5a2V5a2V5aw==\r\nsec-websocket-version: 8\r\n", "Not a valid WebSocket upgrade"),
    ],
)
async def test_bad_upgrades_are_refused_with_400(target: str, headers: bytes, message: str) -> None:
    async with FakeServer() as server:
        head = (
            f"GET {target} HTTP/1.1\r\nhost: fake.test\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
            f"authorization: Bearer {KEY}\r\n"
        ).encode() + headers + b"\r\n"
        status, error = await refusal(server, head)
        assert status.startswith(b"HTTP/1.1 400 ")
        assert message in error["message"] and error["type"] == "invalid_request_error"
        await wait_idle(server)
    assert server.websocket.connections == 0


async def test_frames_sent_with_the_upgrade_are_served() -> None:
    # The first frames may ride in the packet of the upgrade request: the
    # server takes them from what h11 read past the request's head.
    extra = text_frame({"type": "session.update", "session": {"instructions": "x"}})
    async with FakeServer() as server:
        raw = await Raw.open(server, extra=extra)
        assert (await raw.json())["type"] == "session.created"
        updated = await raw.json()
        assert updated["type"] == "session.updated" and updated["session"]["instructions"] == "x"
        await raw.stream.aclose()
        await wait_idle(server)


# -- client events --------------------------------------------------------------


async def test_session_update_merges_audio_settings_per_side() -> None:
    async with FakeServer() as server:
        raw = await Raw.open(server)
        await raw.json()
        await raw.send({"type": "session.update", "session": {"audio": {"output": {"voice": "verse"}, "input": "junk"}}})
        session = (await raw.json())["session"]
        # The voice changed; the speed and the whole input side were kept.
        assert session["audio"]["output"] == {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "verse", "speed": 1.0}
        assert session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
        await raw.stream.aclose()
        await wait_idle(server)


@pytest.mark.parametrize(
    ("event", "code", "param"),
    [
        ({"type": "session.update"}, "missing_required_parameter", "session"),
        ({"type": "conversation.item.create", "item": {"role": "user"}}, "missing_required_parameter", "item"),
        ({"type": "conversation.item.retrieve", "item_id": "nope"}, "item_not_found", "item_id"),
        ({"type": "conversation.item.truncate", "item_id": 7}, "item_not_found", "item_id"),
        ({"type": "input_audio_buffer.append", "audio": 12}, "invalid_value", "audio"),
        ({"type": "input_audio_buffer.append", "audio": "not base64!"}, "invalid_value", "audio"),
        ({"type": "response.create", "response": "now"}, "invalid_type", "response"),
        ({"type": 5}, "invalid_value", "type"),
    ],
)
async def test_bad_client_events_get_error_events(event: dict[str, Any], code: str, param: str) -> None:
    async with FakeServer() as server:
        raw = await Raw.open(server)
        await raw.json()
        await raw.send({**event, "event_id": "ev_1"})
        error = await raw.json()
        assert error["type"] == "error"
        assert (error["error"]["code"], error["error"]["param"]) == (code, param)
        assert error["error"]["event_id"] == "ev_1"
        # The session goes on.
        await raw.send({"type": "input_audio_buffer.clear"})
        assert (await raw.json())["type"] == "input_audio_buffer.cleared"
        await raw.stream.aclose()
        await wait_idle(server)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (frame(0x1, b"[1, 2]"), "must be a JSON object"),
        (frame(0x1, b"{nope"), "not valid JSON"),
        (frame(0x2, b"\x00\x01"), "Binary messages are not supported"),
        # In two fragments: one error, for the whole message.
        (frame(0x2, b"\x00", fin=False) + frame(0x0, b"\x01"), "Binary messages are not supported"),
    ],
    ids=["array", "not-json", "binary", "binary-fragmented"],
)
async def test_messages_that_are_no_event_get_error_events(payload: bytes, message: str) -> None:
    async with FakeServer() as server:
        raw = await Raw.open(server)
        await raw.json()
        await raw.stream.send_all(payload)
        error = await raw.json()
        assert error["type"] == "error" and message in error["error"]["message"]
        await raw.send({"type": "input_audio_buffer.clear"})
        assert (await raw.json())["type"] == "input_audio_buffer.cleared"
        await raw.stream.aclose()
        await wait_idle(server)
    assert server.websocket.received == [{"type": "input_audio_buffer.clear"}]


async def test_a_response_outside_the_conversation_is_not_kept() -> None:
    async with FakeServer() as server:
        raw = await Raw.open(server)
        await raw.json()
        items = {}
        for conversation in ("none", "auto"):
            await raw.send({"type": "response.create", "response": {"conversation": conversation, "output_modalities": ["text"]}})
            while (event := await raw.json())["type"] != "response.done":
                pass
            items[conversation] = event["response"]["output"][0]["id"]
            assert event["response"]["output"][0]["content"][0]["text"] == server.openai.reply
        for conversation, found in (("none", False), ("auto", True)):
            await raw.send({"type": "conversation.item.retrieve", "item_id": items[conversation]})
            answer = await raw.json()
            assert (answer["type"] == "conversation.item.retrieved") is found
        await raw.stream.aclose()
        await wait_idle(server)


async def test_a_one_word_reply_is_one_delta() -> None:
    async with FakeServer(reply="Hello") as server:
        raw = await Raw.open(server)
        await raw.json()
        await raw.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
        deltas = []
        while (event := await raw.json())["type"] != "response.done":
            if event["type"] == "response.output_text.delta":
                deltas.append(event["delta"])
        assert deltas == ["Hello"]
        await raw.stream.aclose()
        await wait_idle(server)


async def test_received_events_are_bounded_by_the_record_limit() -> None:
    async with FakeServer(record_limit=2) as server:
        raw = await Raw.open(server)
        await raw.json()
        for n in range(3):
            await raw.send({"type": "input_audio_buffer.clear", "event_id": f"ev_{n}"})
            await raw.json()
        await raw.stream.aclose()
        await wait_idle(server)
    assert [e["event_id"] for e in server.websocket.received] == ["ev_1", "ev_2"]


async def test_unsolicited_pongs_are_ignored() -> None:
    async with FakeServer() as server:
        raw = await Raw.open(server)
        await raw.json()
        await raw.stream.send_all(frame(0xA, b"unasked"))
        await raw.send({"type": "input_audio_buffer.clear"})
        assert (await raw.json())["type"] == "input_audio_buffer.cleared"
        await raw.stream.aclose()
        await wait_idle(server)


# -- the Responses mode -------------------------------------------------------------


@pytest.mark.parametrize("lane", [{}, {"stream_id": "s1"}])
async def test_responses_mode_refuses_other_event_types(lane: dict[str, str]) -> None:
    async with FakeServer() as server:
        raw = await Raw.open(server, "/v1/responses")
        await raw.send({"type": "session.update", **lane})
        error = await raw.json()
        assert error["type"] == "error" and error["status"] == 400
        assert error["error"]["code"] == "unknown_event_type"
        assert error.get("stream_id") == lane.get("stream_id")
        await raw.stream.aclose()
        await wait_idle(server)


class _Failing(FakeOpenAI):
    """A replaced application whose error body is not the API's JSON."""

    def __call__(self, request: ReceivedRequest) -> FakeResponse:
        return FakeResponse(status=503, body=[b"upstream down"], content_type="text/plain")


async def test_responses_mode_reports_an_error_body_it_cannot_read() -> None:
    async with FakeServer() as server:
        server.openai = _Failing()
        raw = await Raw.open(server, "/v1/responses")
        await raw.send({"type": "response.create", "model": "gpt-4o-mini", "input": "Hi", "stream_id": "s"})
        error = await raw.json()
        assert error == {
            "type": "error",
            "status": 503,
            "error": {"type": "server_error", "message": "The fake server failed.", "code": None, "param": None},
            "stream_id": "s",
        }
        await raw.stream.aclose()
        await wait_idle(server)


# -- size bounds and bad frames ------------------------------------------------------


async def test_an_oversize_message_is_closed_with_1009() -> None:
    async with FakeServer() as server:
        raw = await Raw.open(server)
        await raw.json()
        piece = "x" * (1 << 20)
        # Seventeen fragments of a MiB: over the 16 MiB limit, and one
        # more after the server has already closed.
        for _ in range(17):
            await raw.stream.send_all(raw.ws.send(we.TextMessage(data=piece, message_finished=False)))
        close = await raw.next()
        assert isinstance(close, we.CloseConnection) and close.code == 1009
        await raw.stream.send_all(raw.ws.send(close.response()))
        assert await raw.rest() == []
        await wait_idle(server)
    assert server.websocket.close_codes == [1009]
    assert server.websocket.received == []


async def test_a_malformed_frame_is_answered_with_1002_and_not_recorded() -> None:
    async with FakeServer() as server:
        raw = await Raw.open(server)
        await raw.json()
        # A client's frames must be masked (RFC 6455 5.1).
        await raw.stream.send_all(frame(0x1, b'{"type":"x"}', masked=False))
        close = await raw.next()
        assert isinstance(close, we.CloseConnection) and close.code == 1002
        assert await raw.rest() == []
        await wait_idle(server)
    # The client sent no close frame of its own.
    assert server.websocket.close_codes == []
    assert server.websocket.received == []


# -- closes --------------------------------------------------------------------------


async def test_the_servers_close_waits_a_bounded_time_for_the_answer(autojump_clock: trio.testing.MockClock) -> None:
    async with FakeServer() as server:
        server.websocket.close_with(4000, "bye")
        raw = await Raw.open(server)
        close = await raw.next()
        assert isinstance(close, we.CloseConnection) and (close.code, close.reason) == (4000, "bye")
        # No answer: the server hangs up on its own.
        assert await raw.rest() == []
        await wait_idle(server)
    assert server.websocket.close_codes == []


async def test_eof_after_the_servers_close_ends_the_connection_at_once(autojump_clock: trio.testing.MockClock) -> None:
    # The clock stands still: the server must not need its close timer.
    autojump_clock.autojump_threshold = math.inf
    async with FakeServer() as server:
        server.websocket.close_with(4000, on="connect")
        raw = await Raw.open(server)
        assert isinstance(await raw.next(), we.CloseConnection)
        await raw.stream.aclose()
        await trio.testing.wait_all_tasks_blocked()
        assert server.active_connections == 0


async def test_while_closing_the_server_answers_no_event_and_no_ping() -> None:
    async with FakeServer() as server:
        server.websocket.close_with(4001, on="session.update")
        raw = await Raw.open(server)
        await raw.json()
        # All in one packet: the close's trigger, then a ping, an event for
        # which another close is due, and one that would be answered.
        await raw.stream.send_all(
            text_frame({"type": "session.update", "session": {}})
            + frame(0x9, b"p")
            + text_frame({"type": "session.update", "session": {}})
            + text_frame({"type": "input_audio_buffer.clear"})
        )
        close = await raw.next()
        assert isinstance(close, we.CloseConnection) and close.code == 4001
        await raw.stream.send_all(raw.ws.send(close.response()))
        # Nothing after the close frame: no pong, no second close, no event.
        assert await raw.rest() == []
        await wait_idle(server)
    assert server.websocket.close_codes == [4001]
    assert [e["type"] for e in server.websocket.received] == ["session.update"] * 2 + ["input_audio_buffer.clear"]


async def test_at_the_age_limit_an_unanswered_close_is_hung_up(autojump_clock: trio.testing.MockClock) -> None:
    async with FakeServer() as server:
        server.websocket.max_age = 10
        raw = await Raw.open(server, "/v1/responses")
        error = await raw.json()
        assert error["error"]["code"] == "websocket_connection_limit_reached"
        close = await raw.next()
        assert isinstance(close, we.CloseConnection) and close.code == 1000
        # The client neither answers nor sends anything: the server drops
        # the transport after its wait.
        assert await raw.rest() == []
        await wait_idle(server)
    assert server.websocket.close_codes == []


async def test_the_age_limit_after_the_client_went_away(autojump_clock: trio.testing.MockClock) -> None:
    async with FakeServer() as server:
        server.websocket.max_age = 1
        server.websocket.event_delay = 10
        raw = await Raw.open(server, "/v1/responses")
        await raw.send({"type": "response.create", "model": "gpt-4o-mini", "input": "Hi"})
        assert (await raw.json())["type"] == "response.created"
        # Gone mid-response: the age limit's error and the response's next
        # event both find the transport broken, and the server ends quietly.
        await raw.stream.aclose()
        await wait_idle(server, 60)
        assert server.handler_errors == []


async def test_audio_is_kept_base64_decoded() -> None:
    async with FakeServer() as server:
        raw = await Raw.open(server)
        await raw.json()
        for piece in (b"\x01\x02", b"\x03\x04"):
            await raw.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(piece).decode()})
        await raw.send({"type": "input_audio_buffer.commit"})
        assert (await raw.json())["type"] == "input_audio_buffer.committed"
        await raw.stream.aclose()
        await wait_idle(server)
    assert bytes(server.websocket.audio_received) == b"\x01\x02\x03\x04"
