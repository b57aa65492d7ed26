"""The core's proxy pieces against a real proxy (proxy.py): a
``TunnelConnection`` over a trio TCP stream, HTTP/1.1 through the tunnel to
the fake server, Basic credentials, and ``select_proxy`` deciding the route.

The trio client does not use proxies yet, so these tests drive the sans-IO
objects themselves, as a runtime would.
"""

from __future__ import annotations

import json
import traceback
from typing import Any

import pytest
import trio
from peers._process import free_port
from peers.fixtures import PROXY_USERNAME, Upstream
from peers.proxy_peer import ProxyPeer

from openai_sansio import (
    NEED_DATA,
    DataReceived,
    HTTP11Connection,
    Origin,
    Proxy,
    ProxyError,
    Request,
    ResponseComplete,
    ResponseReceived,
    TunnelConnection,
    TunnelEstablished,
    select_proxy,
)

_READ = 65536


async def _open_tunnel(proxy: Proxy, target: Origin) -> tuple[trio.SocketStream, TunnelEstablished]:
    """A stream to ``target`` through ``proxy``: the CONNECT exchange, with
    the bytes the proxy sent past its answer."""
    stream = await trio.open_tcp_stream(proxy.host, proxy.port)
    try:
        tunnel = TunnelConnection(target, proxy)
        tunnel.send()
        await stream.send_all(tunnel.data_to_send())
        while (event := tunnel.next_event()) is NEED_DATA:
            tunnel.receive_data(await stream.receive_some(_READ))
        assert isinstance(event, TunnelEstablished)
        return stream, event
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise


async def _exchange(
    stream: trio.abc.Stream,
    conn: HTTP11Connection,
    request: Request,
    *,
    trailing: bytes = b"",
) -> tuple[int, Any]:
    """One request and its whole response over ``conn``: status, JSON body."""
    conn.send(request)
    await stream.send_all(conn.data_to_send())
    if trailing:
        conn.receive_data(trailing)
    status = 0
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            conn.receive_data(bytes(await stream.receive_some(_READ)))
        elif isinstance(event, ResponseReceived):
            status = event.status_code
        elif isinstance(event, DataReceived):
            body += event.data
        elif isinstance(event, ResponseComplete):
            return status, json.loads(body)
        else:
            raise AssertionError(f"unexpected event {event!r}")


def _origin(upstream: Upstream) -> Origin:
    return Origin("http", upstream.host, upstream.port)


def _request(origin: Origin, method: str, target: str, body: Any = None) -> Request:
    headers: list[tuple[str, str]] = [("authorization", "Bearer sk-test")]
    data = b""
    if body is not None:
        data = json.dumps(body).encode()
        headers.append(("content-type", "application/json"))
    return Request(method=method, origin=origin, target=target, headers=tuple(headers), body=data)


def _proxy(peer: ProxyPeer, *, password: str | None = None, username: str | None = None) -> Proxy:
    return Proxy("http", peer.host, peer.port, username, password)


def _connect_line(origin: Origin) -> str:
    # proxy.py's access line for a tunnel: "CONNECT host:port - N bytes".
    return f"CONNECT {origin.host}:{origin.port} "


async def test_http11_through_a_connect_tunnel(proxy_peer: ProxyPeer, peer_upstream: Upstream) -> None:
    origin = _origin(peer_upstream)
    before = len(proxy_peer.wait_for_access(_connect_line(origin), count=0))
    stream, established = await _open_tunnel(_proxy(proxy_peer), origin)
    async with stream:
        assert established.status_code == 200
        conn = HTTP11Connection()
        status, models = await _exchange(
            stream, conn, _request(origin, "GET", "/v1/models"), trailing=established.trailing
        )
        assert status == 200
        assert "gpt-4o-mini" in [model["id"] for model in models["data"]]
        # The tunnel carries more than one request: keep-alive goes through.
        status, completion = await _exchange(
            stream,
            conn,
            _request(
                origin, "POST", "/v1/chat/completions",
                {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]},
            ),
        )  # fmt: skip
        assert status == 200
        assert completion["object"] == "chat.completion"
    # The proxy logs a tunnel when it closes: it did carry this one.
    proxy_peer.wait_for_access(_connect_line(origin), count=before + 1)


async def test_tunnel_to_a_closed_port_is_a_proxy_error(proxy_peer: ProxyPeer) -> None:
    closed = Origin("http", "127.0.0.1", free_port())
    with pytest.raises(ProxyError) as caught:
        await _open_tunnel(_proxy(proxy_peer), closed)
    assert caught.value.status_code == 502


