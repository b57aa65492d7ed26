"""TLS over loopback with trustme certificates: verified by default, SNI and
ALPN sent, an explicit context accepted, failures reported as connection
errors."""

from __future__ import annotations

import contextlib
import functools
import logging
import socket
import ssl
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, Iterator

import pytest
import trio
import trustme

import openai_trio
from openai_sansio import Origin
from openai_trio import Client, TCPConnector, default_ssl_context
from openai_trio.testing import FakeResponse, FakeServer

KEY = "sk-test-tls"


@asynccontextmanager
async def tls_server(
    ca: trustme.CA, *names: str
) -> AsyncIterator[tuple[FakeServer, int, list[str | None]]]:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(server_ctx)
    # The fake server speaks HTTP/1.1 only, so that is all it agrees to.
    server_ctx.set_alpn_protocols(["http/1.1"])
    sni: list[str | None] = []

    def remember(sock: object, name: str | None, ctx: object) -> None:
        sni.append(name)

    server_ctx.sni_callback = remember
    async with FakeServer() as server, trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(
                trio.serve_ssl_over_tcp, server.serve_stream, 0, server_ctx, host="127.0.0.1"
            )
        )
        port = listeners[0].transport_listener.socket.getsockname()[1]
        yield server, port, sni
        nursery.cancel_scope.cancel()


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


async def test_explicit_context(ca: trustme.CA) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with tls_server(ca, "localhost") as (server, port, sni):
        async with Client(
            api_key=KEY, base_url=f"https://localhost:{port}/v1", ssl_context=context
        ) as client:
            for _ in range(3):
                model = await client.models.retrieve("gpt-4o")
                assert model.id == "gpt-4o"
            assert server.connections_opened == 1
        assert sni == ["localhost"]
        assert server.requests[0].headers["host"] == f"localhost:{port}"


