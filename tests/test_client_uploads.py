"""Uploads through openai_trio.Client: multipart and raw bodies streamed to
the fake server, files read in bounded pieces, and what happens when a body
cannot be read again."""

from __future__ import annotations

import io
import os
import pathlib
import subprocess
import sys
import textwrap
from typing import Any, AsyncIterator

import pytest
import trio

import openai_trio
from openai_sansio import LocalProtocolError, encode_multipart
from openai_trio._connection import SEND_CHUNK
from openai_trio.testing import FakeResponse, FakeServer

FILE_OBJECT = {"id": "file-abc", "object": "file", "bytes": 0, "filename": "x", "purpose": "batch"}
RANDOM = bytes(range(16))


def client(server: FakeServer, **kwargs: Any) -> openai_trio.Client:
    kwargs.setdefault("max_retries", 0)
    return openai_trio.Client(api_key="sk-test", base_url="http://fake/v1", connector=server.connect, **kwargs)


async def upload(c: openai_trio.Client, fields: dict[str, Any], **kwargs: Any) -> Any:
    return await c._call(
        "POST", "/files", multipart=encode_multipart(fields, random_bytes=RANDOM), parse=dict, **kwargs
    )


async def test_multipart_upload_reaches_the_server(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "batch.jsonl"
    data = b"".join(b'{"custom_id":"%d"}\n' % i for i in range(20_000))  # several send pieces
    assert len(data) > 3 * SEND_CHUNK
    path.write_bytes(data)
    async with FakeServer() as server, client(server) as c:
        server.route("POST", "/v1/files", FakeResponse.json(FILE_OBJECT))
        result = await upload(c, {"purpose": "batch", "file": path})
        assert result["id"] == "file-abc"
        request = server.last_request
        assert request.headers["content-type"] == f"multipart/form-data; boundary={RANDOM.hex()}"
        assert int(request.headers["content-length"]) == len(request.body)
        assert "transfer-encoding" not in request.headers
        assert request.headers.get("idempotency-key")
        purpose, file = request.form()
        assert (purpose.name, purpose.text) == ("purpose", "batch")
        assert (file.name, file.filename, file.data) == ("file", "batch.jsonl", data)


async def test_every_file_source_kind(tmp_path: pathlib.Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"from a path")
    buffer = io.BytesIO(b"skip:from a buffer")
    buffer.seek(5)

    async def chunks() -> AsyncIterator[bytes]:
        yield b"from "
        yield b""
        yield bytearray(b"an async ")
        yield b"iterable" * 10_000  # larger than one send piece

    class Pipe:
        """Readable once, no seeking, no size (a pipe, a socket file)."""

        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def read(self, size: int = -1) -> bytes:
            return self._data.read(min(size, 1000))

    class Chunks:
        """An async iterable without aclose()."""

        def __init__(self) -> None:
            self._left = [b"plain ", b"async iterable"]

        def __aiter__(self) -> Chunks:
            return self

        async def __anext__(self) -> bytes:
            if not self._left:
                raise StopAsyncIteration
            return self._left.pop(0)

    async with FakeServer() as server, client(server) as c:
        server.route("POST", "/v1/files", FakeResponse.json(FILE_OBJECT))
        with (tmp_path / "a.txt").open("rb") as real:
            await upload(c, {
                "pipe": Pipe(b"p" * 150_000),
                "plain": Chunks(),
                "path": tmp_path / "a.txt",
                "real": real,
                "buffer": buffer,
                "bytes": ("b.bin", b"from bytes", "application/x-thing"),
                "stream": ("s.wav", chunks(), "audio/wav"),
                "n": 3,
            })
        request = server.last_request
        # An async iterable has no length: the body goes chunked.
        assert request.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in request.headers
        got = {p.name: (p.filename, p.content_type, p.data) for p in request.form()}
        assert got == {
            "pipe": ("upload", "application/octet-stream", b"p" * 150_000),
            "plain": ("upload", "application/octet-stream", b"plain async iterable"),
            "path": ("a.txt", "text/plain", b"from a path"),
            "real": ("a.txt", "text/plain", b"from a path"),
            "buffer": ("upload", "application/octet-stream", b"from a buffer"),
            "bytes": ("b.bin", "application/x-thing", b"from bytes"),
            "stream": ("s.wav", "audio/wav", b"from an async " + b"iterable" * 10_000),
            "n": (None, None, b"3"),
        }


async def test_raw_content_body() -> None:
    sdp = b"v=0\r\no=- 46117 2 IN IP4 127.0.0.1\r\ns=-\r\n"
    async with FakeServer() as server, client(server) as c:
        server.route("POST", "/v1/realtime/calls", FakeResponse.json({"ok": True}))
        result = await c._call(
            "POST", "/realtime/calls", content=sdp, content_type="application/sdp", parse=dict
        )
        assert result == {"ok": True}
        request = server.last_request
        assert request.headers["content-type"] == "application/sdp"
        assert request.body == sdp


async def test_connection_is_reused_after_a_streamed_upload(tmp_path: pathlib.Path) -> None:
    async with FakeServer() as server, client(server) as c:
        server.route("POST", "/v1/files", FakeResponse.json(FILE_OBJECT))
        await upload(c, {"file": b"x" * 100_000})
        await upload(c, {"file": ("f", io.BytesIO(b"y"))})
        assert [r.connection for r in server.requests] == [1, 1]
        assert server.requests[1].form()[0].data == b"y"


async def test_a_replayable_body_is_sent_again_on_retry(tmp_path: pathlib.Path, autojump_clock: Any) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(200_000))
    buffer = io.BytesIO(b"buffered")
    async with FakeServer() as server, client(server, max_retries=2) as c:
        server.enqueue(FakeResponse.error(500, "try again"), FakeResponse.json(FILE_OBJECT))
        await upload(c, {"file": path, "other": buffer})
        first, second = server.requests
        assert first.body == second.body
        assert second.headers["x-retry-count"] == "1"
        assert second.form()[0].data == path.read_bytes()
        assert second.form()[1].data == b"buffered"


