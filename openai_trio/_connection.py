"""One transport stream plus the sans-IO connection that frames its bytes.

This module moves bytes and keeps time; every HTTP decision is made by the
``openai_sansio`` connection object it wraps.  Transport failures become
``APIConnectionError`` (chained with ``raise ... from``), a time limit that
runs out becomes ``APITimeoutError`` naming the limit, and ``trio.Cancelled``
always passes through untouched.
"""

from __future__ import annotations

import io
import math
import select
from typing import IO, TYPE_CHECKING, AsyncGenerator, Iterator, Protocol

import attrs
import trio

from openai_sansio import (
    NEED_DATA,
    APIConnectionError,
    APITimeoutError,
    ConnectionClosed,
    Event,
    FilePart,
    HTTP11Connection,
    LocalProtocolError,
    OpenAIError,
    RemoteProtocolError,
    Request,
    Sentinel,
    StreamedBody,
)

if TYPE_CHECKING:
    from openai_sansio import Origin

__all__ = [
    "TRANSPORT_ERRORS",
    "Connection",
    "Limits",
    "ProtocolConnection",
    "StaleConnectionError",
]

# What one receive asks the transport for, and what one send hands it: the
# write timeout applies to each piece, so a large body on a slow link is not
# judged as a whole.
RECEIVE_SIZE = 64 * 1024
SEND_CHUNK = 64 * 1024

# A graceful close (a TLS close_notify) gets this long before the transport
# is simply dropped.
CLOSE_GRACE = 0.5

# Errors a transport raises when the peer or the network fails.  ssl.SSLError
# is an OSError; trio wraps TLS failures in BrokenResourceError.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
)


class ProtocolConnection(Protocol):
    """The verbs of a sans-IO client connection (HTTP/1.1 now, HTTP/2 next)."""

    def send(self, request: Request) -> int: ...

    def send_body(self, data: bytes) -> None: ...

    def end_body(self) -> None: ...

    def data_to_send(self) -> bytes: ...

    def receive_data(self, data: bytes) -> None: ...

    def next_event(self) -> Event | Sentinel: ...

    @property
    def is_idle(self) -> bool: ...

    @property
    def is_reusable(self) -> bool: ...

    @property
    def is_closed(self) -> bool: ...

    @property
    def max_streams(self) -> int: ...


class StaleConnectionError(Exception):
    """A reused connection failed before any byte of the response arrived.

    The peer most likely closed it while it sat idle.  ``nothing_sent``
    says no byte of the request was written (the connection was found
    closed first); otherwise the server may have read it before closing.
    The lifecycle decides whether it goes out again.  Never escapes the
    client.
    """

    def __init__(self, message: str, *, nothing_sent: bool = False) -> None:
        super().__init__(message)
        self.nothing_sent = nothing_sent


@attrs.frozen
class Limits:
    """The time limits one attempt runs under.

    ``deadline`` is an absolute ``trio.current_time()`` for the whole call
    (``inf`` when there is none); ``total`` is its length, for the message.
    """

    connect: float | None = None
    read: float | None = None
    write: float | None = None
    pool: float | None = None
    total: float | None = None
    deadline: float = math.inf


def _seconds(limit: float | None) -> float:
    return math.inf if limit is None else limit


def _deadline(seconds: float | None, name: str, limits: Limits) -> tuple[float, str]:
    """The absolute deadline for one send or receive and the name of the
    limit that sets it: the per-operation limit or the call's total,
    whichever ends first.  One cancel scope then serves both."""
    if seconds is None:
        return limits.deadline, "total"
    own = trio.current_time() + seconds
    if own < limits.deadline:
        return own, name
    return limits.deadline, "total"


def _timeout_error(limit: str, limits: Limits) -> APITimeoutError:
    seconds = limits.total if limit == "total" else getattr(limits, limit)
    return APITimeoutError(limit, _seconds(seconds))


