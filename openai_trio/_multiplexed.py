"""An HTTP/2 connection shared by many requests, and the per-request handle
the pool leases out of it.

Every HTTP/2 decision is made by ``openai_sansio.HTTP2Connection``; this
module moves its bytes and routes its events:

* Writes: the sans-IO connection is changed and its bytes are taken and
  written under one ``trio.StrictFIFOLock``, so frames (and HPACK state)
  reach the wire in the order they were made.  A write is shielded from
  cancellation and bounded by the write limit: cancelling one request must
  not leave half a frame on the wire and break every other stream.
* Reads: no background task (``Client()`` needs no nursery).  A request
  that wants its next event and finds its queue empty becomes the reader if
  nobody is reading, else parks until the reader hands it an event or hands
  over the reading.  Cancelling a read loses nothing (trio's streams allow
  it outside a TLS handshake), so a reader that times out or is cancelled
  only passes the job on.
* Flow control: a stream's window is handed back as its reader consumes
  data, so a slow reader holds at most one stream window in memory.
"""

from __future__ import annotations

import collections
import select
from typing import TYPE_CHECKING, Deque

import trio

from openai_sansio import (
    APIConnectionError,
    APITimeoutError,
    ConnectionClosed,
    ConnectionTerminated,
    DataReceived,
    Event,
    FilePart,
    IncompleteResponseError,
    RemoteProtocolError,
    Request,
    ResponseComplete,
    ResponseReceived,
    StreamedBody,
    StreamReset,
    StreamResetError,
)

from ._connection import (
    CLOSE_GRACE,
    RECEIVE_SIZE,
    SEND_CHUNK,
    TRANSPORT_ERRORS,
    Limits,
    StaleConnectionError,
    _bytes_pieces,
    _deadline,
    _file_pieces,
    _timeout_error,
)

if TYPE_CHECKING:
    from openai_sansio import HTTP2Connection, Origin

__all__ = ["MultiplexedConnection", "StreamLease", "UnprocessedStreamError"]

# A streamed body goes on only while less than this is held back for lack
# of window: past it the sender waits for WINDOW_UPDATEs.
_MAX_HELD_BODY = 256 * 1024


def _hung_up(stream: trio.abc.Stream) -> bool:
    if isinstance(stream, trio.SSLStream):
        stream = stream.transport_stream
    rdhup = getattr(select, "POLLRDHUP", None)
    if not isinstance(stream, trio.SocketStream) or rdhup is None or not hasattr(select, "poll"):
        return False  # pragma: no cover - memory streams in tests, or not Linux
    try:
        fd = stream.socket.fileno()
        if fd < 0:
            return True
        poller = select.poll()
        poller.register(fd, rdhup | select.POLLHUP | select.POLLERR)
        return bool(poller.poll(0))
    except (OSError, ValueError):  # pragma: no cover - closed under us
        return True


class UnprocessedStreamError(StaleConnectionError):
    """The server did not act on the request (REFUSED_STREAM, or a GOAWAY
    that left its stream out): it may be sent again as if it never went out,
    on another connection.  Never escapes the client."""


class StreamLease:
    """One request's stream on a ``MultiplexedConnection``: what the pool
    hands out and ``Exchange`` drives, with the verbs of ``Connection``."""

    __slots__ = ("complete", "connection", "got_response", "origin", "queue", "stream_id", "wakeup")

    def __init__(self, connection: MultiplexedConnection) -> None:
        self.connection = connection
        self.origin = connection.origin
        self.stream_id = 0
        self.queue: Deque[Event] = collections.deque()
        self.wakeup: trio.Event | None = None
        self.complete = False
        self.got_response = False

    def __repr__(self) -> str:
        return f"<StreamLease {self.origin} stream={self.stream_id}>"

    def mark_broken(self) -> None:
        """This stream is done for (its response made no sense); the
        connection and its other streams are not.  Nothing to record: a
        stream released before its end is reset then."""

    async def send_and_receive(self, request: Request, limits: Limits, scope: object = None) -> tuple[int, Event]:
        stream_id = await self.connection.send_request(self, request, limits)
        return stream_id, await self.receive_event(limits)

    async def receive_event(self, limits: Limits, scope: object = None) -> Event:
        return await self.connection.next_event(self, limits)

    async def aclose(self, *, grace_until: float | None = None) -> None:
        """Called by the pool's user after ``release_nowait`` said so: write
        the stream's reset, and close the connection if it is finished."""
        await self.connection.after_release(grace_until)