def _every_text(exc: BaseException) -> str:
    """Everything an exception can show: its message, repr, and the
    formatted traceback with its chain."""
    return "\n".join([str(exc), repr(exc), *traceback.format_exception(exc)])


@pytest.mark.parametrize(
    "credentials",
    [None, (PROXY_USERNAME, "not-the-password"), ("someone-else", "RIGHT")],
    ids=["none", "wrong-password", "wrong-user"],
)
async def test_proxy_wants_credentials(
    auth_proxy_peer: ProxyPeer, peer_upstream: Upstream, credentials: tuple[str, str] | None
) -> None:
    right = auth_proxy_peer.password
    assert right is not None
    if credentials is None:
        proxy = _proxy(auth_proxy_peer)
    else:
        user, password = credentials
        proxy = _proxy(auth_proxy_peer, username=user, password=right if password == "RIGHT" else password)
    with pytest.raises(ProxyError) as caught:
        await _open_tunnel(proxy, _origin(peer_upstream))
    assert caught.value.status_code == 407
    text = _every_text(caught.value)
    assert right not in text
    assert "not-the-password" not in text
    assert "407" in text


async def test_proxy_with_the_right_credentials(auth_proxy_peer: ProxyPeer, peer_upstream: Upstream) -> None:
    origin = _origin(peer_upstream)
    proxy = _proxy(auth_proxy_peer, username=PROXY_USERNAME, password=auth_proxy_peer.password)
    assert auth_proxy_peer.password is not None
    assert auth_proxy_peer.password not in repr(proxy)
    stream, established = await _open_tunnel(proxy, origin)
    async with stream:
        status, models = await _exchange(
            stream, HTTP11Connection(), _request(origin, "GET", "/v1/models"), trailing=established.trailing
        )
    assert status == 200
    assert models["object"] == "list"


async def test_a_refused_tunnel_with_credentials_does_not_show_them(auth_proxy_peer: ProxyPeer) -> None:
    password = auth_proxy_peer.password
    assert password is not None
    proxy = _proxy(auth_proxy_peer, username=PROXY_USERNAME, password=password)
    with pytest.raises(ProxyError) as caught:
        await _open_tunnel(proxy, Origin("http", "127.0.0.1", free_port()))
    assert caught.value.status_code == 502
    assert password not in _every_text(caught.value)


async def _fetch(origin: Origin, environ: dict[str, str]) -> bool:
    """GET /v1/models by the route ``select_proxy`` picks; whether it
    picked the proxy."""
    proxy = select_proxy(origin, environ)
    trailing = b""
    if proxy is None:
        stream = await trio.open_tcp_stream(origin.host, origin.port)
    else:
        stream, established = await _open_tunnel(proxy, origin)
        trailing = established.trailing
    async with stream:
        status, _ = await _exchange(
            stream, HTTP11Connection(), _request(origin, "GET", "/v1/models"), trailing=trailing
        )
    assert status == 200
    return proxy is not None


@pytest.mark.parametrize(
    ("no_proxy", "proxied"),
    [
        ("", True),
        ("127.0.0.1", False),
        ("127.0.0.0/8", False),
        ("*", False),
        ("example.com, .internal", True),
        ("127.0.0.1:{port}", False),
        ("127.0.0.1:{other}", True),
        ("10.0.0.0/8,localhost", True),
    ],
)
async def test_select_proxy_decides_the_route(
    proxy_peer: ProxyPeer, peer_upstream: Upstream, no_proxy: str, proxied: bool
) -> None:
    origin = _origin(peer_upstream)
    environ = {
        "http_proxy": proxy_peer.url,
        "NO_PROXY": no_proxy.format(port=origin.port, other=origin.port + 1),
    }
    line = _connect_line(origin)
    before = len(proxy_peer.wait_for_access(line, count=0))
    assert await _fetch(origin, environ) is proxied
    if proxied:
        proxy_peer.wait_for_access(line, count=before + 1)
        return
    # Nothing to wait for when the proxy was bypassed, so tunnel once to a
    # port nobody listens on and wait for that line: proxy.py logs
    # connections as they end, so a tunnel of ours would be logged by then.
    sentinel = Origin("http", "127.0.0.1", free_port())
    with pytest.raises(ProxyError):
        await _open_tunnel(_proxy(proxy_peer), sentinel)
    proxy_peer.wait_for_access(_connect_line(sentinel))
    assert len(proxy_peer.wait_for_access(line, count=0)) == before
