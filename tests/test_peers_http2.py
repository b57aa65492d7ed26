"""The trio client over HTTP/2 through independent peers: nginx (TLS with
ALPN, and h2c) in front of the fake server, and hypercorn."""

from __future__ import annotations

import collections
import functools
import hashlib
import math
import random
import re
import tracemalloc
from typing import Any, AsyncContextManager, Iterator, Mapping

import attrs
import pytest
import trio
from peers.asgi_app import REPLY_WORDS
from peers.certs import PeerCerts
from peers.fixtures import StartHypercorn, StartNginx, Upstream
from peers.hypercorn_peer import HypercornPeer
from peers.nginx_peer import NginxPeer
from peers.proxy_peer import ProxyPeer

import openai_trio
from openai_sansio import OPERATIONS, PreparedOperation, RequestOptions, StreamResetError
from openai_trio.testing import (
    FAKE_REPLY,
    FakeResponse,
    FakeServer,
    ReceivedRequest,
    run_fake_server_in_thread,
)

MESSAGES: list[Any] = [{"role": "user", "content": "Hi"}]


def _h2_requests(peer: NginxPeer) -> int:
    """Requests nginx logged as HTTP/2 (its access log has the protocol)."""
    return sum("HTTP/2.0" in line for line in peer.access_log.read_text().splitlines())


def _nginx_client(peer: NginxPeer, *, tls: bool = True, **kwargs: Any) -> openai_trio.Client:
    if tls:
        return openai_trio.Client(
            base_url=peer.tls_base_url, api_key="sk-test", ssl_context=peer.certs.client_context(),
            max_retries=0, timeout=30, **kwargs,
        )
    return openai_trio.Client(base_url=peer.h2c_base_url, api_key="sk-test", h2c=True, max_retries=0,
                              timeout=30, **kwargs)


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "h2c"])
async def test_nginx_chat_and_stream_over_one_connection(nginx_peer: NginxPeer, tls: bool) -> None:
    async with _nginx_client(nginx_peer, tls=tls) as client:
        completion = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert completion.choices[0].message.content
        text = []
        async with await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                                        stream=True) as stream:
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    text.append(chunk.choices[0].delta.content)
        assert "".join(text) == completion.choices[0].message.content
        assert client._pool.connections_opened == 1


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "h2c"])
async def test_nginx_1000_concurrent_requests_on_one_connection(start_nginx: StartNginx, tls: bool) -> None:
    with start_nginx(max_concurrent_streams=1000, keepalive_requests=100000) as peer:
        async with _nginx_client(peer, tls=tls, max_connections=1) as client:
            results: list[str] = []

            async def one(i: int) -> None:
                model = await client.models.retrieve("gpt-4o-mini")
                results.append(model.id)

            async with trio.open_nursery() as nursery:
                for i in range(1000):
                    nursery.start_soon(one, i)
            assert len(results) == 1000
            assert client._pool.connections_opened == 1
        assert _h2_requests(peer) == 1000


async def test_nginx_goaway_mid_flight_every_request_answered_once(start_nginx: StartNginx) -> None:
    # nginx sends GOAWAY after keepalive_requests streams on a connection.
    with start_nginx(max_concurrent_streams=128, keepalive_requests=50) as peer:
        async with _nginx_client(peer, max_connections=4) as client:
            done: list[int] = []

            async def one(i: int) -> None:
                await client.models.retrieve("gpt-4o-mini")
                done.append(i)

            async with trio.open_nursery() as nursery:
                for i in range(400):
                    nursery.start_soon(one, i)
            assert sorted(done) == list(range(400))
            assert client._pool.connections_opened >= 8
        # Each request reached nginx exactly once: the streams a GOAWAY left
        # out were sent again elsewhere, never twice.
        assert _h2_requests(peer) == 400


async def test_nginx_lowered_max_concurrent_streams(start_nginx: StartNginx) -> None:
    with start_nginx(max_concurrent_streams=4) as peer:
        async with _nginx_client(peer, max_connections=1) as client:
            async with trio.open_nursery() as nursery:
                for _ in range(40):
                    nursery.start_soon(client.models.retrieve, "gpt-4o-mini")
            assert client._pool.connections_opened == 1


