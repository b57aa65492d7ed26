"""HTTP11Connection: requests to bytes, response bytes to shared events."""

from __future__ import annotations

from typing import Any

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_sansio import (
    NEED_DATA,
    ConnectionClosed,
    DataReceived,
    Headers,
    LocalProtocolError,
    Origin,
    RemoteProtocolError,
    Request,
    ResponseComplete,
    ResponseReceived,
)
from openai_sansio._http11 import HTTP11Connection

API = Origin("https", "api.openai.com", 443)
SECRET = "sk-proj-SECRETSECRET0123456789"
FAST = settings(max_examples=150, deadline=None)


def make_request(
    method: str = "GET",
    target: str = "/v1/models",
    headers: tuple[tuple[str, str], ...] = (),
    body: bytes = b"",
    origin: Origin = API,
) -> Request:
    return Request(method, origin, target, headers, body)


def sent(conn: HTTP11Connection, request: Request) -> int:
    stream_id = conn.send(request)
    assert conn.data_to_send()
    return stream_id


def status(conn: HTTP11Connection) -> tuple[int | None, bool, bool, bool]:
    """Read through a call so mypy does not pin earlier narrowings."""
    return conn.stream_id, conn.is_idle, conn.is_reusable, conn.is_closed


def drain(conn: HTTP11Connection, events: list[Any] | None = None) -> list[Any]:
    """Every event available now; stops at NEED_DATA or ConnectionClosed.

    Events go into ``events`` as they come, so they survive an exception.
    """
    if events is None:
        events = []
    for _ in range(100_000):
        event = conn.next_event()
        if event is NEED_DATA:
            return events
        # Only the shared vocabulary comes out, never an h11 type.
        if isinstance(event, DataReceived):
            assert type(event.data) is bytes and event.data
        elif isinstance(event, ResponseReceived):
            assert type(event.headers) is Headers and type(event.http_version) is str
        elif isinstance(event, ResponseComplete):
            assert type(event.trailers) is Headers
        else:
            assert type(event) is ConnectionClosed
        events.append(event)
        if isinstance(event, ConnectionClosed):
            return events
    raise AssertionError("next_event never asked for data")


def merged(events: list[Any]) -> list[Any]:
    """Join adjacent DataReceived so split feeds compare equal."""
    out: list[Any] = []
    for event in events:
        if isinstance(event, DataReceived) and out and isinstance(out[-1], DataReceived):
            out[-1] = DataReceived(event.stream_id, out[-1].data + event.data)
        else:
            out.append(event)
    return out


def run(
    pieces: list[bytes], method: str = "GET", *, eof: bool = True
) -> tuple[list[Any], str | None]:
    """Send one request, feed ``pieces`` then maybe EOF; events and error."""
    conn = HTTP11Connection()
    sent(conn, make_request(method))
    events: list[Any] = []
    try:
        for piece in pieces:
            conn.receive_data(piece)
            drain(conn, events)
        if eof:
            conn.receive_data(b"")
            drain(conn, events)
    except RemoteProtocolError as exc:
        assert conn.is_closed
        return merged(events), str(exc)
    return merged(events), None


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(data[last:p])
        last = p
    pieces.append(data[last:])
    return [p for p in pieces if p]


def server_parse(wire: bytes) -> list[Any]:
    """What a real HTTP/1.1 server (h11's server side) makes of our bytes."""
    server = h11.Connection(h11.SERVER)
    server.receive_data(wire)
    events: list[Any] = []
    while True:
        event = server.next_event()
        if event is h11.NEED_DATA:
            return events
        events.append(event)
        if isinstance(event, h11.EndOfMessage):
            return events


# -- sending --------------------------------------------------------------


