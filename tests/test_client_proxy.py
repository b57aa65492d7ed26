"""The trio client through HTTP proxies, over loopback: a tiny proxy written
here (trio + h11) records the exact bytes it receives, tunnels CONNECT to a
TLS fake server and answers forwarded plain-HTTP requests itself."""

from __future__ import annotations

import base64
import functools
import logging
import socket
import ssl
import struct
from contextlib import asynccontextmanager
from typing import AsyncIterator

import h11
import pytest
import trio
import trustme

import openai_trio
from openai_sansio import Origin, ProxyError
from openai_trio import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AzureClient,
    Client,
    LocalProtocolError,
    ProxyConnector,
    TCPConnector,
    Timeout,
)
from openai_trio.testing import FakeServer

KEY = "sk-test-proxy"
PASSWORD = "pr0xy-S3CRET-pw"
AUTH = b"Basic " + base64.b64encode(f"alice:{PASSWORD}".encode())
ORIGIN_NAME = "api.example.test"
MODEL = b'{"id": "gpt-4o", "object": "model", "created": 1, "owned_by": "tiny-proxy"}'
# A fatal TLS alert (handshake_failure), as a TLS server would send it.
TLS_ALERT = b"\x15\x03\x03\x00\x02\x02\x28"
PROXY_NAMES = [n for base in ("https_proxy", "http_proxy", "all_proxy", "no_proxy") for n in (base, base.upper())]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [*PROXY_NAMES, "REQUEST_METHOD"]:
        monkeypatch.delenv(name, raising=False)


class TinyProxy:
    """An HTTP proxy for one test.

    ``raw`` holds, per connection, every byte received before a tunnel
    opened.  A CONNECT is tunnelled to 127.0.0.1 at the requested port
    whatever the host (so origins can have names nothing resolves); a
    forwarded request is answered here with a model object.  ``status``
    replaces the answers (407, say); ``silent`` answers nothing;
    ``after_200`` is sent right behind a CONNECT's 200, ``later`` once the
    client speaks in the tunnel; ``dribble`` sends the 200 a byte at a time.
    """

    def __init__(
        self,
        *,
        status: int = 200,
        silent: bool = False,
        after_200: bytes = b"",
        later: bytes = b"",
        dribble: bool = False,
    ) -> None:
        self.status = status
        self.dribble = dribble
        self.silent = silent
        self.after_200 = after_200
        self.later = later
        self.raw: list[bytearray] = []
        self.eofs = 0
        # Set when a client first closes its connection.
        self.closed = trio.Event()
        self.port = 0

    async def handle(self, stream: trio.abc.Stream) -> None:
        try:
            await self._handle(stream)
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
            pass
        finally:
            await trio.aclose_forcefully(stream)

    async def _handle(self, stream: trio.abc.Stream) -> None:
        raw = bytearray()
        self.raw.append(raw)
        conn = h11.Connection(h11.SERVER)
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(65536)
                if not data:
                    self._eof()
                    return
                raw += data
                conn.receive_data(bytes(data))
                continue
            if isinstance(event, h11.ConnectionClosed):  # pragma: no cover - EOF returns above
                return
            if not isinstance(event, h11.Request):
                if isinstance(event, h11.EndOfMessage) and conn.our_state is h11.DONE:
                    conn.start_next_cycle()
                continue
            if self.silent:
                while await stream.receive_some(65536):
                    pass
                self._eof()
                return
            if event.method == b"CONNECT":
                if self.status != 200:
                    await self._answer(stream, conn, self.status, b"")
                    continue
                answer = conn.send(h11.Response(status_code=200, headers=[("via", "1.1 tiny")])) + self.after_200
                if self.dribble:
                    # One byte per write: the client must put the answer together.
                    for i in range(len(answer)):
                        await stream.send_all(answer[i : i + 1])
                        await trio.sleep(0.001)
                else:
                    await stream.send_all(answer)
                port = int(event.target.rsplit(b":", 1)[1])
                await self._relay(stream, port, bytes(conn.trailing_data[0]))
                return
            body = MODEL if self.status == 200 else b'{"error": {"message": "proxy says no"}}'
            await self._answer(stream, conn, self.status, body)

    def _eof(self) -> None:
        self.eofs += 1
        self.closed.set()

    async def _answer(self, stream: trio.abc.Stream, conn: h11.Connection, status: int, body: bytes) -> None:
        headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
        if status == 407:
            headers.append(("proxy-authenticate", 'Basic realm="tiny"'))
        data = conn.send(h11.Response(status_code=status, headers=headers))
        data += conn.send(h11.Data(data=body)) or b""
        data += conn.send(h11.EndOfMessage()) or b""
        await stream.send_all(data)

    async def _relay(self, client: trio.abc.Stream, port: int, first: bytes) -> None:
        if self.later:
            # Hold the rest of the answer until the client speaks.
            await client.receive_some(65536)
            await client.send_all(self.later)
            while await client.receive_some(65536):
                pass
            return
        upstream = await trio.open_tcp_stream("127.0.0.1", port)
        async with upstream, trio.open_nursery() as nursery:
            if first:  # pragma: no cover - the client waits for the answer
                await upstream.send_all(first)

            async def pipe(src: trio.abc.Stream, dst: trio.abc.Stream) -> None:
                try:
                    while data := await src.receive_some(65536):
                        await dst.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass
                nursery.cancel_scope.cancel()

            nursery.start_soon(pipe, client, upstream)
            nursery.start_soon(pipe, upstream, client)

    def url(self, *, credentials: bool = True, scheme: str = "http") -> str:
        userinfo = f"alice:{PASSWORD}@" if credentials else ""
        return f"{scheme}://{userinfo}127.0.0.1:{self.port}"


