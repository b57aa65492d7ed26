"""The sans-IO WebSocket connection, driven by a scripted server (wsproto's
server side) and by hand-made bytes: handshake, frames, pings, closes,
limits and malformed input, each byte stream fed whole, one byte at a time
and at random split points."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from typing import Any, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto import ConnectionType, WSConnection
from wsproto import events as we

import openai_sansio
from openai_sansio import (
    NEED_DATA,
    APIConnectionError,
    AuthenticationError,
    AzureConfig,
    BinaryMessage,
    ClientConfig,
    IncompleteResponseError,
    LocalProtocolError,
    NotFoundError,
    PermissionDeniedError,
    PongReceived,
    RemoteProtocolError,
    StreamDecodeError,
    UnknownRealtimeEvent,
    WebSocketClosed,
    WebSocketClosedError,
    WebSocketConnection,
    WebSocketOpened,
    WebSocketRequest,
    WebSocketState,
    realtime_request,
    responses_websocket_request,
)

FAST = settings(max_examples=60, deadline=None)
SECRET = "sk-websocket-test-secret-0123456789"
CONFIG = ClientConfig(api_key=SECRET, base_url="http://127.0.0.1:8123/v1")
# RFC 6455 section 1.3's example: this key must be answered with that accept.
RFC_KEY = base64.b64decode("dGhlIHNhbXBsZSBub25jZQ==")
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


class Random:
    """A scripted random source: the handshake key, then masking keys."""

    def __init__(self, key: bytes = RFC_KEY, masks: bytes = b"\x37\xfa\x21\x3d") -> None:
        self.key = key
        self.masks = masks
        self.calls: list[int] = []

    def __call__(self, n: int) -> bytes:
        self.calls.append(n)
        if n == 16:
            return self.key
        return self.masks


def client(request: WebSocketRequest | None = None, **kwargs: Any) -> WebSocketConnection:
    return WebSocketConnection(
        request or realtime_request(CONFIG, model="gpt-realtime"), random_bytes=Random(), **kwargs
    )


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(data[last:p])
        last = p
    pieces.append(data[last:])
    return [p for p in pieces if p]


def drain(conn: WebSocketConnection, events: list[Any]) -> None:
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            return
        events.append(event)
        if isinstance(event, WebSocketClosed):
            return


def run(
    conn: WebSocketConnection, pieces: list[bytes], eof: bool = False
) -> tuple[list[Any], BaseException | None]:
    """Feed ``pieces``, pulling events after each; the events and the error
    that ended them (None if none)."""
    events: list[Any] = []
    try:
        for piece in pieces:
            conn.receive_data(piece)
            drain(conn, events)
        if eof:
            conn.receive_data(b"")
            drain(conn, events)
    except (openai_sansio.APIError, LocalProtocolError) as exc:
        return merged(events), exc
    return merged(events), None


def merged(events: list[Any]) -> list[Any]:
    return events


def outcome(result: tuple[list[Any], BaseException | None]) -> tuple[list[Any], object]:
    events, error = result
    return events, None if error is None else (type(error), str(error))


def three_ways(make: Callable[[], WebSocketConnection], wire: bytes, eof: bool = False) -> tuple[list[Any], object]:
    """The outcome of ``wire`` fed whole, checked against one byte at a time."""
    whole = outcome(run(make(), [wire], eof))
    assert outcome(run(make(), [wire[i : i + 1] for i in range(len(wire))], eof)) == whole
    return whole


class Server:
    """wsproto's server side, answering the client's upgrade request."""

    def __init__(self, conn: WebSocketConnection) -> None:
        self.ws = WSConnection(ConnectionType.SERVER)
        self.ws.receive_data(conn.data_to_send())
        (self.request,) = [e for e in self.ws.events() if isinstance(e, we.Request)]

    def accept(self) -> bytes:
        return self.ws.send(we.AcceptConnection())

    def send(self, event: Any) -> bytes:
        return self.ws.send(event)

    def text(self, obj: Any) -> bytes:
        return self.ws.send(we.TextMessage(json.dumps(obj)))

    def read(self, data: bytes) -> list[Any]:
        self.ws.receive_data(data)
        return list(self.ws.events())


def opened() -> tuple[WebSocketConnection, Server]:
    conn = client()
    server = Server(conn)
    conn.receive_data(server.accept())
    assert isinstance(conn.next_event(), WebSocketOpened)
    assert conn.next_event() is NEED_DATA
    return conn, server


def accept_head(key: bytes = RFC_KEY, extra: bytes = b"") -> bytes:
    accept = base64.b64encode(hashlib.sha1(base64.b64encode(key) + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n" + extra + b"\r\n"
    )


def server_frame(opcode: int, payload: bytes, fin: bool = True, first: int | None = None) -> bytes:
    """An unmasked server frame, made by hand."""
    b0 = (0x80 if fin else 0) | opcode if first is None else first
    n = len(payload)
    if n <= 125:
        head = bytes((b0, n))
    elif n <= 0xFFFF:
        head = bytes((b0, 126)) + struct.pack("!H", n)
    else:
        head = bytes((b0, 127)) + struct.pack("!Q", n)
    return head + payload


def text_frame(obj: Any) -> bytes:
    return server_frame(0x1, json.dumps(obj).encode())


# -- the handshake -------------------------------------------------------------------


def test_upgrade_request_bytes_are_exact_for_a_given_key() -> None:
    conn = client(realtime_request(ClientConfig(api_key=SECRET, project="proj_1"), model="gpt-realtime"))
    wire = conn.data_to_send()
    assert repr(wire) == f"<{len(wire)} bytes of request data>"
    assert SECRET not in repr(wire) and SECRET not in str(wire)
    agent = openai_sansio._call._USER_AGENT
    assert bytes(wire) == (
        b"GET /v1/realtime?model=gpt-realtime HTTP/1.1\r\n"
        b"host: api.openai.com\r\n"
        b"authorization: Bearer " + SECRET.encode() + b"\r\n"
        b"user-agent: " + agent.encode() + b"\r\n"
        b"openai-project: proj_1\r\n"
        b"upgrade: websocket\r\n"
        b"connection: Upgrade\r\n"
        b"sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"sec-websocket-version: 13\r\n\r\n"
    )
    assert conn.data_to_send() == b""
    assert conn.state is WebSocketState.CONNECTING


def test_the_accept_value_is_rfc_6455s() -> None:
    assert openai_sansio._websocket.accept_value(b"dGhlIHNhbXBsZSBub25jZQ==").decode() == RFC_ACCEPT
    conn = client()
    conn.data_to_send()
    events, error = three_ways(client, accept_head())
    assert error is None
    (opened_event,) = events
    assert isinstance(opened_event, WebSocketOpened)
    assert opened_event.headers["sec-websocket-accept"] == RFC_ACCEPT


def test_a_wsproto_server_accepts_the_upgrade() -> None:
    conn = client()
    server = Server(conn)
    assert server.request.target == "/v1/realtime?model=gpt-realtime"
    conn.receive_data(server.accept())
    assert isinstance(conn.next_event(), WebSocketOpened)
    assert conn.state is WebSocketState.OPEN


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (accept_head(key=b"x" * 16), "Sec-WebSocket-Accept does not match"),
        (accept_head().replace(b"Upgrade: websocket\r\n", b"Upgrade: h2c\r\n"), "does not upgrade"),
        (accept_head().replace(b"Connection: Upgrade\r\n", b"Connection: keep-alive\r\n"), "Connection: upgrade"),
        (accept_head(extra=b"Sec-WebSocket-Extensions: permessage-deflate\r\n"), "extension"),
        (accept_head(extra=b"Sec-WebSocket-Protocol: chat\r\n"), "subprotocol"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "answered the upgrade with 200"),
        (b"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n", "with 302"),
        (b"SSH-2.0-OpenSSH_9.0\r\n\r\n", "not valid HTTP/1.1"),
    ],
)
def test_a_bad_handshake_answer_is_a_remote_protocol_error(head: bytes, message: str) -> None:
    events, error = three_ways(client, head)
    assert events == []
    assert isinstance(error, tuple) and error[0] is RemoteProtocolError and message in error[1]
    conn = client()
    conn.receive_data(head)
    with pytest.raises(RemoteProtocolError):
        conn.next_event()
    assert conn.state is WebSocketState.CLOSED
    with pytest.raises(RemoteProtocolError):
        conn.next_event()


def refusal(status: int, reason: bytes, body: bytes, chunked: bool = False) -> bytes:
    if chunked:
        framed = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        return b"HTTP/1.1 %d %s\r\nTransfer-Encoding: chunked\r\nx-request-id: req_9\r\n\r\n%s" % (
            status, reason, framed
        )
    return b"HTTP/1.1 %d %s\r\nContent-Length: %d\r\nx-request-id: req_9\r\n\r\n%s" % (
        status, reason, len(body), body
    )


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize(
    ("status", "reason", "cls"),
    [(401, b"Unauthorized", AuthenticationError), (403, b"Forbidden", PermissionDeniedError),
     (404, b"Not Found", NotFoundError)],
)
def test_a_refused_upgrade_is_the_typed_status_error(status: int, reason: bytes, cls: type, chunked: bool) -> None:
    body = json.dumps(
        {"error": {"message": f"Incorrect API key provided: {SECRET}.", "type": "invalid_request_error",
                   "code": "invalid_api_key"}}
    ).encode()
    events, error = three_ways(client, refusal(status, reason, body, chunked))
    assert events == []
    assert isinstance(error, tuple) and error[0] is cls
    conn = client()
    conn.receive_data(refusal(status, reason, body, chunked))
    with pytest.raises(cls) as info:
        conn.next_event()
    exc = info.value
    assert exc.status_code == status
    assert exc.code == "invalid_api_key"
    assert exc.request_id == "req_9"
    assert "Incorrect API key provided: <redacted>." in str(exc)
    for text in (str(exc), repr(exc), repr(exc.body), exc.response.text, repr(exc.request)):
        assert SECRET not in text
    assert conn.state is WebSocketState.CLOSED


def test_a_401_without_a_bearer_keeps_the_servers_message() -> None:
    request = realtime_request(ClientConfig(base_url="http://127.0.0.1:1/v1"), model="gpt-realtime")
    conn = client(request)
    assert b"authorization" not in conn.data_to_send()
    body = b'{"error": {"message": "Missing bearer authentication in header", "type": "invalid_request_error"}}'
    conn.receive_data(refusal(401, b"Unauthorized", body))
    with pytest.raises(AuthenticationError, match="Missing bearer authentication in header"):
        conn.next_event()


def test_a_refusal_body_read_until_eof_and_one_cut_short() -> None:
    head = b"HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n"
    _events, error = three_ways(client, head + b"not allowed here", eof=True)
    assert error == (PermissionDeniedError, "Error code: 403 - not allowed here")
    cut = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 100\r\n\r\n{\"error\": "
    _events, error = three_ways(client, cut, eof=True)
    assert isinstance(error, tuple) and error[0] is AuthenticationError


def test_a_huge_refusal_body_is_not_buffered_whole() -> None:
    conn = client()
    conn.receive_data(b"HTTP/1.1 500 Oops\r\nContent-Length: 10000000\r\n\r\n")
    assert conn.next_event() is NEED_DATA
    with pytest.raises(openai_sansio.InternalServerError):
        for _ in range(100):
            conn.receive_data(b"x" * 100_000)
            assert conn.next_event() is NEED_DATA


def test_eof_before_the_answer_is_an_incomplete_response() -> None:
    for wire in (b"", b"HTTP/1.1 101 Switching Protocols\r\nUpgr"):
        _events, error = three_ways(client, wire, eof=True) if wire else outcome(run(client(), [], eof=True))
        assert isinstance(error, tuple) and error[0] is IncompleteResponseError
        assert issubclass(IncompleteResponseError, APIConnectionError)


def test_a_huge_handshake_head_is_refused() -> None:
    conn = client(max_response_head_size=1024)
    conn.receive_data(b"HTTP/1.1 101 Switching Protocols\r\n" + b"X-Pad: " + b"a" * 5000)
    with pytest.raises(RemoteProtocolError):
        conn.next_event()


# -- frames after the 101 -------------------------------------------------------------


def scripted_session() -> bytes:
    """A 101 with the first frames in the same bytes, then more."""
    return (
        accept_head()
        + text_frame({"type": "session.created", "event_id": "ev_1", "session": {"id": "s1"}})
        + server_frame(0x2, b"\x00\x01binary")
        # "response.text.delta" in three fragments, with a ping between them.
        + server_frame(0x1, b'{"type": "response.', fin=False)
        + server_frame(0x9, b"keepalive")
        + server_frame(0x0, "text.delta\", \"delta\": \"h\u00e9".encode(), fin=False)
        + server_frame(0x0, b'llo"}')
        + server_frame(0xA, b"p1")
        + text_frame({"type": "x" * 200, "n": "y" * 70000})
        + server_frame(0x8, struct.pack("!H", 1000) + b"bye")
    )


def decode(obj: dict[str, Any]) -> Any:
    return openai_sansio.decode_realtime_server_event(obj)


def expected_session_events() -> list[Any]:
    return [
        WebSocketOpened(openai_sansio.Headers([
            ("upgrade", "websocket"), ("connection", "Upgrade"), ("sec-websocket-accept", RFC_ACCEPT)
        ])),
        decode({"type": "session.created", "event_id": "ev_1", "session": {"id": "s1"}}),
        BinaryMessage(b"\x00\x01binary"),
        decode({"type": "response.text.delta", "delta": "h\u00e9llo"}),
        PongReceived(b"p1"),
        UnknownRealtimeEvent("x" * 200, {"type": "x" * 200, "n": "y" * 70000}),
        WebSocketClosed(1000, "bye", local=False),
    ]


def session_client() -> WebSocketConnection:
    conn = client()
    conn.data_to_send()
    return conn


def test_frames_whole_and_byte_by_byte() -> None:
    events, error = three_ways(session_client, scripted_session())
    assert error is None
    assert events == expected_session_events()


@FAST
@given(cuts=st.lists(st.integers(min_value=0), max_size=12))
def test_frames_at_random_split_points(cuts: list[int]) -> None:
    wire = scripted_session()
    assert outcome(run(session_client(), split_at(wire, cuts))) == (expected_session_events(), None)


def test_the_core_answers_pings_and_the_close_with_exact_bytes() -> None:
    conn = session_client()
    conn.receive_data(accept_head() + server_frame(0x9, b"hi"))
    assert isinstance(conn.next_event(), WebSocketOpened)
    assert conn.next_event() is NEED_DATA
    # Pong: FIN+opcode 0xA, MASK bit and length 2, the key, "hi" masked.
    assert conn.data_to_send() == bytes.fromhex("8a82 37fa213d") + bytes((ord("h") ^ 0x37, ord("i") ^ 0xFA))
    conn.receive_data(server_frame(0x8, struct.pack("!H", 1000)))
    assert conn.next_event() == WebSocketClosed(1000, "", local=False)
    # The close echoed: 0x88, masked length 2, the key, 1000 masked.
    assert conn.data_to_send() == bytes.fromhex("8882 37fa213d") + bytes((0x03 ^ 0x37, 0xE8 ^ 0xFA))
    assert conn.state is WebSocketState.CLOSED
    # The ending repeats; bytes after it and the EOF are ignored.
    assert conn.next_event() == WebSocketClosed(1000, "", local=False)
    conn.receive_data(b"")
    assert conn.next_event() == WebSocketClosed(1000, "", local=False)


def test_ping_pong_with_a_wsproto_server() -> None:
    conn, server = opened()
    conn.ping(b"are you there")
    assert server.read(conn.data_to_send()) == [we.Ping(payload=b"are you there")]
    conn.receive_data(server.send(we.Pong(payload=b"are you there")))
    assert conn.next_event() == PongReceived(b"are you there")
    conn.receive_data(server.send(we.Ping(payload=b"yes?")))
    assert conn.next_event() is NEED_DATA
    assert server.read(conn.data_to_send()) == [we.Pong(payload=b"yes?")]


def test_messages_both_ways_with_a_wsproto_server() -> None:
    conn, server = opened()
    conn.send({"type": "session.update", "session": {"instructions": "caf\u00e9"}})
    conn.send('{"type": "response.create"}')
    conn.send(b"\x00" * 70000)
    received = server.read(conn.data_to_send())
    assert [type(e) for e in received] == [we.TextMessage, we.TextMessage, we.BytesMessage]
    assert json.loads(received[0].data) == {"type": "session.update", "session": {"instructions": "caf\u00e9"}}
    assert received[2].data == b"\x00" * 70000
    # Fragmented by the server, with a big middle.
    wire = server.send(we.TextMessage('{"type": "a", "v": "', message_finished=False))
    wire += server.send(we.TextMessage("z" * 100_000, message_finished=False))
    wire += server.send(we.TextMessage('"}', message_finished=True))
    events, error = run(conn, [wire])
    assert error is None
    assert events == [UnknownRealtimeEvent("a", {"type": "a", "v": "z" * 100_000})]


def test_exact_frame_bytes_for_a_known_mask() -> None:
    conn = session_client()
    conn.receive_data(accept_head())
    conn.next_event()
    # RFC 6455 5.7: "Hello" masked with 37 fa 21 3d.
    conn.send("Hello")
    assert conn.data_to_send() == bytes.fromhex("8185 37fa213d 7f9f4d5158")
    conn.send(b"a" * 126)
    frame = conn.data_to_send()
    assert frame[:8] == bytes.fromhex("82fe 007e 37fa213d")
    assert frame[8:12] == bytes((0x61 ^ 0x37, 0x61 ^ 0xFA, 0x61 ^ 0x21, 0x61 ^ 0x3D))
    conn.send(b"b" * 65536)
    frame = conn.data_to_send()
    assert frame[:14] == bytes.fromhex("82ff 0000000000010000 37fa213d")
    assert len(frame) == 14 + 65536
    conn.send(b"")
    assert conn.data_to_send() == bytes.fromhex("8280 37fa213d")


def test_every_mask_comes_from_the_random_source() -> None:
    source = Random()
    conn = WebSocketConnection(realtime_request(CONFIG, model="m"), random_bytes=source)
    conn.receive_data(accept_head())
    conn.next_event()
    conn.send({"type": "a"})
    conn.ping()
    conn.close()
    assert source.calls == [16, 4, 4, 4]


def test_close_started_by_the_client() -> None:
    conn, server = opened()
    conn.close(4000, "done here")
    assert conn.state is WebSocketState.CLOSING
    (close,) = server.read(conn.data_to_send())
    assert (close.code, close.reason) == (4000, "done here")
    # Messages still arrive until the server's close frame.
    wire = text_frame({"type": "late"}) + server.send(close.response())
    events, error = run(conn, [wire])
    assert error is None
    assert events == [UnknownRealtimeEvent("late", {"type": "late"}), WebSocketClosed(4000, "done here", local=True)]
    assert conn.data_to_send() == b""
    conn.close()  # a no-op now
    assert conn.data_to_send() == b""


def test_close_started_by_the_client_then_eof() -> None:
    conn, _server = opened()
    conn.close()
    conn.data_to_send()
    conn.receive_data(b"")
    assert conn.next_event() == WebSocketClosed(1006, "", local=True)


def test_close_before_the_handshake_sends_nothing() -> None:
    conn = client()
    conn.data_to_send()
    conn.close()
    assert conn.state is WebSocketState.CLOSED
    assert conn.data_to_send() == b""
    assert isinstance(conn.next_event(), WebSocketClosed)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"", WebSocketClosed(1005, "")),
        (struct.pack("!H", 1000), WebSocketClosed(1000, "")),
        (struct.pack("!H", 1008) + b"policy violated", (1008, "policy violated", False)),
        (struct.pack("!H", 4001) + b"session expired", (4001, "session expired", False)),
        (struct.pack("!H", 1011) + b"oops", (1011, "oops", True)),
        (struct.pack("!H", 1001), (1001, "", True)),
        (struct.pack("!H", 1013) + b"later", (1013, "later", True)),
    ],
)
def test_close_codes_are_mapped(payload: bytes, expected: WebSocketClosed | tuple[int, str, bool]) -> None:
    wire = accept_head() + server_frame(0x8, payload)
    events, error = three_ways(session_client, wire)
    conn = session_client()
    conn.receive_data(wire)
    assert isinstance(conn.next_event(), WebSocketOpened)
    if isinstance(expected, WebSocketClosed):
        assert error is None and events[-1] == expected
        assert conn.next_event() == expected
    else:
        assert isinstance(expected, tuple)
        code, reason, retryable = expected
        with pytest.raises(WebSocketClosedError) as info:
            conn.next_event()
        exc = info.value
        assert (exc.close_code, exc.reason, exc.retryable) == (code, reason, retryable)
        assert str(code) in str(exc) and reason in str(exc)
        with pytest.raises(WebSocketClosedError):
            conn.next_event()
    # Either way the close was echoed and the connection is done.
    assert conn.data_to_send()[:1] == b"\x88"
    assert conn.state is WebSocketState.CLOSED
    with pytest.raises(LocalProtocolError):
        conn.send({"type": "late"})


def test_a_close_reason_echoing_the_key_is_scrubbed() -> None:
    conn = session_client()
    conn.receive_data(accept_head() + server_frame(0x8, struct.pack("!H", 4003) + f"bad key {SECRET[:40]}".encode()))
    conn.next_event()
    with pytest.raises(WebSocketClosedError) as info:
        conn.next_event()
    assert SECRET not in str(info.value) and SECRET not in info.value.reason


def test_eof_without_a_close_frame_is_an_incomplete_response() -> None:
    wire = accept_head() + text_frame({"type": "a"}) + server_frame(0x1, b'{"ty', fin=False)
    events, error = three_ways(session_client, wire, eof=True)
    assert events[1:] == [UnknownRealtimeEvent("a", {"type": "a"})]
    assert isinstance(error, tuple) and error[0] is IncompleteResponseError and "1006" in error[1]
    conn = session_client()
    conn.receive_data(accept_head())
    conn.next_event()
    conn.receive_data(b"")
    with pytest.raises(APIConnectionError):
        conn.next_event()
    with pytest.raises(LocalProtocolError):
        conn.receive_data(b"more")


# -- limits and malformed frames -----------------------------------------------------


def test_an_oversize_message_is_refused() -> None:
    def small() -> WebSocketConnection:
        conn = client(max_message_size=1000)
        conn.data_to_send()
        return conn

    for wire in (
        accept_head() + server_frame(0x1, b'"' + b"x" * 2000 + b'"'),
        # Fragments that are small one by one.
        accept_head() + b"".join(server_frame(0x1 if i == 0 else 0x0, b"x" * 300, fin=False) for i in range(4)),
        # A frame that claims far more than it ever sends.
        accept_head() + bytes((0x82, 127)) + struct.pack("!Q", 2**40) + b"y" * 1500,
    ):
        events, error = three_ways(small, wire)
        assert isinstance(events[0], WebSocketOpened) and len(events) == 1
        assert isinstance(error, tuple) and error[0] is RemoteProtocolError and "max_message_size" in error[1]
    conn = small()
    conn.receive_data(accept_head() + server_frame(0x2, b"z" * 1001))
    conn.next_event()
    with pytest.raises(RemoteProtocolError):
        conn.next_event()
    # The server is told why: close 1009 (masked).
    frame = conn.data_to_send()
    assert frame[:2] == b"\x88\x82" and bytes(a ^ b for a, b in zip(frame[6:8], frame[2:4], strict=True)) == b"\x03\xf1"
    assert conn.state is WebSocketState.CLOSED


def test_sending_an_oversize_message_is_refused_before_any_byte() -> None:
    conn = client(max_message_size=100)
    conn.data_to_send()
    conn.receive_data(accept_head())
    conn.next_event()
    with pytest.raises(LocalProtocolError, match="max_message_size"):
        conn.send(b"x" * 101)
    assert conn.data_to_send() == b""
    conn.send(b"x" * 100)


@pytest.mark.parametrize(
    "frame",
    [
        bytes((0x81, 0x82)) + b"\x00\x00\x00\x00{}",  # masked by the server
        bytes((0xC1, 2)) + b"{}",  # RSV1 without an extension
        bytes((0x83, 0)),  # reserved opcode
        bytes((0x09, 0)),  # fragmented ping
        bytes((0x89, 126)) + struct.pack("!H", 200) + b"p" * 200,  # ping too long
        bytes((0x80, 1)) + b"x",  # continuation of nothing
        server_frame(0x1, b"\xff\xfe"),  # not UTF-8
        bytes((0x81, 126, 0, 5)) + b"hello",  # length in 2 bytes that fits in 7
        server_frame(0x8, b"\x03"),  # a 1-byte close payload
        server_frame(0x8, struct.pack("!H", 999)),  # close code out of range
        server_frame(0x8, struct.pack("!H", 1006)),  # a code for reports only
    ],
)
def test_malformed_frames_are_remote_protocol_errors(frame: bytes) -> None:
    events, error = three_ways(session_client, accept_head() + frame)
    assert len(events) == 1
    assert isinstance(error, tuple) and error[0] is RemoteProtocolError
    conn = session_client()
    conn.receive_data(accept_head() + frame + text_frame({"type": "after"}))
    conn.next_event()
    with pytest.raises(RemoteProtocolError):
        conn.next_event()
    assert conn.state is WebSocketState.CLOSED
    assert conn.data_to_send()[:1] == b"\x88"  # the server is told
    with pytest.raises(RemoteProtocolError):
        conn.next_event()
    with pytest.raises(LocalProtocolError):
        conn.send({"type": "x"})


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2]", b'"text"', b"{" * 100000])
def test_a_server_message_that_is_not_a_json_object(payload: bytes) -> None:
    conn = session_client()
    conn.receive_data(accept_head() + server_frame(0x1, payload))
    conn.next_event()
    with pytest.raises(StreamDecodeError) as info:
        conn.next_event()
    assert len(info.value.data) <= 200


def test_a_decoder_that_chokes_is_a_stream_decode_error() -> None:
    def decode(obj: Any) -> Any:
        raise KeyError("missing")

    conn = client(decode=decode)
    conn.data_to_send()
    conn.receive_data(accept_head() + text_frame({"type": "session.created", "key": SECRET}))
    conn.next_event()
    with pytest.raises(StreamDecodeError, match=r"session\.created") as info:
        conn.next_event()
    assert SECRET not in info.value.data


@FAST
@given(garbage=st.binary(max_size=300), cuts=st.lists(st.integers(min_value=0), max_size=6))
def test_random_bytes_after_the_101_never_crash_or_hang(garbage: bytes, cuts: list[int]) -> None:
    events, error = run(session_client(), split_at(accept_head() + garbage, cuts), eof=True)
    assert isinstance(events[0], WebSocketOpened)
    assert error is None or isinstance(error, (RemoteProtocolError, WebSocketClosedError, APIConnectionError))


# -- caller misuse ---------------------------------------------------------------------


def test_caller_misuse_is_refused_before_any_byte() -> None:
    conn = client()
    conn.data_to_send()
    with pytest.raises(LocalProtocolError, match="handshake"):
        conn.send({"type": "session.update"})
    conn.receive_data(accept_head())
    conn.next_event()
    bads: list[Any] = [{"session": {}}, {"type": ""}, {"type": "x", "v": float("nan")}, {"type": "x", "v": object()}, 42]
    for bad in bads:
        with pytest.raises(LocalProtocolError):
            conn.send(bad)
    with pytest.raises(LocalProtocolError):
        conn.send("\ud800")
    with pytest.raises(LocalProtocolError):
        conn.ping(b"x" * 126)
    for code, reason in ((1005, ""), (1006, ""), (999, ""), (2000, ""), (5000, ""), (1000, "r" * 124)):
        with pytest.raises(LocalProtocolError):
            conn.close(code, reason)
    assert conn.data_to_send() == b""
    assert conn.state is WebSocketState.OPEN

    def short(n: int) -> bytes:
        return b"\x00"

    with pytest.raises(LocalProtocolError, match="random_bytes"):
        WebSocketConnection(realtime_request(CONFIG, model="m"), random_bytes=short)
    with pytest.raises(LocalProtocolError):
        WebSocketConnection(realtime_request(CONFIG, model="m"), random_bytes=Random(), max_message_size=0)


# -- where connections go --------------------------------------------------------------


def test_realtime_urls_and_headers() -> None:
    config = ClientConfig(api_key=SECRET, organization="org_1", project="proj_1", default_headers={"X-Team": "a"},
                          default_query={"trace": "1"})
    request = realtime_request(config, model="gpt-realtime")
    assert request.url == "wss://api.openai.com/v1/realtime?trace=1&model=gpt-realtime"
    headers = dict(request.headers)
    assert headers["authorization"] == f"Bearer {SECRET}"
    assert headers["openai-organization"] == "org_1" and headers["openai-project"] == "proj_1"
    assert headers["x-team"] == "a"
    assert "accept" not in headers and "x-retry-count" not in headers
    assert request.origin == openai_sansio.Origin("https", "api.openai.com", 443)
    assert realtime_request(ClientConfig(api_key="k"), call_id="rtc_1").url == (
        "wss://api.openai.com/v1/realtime?call_id=rtc_1"
    )
    assert realtime_request(CONFIG, model="a b").url == "ws://127.0.0.1:8123/v1/realtime?model=a%20b"
    extra = realtime_request(CONFIG, model="m", extra_headers={"OpenAI-Beta": "realtime=v1"}, extra_query={"x": "y"})
    assert ("openai-beta", "realtime=v1") in extra.headers and extra.target.endswith("&x=y")
    with pytest.raises(LocalProtocolError):
        realtime_request(CONFIG)
    with pytest.raises(LocalProtocolError):
        realtime_request(CONFIG, model="m", extra_headers={"Sec-WebSocket-Key": "x"})
    with pytest.raises(LocalProtocolError):
        realtime_request(CONFIG, model="m", extra_headers={"x-bad": "a\r\nb"})


def test_responses_websocket_url() -> None:
    request = responses_websocket_request(ClientConfig(api_key=SECRET))
    assert request.url == "wss://api.openai.com/v1/responses"
    assert dict(request.headers)["authorization"] == f"Bearer {SECRET}"
    assert request.kind == "responses"
    assert openai_sansio.RESPONSES_WEBSOCKET_MAX_AGE == 3600.0


def test_responses_events_are_typed() -> None:
    conn = WebSocketConnection(responses_websocket_request(CONFIG), random_bytes=Random())
    conn.data_to_send()
    delta = {"type": "response.output_text.delta", "delta": "hi", "item_id": "i", "output_index": 0,
             "content_index": 0, "sequence_number": 1, "logprobs": []}
    conn.receive_data(accept_head() + text_frame(delta))
    conn.next_event()
    event = conn.next_event()
    assert not isinstance(event, UnknownRealtimeEvent) and event.delta == "hi"
    assert event == openai_sansio.decode_responses_ws_server_event(delta)


def test_azure_realtime_urls() -> None:
    env: dict[str, str] = {}
    keyed = AzureConfig.resolve(api_key=SECRET, api_version="2025-04-01-preview",
                                azure_endpoint="https://example.openai.azure.com/", environ=env)
    request = realtime_request(keyed.client_config(environ=env), model="gpt-realtime", azure=keyed)
    assert request.url == (
        "wss://example.openai.azure.com/openai/realtime?api-version=2025-04-01-preview&deployment=gpt-realtime"
    )
    headers = dict(request.headers)
    assert headers["api-key"] == SECRET and "authorization" not in headers
    token = AzureConfig.resolve(azure_ad_token=SECRET, api_version="2024-10-21",
                                azure_endpoint="https://example.openai.azure.com", azure_deployment="rt:1",
                                environ=env)
    request = realtime_request(token.client_config(environ=env), model="ignored", azure=token)
    assert request.url.endswith("/openai/realtime?api-version=2024-10-21&deployment=rt%3A1")
    assert dict(request.headers)["authorization"] == f"Bearer {SECRET}"
    with pytest.raises(LocalProtocolError, match="model"):
        realtime_request(keyed.client_config(environ=env), azure=keyed)
    responses = responses_websocket_request(keyed.client_config(environ=env))
    assert responses.url == "wss://example.openai.azure.com/openai/responses?api-version=2025-04-01-preview"


def test_secrets_never_in_reprs_or_errors() -> None:
    config = ClientConfig(api_key=SECRET, default_query={"api_key": SECRET + "q"})
    request = realtime_request(config, model="m", extra_headers={"X-Api-Token": SECRET + "h"})
    conn = WebSocketConnection(request, random_bytes=Random())
    wire = conn.data_to_send()
    assert SECRET.encode() in wire
    for text in (repr(request), str(request), repr(conn), repr(wire)):
        assert SECRET not in text, text
    assert "<redacted>" in repr(request)
    conn.receive_data(accept_head(key=b"z" * 16))
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert SECRET not in str(info.value) and SECRET not in repr(info.value.request)
    conn = WebSocketConnection(request, random_bytes=Random())
    conn.receive_data(accept_head() + server_frame(0x1, f"not json {SECRET}".encode()))
    conn.next_event()
    with pytest.raises(StreamDecodeError) as decode_info:
        conn.next_event()
    assert SECRET not in decode_info.value.data and SECRET not in str(decode_info.value)


def test_client_events_are_checked_for_their_required_keys() -> None:
    conn, server = opened()
    with pytest.raises(LocalProtocolError, match="item"):
        conn.send({"type": "conversation.item.create"})
    assert conn.data_to_send() == b""
    # A type this version does not know goes out as given.
    conn.send({"type": "future.event", "x": 1})
    assert server.read(conn.data_to_send()) == [we.TextMessage(data='{"type":"future.event","x":1}')]


def test_a_known_event_of_the_wrong_shape() -> None:
    conn = session_client()
    conn.receive_data(accept_head() + text_frame({"type": "session.created", "event_id": 5, "session": 3,
                                                  "note": SECRET}))
    conn.next_event()
    with pytest.raises(openai_sansio.APIResponseValidationError, match=r"session\.created") as info:
        conn.next_event()
    assert SECRET not in repr(info.value.body) and SECRET not in str(info.value)
    assert conn.state is WebSocketState.CLOSED
