"""Errors that say what happened and what to do, over real loopback sockets:
a certificate the client does not trust, an https:// URL pointing at a
plain-HTTP port, and a client used outside trio."""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import pytest
import trio
import trustme

import openai_trio
from openai_trio import APIConnectionError, Client, TrioRequiredError

KEY = "sk-error-messages-0123456789"
MESSAGES: Any = [{"role": "user", "content": "Hi"}]
LIMIT = 20  # seconds; every test is bounded well below pytest's timeout

MODEL = json.dumps({"id": "m", "object": "model", "created": 0, "owned_by": "me"}).encode()
ANSWER = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(MODEL), MODEL)
)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


@asynccontextmanager
async def _serve(handle: Any) -> AsyncIterator[int]:
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(functools.partial(trio.serve_tcp, handle, 0, host="127.0.0.1"))
        yield listeners[0].socket.getsockname()[1]
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def tls_server(context: ssl.SSLContext, seen: list[object]) -> AsyncIterator[int]:
    """TLS on loopback; records each request head, or that the handshake
    failed, and answers a request with ANSWER."""

    async def handle(stream: trio.SocketStream) -> None:
        tls = trio.SSLStream(stream, context, server_side=True)
        try:
            await tls.do_handshake()
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = await tls.receive_some(65536)
                if not chunk:
                    break
                head += chunk
            seen.append(head)
            await tls.send_all(ANSWER)
        except (trio.BrokenResourceError, OSError):
            seen.append("no handshake")
        finally:
            await trio.aclose_forcefully(stream)

    async with _serve(handle) as port:
        yield port


@asynccontextmanager
async def plain_server(answer: bytes, seen: list[bytes]) -> AsyncIterator[int]:
    """Plain TCP: reads what arrives first (a TLS ClientHello, here) and
    answers ``answer`` as a plain-HTTP server would, then closes."""

    async def handle(stream: trio.SocketStream) -> None:
        try:
            seen.append(bytes(await stream.receive_some(65536)))
            if answer:
                await stream.send_all(answer)
        except (trio.BrokenResourceError, OSError):
            pass
        finally:
            await trio.aclose_forcefully(stream)

    async with _serve(handle) as port:
        yield port


def _client(port: int, **kwargs: Any) -> Client:
    return Client(api_key=KEY, base_url=f"https://127.0.0.1:{port}/v1", max_retries=0, **kwargs)


def _causes(exc: BaseException) -> list[BaseException]:
    chain = []
    seen: BaseException | None = exc.__cause__
    while seen is not None:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    return chain


# -- certificates -------------------------------------------------------------


async def test_an_untrusted_certificate_says_so_and_what_to_do(ca: trustme.CA) -> None:
    seen: list[object] = []
    with trio.fail_after(LIMIT):
        async with tls_server(_server_context(ca, "127.0.0.1"), seen) as port, _client(port) as client:
            with pytest.raises(APIConnectionError) as info:
                await client.models.retrieve("m")
    message = str(info.value)
    verify = next(e for e in _causes(info.value) if isinstance(e, ssl.SSLCertVerificationError))
    assert f"Could not connect to https://127.0.0.1:{port}: the TLS certificate of 127.0.0.1 could not be verified" in message
    assert f"({verify.verify_message})" in message
    assert "ssl_context=ssl.create_default_context(cafile=...)" in message
    assert "SSL_CERT_FILE" in message
    assert "BrokenResourceError" not in message and KEY not in message
    # The original stays reachable for code that wants the details.
    assert isinstance(info.value.__cause__, trio.BrokenResourceError)
    assert seen == ["no handshake"]


async def test_a_certificate_for_another_name_points_at_the_url(ca: trustme.CA) -> None:
    seen: list[object] = []
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    with trio.fail_after(LIMIT):
        async with (
            tls_server(_server_context(ca, "api.example.com"), seen) as port,
            _client(port, ssl_context=trusting) as client,
        ):
            with pytest.raises(APIConnectionError, match=r"certificate of 127\.0\.0\.1 could not be verified") as info:
                await client.models.retrieve("m")
    assert "mismatch" in str(info.value)
    assert "Check the host name in the URL" in str(info.value)
    assert "SSL_CERT_FILE" not in str(info.value)


async def test_the_advice_works_ssl_context(ca: trustme.CA) -> None:
    seen: list[object] = []
    with trio.fail_after(LIMIT):
        async with tls_server(_server_context(ca, "127.0.0.1"), seen) as port:
            with ca.cert_pem.tempfile() as ca_file:
                async with _client(port, ssl_context=ssl.create_default_context(cafile=ca_file)) as client:
                    assert (await client.models.retrieve("m")).id == "m"
    assert len(seen) == 1 and isinstance(seen[0], bytes) and seen[0].startswith(b"GET /v1/models/m ")


