"""The trio client over HTTP/1.1 against peers it was not written with:
nginx (TLS with ALPN, and plain) in front of the fake server, and hypercorn
over TLS.  The peers are started by the fixtures in tests/peers/."""

from __future__ import annotations

import hashlib
import importlib.util
import pathlib
import ssl
import sys
from types import ModuleType
from typing import Any

import peers.nginx_peer as nginx_peer_module
import pytest
import trio
from peers._process import PeerStartError
from peers.asgi_app import REPLY_WORDS
from peers.fixtures import StartHypercorn, StartNginx, Upstream
from peers.h2probe import probe
from peers.hypercorn_peer import HypercornPeer
from peers.nginx_peer import NginxPeer

import openai_trio
from openai_trio.testing import FAKE_REPLY, FakeResponse

MESSAGES: list[Any] = [{"role": "user", "content": "Hi"}]
Route = tuple[str, "ssl.SSLContext | None"]


def _client(route: Route, **kwargs: Any) -> openai_trio.Client:
    base_url, context = route
    # These are the HTTP/1.1 paths through the peers; test_peers_http2.py
    # has the HTTP/2 ones.
    kwargs.setdefault("http2", False)
    return openai_trio.Client(
        base_url=base_url, api_key="sk-test", ssl_context=context, max_retries=0, timeout=20, **kwargs
    )


@pytest.fixture(params=["tls", "plain"])
def via_nginx(request: pytest.FixtureRequest, nginx_peer: NginxPeer) -> Route:
    """A base URL through nginx and the TLS context to reach it with.

    Over TLS the client offers only http/1.1 by ALPN (all it speaks today),
    though nginx would pick h2 if offered."""
    if request.param == "tls":
        return nginx_peer.tls_base_url, nginx_peer.certs.client_context()
    return nginx_peer.plain_base_url, None


async def test_chat_completion_through_nginx(via_nginx: Route) -> None:
    async with _client(via_nginx) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=MESSAGES
        )
        completion = raw.parse()
    assert raw.status_code == 200
    # nginx names itself: the answer did come through the proxy.
    assert raw.headers.get("server", "").startswith("nginx")
    assert completion.choices[0].message.content == FAKE_REPLY