async def test_a_body_read_once_is_not_retried(autojump_clock: Any) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"only once"

    async with FakeServer() as server, client(server, max_retries=3) as c:
        server.enqueue(FakeResponse.error(500, "try again"), FakeResponse.json(FILE_OBJECT))
        with pytest.raises(openai_trio.InternalServerError):
            await upload(c, {"file": chunks()})
        assert len(server.requests) == 1
        assert server.requests[0].form()[0].data == b"only once"


async def test_a_body_read_once_is_not_resent_on_a_stale_connection(autojump_clock: Any) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"only once"

    async with FakeServer() as server, client(server, max_retries=3) as c:
        server.route("POST", "/v1/files", FakeResponse.json(FILE_OBJECT))
        await upload(c, {"file": b"warm the connection up"})
        # The reused connection is closed without an answer, as an idle
        # connection the peer shut would be.
        server.enqueue(FakeResponse.raw([]))
        with pytest.raises(openai_trio.APIConnectionError):
            await upload(c, {"file": chunks()})
        assert len(server.requests) == 2
        # A replayable body in the same spot goes out again on a fresh
        # connection, as a counted retry (the server may have read it).
        await upload(c, {"file": b"warm connection 2 up"})
        server.enqueue(FakeResponse.raw([]))
        await upload(c, {"file": b"again"})
        resent = server.requests[3:]
        assert [r.connection for r in resent] == [2, 3]
        assert [r.headers["x-retry-count"] for r in resent] == ["0", "1"]
        assert resent[0].body == resent[1].body


class _StopsReading(trio.abc.Stream):
    """A peer that takes ``limit`` bytes, then has ``answer`` to read and
    refuses the rest of the request (as a server that answered early and
    closed)."""

    def __init__(self, limit: int, answer: bytes) -> None:
        self._limit = limit
        self._answer = answer
        self.taken = 0

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await trio.lowlevel.checkpoint()
        if self.taken + len(data) > self._limit:
            raise trio.BrokenResourceError("connection reset by peer")
        self.taken += len(data)

    async def wait_send_all_might_not_block(self) -> None:  # pragma: no cover - unused
        await trio.lowlevel.checkpoint()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.lowlevel.checkpoint()
        answer, self._answer = self._answer, b""
        return answer

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


def _stops_reading_client(peers: list[_StopsReading], answer: bytes) -> openai_trio.Client:
    async def connect(origin: object) -> trio.abc.Stream:
        peers.append(_StopsReading(100_000, answer))
        return peers[-1]

    return openai_trio.Client(api_key="sk-test", base_url="http://fake/v1", connector=connect, max_retries=2)