class MultiplexedConnection:
    """An HTTP/2 connection to one origin: transport stream + sans-IO h2.

    Pool accounting as for ``Connection``: ``streams_in_use`` counts leases.
    """

    def __init__(self, stream: trio.abc.Stream, origin: Origin, protocol: HTTP2Connection) -> None:
        self.origin = origin
        self._stream = stream
        self._proto = protocol
        self._write_lock = trio.StrictFIFOLock()
        self._leases: dict[int, StreamLease] = {}
        # Leases parked waiting for an event, in arrival order, and the
        # event each waits on.
        self._waiting: dict[StreamLease, trio.Event] = {}
        self._reading = False
        self._broken = False
        self._closed = False
        self._dropped = False
        # Why the connection died, for every stream that asks afterwards.
        self._failure: str | None = None
        # The peer closed or reset the transport (rather than sending bytes
        # that break HTTP/2, or us closing it).
        self._peer_hung_up = False
        self.streams_in_use = 0
        self.requests_sent = 0

    def __repr__(self) -> str:
        state = "closed" if self.is_closed else ("idle" if self.streams_in_use == 0 else "busy")
        return f"<MultiplexedConnection {self.origin} {state} streams={self.streams_in_use}>"

    # -- pool-facing state ------------------------------------------------

    @property
    def is_closed(self) -> bool:
        return self._closed or self._broken or self._failure is not None or self._proto.is_closed

    @property
    def has_free_slot(self) -> bool:
        return not self.is_closed and self._proto.is_reusable and self.streams_in_use < self._proto.max_streams

    @property
    def can_return_to_pool(self) -> bool:
        return not self.is_closed and self._proto.is_reusable

    def mark_broken(self) -> None:
        self._broken = True

    def peer_closed(self) -> bool:
        """Whether an idle connection is known dead, checked without
        blocking.  Unlike HTTP/1.1, bytes arriving while idle are not death
        (PING, SETTINGS, a GOAWAY): they are read with the next request's
        response, and a GOAWAY then replays that request.  Only a shutdown
        of the peer's side or a socket error counts (POLLRDHUP, Linux)."""
        return self.is_closed or _hung_up(self._stream)

    def lease(self) -> StreamLease:
        return StreamLease(self)

    # -- writing ----------------------------------------------------------

    async def _flush(self, limits: Limits) -> None:
        """Write everything the sans-IO connection has queued; the caller
        holds the write lock.  Shielded and bounded by the write limit."""
        proto = self._proto
        while True:
            data = proto.data_to_send()
            if not data:
                return
            deadline, limit = _deadline(limits.write, "write", limits)
            with trio.CancelScope(shield=True, deadline=deadline) as scope:
                try:
                    await self._stream.send_all(data)
                except TRANSPORT_ERRORS as exc:
                    self._fail(f"Connection error while sending: {exc!r}")
                    await self._abort()
                    raise APIConnectionError(f"Connection error while sending: {exc!r}") from exc
            if scope.cancelled_caught:
                self._fail("a write timed out")
                await self._abort()
                raise _timeout_error(limit, limits)

    async def _abort(self) -> None:
        """After a failed write: drop the transport, so that a reader
        blocked on it (for another stream) fails now rather than at its read
        timeout, and wake the streams parked for events."""
        with trio.CancelScope(shield=True):
            try:
                await trio.aclose_forcefully(self._stream)
            except TRANSPORT_ERRORS:
                pass
        self._hand_over()

    async def _flush_if_free(self, limits: Limits) -> None:
        # A busy write lock means its holder flushes until nothing is left.
        lock = self._write_lock
        if lock.locked() or self._failure is not None:
            return
        lock.acquire_nowait()
        try:
            await self._flush(limits)
        finally:
            lock.release()

    async def send_request(self, lease: StreamLease, request: Request, limits: Limits) -> int:
        proto = self._proto
        lock = self._write_lock
        while True:
            await lock.acquire()
            if proto.can_send:
                break
            lock.release()
            if self.is_closed or not proto.is_reusable:
                raise UnprocessedStreamError("the connection takes no new streams", nothing_sent=True)
            # The server lowered MAX_CONCURRENT_STREAMS below what the pool
            # reserved: wait (within the pool limit) for a stream to end.
            until = limits.deadline if limits.pool is None else min(limits.deadline, trio.current_time() + limits.pool)
            with trio.move_on_at(until) as wait:
                await self._read_once(limits, lease)
            if wait.cancelled_caught:
                raise _timeout_error("pool" if limits.pool is not None else "total", limits)
        try:
            stream_id = proto.send(request)
            lease.stream_id = stream_id
            self._leases[stream_id] = lease
            self.requests_sent += 1
            await self._flush(limits)
        except APIConnectionError as exc:
            if self.requests_sent > 1 and not isinstance(exc, APITimeoutError):
                # As over HTTP/1.1: a reused connection that breaks as the
                # request goes out was most likely shut by the peer while
                # idle, so the request is sent again on a fresh one.
                raise StaleConnectionError(str(exc)) from exc
            raise
        finally:
            lock.release()
        body = request.body
        if isinstance(body, StreamedBody):
            await self._send_body(lease, body, limits)
        return stream_id

    async def _send_body(self, lease: StreamLease, body: StreamedBody, limits: Limits) -> None:
        proto = self._proto
        stream_id = lease.stream_id
        for item in body.parts():
            if isinstance(item, FilePart):
                pieces = _file_pieces(item)
                try:
                    async for piece in pieces:
                        await self._send_piece(lease, piece, limits)
                finally:
                    await pieces.aclose()
            else:
                for piece in _bytes_pieces(item):
                    await self._send_piece(lease, piece, limits)
        async with self._write_lock:
            proto.end_body(stream_id)
            await self._flush(limits)

    async def _send_piece(self, lease: StreamLease, piece: bytes, limits: Limits) -> None:
        proto = self._proto
        stream_id = lease.stream_id
        if len(piece) > SEND_CHUNK:  # pragma: no cover - pieces are cut to SEND_CHUNK
            piece = piece[:SEND_CHUNK]
        async with self._write_lock:
            proto.send_body(stream_id, piece)
            await self._flush(limits)
        # Held back past the peer's window: wait for WINDOW_UPDATEs, which
        # arrive with reads, while the response may be arriving too.
        while proto.pending_body(stream_id) > _MAX_HELD_BODY and self._failure is None:
            if lease.queue:
                # The server answered early (a 413, say): the rest of the
                # body is not wanted.
                return
            await self._read_once(limits, lease)
            async with self._write_lock:
                await self._flush(limits)

    # -- reading ----------------------------------------------------------

    async def next_event(self, lease: StreamLease, limits: Limits) -> Event:
        queue = lease.queue
        while not queue:
            if self._failure is not None:
                raise self._stream_failure(lease)
            if lease.stream_id not in self._leases:  # pragma: no cover - routed before removal
                raise RemoteProtocolError("the stream ended without an event")
            await self._read_once(limits, lease)
        event = queue.popleft()
        kind = type(event)
        if kind is DataReceived:
            assert isinstance(event, DataReceived)
            self._proto.acknowledge(lease.stream_id, len(event.data))
            if self._reading:
                # The reader may be waiting for data that only the window
                # just handed back lets the server send: write it now, not
                # at the next read.  A failure is recorded and shows there.
                try:
                    await self._flush_if_free(limits)
                except APIConnectionError:
                    pass
            return event
        if kind is StreamReset:
            assert isinstance(event, StreamReset)
            lease.complete = True
            if event.not_processed:
                raise UnprocessedStreamError(f"stream {event.stream_id} was not processed by the server")
            raise StreamResetError(event.stream_id, event.error_code)
        if kind is ResponseReceived:
            lease.got_response = True
        else:  # ResponseComplete, the only other event routed to a stream
            lease.complete = True
        return event

    def _stream_failure(self, lease: StreamLease) -> BaseException:
        message = self._failure or "the connection failed"
        if not lease.got_response and self.requests_sent > 1 and self._peer_hung_up:
            # Like HTTP/1.1: a reused connection that died before any byte
            # of this response most likely was shut by the peer while idle.
            return StaleConnectionError(message)
        if message.startswith("invalid HTTP/2"):
            return RemoteProtocolError(message)
        if self._peer_hung_up and lease.got_response:
            # Cut short by a close: retried like a broken connection.
            return IncompleteResponseError(message)
        return APIConnectionError(message)

    async def _read_once(self, limits: Limits, lease: StreamLease) -> None:
        """Read once and route the events, or, while another task reads,
        wait until it hands ``lease`` an event or stops reading."""
        deadline, limit = _deadline(limits.read, "read", limits)
        if self._reading:
            event = lease.wakeup = trio.Event()
            self._waiting[lease] = event
            try:
                with trio.move_on_at(deadline) as scope:
                    await event.wait()
            finally:
                lease.wakeup = None
                self._waiting.pop(lease, None)
            if scope.cancelled_caught:
                raise _timeout_error(limit, limits)
            return
        self._reading = True
        try:
            await self._flush_if_free(limits)
            with trio.move_on_at(deadline) as scope:
                try:
                    data = await self._stream.receive_some(RECEIVE_SIZE)
                except TRANSPORT_ERRORS as exc:
                    # Unless a failed write of ours dropped the transport.
                    self._peer_hung_up = self._failure is None
                    self._fail(f"Connection error while receiving: {exc!r}")
                    return
            if scope.cancelled_caught:
                raise _timeout_error(limit, limits)
            self._route(bytes(data))
        finally:
            self._reading = False
            self._hand_over()

    def _route(self, data: bytes) -> None:
        proto = self._proto
        proto.receive_data(data)
        leases = self._leases
        freed = False
        while True:
            try:
                event = proto.next_event()
            except RemoteProtocolError as exc:
                # An end of stream with streams open comes as this error.
                self._peer_hung_up = not data and self._failure is None
                self._fail(str(exc))
                return
            kind = type(event)
            if kind is DataReceived or kind is ResponseReceived or kind is ResponseComplete or kind is StreamReset:
                assert isinstance(event, (DataReceived, ResponseReceived, ResponseComplete, StreamReset))
                stream_id = event.stream_id
                lease = leases.get(stream_id)
                if lease is None:  # pragma: no cover - a lease and its stream are dropped together
                    continue
                lease.queue.append(event)
                if kind is ResponseComplete or kind is StreamReset:
                    del leases[stream_id]
                    freed = True
                wakeup = lease.wakeup
                if wakeup is not None:
                    wakeup.set()
            elif kind is ConnectionTerminated:
                continue  # its not-processed streams came as StreamReset
            elif kind is ConnectionClosed:  # pragma: no cover - a reader has a stream open: EOF fails it instead
                self._peer_hung_up = True
                self._fail("the server closed the connection")
                return
            else:
                break  # NEED_DATA
        if freed:
            self._wake_slot_waiters()

    def _wake_slot_waiters(self) -> None:
        # Senders waiting for a stream slot park with no stream id yet.
        for waiting, event in self._waiting.items():
            if waiting.stream_id == 0:
                event.set()

    def _hand_over(self) -> None:
        """After a read: one waiter with nothing yet takes over the reading
        (the ones that got events were woken by _route); after a failure,
        everyone wakes to see it."""
        if self._failure is not None:
            for event in self._waiting.values():
                event.set()
            return
        for waiting, event in self._waiting.items():
            if not waiting.queue:
                event.set()
                return

    def _fail(self, message: str) -> None:
        if self._failure is None:
            self._failure = message
        self._broken = True

    # -- releasing --------------------------------------------------------

    def release(self, lease: StreamLease, *, discard: bool, pool_closed: bool) -> bool:
        """Pool accounting for a lease given back; True means the caller
        must ``await lease.aclose()`` (a reset to write, or the connection
        to close)."""
        self.streams_in_use -= 1
        assert self.streams_in_use >= 0
        stream_id = lease.stream_id
        pending_reset = False
        if stream_id and not lease.complete:
            self._leases.pop(stream_id, None)
            self._proto.cancel(stream_id)
            pending_reset = self._failure is None
            self._wake_slot_waiters()
        self._waiting.pop(lease, None)
        if not self._reading:
            # This lease may have been handed the reading and be leaving
            # without doing it (cancelled, timed out): another waiter must
            # take it up, or they all wait for nothing.
            self._hand_over()
        if pool_closed or self.is_closed or not self._proto.is_reusable:
            self._dropped = True
        return pending_reset or (self._dropped and self.streams_in_use == 0)

    @property
    def dropped(self) -> bool:
        return self._dropped

    async def after_release(self, grace_until: float | None) -> None:
        if self._dropped and self.streams_in_use == 0:
            await self.aclose(grace_until=grace_until)
            return
        # The reset of a cancelled stream: written now, shielded and short,
        # so the server stops sending it.
        with trio.CancelScope(shield=True):
            with trio.move_on_after(CLOSE_GRACE):
                try:
                    async with self._write_lock:
                        await self._flush(Limits(write=CLOSE_GRACE))
                except APIConnectionError:
                    pass

    async def aclose(self, *, grace_until: float | None = None) -> None:
        """Close the transport (a GOAWAY first when healthy); idempotent,
        shielded and bounded in time."""
        if self._closed:
            return
        healthy = self._failure is None and not self._broken
        self._closed = True
        self._fail("the connection was closed")
        if grace_until is None:
            grace_until = trio.current_time() + CLOSE_GRACE
        with trio.CancelScope(shield=True):
            if healthy:
                self._proto.close()
                with trio.move_on_at(grace_until):
                    try:
                        data = self._proto.data_to_send()
                        if data and not self._write_lock.locked():
                            await self._stream.send_all(data)
                        await self._stream.aclose()
                        return
                    except TRANSPORT_ERRORS:
                        pass
            try:
                await trio.aclose_forcefully(self._stream)
            except TRANSPORT_ERRORS:
                pass
        for event in list(self._waiting.values()):
            event.set()