async def test_streamed_chat_through_nginx(via_nginx: Route) -> None:
    async with _client(via_nginx) as client:
        stream = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        async with stream:
            pieces = [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
    assert "".join(pieces) == FAKE_REPLY


async def test_stream_is_not_buffered_by_nginx(via_nginx: Route, peer_upstream: Upstream) -> None:
    # The upstream waits between events: with proxy_buffering on, nginx
    # would hold them back and they would all arrive together at the end.
    gap = 0.4
    events = [
        {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
         "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
        for word in ("one", "two", "three")
    ]  # fmt: skip
    peer_upstream.server.enqueue(FakeResponse.sse(events, delay=gap))
    arrivals: list[float] = []
    async with _client(via_nginx) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            words = []
            async for chunk in stream:
                arrivals.append(trio.current_time())
                words.append(chunk.choices[0].delta.content)
    assert words == ["one", "two", "three"]
    assert arrivals[-1] - arrivals[0] >= gap


async def test_100_concurrent_requests_through_nginx(via_nginx: Route) -> None:
    results: list[str | None] = []
    async with _client(via_nginx) as client:

        async def one() -> None:
            completion = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            results.append(completion.choices[0].message.content)

        async with trio.open_nursery() as nursery:
            for _ in range(100):
                nursery.start_soon(one)
        opened = client.connections_opened
    assert results == [FAKE_REPLY] * 100
    assert 1 <= opened <= 100


async def test_upload_through_nginx(via_nginx: Route, peer_upstream: Upstream) -> None:
    # A few MiB, not all alike, so a dropped or repeated piece shows.
    data = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(3 * 1024 * 1024 // 32))
    async with _client(via_nginx) as client:
        uploaded = await client.files.create(file=("big.bin", data), purpose="assistants")
    assert uploaded.bytes == len(data)
    stored_object, stored = peer_upstream.server.openai.files[uploaded.id]
    assert stored_object["filename"] == "big.bin"
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()


def _load_blocking_example() -> ModuleType:
    path = pathlib.Path(__file__).resolve().parent.parent / "examples" / "blocking_chat.py"
    spec = importlib.util.spec_from_file_location("_peers_blocking_chat", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_blocking_example_through_nginx(nginx_peer: NginxPeer) -> None:
    blocking = _load_blocking_example()
    tokens = blocking.stream_chat(nginx_peer.plain_base_url, "sk-test", "gpt-4o-mini", "Hi", timeout=20)
    assert "".join(tokens) == FAKE_REPLY


def _hypercorn(peer: HypercornPeer) -> Route:
    return peer.tls_base_url, peer.certs.client_context()


async def test_chat_completion_from_hypercorn(hypercorn_peer: HypercornPeer) -> None:
    async with _client(_hypercorn(hypercorn_peer)) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=MESSAGES
        )
    assert raw.headers["x-http-version"] == "1.1"
    assert raw.parse().choices[0].message.content == "".join(REPLY_WORDS)


async def test_streamed_chat_from_hypercorn(hypercorn_peer: HypercornPeer) -> None:
    async with _client(_hypercorn(hypercorn_peer)) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, extra_query={"chunks": 12}
        )
        async with stream:
            pieces = [chunk.choices[0].delta.content async for chunk in stream]
    assert pieces == (REPLY_WORDS * 3)[:12]


async def test_upload_to_hypercorn(hypercorn_peer: HypercornPeer) -> None:
    data = bytes(range(256)) * 4096 + b"tail"
    async with _client(_hypercorn(hypercorn_peer)) as client:
        uploaded = await client.files.create(file=("one.bin", data), purpose="assistants")
    assert uploaded.bytes == len(data)
    assert uploaded.id == "file-" + hashlib.sha256(data).hexdigest()


# -- the peers themselves -------------------------------------------------------
#
# Checked with a bare h2 client (tests/peers/h2probe.py), not the project's
# own HTTP/2 code: the HTTP/2 tests rely on the peers behaving like this.

_MAX_CONCURRENT_STREAMS = 0x3
_INTERNAL_ERROR = 0x2


def test_nginx_offers_h2_by_alpn_and_h2c_by_prior_knowledge(nginx_peer: NginxPeer) -> None:
    tls = probe(nginx_peer.tls_port, ["/v1/models"], context=nginx_peer.certs.client_context(["h2", "http/1.1"]))
    assert tls.alpn == "h2"
    h2c = probe(nginx_peer.h2c_port, ["/v1/models"])
    for seen in (tls, h2c):
        assert seen.settings[_MAX_CONCURRENT_STREAMS] == nginx_peer.options.max_concurrent_streams
        [answer] = seen.answers
        assert answer.status == 200 and answer.complete
        assert b"gpt-4o-mini" in answer.body


def test_nginx_limits_streams_and_sends_goaway_after_keepalive_requests(start_nginx: StartNginx) -> None:
    with start_nginx(max_concurrent_streams=3, keepalive_requests=2) as peer:
        seen = probe(peer.h2c_port, ["/v1/models"] * 3)
    assert seen.settings[_MAX_CONCURRENT_STREAMS] == 3
    # The GOAWAY comes with the second request, naming it (stream 3) as
    # the last one taken: both are answered, the third never goes out.
    assert (seen.goaway_last_stream, seen.goaway_error) == (3, 0)
    assert [(a.status, a.complete) for a in seen.answers] == [(200, True), (200, True)]


def test_hypercorn_speaks_h2_and_resets_a_failing_stream(start_hypercorn: StartHypercorn) -> None:
    with start_hypercorn(max_concurrent_streams=4) as peer:
        seen = probe(peer.h2c_port, ["/v1/slow?size=300000&chunk=50000", "/v1/boom?after=1000", "/healthz"])
        tls = probe(peer.tls_port, ["/healthz"], context=peer.certs.client_context(["h2", "http/1.1"]))
    assert seen.settings[_MAX_CONCURRENT_STREAMS] == 4
    slow, boom, after = seen.answers
    assert (slow.status, len(slow.body), slow.complete) == (200, 300000, True)
    assert slow.headers["x-http-version"] == "2"
    # Part of the body, then RST_STREAM; the connection carries on.
    assert (boom.status, boom.body, boom.reset) == (200, b"x" * 1000, _INTERNAL_ERROR)
    assert (after.status, after.body) == (200, b"ok")
    assert tls.alpn == "h2"
    assert tls.answers[0].body == b"ok"


def test_a_missing_peer_fails_with_how_to_install(
    start_nginx: StartNginx, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(nginx_peer_module, "find_nginx", lambda: None)
    with pytest.raises(pytest.fail.Exception, match=r"bash tools/peers\.sh"), start_nginx():
        raise AssertionError("nginx started without a binary")


def test_a_peer_that_does_not_start_shows_its_log(start_nginx: StartNginx) -> None:
    with pytest.raises(PeerStartError, match="client_max_body_size") as caught, start_nginx(
        client_max_body_size="lots"
    ):
        raise AssertionError("nginx took a bad setting")
    assert "exited with status" in str(caught.value)