async def test_an_answer_sent_before_the_body_was_read_is_reported(autojump_clock: Any) -> None:
    answer = (
        b"HTTP/1.1 413 Payload Too Large\r\ncontent-type: application/json\r\nconnection: close\r\n"
        b'content-length: 45\r\n\r\n{"error":{"message":"too big","type":"big"}}\n'
    )
    peers: list[_StopsReading] = []
    async with _stops_reading_client(peers, answer) as c:
        with pytest.raises(openai_trio.APIStatusError) as info:
            await upload(c, {"file": b"x" * 1_000_000})
        assert info.value.status_code == 413
        assert "too big" in str(info.value)
        # The body was cut short, so the connection is not kept.
        assert c.pool_stats().connections == 0
        assert len(peers) == 1


async def test_a_body_write_that_fails_without_an_answer_is_a_connection_error(autojump_clock: Any) -> None:
    peers: list[_StopsReading] = []
    async with _stops_reading_client(peers, b"") as c:
        with pytest.raises(openai_trio.APIConnectionError, match="while sending"):
            await upload(c, {"file": b"x" * 1_000_000})
        # A replayable body is retried as the policy allows.
        assert len(peers) == 3
        assert c.pool_stats().connections == 0


async def test_an_early_answer_over_loopback_tcp(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "big.bin"
    with path.open("wb") as f:
        f.truncate(32 * 1024 * 1024)  # more than the socket buffers hold
    async with FakeServer(max_body_size=1000) as server:
        await server.serve_tcp()
        async with openai_trio.Client(api_key="sk-test", base_url=server.base_url, max_retries=0) as c:
            with pytest.raises(openai_trio.APIStatusError, match="over the limit") as info:
                await upload(c, {"file": path})
            assert info.value.status_code == 413


async def test_a_file_that_shrank_breaks_the_connection(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 1000)
    body = encode_multipart({"file": path}, random_bytes=RANDOM)
    path.write_bytes(b"x" * 10)
    async with FakeServer() as server, client(server) as c:
        server.route("POST", "/v1/files", FakeResponse.json(FILE_OBJECT))
        with pytest.raises(LocalProtocolError, match="990 bytes short"):
            await c._call("POST", "/files", multipart=body, parse=dict)
        # Half a request went out: that connection is gone, the next call opens another.
        assert c.pool_stats().connections == 0
        await upload(c, {"file": b"ok"})
        assert server.connections_opened == 2


async def test_a_file_that_grew_is_cut_at_its_announced_size(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 10)
    body = encode_multipart({"file": path}, random_bytes=RANDOM)
    path.write_bytes(b"x" * 20)
    async with FakeServer() as server, client(server) as c:
        server.route("POST", "/v1/files", FakeResponse.json(FILE_OBJECT))
        await c._call("POST", "/files", multipart=body, parse=dict)
        assert server.last_request.form()[0].data == b"x" * 10


async def test_a_deleted_file_is_a_local_error(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x")
    body = encode_multipart({"file": path}, random_bytes=RANDOM)
    path.unlink()
    async with FakeServer() as server, client(server, max_retries=2) as c:
        with pytest.raises(LocalProtocolError, match=r"f\.bin") as info:
            await c._call("POST", "/files", multipart=body, parse=dict)
        assert isinstance(info.value.__cause__, FileNotFoundError)
        assert server.requests == []


async def test_bad_chunks_from_an_async_iterable() -> None:
    async def chunks() -> AsyncIterator[Any]:
        yield "text, not bytes"

    async with FakeServer() as server, client(server) as c:
        with pytest.raises(LocalProtocolError, match="yielded str"):
            await upload(c, {"file": chunks()})


async def test_file_object_read_errors_and_bad_reads() -> None:
    class Broken:
        def read(self, size: int = -1) -> bytes:
            raise OSError("device gone")

    class Texty:
        def read(self, size: int = -1) -> str:
            return "text"

    async with FakeServer() as server, client(server) as c:
        with pytest.raises(LocalProtocolError, match="device gone"):
            await upload(c, {"file": Broken()})
        with pytest.raises(LocalProtocolError, match="returned str"):
            await upload(c, {"file": Texty()})


async def test_cancelled_mid_body_breaks_the_connection_and_closes_the_source() -> None:
    closed = trio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        try:
            yield b"first"
            await trio.sleep_forever()
            yield b"never"  # pragma: no cover
        finally:
            closed.set()

    async with FakeServer() as server, client(server) as c:
        with trio.move_on_after(0.5) as scope:
            await upload(c, {"file": chunks()})
        assert scope.cancelled_caught
        assert closed.is_set()
        assert c.pool_stats().connections == 0


async def test_write_timeout_on_a_streamed_upload(autojump_clock: Any) -> None:
    # A server that never reads: the writes stall once the buffers are full.
    async def connect(origin: object) -> trio.abc.Stream:
        left, _right = trio.testing.lockstep_stream_pair()
        return left

    c = openai_trio.Client(
        api_key="sk-test", base_url="http://fake/v1", connector=connect, max_retries=0,
        timeout=openai_trio.Timeout(None, write=2.0),
    )
    async with c:
        with pytest.raises(openai_trio.APITimeoutError, match="write"):
            await upload(c, {"file": b"x" * 10})
        assert c.pool_stats().connections == 0


def test_encoding_never_reads_file_content() -> None:
    class NoReading(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise AssertionError("the core read the file")

    source = NoReading(b"abcdef")
    body = encode_multipart({"file": source}, random_bytes=RANDOM)
    assert body.length is not None and body.replayable
    assert source.tell() == 0


# -- memory: a 200 MiB upload never lives in memory --------------------------------

_MEMORY_SCRIPT = textwrap.dedent(
    """
    import functools, os, pathlib, sys
    import h11, trio
    import openai_trio
    from openai_sansio import encode_multipart

    SIZE = int(sys.argv[2])

    def status(field):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        raise LookupError(field)

    async def serve(stream):
        # Discards the body: counts it and answers once it is complete.  It
        # keeps the connection for the next request: closing it silently
        # after each answer would race the client's reuse of it (a POST
        # written to a connection the server is closing is not sent again
        # with max_retries=0).
        conn = h11.Connection(h11.SERVER)
        received = 0
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(65536)
                if not data:
                    return
                conn.receive_data(data)
            elif isinstance(event, h11.Data):
                received += len(event.data)
            elif isinstance(event, h11.EndOfMessage):
                body = b'{"received": %d}' % received
                await stream.send_all(conn.send(h11.Response(status_code=200, headers=[
                    ("content-type", "application/json"), ("content-length", str(len(body)))])))
                await stream.send_all(conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
                conn.start_next_cycle()
                received = 0
            elif isinstance(event, h11.ConnectionClosed):
                return

    async def main():
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(functools.partial(trio.serve_tcp, serve, 0, host="127.0.0.1"))
            port = listeners[0].socket.getsockname()[1]
            async with openai_trio.Client(api_key="sk-test", base_url=f"http://127.0.0.1:{port}/v1",
                                          max_retries=0) as client:
                # Warm up every code path with a small upload first.
                small = encode_multipart({"file": ("warm", b"x" * 200_000)}, random_bytes=os.urandom(16))
                await client._call("POST", "/files", multipart=small, parse=dict)
                before = status("VmRSS")
                body = encode_multipart({"purpose": "batch", "file": pathlib.Path(sys.argv[1])},
                                        random_bytes=os.urandom(16))
                result = await client._call("POST", "/files", multipart=body, parse=dict)
                peak = status("VmHWM")
            nursery.cancel_scope.cancel()
        assert result["received"] == body.length, (result, body.length)
        assert body.length > SIZE
        print(peak - before)

    trio.run(main)
    """
)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc/self/status")
def test_a_200_mib_upload_grows_rss_by_less_than_20_mib(tmp_path: pathlib.Path) -> None:
    size = 200 * 1024 * 1024
    path = tmp_path / "big.bin"
    with path.open("wb") as f:
        f.truncate(size)  # sparse: no disk space, reads as zeros
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, str(path), str(size)],
        capture_output=True, text=True, timeout=540, check=False,
        cwd=pathlib.Path(__file__).resolve().parent.parent,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    growth = int(out.stdout.strip().splitlines()[-1])
    # The high-water mark during the upload against the resident size just
    # before it: an upper bound on what the upload added.
    assert growth < 20 * 1024 * 1024, f"RSS grew by {growth / 2**20:.1f} MiB"
