"""HTTP11Connection(forward_proxy=...): plain-HTTP requests for a forwarding
proxy, in absolute form with the proxy's credential, byte for byte."""

from __future__ import annotations

import base64
import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_sansio import (
    NEED_DATA,
    LocalProtocolError,
    Origin,
    Proxy,
    Request,
    ResponseComplete,
    ResponseReceived,
    StreamedBody,
)
from openai_sansio._http11 import HTTP11Connection

ORIGIN = Origin("http", "llm.internal", 8080)
PASSWORD = "pr0xy-S3CRET"
PROXY = Proxy("http", "proxy.corp", 3128, "alice", PASSWORD)
ANON = Proxy("http", "proxy.corp", 3128)
AUTH = b"Basic " + base64.b64encode(f"alice:{PASSWORD}".encode())
RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


def request(
    method: str = "GET",
    target: str = "/v1/models",
    headers: tuple[tuple[str, str], ...] = (),
    body: bytes = b"",
    origin: Origin = ORIGIN,
) -> Request:
    return Request(method, origin, target, headers, body)


def wire(conn: HTTP11Connection, req: Request) -> bytes:
    conn.send(req)
    return conn.data_to_send()


def events(conn: HTTP11Connection) -> list[Any]:
    out: list[Any] = []
    while (event := conn.next_event()) is not NEED_DATA:
        out.append(event)
    return out


def test_absolute_form_with_credentials() -> None:
    conn = HTTP11Connection(forward_proxy=PROXY)
    assert wire(conn, request(target="/v1/files?limit=2&after=x")) == (
        b"GET http://llm.internal:8080/v1/files?limit=2&after=x HTTP/1.1\r\n"
        b"host: llm.internal:8080\r\n"
        b"proxy-authorization: " + AUTH + b"\r\n"
        b"\r\n"
    )


def test_without_credentials_no_proxy_authorization() -> None:
    conn = HTTP11Connection(forward_proxy=ANON)
    assert wire(conn, request(headers=(("accept", "application/json"),))) == (
        b"GET http://llm.internal:8080/v1/models HTTP/1.1\r\n"
        b"host: llm.internal:8080\r\n"
        b"accept: application/json\r\n"
        b"\r\n"
    )


def test_default_port_and_ipv6_authority() -> None:
    conn = HTTP11Connection(forward_proxy=ANON)
    assert wire(conn, request(origin=Origin("http", "example.com", 80))).startswith(
        b"GET http://example.com/v1/models HTTP/1.1\r\nhost: example.com\r\n"
    )
    conn = HTTP11Connection(forward_proxy=ANON)
    assert wire(conn, request(origin=Origin("http", "::1", 8000))).startswith(
        b"GET http://[::1]:8000/v1/models HTTP/1.1\r\nhost: [::1]:8000\r\n"
    )


def test_post_body_and_host_header_from_the_request() -> None:
    conn = HTTP11Connection(forward_proxy=PROXY)
    data = wire(
        conn,
        request("POST", "/v1/chat/completions", (("host", "alias.example"), ("content-type", "application/json")),
                b'{"a":1}'),
    )
    # The request line names where the request goes; Host is the caller's.
    assert data == (
        b"POST http://llm.internal:8080/v1/chat/completions HTTP/1.1\r\n"
        b"host: alias.example\r\n"
        b"proxy-authorization: " + AUTH + b"\r\n"
        b"content-type: application/json\r\n"
        b"content-length: 7\r\n"
        b"\r\n"
        b'{"a":1}'
    )


def test_streamed_body_is_chunked_through_the_proxy() -> None:
    conn = HTTP11Connection(forward_proxy=PROXY)
    conn.send(Request("POST", ORIGIN, "/v1/uploads", (), StreamedBody(lambda: iter([b"abc"]), None)))
    conn.send_body(b"abc")
    conn.end_body()
    assert conn.data_to_send() == (
        b"POST http://llm.internal:8080/v1/uploads HTTP/1.1\r\n"
        b"host: llm.internal:8080\r\n"
        b"proxy-authorization: " + AUTH + b"\r\n"
        b"transfer-encoding: chunked\r\n"
        b"\r\n"
        b"3\r\nabc\r\n0\r\n\r\n"
    )


def test_the_request_s_own_proxy_authorization_wins() -> None:
    conn = HTTP11Connection(forward_proxy=PROXY)
    data = wire(conn, request(headers=(("Proxy-Authorization", "Bearer other"),)))
    assert data.count(b"proxy-authorization") == 1
    assert b"proxy-authorization: Bearer other\r\n" in data
    assert AUTH not in data


def test_https_origin_refused_without_queueing() -> None:
    conn = HTTP11Connection(forward_proxy=PROXY)
    with pytest.raises(LocalProtocolError, match="CONNECT tunnel") as info:
        conn.send(request(origin=Origin("https", "api.openai.com", 443)))
    assert PASSWORD not in str(info.value)
    assert conn.data_to_send() == b""
    assert conn.is_idle
    # The refusal left the connection usable for a plain-HTTP request.
    assert wire(conn, request()).startswith(b"GET http://llm.internal:8080/v1/models ")


def test_bad_forward_proxy_arguments() -> None:
    with pytest.raises(TypeError, match="must be a Proxy"):
        HTTP11Connection(forward_proxy="http://proxy:3128")  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="socks5 proxies do not forward"):
        HTTP11Connection(forward_proxy=Proxy("socks5", "proxy", 1080))


def test_without_forward_proxy_target_stays_origin_form() -> None:
    conn = HTTP11Connection()
    assert wire(conn, request()) == b"GET /v1/models HTTP/1.1\r\nhost: llm.internal:8080\r\n\r\n"


def run_keepalive(chunks: list[bytes]) -> None:
    """Two requests in a row, each answered by ``RESPONSE`` fed in
    ``chunks``: every request line is absolute and carries the credential."""
    conn = HTTP11Connection(forward_proxy=PROXY)
    for path in ("/v1/models", "/v1/files"):
        data = wire(conn, request(target=path))
        assert data.startswith(f"GET http://llm.internal:8080{path} HTTP/1.1\r\n".encode())
        assert b"proxy-authorization: " + AUTH + b"\r\n" in data
        seen: list[Any] = []
        for chunk in chunks:
            conn.receive_data(chunk)
            seen.extend(events(conn))
        assert isinstance(seen[0], ResponseReceived) and seen[0].status_code == 200
        assert b"".join(e.data for e in seen[1:-1]) == b"{}"
        assert isinstance(seen[-1], ResponseComplete)
        assert conn.is_reusable


def test_keepalive_fed_whole() -> None:
    run_keepalive([RESPONSE])


def test_keepalive_fed_byte_by_byte() -> None:
    run_keepalive([RESPONSE[i : i + 1] for i in range(len(RESPONSE))])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(RESPONSE) - 1), unique=True, max_size=8))
def test_keepalive_random_splits(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(RESPONSE)]
    run_keepalive([RESPONSE[a:b] for a, b in itertools.pairwise(points)])
