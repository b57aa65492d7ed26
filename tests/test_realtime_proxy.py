# The server events are wide unions; the tests know which one they read.
# mypy: disable-error-code="union-attr"
"""WebSockets through an HTTP proxy: ``client.realtime.connect()`` and
``client.responses.connect()`` reach the server through a CONNECT tunnel
of proxy.py (the peer tools/peers.sh and the test extra provide), for
``ws://`` (no TLS in the tunnel) and ``wss://`` (TLS to the origin inside
it), with the proxy from ``proxy=`` or from the environment, with Basic
credentials from the URL's userinfo that reach the proxy only and appear
in no repr, error or log line.  The servers are the fake server over
loopback TCP and TLS, and the independent ``websockets`` peer."""

from __future__ import annotations

import logging
import socket
import ssl
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import pytest
import trio
import trustme
from peers.proxy_peer import ProxyPeer
from peers.realtime_peer import RealtimePeer

import openai_trio
from openai_sansio import ProxyError
from openai_trio import APIConnectionError
from openai_trio.testing import FakeServer, ReceivedRequest

KEY = "sk-rt-proxy-SECRET-6d1e"
MODEL = "gpt-realtime"
DEADLINE = 20.0
PROXY_NAMES = [
    *(name for base in ("https_proxy", "http_proxy", "all_proxy", "no_proxy") for name in (base, base.upper())),
    "REQUEST_METHOD",
]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_NAMES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def closed_port() -> int:
    # Bound and closed at once: nothing listens there.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def fake_server(ca: trustme.CA, transport: str) -> AsyncIterator[tuple[FakeServer, dict[str, Any]]]:
    """The fake server on loopback TCP (TLS for ``wss``), and the client
    settings that reach it."""
    async with FakeServer(api_key=KEY) as server:
        settings: dict[str, Any] = {"api_key": KEY, "max_retries": 0, "timeout": 10}
        if transport == "wss":
            server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
            client_ctx = ssl.create_default_context()
            ca.configure_trust(client_ctx)
            await server.serve_tcp(ssl_context=server_ctx)
            settings["ssl_context"] = client_ctx
        else:
            await server.serve_tcp()
        settings["base_url"] = server.base_url
        yield server, settings


def upgrades(server: FakeServer) -> list[ReceivedRequest]:
    return [r for r in server.requests if (r.headers.get("upgrade") or "").lower() == "websocket"]


def connect_line(port: int) -> str:
    return f"CONNECT 127.0.0.1:{port} "


async def wait_for_tunnels(proxy: ProxyPeer, port: int, count: int) -> None:
    # proxy.py logs a tunnel once both of its sides have closed.
    with trio.fail_after(5):
        while len([line for line in proxy.access_lines() if connect_line(port) in line]) < count:  # noqa: ASYNC110 (a poll of another process's log)
            await trio.sleep(0.02)


async def session(client: openai_trio.Client) -> None:
    """A short Realtime session and one Responses WebSocket response."""
    async with client.realtime.connect(model=MODEL) as conn:
        assert (await conn.recv()).type == "session.created"
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await conn.response.create()
        async for event in conn:
            if event.type == "response.done":
                assert event.response.status == "completed"
                break
        assert "SECRET" not in repr(conn) + conn.url
    async with client.responses.connect() as ws:
        kinds = [event.type async for event in await ws.create(model="gpt-4o-mini", input="Hi")]
        assert kinds[-1] == "response.completed"


# -- through proxy.py ----------------------------------------------------------------


@pytest.mark.parametrize("transport", ["ws", "wss"])
async def test_through_a_proxy_given_to_the_client(ca: trustme.CA, proxy_peer: ProxyPeer, transport: str) -> None:
    with trio.fail_after(DEADLINE):
        async with fake_server(ca, transport) as (server, settings):
            before = len([line for line in proxy_peer.access_lines() if connect_line(server.port or 0) in line])
            async with openai_trio.Client(proxy=proxy_peer.url, **settings) as client:
                await session(client)
            # Both WebSockets went through a tunnel of their own: the ws://
            # one too, which a forwarding proxy would not have upgraded.
            await wait_for_tunnels(proxy_peer, server.port or 0, before + 2)
            assert [r.path for r in upgrades(server)] == ["/v1/realtime", "/v1/responses"]
            assert server.websocket.connections == 2


