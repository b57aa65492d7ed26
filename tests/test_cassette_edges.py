"""Recorder and Replayer at the stream level: what a cassette refuses to
record (h2 by ALPN, a forwarding proxy), a transport failing mid-read,
recording onto a Cassette in memory, and the replayed stream's contract
(partial reads, the live stream of new_episodes, use after close)."""

from __future__ import annotations

import pathlib
import ssl
from typing import Any

import attrs
import pytest
import trio
import trio.testing
import trustme

import openai_trio
from openai_sansio import Cassette, CassetteError, Origin
from openai_sansio._proxy import parse_proxy_url
from openai_trio import TCPConnector
from openai_trio._proxy import ForwardingStream
from openai_trio.testing import FakeResponse, FakeServer, Recorder, replay_connector

ORIGIN = Origin("http", "fake.test", 80)
GET_MODEL = b"GET /v1/models/gpt-4o-mini HTTP/1.1\r\nhost: fake.test\r\n\r\n"


async def read_response(stream: trio.abc.Stream, max_bytes: int | None = None) -> bytes:
    """Bytes until the whole JSON body of one response is in (or EOF)."""
    data = b""
    with trio.fail_after(10):
        while True:
            chunk = await stream.receive_some(max_bytes)
            if not chunk:
                return data
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                length = next(
                    int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
                )
                if len(body) >= length:
                    return data


async def wait_idle(server: FakeServer) -> None:
    with trio.fail_after(5):
        while server.active_connections:  # noqa: ASYNC110 (a poll of a counter)
            await trio.sleep(0.001)


# -- what cannot be recorded -----------------------------------------------------------


async def test_h2_chosen_by_alpn_is_refused_and_the_stream_closed() -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    tcp = TCPConnector(client_ctx)

    async def wrapped(origin: Origin) -> trio.abc.Stream:
        # Not a TCPConnector itself: the recorder cannot turn its h2 off.
        return await tcp(origin)

    async with FakeServer() as server:
        port = await server.serve_tcp(ssl_context=server_ctx)
        with pytest.raises(CassetteError, match="negotiated HTTP/2"):
            await Recorder(wrapped)(Origin("https", "127.0.0.1", port))
        # The refused connection was closed, not leaked.
        await wait_idle(server)


async def test_a_forwarding_proxy_stream_is_refused_and_closed() -> None:
    streams: list[trio.abc.Stream] = []

    async def via_proxy(origin: Origin) -> trio.abc.Stream:
        client_side, server_side = trio.testing.memory_stream_pair()
        streams.append(server_side)
        return ForwardingStream(client_side, parse_proxy_url("http://proxy.test:3128"))

    with pytest.raises(CassetteError, match="forwarded through an HTTP proxy"):
        await Recorder(via_proxy)(ORIGIN)
    # The proxy's side sees the connection end.
    assert await streams[0].receive_some() == b""


# -- recording -----------------------------------------------------------------------


class _FailsOnRead(trio.abc.Stream):
    def __init__(self, inner: trio.abc.Stream, good_reads: int) -> None:
        self.inner = inner
        self.good_reads = good_reads

    async def send_all(self, data: Any) -> None:
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        if not self.good_reads:
            raise trio.BrokenResourceError("reset mid-body")
        self.good_reads -= 1
        return await self.inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_read_that_fails_is_recorded_as_a_reset_and_replayed_as_one() -> None:
    async with FakeServer() as server:
        server.enqueue(FakeResponse(body=[b'{"id": "gpt-4o-mini",', b' "object": "model"}'], delay=0.01))

        async def flaky(origin: Origin) -> trio.abc.Stream:
            return _FailsOnRead(await server.connect(origin), good_reads=1)

        recorder = Recorder(flaky)
        async with openai_trio.Client(api_key="sk-x", base_url="http://fake.test/v1", connector=recorder, max_retries=0) as client:
            with pytest.raises(openai_trio.APIConnectionError, match="reset mid-body"):
                await client.models.retrieve("gpt-4o-mini")
    (exchange,) = recorder.cassette.exchanges
    assert exchange.response.reset and len(exchange.response.chunks) == 1
    async with openai_trio.Client(
        api_key="sk-x", base_url="http://fake.test/v1", connector=replay_connector(recorder.cassette), max_retries=0
    ) as client:
        with pytest.raises(openai_trio.APIConnectionError):
            await client.models.retrieve("gpt-4o-mini")


async def test_recording_onto_a_cassette_in_memory(tmp_path: pathlib.Path) -> None:
    async with FakeServer() as server:
        first = Recorder(server.connect)
        stream = await first(ORIGIN)
        await stream.send_all(GET_MODEL)
        await stream.wait_send_all_might_not_block()
        assert b'"gpt-4o-mini"' in await read_response(stream)
        await stream.aclose()
        start = first.cassette
        assert len(start) == 1 and first.path is None
        # Given a Cassette, a recorder adds to it (a new value: cassettes
        # are immutable), leaving the one given as it was.
        second = Recorder(server.connect, start)
        stream = await second(ORIGIN)
        await stream.send_all(GET_MODEL.replace(b"gpt-4o-mini", b"gpt-4o"))
        await read_response(stream)
        await stream.aclose()
        assert [e.request.path for e in second.cassette.exchanges] == ["/v1/models/gpt-4o-mini", "/v1/models/gpt-4o"]
        assert len(start) == 1
        on_disk = Recorder(server.connect, tmp_path / "c.jsonl")
        assert on_disk.path == tmp_path / "c.jsonl" and str(on_disk.path) in repr(on_disk)


# -- the replayed stream ------------------------------------------------------------------


async def _one_exchange() -> Cassette:
    async with FakeServer() as server:
        recorder = Recorder(server.connect)
        stream = await recorder(ORIGIN)
        await stream.send_all(GET_MODEL)
        await read_response(stream)
        await stream.aclose()
    return recorder.cassette


async def test_a_replayed_chunk_is_served_in_pieces_of_max_bytes() -> None:
    cassette = await _one_exchange()
    (exchange,) = cassette.exchanges
    recorded = b"".join(exchange.response.chunks)
    # One recorded chunk: every piece below comes out of it.
    one_chunk = Cassette([attrs.evolve(exchange, response=attrs.evolve(exchange.response, chunks=[recorded]))])
    stream = await replay_connector(one_chunk)(ORIGIN)
    await stream.send_all(GET_MODEL)
    await stream.wait_send_all_might_not_block()
    pieces = []
    while piece := await stream.receive_some(7):
        assert len(piece) <= 7
        pieces.append(bytes(piece))
    assert b"".join(pieces) == recorded and len(pieces) == -(-len(recorded) // 7)
    await stream.aclose()


async def test_a_closed_replayed_stream_refuses_use() -> None:
    stream = await replay_connector(await _one_exchange())(ORIGIN)
    await stream.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await stream.send_all(GET_MODEL)
    with pytest.raises(trio.ClosedResourceError):
        await stream.receive_some()


async def test_new_episodes_on_a_cassette_in_memory_goes_live_and_records() -> None:
    async with FakeServer() as server:
        replayer = replay_connector(Cassette(), mode="new_episodes", inner=server.connect)
        stream = await replayer(ORIGIN)
        await stream.send_all(GET_MODEL)
        # Live now: the rest goes to the server and back.
        await stream.wait_send_all_might_not_block()
        assert b'"gpt-4o-mini"' in await read_response(stream)
        await stream.aclose()
        await wait_idle(server)
    assert len(server.requests) == 1
    assert replayer.recorder is not None
    assert [e.request.path for e in replayer.recorder.cassette.exchanges] == ["/v1/models/gpt-4o-mini"]
