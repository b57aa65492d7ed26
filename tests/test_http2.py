"""HTTP2Connection against a scripted h2 server, fed whole, byte by byte
and at random split points."""

from __future__ import annotations

from typing import Callable

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_sansio import (
    NEED_DATA,
    ConnectionClosed,
    ConnectionTerminated,
    DataReceived,
    HTTP2Connection,
    LocalProtocolError,
    Origin,
    RemoteProtocolError,
    Request,
    ResponseComplete,
    ResponseReceived,
    StreamedBody,
    StreamReset,
)

ORIGIN = Origin("https", "api.example.com", 443)
MiB = 1024 * 1024

Feed = Callable[[bytes], list[bytes]]


def whole(data: bytes) -> list[bytes]:
    return [data]


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


FEEDS = [whole, bytewise]


class Server:
    """The server side of the connection, driven by hand."""

    def __init__(self, client: HTTP2Connection, **settings_: int) -> None:
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding=None)
        )
        self.h2.initiate_connection()
        if settings_:
            self.h2.update_settings({getattr(h2.settings.SettingCodes, k): v for k, v in settings_.items()})
        self.client = client
        self.events: list[h2.events.Event] = []

    def pull(self) -> list[h2.events.Event]:
        """What the client queued, as server events."""
        data = self.client.data_to_send()
        events = self.h2.receive_data(data) if data else []
        self.events.extend(events)
        return events

    def push(self, feed: Feed = whole) -> list[object]:
        """What the server queued, fed to the client; the client's events."""
        data = self.h2.data_to_send()
        out: list[object] = []
        for piece in feed(data) if data else []:
            self.client.receive_data(piece)
            out.extend(drain(self.client))
        return out

    def respond(self, stream_id: int, status: int = 200, body: bytes = b"", *, end: bool = True,
                headers: list[tuple[bytes, bytes]] | None = None) -> None:
        fields = [(b":status", str(status).encode()), *(headers or [(b"content-type", b"application/json")])]
        self.h2.send_headers(stream_id, fields, end_stream=end and not body)
        if body:
            self.h2.send_data(stream_id, body, end_stream=end)


def R(method: str, target: str, headers: list[tuple[str, str]], body: bytes | StreamedBody,
      origin: Origin = ORIGIN) -> Request:
    return Request(method, origin, target, tuple(headers), body)


def drain(conn: HTTP2Connection) -> list[object]:
    out: list[object] = []
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            return out
        out.append(event)


def get(path: str = "/v1/models") -> Request:
    return R("GET", path, [("authorization", "Bearer sk-secret")], b"")


def post(body: bytes, path: str = "/v1/files") -> Request:
    return R("POST", path, [("content-type", "application/json")], body, ORIGIN)


def handshake(client: HTTP2Connection, **settings_: int) -> Server:
    server = Server(client, **settings_)
    server.pull()
    server.push()
    server.pull()  # the client's SETTINGS ack
    return server


def merged(events: list[object]) -> list[object]:
    """Consecutive DataReceived of a stream joined: split points may cut a
    body into different pieces, never reorder it."""
    out: list[object] = []
    for event in events:
        if isinstance(event, DataReceived) and out and isinstance(out[-1], DataReceived) \
                and out[-1].stream_id == event.stream_id:
            out[-1] = DataReceived(event.stream_id, out[-1].data + event.data)
        else:
            out.append(event)
    return out


