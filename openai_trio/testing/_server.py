"""The fake server: h11's server side driven by trio."""

from __future__ import annotations

import functools
import hashlib
import http
import inspect
import math
import socket
import ssl
import struct
from collections import deque
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Awaitable, Callable, Iterable, Union

import h11
import trio
import trio.testing

from openai_sansio import Headers

from ._faults import Fault, FaultPlan, ResetMidBody
from ._openai import FAKE_REPLY, FakeOpenAI
from ._responses import FakeResponse, ReceivedRequest
from ._server_h2 import PREFACE, H2Session
from ._server_ws import WebSocketScript, is_websocket_upgrade, serve_websocket

__all__ = ["FakeServer", "Handler"]

Handler = Callable[[ReceivedRequest], Union[FakeResponse, Awaitable[FakeResponse]]]

_RECEIVE_SIZE = 65536
_DEFAULT_MAX_BODY = 8 * 1024 * 1024
_DEFAULT_MAX_HEADER = 64 * 1024
_DEFAULT_RECORD_LIMIT = 10_000
# A client that keeps sending after a response it is not going to get (a
# hanging response) is read and ignored up to this many bytes, then cut off.
_MAX_DISCARD = 16 * 1024 * 1024


class _Reject(Exception):
    """A request we answer with an error status and then hang up on."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Route:
    __slots__ = ("answer", "method", "segments")

    def __init__(self, method: str, pattern: str, answer: Handler | FakeResponse) -> None:
        self.method = method.upper()
        self.segments = pattern.strip("/").split("/")
        self.answer = answer

    def matches(self, method: str, path: str) -> bool:
        if method != self.method:
            return False
        segments = path.strip("/").split("/")
        if len(segments) != len(self.segments):
            return False
        return all(
            (p.startswith("{") and p.endswith("}") and s != "") or p == s
            for p, s in zip(self.segments, segments, strict=True)
        )


class FakeServer:
    """An OpenAI-compatible HTTP/1.1 and HTTP/2 server for tests, running on trio.

    Answers, in order of precedence: scripted responses from :meth:`enqueue`
    (first in, first out, across all connections), then routes added with
    :meth:`route`, then ``handler`` (by default a small OpenAI-compatible
    API, see ``server.openai``).

    ``api_key``, when given, makes every request without
    ``authorization: Bearer <api_key>`` fail with a 401 (scripted
    responses included: they answer only authorised requests).

    Use it as ``async with FakeServer() as server:`` and then either
    ``await server.serve_tcp()`` (loopback TCP, see :attr:`base_url`) or
    ``await server.connect(origin)`` for an in-memory connection.  Leaving
    the block cancels every connection.

    A connection that opens with the HTTP/2 preface is served as HTTP/2
    (h2c with prior knowledge, or h2 over TLS: ``serve_tcp(ssl_context=)``
    offers h2 and http/1.1 by ALPN), with the same answers.

    ``fault_plan`` (a :class:`FaultPlan`, also settable as
    ``server.fault_plan``) picks a fault for each request received.
    """

    def __init__(
        self,
        *,
        handler: Handler | None = None,
        api_key: str | None = None,
        reply: str = FAKE_REPLY,
        max_body_size: int = _DEFAULT_MAX_BODY,
        max_header_size: int = _DEFAULT_MAX_HEADER,
        record_limit: int = _DEFAULT_RECORD_LIMIT,
        fault_plan: FaultPlan | None = None,
    ) -> None:
        self.openai = FakeOpenAI(reply=reply)
        self._handler: Handler = self.openai if handler is None else handler
        self._api_key = api_key
        self._max_body = max_body_size
        self._max_header = max_header_size
        self._record_limit = record_limit
        self._queue: deque[FakeResponse | Handler] = deque()
        self._routes: list[_Route] = []
        self._nursery: trio.Nursery | None = None
        self._nursery_manager: AbstractAsyncContextManager[trio.Nursery] | None = None
        self._responses_sent = 0
        #: Every request, oldest first (the oldest are dropped past ``record_limit``).
        self.requests: list[ReceivedRequest] = []
        #: Exceptions raised by handlers; each was answered with a 500.
        self.handler_errors: list[Exception] = []
        self.connections_opened = 0
        self.active_connections = 0
        self.host: str | None = None
        self.port: int | None = None
        #: Picks a fault for each request received (None: no faults).
        self.fault_plan = fault_plan
        #: How WebSocket connections (/v1/realtime, /v1/responses) behave.
        self.websocket = WebSocketScript()
        self._tls = False

    def __repr__(self) -> str:
        where = self.base_url if self.port is not None else "not listening"
        return (
            f"<FakeServer {where} requests={len(self.requests)} "
            f"connections={self.active_connections}/{self.connections_opened}>"
        )

    # -- scripting ----------------------------------------------------------

    def enqueue(self, *responses: FakeResponse | Handler) -> None:
        """Queue answers for the next requests, one each, in order."""
        for response in responses:
            if not isinstance(response, FakeResponse) and not callable(response):
                raise TypeError(f"expected a FakeResponse or a handler, got {type(response).__name__}")
        self._queue.extend(responses)

    @property
    def pending(self) -> int:
        """How many enqueued responses have not been used yet."""
        return len(self._queue)

    def route(self, method: str, path: str, handler: Handler | FakeResponse) -> None:
        """Answer ``method path`` with ``handler`` (or always the same response).

        ``path`` is matched exactly, ignoring the query string, except that a
        segment written ``{name}`` matches any one non-empty segment.  Later
        routes win over earlier ones for the same request.
        """
        self._routes.insert(0, _Route(method, path, handler))

    @property
    def last_request(self) -> ReceivedRequest:
        if not self.requests:
            raise LookupError("no request received yet")
        return self.requests[-1]

    # -- running ------------------------------------------------------------

    async def __aenter__(self) -> FakeServer:
        if self._nursery is not None:
            raise RuntimeError("this FakeServer is already running")
        manager = trio.open_nursery()
        self._nursery = await manager.__aenter__()
        self._nursery_manager = manager
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._nursery is not None and self._nursery_manager is not None
        self._nursery.cancel_scope.cancel()
        manager = self._nursery_manager
        self._nursery = self._nursery_manager = None
        try:
            await manager.__aexit__(exc_type, exc, tb)
        except BaseException as raised:
            # The nursery wraps an error from the body of the ``async with``
            # in a group of one; hand the test its own exception back.
            inner = getattr(raised, "exceptions", None)
            if exc is not None and isinstance(inner, tuple) and len(inner) == 1 and inner[0] is exc:
                return
            raise

    def _require_nursery(self) -> trio.Nursery:
        if self._nursery is None:
            raise RuntimeError("use 'async with FakeServer() as server:' first")
        return self._nursery

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/v1`` once :meth:`serve_tcp` has run."""
        if self.port is None or self.host is None:
            raise RuntimeError("call serve_tcp() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self._tls else "http"
        return f"{scheme}://{host}:{self.port}/v1"

    async def serve_tcp(
        self, host: str = "127.0.0.1", port: int = 0, *, ssl_context: ssl.SSLContext | None = None
    ) -> int:
        """Listen on ``host:port`` (0 picks a free port) and return the port.

        With ``ssl_context`` (a server context holding a certificate) the
        server speaks TLS and offers h2 and http/1.1 by ALPN.
        """
        nursery = self._require_nursery()
        handler = self.serve_stream
        if ssl_context is not None:
            ssl_context.set_alpn_protocols(["h2", "http/1.1"])
            handler = functools.partial(self._serve_tls, ssl_context)
        listeners = await nursery.start(functools.partial(trio.serve_tcp, handler, port, host=host))
        sockname = listeners[0].socket.getsockname()
        self.host = host
        self.port = int(sockname[1])
        self._tls = ssl_context is not None
        return self.port

    async def _serve_tls(self, context: ssl.SSLContext, stream: trio.abc.Stream) -> None:
        tls = trio.SSLStream(stream, context, server_side=True)
        try:
            await tls.do_handshake()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            # A client that gave up on (or failed) the handshake.
            await trio.aclose_forcefully(stream)
            return
        await self.serve_stream(tls)

    async def connect(self, origin: object = None) -> trio.abc.Stream:
        """An in-memory connection to this server (any origin).

        Fits a client's ``connector`` hook: the server side is served in the
        server's nursery, the client side is returned.
        """
        nursery = self._require_nursery()
        client, server = trio.testing.memory_stream_pair()
        # Numbered now, so connections are counted in the order they were made.
        nursery.start_soon(self._serve_numbered, server, self._open())
        return client

    def _open(self) -> int:
        self.connections_opened += 1
        self.active_connections += 1
        return self.connections_opened

    async def serve_stream(self, stream: trio.abc.Stream) -> None:
        """Serve HTTP/1.1 or HTTP/2 on one connection until either side closes it."""
        await self._serve_numbered(stream, self._open())

    async def _serve_numbered(self, stream: trio.abc.Stream, number: int) -> None:
        try:
            initial = await _read_preface(stream)
            if initial.startswith(PREFACE):
                await H2Session(self, stream, number).run(initial)
            else:
                await self._serve(stream, number, initial)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            # The client went away mid-exchange: nothing left to do.
            pass
        finally:
            self.active_connections -= 1
            await trio.aclose_forcefully(stream)

    # -- one connection -----------------------------------------------------

    def _new_h11(self) -> h11.Connection:
        return h11.Connection(h11.SERVER, max_incomplete_event_size=self._max_header)

    async def _serve(self, stream: trio.abc.Stream, number: int, initial: bytes = b"") -> None:
        conn = self._new_h11()
        if initial:
            conn.receive_data(initial)
        while True:
            try:
                request = await self._read_request(conn, stream, number)
            except _Reject as reject:
                await self._reject(conn, stream, reject)
                return
            if request is None:
                return
            if is_websocket_upgrade(request):
                # The connection is a WebSocket from here on (or refused).
                self._record(request)
                await serve_websocket(self, conn, stream, request)
                return
            started = trio.current_time()
            self._record(request)
            fault = self._choose_fault(request)
            response = await self._answer(request)
            if fault is not None:
                response = fault.apply(response)
            outcome = await self._send(conn, stream, request, response, started)
            if outcome == "close":
                if isinstance(fault, ResetMidBody) and fault.abort:
                    _abort(stream)
                return
            if outcome == "fresh":
                # Raw bytes left h11 behind; carry over what the client has
                # already sent and start from a clean slate.
                leftover, closed = conn.trailing_data
                conn = self._new_h11()
                if leftover:
                    conn.receive_data(bytes(leftover))
                if closed:
                    conn.receive_data(b"")
                continue
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()

    async def _read_request(
        self, conn: h11.Connection, stream: trio.abc.Stream, number: int
    ) -> ReceivedRequest | None:
        head: h11.Request | None = None
        body = bytearray()
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                if conn.our_state is h11.IDLE or conn.our_state is h11.SEND_RESPONSE:
                    raise _Reject(exc.error_status_hint, f"Malformed HTTP request: {exc}") from None
                return None
            if event is h11.NEED_DATA:
                if conn.they_are_waiting_for_100_continue:
                    await stream.send_all(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
                conn.receive_data(bytes(await stream.receive_some(_RECEIVE_SIZE)))
            elif isinstance(event, h11.Request):
                head = event
                length = _content_length(event.headers)
                if length is not None and length > self._max_body:
                    raise _Reject(413, f"Request body of {length} bytes is over the limit.")
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > self._max_body:
                    raise _Reject(413, "Request body is over the limit.")
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                return ReceivedRequest(
                    method=head.method.decode("ascii", "replace"),
                    target=head.target.decode("ascii", "replace"),
                    headers=Headers.from_raw(list(head.headers)),
                    body=bytes(body),
                    http_version=head.http_version.decode("ascii", "replace"),
                    connection=number,
                )
            else:
                # ConnectionClosed between requests (or PAUSED, which cannot
                # happen before our response): the client is done.
                return None

    async def _reject(self, conn: h11.Connection, stream: trio.abc.Stream, reject: _Reject) -> None:
        self._responses_sent += 1
        response = FakeResponse.error(reject.status, reject.message, keep_alive=False)
        (body,) = response.body
        headers = self._headers(response, body_length=len(body), started=trio.current_time())
        data = conn.send(h11.Response(status_code=reject.status, headers=headers, reason=_reason(reject.status)))
        data += conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage())
        await stream.send_all(data)

    def _choose_fault(self, request: ReceivedRequest) -> Fault | None:
        plan = self.fault_plan
        return None if plan is None else plan.choose(request)

    def _record(self, request: ReceivedRequest) -> None:
        self.requests.append(request)
        excess = len(self.requests) - self._record_limit
        if excess > 0:
            del self.requests[:excess]

    def _choose_answer(self, request: ReceivedRequest) -> FakeResponse | Handler:
        """What answers ``request``.  Called as each request arrives, so
        that queued answers go to requests in arrival order, concurrent
        HTTP/2 streams included (their tasks may start in any order)."""
        if self._api_key is not None and request.headers.get("authorization") != f"Bearer {self._api_key}":
            return FakeResponse.error(
                401,
                "Incorrect API key provided. The fake server was started with a different key.",
                code="invalid_api_key",
            )
        if self._queue:
            return self._queue.popleft()
        for route in self._routes:
            if route.matches(request.method, request.path):
                return route.answer
        return self._handler

    async def _answer(self, request: ReceivedRequest, answer: FakeResponse | Handler | None = None) -> FakeResponse:
        if answer is None:
            answer = self._choose_answer(request)
        if isinstance(answer, FakeResponse):
            return answer
        try:
            result = answer(request)
            if inspect.isawaitable(result):
                result = await result
            if not isinstance(result, FakeResponse):
                raise TypeError(f"handler returned {type(result).__name__}, not FakeResponse")
        except Exception as exc:
            self.handler_errors.append(exc)
            return FakeResponse.error(500, f"The fake server's handler raised {type(exc).__name__}.")
        return result

    def _headers(self, response: FakeResponse, *, body_length: int | None, started: float) -> list[tuple[str, str]]:
        headers = list(response.headers)
        present = {name for name, _ in headers}

        def default(name: str, value: str) -> None:
            if name not in present:
                headers.append((name, value))

        if response.content_type is not None:
            default("content-type", response.content_type)
        if body_length is not None and "transfer-encoding" not in present:
            default("content-length", str(body_length))
        digest = hashlib.sha256(f"{id(self)}:{self._responses_sent}".encode()).hexdigest()[:32]
        default("x-request-id", f"req_{digest}")
        elapsed = trio.current_time() - started
        default("openai-processing-ms", str(max(0, int(elapsed * 1000))))
        default("openai-version", "2020-10-01")
        default("server", "openai-trio-fake")
        if not response.keep_alive:
            default("connection", "close")
        return headers

    async def _send(
        self,
        conn: h11.Connection,
        stream: trio.abc.Stream,
        request: ReceivedRequest,
        response: FakeResponse,
        started: float,
    ) -> str:
        """Write ``response``; say whether the connection goes on ("next"),
        must be rebuilt after raw bytes ("fresh") or is finished ("close")."""
        self._responses_sent += 1
        if response.headers_delay:
            await _sleep(response.headers_delay)
        if response.hang:
            await _discard_until_eof(stream)
            return "close"
        pieces = response.body
        if response.verbatim:
            for index, piece in enumerate(pieces):
                if index and response.delay:
                    await _sleep(response.delay)
                await stream.send_all(piece)
            return "fresh" if response.keep_alive else "close"

        bodiless = request.method == "HEAD" or response.status in (204, 304)
        length = None if response.chunked or bodiless else sum(len(p) for p in pieces)
        headers = self._headers(response, body_length=length, started=started)
        try:
            head = conn.send(
                h11.Response(status_code=response.status, headers=headers, reason=_reason(response.status))
            )
        except h11.LocalProtocolError as exc:
            self.handler_errors.append(exc)
            return "close"
        await stream.send_all(head)
        if bodiless:
            pieces = ()
        for index, piece in enumerate(pieces):
            if response.close_after is not None and index >= response.close_after:
                return "close"
            if index and response.delay:
                await _sleep(response.delay)
            try:
                data = conn.send(h11.Data(data=piece))
            except h11.LocalProtocolError as exc:
                # A scripted content-length that the body overruns.
                self.handler_errors.append(exc)
                return "close"
            if data:
                await stream.send_all(data)
        if response.close_after is not None and response.close_after < len(pieces):
            return "close"
        if response.end_delay:
            await _sleep(response.end_delay)
        try:
            data = conn.send(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:
            # The body fell short of a scripted content-length.
            self.handler_errors.append(exc)
            return "close"
        if data:
            await stream.send_all(data)
        if conn.our_state is h11.MUST_CLOSE or not response.keep_alive:
            return "close"
        return "next"


async def _sleep(seconds: float) -> None:
    if math.isinf(seconds):
        await trio.sleep_forever()
    await trio.sleep(seconds)


async def _read_preface(stream: trio.abc.Stream) -> bytes:
    """The first bytes of a connection: enough to tell whether it opens
    with the HTTP/2 preface (they are handed on to whichever side serves it)."""
    data = b""
    while len(data) < len(PREFACE) and PREFACE.startswith(data):
        more = await stream.receive_some(_RECEIVE_SIZE)
        if not more:
            break
        data += more
    return data


def _abort(stream: trio.abc.Stream) -> None:
    """Make the coming close of a TCP connection a reset (RST), not a FIN."""
    inner: object = stream
    while isinstance(inner, trio.SSLStream):
        inner = inner.transport_stream
    if isinstance(inner, trio.SocketStream):
        try:
            inner.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass  # already gone: it closes either way


async def _discard_until_eof(stream: trio.abc.Stream) -> None:
    seen = 0
    while seen <= _MAX_DISCARD:
        data = await stream.receive_some(_RECEIVE_SIZE)
        if not data:
            return
        seen += len(data)


def _content_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _reason(status: int) -> bytes:
    try:
        return http.HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""