def test_get_request_bytes() -> None:
    conn = HTTP11Connection()
    assert conn.is_idle and conn.is_reusable and not conn.is_closed
    assert conn.max_streams == 1
    assert conn.data_to_send() == b""
    assert conn.stream_id is None
    assert conn.send(make_request(headers=(("accept", "application/json"),))) == 1
    assert status(conn) == (1, False, False, False)
    assert conn.data_to_send() == (
        b"GET /v1/models HTTP/1.1\r\nhost: api.openai.com\r\n"
        b"accept: application/json\r\n\r\n"
    )
    assert conn.data_to_send() == b""


@pytest.mark.parametrize(
    ("method", "body", "length"),
    [
        ("POST", b'{"model":"x"}', b"13"),
        ("POST", b"", b"0"),
        ("PUT", b"", b"0"),
        ("PATCH", b"", b"0"),
        ("DELETE", b"xyz", b"3"),
        ("GET", b"", None),
        ("DELETE", b"", None),
    ],
)
def test_content_length(method: str, body: bytes, length: bytes | None) -> None:
    conn = HTTP11Connection()
    conn.send(make_request(method, body=body))
    wire = conn.data_to_send()
    request, *data, end = server_parse(wire)
    assert request.method == method.encode()
    assert dict(request.headers).get(b"content-length") == length
    assert b"".join(d.data for d in data) == body
    assert isinstance(end, h11.EndOfMessage)
    assert wire.endswith(b"\r\n\r\n" + body)


def test_headers_reach_a_real_server_as_given() -> None:
    conn = HTTP11Connection()
    headers = (
        ("authorization", f"Bearer {SECRET}"),
        ("content-type", "application/json"),
        ("X-Mixed-Case", "  padded\tvalue \t"),
        ("x-latin", "caf\xe9"),
        ("x-empty", ""),
        ("x-repeat", "1"),
        ("x-repeat", "2"),
    )
    conn.send(make_request("POST", "/v1/chat/completions?a=1&b=%20", headers, b"{}"))
    request, data, _ = server_parse(conn.data_to_send())
    assert request.target == b"/v1/chat/completions?a=1&b=%20"
    assert list(request.headers) == [
        (b"host", b"api.openai.com"),
        (b"authorization", f"Bearer {SECRET}".encode()),
        (b"content-type", b"application/json"),
        (b"x-mixed-case", b"padded\tvalue"),
        (b"x-latin", b"caf\xe9"),
        (b"x-empty", b""),
        (b"x-repeat", b"1"),
        (b"x-repeat", b"2"),
        (b"content-length", b"2"),
    ]
    assert data.data == b"{}"


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        (Origin("https", "api.openai.com", 443), b"api.openai.com"),
        (Origin("http", "localhost", 80), b"localhost"),
        (Origin("http", "localhost", 443), b"localhost:443"),
        (Origin("https", "127.0.0.1", 8443), b"127.0.0.1:8443"),
        (Origin("http", "::1", 8080), b"[::1]:8080"),
        (Origin("https", "::1", 443), b"[::1]"),
    ],
)
def test_host_header_from_origin(origin: Origin, host: bytes) -> None:
    conn = HTTP11Connection()
    conn.send(make_request(origin=origin))
    (request,) = server_parse(conn.data_to_send())[:1]
    assert dict(request.headers)[b"host"] == host


def test_caller_host_and_matching_content_length_are_kept_once() -> None:
    conn = HTTP11Connection()
    conn.send(
        make_request(
            "POST", headers=(("host", "proxy.example"), ("content-length", "3")), body=b"abc"
        )
    )
    wire = conn.data_to_send()
    assert wire.count(b"host:") == 1 and b"host: proxy.example\r\n" in wire
    assert wire.count(b"content-length:") == 1