@pytest.mark.parametrize("feed", FEEDS)
def test_get_round_trip(feed: Feed) -> None:
    client = HTTP2Connection()
    server = handshake(client)
    stream_id = client.send(get())
    assert stream_id == 1
    (request,) = [e for e in server.pull() if isinstance(e, h2.events.RequestReceived)]
    assert request.headers[:4] == [
        (b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"api.example.com"), (b":path", b"/v1/models"),
    ]
    assert (b"authorization", b"Bearer sk-secret") in request.headers
    assert request.stream_ended is not None  # no body: END_STREAM on HEADERS
    server.respond(1, 200, b'{"data": []}', headers=[(b"content-type", b"application/json"), (b"x-request-id", b"r1")])
    events = merged(server.push(feed))
    assert isinstance(events[0], ResponseReceived)
    assert (events[0].stream_id, events[0].status_code, events[0].http_version) == (1, 200, "2")
    assert events[0].headers["x-request-id"] == "r1"
    assert events[1:] == [DataReceived(1, b'{"data": []}'), ResponseComplete(1)]
    assert client.open_streams == 0 and client.is_idle


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_interleaved_streams_at_random_split_points(data: st.DataObject) -> None:
    client = HTTP2Connection()
    server = handshake(client)
    ids = [client.send(get(f"/v1/models/m{i}")) for i in range(3)]
    assert ids == [1, 3, 5]
    server.pull()
    for sid in reversed(ids):
        server.respond(sid, 200, b"x" * (sid * 100), end=False)
    for sid in ids:
        server.h2.send_data(sid, b"end%d" % sid, end_stream=True)
    wire = server.h2.data_to_send()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=12)))
    pieces = [wire[a:b] for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True)]
    events: list[object] = []
    for piece in pieces:
        if piece:
            client.receive_data(piece)
            events.extend(drain(client))
    for sid in ids:
        mine = merged([e for e in events if getattr(e, "stream_id", None) == sid])
        assert isinstance(mine[0], ResponseReceived)
        assert mine[1:] == [DataReceived(sid, b"x" * (sid * 100) + b"end%d" % sid), ResponseComplete(sid)]


def test_request_headers_follow_http2_rules() -> None:
    client = HTTP2Connection()
    server = handshake(client)
    req = R("POST", "/v1/x?a=1", [("Host", "other.example:8443"), ("X-Thing", " v "), ("TE", "trailers")],
                  b"{}", ORIGIN)
    client.send(req)
    (received,) = [e for e in server.pull() if isinstance(e, h2.events.RequestReceived)]
    assert received.headers == [
        (b":method", b"POST"), (b":scheme", b"https"), (b":authority", b"other.example:8443"),
        (b":path", b"/v1/x?a=1"), (b"x-thing", b"v"), (b"te", b"trailers"), (b"content-length", b"2"),
    ]
    for name, value in [("connection", "close"), ("keep-alive", "5"), ("proxy-connection", "x"),
                        ("transfer-encoding", "chunked"), ("upgrade", "h2c"), ("te", "gzip")]:
        with pytest.raises(LocalProtocolError, match=name):
            client.send(R("GET", "/", [(name, value)], b"", ORIGIN))
    with pytest.raises(LocalProtocolError, match="control character"):
        client.send(R("GET", "/", [("x-key", "sk-secret\r\nx: y")], b"", ORIGIN))
    with pytest.raises(LocalProtocolError, match="target"):
        client.send(R("GET", "/a b", [], b"", ORIGIN))
    with pytest.raises(LocalProtocolError, match="CONNECT"):
        client.send(R("CONNECT", "/", [], b"", ORIGIN))
    with pytest.raises(LocalProtocolError, match="does not match"):
        client.send(R("POST", "/", [("content-length", "9")], b"{}", ORIGIN))
    # Nothing was queued by the refusals: the next stream is 3.
    assert client.send(get()) == 3
    ipv6 = HTTP2Connection()
    ipv6.send(R("GET", "/", [], b"", Origin("http", "::1", 8080)))
    server6 = Server(ipv6)
    (r6,) = [e for e in server6.pull() if isinstance(e, h2.events.RequestReceived)]
    assert (b":authority", b"[::1]:8080") in r6.headers and (b":scheme", b"http") in r6.headers


