"""``client.realtime.connect()`` and ``client.responses.connect()``: the
Realtime API and the Responses API's WebSocket mode on trio.

The surface follows the official SDK's ``AsyncRealtimeConnection`` and
``AsyncResponsesConnection``: ``send``, ``recv``, ``async for``, ``close``
and typed helpers that build one client event each (``session.update``,
``conversation.item.create``, ``response.create`` ...).  What differs, and
why:

* a connection is only opened with ``async with`` (there is no ``enter()``):
  its reader and keepalive run in a nursery that the block scopes;
* ``async for`` ends on a clean close and raises the typed error for any
  other ending (``WebSocketClosedError`` with the close code, or
  ``APITimeoutError`` when a pong does not come back);
* the Responses connection adds ``create(**params)``, which returns that
  response's events and keeps one response in flight per lane.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import TYPE_CHECKING, Any, Awaitable, BinaryIO, Callable, Final, Mapping, Union, cast

import trio

from openai_sansio import NOT_GIVEN, LocalProtocolError, NotGiven, OpenAIError
from openai_sansio._websocket import (
    DEFAULT_MAX_WEBSOCKET_MESSAGE_SIZE,
    RESPONSES_WEBSOCKET_MAX_AGE,
    WebSocketRequest,
    realtime_request,
    responses_websocket_request,
)

from ._generated.realtime import Realtime as _GeneratedRealtime
from ._generated.responses import Responses as _GeneratedResponses
from ._websocket import (
    DEFAULT_CLOSE_TIMEOUT,
    DEFAULT_MAX_QUEUE,
    DEFAULT_PING_INTERVAL,
    DEFAULT_PING_TIMEOUT,
    WebSocketConnectionClosed,
    WebSocketSession,
    check_count,
    check_seconds,
)

if TYPE_CHECKING:
    from types import TracebackType

    from openai_sansio import Headers, UnknownRealtimeEvent
    from openai_sansio.types.realtime_events import RealtimeServerEvent
    from openai_sansio.types.realtime_events_params import (
        RealtimeClientEventParam,
        RealtimeConversationItemParam,
        RealtimeResponseCreateParamsParam,
    )
    from openai_sansio.types.responses_ws import ResponsesServerEvent
    from openai_sansio.types.responses_ws_params import ResponsesClientEventParam

    from ._azure import AzureClient
    from ._client import Client

__all__ = [
    "DEFAULT_AUDIO_CHUNK_SIZE",
    "MAX_AUDIO_APPEND_BYTES",
    "AudioCollector",
    "RealtimeConnection",
    "RealtimeConnectionManager",
    "RealtimeNamespace",
    "ResponseInFlightError",
    "ResponseStream",
    "ResponsesConnection",
    "ResponsesConnectionManager",
    "ResponsesNamespace",
]

#: Raw audio bytes per ``input_audio_buffer.append`` sent by
#: ``append_audio``: small pieces keep the server's voice detection prompt
#: and each message far below the API's limit.
DEFAULT_AUDIO_CHUNK_SIZE: Final = 15 * 1024
#: The API's limit on one ``input_audio_buffer.append`` (its base64 text).
MAX_AUDIO_APPEND_BYTES: Final = 15 * 1024 * 1024

# The Realtime events that carry output audio: the GA name and the beta one
# (still sent by older models and proxies).
_AUDIO_DELTA_TYPES = frozenset({"response.output_audio.delta", "response.audio.delta"})
# A Responses WebSocket response is over with one of these.
_FINAL_RESPONSE_EVENTS = frozenset({"response.completed", "response.failed", "response.incomplete", "error"})
# Reconnect this long before the server's age limit.
_AGE_MARGIN = 60.0

AudioSource = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]", BinaryIO]


def _event(kind: str, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"type": kind}
    for name, value in fields.items():
        if value is not NOT_GIVEN:
            event[name] = value
    return event


def _event_type(event: Any) -> str | None:
    kind = getattr(event, "type", None)
    return kind if isinstance(kind, str) else None


# -- the namespaces -------------------------------------------------------------


class RealtimeNamespace(_GeneratedRealtime):
    """``client.realtime``: the generated HTTP operations (client secrets,
    calls) and ``connect`` for a Realtime session over a WebSocket."""

    __slots__ = ()

    def connect(
        self,
        *,
        model: str | NotGiven = NOT_GIVEN,
        call_id: str | NotGiven = NOT_GIVEN,
        extra_query: Mapping[str, object] | None = None,
        extra_headers: Mapping[str, str | None] | None = None,
        ping_interval: float | None = DEFAULT_PING_INTERVAL,
        ping_timeout: float | None = DEFAULT_PING_TIMEOUT,
        close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
        max_queue: int = DEFAULT_MAX_QUEUE,
        max_message_size: int = DEFAULT_MAX_WEBSOCKET_MESSAGE_SIZE,
    ) -> RealtimeConnectionManager:
        """Open a Realtime session: ``async with client.realtime.connect(model=...) as conn:``.

        ``model=`` starts a new session, ``call_id=`` joins a SIP or WebRTC
        call.  The connection goes to ``{base_url}/realtime`` over ``wss://``
        (``ws://`` for an http base URL) with the client's key, headers and
        query, through its TLS settings and proxies; it is never pooled.

        A ping goes out every ``ping_interval`` seconds (None: never) and a
        pong not back within ``ping_timeout`` fails the connection with
        ``APITimeoutError`` (``limit == "ping"``).  Leaving the block sends
        a close frame and waits up to ``close_timeout`` seconds for the
        server's.  Up to ``max_queue`` server events are read ahead of
        ``recv``; then reading (and so answering pings) waits for the
        caller.  The connect, read (handshake only) and write limits are
        the client's ``timeout``.
        """
        client = cast("Client", self._transport)
        azure = _azure_client(client)

        def build(headers: Mapping[str, str | None] | None) -> WebSocketRequest:
            return realtime_request(
                client.config,
                model=None if model is NOT_GIVEN else model,
                call_id=None if call_id is NOT_GIVEN else call_id,
                azure=None if azure is None else azure.azure,
                extra_headers=headers,
                extra_query=extra_query,
            )

        target = _Target(client, build, extra_headers)
        options = _Options(ping_interval, ping_timeout, close_timeout, max_queue, max_message_size)
        return RealtimeConnectionManager(client, target.request, options, refresh=target.refresh)


class ResponsesNamespace(_GeneratedResponses):
    """``client.responses``: the generated HTTP operations and ``connect``
    for the Responses API's WebSocket mode."""

    __slots__ = ()

    def connect(
        self,
        *,
        extra_query: Mapping[str, object] | None = None,
        extra_headers: Mapping[str, str | None] | None = None,
        reconnect_after: float | None = RESPONSES_WEBSOCKET_MAX_AGE - _AGE_MARGIN,
        ping_interval: float | None = DEFAULT_PING_INTERVAL,
        ping_timeout: float | None = DEFAULT_PING_TIMEOUT,
        close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
        max_queue: int = DEFAULT_MAX_QUEUE,
        max_message_size: int = DEFAULT_MAX_WEBSOCKET_MESSAGE_SIZE,
    ) -> ResponsesConnectionManager:
        """Open a Responses WebSocket: ``async with client.responses.connect() as ws:``.

        ``await ws.create(model=..., input=...)`` sends a ``response.create``
        and returns that response's events.  The server ends a connection
        at ``RESPONSES_WEBSOCKET_MAX_AGE`` (an hour): ``create`` opens a new
        one, with no response in flight, once the connection is
        ``reconnect_after`` seconds old (None: never) or was closed
        cleanly by the server.  The other options are ``realtime.connect``'s.
        """
        client = cast("Client", self._transport)

        def build(headers: Mapping[str, str | None] | None) -> WebSocketRequest:
            return responses_websocket_request(client.config, extra_headers=headers, extra_query=extra_query)

        target = _Target(client, build, extra_headers)
        request = target.request
        # NaN too: no age would ever reach it.
        check_seconds("reconnect_after", reconnect_after)
        options = _Options(ping_interval, ping_timeout, close_timeout, max_queue, max_message_size)
        return ResponsesConnectionManager(client, request, options, reconnect_after, refresh=target.refresh)


class _Options:
    __slots__ = ("close_timeout", "max_message_size", "max_queue", "ping_interval", "ping_timeout")

    def __init__(
        self,
        ping_interval: float | None,
        ping_timeout: float | None,
        close_timeout: float,
        max_queue: int,
        max_message_size: int,
    ) -> None:
        # Checked here, so that connect() itself refuses bad settings.
        check_seconds("ping_interval", ping_interval)
        check_seconds("ping_timeout", ping_timeout)
        check_seconds("close_timeout", close_timeout, allow_none=False)
        check_count("max_queue", max_queue)
        check_count("max_message_size", max_message_size)
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self.max_queue = max_queue
        self.max_message_size = max_message_size


def _azure_client(client: Client) -> AzureClient | None:
    from ._azure import AzureClient

    return client if isinstance(client, AzureClient) else None


class _Target:
    """Where a connection goes.  Built once when ``connect()`` is called,
    so bad arguments fail there; an Azure client with a token provider
    builds it again for every connection (a reconnect too) with a fresh
    token, as its HTTP calls fetch one per attempt."""

    def __init__(
        self,
        client: Client,
        build: Callable[[Mapping[str, str | None] | None], WebSocketRequest],
        extra_headers: Mapping[str, str | None] | None,
    ) -> None:
        self._build = build
        self._extra_headers = extra_headers
        self.request = build(extra_headers)
        azure = _azure_client(client)
        # A caller's own Authorization header (extra or default) wins.
        has_auth = any(name.lower() == "authorization" for name, _value in self.request.headers)
        self._azure = None if azure is None or has_auth else azure

    async def refresh(self) -> WebSocketRequest:
        azure = self._azure
        if azure is None:
            return self.request
        field = await azure._provider_token()
        if field is None:
            return self.request
        name, value = field
        # In the extra headers, the token is one of the request's secrets:
        # scrubbed from a refused upgrade's error like the key would be.
        return self._build({**(self._extra_headers or {}), name: value})


def _session(client: Client, request: WebSocketRequest, options: _Options) -> WebSocketSession:
    return WebSocketSession(
        request,
        connector=client._websocket_connector(),
        random_bytes=client.random_bytes,
        timeout=client.timeout,
        ping_interval=options.ping_interval,
        ping_timeout=options.ping_timeout,
        close_timeout=options.close_timeout,
        max_queue=options.max_queue,
        max_message_size=options.max_message_size,
    )


class _ManagerBase:
    """Scopes a nursery for a connection's background tasks to the
    ``async with`` block."""

    def __init__(self) -> None:
        self._nursery_manager: Any = None
        self._nursery: trio.Nursery | None = None

    async def _enter_nursery(self) -> trio.Nursery:
        if self._nursery_manager is not None:
            raise RuntimeError("this connection manager is already in use")
        manager = trio.open_nursery()
        self._nursery = await manager.__aenter__()
        self._nursery_manager = manager
        return self._nursery

    async def _exit_nursery(self, session: WebSocketSession | None = None) -> None:
        manager = self._nursery_manager
        # Only called once the nursery was entered (by __aenter__ itself
        # when it fails, else by __aexit__).
        assert manager is not None
        self._nursery_manager = self._nursery = None
        if session is not None:
            # The session's close cancelled its tasks; they finish at the
            # next checkpoint.  Waiting for them shielded leaves the nursery
            # nothing to wait for, so a caller being cancelled sees its own
            # Cancelled come out of the block, not one raised here.
            with trio.CancelScope(shield=True):
                await session.wait_tasks()
        await manager.__aexit__(None, None, None)


# -- Realtime ---------------------------------------------------------------------


class RealtimeConnectionManager(_ManagerBase):
    """What ``client.realtime.connect()`` returns: ``async with`` it."""

    def __init__(
        self,
        client: Client,
        request: WebSocketRequest,
        options: _Options,
        *,
        refresh: Callable[[], Awaitable[WebSocketRequest]] | None = None,
    ) -> None:
        super().__init__()
        self._client = client
        self._request = request
        self._options = options
        self._refresh = refresh
        self._connection: RealtimeConnection | None = None

    def __repr__(self) -> str:
        return f"<RealtimeConnectionManager {self._request!r}>"

    async def __aenter__(self) -> RealtimeConnection:
        nursery = await self._enter_nursery()
        try:
            request = self._request if self._refresh is None else await self._refresh()
            session = _session(self._client, request, self._options)
            await session.open(nursery)
        except BaseException:
            await self._exit_nursery()
            raise
        self._connection = RealtimeConnection(session)
        return self._connection

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        connection = self._connection
        # Set by a successful __aenter__, the only way here.
        assert connection is not None
        self._connection = None
        try:
            await connection._session.aclose(cancelled=isinstance(exc, trio.Cancelled))
        finally:
            await self._exit_nursery(connection._session)


class _Resource:
    __slots__ = ("_connection",)

    def __init__(self, connection: RealtimeConnection) -> None:
        self._connection = connection


class RealtimeSessionResource(_Resource):
    __slots__ = ()

    async def update(self, *, session: Mapping[str, Any], event_id: str | NotGiven = NOT_GIVEN) -> None:
        """Change the session's settings (``session.update``); the server
        answers with ``session.updated``."""
        await self._connection.send(_event("session.update", session=session, event_id=event_id))


class RealtimeResponseResource(_Resource):
    __slots__ = ()

    async def create(
        self,
        *,
        response: RealtimeResponseCreateParamsParam | Mapping[str, Any] | NotGiven = NOT_GIVEN,
        event_id: str | NotGiven = NOT_GIVEN,
    ) -> None:
        """Ask for a model response (``response.create``); events from
        ``response.created`` to ``response.done`` follow."""
        await self._connection.send(_event("response.create", response=response, event_id=event_id))

    async def cancel(
        self, *, response_id: str | NotGiven = NOT_GIVEN, event_id: str | NotGiven = NOT_GIVEN
    ) -> None:
        """Stop a response in progress (``response.cancel``)."""
        await self._connection.send(_event("response.cancel", response_id=response_id, event_id=event_id))


class RealtimeInputAudioBufferResource(_Resource):
    __slots__ = ()

    async def append(self, *, audio: bytes | bytearray | memoryview | str, event_id: str | NotGiven = NOT_GIVEN) -> None:
        """Add audio to the input buffer (``input_audio_buffer.append``):
        raw bytes (base64-encoded here) or base64 text as it is.  The API
        takes at most 15 MiB per event; ``append_audio`` splits longer audio."""
        if isinstance(audio, (bytes, bytearray, memoryview)):
            text = base64.b64encode(audio).decode("ascii")
        elif isinstance(audio, str):
            text = audio
        else:
            raise LocalProtocolError(f"audio must be bytes or base64 str, not {type(audio).__name__}")
        if len(text) > MAX_AUDIO_APPEND_BYTES:
            raise LocalProtocolError(
                f"one input_audio_buffer.append carries at most {MAX_AUDIO_APPEND_BYTES} bytes of base64 "
                "(use append_audio to send it in pieces)"
            )
        await self._connection.send(_event("input_audio_buffer.append", audio=text, event_id=event_id))

    async def append_audio(self, source: AudioSource, *, chunk_size: int = DEFAULT_AUDIO_CHUNK_SIZE) -> int:
        """Append ``source`` (raw PCM ``bytes``, a path, or a binary file
        open for reading) in pieces of ``chunk_size`` raw bytes, one
        ``input_audio_buffer.append`` each; a file is read one piece at a
        time (in a worker thread, as file reads block).  Returns the number
        of raw bytes sent."""
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 2:
            raise LocalProtocolError("chunk_size must be an int of at least 2")
        # Whole 16-bit samples in every piece.
        chunk_size -= chunk_size % 2
        if chunk_size * 4 // 3 + 4 > MAX_AUDIO_APPEND_BYTES:
            raise LocalProtocolError(f"chunk_size is over what one append may carry ({MAX_AUDIO_APPEND_BYTES} bytes of base64)")
        sent = 0
        if isinstance(source, (bytes, bytearray, memoryview)):
            view = memoryview(source).cast("B")
            for start in range(0, len(view), chunk_size):
                piece = view[start : start + chunk_size]
                await self.append(audio=piece)
                sent += len(piece)
            return sent
        if isinstance(source, (str, os.PathLike)):
            async with await trio.open_file(source, "rb") as afile:
                while True:
                    data = await afile.read(chunk_size)
                    if not data:
                        return sent
                    await self.append(audio=data)
                    sent += len(data)
        read = getattr(source, "read", None)
        if not callable(read):
            raise LocalProtocolError(f"append_audio takes bytes, a path or a binary file, not {type(source).__name__}")
        while True:
            data = await trio.to_thread.run_sync(read, chunk_size)
            if not isinstance(data, (bytes, bytearray)):
                raise LocalProtocolError("the audio file must be opened in binary mode")
            if not data:
                return sent
            await self.append(audio=data)
            sent += len(data)

    async def commit(self, *, event_id: str | NotGiven = NOT_GIVEN) -> None:
        """Turn the buffered audio into a user message (``input_audio_buffer.commit``)."""
        await self._connection.send(_event("input_audio_buffer.commit", event_id=event_id))

    async def clear(self, *, event_id: str | NotGiven = NOT_GIVEN) -> None:
        """Drop the buffered audio (``input_audio_buffer.clear``)."""
        await self._connection.send(_event("input_audio_buffer.clear", event_id=event_id))


class RealtimeConversationItemResource(_Resource):
    __slots__ = ()

    async def create(
        self,
        *,
        item: RealtimeConversationItemParam | Mapping[str, Any],
        previous_item_id: str | NotGiven = NOT_GIVEN,
        event_id: str | NotGiven = NOT_GIVEN,
    ) -> None:
        """Add an item to the conversation (``conversation.item.create``)."""
        await self._connection.send(
            _event("conversation.item.create", item=item, previous_item_id=previous_item_id, event_id=event_id)
        )

    async def delete(self, *, item_id: str, event_id: str | NotGiven = NOT_GIVEN) -> None:
        """Remove an item (``conversation.item.delete``)."""
        await self._connection.send(_event("conversation.item.delete", item_id=item_id, event_id=event_id))

    async def retrieve(self, *, item_id: str, event_id: str | NotGiven = NOT_GIVEN) -> None:
        """Ask for the server's copy of an item (``conversation.item.retrieve``)."""
        await self._connection.send(_event("conversation.item.retrieve", item_id=item_id, event_id=event_id))

    async def truncate(
        self, *, item_id: str, content_index: int, audio_end_ms: int, event_id: str | NotGiven = NOT_GIVEN
    ) -> None:
        """Cut an assistant item's audio at ``audio_end_ms`` (``conversation.item.truncate``)."""
        await self._connection.send(
            _event(
                "conversation.item.truncate",
                item_id=item_id,
                content_index=content_index,
                audio_end_ms=audio_end_ms,
                event_id=event_id,
            )
        )


class RealtimeConversationResource(_Resource):
    __slots__ = ("item",)

    def __init__(self, connection: RealtimeConnection) -> None:
        super().__init__(connection)
        self.item = RealtimeConversationItemResource(connection)


class RealtimeOutputAudioBufferResource(_Resource):
    __slots__ = ()

    async def clear(self, *, event_id: str | NotGiven = NOT_GIVEN) -> None:
        """Cut off the audio being played (``output_audio_buffer.clear``; WebRTC and SIP)."""
        await self._connection.send(_event("output_audio_buffer.clear", event_id=event_id))


class _ConnectionBase:
    def __init__(self, session: WebSocketSession) -> None:
        self._session = session

    @property
    def headers(self) -> Headers:
        """The server's 101 response headers."""
        return self._session.headers

    @property
    def request_id(self) -> str | None:
        """The ``x-request-id`` of the upgrade, for support requests."""
        return self._session.headers.get("x-request-id")

    @property
    def url(self) -> str:
        """Where the connection went (credentials in the query redacted)."""
        return repr(self._session.request).split("'")[1]

    async def close(self, *, code: int = 1000, reason: str = "") -> None:
        """Close now (the block's end does the same with 1000)."""
        await self._session.aclose(code, reason)


class RealtimeConnection(_ConnectionBase):
    """A live Realtime session.

    ``await conn.send(event)`` sends a client event (a mapping; checked for
    its type's required keys before any byte goes out), ``await
    conn.recv()`` returns the next server event (the generated models of
    ``openai_sansio.types.realtime_events``, ``UnknownRealtimeEvent`` for a
    type this version does not know; an ``error`` event is an event, not an
    exception) and ``async for event in conn`` runs until a clean close.
    The helpers build one event each: ``conn.session.update(session=...)``,
    ``conn.conversation.item.create(item=...)``, ``conn.response.create()``,
    ``conn.input_audio_buffer.append(audio=...)`` and so on.
    """

    def __init__(self, session: WebSocketSession) -> None:
        super().__init__(session)
        self.session = RealtimeSessionResource(self)
        self.response = RealtimeResponseResource(self)
        self.input_audio_buffer = RealtimeInputAudioBufferResource(self)
        self.conversation = RealtimeConversationResource(self)
        self.output_audio_buffer = RealtimeOutputAudioBufferResource(self)

    def __repr__(self) -> str:
        return f"<RealtimeConnection {self._session.request!r}>"

    async def send(self, event: RealtimeClientEventParam | Mapping[str, Any] | str) -> None:
        """Send a client event (or, for tests of a server, raw text)."""
        await self._session.send(event)

    async def recv(self) -> RealtimeServerEvent | UnknownRealtimeEvent:
        """The next server event; ``WebSocketConnectionClosed`` after a
        clean close, the typed error after any other ending."""
        return cast("RealtimeServerEvent | UnknownRealtimeEvent", await self._session.recv())

    def __aiter__(self) -> RealtimeConnection:
        return self

    async def __anext__(self) -> RealtimeServerEvent | UnknownRealtimeEvent:
        try:
            return await self.recv()
        except WebSocketConnectionClosed:
            raise StopAsyncIteration from None

    async def collect_audio(self, into: Any = None, *, response_id: str | None = None) -> bytes | int:
        """Read events until ``response.done`` (of ``response_id``, if
        given), decoding the output audio deltas: returned as ``bytes``, or
        written to ``into`` (a path, or a binary file) with the count of
        bytes written returned.  Other events are dropped."""
        collector = AudioCollector(response_id=response_id)
        target: Any = None
        opened = None
        if isinstance(into, (str, os.PathLike)):
            opened = target = await trio.open_file(into, "wb")
        elif into is not None:
            target = into
        written = 0
        try:
            async for event in self:
                piece = collector.feed(event)
                if piece and target is not None:
                    result = target.write(piece)
                    if hasattr(result, "__await__"):
                        await result
                    written += len(piece)
                    collector.clear()
                if collector.done:
                    break
        finally:
            if opened is not None:
                await opened.aclose()
        return collector.getvalue() if target is None else written


class AudioCollector:
    """Gathers the output audio of Realtime events: feed it every event,
    it keeps the decoded bytes of ``response.output_audio.delta`` (and the
    beta ``response.audio.delta``) and notes ``response.done``.  With
    ``response_id`` only that response's audio counts."""

    def __init__(self, *, response_id: str | None = None) -> None:
        self._response_id = response_id
        self._parts: list[bytes] = []
        self.done = False
        self.total = 0

    def __repr__(self) -> str:
        return f"<AudioCollector bytes={self.total} done={self.done}>"

    def _matches(self, response_id: object) -> bool:
        return self._response_id is None or response_id == self._response_id

    def feed(self, event: Any) -> bytes:
        """Take one event; returns the audio it carried (``b""`` if none)."""
        kind = _event_type(event)
        if kind is None:
            return b""
        data = getattr(event, "data", None)
        if kind in _AUDIO_DELTA_TYPES:
            delta = getattr(event, "delta", None)
            response_id = getattr(event, "response_id", None)
            if isinstance(data, Mapping):
                delta = data.get("delta", delta)
                response_id = data.get("response_id", response_id)
            if not isinstance(delta, str) or not self._matches(response_id):
                return b""
            try:
                piece = base64.b64decode(delta, validate=True)
            except (binascii.Error, ValueError):
                raise OpenAIError("an output audio delta is not valid base64") from None
            self._parts.append(piece)
            self.total += len(piece)
            return piece
        if kind == "response.done":
            response = getattr(event, "response", None)
            if self._matches(getattr(response, "id", None)):
                self.done = True
        return b""

    def getvalue(self) -> bytes:
        return b"".join(self._parts)

    def clear(self) -> None:
        """Forget the bytes kept so far (after writing them somewhere)."""
        self._parts = []


# -- Responses over a WebSocket ---------------------------------------------------------


class ResponseInFlightError(OpenAIError):
    """``create(wait=False)`` found a response still in flight on its
    lane of the connection."""


class _Lane:
    """The response in flight on one ``stream_id`` (None: the default)."""

    __slots__ = ("closed", "receive", "send")

    def __init__(self, max_queue: int) -> None:
        self.send, self.receive = trio.open_memory_channel[Any](max_queue)
        self.closed = False


class ResponseStream:
    """The events of one response sent with ``ResponsesConnection.create``,
    up to and including its last (``response.completed``, ``.failed``,
    ``.incomplete`` or ``error``).  The lane is busy until that last event
    arrives; closing the stream early (``async with`` or ``aclose()``)
    drops the rest instead of queuing it."""

    def __init__(self, connection: ResponsesConnection, lane_id: str | None, lane: _Lane) -> None:
        self._connection = connection
        self._lane_id = lane_id
        self._lane = lane
        self.final: ResponsesServerEvent | UnknownRealtimeEvent | None = None

    def __repr__(self) -> str:
        return f"<ResponseStream stream_id={self._lane_id!r} done={self.final is not None}>"

    def __aiter__(self) -> ResponseStream:
        return self

    async def __anext__(self) -> ResponsesServerEvent | UnknownRealtimeEvent:
        if self.final is not None or self._lane.closed:
            raise StopAsyncIteration
        try:
            event = await self._lane.receive.receive()
        except trio.EndOfChannel:
            # The connection ended before the response did (nothing else
            # closes a lane before its last event): the response was cut
            # off, and how the connection ended (a clean close too) is raised.
            self._lane.closed = True
            self._connection._release(self._lane_id, self._lane)
            ended = self._connection._session._ended
            assert ended is not None
            raise ended.with_traceback(None) from None
        if _event_type(event) in _FINAL_RESPONSE_EVENTS:
            self.final = event
            self._connection._release(self._lane_id, self._lane)
        return cast("ResponsesServerEvent | UnknownRealtimeEvent", event)

    async def aclose(self) -> None:
        """Stop reading: the rest of this response's events are dropped as
        they arrive.  The response is still running on the server, so its
        lane stays busy until its last event has come in."""
        self._lane.closed = True

    async def __aenter__(self) -> ResponseStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class ResponsesResponseResource:
    __slots__ = ("_connection",)

    def __init__(self, connection: ResponsesConnection) -> None:
        self._connection = connection

    async def create(self, **params: Any) -> None:
        """Send ``response.create`` with ``params`` (the official SDK's
        form); its events then come from ``recv``/``async for``."""
        await self._connection.send({"type": "response.create", **params})


class ResponsesConnection(_ConnectionBase):
    """A live Responses WebSocket.

    ``stream = await ws.create(model=..., input=...)`` sends a
    ``response.create`` and returns a ``ResponseStream`` of that
    response's events.  One response is in flight per lane (``stream_id``,
    None by default): a second ``create`` on a busy lane waits for the
    first to finish, or raises ``ResponseInFlightError`` with
    ``wait=False``.  Before sending, ``create`` reconnects once the
    connection has reached its age limit, or after the server closed it
    cleanly, when no response is in flight (the server's in-memory cache
    of the previous response does not survive; stored ones do).

    ``send``, ``recv``, ``async for`` and ``response.create`` are the
    official SDK's raw surface; events for no response made with
    ``create`` come from ``recv``.
    """

    def __init__(self, manager: ResponsesConnectionManager, session: WebSocketSession) -> None:
        super().__init__(session)
        self._manager = manager
        self._lanes: dict[str | None, _Lane] = {}
        self._lane_free = trio.Event()
        self._reconnecting = trio.Lock()
        self._bind(session)
        self.response = ResponsesResponseResource(self)
        #: How many WebSocket connections this object has used.
        self.connections = 1

    def __repr__(self) -> str:
        return f"<ResponsesConnection {self._session.request!r} in_flight={len(self._lanes)}>"

    def _bind(self, session: WebSocketSession) -> None:
        self._session = session
        unrouted = session.deliver

        async def deliver(event: Any) -> None:
            stream_id = getattr(event, "stream_id", None)
            lane = self._lanes.get(stream_id if isinstance(stream_id, str) else None)
            if lane is None:
                await unrouted(event)
                return
            if lane.closed:
                # Its reader went away; the rest of the response is dropped.
                if _event_type(event) in _FINAL_RESPONSE_EVENTS:
                    self._release(stream_id, lane)
                return
            try:
                await lane.send.send(event)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass

        session.deliver = deliver

        def end() -> None:
            # A response cut off by the connection's end is over: its
            # reader sees the end after the events already queued, and the
            # lanes are free for a create on a new connection.
            for lane_id, lane in list(self._lanes.items()):
                self._release(lane_id, lane)

        session.on_end = end

    def _release(self, lane_id: str | None, lane: _Lane) -> None:
        if self._lanes.get(lane_id) is lane:
            del self._lanes[lane_id]
            lane.send.close()
            self._lane_free.set()
            self._lane_free = trio.Event()

    async def send(self, event: ResponsesClientEventParam | Mapping[str, Any] | str) -> None:
        """Send a client event (or, for tests of a server, raw text)."""
        await self._session.send(event)

    async def recv(self) -> ResponsesServerEvent | UnknownRealtimeEvent:
        """The next event that belongs to no ``create`` stream."""
        return cast("ResponsesServerEvent | UnknownRealtimeEvent", await self._session.recv())

    def __aiter__(self) -> ResponsesConnection:
        return self

    async def __anext__(self) -> ResponsesServerEvent | UnknownRealtimeEvent:
        try:
            return await self.recv()
        except WebSocketConnectionClosed:
            raise StopAsyncIteration from None

    async def create(self, *, wait: bool = True, stream_id: str | None = None, **params: Any) -> ResponseStream:
        """Send ``response.create`` with ``params`` (what ``responses.create``
        takes, less ``stream``) and return its events."""
        if stream_id is not None and not isinstance(stream_id, str):
            raise LocalProtocolError("stream_id must be a str or None")
        while stream_id in self._lanes:
            if not wait:
                raise ResponseInFlightError(
                    "a response is still in flight on this connection"
                    + ("" if stream_id is None else f" (stream_id {stream_id!r})")
                    + "; finish or close its stream first, or pass wait=True"
                )
            await self._lane_free.wait()
        event: dict[str, Any] = {"type": "response.create", **params}
        if stream_id is not None:
            event["stream_id"] = stream_id
        await self._maybe_reconnect()
        if stream_id in self._lanes:
            # Another task took the lane while this one reconnected.
            return await self.create(wait=wait, stream_id=stream_id, **params)
        lane = _Lane(self._manager._options.max_queue)
        self._lanes[stream_id] = lane
        try:
            await self._session.send(event)
        except BaseException:
            self._release(stream_id, lane)
            raise
        return ResponseStream(self, stream_id, lane)

    async def _maybe_reconnect(self) -> None:
        async with self._reconnecting:
            session = self._session
            if self._lanes:
                return
            limit = self._manager._reconnect_after
            too_old = limit is not None and trio.current_time() - session.opened_at >= limit
            closed_cleanly = isinstance(session._ended, WebSocketConnectionClosed)
            if not (too_old or closed_cleanly):
                return
            await session.aclose()
            new = await self._manager._open_session()
            self._bind(new)
            self.connections += 1


class ResponsesConnectionManager(_ManagerBase):
    """What ``client.responses.connect()`` returns: ``async with`` it."""

    def __init__(
        self,
        client: Client,
        request: WebSocketRequest,
        options: _Options,
        reconnect_after: float | None,
        *,
        refresh: Callable[[], Awaitable[WebSocketRequest]] | None = None,
    ) -> None:
        super().__init__()
        self._client = client
        self._request = request
        self._options = options
        self._reconnect_after = reconnect_after
        self._refresh = refresh
        self._connection: ResponsesConnection | None = None

    def __repr__(self) -> str:
        return f"<ResponsesConnectionManager {self._request!r}>"

    async def _open_session(self) -> WebSocketSession:
        assert self._nursery is not None
        request = self._request if self._refresh is None else await self._refresh()
        session = _session(self._client, request, self._options)
        await session.open(self._nursery)
        return session

    async def __aenter__(self) -> ResponsesConnection:
        await self._enter_nursery()
        try:
            session = await self._open_session()
        except BaseException:
            await self._exit_nursery()
            raise
        self._connection = ResponsesConnection(self, session)
        return self._connection

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        connection = self._connection
        # Set by a successful __aenter__, the only way here.
        assert connection is not None
        self._connection = None
        try:
            await connection._session.aclose(cancelled=isinstance(exc, trio.Cancelled))
        finally:
            await self._exit_nursery(connection._session)