@asynccontextmanager
async def tiny_proxy(tls: ssl.SSLContext | None = None, **behaviour: object) -> AsyncIterator[TinyProxy]:
    proxy = TinyProxy(**behaviour)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        if tls is None:
            listeners = await nursery.start(functools.partial(trio.serve_tcp, proxy.handle, 0, host="127.0.0.1"))
            proxy.port = listeners[0].socket.getsockname()[1]
        else:
            listeners = await nursery.start(
                functools.partial(trio.serve_ssl_over_tcp, proxy.handle, 0, tls, host="127.0.0.1")
            )
            proxy.port = listeners[0].transport_listener.socket.getsockname()[1]
        yield proxy
        nursery.cancel_scope.cancel()


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def client_context(ca: trustme.CA, alpn: list[str] | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    if alpn is not None:
        context.set_alpn_protocols(alpn)
    return context


def server_context(ca: trustme.CA, name: str, alpn: list[str] | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(context)
    if alpn is not None:
        context.set_alpn_protocols(alpn)
    return context


@asynccontextmanager
async def tls_origin(ca: trustme.CA) -> AsyncIterator[tuple[FakeServer, int, list[str | None]]]:
    """A TLS fake server on 127.0.0.1 whose certificate names ORIGIN_NAME."""
    context = server_context(ca, ORIGIN_NAME)
    sni: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: sni.append(name)
    async with FakeServer() as server, trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_ssl_over_tcp, server.serve_stream, 0, context, host="127.0.0.1")
        )
        yield server, listeners[0].transport_listener.socket.getsockname()[1], sni
        nursery.cancel_scope.cancel()


def connect_head(port: int, auth: bool = True) -> bytes:
    authority = f"{ORIGIN_NAME}:{port}".encode()
    line = b"proxy-authorization: " + AUTH + b"\r\n" if auth else b""
    return b"CONNECT " + authority + b" HTTP/1.1\r\nhost: " + authority + b"\r\n" + line + b"\r\n"


def closed_port() -> int:
    # Bound and closed at once: nothing listens there for this test.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def causes(exc: BaseException | None) -> str:
    """The reprs down the ``__cause__`` chain."""
    parts = []
    while exc is not None:
        parts.append(repr(exc))
        exc = exc.__cause__
    return " <- ".join(parts)