def test_body_beyond_the_peer_window_waits_for_window_updates() -> None:
    client = HTTP2Connection()
    server = handshake(client)
    body = bytes(range(256)) * 1024  # 256 KiB: four times the default 64 KiB window
    sid = client.send(post(body))
    received = b"".join(e.data for e in server.pull() if isinstance(e, h2.events.DataReceived))
    assert len(received) == 65535
    assert client.pending_body(sid) == len(body) - 65535
    while client.pending_body(sid):
        server.h2.increment_flow_control_window(65535)
        server.h2.increment_flow_control_window(65535, stream_id=sid)
        server.push()
        events = server.pull()
        received += b"".join(e.data for e in events if isinstance(e, h2.events.DataReceived))
    assert received == body
    assert any(isinstance(e, h2.events.StreamEnded) for e in server.events)


def test_streamed_body_and_an_early_answer() -> None:
    client = HTTP2Connection()
    server = handshake(client)
    sid = client.send(R("POST", "/v1/uploads", [], StreamedBody(lambda: iter([b"ab", b"cd"]), None), ORIGIN))
    client.send_body(sid, b"ab")
    client.send_body(sid, b"")
    client.end_body(sid)
    got = [e for e in server.pull() if isinstance(e, (h2.events.DataReceived, h2.events.StreamEnded))]
    assert [getattr(e, "data", None) for e in got if getattr(e, "data", None) != b""] == [b"ab", None]
    sid2 = client.send(R("POST", "/v1/uploads", [], StreamedBody(lambda: iter([]), 10), ORIGIN))
    server.pull()
    server.respond(sid2, 413, b"too big")
    events = server.push()
    assert [type(e) for e in events] == [ResponseReceived, DataReceived, ResponseComplete]
    # The rest of the body is no longer wanted: dropped, not an error.
    client.send_body(sid2, b"x" * 10)
    client.end_body(sid2)
    assert not [e for e in server.pull() if isinstance(e, h2.events.DataReceived)]
    assert any(isinstance(e, h2.events.StreamReset) and e.error_code == 0 for e in server.events)
    with pytest.raises(LocalProtocolError, match="no stream 99"):
        client.send_body(99, b"x")
    with pytest.raises(LocalProtocolError, match="no streamed request body"):
        client.end_body(client.send(get()))


def test_cancel_resets_one_stream_and_the_others_go_on() -> None:
    client = HTTP2Connection()
    server = handshake(client)
    a, b = client.send(get("/a")), client.send(get("/b"))
    server.pull()
    # The server answers a while the client cancels it: the answer crosses
    # the reset and is ignored.
    server.respond(a, 200, b"late" * 1000, end=False)
    crossing = server.h2.data_to_send()
    client.cancel(a)
    client.cancel(a)  # twice is fine
    resets = [e for e in server.pull() if isinstance(e, h2.events.StreamReset)]
    assert [(r.stream_id, r.error_code) for r in resets] == [(a, h2.errors.ErrorCodes.CANCEL)]
    client.receive_data(crossing)
    assert drain(client) == []
    server.respond(b, 200, b"ok")
    events = server.push()
    assert [getattr(e, "stream_id", None) for e in events] == [b, b, b]
    assert client.open_streams == 0


@pytest.mark.parametrize("code, not_processed", [(h2.errors.ErrorCodes.REFUSED_STREAM, True),
                                                 (h2.errors.ErrorCodes.INTERNAL_ERROR, False)])
def test_server_resets(code: int, not_processed: bool) -> None:
    client = HTTP2Connection()
    server = handshake(client)
    sid = client.send(get())
    server.pull()
    server.h2.reset_stream(sid, code)
    assert server.push() == [StreamReset(sid, int(code), not_processed=not_processed)]
    assert client.is_idle


