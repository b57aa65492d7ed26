"""The fake server's HTTP/2 side: h2's server state machine driven by trio.

One :class:`H2Session` per connection.  It reads frames in one task and
answers each request in a task of its own (so streams interleave), with the
same answers, scripted faults and ``FakeResponse`` semantics as the
HTTP/1.1 side, sending DATA only as the client's flow-control windows
allow.  The HTTP/2 faults (GOAWAY, RST_STREAM) are acted on here.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import hpack
import hyperframe.frame
import trio

from openai_sansio import Headers

from ._faults import Fault, GoAway, ResetStream
from ._responses import FakeResponse, ReceivedRequest

if TYPE_CHECKING:
    from ._server import FakeServer, Handler

__all__ = ["H2Session", "PREFACE"]

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_RECEIVE_SIZE = 65536
# Headers that name HTTP/1.1 connection features and are forbidden in HTTP/2.
_CONNECTION_SPECIFIC = frozenset({"connection", "transfer-encoding", "keep-alive", "proxy-connection", "upgrade"})
_GONE = (trio.BrokenResourceError, trio.ClosedResourceError)


class _PlainEncoder(hpack.Encoder):
    """HPACK without Huffman coding: valid, a little larger, and far cheaper
    in pure Python for the huge header values faults send."""

    def encode(self, headers: Any, huffman: bool = True) -> bytes:
        return super().encode(headers, huffman=False)


class _Stream:
    __slots__ = ("body", "headers", "id", "reset", "too_big")

    def __init__(self, stream_id: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.id = stream_id
        self.headers = headers
        self.body = bytearray()
        self.reset = False
        self.too_big = False


class H2Session:
    """Serve HTTP/2 on one connection for ``server``."""

    def __init__(self, server: FakeServer, stream: trio.abc.Stream, number: int) -> None:
        self._server = server
        self._transport = stream
        self._number = number
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        # Scripted headers are the test's business; so are oversized ones.
        config.validate_outbound_headers = False
        config.normalize_outbound_headers = False
        self._h2 = h2.connection.H2Connection(config)
        self._h2.encoder = _PlainEncoder()
        self._streams: dict[int, _Stream] = {}
        self._lock = trio.Lock()
        self._window = trio.Event()
        self._dead = False
        self._answering = 0
        # The last stream id of a GOAWAY this side sent, once it did.
        self._goaway_last: int | None = None
        # The highest stream id handed to the application so far.
        self._max_dispatched = 0
        self._nursery: trio.Nursery | None = None

    # -- plumbing -----------------------------------------------------------

    async def _flush(self, extra: bytes = b"") -> None:
        async with self._lock:
            data = self._h2.data_to_send() + extra
            if data and not self._dead:
                try:
                    await self._transport.send_all(data)
                except _GONE:
                    self._drop()

    def _drop(self) -> None:
        """Stop serving this connection (the transport is closed on the way out)."""
        self._dead = True
        self._wake()
        # Only ever called from inside run(), which set the nursery.
        assert self._nursery is not None
        self._nursery.cancel_scope.cancel()

    def _wake(self) -> None:
        self._window.set()
        self._window = trio.Event()

    # -- reading ------------------------------------------------------------

    async def run(self, initial: bytes) -> None:
        """Serve until either side closes; ``initial`` is what was read
        while telling HTTP/2 from HTTP/1.1 (the preface included)."""
        self._h2.initiate_connection()
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            data = initial
            while not self._dead:
                if not data:
                    data = await self._receive()
                    if not data:
                        break
                try:
                    events = self._h2.receive_data(data)
                except h2.exceptions.ProtocolError as exc:
                    self._server.handler_errors.append(exc)
                    await self._flush()
                    break
                data = b""
                for event in events:
                    self._handle(event, nursery)
                await self._flush()
            self._drop()

    async def _receive(self) -> bytes:
        try:
            return bytes(await self._transport.receive_some(_RECEIVE_SIZE))
        except _GONE:
            return b""

    def _handle(self, event: h2.events.Event, nursery: trio.Nursery) -> None:
        if isinstance(event, h2.events.RequestReceived):
            assert event.stream_id is not None
            new = _Stream(event.stream_id, list(event.headers or []))
            self._streams[new.id] = new
            if event.stream_ended is not None:
                self._dispatch(new, nursery)
        elif isinstance(event, h2.events.DataReceived):
            sid = event.stream_id or 0
            self._h2.acknowledge_received_data(event.flow_controlled_length or 0, sid)
            found = self._streams.get(sid)
            if found is not None and not found.too_big:
                found.body += event.data or b""
                if len(found.body) > self._server._max_body:
                    found.too_big = True
                    found.body.clear()
            if found is not None and event.stream_ended is not None:
                self._dispatch(found, nursery)
        elif isinstance(event, h2.events.StreamEnded):
            pass  # reported with the event that carried END_STREAM
        elif isinstance(event, h2.events.StreamReset):
            reset = self._streams.get(event.stream_id or 0)
            if reset is not None:
                reset.reset = True
            self._wake()
        elif isinstance(event, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
            self._wake()
        elif isinstance(event, h2.events.ConnectionTerminated):
            # The client said goodbye: what it still waits for is not wanted.
            self._drop()

    def _dispatch(self, found: _Stream, nursery: trio.Nursery) -> None:
        if self._goaway_last is not None and found.id > self._goaway_last:
            # Sent after our GOAWAY: refused, never seen by the application.
            self._reset(found, h2.errors.ErrorCodes.REFUSED_STREAM)
            self._streams.pop(found.id, None)
            return
        fields = {name: value for name, value in found.headers if name.startswith(b":")}
        request = ReceivedRequest(
            method=fields.get(b":method", b"").decode("ascii", "replace"),
            target=fields.get(b":path", b"").decode("ascii", "replace"),
            headers=Headers.from_raw([(n, v) for n, v in found.headers if not n.startswith(b":")]),
            body=bytes(found.body),
            http_version="2",
            connection=self._number,
        )
        # Recorded and given its fault in arrival order, as over HTTP/1.1.
        self._server._record(request)
        fault = self._server._choose_fault(request)
        if isinstance(fault, GoAway):
            self._goaway(found, fault)
            if fault.unprocessed:
                self._streams.pop(found.id, None)
                return
        self._max_dispatched = max(self._max_dispatched, found.id)
        self._answering += 1
        # Chosen now, in arrival order (the tasks may start in any order);
        # a request refused unprocessed or over the size limit takes none.
        skip = found.too_big or (isinstance(fault, ResetStream) and fault.unprocessed)
        answer = None if skip else self._server._choose_answer(request)
        nursery.start_soon(self._respond, found, request, fault, answer)

    def _goaway(self, found: _Stream, fault: GoAway) -> None:
        if fault.last_stream == "above":
            last = max(found.id, self._max_dispatched)
        else:
            # Never below a stream already being answered: that would tell
            # the client a request the server acted on was not processed.
            last = self._max_dispatched
            if last > found.id:
                self._reset(found, h2.errors.ErrorCodes.REFUSED_STREAM)
        self._goaway_last = last if self._goaway_last is None else min(last, self._goaway_last)
        # Framed by hand: h2 sends nothing after a GOAWAY of its own, and the
        # streams it kept must still be answered.
        frame = hyperframe.frame.GoAwayFrame(0)
        frame.last_stream_id = self._goaway_last
        frame.error_code = fault.error_code
        # Nothing left to answer: close once it is out (a kept stream
        # closes the connection when it is answered).
        close = fault.unprocessed and self._answering == 0
        assert self._nursery is not None
        self._nursery.start_soon(self._send_goaway, frame.serialize(), close)

    async def _send_goaway(self, frame: bytes, close: bool) -> None:
        await self._flush(frame)
        if close:
            self._drop()

    def _reset(self, found: _Stream, code: int) -> None:
        found.reset = True
        try:
            self._h2.reset_stream(found.id, code)
        except h2.exceptions.ProtocolError:
            pass  # already closed
        assert self._nursery is not None
        self._nursery.start_soon(self._flush)

    # -- answering ----------------------------------------------------------

    async def _respond(
        self, found: _Stream, request: ReceivedRequest, fault: Fault | None, answer: FakeResponse | Handler | None
    ) -> None:
        try:
            await self._answer(found, request, fault, answer)
        except h2.exceptions.ProtocolError:
            # The stream was reset, or the connection went, while answering.
            pass
        finally:
            self._streams.pop(found.id, None)
            self._answering -= 1
            if self._goaway_last is not None and self._answering == 0:
                await self._flush()
                self._drop()

    async def _answer(
        self, found: _Stream, request: ReceivedRequest, fault: Fault | None, answer: FakeResponse | Handler | None
    ) -> None:
        server = self._server
        started = trio.current_time()
        if isinstance(fault, ResetStream) and fault.after_bytes is None:
            self._reset(found, fault.error_code)
            if fault.unprocessed:
                return
        if found.too_big:
            response = FakeResponse.error(413, "Request body is over the limit.")
        else:
            response = await server._answer(request, answer)
        if fault is not None:
            response = fault.apply(response)
        if found.reset:
            return
        server._responses_sent += 1
        if response.headers_delay:
            await _sleep(response.headers_delay)
        if response.hang:
            await trio.sleep_forever()
        if response.verbatim:
            # Bytes outside HTTP/2 framing: the connection cannot go on.
            for index, piece in enumerate(response.body):
                if index and response.delay:
                    await _sleep(response.delay)
                await self._flush(piece)
            self._drop()
            return
        bodiless = request.method == "HEAD" or response.status in (204, 304)
        pieces = () if bodiless else response.body
        length = None if response.chunked or bodiless else sum(len(p) for p in pieces)
        headers = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in server._headers(response, body_length=length, started=started)
            if name not in _CONNECTION_SPECIFIC
        ]
        end_now = not pieces and not response.end_delay
        self._h2.send_headers(found.id, [(b":status", str(response.status).encode()), *headers], end_stream=end_now)
        await self._flush()
        if end_now:
            return
        for index, piece in enumerate(pieces):
            if response.close_after is not None and index >= response.close_after:
                self._drop()
                return
            if isinstance(fault, ResetStream) and index == 1:
                self._reset(found, fault.error_code)
                return
            if index and response.delay:
                await _sleep(response.delay)
            if not await self._send_data(found, piece):
                return
        # A close_after below len(pieces) has returned in the loop.
        if isinstance(fault, ResetStream) and len(pieces) <= 1:
            self._reset(found, fault.error_code)
            return
        if response.end_delay:
            await _sleep(response.end_delay)
        if not found.reset and not self._dead:
            self._h2.end_stream(found.id)
            await self._flush()

    async def _send_data(self, found: _Stream, data: bytes) -> bool:
        """Send ``data`` on the stream as the windows allow; False if the
        stream or the connection went away first."""
        view = memoryview(data)
        while view:
            if found.reset or self._dead:
                return False
            room = min(self._h2.local_flow_control_window(found.id), self._h2.max_outbound_frame_size)
            if room <= 0:
                await self._window.wait()
                continue
            piece, view = view[:room], view[room:]
            self._h2.send_data(found.id, piece.tobytes())
            await self._flush()
        return not (found.reset or self._dead)


async def _sleep(seconds: float) -> None:
    if math.isinf(seconds):
        await trio.sleep_forever()
    await trio.sleep(seconds)