def _drop_foreign_cause(exc: BaseException) -> None:
    """Cut an exception from the framing library out of ``exc``'s chain.

    The sansio message leaves out the raw bytes the peer sent (a header line
    may carry a cookie or an echoed credential), but the framing library's
    own exception, chained underneath, quotes them verbatim.
    """
    cause = exc.__cause__ if exc.__cause__ is not None else exc.__context__
    if cause is not None and not isinstance(cause, OpenAIError):
        exc.__cause__ = None
        exc.__context__ = None
        exc.__suppress_context__ = True


def _pieces(data: bytes) -> Iterator[memoryview]:
    view = memoryview(data)
    for start in range(0, len(view), SEND_CHUNK):
        yield view[start : start + SEND_CHUNK]


def _bytes_pieces(data: bytes) -> Iterator[bytes]:
    if len(data) <= SEND_CHUNK:
        yield data
        return
    for start in range(0, len(data), SEND_CHUNK):
        yield data[start : start + SEND_CHUNK]


def _read_error(part: FilePart, exc: BaseException) -> LocalProtocolError:
    what = repr(part.path) if part.path is not None else "the upload's source"
    return LocalProtocolError(f"reading {what} for the request body failed: {exc!r}")


async def _file_pieces(part: FilePart) -> AsyncGenerator[bytes, None]:
    """The bytes of ``part``, at most SEND_CHUNK at a time.

    Blocking reads run in a worker thread (in-memory buffers excepted), and
    exactly ``size`` bytes are produced when the size was announced: a file
    that shrank since is an error, one that grew is cut at its old size.
    """
    if part.stream is not None:
        iterator = aiter(part.stream)
        try:
            async for chunk in iterator:
                if not isinstance(chunk, (bytes, bytearray, memoryview)):
                    raise LocalProtocolError(
                        f"an upload's async iterable yielded {type(chunk).__name__}, not bytes"
                    )
                for piece in _bytes_pieces(bytes(chunk)):
                    yield piece
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()
        return
    remaining = part.size
    if part.path is not None:
        try:
            file: IO[bytes] = await trio.to_thread.run_sync(open, part.path, "rb")
        except OSError as exc:
            raise _read_error(part, exc) from exc
        owned = True
    else:
        assert part.file is not None
        file = part.file
        owned = False
    in_memory = isinstance(file, io.BytesIO)
    try:
        if part.offset is not None:
            if in_memory:
                file.seek(part.offset)
            else:
                await trio.to_thread.run_sync(file.seek, part.offset)
        while remaining is None or remaining > 0:
            want = SEND_CHUNK if remaining is None else min(SEND_CHUNK, remaining)
            try:
                chunk = file.read(want) if in_memory else await trio.to_thread.run_sync(file.read, want)
            except (OSError, ValueError) as exc:
                raise _read_error(part, exc) from exc
            if not isinstance(chunk, (bytes, bytearray, memoryview)):
                raise LocalProtocolError(
                    f"an upload's file object returned {type(chunk).__name__} from read(), not bytes"
                )
            if not chunk:
                if remaining is not None:
                    raise LocalProtocolError(
                        f"{_what(part)} ended {remaining} bytes short of the size it had when "
                        "the request was prepared"
                    )
                return
            if remaining is not None:
                remaining -= len(chunk)
            yield bytes(chunk)
    finally:
        if owned:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(file.close)


def _what(part: FilePart) -> str:
    return f"the file {part.path!r}" if part.path is not None else "the upload's file object"


