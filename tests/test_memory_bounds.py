"""Memory bounds that hold in bytes, not only in counts (issue 8).

Each test measures the peak that tracemalloc sees while the client (or the
core) works through an input built beforehand, at sizes scaled down from the
issue's (96 MiB of ``data: xy`` lines against a 32 MiB event limit, a 300
MiB body against a 256 MiB cap), and checks it against a small multiple of
the limit in force.  The server runs over loopback TCP, so what sits in
kernel socket buffers is not counted, and the pieces it sends are one
shared object, so the server side costs next to nothing.
"""

from __future__ import annotations

import itertools
import tracemalloc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import openai_trio
from openai_sansio import (
    ChatCompletionStreamDecoder,
    RemoteProtocolError,
    ServerSentEvent,
    SSEDecoder,
)
from openai_trio import Client
from openai_trio.testing import FakeResponse, FakeServer

KEY = "sk-test-memory-0123456789"
MESSAGES = [{"role": "user", "content": "Hello"}]
KIB = 1024
MIB = 1024 * KIB


@contextmanager
def peak_bytes() -> Iterator[list[int]]:
    """The peak of memory allocated inside the block, in its one item."""
    assert not tracemalloc.is_tracing()
    found: list[int] = []
    tracemalloc.start()
    try:
        yield found
    finally:
        found.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


def short_lines(total: int) -> bytes:
    # Lines of two data bytes: the shape that costs most per byte as objects.
    return b"data: xy\n" * (total // 9)


def split_at(data: bytes, points: Sequence[int]) -> list[bytes]:
    cuts = sorted({0, len(data), *points})
    return [data[a:b] for a, b in itertools.pairwise(cuts)]


def feed_until_refused(decoder: SSEDecoder, chunks: Sequence[bytes]) -> None:
    with pytest.raises(RemoteProtocolError, match="max_event_size"):
        for chunk in chunks:
            decoder.feed(chunk)
        decoder.close()


# --- the SSE decoder ------------------------------------------------------------


def test_short_lines_past_the_event_limit_stay_near_it() -> None:
    # 8 MiB of data lines that never end their event, fed whole, against a
    # 1 MiB limit: each kept as an object, the lines read before the limit
    # trips cost about 15 MiB.
    limit = 1 * MIB
    stream = short_lines(8 * MIB)
    decoder = SSEDecoder(max_event_size=limit)
    with peak_bytes() as peak:
        feed_until_refused(decoder, [stream])
    assert peak[0] < 3 * limit
    # The decoder stays failed and dropped what it held.
    with pytest.raises(RemoteProtocolError):
        decoder.feed(b"\n")


@pytest.mark.parametrize("piece", [None, 64 * KIB, 1000, 4093])
def test_short_lines_in_pieces_stay_near_the_event_limit(piece: int | None) -> None:
    limit = 128 * KIB
    stream = short_lines(1 * MIB)
    chunks = [stream] if piece is None else split_at(stream, range(0, len(stream), piece))
    decoder = SSEDecoder(max_event_size=limit)
    with peak_bytes() as peak:
        feed_until_refused(decoder, chunks)
    assert peak[0] < 3 * limit
    # The decoder stays failed and dropped what it held.
    with pytest.raises(RemoteProtocolError):
        decoder.feed(b"\n")


def test_short_lines_fed_byte_by_byte_stay_near_the_limit() -> None:
    limit = 64 * KIB
    stream = short_lines(256 * KIB)
    chunks = [stream[i : i + 1] for i in range(len(stream))]
    decoder = SSEDecoder(max_event_size=limit)
    with peak_bytes() as peak:
        feed_until_refused(decoder, chunks)
    assert peak[0] < 3 * limit


@settings(max_examples=10, deadline=None)
@given(points=st.lists(st.integers(0, 400 * KIB), max_size=20))
def test_short_lines_split_anywhere_stay_near_the_limit(points: list[int]) -> None:
    limit = 128 * KIB
    chunks = split_at(short_lines(400 * KIB), points)
    decoder = SSEDecoder(max_event_size=limit)
    with peak_bytes() as peak:
        feed_until_refused(decoder, chunks)
    assert peak[0] < 3 * limit


@pytest.mark.parametrize("piece", [None, 64 * KIB, 777])
def test_an_event_of_many_short_lines_is_delivered_whole(piece: int | None) -> None:
    # Under the limit the same shape is a valid event: it comes out intact,
    # and holding it on the way cost about its size, not one object a line.
    limit = 128 * KIB
    count = 40_000  # 120,000 bytes of data buffer
    stream = b"data: xy\n" * count + b"\n"
    chunks = [stream] if piece is None else split_at(stream, range(0, len(stream), piece))
    decoder = SSEDecoder(max_event_size=limit)
    events: list[ServerSentEvent] = []
    with peak_bytes() as peak:
        for chunk in chunks:
            events += decoder.feed(chunk)
        events += decoder.close()
    assert len(events) == 1
    data = events[0].data
    assert len(data) == 3 * count - 1
    assert data[:8] == "xy\nxy\nxy" and data.count("\n") == count - 1
    del events, data
    # The event's text (about 117 KiB) is part of the peak.
    assert peak[0] < 3 * limit


def test_stream_decoder_refuses_short_lines_past_the_limit() -> None:
    limit = 128 * KIB
    stream = short_lines(1 * MIB)
    chunks = split_at(stream, range(0, len(stream), 16 * KIB))
    decoder = ChatCompletionStreamDecoder(parse=dict, max_event_size=limit)
    with peak_bytes() as peak, pytest.raises(RemoteProtocolError, match="max_event_size"):
        for chunk in chunks:
            decoder.feed(chunk)
    assert peak[0] < 3 * limit
    with pytest.raises(RemoteProtocolError):
        decoder.feed(b"data: {}\n\n")


# --- through the trio client ------------------------------------------------------


async def test_client_stream_of_short_lines_is_refused_near_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The client's stream decoders use SSEDecoder's default limit; shrink it
    # so the test is quick.
    limit = 1 * MIB
    monkeypatch.setitem(SSEDecoder.__init__.__kwdefaults__, "max_event_size", limit)
    piece = b"data: xy\n" * (64 * KIB // 9)
    async with FakeServer() as server:
        port = await server.serve_tcp()
        async with Client(api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1", max_retries=0) as client:
            # A first stream loads the modules a stream needs, so that their
            # import is not measured.
            async with await client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, stream=True
            ) as stream:
                assert [chunk async for chunk in stream]
            server.enqueue(FakeResponse.sse([], chunks=[piece] * (8 * MIB // len(piece))))
            with peak_bytes() as peak:
                stream = await client.chat.completions.create(
                    model="gpt-4o-mini", messages=MESSAGES, stream=True
                )
                with pytest.raises(openai_trio.RemoteProtocolError, match="max_event_size"):
                    async with stream:
                        async for _ in stream:
                            pass
            assert peak[0] < 3 * limit
            # The connection was not kept; the next call gets a fresh one.
            assert client.pool_stats() == openai_trio.PoolStats()
            completion = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            assert completion.choices[0].message.content
            assert server.connections_opened == 2