async def test_hypercorn_h2_tls_and_h2c(hypercorn_peer: HypercornPeer) -> None:
    cases: list[tuple[str, dict[str, Any]]] = [
        (hypercorn_peer.tls_base_url, {"ssl_context": hypercorn_peer.certs.client_context()}),
        (hypercorn_peer.h2c_base_url, {"h2c": True}),
    ]
    for base_url, kwargs in cases:
        async with openai_trio.Client(base_url=base_url, api_key="sk-test", max_retries=0, timeout=30,
                                      **kwargs) as client:
            raw = await client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
            assert raw.headers["x-http-version"] == "2"


# -- every peer: streaming, uploads ---------------------------------------------
#
# The same checks through nginx (TLS and h2c, in front of the fake server)
# and hypercorn (TLS and h2c, its own ASGI app).  ``connections_opened ==
# 1`` after many concurrent calls is what shows multiplexing: over HTTP/1.1
# the pool would have opened a connection per concurrent call.


@attrs.frozen
class H2Peer:
    """One HTTP/2 server as the tests below see it."""

    name: str
    base_url: str
    client_kwargs: Mapping[str, Any]
    # nginx fronts the session's fake server; hypercorn runs its own app.
    upstream: Upstream | None = None

    @property
    def is_nginx(self) -> bool:
        return self.upstream is not None

    def client(self, **kwargs: Any) -> openai_trio.Client:
        options: dict[str, Any] = {"api_key": "sk-test", "max_retries": 0, "timeout": 30, **self.client_kwargs}
        options.update(kwargs)
        return openai_trio.Client(base_url=self.base_url, **options)


def _tls_kwargs(certs: PeerCerts) -> dict[str, Any]:
    return {"ssl_context": certs.client_context()}


@pytest.fixture(params=["nginx-tls", "nginx-h2c", "hypercorn-tls", "hypercorn-h2c"])
def h2_peer(request: pytest.FixtureRequest) -> H2Peer:
    name: str = request.param
    if name.startswith("nginx"):
        nginx: NginxPeer = request.getfixturevalue("nginx_peer")
        upstream: Upstream = request.getfixturevalue("peer_upstream")
        if name.endswith("tls"):
            return H2Peer(name, nginx.tls_base_url, _tls_kwargs(nginx.certs), upstream)
        return H2Peer(name, nginx.h2c_base_url, {"h2c": True}, upstream)
    hyper: HypercornPeer = request.getfixturevalue("hypercorn_peer")
    if name.endswith("tls"):
        return H2Peer(name, hyper.tls_base_url, _tls_kwargs(hyper.certs))
    return H2Peer(name, hyper.h2c_base_url, {"h2c": True})


async def _read_stream(client: openai_trio.Client, **query: object) -> tuple[str, str | None]:
    """One streamed chat completion read to its end: the text and the last
    finish_reason.  ``query`` tunes hypercorn's stream (``chunks``,
    ``delay``); the fake server ignores it."""
    text: list[str] = []
    finish: str | None = None
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, extra_query=dict(query) or None
    )
    async with stream:
        async for chunk in stream:
            for choice in chunk.choices:
                if choice.delta.content:
                    text.append(choice.delta.content)
                if choice.finish_reason is not None:
                    finish = choice.finish_reason
    return "".join(text), finish


def _expected_stream_text(peer: H2Peer, chunks: int) -> str:
    if peer.is_nginx:
        return FAKE_REPLY
    return "".join(REPLY_WORDS[i % len(REPLY_WORDS)] for i in range(chunks))


async def test_streams_read_to_the_end_many_at_once_on_one_connection(h2_peer: H2Peer) -> None:
    chunks = 12
    expected = _expected_stream_text(h2_peer, chunks)
    async with h2_peer.client() as client:
        text, finish = await _read_stream(client, chunks=chunks)
        assert (text, finish) == (expected, "stop")
        results: list[tuple[str, str | None]] = []

        async def one() -> None:
            # A small delay between events keeps every stream open while
            # the others are read, so their frames interleave.
            results.append(await _read_stream(client, chunks=chunks, delay=0.005))

        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                for _ in range(64):
                    nursery.start_soon(one)
        assert results == [(expected, "stop")] * 64
        assert client.connections_opened == 1
        assert client.pool_stats().in_use == 0