def test_goaway_replays_streams_above_last_id_and_finishes_the_rest() -> None:
    client = HTTP2Connection()
    server = handshake(client)
    ids = [client.send(get(f"/{i}")) for i in range(3)]
    server.pull()
    server.respond(1, 200, b"par", end=False)
    server.h2.close_connection(last_stream_id=1)
    # h2's server would refuse to go on after GOAWAY; write the rest by hand.
    tail = server.h2.data_to_send()
    server.h2.state_machine.state = h2.connection.ConnectionState.SERVER_OPEN
    server.h2.send_data(1, b"tial", end_stream=True)
    client.receive_data(tail + server.h2.data_to_send())
    events = drain(client)
    assert events[:2] == [ResponseReceived(1, 200, events[0].headers, "2"), DataReceived(1, b"par")]  # type: ignore[union-attr]
    assert events[2:] == [
        StreamReset(ids[1], 0, not_processed=True),
        StreamReset(ids[2], 0, not_processed=True),
        ConnectionTerminated(1, 0),
        DataReceived(1, b"tial"),
        ResponseComplete(1),
    ]
    assert client.max_streams == 0 and not client.is_reusable and not client.can_send
    with pytest.raises(LocalProtocolError, match="GOAWAY"):
        client.send(get())


def test_max_concurrent_streams_from_the_server() -> None:
    client = HTTP2Connection()
    assert client.max_streams == 100  # until the server says
    server = handshake(client, MAX_CONCURRENT_STREAMS=2)
    assert client.max_streams == 2
    a = client.send(get())
    client.send(get())
    assert not client.can_send and client.is_reusable
    with pytest.raises(LocalProtocolError, match="most the server allows"):
        client.send(get())
    server.pull()
    server.respond(a)
    server.push()
    assert client.can_send
    assert HTTP2Connection(max_streams=1).max_streams == 1
    roomy = HTTP2Connection()
    handshake(roomy, MAX_CONCURRENT_STREAMS=5000)
    assert roomy.max_streams == 1000


def _window_updates(events: list[h2.events.Event], stream_id: int) -> list[int]:
    return [e.delta for e in events if isinstance(e, h2.events.WindowUpdated) and e.stream_id == stream_id]


def test_receive_windows_are_large_and_updates_batched() -> None:
    client = HTTP2Connection()
    server = handshake(client)
    assert server.h2.remote_settings.initial_window_size == 16 * MiB
    sid = client.send(get())
    server.pull()
    server.respond(sid, 200, end=False)
    before = len(server.events)
    total = 0
    for _ in range(20 * MiB // 16384):
        server.h2.send_data(sid, b"z" * 16384)
        total += 16384
        # Reader consumes everything it is handed.
        for event in server.push():
            if isinstance(event, DataReceived):
                client.acknowledge(sid, len(event.data))
        server.pull()
    # 1,280 DATA frames; a few WINDOW_UPDATEs, not one each.
    conn_updates = _window_updates(server.events[before:], 0)
    stream_updates = _window_updates(server.events[before:], sid)
    assert 1 <= len(conn_updates) <= 3 and 1 <= len(stream_updates) <= 3
    assert sum(conn_updates) <= total


def test_a_slow_reader_holds_one_stream_window_and_never_stalls_the_others() -> None:
    client = HTTP2Connection()
    server = handshake(client)
    slow, fast = client.send(get("/slow")), client.send(get("/fast"))
    server.pull()
    server.respond(slow, 200, end=False)
    server.respond(fast, 200, end=False)
    sent = 0
    while server.h2.local_flow_control_window(slow) > 0:
        n = min(16384, server.h2.local_flow_control_window(slow))
        server.h2.send_data(slow, b"s" * n)
        sent += n
        server.push()
        server.pull()
    assert sent == 16 * MiB  # the slow stream's window, never more
    # The connection window was handed back as data arrived: the fast
    # stream still gets through.
    assert server.h2.local_flow_control_window(fast) > 0 and server.h2.outbound_flow_control_window > 0
    server.h2.send_data(fast, b"f" * 1000, end_stream=True)
    events = server.push()
    assert [type(e) for e in events] == [DataReceived, ResponseComplete]


def test_trailers_informational_and_settings_acks() -> None:
    client = HTTP2Connection()
    server = handshake(client)
    sid = client.send(get())
    server.pull()
    server.h2.send_headers(sid, [(b":status", b"103"), (b"link", b"</x>")])
    server.respond(sid, 200, b"ok", end=False)
    server.h2.send_headers(sid, [(b"grpc-status", b"0")], end_stream=True)
    server.h2.ping(b"12345678")
    server.h2.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 5})
    events = server.push()
    assert [type(e) for e in events] == [ResponseReceived, DataReceived, ResponseComplete]
    assert events[2] == ResponseComplete(sid, events[2].trailers)  # type: ignore[union-attr]
    assert events[2].trailers["grpc-status"] == "0"  # type: ignore[union-attr]
    acks = server.pull()
    assert any(isinstance(e, h2.events.PingAckReceived) for e in acks)
    assert any(isinstance(e, h2.events.SettingsAcknowledged) for e in acks)


