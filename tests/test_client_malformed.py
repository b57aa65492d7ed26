"""Whatever bytes a server sends, the client answers with a result or an
``APIError`` subclass, discards the connection they arrived on and never
hangs."""

from __future__ import annotations

import functools
import json
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import openai_trio
from openai_trio import Client, PoolStats
from openai_trio.testing import FakeResponse, FakeServer

KEY = "sk-test-malformed"
MESSAGES = [{"role": "user", "content": "Hello"}]
CHUNK = {
    "id": "c",
    "object": "chat.completion.chunk",
    "created": 0,
    "model": "m",
    "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}],
}
# A generous bound for one whole exchange: everything here is in memory, so
# only a hang comes near it.
TIME_BOUND = 5.0


@asynccontextmanager
async def fake_client(**kwargs: Any) -> AsyncIterator[tuple[FakeServer, Client]]:
    async with FakeServer() as server:
        kwargs.setdefault("api_key", KEY)
        kwargs.setdefault("base_url", "http://fake.test/v1")
        async with Client(connector=server.connect, **kwargs) as client:
            yield server, client


def head(status: str = "200 OK", *lines: str) -> bytes:
    return ("HTTP/1.1 " + status + "\r\n" + "".join(line + "\r\n" for line in lines) + "\r\n").encode()


def sse_head() -> bytes:
    return head("200 OK", "content-type: text/event-stream", "transfer-encoding: chunked")


def chunked(*pieces: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces)