def _payload(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


async def test_uploads_of_several_mib_with_request_body_flow_control(h2_peer: H2Peer) -> None:
    # Bigger than any initial HTTP/2 window (64 KiB by default, nginx's and
    # hypercorn's included): the body only gets through as the server
    # hands window back.  Three at once share the connection window.
    sizes = [6 * 1024 * 1024, 3 * 1024 * 1024 + 17, 2 * 1024 * 1024 + 1]
    payloads = [_payload(size, seed) for seed, size in enumerate(sizes)]
    uploaded: dict[int, Any] = {}
    async with h2_peer.client() as client:

        async def upload(i: int) -> None:
            uploaded[i] = await client.files.create(file=(f"part{i}.bin", payloads[i]), purpose="assistants")

        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                for i in range(len(payloads)):
                    nursery.start_soon(upload, i)
                # Small calls in between must not wait for the uploads.
                for _ in range(5):
                    nursery.start_soon(functools.partial(_read_stream, client, chunks=2))
        assert client.connections_opened == 1
    for i, data in enumerate(payloads):
        file = uploaded[i]
        assert file.bytes == len(data)
        if h2_peer.upstream is not None:
            # What the fake server behind nginx stored, byte for byte.
            _, stored = h2_peer.upstream.server.openai.files[file.id]
            assert stored == data
        else:
            assert file.id == "file-" + hashlib.sha256(data).hexdigest()


# -- hypercorn's app, directly and behind nginx: resets, a slow reader ------------
#
# nginx in front of hypercorn (HTTP/1.1 upstream) turns the app's failure
# mid-body into a reset of its own, and its flow control into nginx's.

MiB = 1024 * 1024
# Room for one slow stream plus a hundred others on one connection.
_APP_STREAMS = 128


@pytest.fixture(scope="module")
def app_hypercorn(start_hypercorn: StartHypercorn) -> Iterator[HypercornPeer]:
    with start_hypercorn(max_concurrent_streams=_APP_STREAMS) as peer:
        yield peer


@pytest.fixture(scope="module")
def app_nginx(start_nginx: StartNginx, app_hypercorn: HypercornPeer) -> Iterator[NginxPeer]:
    with start_nginx(upstream=(app_hypercorn.host, app_hypercorn.h2c_port),
                     max_concurrent_streams=_APP_STREAMS) as peer:
        yield peer


@pytest.fixture(params=["hypercorn-tls", "hypercorn-h2c", "nginx-tls", "nginx-h2c"])
def app_peer(request: pytest.FixtureRequest) -> H2Peer:
    name: str = request.param
    server: HypercornPeer | NginxPeer = request.getfixturevalue(
        "app_hypercorn" if name.startswith("hypercorn") else "app_nginx"
    )
    if name.endswith("tls"):
        return H2Peer(name, server.tls_base_url, _tls_kwargs(server.certs))
    return H2Peer(name, server.h2c_base_url, {"h2c": True})


def _slow_body(size: int, chunk: int) -> bytes:
    # What /v1/slow sends: bytes 0..255 over and over, restarting each chunk.
    block = bytes(range(256)) * (chunk // 256 + 1)
    return b"".join(block[: min(chunk, size - sent)] for sent in range(0, size, chunk))


def _streamed_get(
    client: openai_trio.Client, path: str, query: dict[str, object]
) -> AsyncContextManager[openai_trio.StreamedBinaryResponse]:
    """``GET path`` with the body handed over unread.  The escape hatch
    (``client.get``) reads bodies whole, so this goes through the client's
    ``Transport.execute`` with an operation whose response is binary: the
    path replaced, the response streamed as ``files.content`` would be."""
    prepared: PreparedOperation[Any] = PreparedOperation(
        OPERATIONS["downloadFile"], path, query, None, RequestOptions(), False
    )
    manager: AsyncContextManager[openai_trio.StreamedBinaryResponse] = client.execute(prepared, "streaming")
    return manager


async def test_a_reset_stream_is_typed_and_spares_the_other_streams(app_peer: H2Peer) -> None:
    size, chunk = 512 * 1024, 16 * 1024
    expected = _slow_body(size, chunk)
    async with app_peer.client() as client:
        bodies: list[bytes] = []
        resets: list[StreamResetError] = []

        async def slow() -> None:
            # Paced, so these are mid-body when the resets arrive.
            bodies.append(await client.get("/slow", query={"size": size, "chunk": chunk, "delay": 0.005},
                                           cast_to=bytes))

        async def boom() -> None:
            with pytest.raises(StreamResetError) as caught:
                await client.get("/boom", query={"after": 1000}, cast_to=bytes)
            resets.append(caught.value)

        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                for _ in range(10):
                    nursery.start_soon(slow)
                for _ in range(3):
                    nursery.start_soon(boom)
        assert bodies == [expected] * 10
        assert len(resets) == 3
        for reset in resets:
            assert isinstance(reset, openai_trio.APIConnectionError)
            assert reset.error_code == 2  # INTERNAL_ERROR
            assert "HTTP/2" in str(reset) and "reset" in str(reset)
            assert reset.request is not None and reset.request.url.endswith("/v1/boom?after=1000")
        # The resets ended three streams, not the connection.
        assert client.pool_stats().in_use == 0
        assert await client.get("/slow", query={"size": 1000}, cast_to=bytes) == _slow_body(1000, 64 * 1024)
        assert client.connections_opened == 1


@pytest.mark.slow
async def test_a_slow_reader_holds_one_window_and_blocks_no_other_stream(app_peer: H2Peer) -> None:
    # 64 MiB on one stream, left unread for a while: the client must stop
    # the server at the stream's window (memory stays bounded) while the
    # connection's window keeps the other streams going (no deadlock).
    size, chunk = 64 * MiB, 256 * 1024
    tracemalloc.start()
    try:
        async with app_peer.client() as client:
            async with _streamed_get(client, "/slow", {"size": size, "chunk": chunk}) as response:
                pieces = response.iter_bytes()
                received = len(await pieces.__anext__())
                done: list[str] = []

                async def other() -> None:
                    completion = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
                    done.append(completion.choices[0].message.content or "")

                with trio.fail_after(5):
                    async with trio.open_nursery() as nursery:
                        for _ in range(100):
                            nursery.start_soon(other)
                assert done == ["".join(REPLY_WORDS)] * 100
                # Still not reading that stream, while other calls keep the
                # connection read: long enough for a client that handed the
                # window back on receipt to pile up far more than one.
                stalled = 0
                with trio.move_on_after(1.5):
                    while True:
                        await other()
                        stalled = max(stalled, tracemalloc.get_traced_memory()[0])
                with trio.fail_after(20):
                    async for piece in pieces:
                        received += len(piece)
                        if received % (8 * MiB) < len(piece):
                            await trio.sleep(0.01)  # and read slowly
            assert received == size
            assert client.connections_opened == 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # A 16 MiB stream window plus bookkeeping; without flow control the
    # whole 64 MiB would pile up.
    assert stalled < 24 * MiB, stalled
    assert peak < 28 * MiB, peak


# -- nginx in front of a fake server of the test's own ---------------------------
#
# A fresh FakeServer per test, so what it recorded is this test's alone.


@attrs.frozen
class OwnUpstream:
    server: FakeServer
    address: tuple[str, int]


@pytest.fixture
def own_upstream() -> Iterator[OwnUpstream]:
    """A fake server on a thread (started and stopped outside trio: its
    thread is stopped with a blocking call), its streamed chat answers
    paced so streams stay open long enough to be in flight when something
    happens."""
    server = FakeServer(max_body_size=16 * MiB)
    openai = server.openai

    def chat(request: ReceivedRequest) -> FakeResponse:
        answer = openai.chat_completions(request, request.json())
        return attrs.evolve(answer, delay=0.002) if answer.chunked else answer

    server.route("POST", "/v1/chat/completions", chat)
    with run_fake_server_in_thread(server):
        assert server.host is not None and server.port is not None
        yield OwnUpstream(server, (server.host, server.port))


def _nginx_base(peer: NginxPeer, tls: bool) -> tuple[str, dict[str, Any]]:
    if tls:
        return peer.tls_base_url, _tls_kwargs(peer.certs)
    return peer.h2c_base_url, {"h2c": True}


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "h2c"])
async def test_goaway_with_streams_in_flight_every_request_answered_once(
    start_nginx: StartNginx, own_upstream: OwnUpstream, tls: bool
) -> None:
    count = 200
    server = own_upstream.server
    # GOAWAY after every 20 streams, with up to 20 of them still
    # streaming when it comes.
    with start_nginx(upstream=own_upstream.address, keepalive_requests=20, max_concurrent_streams=128) as peer:
        base_url, kwargs = _nginx_base(peer, tls)
        async with openai_trio.Client(base_url=base_url, api_key="sk-test", max_retries=0, timeout=30,
                                      max_connections=4, **kwargs) as client:
            texts: dict[int, str] = {}

            async def one(i: int) -> None:
                stream = await client.chat.completions.create(
                    model="gpt-4o-mini", messages=MESSAGES, stream=True, extra_headers={"x-peer-seq": str(i)}
                )
                parts: list[str] = []
                async with stream:
                    async for chunk in stream:
                        if chunk.choices and chunk.choices[0].delta.content:
                            parts.append(chunk.choices[0].delta.content)
                texts[i] = "".join(parts)

            with trio.fail_after(20):
                async with trio.open_nursery() as nursery:
                    for i in range(count):
                        nursery.start_soon(one, i)
            assert texts == {i: FAKE_REPLY for i in range(count)}
            assert client.connections_opened >= count // 20
            assert client.pool_stats().in_use == 0
        # Sent again only when nginx had not taken them: each one
        # reached nginx, and the server behind it, exactly once.
        assert _h2_requests(peer) == count
    seen = collections.Counter(request.headers.get("x-peer-seq") for request in server.requests)
    assert seen == {str(i): 1 for i in range(count)}