async def test_default_context_uses_ssl_cert_file(
    ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    async with tls_server(ca, "localhost") as (_server, port, sni):
        stream = await TCPConnector()(Origin("https", "localhost", port))
        try:
            assert isinstance(stream, trio.SSLStream)
            # We offer h2 and http/1.1; this server takes only the latter.
            assert stream.selected_alpn_protocol() == "http/1.1"
        finally:
            await stream.aclose()
        async with Client(api_key=KEY, base_url=f"https://localhost:{port}/v1") as client:
            assert (await client.models.retrieve("gpt-4o")).id == "gpt-4o"
        assert sni[-1] == "localhost"


async def test_untrusted_certificate_is_refused(
    ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = trustme.CA()
    bundle = tmp_path / "other.pem"
    other.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    async with tls_server(ca, "localhost") as (server, port, _sni):
        async with Client(
            api_key=KEY, base_url=f"https://localhost:{port}/v1", max_retries=0
        ) as client:
            with pytest.raises(openai_trio.APIConnectionError) as info:
                await client.models.list()
            assert not isinstance(info.value, openai_trio.APITimeoutError)
            assert info.value.__cause__ is not None
            assert client.pool_stats() == openai_trio.PoolStats()
        assert server.requests == []


async def test_hostname_mismatch_is_refused(ca: trustme.CA) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with tls_server(ca, "other.example") as (server, port, _sni):
        async with Client(
            api_key=KEY, base_url=f"https://localhost:{port}/v1", ssl_context=context, max_retries=0
        ) as client:
            with pytest.raises(openai_trio.APIConnectionError):
                await client.models.list()
        assert server.requests == []


def test_default_context_verifies() -> None:
    context = default_ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True


def test_connector_rejects_non_context() -> None:
    with pytest.raises(TypeError):
        TCPConnector("no")  # type: ignore[arg-type]


async def test_idle_tls_connection_closed_by_peer_is_detected(
    ca: trustme.CA, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="openai_trio")
    context = ssl.create_default_context()
    ca.configure_trust(context)
    body = b'{"id": "m", "object": "model", "created": 0, "owned_by": "me"}'
    async with tls_server(ca, "localhost") as (server, port, _sni), Client(
        api_key=KEY, base_url=f"https://localhost:{port}/v1", ssl_context=context, max_retries=0
    ) as client:
        # Two requests first: the idle check must not mistake TLS 1.3
        # session tickets for a closed connection.
        await client.models.retrieve("gpt-4o")
        await client.models.retrieve("gpt-4o")
        assert server.connections_opened == 1
        server.enqueue(
            FakeResponse.raw(
                [b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)], close=True
            )
        )
        await client.models.retrieve("m")
        with trio.fail_after(5):
            while server.active_connections:  # noqa: ASYNC110 - no event to wait on
                await trio.sleep(0.001)
        # The server counts the connection gone just before it closes it.
        await trio.sleep(0.05)
        assert (await client.models.retrieve("gpt-4o")).id == "gpt-4o"
        assert server.connections_opened == 2
        # Found dead while idle: nothing was written to it.
        assert not any("sending again" in r.getMessage() for r in caplog.records)
        assert [r.connection for r in server.requests] == [1, 1, 1, 2]


class RefusingContext(ssl.SSLContext):
    """A context whose TLS objects cannot be created for any host name."""

    def wrap_bio(self, *args: object, **kwargs: object) -> ssl.SSLObject:
        raise ValueError("label empty or too long")


async def test_tls_setup_failure_closes_the_socket_and_is_a_connection_error() -> None:
    async with FakeServer() as server:
        await server.serve_tcp()
        assert server.port is not None
        connector = TCPConnector(RefusingContext(ssl.PROTOCOL_TLS_CLIENT))
        with pytest.raises(OSError) as info:
            await connector(Origin("https", "127.0.0.1", server.port))
        assert isinstance(info.value.__cause__, ValueError)
        async with Client(
            api_key=KEY,
            base_url=f"https://127.0.0.1:{server.port}/v1",
            connector=connector,
            max_retries=0,
        ) as client:
            with pytest.raises(openai_trio.APIConnectionError) as api_info:
                await client.models.list()
            assert isinstance(api_info.value.__cause__, OSError)
            assert client.pool_stats() == openai_trio.PoolStats()
        # Both sockets were closed by the connector itself.
        with trio.fail_after(2):
            while server.active_connections:  # noqa: ASYNC110 - no event to wait on
                await trio.sleep(0.001)
        assert server.connections_opened == 2
        assert server.requests == []


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A loopback port whose accept queue is full, so a new connect waits
    (the SYN is dropped) instead of failing."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.05)
    yield port
    for filler in fillers:
        filler.close()
    listener.close()


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_cancelled_while_connecting_is_a_bare_cancelled(unanswered_port: int, scheme: str) -> None:
    seen: list[BaseException] = []
    with trio.move_on_after(0.15) as scope:
        try:
            await TCPConnector()(Origin(scheme, "127.0.0.1", unanswered_port))
        except BaseException as exc:
            seen.append(exc)
            raise
    assert scope.cancelled_caught
    assert [type(exc) for exc in seen] == [trio.Cancelled]
    # And through the client, whose connect limit is far away.
    async with Client(api_key=KEY, base_url=f"{scheme}://127.0.0.1:{unanswered_port}/v1") as client:
        seen.clear()
        with trio.move_on_after(0.15) as scope:
            try:
                await client.models.list()
            except BaseException as exc:
                seen.append(exc)
                raise
        assert scope.cancelled_caught
        assert [type(exc) for exc in seen] == [trio.Cancelled]
        assert client.pool_stats() == openai_trio.PoolStats()


async def test_connect_timeout_on_a_silent_port(unanswered_port: int) -> None:
    async with Client(
        api_key=KEY, base_url=f"http://127.0.0.1:{unanswered_port}/v1", max_retries=0
    ) as client:
        with pytest.raises(openai_trio.APITimeoutError) as info:
            await client.models.list(timeout=openai_trio.Timeout(connect=0.15))
        assert info.value.limit == "connect"
        assert client.pool_stats() == openai_trio.PoolStats()


async def test_tcp_connections_keep_alive_without_nagle() -> None:
    import socket as stdlib_socket

    from openai_trio._tls import KEEPALIVE_IDLE

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    try:
        stream = await TCPConnector()(Origin("http", "127.0.0.1", port))
        assert isinstance(stream, trio.SocketStream)
        sock = stream.socket
        assert sock.getsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(stdlib_socket.IPPROTO_TCP, stdlib_socket.TCP_NODELAY) == 1
        if hasattr(stdlib_socket, "TCP_KEEPIDLE"):
            assert sock.getsockopt(stdlib_socket.IPPROTO_TCP, stdlib_socket.TCP_KEEPIDLE) == KEEPALIVE_IDLE
            assert KEEPALIVE_IDLE <= 60
        await stream.aclose()
    finally:
        for listener in listeners:
            await listener.aclose()
