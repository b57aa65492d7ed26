"""The trio client over HTTP/2 through independent peers: nginx (TLS with
ALPN, and h2c) in front of the fake server, and hypercorn."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from peers.fixtures import StartNginx
from peers.hypercorn_peer import HypercornPeer
from peers.nginx_peer import NginxPeer

import openai_trio

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
    for base_url, kwargs in [
        (hypercorn_peer.tls_base_url, {"ssl_context": hypercorn_peer.certs.client_context()}),
        (hypercorn_peer.h2c_base_url, {"h2c": True}),
    ]:
        async with openai_trio.Client(base_url=base_url, api_key="sk-test", max_retries=0, timeout=30,
                                      **kwargs) as client:
            raw = await client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
            assert raw.headers["x-http-version"] == "2"