def _nginx_client_errors(peer: NginxPeer) -> list[str]:
    """What nginx's error log says the client got wrong on the wire (a
    frame on a closed stream, a bad window, a broken preface...)."""
    text = peer.error_log.read_text(errors="replace")
    return [line for line in text.splitlines() if "client sent" in line or "invalid" in line]


@pytest.mark.parametrize("seed", [7, 2026])
@pytest.mark.parametrize("tls", [True, False], ids=["tls", "h2c"])
async def test_cancellation_fuzz_leaves_the_pool_clean(
    start_nginx: StartNginx, own_upstream: OwnUpstream, tls: bool, seed: int
) -> None:
    # Many calls of every shape on one connection, each cancelled at a
    # random moment: before it is sent, mid-upload, waiting for the head,
    # mid-stream, or not at all.  HTTP/2 cancels a stream with RST_STREAM,
    # so the connection must survive all of it.
    rng = random.Random(seed)
    count = 300
    upload = _payload(300 * 1024, seed)
    server = own_upstream.server
    with start_nginx(upstream=own_upstream.address, max_concurrent_streams=128) as peer:
        base_url, kwargs = _nginx_base(peer, tls)
        # One connection: past nginx's 128 streams, calls wait in the pool
        # (and are cancelled there too).
        async with openai_trio.Client(base_url=base_url, api_key="sk-test", max_retries=0, timeout=30,
                                      max_connections=1, **kwargs) as client:
            started = 0
            finished = 0

            async def one(i: int, kind: int, delay: float) -> None:
                nonlocal started, finished
                headers = {"x-peer-seq": str(i)}
                with trio.move_on_after(delay):
                    started += 1
                    if kind == 0:
                        await client.models.retrieve("gpt-4o-mini", extra_headers=headers)
                    elif kind == 1:
                        await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                                             extra_headers=headers)
                    elif kind == 2:
                        stream = await client.chat.completions.create(
                            model="gpt-4o-mini", messages=MESSAGES, stream=True, extra_headers=headers
                        )
                        async with stream:
                            async for _ in stream:
                                pass
                    else:
                        await client.files.create(file=("up.bin", upload), purpose="assistants",
                                                  extra_headers=headers)
                    finished += 1

            # The connection is opened first: a TLS handshake on a slow
            # machine can outlast every deadline below, and then the fuzz
            # would only ever cancel calls waiting in the pool.
            await client.models.retrieve("gpt-4o-mini")
            with trio.fail_after(20):
                async with trio.open_nursery() as nursery:
                    for i in range(count):
                        # One call in ten has no deadline, so some finish
                        # however slow the machine is.
                        delay = math.inf if rng.random() < 0.1 else rng.uniform(0, 0.08)
                        nursery.start_soon(one, i, rng.randrange(4), delay)
                        if rng.random() < 0.1:
                            await trio.sleep(rng.uniform(0, 0.01))
            assert started == count
            # Some of each: a fuzz that cancels everything, or nothing,
            # tests little.
            assert 0 < finished < count
            stats = client.pool_stats()
            assert (stats.in_use, stats.waiting, stats.connecting) == (0, 0, 0), stats
            completion = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            assert completion.choices[0].message.content == FAKE_REPLY
            # Cancelled streams were reset, not the connection.
            assert client.connections_opened == 1
        assert client.pool_stats().connections == 0
        seen = collections.Counter(request.headers.get("x-peer-seq") for request in server.requests)
        # Each fuzzed call reached the server at most once (the two calls
        # without a sequence header are the warm-up and the last one).
        assert seen.pop(None) == 2
        assert max(seen.values()) == 1 and len(server.requests) <= count + 2
        assert _h2_requests(peer) <= count + 2
        assert _nginx_client_errors(peer) == []