# -- CONNECT for https origins --------------------------------------------


async def test_https_origin_tunnels_through_explicit_proxy(ca: trustme.CA) -> None:
    async with tls_origin(ca) as (server, port, sni), tiny_proxy() as proxy:
        async with Client(
            api_key=KEY, base_url=f"https://{ORIGIN_NAME}:{port}/v1", ssl_context=client_context(ca),
            proxy=proxy.url(),
        ) as client:
            model = await client.models.retrieve("gpt-4o")
            assert model.id == "gpt-4o"
            await client.models.retrieve("gpt-4o")
            # Two at once need a second connection, hence a second CONNECT.
            async with trio.open_nursery() as nursery:
                for _ in range(2):
                    nursery.start_soon(client.models.retrieve, "gpt-4o")
        assert [bytes(raw) for raw in proxy.raw] == [connect_head(port)] * 2
        # TLS to the origin ran inside the tunnel, by the origin's name.
        assert sni == [ORIGIN_NAME] * 2
        assert len(server.requests) == 4
        assert server.requests[0].headers["host"] == f"{ORIGIN_NAME}:{port}"
        assert "proxy-authorization" not in server.requests[0].headers


async def test_connect_answer_in_pieces(ca: trustme.CA) -> None:
    async with tls_origin(ca) as (server, port, _sni), tiny_proxy(dribble=True) as proxy:
        async with Client(
            api_key=KEY, base_url=f"https://{ORIGIN_NAME}:{port}/v1", ssl_context=client_context(ca),
            proxy=proxy.url(),
        ) as client:
            await client.models.retrieve("gpt-4o")
        assert len(server.requests) == 1


async def test_https_proxy_from_the_environment(ca: trustme.CA, monkeypatch: pytest.MonkeyPatch) -> None:
    async with tls_origin(ca) as (server, port, _sni), tiny_proxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", f"127.0.0.1:{proxy.port}")
        monkeypatch.setenv("NO_PROXY", "localhost,.internal")
        client = Client(api_key=KEY, base_url=f"https://{ORIGIN_NAME}:{port}/v1", ssl_context=client_context(ca))
        # Read once, when the client was built.
        monkeypatch.delenv("HTTPS_PROXY")
        async with client:
            await client.models.retrieve("gpt-4o")
        assert [bytes(raw) for raw in proxy.raw] == [connect_head(port, auth=False)]
        assert len(server.requests) == 1


async def test_trailing_bytes_after_connect_go_to_tls(ca: trustme.CA) -> None:
    # The proxy sends half a TLS alert with its 200 and the rest once the
    # ClientHello arrives: TLS must see both parts, in order.
    async with tiny_proxy(after_200=TLS_ALERT[:3], later=TLS_ALERT[3:]) as proxy, Client(
        api_key=KEY, base_url=f"https://{ORIGIN_NAME}:443/v1", ssl_context=client_context(ca),
        proxy=proxy.url(), max_retries=0,
    ) as client:
        with trio.fail_after(5), pytest.raises(APIConnectionError) as info:
            await client.models.retrieve("gpt-4o")
    assert "alert handshake failure" in causes(info.value).lower()
    assert PASSWORD not in str(info.value)


# -- forwarding for http origins -------------------------------------------


async def test_http_origin_forwarded_with_absolute_targets() -> None:
    async with (
        tiny_proxy() as proxy,
        Client(api_key=KEY, base_url="http://llm.example.test:8080/v1", proxy=proxy.url()) as client,
    ):
        for _ in range(2):
            model = await client.models.retrieve("gpt-4o")
            assert model.owned_by == "tiny-proxy"
    # One kept-alive connection; every request names its origin in full
    # and carries the proxy's credential.
    assert len(proxy.raw) == 1
    heads = bytes(proxy.raw[0]).split(b"\r\n\r\n")
    assert heads[2:] == [b""]
    for head in heads[:2]:
        assert head.startswith(
            b"GET http://llm.example.test:8080/v1/models/gpt-4o HTTP/1.1\r\n"
            b"host: llm.example.test:8080\r\n"
            b"proxy-authorization: " + AUTH + b"\r\n"
        )
        assert f"authorization: Bearer {KEY}".encode() in head