INJECTIONS = [
    # (request, text that must not appear in the message)
    (make_request(headers=(("authorization", f"Bearer {SECRET}\r\nx-evil: 1"),)), SECRET),
    (make_request(headers=(("authorization", f"Bearer {SECRET}\n"),)), SECRET),
    (make_request(headers=(("authorization", f"Bearer\r{SECRET}"),)), SECRET),
    (make_request(headers=(("api-key", f"{SECRET}\x00"),)), SECRET),
    (make_request(headers=(("api-key", f"{SECRET}\x7f"),)), SECRET),
    (make_request(headers=(("api-key", f"{SECRET}\x0b"),)), SECRET),
    (make_request(headers=(("api-key", f"{SECRET}\u20ac"),)), SECRET),
    (make_request(headers=(("bad name", SECRET),)), SECRET),
    (make_request(headers=(("x-a:b", SECRET),)), SECRET),
    (make_request(headers=(("", SECRET),)), SECRET),
    (make_request(headers=(("x-\xe9", SECRET),)), SECRET),
    (make_request(headers=(("host", "a"), ("host", "b"))), "a'"),
    (make_request("POST", headers=(("content-length", "4"),), body=b"abc"), "4"),
    (make_request("POST", headers=(("content-length", "03"),), body=b"abc"), "03"),
    (make_request("POST", headers=(("content-length", "3"),) * 2, body=b"abc"), SECRET),
    (make_request(headers=(("transfer-encoding", "chunked"),)), "chunked"),
    (make_request(headers=(("upgrade", "websocket"),)), "websocket"),
    (make_request(target=f"/v1/models?key={SECRET} HTTP/1.1\r\nx: y"), SECRET),
    (make_request(target=f"/v1?key={SECRET}\n"), SECRET),
    (make_request(target=f"/v1?key={SECRET}\x00"), SECRET),
    (make_request(target=f"/v1?key={SECRET}\xe9"), SECRET),
    (make_request(target=f"v1?key={SECRET}"), SECRET),
    (make_request(target=""), SECRET),
    (make_request(target="*"), SECRET),
    (make_request("GET /x HTTP/1.1\r\n"), SECRET),
    (make_request(""), SECRET),
    (make_request("CONNECT"), SECRET),
    (make_request(origin=Origin("https", "evil\r\nx-injected: 1", 443)), SECRET),
    (make_request(origin=Origin("https", "user@evil", 443)), SECRET),
    (make_request(origin=Origin("https", "", 443)), SECRET),
]


@pytest.mark.parametrize(("request_", "hidden"), INJECTIONS)
def test_bad_requests_raise_before_any_byte(request_: Request, hidden: str) -> None:
    conn = HTTP11Connection()
    with pytest.raises(LocalProtocolError) as info:
        conn.send(request_)
    assert hidden not in str(info.value)
    assert SECRET not in str(info.value)
    assert conn.data_to_send() == b""
    # Nothing was consumed: the connection still works and starts at 1.
    assert conn.is_idle and conn.stream_id is None
    assert conn.send(make_request()) == 1


def test_header_error_names_the_header() -> None:
    conn = HTTP11Connection()
    with pytest.raises(LocalProtocolError, match=r"'authorization'.*control character"):
        conn.send(make_request(headers=(("authorization", f"Bearer {SECRET}\r\n"),)))
    with pytest.raises(LocalProtocolError, match=r"'x-title'.*outside latin-1"):
        conn.send(make_request(headers=(("x-title", "\u2603"),)))


def test_request_repr_does_not_leak() -> None:
    request = make_request(headers=(("authorization", f"Bearer {SECRET}"),))
    assert SECRET not in repr(request)
    assert "authorization" in repr(request)


@FAST
@given(value=st.text(max_size=30))
def test_header_values_round_trip_or_are_refused(value: str) -> None:
    conn = HTTP11Connection()
    try:
        conn.send(make_request(headers=(("x-value", value),)))
    except LocalProtocolError as exc:
        assert conn.data_to_send() == b""
        assert str(exc) in {
            "header 'x-value' has a value containing a control character",
            "header 'x-value' has a value containing a character outside latin-1",
        }
        assert not all(c == "\t" or " " <= c <= "~" or "\x80" <= c <= "\xff" for c in value)
        return
    request = server_parse(conn.data_to_send())[0]
    assert dict(request.headers)[b"x-value"] == value.strip(" \t").encode("latin-1")