class Connection:
    """A connection to one origin: transport stream + sans-IO framing.

    ``streams_in_use`` is pool accounting: how many requests currently hold
    this connection (at most ``max_streams``).

    With HTTP/1.1 the one request in flight reads the socket itself in
    ``receive_event``.  An HTTP/2 connection (``max_streams`` > 1) keeps
    the same surface but routes events by ``stream_id`` to per-stream queues
    fed by whichever reader holds the socket, so the pool and ``Exchange``
    above do not change.
    """

    __slots__ = (
        "_broken", "_closed", "_probe", "_proto", "_read_limit", "_response_bytes",
        "_reused_for_current", "_send_error", "_stream", "_write_lock", "origin", "requests_sent",
        "streams_in_use",
    )

    def __init__(self, stream: trio.abc.Stream, origin: Origin, protocol: ProtocolConnection) -> None:
        self.origin = origin
        self._stream = stream
        self._proto = protocol
        # All bytes for one connection are produced and written under this
        # lock, so concurrent senders (HTTP/2) never interleave frames.
        # HTTP/1.1 refuses a second request before it produces a byte, so it
        # goes without (a lock costs half a kilobyte per open connection).
        self._write_lock: trio.Lock | None = (
            None if type(protocol) is HTTP11Connection else trio.Lock()
        )
        self._broken = False
        self._closed = False
        self.streams_in_use = 0
        self.requests_sent = 0
        self._response_bytes = 0
        self._reused_for_current = False
        # Why the body of the request in flight could not be written, while
        # an answer the peer may have sent first is looked for.
        self._send_error: APIConnectionError | StaleConnectionError | None = None
        # Which limit set the deadline of the read under way in a shared
        # scope (see send_and_receive), for the timeout's message.
        self._read_limit = "read"
        # What peer_closed() polls, once it has polled.
        self._probe: tuple[trio.socket.SocketType, int, select.poll, int] | None = None

    def __repr__(self) -> str:
        state = "closed" if self.is_closed else ("idle" if self.streams_in_use == 0 else "busy")
        return f"<Connection {self.origin} {state} requests={self.requests_sent}>"

    @property
    def is_closed(self) -> bool:
        return self._closed or self._broken or self._proto.is_closed

    @property
    def max_streams(self) -> int:
        return self._proto.max_streams

    @property
    def has_free_slot(self) -> bool:
        """Whether a new request may be started on this connection now."""
        if self.is_closed or self.streams_in_use >= self._proto.max_streams:
            return False
        return self._proto.is_reusable and (self._proto.max_streams > 1 or self._proto.is_idle)

    @property
    def can_return_to_pool(self) -> bool:
        return not self.is_closed and self._proto.is_reusable and self._proto.is_idle

    def mark_broken(self) -> None:
        self._broken = True

    def peer_closed(self) -> bool:
        """Check, without blocking, whether an idle connection was closed by
        the peer.

        On plain TCP any readable byte condemns it: EOF, a reset, or data
        that answers nothing (useless for HTTP/1.1 either way).  Under TLS
        the peer may legitimately send records while we idle (TLS 1.3
        session tickets), so only a shutdown of the peer's side counts,
        which needs ``POLLRDHUP`` (Linux).  Other transports (memory streams
        in tests, custom connectors) cannot be checked and rely on the
        stale-connection resend instead.
        """
        probe = self._probe
        if probe is not None:
            # The poll object registered on an earlier call: the pool asks
            # this before every reuse.
            sock, fd, poller, mask = probe
            try:
                if sock.fileno() != fd:
                    return True
                return any(events & mask for _fd, events in poller.poll(0))
            except (OSError, ValueError):
                return True
        stream = self._stream
        if isinstance(stream, trio.SocketStream):
            sock = stream.socket
            tls = False
        elif isinstance(stream, trio.SSLStream) and isinstance(stream.transport_stream, trio.SocketStream):
            sock = stream.transport_stream.socket
            tls = True
        else:
            return False
        try:
            fd = sock.fileno()
            if fd < 0:
                return True
            if not hasattr(select, "poll"):  # pragma: no cover - Windows
                if tls:
                    return False
                readable, _, _ = select.select([fd], [], [], 0)
                return bool(readable)
            if tls:
                rdhup = getattr(select, "POLLRDHUP", None)
                if rdhup is None:  # pragma: no cover - not Linux
                    return False
                mask = rdhup | select.POLLERR | select.POLLHUP
            else:
                mask = select.POLLIN | select.POLLERR | select.POLLHUP
            poller = select.poll()
            poller.register(fd, mask)
            self._probe = (sock, fd, poller, mask)
            return any(events & mask for _fd, events in poller.poll(0))
        except (OSError, ValueError):
            return True

    async def send_request(self, request: Request, limits: Limits) -> int:
        """Frame ``request`` and write it; returns its stream id.

        ``LocalProtocolError`` from the framing propagates before any byte is
        written.  A failed or cancelled write marks the connection broken.
        When the peer stops reading a streamed body, the error waits for
        ``receive_event``: it returns the answer the peer sent first, if
        any, and raises the write error otherwise.
        """
        lock = self._write_lock
        if lock is not None:
            try:
                # Uncontended (the usual case): skip the scheduler round
                # trip of a full acquire; the write below is the checkpoint.
                lock.acquire_nowait()
            except trio.WouldBlock:
                await lock.acquire()
        try:
            if self.is_closed:
                raise StaleConnectionError("connection closed before the request was sent", nothing_sent=True)
            reused = self.requests_sent > 0
            stream_id = self._proto.send(request)
            self.requests_sent += 1
            self._reused_for_current = reused
            self._response_bytes = 0
            data = self._proto.data_to_send()
            await self._write(data, limits, reused=reused)
            body = request.body
            if isinstance(body, StreamedBody):
                self._send_error = None
                try:
                    await self._send_body(body, limits, reused=reused)
                except (APIConnectionError, StaleConnectionError) as exc:
                    if isinstance(exc, APITimeoutError):
                        raise
                    # A server may answer and stop reading before the body
                    # is done (a 413, a 401): that answer, if it came, says
                    # more than the broken write.  receive_event raises
                    # this error if none arrives.
                    self._send_error = exc
                if not body.replayable:
                    # Nothing may send it again now, so a silent close
                    # afterwards is a plain connection error, never stale.
                    self._reused_for_current = False
        finally:
            if lock is not None:
                lock.release()
        return stream_id

    async def send_and_receive(self, request: Request, limits: Limits) -> tuple[int, Event]:
        """``send_request`` then ``receive_event``: the stream id and the
        first event of the response.

        A small HTTP/1.1 request and the wait for its response share one
        cancel scope whose deadline moves from the write limit to the read
        limit: entering a scope registers a deadline with trio, a cost
        every request would otherwise pay twice.
        """
        if self._write_lock is not None or type(request.body) is StreamedBody:
            stream_id = await self.send_request(request, limits)
            return stream_id, await self.receive_event(limits)
        if self.is_closed:
            raise StaleConnectionError("connection closed before the request was sent", nothing_sent=True)
        reused = self.requests_sent > 0
        stream_id = self._proto.send(request)
        self.requests_sent += 1
        self._reused_for_current = reused
        self._response_bytes = 0
        data = self._proto.data_to_send()
        if len(data) > SEND_CHUNK:
            await self._write(data, limits, reused=reused)
            return stream_id, await self.receive_event(limits)
        deadline, limit = _deadline(limits.write, "write", limits)
        with trio.move_on_at(deadline) as scope:
            try:
                await self._stream.send_all(data)
            except TRANSPORT_ERRORS as exc:
                self._broken = True
                if reused:
                    raise StaleConnectionError(str(exc)) from exc
                raise APIConnectionError(f"Connection error while sending: {exc!r}") from exc
            except BaseException:
                self._broken = True
                raise
            # From here on each read sets the scope's deadline and records
            # which limit it came from.
            limit = ""
            return stream_id, await self.receive_event(limits, scope)
        # Only reached when the scope cancelled the write or a read.
        self._broken = True
        raise _timeout_error(limit or self._read_limit, limits)

    async def _write(self, data: bytes, limits: Limits, *, reused: bool) -> None:
        # Most requests fit in one piece: no view to slice then.
        pieces = (data,) if len(data) <= SEND_CHUNK else _pieces(data)
        try:
            for piece in pieces:
                deadline, limit = _deadline(limits.write, "write", limits)
                with trio.move_on_at(deadline) as scope:
                    await self._stream.send_all(piece)
                if scope.cancelled_caught:
                    raise _timeout_error(limit, limits)
        except TRANSPORT_ERRORS as exc:
            self._broken = True
            if reused:
                raise StaleConnectionError(str(exc)) from exc
            raise APIConnectionError(f"Connection error while sending: {exc!r}") from exc
        except BaseException:
            # Cancelled (or anything else) mid-write leaves a partial request
            # on the wire: the connection cannot be used again.
            self._broken = True
            raise

    async def _send_body(self, body: StreamedBody, limits: Limits, *, reused: bool) -> None:
        """Write a streamed body after its head, piece by piece.

        Any failure leaves a partial request on the wire, so the connection
        is broken.  A reused connection that fails is reported stale (to be
        sent again on a fresh one) only while the body can still be
        produced again.
        """
        proto = self._proto
        try:
            for item in body.parts():
                if isinstance(item, FilePart):
                    pieces = _file_pieces(item)
                    try:
                        async for piece in pieces:
                            proto.send_body(piece)
                            await self._write(proto.data_to_send(), limits, reused=reused and body.replayable)
                    finally:
                        await pieces.aclose()
                else:
                    for piece in _bytes_pieces(item):
                        proto.send_body(piece)
                        await self._write(proto.data_to_send(), limits, reused=reused and body.replayable)
            proto.end_body()
            await self._write(proto.data_to_send(), limits, reused=reused and body.replayable)
        except BaseException:
            self._broken = True
            raise

    async def receive_event(self, limits: Limits, scope: trio.CancelScope | None = None) -> Event:
        """The next event from the connection, reading as needed.

        ``RemoteProtocolError`` from the framing propagates (and breaks the
        connection).  An end of stream before any response byte becomes
        ``StaleConnectionError`` on a reused connection and
        ``APIConnectionError`` on a fresh one.

        With ``scope`` (an enclosing scope of the caller's) each read moves
        that scope's deadline instead of entering one of its own; the
        caller turns its cancellation into the timeout error.
        """
        while True:
            try:
                event = self._proto.next_event()
            except RemoteProtocolError as exc:
                self._broken = True
                _drop_foreign_cause(exc)
                raise
            if event is not NEED_DATA:
                assert not isinstance(event, Sentinel)
                if type(event) is ConnectionClosed:
                    self._broken = True
                return event
            try:
                # Handed on without a local: one would show the raw bytes (a
                # header echoing a key) in tracebacks that record locals.
                self._proto.receive_data(await self._receive(limits, scope))
            except RemoteProtocolError as exc:
                self._broken = True
                _drop_foreign_cause(exc)
                raise

    async def _receive(self, limits: Limits, shared: trio.CancelScope | None = None) -> bytes:
        deadline, limit = _deadline(limits.read, "read", limits)
        try:
            if shared is not None:
                shared.deadline = deadline
                self._read_limit = limit
                data = await self._stream.receive_some(RECEIVE_SIZE)
            else:
                with trio.move_on_at(deadline) as scope:
                    data = await self._stream.receive_some(RECEIVE_SIZE)
        except TRANSPORT_ERRORS as exc:
            self._broken = True
            if self._send_error is not None and self._response_bytes == 0:
                raise self._send_error from exc
            if self._reused_for_current and self._response_bytes == 0:
                raise StaleConnectionError(str(exc)) from exc
            raise APIConnectionError(f"Connection error while receiving: {exc!r}") from exc
        except BaseException:
            self._broken = True
            raise
        if shared is None and scope.cancelled_caught:
            self._broken = True
            raise _timeout_error(limit, limits)
        if not data and self._response_bytes == 0:
            self._broken = True
            if self._send_error is not None:
                raise self._send_error
            if self._reused_for_current:
                raise StaleConnectionError("peer closed the reused connection")
            raise APIConnectionError("Server closed the connection without sending a response.")
        self._response_bytes += len(data)
        return bytes(data)

    async def aclose(self, *, grace_until: float | None = None) -> None:
        """Close the transport; idempotent, shielded and bounded in time.

        A broken connection is dropped at once; a healthy one gets a short
        grace period for a polite close (TLS close_notify), until
        ``grace_until`` when given, so closing many connections shares one
        bound.
        """
        if self._closed:
            return
        self._closed = True
        if grace_until is None:
            grace_until = trio.current_time() + CLOSE_GRACE
        with trio.CancelScope(shield=True):
            if not self._broken:
                with trio.move_on_at(grace_until):
                    try:
                        await self._stream.aclose()
                    except TRANSPORT_ERRORS:
                        pass
                    return
            try:
                await trio.aclose_forcefully(self._stream)
            except TRANSPORT_ERRORS:
                pass
