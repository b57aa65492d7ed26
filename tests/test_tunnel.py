"""TunnelConnection: CONNECT through a proxy, fed whole, byte by byte and split."""

from __future__ import annotations

import itertools

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_sansio import (
    NEED_DATA,
    LocalProtocolError,
    Origin,
    Proxy,
    ProxyError,
    RemoteProtocolError,
    TunnelConnection,
    TunnelEstablished,
)

TARGET = Origin("https", "api.openai.com", 443)
PROXY = Proxy("http", "proxy.corp", 3128, "alice", "s3cret")


def feed(tunnel: TunnelConnection, pieces: list[bytes]) -> TunnelEstablished:
    for piece in pieces:
        tunnel.receive_data(piece)
        event = tunnel.next_event()
        if event is not NEED_DATA:
            assert isinstance(event, TunnelEstablished)
            return event
    raise AssertionError("no answer")


def split(data: bytes, points: list[int]) -> list[bytes]:
    cuts = sorted({p % (len(data) + 1) for p in points})
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def test_request_bytes_and_credentials() -> None:
    tunnel = TunnelConnection(TARGET, PROXY)
    assert "s3cret" not in repr(tunnel) and "alice" not in repr(tunnel)
    tunnel.send()
    sent = tunnel.data_to_send()
    # A server-side h11 reads it as a CONNECT with the authority as target.
    server = h11.Connection(h11.SERVER)
    server.receive_data(sent)
    request = server.next_event()
    assert isinstance(request, h11.Request)
    assert request.method == b"CONNECT" and request.target == b"api.openai.com:443"
    headers = dict(request.headers)
    assert headers[b"host"] == b"api.openai.com:443"
    assert headers[b"proxy-authorization"] == b"Basic YWxpY2U6czNjcmV0"
    assert tunnel.data_to_send() == b""


def test_ipv6_target_and_no_credentials() -> None:
    tunnel = TunnelConnection(Origin("https", "::1", 8443), Proxy("http", "p", 80))
    tunnel.send()
    sent = tunnel.data_to_send()
    assert sent.startswith(b"CONNECT [::1]:8443 HTTP/1.1\r\n")
    assert b"proxy-authorization" not in sent.lower()


ANSWER = b"HTTP/1.1 200 Connection established\r\n\r\n"
TRAILING = b"\x16\x03\x03\x00\x2a server hello bytes"


@pytest.mark.parametrize("mode", ["whole", "bytewise"])
def test_established_with_trailing_bytes(mode: str) -> None:
    data = ANSWER + TRAILING
    pieces = [data] if mode == "whole" else [data[i : i + 1] for i in range(len(data))]
    tunnel = TunnelConnection(TARGET, PROXY)
    tunnel.send()
    event = feed(tunnel, pieces)
    assert event.status_code == 200
    # Byte by byte, the answer completes before the trailing bytes arrive.
    assert event.trailing == (TRAILING if mode == "whole" else b"")
    assert "server hello" not in repr(event)
    with pytest.raises(LocalProtocolError):
        tunnel.receive_data(b"more")
    with pytest.raises(LocalProtocolError):
        tunnel.next_event()


@settings(max_examples=200, deadline=None)
@given(points=st.lists(st.integers(min_value=0), max_size=10))
def test_any_split_gives_the_same_tunnel(points: list[int]) -> None:
    data = b"HTTP/1.1 100 Continue\r\n\r\n" + ANSWER + TRAILING
    tunnel = TunnelConnection(TARGET, PROXY)
    tunnel.send()
    received = b""
    event: object = NEED_DATA
    pieces = split(data, points)
    for i, piece in enumerate(pieces):
        tunnel.receive_data(piece)
        event = tunnel.next_event()
        if event is not NEED_DATA:
            received = b"".join(pieces[i + 1 :])
            break
    assert isinstance(event, TunnelEstablished)
    assert event.trailing + received == TRAILING


def test_refusal_is_a_typed_error_without_the_credential() -> None:
    tunnel = TunnelConnection(TARGET, PROXY)
    tunnel.send()
    tunnel.receive_data(b"HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 0\r\n\r\n")
    with pytest.raises(ProxyError) as info:
        tunnel.next_event()
    assert info.value.status_code == 407
    assert "407" in str(info.value) and "s3cret" not in str(info.value)


@pytest.mark.parametrize("data", [b"SSH-2.0-OpenSSH\r\n\r\n", b"HTTP/1.1 2000 OK\r\n\r\n"])
def test_garbage_is_a_remote_protocol_error(data: bytes) -> None:
    tunnel = TunnelConnection(TARGET, PROXY)
    tunnel.send()
    tunnel.receive_data(data)
    with pytest.raises(RemoteProtocolError):
        tunnel.next_event()


def test_eof_before_the_answer() -> None:
    tunnel = TunnelConnection(TARGET, PROXY)
    tunnel.send()
    tunnel.receive_data(b"HTTP/1.1 200")
    assert tunnel.next_event() is NEED_DATA
    tunnel.receive_data(b"")
    with pytest.raises(RemoteProtocolError):
        tunnel.next_event()


def test_oversized_head_is_refused() -> None:
    tunnel = TunnelConnection(TARGET, PROXY, max_head_size=1024)
    tunnel.send()
    tunnel.receive_data(b"HTTP/1.1 200 OK\r\nx-pad: " + b"a" * 4096)
    with pytest.raises(RemoteProtocolError):
        tunnel.next_event()


def test_misuse() -> None:
    tunnel = TunnelConnection(TARGET, PROXY)
    with pytest.raises(LocalProtocolError, match="send"):
        tunnel.next_event()
    tunnel.send()
    with pytest.raises(LocalProtocolError, match="already sent"):
        tunnel.send()
    with pytest.raises(LocalProtocolError, match="socks5"):
        TunnelConnection(TARGET, Proxy("socks5", "s", 1080))
    with pytest.raises(LocalProtocolError):
        TunnelConnection("api.openai.com", PROXY)  # type: ignore[arg-type]
    bad = TunnelConnection(Origin("https", "bad host\r\n", 443), PROXY)
    with pytest.raises(LocalProtocolError) as info:
        bad.send()
    assert "s3cret" not in str(info.value)
