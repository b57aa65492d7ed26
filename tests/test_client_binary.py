"""Binary and empty responses, and streamed calls answered with something
other than an event stream, through openai_trio.Client."""

from __future__ import annotations

import io
import json
import pathlib
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import pytest
import trio

import openai_trio
from openai_sansio import UnexpectedContentTypeError
from openai_trio import Client, PoolStats
from openai_trio._binary import BinaryResponse, StreamedBinaryResponse
from openai_trio.testing import FakeResponse, FakeServer

KEY = "sk-test-binary-0123456789"
MESSAGES: Any = [{"role": "user", "content": "Hi"}]
# Several receive pieces, and not a multiple of the chunk sizes used below.
PAYLOAD = bytes(range(256)) * 1031


@asynccontextmanager
async def fake_client(**kwargs: Any) -> AsyncIterator[tuple[FakeServer, Client]]:
    async with FakeServer() as server:
        kwargs.setdefault("api_key", KEY)
        kwargs.setdefault("base_url", "http://fake.test/v1")
        async with Client(connector=server.connect, **kwargs) as client:
            yield server, client


def binary(data: bytes = PAYLOAD, **kwargs: Any) -> FakeResponse:
    kwargs.setdefault("content_type", "application/octet-stream")
    return FakeResponse(body=(data,), **kwargs)


def streaming(client: Client) -> Any:
    # The views' own typing is the generated surface's business.
    return client.with_streaming_response


def raw_view(client: Client) -> Any:
    return client.with_raw_response


async def upload(client: Client, data: bytes = PAYLOAD) -> str:
    created = await client.files.create(file=("data.bin", data, "application/octet-stream"), purpose="batch")
    assert created.bytes == len(data)
    return created.id


# -- read whole -----------------------------------------------------------------


async def test_file_content_round_trip(tmp_path: pathlib.Path) -> None:
    async with fake_client() as (server, client):
        file_id = await upload(client)
        response = await client.files.content(file_id)
        assert isinstance(response, BinaryResponse)
        assert response.content == PAYLOAD
        assert response.read() == PAYLOAD
        assert response.status_code == 200
        assert response.content_type == "application/octet-stream"
        assert response.request_id == response._request_id is not None
        assert b"".join(response.iter_bytes(1000)) == PAYLOAD
        assert all(len(piece) == 1000 for piece in response.iter_bytes(1000)[:-1])
        target = tmp_path / "out.bin"
        await response.write_to_file(target)
        assert target.read_bytes() == PAYLOAD
        assert server.last_request.path == f"/v1/files/{file_id}/content"
        # The body was read to its end: the connection is reusable.
        assert client.pool_stats() == PoolStats(connections=1, idle=1)


async def test_binary_text_and_json() -> None:
    async with fake_client() as (server, client):
        server.enqueue(binary('{"é": 1}'.encode("latin-1"), content_type="application/json; charset=latin-1"))
        response = await client._call("GET", "/files/f/content", parse=None, response_kind="binary")
        assert response.text == '{"é": 1}'
        server.enqueue(binary(b'{"a": [1]}', content_type="text/plain; charset=nonsense"))
        response = await client._call("GET", "/files/f/content", parse=None, response_kind="binary")
        assert response.json() == {"a": [1]}
        assert response.text == '{"a": [1]}'
        assert "10 bytes" in repr(response)


async def test_empty_binary_body() -> None:
    async with fake_client() as (server, client):
        server.enqueue(binary(b""))
        response = await client.files.content("file-x")
        assert response.content == b""
        assert response.iter_bytes() == []


async def test_binary_error_status_is_typed_and_retried(autojump_clock: trio.testing.MockClock) -> None:
    async with fake_client() as (server, client):
        server.enqueue(FakeResponse.error(503, "busy"), FakeResponse.error(404, "No such File object"))
        with pytest.raises(openai_trio.NotFoundError, match="No such File"):
            await client.files.content("file-missing")
        assert len(server.requests) == 2
        assert client.pool_stats() == PoolStats(connections=1, idle=1)


async def test_raw_binary_response() -> None:
    async with fake_client() as (server, client):
        server.enqueue(binary(b"abc"))
        raw = await raw_view(client).files.content("file-x")
        assert raw.status_code == 200
        assert raw.content == b"abc"
        parsed = raw.parse()
        assert isinstance(parsed, BinaryResponse) and parsed.content == b"abc"


# -- streamed -----------------------------------------------------------------------


async def test_streamed_binary_in_pieces() -> None:
    async with fake_client() as (_server, client):
        file_id = await upload(client)
        async with streaming(client).files.content(file_id) as response:
            assert isinstance(response, StreamedBinaryResponse)
            assert response.status_code == 200
            assert "open" in repr(response)
            pieces = [piece async for piece in response.iter_bytes(chunk_size=4096)]
        assert b"".join(pieces) == PAYLOAD
        assert {len(p) for p in pieces[:-1]} == {4096}
        assert 0 < len(pieces[-1]) <= 4096
        assert response.closed
        assert client.pool_stats() == PoolStats(connections=1, idle=1)