async def test_http_proxy_variable_and_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    async with FakeServer() as server, tiny_proxy() as proxy:
        await server.serve_tcp()
        monkeypatch.setenv("http_proxy", proxy.url(credentials=False))
        async with Client(api_key=KEY, base_url="http://llm.example.test:8080/v1") as client:
            await client.models.retrieve("gpt-4o")
        assert bytes(proxy.raw[0]).startswith(
            b"GET http://llm.example.test:8080/v1/models/gpt-4o HTTP/1.1\r\nhost: llm.example.test:8080\r\n"
        )
        assert b"proxy-authorization" not in bytes(proxy.raw[0])
        # NO_PROXY lists the server: straight to it.
        monkeypatch.setenv("NO_PROXY", "127.0.0.0/8")
        async with Client(api_key=KEY, base_url=server.base_url) as client:
            await client.models.retrieve("gpt-4o")
        assert len(proxy.raw) == 1
        assert len(server.requests) == 1


async def test_forwarding_proxy_refusal_is_a_status_error() -> None:
    async with tiny_proxy(status=407) as proxy, Client(
        api_key=KEY, base_url="http://llm.example.test/v1", proxy=proxy.url(), max_retries=0
    ) as client:
        with pytest.raises(APIStatusError) as info:
            await client.models.retrieve("gpt-4o")
    assert info.value.status_code == 407
    assert PASSWORD not in str(info.value) and PASSWORD not in repr(info.value)
    assert bytes(proxy.raw[0]).startswith(b"GET http://llm.example.test/v1/models/gpt-4o HTTP/1.1\r\n")


# -- which proxy, from where ---------------------------------------------------


async def test_explicit_proxy_overrides_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("NO_PROXY", "*")
    async with (
        tiny_proxy() as proxy,
        Client(api_key=KEY, base_url="http://llm.example.test/v1", proxy=proxy.url()) as client,
    ):
        await client.models.retrieve("gpt-4o")
    assert len(proxy.raw) == 1


@pytest.mark.parametrize("how", [{"proxy": None}, {"proxy": ""}, {"trust_env": False}])
async def test_direct_when_proxies_are_turned_off(monkeypatch: pytest.MonkeyPatch, how: dict[str, object]) -> None:
    async with FakeServer() as server, tiny_proxy() as proxy:
        await server.serve_tcp()
        monkeypatch.setenv("HTTP_PROXY", proxy.url())
        monkeypatch.setenv("ALL_PROXY", proxy.url())
        async with Client(api_key=KEY, base_url=server.base_url, **how) as client:  # type: ignore[arg-type]
            await client.models.retrieve("gpt-4o")
        assert proxy.raw == []
        assert len(server.requests) == 1


async def test_azure_client_takes_a_proxy() -> None:
    async with tiny_proxy() as proxy, AzureClient(
        azure_endpoint="http://azure.example.test", api_version="2024-10-21", api_key="azure-key",
        proxy=proxy.url(),
    ) as client:
        await client.models.retrieve("gpt-4o")
    assert bytes(proxy.raw[0]).startswith(
        b"GET http://azure.example.test/openai/models/gpt-4o?api-version=2024-10-21 HTTP/1.1\r\n"
        b"host: azure.example.test\r\nproxy-authorization: " + AUTH + b"\r\n"
    )


# -- failures ------------------------------------------------------------------