@pytest.mark.parametrize("transport", ["ws", "wss"])
async def test_through_the_environments_proxy(
    ca: trustme.CA, proxy_peer: ProxyPeer, transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ws:// is an http origin (HTTP_PROXY), wss:// an https one (HTTPS_PROXY).
    monkeypatch.setenv("HTTPS_PROXY" if transport == "wss" else "HTTP_PROXY", proxy_peer.url)
    with trio.fail_after(DEADLINE):
        async with fake_server(ca, transport) as (server, settings):
            before = len([line for line in proxy_peer.access_lines() if connect_line(server.port or 0) in line])
            async with openai_trio.Client(**settings) as client:
                await session(client)
            await wait_for_tunnels(proxy_peer, server.port or 0, before + 2)


@pytest.mark.parametrize("transport", ["ws", "wss"])
async def test_trust_env_false_and_no_proxy_connect_directly(
    ca: trustme.CA, transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy nothing listens on: using it would fail.
    dead = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("HTTPS_PROXY", dead)
    monkeypatch.setenv("HTTP_PROXY", dead)
    with trio.fail_after(DEADLINE):
        async with fake_server(ca, transport) as (_server, settings):
            async with openai_trio.Client(**settings) as client:
                with pytest.raises(APIConnectionError, match="proxy"):
                    async with client.realtime.connect(model=MODEL):
                        raise AssertionError("the dead proxy should have failed the connection")
            async with openai_trio.Client(trust_env=False, **settings) as client:
                await session(client)
            async with openai_trio.Client(proxy=None, **settings) as client:
                await session(client)
            monkeypatch.setenv("NO_PROXY", "127.0.0.1")
            async with openai_trio.Client(**settings) as client:
                await session(client)


@pytest.mark.parametrize("transport", ["ws", "wss"])
@pytest.mark.parametrize("source", ["argument", "environment"])
async def test_proxy_credentials_go_to_the_proxy_only(
    ca: trustme.CA,
    auth_proxy_peer: ProxyPeer,
    transport: str,
    source: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    password = auth_proxy_peer.password
    assert password
    kwargs: dict[str, Any] = {}
    if source == "argument":
        kwargs["proxy"] = auth_proxy_peer.url_with_credentials
    else:
        monkeypatch.setenv("HTTPS_PROXY" if transport == "wss" else "HTTP_PROXY", auth_proxy_peer.url_with_credentials)
    seen: list[str] = []
    with trio.fail_after(DEADLINE):
        async with fake_server(ca, transport) as (server, settings):
            async with openai_trio.Client(**kwargs, **settings) as client:
                seen.append(repr(client))
                async with client.realtime.connect(model=MODEL) as conn:
                    assert (await conn.recv()).type == "session.created"
                    seen += [repr(conn), conn.url]
            (request,) = upgrades(server)
            # Proxy-Authorization is for the proxy: never sent through the tunnel.
            assert "proxy-authorization" not in request.headers
            assert request.headers["authorization"] == f"Bearer {KEY}"

            wrong = auth_proxy_peer.url_with_credentials.replace(password, "wrong-SECRET-pw")
            async with openai_trio.Client(proxy=wrong, **settings) as client:
                seen.append(repr(client))
                with pytest.raises(ProxyError) as info:
                    async with client.realtime.connect(model=MODEL):
                        raise AssertionError("the proxy should have refused")
            assert info.value.status_code == 407
            seen += [str(info.value), repr(info.value)]
            assert len(upgrades(server)) == 1
    seen += [record.getMessage() for record in caplog.records]
    assert any("through the proxy" in line for line in seen)
    for text in seen:
        assert password not in text and "SECRET" not in text, text


# -- the websockets peer through proxy.py -------------------------------------------


@pytest.mark.parametrize("transport", ["ws", "wss"])
async def test_the_websockets_peer_through_a_proxy(
    realtime_peer: RealtimePeer, proxy_peer: ProxyPeer, transport: str
) -> None:
    port = realtime_peer.wss_port if transport == "wss" else realtime_peer.ws_port
    base_url = realtime_peer.wss_base_url if transport == "wss" else realtime_peer.ws_base_url
    before = len([line for line in proxy_peer.access_lines() if connect_line(port) in line])
    with trio.fail_after(DEADLINE):
        async with openai_trio.Client(
            api_key=KEY,
            base_url=base_url,
            proxy=proxy_peer.url,
            ssl_context=realtime_peer.certs.client_context(),
            max_retries=0,
        ) as client, client.realtime.connect(model=MODEL) as conn:
            assert (await conn.recv()).type == "session.created"
            await conn.send({"type": "response.create", "response": {"metadata": {"deltas": "50"}}})
            deltas = []
            async for event in conn:
                if event.type == "response.output_text.delta":
                    deltas.append(event.delta)
                elif event.type == "response.done":
                    break
            assert deltas == [f"w{i} " for i in range(50)]
        await wait_for_tunnels(proxy_peer, port, before + 1)
