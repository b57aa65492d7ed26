"""TLS over loopback with trustme certificates: verified by default, SNI and
ALPN sent, an explicit context accepted, failures reported as connection
errors."""

from __future__ import annotations

import functools
import ssl
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

import pytest
import trio
import trustme

import openai_trio
from openai_sansio import Origin
from openai_trio import Client, TCPConnector, default_ssl_context
from openai_trio.testing import FakeServer

KEY = "sk-test-tls"


@asynccontextmanager
async def tls_server(
    ca: trustme.CA, *names: str
) -> AsyncIterator[tuple[FakeServer, int, list[str | None]]]:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(server_ctx)
    server_ctx.set_alpn_protocols(["h2", "http/1.1"])
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
            # We offer only http/1.1, so that is what the server picks.
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