@pytest.mark.parametrize("feed", FEEDS)
def test_garbage_from_the_server_is_a_remote_protocol_error(feed: Feed) -> None:
    client = HTTP2Connection()
    client.send(get())
    client.data_to_send()
    with pytest.raises(RemoteProtocolError, match="SETTINGS frame"):
        for piece in feed(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"):
            client.receive_data(piece)
            drain(client)
    assert client.is_closed and client.max_streams == 0
    with pytest.raises(RemoteProtocolError):
        client.next_event()
    client.receive_data(b"more")  # ignored once broken


def test_invalid_status_and_oversized_heads() -> None:
    client = HTTP2Connection(max_response_head_size=1024)
    server = handshake(client)
    sid = client.send(get())
    server.pull()
    server.h2.send_headers(sid, [(b":status", b"200"), (b"x-big", b"v" * 4000)], end_stream=True)
    with pytest.raises(RemoteProtocolError):
        server.push()
    client = HTTP2Connection()
    server = handshake(client)
    server.h2.config.validate_outbound_headers = False
    sid = client.send(get())
    server.pull()
    server.h2.send_headers(sid, [(b":status", b"2x0")], end_stream=True)
    with pytest.raises(RemoteProtocolError, match="status"):
        server.push()


def test_eof() -> None:
    client = HTTP2Connection()
    handshake(client)
    client.receive_data(b"")
    assert drain(client) == [ConnectionClosed()]
    assert client.is_closed
    with pytest.raises(LocalProtocolError, match="after EOF"):
        client.receive_data(b"x")
    busy = HTTP2Connection()
    handshake(busy)
    busy.send(get())
    busy.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="1 stream"):
        busy.next_event()


def test_close_sends_goaway_and_refuses_requests() -> None:
    client = HTTP2Connection()
    server = handshake(client)
    client.close()
    client.close()
    assert any(isinstance(e, h2.events.ConnectionTerminated) for e in server.pull())
    with pytest.raises(LocalProtocolError, match="closed"):
        client.send(get())
    with pytest.raises(LocalProtocolError, match="closed"):
        client.send_body(1, b"x")


def test_constructor_checks() -> None:
    with pytest.raises(ValueError):
        HTTP2Connection(max_response_head_size=0)
    with pytest.raises(ValueError):
        HTTP2Connection(window=100)
    with pytest.raises(ValueError):
        HTTP2Connection(max_streams=0)
    assert HTTP2Connection(window=65535).data_to_send().startswith(b"PRI * HTTP/2.0")


def test_credentials_stay_out_of_the_compression_table() -> None:
    import hpack

    client = HTTP2Connection()
    server = handshake(client)
    for _ in range(2):
        client.send(R("GET", "/", [("Authorization", "Bearer sk-secret"), ("api-key", "k"), ("x-plain", "v")], b""))
    requests = [e for e in server.pull() if isinstance(e, h2.events.RequestReceived)]
    for request in requests:
        kinds = {bytes(h[0]): type(h) for h in request.headers}
        assert kinds[b"authorization"] is hpack.NeverIndexedHeaderTuple
        assert kinds[b"api-key"] is hpack.NeverIndexedHeaderTuple
        assert kinds[b"x-plain"] is not hpack.NeverIndexedHeaderTuple
    assert not any(b"sk-secret" in bytes(entry[1]) for entry in server.h2.decoder.header_table.dynamic_entries)