@pytest.mark.parametrize("env", [None, "ALL_PROXY", "HTTPS_PROXY"])
@pytest.mark.parametrize("scheme", ["socks5", "socks4", "socks5h"])
async def test_socks_fails_at_the_first_request(
    monkeypatch: pytest.MonkeyPatch, env: str | None, scheme: str
) -> None:
    url = f"{scheme}://alice:{PASSWORD}@127.0.0.1:1080"
    if env is not None:
        monkeypatch.setenv(env, url)
    # Building the client is fine: only a request needs the proxy.
    client = Client(
        api_key=KEY, base_url="https://api.example.test/v1", max_retries=0,
        **({"proxy": url} if env is None else {}),  # type: ignore[arg-type]
    )
    async with client:
        with pytest.raises(APIConnectionError) as info:
            await client.models.retrieve("gpt-4o")
    message = str(info.value)
    assert "SOCKS proxies are not supported" in message
    assert f"{scheme}://127.0.0.1:1080" in message
    assert "NO_PROXY" in message and "proxy=None" in message
    assert ("proxy=" if env is None else "the environment") in message
    assert PASSWORD not in message and PASSWORD not in repr(info.value)


async def test_connect_refused_407(ca: trustme.CA, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with tiny_proxy(status=407) as proxy:
        async with Client(
            api_key=KEY, base_url=f"https://{ORIGIN_NAME}/v1", ssl_context=client_context(ca),
            proxy=proxy.url(), max_retries=0,
        ) as client:
            with pytest.raises(ProxyError) as info:
                await client.models.retrieve("gpt-4o")
        with trio.fail_after(5):
            await proxy.closed.wait()
        assert proxy.eofs == 1
    error = info.value
    assert isinstance(error, APIConnectionError)
    assert error.status_code == 407
    assert "407" in str(error)
    assert [bytes(raw) for raw in proxy.raw] == [connect_head(443)]
    assert f"through the proxy http://127.0.0.1:{proxy.port}" in caplog.text
    for text in (str(error), repr(error), caplog.text, repr(client)):
        assert PASSWORD not in text
        assert AUTH.decode() not in text


async def test_proxy_down_is_a_connection_error() -> None:
    port = closed_port()
    async with Client(
        api_key=KEY, base_url="https://api.example.test/v1", proxy=f"http://alice:{PASSWORD}@127.0.0.1:{port}",
        max_retries=0,
    ) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.models.retrieve("gpt-4o")
    assert f"Could not connect to the proxy http://127.0.0.1:{port}" in str(info.value)
    assert PASSWORD not in str(info.value)


async def test_proxy_closing_before_answering() -> None:
    async def hang_up(stream: trio.SocketStream) -> None:
        await stream.receive_some(65536)
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(functools.partial(trio.serve_tcp, hang_up, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        async with Client(
            api_key=KEY, base_url="https://api.example.test/v1", proxy=f"http://127.0.0.1:{port}", max_retries=0
        ) as client:
            with pytest.raises(APIConnectionError, match="closed the connection before answering CONNECT"):
                await client.models.retrieve("gpt-4o")
        nursery.cancel_scope.cancel()


async def test_proxy_reset_during_connect() -> None:
    async def reset(stream: trio.SocketStream) -> None:
        await stream.receive_some(65536)
        # Linger 0: the close sends a reset rather than a FIN.
        stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(functools.partial(trio.serve_tcp, reset, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        async with Client(
            api_key=KEY, base_url="https://api.example.test/v1", proxy=f"http://alice:{PASSWORD}@127.0.0.1:{port}",
            max_retries=0,
        ) as client:
            with pytest.raises(APIConnectionError, match="failed during CONNECT") as info:
                await client.models.retrieve("gpt-4o")
        assert PASSWORD not in str(info.value)
        nursery.cancel_scope.cancel()


async def test_connect_timeout_covers_the_proxy_handshake() -> None:
    async with tiny_proxy(silent=True) as proxy:
        async with Client(
            api_key=KEY, base_url="https://api.example.test/v1", proxy=proxy.url(), max_retries=0,
            timeout=Timeout(None, connect=0.2),
        ) as client:
            with trio.fail_after(5), pytest.raises(APITimeoutError) as info:
                await client.models.retrieve("gpt-4o")
        assert info.value.limit == "connect"
        # The stream to the proxy was closed, not leaked.
        with trio.fail_after(5):
            await proxy.closed.wait()
        assert proxy.eofs == 1


async def test_cancelled_during_connect_closes_the_stream() -> None:
    async with (
        tiny_proxy(silent=True) as proxy,
        Client(api_key=KEY, base_url="https://api.example.test/v1", proxy=proxy.url()) as client,
    ):
        with trio.move_on_after(0.2) as scope:
            await client.models.retrieve("gpt-4o")
        assert scope.cancelled_caught
        with trio.fail_after(5):
            await proxy.closed.wait()
        assert proxy.eofs == 1
        assert client.pool_stats().connecting == 0


async def test_bad_proxy_variable_fails_requests_not_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"http://alice:{PASSWORD}@proxy.corp:notaport")
    async with Client(api_key=KEY, base_url="https://api.example.test/v1") as client:
        with pytest.raises(LocalProtocolError, match="invalid host or port") as info:
            await client.models.retrieve("gpt-4o")
    assert PASSWORD not in str(info.value)


# -- TLS to the proxy itself -------------------------------------------------


async def test_https_proxy_tunnel_and_forwarding(ca: trustme.CA) -> None:
    proxy_tls = server_context(ca, "127.0.0.1")
    async with tls_origin(ca) as (server, port, sni), tiny_proxy(tls=proxy_tls) as proxy:
        url = proxy.url(scheme="https")
        async with Client(
            api_key=KEY, base_url=f"https://{ORIGIN_NAME}:{port}/v1", ssl_context=client_context(ca),
            proxy=url, proxy_ssl_context=client_context(ca),
        ) as client:
            # TLS inside TLS: to the origin, through the proxy's own.
            await client.models.retrieve("gpt-4o")
        async with Client(
            api_key=KEY, base_url="http://llm.example.test/v1", proxy=url, proxy_ssl_context=client_context(ca)
        ) as client:
            await client.models.retrieve("gpt-4o")
    assert bytes(proxy.raw[0]) == connect_head(port)
    assert bytes(proxy.raw[1]).startswith(
        b"GET http://llm.example.test/v1/models/gpt-4o HTTP/1.1\r\nhost: llm.example.test\r\n"
        b"proxy-authorization: " + AUTH + b"\r\n"
    )
    assert sni == [ORIGIN_NAME]
    assert len(server.requests) == 1


async def test_https_proxy_certificate_verified() -> None:
    # The proxy's certificate comes from a CA nobody trusts.
    async with (
        tiny_proxy(tls=server_context(trustme.CA(), "127.0.0.1")) as proxy,
        Client(
            api_key=KEY, base_url="http://llm.example.test/v1", proxy=proxy.url(scheme="https"), max_retries=0
        ) as client,
    ):
        with pytest.raises(APIConnectionError, match=r"TLS to the proxy https://127\.0\.0\.1") as info:
            await client.models.retrieve("gpt-4o")
    assert "CERTIFICATE_VERIFY_FAILED" in causes(info.value)
    assert PASSWORD not in str(info.value)


class RefusingContext(ssl.SSLContext):
    """A context whose TLS objects cannot be created for any host name."""

    def wrap_bio(self, *args: object, **kwargs: object) -> ssl.SSLObject:
        raise ValueError("label empty or too long")


async def test_tls_to_the_proxy_that_cannot_start(ca: trustme.CA) -> None:
    async with tiny_proxy(tls=server_context(ca, "127.0.0.1")) as proxy, Client(
        api_key=KEY, base_url="http://llm.example.test/v1", proxy=proxy.url(scheme="https"),
        proxy_ssl_context=RefusingContext(ssl.PROTOCOL_TLS_CLIENT), max_retries=0,
    ) as client:
        with pytest.raises(APIConnectionError, match="TLS to the proxy") as info:
            await client.models.retrieve("gpt-4o")
    assert "cannot start TLS for host '127.0.0.1'" in causes(info.value)


async def test_https_proxy_choosing_h2_is_refused(ca: trustme.CA) -> None:
    async with tiny_proxy(tls=server_context(ca, "127.0.0.1", alpn=["h2"])) as proxy, Client(
        api_key=KEY, base_url="http://llm.example.test/v1", proxy=proxy.url(scheme="https"),
        proxy_ssl_context=client_context(ca, alpn=["h2", "http/1.1"]), max_retries=0,
    ) as client:
        with pytest.raises(APIConnectionError, match="chose 'h2' in ALPN"):
            await client.models.retrieve("gpt-4o")


# -- construction --------------------------------------------------------------


def test_construction_errors() -> None:
    with pytest.raises(ValueError, match="proxy= is not a usable proxy URL: an invalid host or port") as info:
        Client(api_key=KEY, proxy=f"http://alice:{PASSWORD}@proxy:port")
    assert PASSWORD not in str(info.value)
    with pytest.raises(ValueError, match="scheme 'ftp' is not supported"):
        Client(api_key=KEY, proxy="ftp://proxy:21")
    with pytest.raises(TypeError, match="proxy must be a URL string or None"):
        ProxyConnector(proxy=3128)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"proxy_ssl_context must be an ssl\.SSLContext"):
        Client(api_key=KEY, proxy="http://proxy:3128", proxy_ssl_context="no")  # type: ignore[arg-type]
    connector = TCPConnector()
    with pytest.raises(TypeError, match="pass proxy or connector, not both"):
        Client(api_key=KEY, connector=connector, proxy="http://proxy:3128")
    with pytest.raises(TypeError, match="pass proxy or connector, not both"):
        Client(api_key=KEY, connector=connector, proxy_ssl_context=ssl.create_default_context())


async def test_forwarding_stream_from_the_connector() -> None:
    async with tiny_proxy() as proxy:
        connector = ProxyConnector(proxy=proxy.url())
        stream = await connector(Origin("http", "llm.example.test", 80))
        assert repr(stream) == f"<ForwardingStream via http://127.0.0.1:{proxy.port}>"
        await stream.wait_send_all_might_not_block()
        await stream.aclose()
        with trio.fail_after(5):
            await proxy.closed.wait()


def test_connector_reprs_and_selection() -> None:
    explicit = ProxyConnector(proxy=f"http://alice:{PASSWORD}@proxy.corp:3128")
    assert repr(explicit) == "<ProxyConnector proxy=http://proxy.corp:3128>"
    origin = Origin("https", "api.openai.com", 443)
    chosen = explicit.proxy_for(origin)
    assert chosen is not None and chosen.password == PASSWORD
    assert explicit.proxy_for(origin) is chosen
    env = ProxyConnector(environ={"HTTPS_PROXY": "http://proxy.corp:3128", "NO_PROXY": "openai.com", "HOME": "/"})
    assert repr(env) == "<ProxyConnector proxy=from the environment>"
    assert env.proxy_for(origin) is None
    other = env.proxy_for(Origin("https", "example.com", 443))
    assert other is not None and other.url == chosen.url and other.username is None
    assert repr(ProxyConnector(proxy=None)) == "<ProxyConnector proxy=None>"
    assert ProxyConnector(proxy=" ").proxy_for(origin) is None
    assert "ProxyConnector" in openai_trio.__all__


async def test_proxy_refusals_are_not_retried(autojump_clock: object) -> None:
    # A SOCKS proxy can never be used: the first attempt's error is final,
    # with no backoff sleeps before it (the clock does not move).
    async with openai_trio.Client(
        api_key="sk-test", base_url="https://api.example.com/v1", proxy="socks5://127.0.0.1:1", max_retries=3
    ) as client:
        started = trio.current_time()
        with pytest.raises(ProxyError, match="SOCKS") as info:
            await client.models.list()
        assert trio.current_time() == started
        assert info.value.status_code == 0