def test_send_refused_while_in_flight_and_after_close() -> None:
    conn = HTTP11Connection()
    sent(conn, make_request())
    with pytest.raises(LocalProtocolError, match="in flight"):
        conn.send(make_request())
    assert conn.data_to_send() == b""
    conn.close()
    assert conn.is_closed and not conn.is_idle
    with pytest.raises(LocalProtocolError):
        conn.send(make_request())


def test_close_drops_unsent_bytes() -> None:
    conn = HTTP11Connection()
    conn.send(make_request())
    conn.close()
    assert conn.data_to_send() == b""
    with pytest.raises(LocalProtocolError, match="closed"):
        conn.send(make_request())


def test_max_response_head_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        HTTP11Connection(max_response_head_size=0)


# -- receiving ------------------------------------------------------------


def respond(status: int, headers: list[tuple[str, str]], body: bytes, *, chunks: int = 1) -> bytes:
    """Response bytes written by h11's server side."""
    server = h11.Connection(h11.SERVER)
    server.receive_data(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
    while server.next_event() is not h11.NEED_DATA:
        pass
    out = server.send(h11.Response(status_code=status, headers=headers)) or b""
    step = max(1, len(body) // chunks)
    for i in range(0, len(body), step):
        out += server.send(h11.Data(data=body[i : i + step])) or b""
    out += server.send(h11.EndOfMessage()) or b""
    return out


def test_keep_alive_reuse_numbers_streams_1_3_5() -> None:
    conn = HTTP11Connection()
    bodies = [b"first", b"second" * 100, b""]
    wires = [
        respond(200, [("content-length", str(len(bodies[0])))], bodies[0]),
        respond(200, [("transfer-encoding", "chunked")], bodies[1], chunks=7),
        respond(204, [], b""),
    ]
    for expected_id, body, wire in zip((1, 3, 5), bodies, wires, strict=True):
        assert conn.is_idle
        assert conn.send(make_request()) == expected_id
        assert conn.stream_id == expected_id
        assert conn.data_to_send().startswith(b"GET ")
        conn.receive_data(wire)
        events = merged(drain(conn))
        assert events[0].stream_id == expected_id
        assert isinstance(events[0], ResponseReceived)
        assert events[0].http_version == "1.1"
        assert all(e.stream_id == expected_id for e in events)
        assert b"".join(e.data for e in events if isinstance(e, DataReceived)) == body
        assert events[-1] == ResponseComplete(expected_id)
        assert conn.is_reusable and conn.is_idle and not conn.is_closed
        assert conn.stream_id is None


def test_response_headers_and_trailers() -> None:
    conn = HTTP11Connection()
    sent(conn, make_request())
    conn.receive_data(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Request-Id: req_1\r\n"
        b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\nX-Checksum: 42\r\n\r\n"
    )
    head, data, done = drain(conn)
    assert head.status_code == 200
    assert head.headers["x-request-id"] == "req_1"
    assert head.headers.get_all("set-cookie") == ["a=1", "b=2"]
    assert data == DataReceived(1, b"abc") and type(data.data) is bytes
    assert done == ResponseComplete(1, Headers([("x-checksum", "42")]))


def test_connection_close_response_is_not_reusable() -> None:
    conn = HTTP11Connection()
    sent(conn, make_request())
    conn.receive_data(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi")
    events = drain(conn)
    assert events[-1] == ResponseComplete(1)
    assert (conn.is_reusable, conn.is_idle, conn.is_closed) == (False, False, False)
    assert conn.stream_id is None
    with pytest.raises(LocalProtocolError, match="keep-alive"):
        conn.send(make_request())
    assert conn.data_to_send() == b""
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"")
    assert conn.next_event() == ConnectionClosed()
    assert conn.is_closed
    assert conn.next_event() == ConnectionClosed()


def test_request_connection_close_is_not_reusable() -> None:
    conn = HTTP11Connection()
    sent(conn, make_request(headers=(("connection", "close"),)))
    conn.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert drain(conn)[-1] == ResponseComplete(1)
    assert not conn.is_reusable


def test_http10_response() -> None:
    conn = HTTP11Connection()
    sent(conn, make_request())
    conn.receive_data(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil")
    head, data = drain(conn)
    assert head.http_version == "1.0" and data.data == b"until"
    conn.receive_data(b" close")
    assert drain(conn) == [DataReceived(1, b" close")]
    conn.receive_data(b"")
    assert drain(conn) == [ResponseComplete(1), ConnectionClosed()]
    assert conn.is_closed and not conn.is_reusable


def test_http10_with_length_is_not_reusable() -> None:
    conn = HTTP11Connection()
    sent(conn, make_request())
    conn.receive_data(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx")
    assert drain(conn)[-1] == ResponseComplete(1)
    assert not conn.is_reusable


def test_informational_responses_are_skipped() -> None:
    conn = HTTP11Connection()
    sent(conn, make_request("POST", headers=(("expect", "100-continue"),), body=b"{}"))
    conn.receive_data(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert conn.next_event() is NEED_DATA
    conn.receive_data(
        b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    )
    head, data, done = drain(conn)
    assert head.status_code == 200 and data.data == b"ok" and done == ResponseComplete(1)
    assert conn.is_reusable


def test_many_informational_responses_do_not_recurse() -> None:
    conn = HTTP11Connection()
    sent(conn, make_request())
    conn.receive_data(b"HTTP/1.1 100 Continue\r\n\r\n" * 3000)
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"HTTP/1.1 100 Continue\r\n\r\n" * 3000 + b"HTTP/1.1 200 OK\r\n")
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"Content-Length: 0\r\n\r\n")
    assert [type(e) for e in drain(conn)] == [ResponseReceived, ResponseComplete]


def test_informational_then_body_in_one_read() -> None:
    # After a 1xx the final head and a body chunk may sit in one buffer.
    conn = HTTP11Connection()
    sent(conn, make_request())
    conn.receive_data(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
    assert [type(e) for e in drain(conn)] == [ResponseReceived, DataReceived, ResponseComplete]


def test_garbage_after_an_informational_response() -> None:
    conn = HTTP11Connection()
    sent(conn, make_request())
    conn.receive_data(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 20 OK\r\n\r\n")
    with pytest.raises(RemoteProtocolError, match="illegal status line") as info:
        conn.next_event()
    assert isinstance(info.value.__cause__, h11.RemoteProtocolError)
    assert conn.is_closed


def test_switching_protocols_is_refused() -> None:
    conn = HTTP11Connection()
    sent(conn, make_request())
    conn.receive_data(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n")
    with pytest.raises(RemoteProtocolError):
        conn.next_event()
    assert conn.is_closed


def test_head_response_has_no_body() -> None:
    conn = HTTP11Connection()
    sent(conn, make_request("HEAD"))
    conn.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
    assert [type(e) for e in drain(conn)] == [ResponseReceived, ResponseComplete]
    assert conn.is_reusable


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"", "closed the connection before"),
        (b"HTTP/1.1 200 OK\r\nContent-Le", "closed the connection before"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "received 3 bytes, expected 10"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", "chunked"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab", "chunked"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nx: 1\r\n", "closed"),
    ],
)
def test_eof_inside_a_response_is_an_error(wire: bytes, message: str) -> None:
    for pieces in ([wire], [wire[i : i + 1] for i in range(len(wire))]):
        events, error = run(pieces)
        assert error is not None and message in error
        assert not any(isinstance(e, ResponseComplete) for e in events)


def test_eof_while_idle_is_connection_closed() -> None:
    conn = HTTP11Connection()
    conn.receive_data(b"")
    assert not conn.is_idle
    with pytest.raises(LocalProtocolError):
        conn.send(make_request())
    assert conn.next_event() == ConnectionClosed()
    assert conn.is_closed and not conn.is_reusable

    conn = HTTP11Connection()
    sent(conn, make_request())
    conn.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert drain(conn)[-1] == ResponseComplete(1)
    assert conn.is_idle
    conn.receive_data(b"")
    assert conn.next_event() == ConnectionClosed()
    assert conn.is_closed


def test_data_after_eof_is_caller_misuse() -> None:
    conn = HTTP11Connection()
    sent(conn, make_request())
    conn.receive_data(b"")
    conn.receive_data(b"")
    with pytest.raises(LocalProtocolError):
        conn.receive_data(b"HTTP/1.1")


@pytest.mark.parametrize(
    "wire",
    [
        b"garbage\r\n\r\n",
        b"HTTP/1.1 OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nbad header line\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n: empty-name\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n",
    ],
)
def test_malformed_responses_break_the_connection(wire: bytes) -> None:
    conn = HTTP11Connection()
    sent(conn, make_request())
    conn.receive_data(wire)
    with pytest.raises(RemoteProtocolError) as info:
        drain(conn)
    if wire.startswith(b"HTTP/"):
        assert isinstance(info.value.__cause__, h11.RemoteProtocolError)
    else:
        assert "does not start with 'HTTP/'" in str(info.value)
    assert str(info.value).startswith("invalid HTTP/1.1 response")
    assert conn.is_closed and not conn.is_idle and not conn.is_reusable
    assert conn.stream_id is None
    with pytest.raises(RemoteProtocolError):
        conn.next_event()
    conn.receive_data(b"more")  # ignored: the connection is already dead
    conn.receive_data(b"")
    with pytest.raises(RemoteProtocolError):
        conn.next_event()
    with pytest.raises(LocalProtocolError):
        conn.send(make_request())
    assert conn.data_to_send() == b""


def test_protocol_errors_do_not_quote_received_headers() -> None:
    conn = HTTP11Connection()
    sent(conn, make_request())
    conn.receive_data(f"HTTP/1.1 200 OK\r\nset-cookie {SECRET}\r\n\r\n".encode())
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert SECRET not in str(info.value)
    assert "illegal header line" in str(info.value)


def test_oversized_head() -> None:
    head = b"HTTP/1.1 200 OK\r\nx-big: " + b"a" * 2000 + b"\r\n\r\n"
    conn = HTTP11Connection(max_response_head_size=1024)
    sent(conn, make_request())
    fed = 0
    with pytest.raises(RemoteProtocolError, match="too long"):
        while True:
            conn.receive_data(head[fed : fed + 100])
            fed += 100
            assert conn.next_event() is NEED_DATA
    assert 1024 < fed <= 1124
    # The same head is fine with the default limit.
    events, error = run([head[:500], head[500:]], eof=False)
    assert error is None and events[0].headers["x-big"] == "a" * 2000


def test_bytes_while_idle_are_an_error() -> None:
    conn = HTTP11Connection()
    conn.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert conn.is_closed and not conn.is_idle
    with pytest.raises(RemoteProtocolError, match="no request was in flight"):
        conn.next_event()


@pytest.mark.parametrize("close", [False, True])
def test_bytes_beyond_the_response_are_an_error(close: bool) -> None:
    extra = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    first = b"HTTP/1.1 200 OK\r\n%sContent-Length: 2\r\n\r\nok" % (
        b"Connection: close\r\n" if close else b""
    )
    for pieces in ([first + extra], [first, extra]):
        conn = HTTP11Connection()
        sent(conn, make_request())
        events: list[Any] = []
        with pytest.raises(RemoteProtocolError, match="no request was in flight"):
            for piece in pieces:
                conn.receive_data(piece)
                drain(conn, events)
        assert events[-1] == ResponseComplete(1)
        assert not conn.is_idle
        with pytest.raises(LocalProtocolError):
            conn.send(make_request())


# -- byte-level equivalence and fuzzing ---------------------------------

RESPONSES = [
    ("GET", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
    ("GET", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nx-t: 1\r\n\r\n"),
    ("POST", b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n"
     b"Connection: close\r\nContent-Length: 3\r\n\r\nabc"),
    ("GET", b"HTTP/1.0 200 OK\r\n\r\nbody until close"),
    ("HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"),
    ("GET", b"HTTP/1.1 204 No Content\r\n\r\n"),
    ("GET", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"),
    ("GET", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"),
    ("GET", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX"),
    ("GET", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA"),
    ("GET", b"HTTP/1.1 200 OK\r\nX-A: 1\r\n X-folded\r\nContent-Length: 0\r\n\r\n"),
    ("GET", b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 1\r\n"
     b"content-type: application/json\r\ncontent-length: 12\r\n\r\n{\"error\":{}}"),
    ("GET", b"not http at all"),
    ("GET", b""),
]


@pytest.mark.parametrize(("method", "wire"), RESPONSES)
def test_whole_and_byte_by_byte_agree(method: str, wire: bytes) -> None:
    whole = run([wire], method)
    assert run([wire[i : i + 1] for i in range(len(wire))], method) == whole
    if wire.startswith(b"HTTP/1.1 200") and b"EXTRA" not in wire:
        assert whole[0][0].status_code == 200


@FAST
@given(
    case=st.sampled_from(RESPONSES),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
)
def test_random_splits_agree(case: tuple[str, bytes], cuts: list[int]) -> None:
    method, wire = case
    assert run(split_at(wire, cuts), method) == run([wire], method)


FRAGMENTS = [
    b"HTTP/1.1 200 OK\r\n", b"HTTP/1.0 404 Nope\r\n", b"HTTP/1.1 100 Continue\r\n",
    b"HTTP/1.1 101 Switching\r\n", b"Content-Length: 3\r\n", b"Content-Length: x\r\n",
    b"Transfer-Encoding: chunked\r\n", b"Connection: close\r\n", b"\r\n", b"\n",
    b"3\r\n", b"abc", b"0\r\n", b"ffffffffffffffffff\r\n", b" folded\r\n", b"\x00", b":",
]
HEADS = [
    b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n",
]
wire_bytes = st.one_of(
    st.binary(max_size=200),
    st.lists(st.sampled_from(FRAGMENTS), max_size=16).map(b"".join),
    st.tuples(st.sampled_from(HEADS), st.binary(max_size=100)).map(b"".join),
    st.tuples(
        st.sampled_from(HEADS), st.lists(st.sampled_from(FRAGMENTS), max_size=12)
    ).map(lambda t: t[0] + b"".join(t[1])),
)


@FAST
@given(wire=wire_bytes, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8))
def test_arbitrary_bytes_give_events_or_remote_errors(wire: bytes, cuts: list[int]) -> None:
    whole = run([wire])
    pieces = split_at(wire, cuts)
    assert run(pieces) == whole
    events, _ = whole
    for event in events:
        assert isinstance(event, ResponseReceived | DataReceived | ResponseComplete | ConnectionClosed)


@FAST
@given(wire=wire_bytes)
def test_arbitrary_bytes_without_eof_never_hang(wire: bytes) -> None:
    conn = HTTP11Connection()
    sent(conn, make_request())
    conn.receive_data(wire)
    try:
        drain(conn)
    except RemoteProtocolError:
        assert conn.is_closed


def test_cancel_closes_the_connection_as_http11_cannot_reset_one_request() -> None:
    from openai_sansio import HTTP11Connection, Origin, Request

    conn = HTTP11Connection()
    request = Request("GET", Origin("http", "example.com", 80), "/v1/models", (), b"")
    stream_id = conn.send(request)
    conn.cancel(stream_id + 2)  # not in flight: nothing happens
    assert not conn.is_closed
    conn.cancel(stream_id)
    assert conn.is_closed and conn.stream_id is None and conn.data_to_send() == b""
