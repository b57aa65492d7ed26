"""Streamed request bodies on HTTP11Connection: Content-Length and chunked
framing, the checks on the declared length, and responses fed whole, one
byte at a time and at hypothesis split points."""

from __future__ import annotations

from typing import Iterator

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_sansio import (
    NEED_DATA,
    DataReceived,
    Event,
    HTTP11Connection,
    LocalProtocolError,
    Origin,
    Request,
    ResponseComplete,
    ResponseReceived,
    Sentinel,
    StreamedBody,
)

ORIGIN = Origin("https", "api.example.com", 443)
RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n"
    b'{"id":"f1"}'
)


def streamed(pieces: list[bytes], length: int | None) -> StreamedBody:
    def parts() -> Iterator[bytes]:
        return iter(pieces)

    return StreamedBody(parts=parts, length=length)


def request(body: bytes | StreamedBody, *headers: tuple[str, str], method: str = "POST") -> Request:
    return Request(method, ORIGIN, "/v1/files", (("content-type", "multipart/form-data; boundary=x"), *headers), body)


def send_all(conn: HTTP11Connection, req: Request) -> bytes:
    """Head, every piece and the end, as a runtime would write them."""
    conn.send(req)
    out = conn.data_to_send()
    body = req.body
    assert isinstance(body, StreamedBody)
    for piece in body.parts():
        assert isinstance(piece, bytes)
        conn.send_body(piece)
        out += conn.data_to_send()
    conn.end_body()
    return out + conn.data_to_send()


def server_reads(wire: bytes) -> tuple[h11.Request, bytes]:
    server = h11.Connection(h11.SERVER)
    server.receive_data(wire)
    head = server.next_event()
    assert isinstance(head, h11.Request)
    body = b""
    while True:
        event = server.next_event()
        if isinstance(event, h11.Data):
            body += event.data
        else:
            assert isinstance(event, h11.EndOfMessage), event
            return head, body


def events(conn: HTTP11Connection, chunks: list[bytes]) -> list[Event]:
    out: list[Event] = []
    for chunk in chunks:
        conn.receive_data(chunk)
        while True:
            event = conn.next_event()
            if isinstance(event, Sentinel):
                assert event is NEED_DATA
                break
            out.append(event)
    return out


def body_of(evs: list[Event]) -> bytes:
    return b"".join(e.data for e in evs if isinstance(e, DataReceived))


def test_known_length_is_sent_with_content_length() -> None:
    conn = HTTP11Connection()
    pieces = [b"--x\r\n", b"a" * 1000, b"\r\n--x--\r\n"]
    wire = send_all(conn, request(streamed(pieces, sum(map(len, pieces)))))
    head, body = server_reads(wire)
    headers = dict(head.headers)
    assert headers[b"content-length"] == b"1014"
    assert b"transfer-encoding" not in headers
    assert headers[b"host"] == b"api.example.com"
    assert body == b"".join(pieces)
    # Content-Length framing adds nothing around the pieces.
    assert wire.endswith(b"\r\n\r\n" + b"".join(pieces))


def test_send_queues_only_the_head_for_a_streamed_body() -> None:
    conn = HTTP11Connection()
    conn.send(request(streamed([b"abc"], 3)))
    head = conn.data_to_send()
    assert head.endswith(b"\r\n\r\n") and b"abc" not in head
    assert conn.body_open
    conn.send_body(b"abc")
    assert conn.data_to_send() == b"abc"
    conn.end_body()
    assert conn.data_to_send() == b""
    assert not conn.body_open


def test_unknown_length_is_chunked() -> None:
    conn = HTTP11Connection()
    pieces = [b"hello ", b"", b"world"]
    wire = send_all(conn, request(streamed(pieces, None)))
    head, body = server_reads(wire)
    headers = dict(head.headers)
    assert headers[b"transfer-encoding"] == b"chunked"
    assert b"content-length" not in headers
    assert body == b"hello world"
    # The empty piece did not end the body early: one last chunk only.
    assert wire.endswith(b"6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n")


def test_empty_piece_queues_nothing() -> None:
    conn = HTTP11Connection()
    conn.send(request(streamed([], None)))
    conn.data_to_send()
    conn.send_body(b"")
    assert conn.data_to_send() == b""
    conn.end_body()
    assert conn.data_to_send() == b"0\r\n\r\n"


def test_a_get_with_a_streamed_body_still_announces_it() -> None:
    conn = HTTP11Connection()
    wire = send_all(conn, request(streamed([b"x"], 1), method="GET"))
    assert b"content-length: 1\r\n" in wire


def test_too_much_data_breaks_the_connection() -> None:
    conn = HTTP11Connection()
    conn.send(request(streamed([], 3)))
    conn.send_body(b"ab")
    with pytest.raises(LocalProtocolError, match="longer than its Content-Length"):
        conn.send_body(b"cd")
    assert conn.is_closed and not conn.is_idle and not conn.body_open
    assert conn.data_to_send() == b""
    with pytest.raises(LocalProtocolError, match="no streamed request body"):
        conn.send_body(b"x")


def test_too_little_data_breaks_the_connection() -> None:
    conn = HTTP11Connection()
    conn.send(request(streamed([], 3)))
    conn.send_body(b"ab")
    with pytest.raises(LocalProtocolError, match="shorter than its Content-Length"):
        conn.end_body()
    assert conn.is_closed and not conn.body_open