# -- through a proxy ----------------------------------------------------------------


def _http_versions(peer: NginxPeer) -> list[str]:
    """The protocol of each request in nginx's access log, oldest first."""
    found = (re.search(r'" ?[A-Z]+ [^ ]+ (HTTP/[0-9.]+)"', line) for line in peer.access_log.read_text().splitlines())
    return [match.group(1) for match in found if match is not None]


async def test_https_through_a_connect_tunnel_speaks_http2_inside(
    start_nginx: StartNginx, proxy_peer: ProxyPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("https_proxy", "http_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    # An nginx of its own: its port names this test's tunnels in the
    # proxy's log.
    with start_nginx() as peer:
        tunnel = f"CONNECT {peer.host}:{peer.tls_port} "
        context = peer.certs.client_context()

        # NO_PROXY names the origin: straight there, the proxy unused.
        monkeypatch.setenv("HTTPS_PROXY", proxy_peer.url)
        monkeypatch.setenv("NO_PROXY", f"localhost,{peer.host}")
        async with openai_trio.Client(base_url=peer.tls_base_url, api_key="sk-test", ssl_context=context,
                                      max_retries=0, timeout=30) as client:
            await client.models.retrieve("gpt-4o-mini")
        monkeypatch.delenv("NO_PROXY")

        # proxy=: a CONNECT tunnel, ALPN inside it picks h2, and one
        # tunnel carries every concurrent call.
        async with openai_trio.Client(base_url=peer.tls_base_url, api_key="sk-test", ssl_context=context,
                                      proxy=proxy_peer.url, max_retries=0, timeout=30) as client:
            with trio.fail_after(10):
                async with trio.open_nursery() as nursery:
                    for _ in range(20):
                        nursery.start_soon(client.models.retrieve, "gpt-4o-mini")
                    nursery.start_soon(functools.partial(_read_stream, client))
            assert client.connections_opened == 1

        # HTTPS_PROXY from the environment, without NO_PROXY: tunnelled too.
        async with openai_trio.Client(base_url=peer.tls_base_url, api_key="sk-test", ssl_context=context,
                                      max_retries=0, timeout=30) as client:
            text, _ = await _read_stream(client)
            assert text == FAKE_REPLY
            assert client.connections_opened == 1

        assert _http_versions(peer) == ["HTTP/2.0"] * 23
        # Two tunnels (proxy.py logs one as it closes); the NO_PROXY client,
        # closed first, would have been logged first.
        assert len(proxy_peer.wait_for_access(tunnel, count=2)) == 2


async def test_leaving_a_big_body_early_resets_its_stream_only(app_peer: H2Peer) -> None:
    # Over HTTP/1.1 an unread body costs the connection; over HTTP/2 a
    # RST_STREAM ends it and the connection goes on.
    async with app_peer.client() as client:
        with trio.fail_after(10):
            for _ in range(3):
                async with _streamed_get(client, "/slow", {"size": 64 * MiB}) as response:
                    async for piece in response.iter_bytes():
                        assert piece
                        break
                stream = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
                async with stream:
                    async for _ in stream:
                        break  # an event stream left early, too
            text, _ = await _read_stream(client, chunks=4)
        assert text == "".join(REPLY_WORDS)
        assert client.connections_opened == 1
        assert client.pool_stats().in_use == 0
