"""One WebSocket connection driven by trio: the runner under the Realtime
and Responses WebSocket connections.

The sans-IO ``openai_sansio.WebSocketConnection`` decides every byte; this
module opens the transport with the client's connector (TLS, proxies),
reads in a background task, keeps the connection alive with pings and
closes it.

Writing is the delicate part.  A frame half written cannot be taken back,
so every step that makes bytes (``send``, ``ping``, ``close``, the core's
answers to pings and closes) takes them from the core and writes them under
one ``trio.StrictFIFOLock``, the write shielded from cancellation and
bounded by the client's write timeout.  A caller cancelled while waiting
for the lock has sent nothing; one cancelled during the write sees its
``Cancelled`` just after the frame is whole.  A write that fails or runs
out of time leaves the connection broken: every later call raises that
error.
"""

from __future__ import annotations

import math
from typing import Any, Awaitable, Callable, Final, Mapping

import trio

from openai_sansio import (
    NEED_DATA,
    APIConnectionError,
    APITimeoutError,
    Headers,
    LocalProtocolError,
    OpenAIError,
    Timeout,
)
from openai_sansio._websocket import (
    DEFAULT_MAX_WEBSOCKET_MESSAGE_SIZE,
    PongReceived,
    WebSocketClosed,
    WebSocketConnection,
    WebSocketOpened,
    WebSocketRequest,
)

from ._connection import TRANSPORT_ERRORS
from ._logging import logger
from ._pool import Connector
from ._proxy import ProxyConnector
from ._tls import TCPConnector, _sole_cancelled, tls_failure_message

__all__ = [
    "DEFAULT_CLOSE_TIMEOUT",
    "DEFAULT_PING_INTERVAL",
    "DEFAULT_PING_TIMEOUT",
    "WebSocketConnectionClosed",
    "WebSocketSession",
    "websocket_connector",
]

#: Seconds between keepalive pings (as the ``websockets`` library does).
DEFAULT_PING_INTERVAL: Final = 20.0
#: Seconds a pong may take before the connection is given up.
DEFAULT_PING_TIMEOUT: Final = 20.0
#: Seconds to wait for the server's close frame after sending ours.
DEFAULT_CLOSE_TIMEOUT: Final = 10.0
#: Server events read ahead of the caller before reading pauses.
DEFAULT_MAX_QUEUE: Final = 256

_RECEIVE_SIZE = 65536


class WebSocketConnectionClosed(OpenAIError):
    """The WebSocket ended cleanly (close code 1000, or a close we asked
    for) and a call wanted it open: ``recv`` after the end, or ``send`` on
    a closed connection.  ``async for`` stops instead of raising it.
    ``code`` and ``reason`` are the close frame's; ``local`` tells whether
    this side closed first."""

    def __init__(self, code: int, reason: str, *, local: bool) -> None:
        shown = f": {reason}" if reason else ""
        who = "was closed" if local else "was closed by the server"
        super().__init__(f"the WebSocket {who} (code {code}{shown})")
        self.code = code
        self.reason = reason
        self.local = local


def websocket_connector(connector: Connector) -> Connector:
    """The client's connector, offering only HTTP/1.1 when it does TLS
    itself, and going through a proxy by CONNECT for ``ws://`` as for
    ``wss://`` (a custom connector is used as it is)."""
    if isinstance(connector, ProxyConnector):
        return connector.for_websockets()
    if isinstance(connector, TCPConnector):
        return connector.http11_only()
    return connector


def _timeout(value: float | None) -> float:
    return math.inf if value is None else value