def test_body_verbs_need_an_open_body() -> None:
    conn = HTTP11Connection()
    for verb in (lambda: conn.send_body(b"x"), conn.end_body):
        with pytest.raises(LocalProtocolError, match="no streamed request body"):
            verb()
    # A bytes body is sent whole: there is nothing to add to it.
    conn.send(request(b"abc"))
    assert not conn.body_open
    with pytest.raises(LocalProtocolError, match="no streamed request body"):
        conn.send_body(b"x")
    # And after end_body the body is closed again.
    conn2 = HTTP11Connection()
    conn2.send(request(streamed([], 0)))
    conn2.end_body()
    with pytest.raises(LocalProtocolError, match="no streamed request body"):
        conn2.end_body()


def test_body_verbs_refused_once_closed() -> None:
    conn = HTTP11Connection()
    conn.send(request(streamed([], 3)))
    conn.close()
    with pytest.raises(LocalProtocolError, match="closed"):
        conn.send_body(b"abc")


def test_caller_content_length_must_match_the_streamed_length() -> None:
    conn = HTTP11Connection()
    wire = send_all(conn, request(streamed([b"abc"], 3), ("content-length", "3")))
    assert wire.count(b"content-length") == 1
    with pytest.raises(LocalProtocolError, match="does not match"):
        HTTP11Connection().send(request(streamed([b"abc"], 3), ("content-length", "4")))
    # A chunked body has no length a header could match.
    with pytest.raises(LocalProtocolError, match="does not match"):
        HTTP11Connection().send(request(streamed([b"abc"], None), ("content-length", "3")))
    with pytest.raises(LocalProtocolError, match="transfer-encoding"):
        HTTP11Connection().send(request(streamed([b"abc"], None), ("transfer-encoding", "chunked")))


def test_no_second_request_while_the_body_is_open() -> None:
    conn = HTTP11Connection()
    conn.send(request(streamed([], 1)))
    with pytest.raises(LocalProtocolError, match="already in flight"):
        conn.send(request(b""))


def test_request_repr_for_streamed_bodies() -> None:
    assert "body=StreamedBody(<3 bytes>, replayable=True)" in repr(request(streamed([], 3)))
    assert "body=StreamedBody(<unknown length>, replayable=False)" in repr(
        request(StreamedBody(parts=lambda: iter(()), length=None, replayable=False))
    )
    assert "body=<3 bytes>" in repr(request(b"abc"))


def test_raw_bytes_body_with_a_chosen_content_type() -> None:
    conn = HTTP11Connection()
    sdp = b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\n"
    conn.send(Request("POST", ORIGIN, "/v1/realtime/calls", (("content-type", "application/sdp"),), sdp))
    head, body = server_reads(conn.data_to_send())
    assert dict(head.headers)[b"content-type"] == b"application/sdp"
    assert body == sdp


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, prev = [], 0
    for p in points:
        out.append(data[prev:p])
        prev = p
    out.append(data[prev:])
    return [c for c in out if c]


def check_exchange(response_chunks: list[bytes], *, chunked: bool) -> None:
    conn = HTTP11Connection()
    pieces = [b"part one;", b"part two"]
    req = request(streamed(pieces, None if chunked else 17))
    send_all(conn, req)
    evs = events(conn, response_chunks)
    assert isinstance(evs[0], ResponseReceived) and evs[0].status_code == 200
    assert isinstance(evs[-1], ResponseComplete)
    assert body_of(evs) == b'{"id":"f1"}'
    # Keep-alive intact: the connection takes the next request.
    assert conn.is_idle
    wire = send_all(conn, req)
    assert server_reads(wire)[1] == b"part one;part two"
    assert conn.stream_id == 3


@pytest.mark.parametrize("chunked", [False, True])
def test_response_fed_whole(chunked: bool) -> None:
    check_exchange([RESPONSE], chunked=chunked)


@pytest.mark.parametrize("chunked", [False, True])
def test_response_fed_one_byte_at_a_time(chunked: bool) -> None:
    check_exchange([RESPONSE[i : i + 1] for i in range(len(RESPONSE))], chunked=chunked)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0), max_size=8), st.booleans())
def test_response_fed_at_any_split(cuts: list[int], chunked: bool) -> None:
    check_exchange(split_at(RESPONSE, cuts), chunked=chunked)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=50), max_size=8), st.booleans())
def test_any_pieces_arrive_intact(pieces: list[bytes], chunked: bool) -> None:
    conn = HTTP11Connection()
    wire = send_all(conn, request(streamed(pieces, None if chunked else sum(map(len, pieces)))))
    assert server_reads(wire)[1] == b"".join(pieces)


def test_a_response_that_completes_before_the_body_ends() -> None:
    # A server may answer (a 413, say) before it has read the whole body.
    conn = HTTP11Connection()
    conn.send(request(streamed([], 6)))
    conn.send_body(b"abc")
    early = b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 2\r\n\r\nno"
    evs = events(conn, [early])
    assert isinstance(evs[0], ResponseReceived) and evs[0].status_code == 413
    assert isinstance(evs[-1], ResponseComplete)
    # Not reusable until the request is finished too.
    assert not conn.is_idle and conn.body_open
    conn.send_body(b"def")
    conn.end_body()
    assert conn.is_idle
    conn.data_to_send()
    assert conn.send(request(b"x")) == 3
