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

``GET /v1/realtime?model=bench-realtime-<n>`` with a WebSocket upgrade
opens a Realtime session (``_WsSession``): ``session.created`` at once,
``session.updated`` for each ``session.update``, and for each
``response.create`` one buffer of precomputed frames: ``response.created``,
``n`` small ``response.output_text.delta`` events, the done events and
``response.done``.  Pings are answered, a close frame echoed.

A connection that opens with the HTTP/2 preface (h2c with prior knowledge,
as ``openai_trio.Client(h2c=True)`` and httpx's ``http1=False, http2=True``
send it) is served over HTTP/2 through ``h2``: every request gets the small
completion, each on its own stream, with room for thousands of concurrent
streams and windows far larger than any benchmark fills.

``GET /bench/stats`` (HTTP/1.1) answers what the server has seen since the
last ``GET /bench/stats?reset=1``: connections and requests by protocol, so
the runner can tell which protocol a client really spoke.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import sys
from typing import Any

from . import _payloads
from ._proc import raise_fd_limit

__all__ = ["main"]

_MAX_HEAD = 64 * 1024
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_STATS_PATH = "/bench/stats"
# Big enough that no benchmark waits on the server's limits.
_H2_MAX_STREAMS = 100_000
_H2_WINDOW = 2**31 - 1