def check_seconds(name: str, value: float | None, *, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value != value:
        raise LocalProtocolError(f"{name} must be a positive number of seconds{' or None' if allow_none else ''}")


def check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise LocalProtocolError(f"{name} must be a positive int")


class WebSocketSession:
    """One open WebSocket: ``send``, ``recv`` and ``aclose``, with a reader
    and a keepalive running in ``nursery``.

    ``deliver(event)`` receives each server event in order (the Responses
    connection routes them by lane); by default they queue for ``recv``.
    """

    def __init__(
        self,
        request: WebSocketRequest,
        *,
        connector: Connector,
        random_bytes: Callable[[int], bytes],
        timeout: Timeout,
        ping_interval: float | None = DEFAULT_PING_INTERVAL,
        ping_timeout: float | None = DEFAULT_PING_TIMEOUT,
        close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
        max_queue: int = DEFAULT_MAX_QUEUE,
        max_message_size: int = DEFAULT_MAX_WEBSOCKET_MESSAGE_SIZE,
    ) -> None:
        check_seconds("ping_interval", ping_interval)
        check_seconds("ping_timeout", ping_timeout)
        check_seconds("close_timeout", close_timeout, allow_none=False)
        check_count("max_queue", max_queue)
        self._request = request
        self._connector = connector
        self._timeout = timeout
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._close_timeout = close_timeout
        self._core = WebSocketConnection(request, random_bytes=random_bytes, max_message_size=max_message_size)
        self._stream: trio.abc.Stream | None = None
        self._lock = trio.StrictFIFOLock()
        self._send_events, self._events = trio.open_memory_channel[Any](max_queue)
        self._enqueue = self._send_events.send
        self.deliver: Callable[[Any], Awaitable[None]] = self._enqueue
        #: Called once when the connection ends, however it ends.
        self.on_end: Callable[[], None] | None = None
        # How it ended: a clean close or an error; None while open.
        self._ended: WebSocketConnectionClosed | BaseException | None = None
        self._ended_event = trio.Event()
        self._tasks = trio.CancelScope()
        self._started = False
        self._finished = trio.Event()
        self._pong = trio.Event()
        self._ping_payload: bytes | None = None
        self._pings = 0
        self.headers: Headers = Headers()
        self.opened_at = 0.0

    def __repr__(self) -> str:
        return f"<WebSocketSession {self._core.state!r} {self._request!r}>"

    @property
    def request(self) -> WebSocketRequest:
        return self._request

    @property
    def ended(self) -> bool:
        return self._ended is not None

    # -- opening -------------------------------------------------------------

    async def open(self, nursery: trio.Nursery) -> None:
        """Connect, run the handshake and start the background tasks."""
        origin = self._request.origin
        connect = _timeout(self._timeout.connect)
        with trio.move_on_after(connect) as scope:
            try:
                stream = await self._connector(origin)
            except TRANSPORT_ERRORS as exc:
                detail = tls_failure_message(exc, origin.host, origin.port)
                raise APIConnectionError(
                    f"Could not connect to {origin}: {detail or repr(exc)}", request=self._request.request
                ) from exc
        if scope.cancelled_caught:
            raise APITimeoutError("connect", connect, request=self._request.request)
        self._stream = stream
        try:
            await self._handshake(stream)
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        self.opened_at = trio.current_time()
        logger.debug("WebSocket open: %s", self._request)
        self._started = True
        nursery.start_soon(self._run)

    async def _handshake(self, stream: trio.abc.Stream) -> None:
        async with self._lock:
            await self._write_locked()
        self._check_not_broken()
        read = _timeout(self._timeout.read)
        core = self._core
        while True:
            event = core.next_event()
            if event is NEED_DATA:
                with trio.move_on_after(read) as scope:
                    try:
                        data = await stream.receive_some(_RECEIVE_SIZE)
                    except TRANSPORT_ERRORS as exc:
                        raise self._transport_error(exc) from None
                if scope.cancelled_caught:
                    raise APITimeoutError("read", read, request=self._request.request)
                core.receive_data(bytes(data))
                continue
            # Before the 101 the core has nothing else to return (a bad
            # answer is raised).
            assert isinstance(event, WebSocketOpened)
            self.headers = event.headers
            return

    # -- background ----------------------------------------------------------

    async def _run(self) -> None:
        try:
            with self._tasks:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._reader)
                    if self._ping_interval is not None:
                        nursery.start_soon(self._keepalive)
        except BaseException as exc:
            # Cancelled by a scope around the whole ``async with`` block:
            # the block's body sees that Cancelled itself; raised here too,
            # it would come out of the block wrapped in exception groups.
            if not isinstance(exc, trio.Cancelled) and _sole_cancelled(exc) is None:
                raise
        finally:
            self._finished.set()

    async def wait_tasks(self) -> None:
        """Wait until the background tasks have finished (after ``aclose``)."""
        if self._started:
            await self._finished.wait()

    async def _reader(self) -> None:
        core = self._core
        stream = self._stream
        assert stream is not None
        try:
            while True:
                while True:
                    event = core.next_event()
                    if event is NEED_DATA:
                        break
                    if type(event) is PongReceived:
                        if event.payload == self._ping_payload:
                            self._pong.set()
                        continue
                    if type(event) is WebSocketClosed:
                        # The server's close, or its answer to ours: that
                        # is the ending, even if our answer (queued by the
                        # core where one is due) fails to go out.
                        await self._last_flush(WebSocketConnectionClosed(event.code, event.reason, local=event.local))
                        return
                    if self.deliver is self._enqueue:
                        # Queued without a schedule point while there is
                        # room: a pass of trio's scheduler per event cost
                        # as much as decoding it.  A full queue waits.
                        try:
                            self._send_events.send_nowait(event)
                            continue
                        except trio.WouldBlock:
                            pass
                    await self.deliver(event)
                # Answers to pings go out before the next read.
                await self._flush()
                try:
                    data = await stream.receive_some(_RECEIVE_SIZE)
                except TRANSPORT_ERRORS as exc:
                    self._end(self._transport_error(exc))
                    return
                core.receive_data(bytes(data))
        except OpenAIError as exc:
            # What the core raised for the server's traffic (a close code
            # other than 1000, EOF without a close, bad frames), or a write
            # that failed while answering (which has ended the connection
            # already).  The server's fault is the ending, not a failure to
            # send the close frame the core may have queued to tell it why.
            if not self.ended:
                await self._last_flush(exc)

    async def _last_flush(self, ending: BaseException) -> None:
        """Write the core's last frames (a close, or the answer to one),
        best effort and bounded, then end the connection with ``ending``
        whether or not they went out."""
        with trio.move_on_after(self._close_timeout):
            try:
                async with self._lock:
                    await self._write_locked(ending)
            except OpenAIError:
                pass
        self._end(ending)

    async def _keepalive(self) -> None:
        interval = self._ping_interval
        assert interval is not None
        while True:
            await trio.sleep(interval)
            self._pings += 1
            payload = self._pings.to_bytes(4, "big")
            self._pong = trio.Event()
            self._ping_payload = payload
            try:
                await self._locked(self._core.ping, payload)
            except OpenAIError:
                # Already ended (the error is the reader's to report).
                return
            if self._ping_timeout is None:
                continue
            with trio.move_on_after(self._ping_timeout):
                await self._pong.wait()
            if not self._pong.is_set():
                logger.debug("WebSocket ping timeout: %s", self._request)
                error = APITimeoutError("ping", self._ping_timeout, request=self._request.request)
                self._end(error)
                # Set by open() before this task started.  The end has
                # cancelled this task: the close raises Cancelled.
                assert self._stream is not None
                await trio.aclose_forcefully(self._stream)

    def _end(self, how: BaseException) -> None:
        if self._ended is None:
            self._ended = how
            self._ended_event.set()
            if self.on_end is not None:
                self.on_end()
        self._send_events.close()
        self._tasks.cancel()

    def _transport_error(self, exc: BaseException) -> APIConnectionError:
        return APIConnectionError(
            f"the WebSocket connection to {self._request.origin} failed: {exc!r}", request=self._request.request
        )

    # -- writing -------------------------------------------------------------

    def _check_not_broken(self) -> None:
        ended = self._ended
        if ended is not None:
            raise ended.with_traceback(None)

    async def _locked(self, make: Callable[..., None], *args: Any) -> None:
        """Make bytes with ``make(*args)`` and write them, under the lock."""
        self._check_not_broken()
        async with self._lock:
            self._check_not_broken()
            make(*args)
            await self._write_locked()

    async def _flush(self) -> None:
        async with self._lock:
            await self._write_locked()

    async def _write_locked(self, ending: BaseException | None = None) -> None:
        data = self._core.data_to_send()
        stream = self._stream
        if not data or stream is None:
            return
        write = _timeout(self._timeout.write)
        failure: BaseException | None = None
        with trio.CancelScope(shield=True):
            with trio.move_on_after(write) as scope:
                try:
                    await stream.send_all(data)
                except TRANSPORT_ERRORS as exc:
                    failure = self._transport_error(exc)
            if scope.cancelled_caught:
                failure = APITimeoutError("write", write, request=self._request.request)
            del data
            if failure is not None:
                # Part of a frame may be on the wire: nothing more can go.
                # For the last frames, ``ending`` says how the connection
                # ended, rather than their failure.
                self._end(failure if ending is None else ending)
                await trio.aclose_forcefully(stream)
        if failure is not None:
            raise failure

    async def send(self, event: Mapping[str, Any] | str | bytes) -> None:
        await self._locked(self._core.send, event)

    async def recv(self) -> Any:
        # An event already read ahead comes with a cancellation point but
        # no schedule point (see the reader).  The queue is bounded by
        # max_queue, and nothing refills it while this task runs, so a
        # caller that only reads still lets other tasks run at least once
        # every max_queue events.
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            try:
                return self._events.receive_nowait()
            except trio.WouldBlock:
                return await self._events.receive()
        except trio.EndOfChannel:
            pass
        ended = self._ended
        assert ended is not None
        raise ended.with_traceback(None)

    # -- closing -------------------------------------------------------------

    async def aclose(self, code: int = 1000, reason: str = "", *, cancelled: bool = False) -> None:
        """Send a close frame and wait up to ``close_timeout`` for the
        server's; then drop the transport.  When the caller is being
        cancelled the close frame still goes (shielded, bounded) but the
        answer is not waited for."""
        stream = self._stream
        try:
            if self._ended is None and stream is not None:
                with trio.CancelScope(shield=cancelled):
                    with trio.move_on_after(self._close_timeout):
                        try:
                            await self._locked(self._core.close, code, reason)
                        except OpenAIError:
                            pass
                        if not cancelled:
                            await self._ended_event.wait()
        finally:
            if self._ended is None:
                self._end(WebSocketConnectionClosed(code, reason, local=True))
            self._tasks.cancel()
            self._send_events.close()
            if stream is not None:
                await trio.aclose_forcefully(stream)
