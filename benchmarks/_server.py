"""A cheap OpenAI-compatible fake server for the benchmarks.

Runs in its own process (``python -m benchmarks._server``), prints
``PORT <n>`` on stdout once listening, and serves until stdin closes or it
is terminated.  Plain asyncio protocols and precomputed bytes keep its own
cost small so the client is what gets measured.

The ``model`` field of a ``POST .../chat/completions`` body picks the reply:

* ``bench-stream-<n>`` with ``"stream": true``: ``n`` content chunks, all
  written at once (as fast as the socket takes them).
* ``bench-slow-<n>-<ms>``: ``n`` content chunks, one every ``ms``
  milliseconds, scheduled against the clock so the server itself does not
  drift.
* anything else: a small non-streaming ``chat.completion``.
"""

from __future__ import annotations

import asyncio
import json
import sys

from . import _payloads
from ._proc import raise_fd_limit

__all__ = ["main"]

_MAX_HEAD = 64 * 1024


class _Cache:
    def __init__(self) -> None:
        self._streams: dict[int, bytes] = {}
        self._chunks: list[bytes] = []
        self.completion = _payloads.completion_response()
        self.stream_head = _payloads.response_head(stream=True)

    def stream(self, n: int) -> bytes:
        data = self._streams.get(n)
        if data is None:
            data = self._streams[n] = _payloads.stream_response(n)
        return data

    def chunk(self, i: int) -> bytes:
        while len(self._chunks) <= i:
            k = len(self._chunks)
            self._chunks.append(_payloads.http_chunk(_payloads.chat_chunk(k, first=k == 0)))
        return self._chunks[i]


class _Connection(asyncio.Protocol):
    def __init__(self, cache: _Cache) -> None:
        self._cache = cache
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None
        self._busy = False  # a slow stream is being written
        self._closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if not self._busy:
            self._process()

    def _process(self) -> None:
        transport = self._transport
        assert transport is not None
        while not self._busy and not self._closing:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > _MAX_HEAD:
                    transport.close()
                return
            head = bytes(self._buf[:end]).decode("latin-1")
            lines = head.split("\r\n")
            method, target = lines[0].split(" ")[:2]
            length = 0
            close = False
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection" and value.strip().lower() == "close":
                    close = True
            if len(self._buf) < end + 4 + length:
                return
            body = bytes(self._buf[end + 4 : end + 4 + length])
            del self._buf[: end + 4 + length]
            self._respond(method, target, body)
            if close:
                transport.close()
                return

    def _respond(self, method: str, target: str, body: bytes) -> None:
        transport = self._transport
        assert transport is not None
        model = ""
        stream = False
        if method == "POST" and body:
            try:
                parsed = json.loads(body)
                model = str(parsed.get("model", ""))
                stream = bool(parsed.get("stream", False))
            except ValueError:
                pass
        if stream and model.startswith("bench-stream-"):
            transport.write(self._cache.stream(int(model.rsplit("-", 1)[1])))
        elif stream and model.startswith("bench-slow-"):
            _, _, n, ms = model.split("-")
            self._busy = True
            asyncio.get_running_loop().create_task(self._slow(int(n), int(ms) / 1000.0))
        else:
            transport.write(self._cache.completion)

    async def _slow(self, n: int, interval: float) -> None:
        transport = self._transport
        assert transport is not None
        loop = asyncio.get_running_loop()
        start = loop.time()
        transport.write(self._cache.stream_head + self._cache.chunk(0))
        for k in range(1, n):
            delay = start + k * interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if self._closing:
                return
            transport.write(self._cache.chunk(k))
        transport.write(_payloads.LAST_CHUNK + _payloads.DONE_CHUNK)
        self._busy = False
        self._process()


async def _serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    cache = _Cache()
    server = await loop.create_server(
        lambda: _Connection(cache), "127.0.0.1", port, backlog=1024, reuse_address=True
    )
    bound = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"PORT {bound}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    # Stop when the parent closes our stdin (or dies).
    try:
        loop.add_reader(sys.stdin.fileno(), stop.set)
    except (OSError, ValueError):
        pass  # stdin is a file or closed: run until terminated
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    port = int(args[0]) if args else 0
    raise_fd_limit()
    try:
        asyncio.run(_serve(port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