class Stats:
    """What the server has seen since the last reset (see ``GET /bench/stats``)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.h1_connections = 0  # that sent at least one request other than stats
        self.h1_requests = 0
        self.h2_connections = 0
        self.h2_streams = 0
        # The most requests one socket read completed: concurrency the server saw.
        self.h2_max_requests_per_read = 0

    def as_json(self) -> bytes:
        return json.dumps(vars(self), separators=(",", ":")).encode()


class _Cache:
    def __init__(self) -> None:
        self._streams: dict[int, bytes] = {}
        self._chunks: list[bytes] = []
        self.completion = _payloads.completion_response()
        self.stream_head = _payloads.response_head(stream=True)
        self.completion_body = _payloads.completion_body()
        self.h2_headers = _payloads.h2_completion_headers()
        self.realtime_created = _payloads.realtime_session_created()
        self.realtime_updated = _payloads.realtime_session_updated()
        self._realtime: dict[int, bytes] = {}

    def realtime(self, n: int) -> bytes:
        data = self._realtime.get(n)
        if data is None:
            data = self._realtime[n] = _payloads.realtime_response(n)
        return data

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
    def __init__(self, cache: _Cache, stats: Stats) -> None:
        self._cache = cache
        self._stats = stats
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None
        self._busy = False  # a slow stream is being written
        self._closing = False
        self._counted = False
        # True until the first bytes tell HTTP/1.1 from the HTTP/2 preface.
        self._sniffing = True
        self._h2: _H2Session | None = None
        self._ws: _WsSession | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True

    def data_received(self, data: bytes) -> None:
        if self._h2 is not None:
            self._h2.received(data)
            return
        if self._ws is not None:
            self._ws.received(data)
            return
        self._buf += data
        if self._sniffing:
            head = bytes(self._buf[: len(_H2_PREFACE)])
            if not _H2_PREFACE.startswith(head):
                self._sniffing = False
            elif len(head) < len(_H2_PREFACE):
                return  # too little to tell yet
            else:
                assert self._transport is not None
                self._h2 = _H2Session(self._transport, self._cache, self._stats)
                data, self._buf = bytes(self._buf), bytearray()
                self._h2.received(data)
                return
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
            ws_key = ""
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection" and value.strip().lower() == "close":
                    close = True
                elif name == "sec-websocket-key":
                    ws_key = value.strip()
            if ws_key and method == "GET" and target.startswith("/v1/realtime"):
                del self._buf[: end + 4]
                rest, self._buf = bytes(self._buf), bytearray()
                self._ws = _WsSession(transport, self._cache, target, ws_key)
                if rest:
                    self._ws.received(rest)
                return
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
        if target.startswith(_STATS_PATH):
            body = self._stats.as_json()
            if target.endswith("?reset=1"):
                self._stats.reset()
            transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            return
        if not self._counted:
            self._counted = True
            self._stats.h1_connections += 1
        self._stats.h1_requests += 1
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


_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class _WsSession:
    """One Realtime WebSocket session: a bare RFC 6455 server side.

    The clients are well-behaved, so only what they send is handled: whole
    (unfragmented) masked frames; text, ping and close.  Answers are
    precomputed bytes, one write per client event.
    """

    def __init__(self, transport: asyncio.Transport, cache: _Cache, target: str, key: str) -> None:
        self._transport = transport
        self._cache = cache
        self._buf = bytearray()
        query = target.partition("?")[2]
        model = next((v for k, _, v in (p.partition("=") for p in query.split("&")) if k == "model"), "")
        self._deltas = int(model.rsplit("-", 1)[1]) if model.startswith("bench-realtime-") else 20
        accept = base64.b64encode(hashlib.sha1(key.encode() + _WS_GUID).digest())
        transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\nx-request-id: req_bench_realtime\r\n"
            b"openai-version: 2020-10-01\r\n\r\n" + cache.realtime_created
        )

    def received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        while len(buf) >= 2:
            opcode = buf[0] & 0x0F
            n = buf[1] & 0x7F
            at = 2
            if n == 126:
                if len(buf) < 4:
                    return
                n, at = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n, at = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < at + 4 + n:
                return
            mask = bytes(buf[at : at + 4])
            masked = bytes(buf[at + 4 : at + 4 + n])
            del buf[: at + 4 + n]
            pad = (mask * ((n + 3) // 4))[:n]
            payload = (int.from_bytes(masked, "little") ^ int.from_bytes(pad, "little")).to_bytes(n, "little")
            if opcode == 0x1:
                self._event(payload)
            elif opcode == 0x9:
                self._transport.write(_payloads.ws_frame(payload, 0xA))
            elif opcode == 0x8:
                self._transport.write(_payloads.ws_frame(payload[:2], 0x8))
                self._transport.close()
                return

    def _event(self, payload: bytes) -> None:
        kind = json.loads(payload).get("type")
        if kind == "response.create":
            self._transport.write(self._cache.realtime(self._deltas))
        elif kind == "session.update":
            self._transport.write(self._cache.realtime_updated)


class _SteadyEncoder:
    """hpack's encoder, skipped once a header list encodes the same way twice.

    Every response carries the same header list.  After the first block has
    put those fields into the dynamic table, each later block is nothing but
    references to it and leaves the table as it was, so the bytes repeat and
    can be reused exactly as encoded, a real server's compression at no cost
    per response.  A change of the table size starts over.
    """

    def __init__(self) -> None:
        import hpack

        self._real = hpack.Encoder()
        self._last: list[Any] | None = None
        self._block = b""
        self._steady = False

    @property
    def header_table_size(self) -> int:
        size: int = self._real.header_table_size
        return size

    @header_table_size.setter
    def header_table_size(self, value: int) -> None:
        self._real.header_table_size = value
        self._last = None
        self._steady = False

    def encode(self, headers: Any, huffman: bool = True) -> bytes:
        headers = list(headers)
        if headers == self._last:
            if not self._steady:
                block = self._real.encode(headers, huffman)
                self._steady = block == self._block
                self._block = block
            return self._block
        self._last = headers
        self._steady = False
        self._block = self._real.encode(headers, huffman)
        return self._block


class _H2Session:
    """One HTTP/2 connection: h2's server side, answering every stream at once."""

    def __init__(self, transport: asyncio.Transport, cache: _Cache, stats: Stats) -> None:
        import h2.config
        import h2.connection
        import h2.events
        import h2.exceptions
        import h2.settings

        self._events = h2.events
        self._closed = h2.exceptions.StreamClosedError
        self._transport = transport
        self._stats = stats
        self._headers = cache.h2_headers
        self._body = cache.completion_body
        # The clients are ours and well-behaved; checking their headers (and
        # our own fixed ones) would only add server time.
        config = h2.config.H2Configuration(
            client_side=False,
            header_encoding=None,
            validate_inbound_headers=False,
            normalize_inbound_headers=False,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
        )
        conn = h2.connection.H2Connection(config)
        codes = h2.settings.SettingCodes
        conn.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                codes.MAX_CONCURRENT_STREAMS: _H2_MAX_STREAMS,
                codes.INITIAL_WINDOW_SIZE: _H2_WINDOW,
                codes.MAX_HEADER_LIST_SIZE: 65536,
            },
        )
        conn.encoder = _SteadyEncoder()  # type: ignore[assignment]
        conn.initiate_connection()
        conn.increment_flow_control_window(_H2_WINDOW - 65535)
        self._conn = conn
        # Responses whose body waits for the client's flow-control window.
        self._pending: dict[int, bytes] = {}
        stats.h2_connections += 1
        transport.write(conn.data_to_send())

    def received(self, data: bytes) -> None:
        ev = self._events
        conn = self._conn
        try:
            events: list[Any] = conn.receive_data(data)
        except Exception:  # a protocol error: h2 has queued its GOAWAY
            self._transport.write(conn.data_to_send())
            self._transport.close()
            return
        completed = 0
        for event in events:
            kind = type(event)
            if kind is ev.DataReceived:
                if event.flow_controlled_length:
                    # h2 sends WINDOW_UPDATEs only once half a window is used.
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif kind is ev.StreamEnded:
                completed += 1
                try:
                    self._respond(event.stream_id)
                except self._closed:
                    pass  # reset by the client while its request was arriving
            elif kind is ev.WindowUpdated:
                if self._pending:
                    self._flush()
            elif kind is ev.StreamReset:
                self._pending.pop(event.stream_id, None)
            elif kind is ev.ConnectionTerminated:
                self._transport.write(conn.data_to_send())
                self._transport.close()
                return
        if completed:
            stats = self._stats
            stats.h2_streams += completed
            if completed > stats.h2_max_requests_per_read:
                stats.h2_max_requests_per_read = completed
        out = conn.data_to_send()
        if out:
            self._transport.write(out)

    def _respond(self, stream_id: int) -> None:
        conn = self._conn
        conn.send_headers(stream_id, self._headers)
        body = self._body
        if self._pending or conn.local_flow_control_window(stream_id) < len(body):
            # Whatever the window takes now; the rest as the client's updates come.
            self._pending[stream_id] = body
            self._flush()
        else:
            conn.send_data(stream_id, body, end_stream=True)

    def _flush(self) -> None:
        conn = self._conn
        for stream_id, body in list(self._pending.items()):
            if conn.outbound_flow_control_window <= 0:
                break  # the connection's window is spent: wait for the next update
            window = min(conn.local_flow_control_window(stream_id), conn.max_outbound_frame_size)
            if window <= 0:
                continue  # this stream's window is spent, others may still go
            if window >= len(body):
                conn.send_data(stream_id, body, end_stream=True)
                del self._pending[stream_id]
            else:
                conn.send_data(stream_id, body[:window])
                self._pending[stream_id] = body[window:]


async def _serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    cache = _Cache()
    stats = Stats()
    server = await loop.create_server(
        lambda: _Connection(cache, stats), "127.0.0.1", port, backlog=1024, reuse_address=True
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