async def test_the_advice_works_ssl_cert_file(ca: trustme.CA, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []
    with trio.fail_after(LIMIT):
        async with tls_server(_server_context(ca, "127.0.0.1"), seen) as port:
            with ca.cert_pem.tempfile() as ca_file:
                monkeypatch.setenv("SSL_CERT_FILE", ca_file)
                async with _client(port) as client:
                    assert (await client.models.retrieve("m")).id == "m"


async def test_an_untrusted_proxy_certificate_names_proxy_ssl_context(ca: trustme.CA) -> None:
    seen: list[object] = []
    with trio.fail_after(LIMIT):
        async with tls_server(_server_context(ca, "127.0.0.1"), seen) as port:
            proxy = f"https://127.0.0.1:{port}"
            async with Client(
                api_key=KEY, base_url="https://api.example.com/v1", proxy=proxy, max_retries=0
            ) as client:
                with pytest.raises(APIConnectionError) as info:
                    await client.models.retrieve("m")
    message = str(info.value)
    assert message.startswith(f"TLS to the proxy {proxy} failed: the TLS certificate of 127.0.0.1 could not be verified")
    assert "proxy_ssl_context=" in message
    assert seen == ["no handshake"]


# -- https:// to a plain port -------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 400 Bad Request\r\ncontent-length: 11\r\nconnection: close\r\n\r\nBad Request",
        b"HTTP/1.0 200 OK\r\n\r\nhello",
    ],
)
async def test_https_to_a_plain_http_port_asks_about_http(answer: bytes) -> None:
    seen: list[bytes] = []
    with trio.fail_after(LIMIT):
        async with plain_server(answer, seen) as port, _client(port) as client:
            with pytest.raises(APIConnectionError) as info:
                await client.models.retrieve("m")
    assert str(info.value) == (
        f"Could not connect to https://127.0.0.1:{port}: the server at 127.0.0.1:{port} did not speak TLS "
        "(ssl: WRONG_VERSION_NUMBER); is the URL meant to be http://?"
    )
    assert any(isinstance(e, ssl.SSLError) for e in _causes(info.value))
    # What reached the server was a TLS ClientHello (a handshake record),
    # never an HTTP request.
    assert len(seen) == 1 and seen[0][:1] == b"\x16"


async def test_https_to_a_port_that_hangs_up_mentions_tls() -> None:
    seen: list[bytes] = []
    with trio.fail_after(LIMIT):
        async with plain_server(b"", seen) as port, _client(port) as client:
            with pytest.raises(APIConnectionError) as info:
                await client.models.retrieve("m")
    message = str(info.value)
    assert f"the server at 127.0.0.1:{port} closed the connection during the TLS handshake" in message
    assert "is the URL meant to be http://?" in message


# -- outside trio ---------------------------------------------------------------


def _check_outside(exc: BaseException, where: str) -> None:
    assert isinstance(exc, TrioRequiredError) and isinstance(exc, RuntimeError)
    message = str(exc)
    assert f"openai_trio needs to run under trio, but a GET /models call was awaited {where}" in message
    assert "trio.run(main)" in message
    assert "examples/asyncio_chat.py" in message and "examples/blocking_chat.py" in message


@pytest.mark.timeout(LIMIT)
def test_asyncio_run_of_a_call_says_trio_is_needed() -> None:
    import socket

    # A listener the client would reach if it got that far: nothing may connect.
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        port = listener.getsockname()[1]
        client = Client(api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)

        async def chat() -> object:
            return await client.chat.completions.create(model="m", messages=MESSAGES)

        async def models() -> object:
            return await client.models.list()

        async def pages() -> None:
            async for _ in client.models.list():
                pass

        with pytest.raises(TrioRequiredError, match="a POST /chat/completions call was awaited under asyncio"):
            asyncio.run(chat())
        for run in (models, pages):
            with pytest.raises(TrioRequiredError) as info:
                asyncio.run(run())
            _check_outside(info.value, "under asyncio")
        with pytest.raises(BlockingIOError):
            listener.accept()

        async def leave() -> None:
            async with client:
                pass

        with pytest.raises(TrioRequiredError, match=r"Client\.aclose\(\) was awaited under asyncio"):
            asyncio.run(leave())


@pytest.mark.timeout(LIMIT)
def test_a_coroutine_driven_by_hand_says_trio_is_needed() -> None:
    client = Client(api_key=KEY, base_url="http://127.0.0.1:9/v1")

    async def models() -> object:
        return await client.models.list()

    coroutine = models()
    with pytest.raises(TrioRequiredError) as info:
        coroutine.send(None)
    _check_outside(info.value, "outside trio.run")
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert KEY not in str(info.value)


def test_the_error_is_exported() -> None:
    assert openai_trio.TrioRequiredError is TrioRequiredError
    assert "TrioRequiredError" in openai_trio.__all__