# (name, raw response pieces).  Every one must fail with an APIError subclass.
MALFORMED = {
    "bad-status-line": [b"HTTP/1.1 OK 200\r\n\r\n"],
    "not-http": [b"SSH-2.0-OpenSSH_9.6\r\n"],
    "bad-version": [b"HTTP/9.9 200 OK\r\ncontent-length: 2\r\n\r\n{}"],
    "header-without-colon": [b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"],
    "header-space-before-colon": [b"HTTP/1.1 200 OK\r\ncontent-length : 2\r\n\r\n{}"],
    "two-content-lengths": [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}"],
    "negative-content-length": [b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n"],
    "header-nul": [b"HTTP/1.1 200 OK\r\nx-a: b\x00c\r\ncontent-length: 2\r\n\r\n{}"],
    "bad-chunk-size": [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"],
    "chunk-missing-crlf": [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n"],
    "chunked-truncated": [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n10\r\n{\"a\""],
    "truncated-body": [b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"object\""],
    "truncated-head": [b"HTTP/1.1 200 OK\r\ncontent-le"],
    "empty-200": [b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"],
    "html-200": [b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n<b>hi</b>"],
    "not-utf8-200": [b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n\xff\xfe\xfd\xfc"],
    "json-array-200": [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n[]"],
    "close-delimited-junk": [b"HTTP/1.1 200 OK\r\n\r\nnot json at all"],
    "huge-head": [b"HTTP/1.1 200 OK\r\n" + b"x-pad: " + b"a" * 200_000],
}


@pytest.mark.parametrize("pieces", list(MALFORMED.values()), ids=list(MALFORMED))
async def test_malformed_response_is_a_typed_error_and_discards(pieces: list[bytes]) -> None:
    async with fake_client(max_retries=0) as (server, client):
        server.enqueue(FakeResponse.raw(pieces))
        with trio.fail_after(TIME_BOUND):
            with pytest.raises(openai_trio.APIError):
                await client.models.list()
        assert client.pool_stats() == PoolStats()
        # The client is still good for the next call, on a new connection.
        assert (await client.models.retrieve("gpt-4o")).id == "gpt-4o"
        assert server.connections_opened == 2


# Event-stream bodies that break SSE, JSON or the stream's own rules.
GARBAGE_SSE = {
    "non-json-data": [b"data: {oops\n\n"],
    "invalid-utf8-data": [b"data: \xff\xfe\n\n"],
    "json-not-object": [b"data: [1, 2, 3]\n\n"],
    "error-event": [b'data: {"error": {"message": "boom"}}\n\n'],
    "endless-line": [b"data: " + b"x" * 65536] * 40,
}


@pytest.mark.parametrize("pieces", list(GARBAGE_SSE.values()), ids=list(GARBAGE_SSE))
async def test_garbage_event_stream_is_a_typed_error(pieces: list[bytes]) -> None:
    async with fake_client(max_retries=0) as (server, client):
        server.enqueue(FakeResponse.sse([], chunks=pieces))
        with trio.fail_after(TIME_BOUND):
            with pytest.raises(openai_trio.APIError):
                async with await client.chat.completions.create(
                    model="m", messages=MESSAGES, stream=True
                ) as stream:
                    async for _chunk in stream:
                        pass
        assert client.pool_stats().in_use == 0
        assert (await client.models.retrieve("gpt-4o")).id == "gpt-4o"


async def test_unknown_sse_lines_are_ignored_not_fatal() -> None:
    # Lines that are not fields SSE knows are skipped by the format's own
    # rules, whatever bytes they hold; the stream still ends cleanly.
    garbage = b"\x00\xff\xfe garbage \x80\x81\n\n:comment\nfoo: bar\n\n"
    done = b"data: " + json.dumps(CHUNK).encode() + b"\n\ndata: [DONE]\n\n"
    async with fake_client(max_retries=0) as (server, client):
        server.enqueue(FakeResponse.sse([], chunks=[garbage, done]))
        with trio.fail_after(TIME_BOUND):
            async with await client.chat.completions.create(
                model="m", messages=MESSAGES, stream=True
            ) as stream:
                items = [c async for c in stream]
        assert [c.choices[0].delta.content for c in items] == ["hi"]
        assert client.pool_stats() == PoolStats(connections=1, idle=1)


@pytest.mark.parametrize(
    "pieces",
    [
        [sse_head(), b"zz\r\n"],
        [sse_head(), chunked(b"data: " + json.dumps(CHUNK).encode() + b"\n\n"), b"5\r\nda"],
        [sse_head(), chunked(b"data: " + json.dumps(CHUNK).encode() + b"\n\n"), b"5\r\ndata:XX"],
    ],
    ids=["bad-chunk-size", "truncated-chunk", "chunk-missing-crlf"],
)
async def test_broken_framing_inside_a_stream(pieces: list[bytes]) -> None:
    async with fake_client(max_retries=3) as (server, client):
        server.enqueue(FakeResponse.raw(pieces))
        with trio.fail_after(TIME_BOUND):
            with pytest.raises(openai_trio.RemoteProtocolError):
                async with await client.chat.completions.create(
                    model="m", messages=MESSAGES, stream=True
                ) as stream:
                    async for _chunk in stream:
                        pass
        # Never retried once the stream was handed out; connection dropped.
        assert len(server.requests) == 1
        assert client.pool_stats() == PoolStats()


async def _exchange_raw(data: bytes, *, stream: bool) -> object:
    """Send one request to a server whose whole answer is ``data`` and
    return the outcome: the result, or the APIError raised."""
    async with fake_client(max_retries=0) as (server, client):
        server.enqueue(FakeResponse.raw([data]))
        try:
            with trio.fail_after(TIME_BOUND):
                if stream:
                    async with await client.chat.completions.create(
                        model="m", messages=MESSAGES, stream=True
                    ) as response:
                        outcome: object = [item async for item in response]
                else:
                    outcome = await client.request("GET", "/models")
        except openai_trio.APIError as exc:
            outcome = exc
        # Whatever happened, nothing is left in use.
        stats = client.pool_stats()
        assert stats.in_use == stats.connecting == stats.waiting == 0
        if isinstance(
            outcome,
            (
                openai_trio.RemoteProtocolError,
                openai_trio.APIResponseValidationError,
                openai_trio.APIConnectionError,
                openai_trio.APIStreamError,
            ),
        ):
            # Bytes we could not make sense of: that connection is gone.
            assert stats.connections == 0, (outcome, stats)
        return outcome


_interesting = st.one_of(
    st.binary(max_size=300),
    # Mostly valid heads with arbitrary tails, so the fuzzing reaches the
    # body, chunked and SSE paths instead of dying on the status line.
    st.builds(
        lambda status, lines, body: b"HTTP/1.1 " + status + b"\r\n" + b"".join(
            line + b"\r\n" for line in lines
        ) + b"\r\n" + body,
        st.sampled_from([b"200 OK", b"429 Slow", b"500 X", b"204 None", b"101 Up", b"100 C", b"2000"]),
        st.lists(
            st.sampled_from(
                [
                    b"content-length: 5",
                    b"content-length: 0",
                    b"transfer-encoding: chunked",
                    b"content-type: text/event-stream",
                    b"connection: close",
                    b"connection: keep-alive",
                    b"retry-after: 1",
                    b"x-should-retry: true",
                    b"bad header",
                ]
            ),
            max_size=4,
        ),
        st.one_of(
            st.binary(max_size=120),
            st.sampled_from(
                [
                    b'{"object": "list", "data": []}',
                    b'5\r\ndata:\r\n0\r\n\r\n',
                    b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n",
                    b'1b\r\ndata: {"error": "x"}\n\n\r\n0\r\n\r\n',
                ]
            ),
        ),
    ),
)


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=_interesting, stream=st.booleans())
@example(data=b"", stream=False)
@example(data=b"HTTP/1.1 200 OK\r\n\r\n", stream=True)
@example(data=b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}", stream=False)
@example(data=b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}HTTP/1.1 200 OK\r\n\r\n", stream=False)
def test_arbitrary_response_bytes(data: bytes, stream: bool) -> None:
    outcome = trio.run(functools.partial(_exchange_raw, data, stream=stream))
    if isinstance(outcome, BaseException):
        assert isinstance(outcome, openai_trio.APIError), repr(outcome)