async def test_streamed_binary_as_the_network_delivers_it(autojump_clock: trio.testing.MockClock) -> None:
    async with fake_client() as (server, client):
        server.enqueue(
            FakeResponse(body=(b"ab", b"", b"cde"), chunked=True, content_type="audio/mpeg", delay=1.0)
        )
        async with streaming(client).files.content("file-x") as response:
            pieces = [piece async for piece in response.iter_bytes()]
            # One body, one pass.
            with pytest.raises(openai_trio.LocalProtocolError):
                response.iter_bytes()
        assert pieces == [b"ab", b"cde"]


async def test_streamed_binary_read_and_parse() -> None:
    async with fake_client() as (server, client):
        file_id = await upload(client)
        async with streaming(client).files.content(file_id) as response:
            assert await response.read() == PAYLOAD
        server.enqueue(FakeResponse.json({"object": "list", "data": []}))
        async with streaming(client).models.list() as listing:
            page = await listing.parse()
        assert list(page.data) == []
        assert client.pool_stats() == PoolStats(connections=1, idle=1)


async def test_streamed_write_to_file_does_not_hold_the_body(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pieces = [bytes([i]) * 65536 for i in range(64)]  # 4 MiB
    target = tmp_path / "big.bin"
    handed_out = 0
    lags: list[int] = []
    real_next = StreamedBinaryResponse._next_piece

    async def spy(self: StreamedBinaryResponse) -> bytes | None:
        nonlocal handed_out
        # Everything handed out so far is on disk (give or take the file's
        # write buffer) before the next piece is read.
        lags.append(handed_out - (target.stat().st_size if target.exists() else 0))
        piece = await real_next(self)
        handed_out += len(piece or b"")
        return piece

    monkeypatch.setattr(StreamedBinaryResponse, "_next_piece", spy)
    async with fake_client() as (server, client):
        server.enqueue(FakeResponse(body=pieces, chunked=True, content_type="application/octet-stream"))
        async with streaming(client).files.content("file-x") as response:
            await response.write_to_file(target)
        assert client.pool_stats() == PoolStats(connections=1, idle=1)
    assert target.read_bytes() == b"".join(pieces)
    assert len(lags) > 64
    assert max(lags) <= io.DEFAULT_BUFFER_SIZE


async def test_leaving_early_closes_the_connection() -> None:
    async with fake_client() as (_server, client):
        file_id = await upload(client)
        async with streaming(client).files.content(file_id) as response:
            async for _piece in response.iter_bytes(100):
                break
        assert response.closed
        assert "closed" in repr(response)
        # The rest of the body was never read: that connection is gone.
        assert client.pool_stats() == PoolStats()
        await response.aclose()  # idempotent
        again = await client.files.content(file_id)
        assert again.content == PAYLOAD


async def test_leaving_early_on_cancellation(autojump_clock: trio.testing.MockClock) -> None:
    async with fake_client() as (server, client):
        server.enqueue(FakeResponse(body=(b"a", b"b"), chunked=True, delay=100.0))
        got: list[bytes] = []
        with trio.move_on_after(10) as scope:
            async with streaming(client).files.content("file-x") as response:
                async for piece in response.iter_bytes():
                    got.append(piece)
        assert scope.cancelled_caught
        assert got == [b"a"]
        assert client.pool_stats() == PoolStats()


async def test_streamed_body_cut_short_is_a_protocol_error() -> None:
    async with fake_client() as (server, client):
        server.enqueue(FakeResponse(body=(b"abc", b"def"), chunked=True, close_after=1))
        async with streaming(client).files.content("file-x") as response:
            with pytest.raises(openai_trio.RemoteProtocolError) as info:
                await response.read()
        assert info.value.request is not None
        assert client.pool_stats() == PoolStats()


# -- empty ----------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"", b"{}", b"not json at all"])
async def test_empty_200_is_a_success(body: bytes) -> None:
    async with fake_client() as (server, client):
        server.enqueue(FakeResponse(body=(body,) if body else (), content_type=None))
        result = await client._call("POST", "/realtime/calls/c/accept", body={}, parse=None)
        assert result is None
        assert client.pool_stats() == PoolStats(connections=1, idle=1)
        server.enqueue(FakeResponse(status=204, content_type=None))
        assert await client._call("DELETE", "/containers/c", parse=None, response_kind="empty") is None


async def test_empty_kind_error_is_still_an_error() -> None:
    async with fake_client() as (server, client):
        server.enqueue(FakeResponse.error(400, "bad"))
        with pytest.raises(openai_trio.BadRequestError):
            await client._call("DELETE", "/containers/c", parse=None, response_kind="empty")


# -- streams that are not event streams -------------------------------------------


async def test_stream_answered_with_json_raises_naming_the_type() -> None:
    async with fake_client() as (server, client):
        server.enqueue(FakeResponse.json({"echo": KEY, "id": "chatcmpl-1"}))
        with pytest.raises(UnexpectedContentTypeError) as info:
            await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        error = info.value
        assert isinstance(error, openai_trio.APIResponseValidationError)
        assert error.content_type == "application/json"
        assert "'application/json'" in str(error)
        assert KEY not in str(error) and KEY not in json.dumps(error.body)
        assert "chatcmpl-1" in str(error.body)
        assert len(server.requests) == 1
        # Not the API on the other end: that connection is not reused.
        assert client.pool_stats() == PoolStats()


async def test_stream_without_content_type_raises() -> None:
    async with fake_client() as (server, client):
        server.enqueue(FakeResponse(body=(b"data: {}\n\n",), content_type=None))
        with pytest.raises(UnexpectedContentTypeError, match="no content-type") as info:
            await client.request("POST", "/chat/completions", body={"model": "m"}, stream=True)
        assert info.value.content_type is None


async def test_stream_with_event_stream_type_still_streams() -> None:
    async with fake_client() as (server, client):
        server.enqueue(FakeResponse.sse([{"n": 1}, {"n": 2}]))
        items = []
        async with await client.request("POST", "/x", body={}, stream=True) as stream:
            async for item in stream:
                items.append(item)
        assert items == [{"n": 1}, {"n": 2}]


# -- injectable entropy and clocks ---------------------------------------------------


async def test_injected_entropy_and_clocks(autojump_clock: trio.testing.MockClock) -> None:
    counter = iter(range(1000))
    jitters: list[float] = []

    def random_bytes(n: int) -> bytes:
        return bytes([next(counter)]) * n

    def jitter() -> float:
        jitters.append(0.5)
        return 0.5

    async with fake_client(random_bytes=random_bytes, jitter=jitter, wall_clock=lambda: 1_700_000_000.0) as (
        server,
        client,
    ):
        assert client.random_bytes is random_bytes
        assert client.jitter is jitter
        assert client.wall_clock() == 1_700_000_000.0
        copy = client.with_options(max_retries=1)
        assert copy.random_bytes is random_bytes and copy.jitter is jitter
        server.enqueue(
            FakeResponse.error(429, "slow", headers={"retry-after": "Tue, 14 Nov 2023 22:13:25 GMT"}),
            FakeResponse.error(500, "boom"),
        )
        start = trio.current_time()
        await client.chat.completions.create(model="m", messages=MESSAGES)
        keys = {r.headers["idempotency-key"] for r in server.requests}
        assert keys == {"openai-trio-00000000-0000-4000-8000-000000000000"}
        # 5 s from the injected wall clock's retry-after date, then the
        # backoff 1.0 * (1 - 0.25 * 0.5).
        assert trio.current_time() - start == pytest.approx(5.0 + 0.875)
        assert len(jitters) >= 2
        # The next call draws the next bytes.
        await client.chat.completions.create(model="m", messages=MESSAGES)
        assert server.last_request.headers["idempotency-key"].startswith("openai-trio-01010101-")


async def test_injected_random_bytes_make_the_multipart_boundary() -> None:
    async with fake_client(random_bytes=lambda n: b"\x07" * n) as (server, client):
        await upload(client, b"abc")
        request = server.last_request
        assert request.headers["content-type"] == "multipart/form-data; boundary=" + "07" * 16
        assert request.headers["idempotency-key"].startswith("openai-trio-07070707-")


async def test_streamed_binary_details_and_misuse() -> None:
    async with fake_client() as (server, client):
        server.enqueue(binary(b"xyz", headers={"x-request-id": "req_9"}, content_type="image/png; x=1"))
        response = await client._call(
            "GET", "/files/f/content", parse=None, response_kind="binary", streaming=True
        )
        async with response:
            assert isinstance(response, StreamedBinaryResponse)
            assert response.request_id == response._request_id == "req_9"
            assert response.content_type == "image/png; x=1"
            assert not response.closed
            for bad in (0, -1, True, 1.5):
                with pytest.raises(openai_trio.LocalProtocolError):
                    response.iter_bytes(bad)  # type: ignore[arg-type]
            assert await response.parse() == b"xyz"
            # Read to its end: nothing more comes.
            assert await response._next_piece() is None
        whole = BinaryResponse(b"\xe9", status_code=200, headers=response.headers, request=response.request)
        assert whole.text == "\ufffd"  # no charset named: UTF-8
        with pytest.raises(openai_trio.LocalProtocolError):
            whole.iter_bytes(0)
        assert client.pool_stats() == PoolStats(connections=1, idle=1)
