"""The fake server's WebSocket mode: a scripted Realtime session and the
Responses API's WebSocket mode.

``FakeServer`` hands an HTTP/1.1 ``GET`` with ``Upgrade: websocket`` on
``/v1/realtime`` or ``/v1/responses`` (or Azure's ``/openai/realtime``
and ``/openai/responses``) to ``serve_websocket``, which answers
the upgrade (or refuses it: 401 without a bearer token) and then speaks
RFC 6455 with wsproto's server side.  ``server.websocket`` (a
``WebSocketScript``) says how it behaves and records what it received.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import TYPE_CHECKING, Any

import attrs
import h11
import trio
import wsproto.connection
import wsproto.events

from ._responses import FakeResponse, ReceivedRequest

if TYPE_CHECKING:
    from ._server import FakeServer

__all__ = ["WEBSOCKET_PATHS", "WebSocketScript", "is_websocket_upgrade", "serve_websocket"]

#: The paths served as WebSockets, and the mode of each.
#: Azure OpenAI's (``/openai/...``, the deployment in the query) are here too.
WEBSOCKET_PATHS = {
    "/v1/realtime": "realtime",
    "/v1/responses": "responses",
    "/openai/realtime": "realtime",
    "/openai/responses": "responses",
}

_ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_RECEIVE_SIZE = 65536
# Input audio kept for tests to look at; more is counted, not kept.
_MAX_AUDIO_KEPT = 64 * 1024 * 1024
_MAX_MESSAGE = 16 * 1024 * 1024
# How long the server waits for the client's answer to its close frame.
_CLOSE_WAIT = 5.0
# The states after a close frame from the client.
_CLOSE_RECEIVED = (wsproto.connection.ConnectionState.REMOTE_CLOSING, wsproto.connection.ConnectionState.CLOSED)


def _default_audio() -> bytes:
    # 0.1 s of 24 kHz 16-bit PCM: a deterministic saw tooth.
    return b"".join((i % 256).to_bytes(2, "little", signed=False) for i in range(2400))


@attrs.define
class WebSocketScript:
    """How the fake server's WebSocket mode behaves, and what it saw.

    * ``reply``: the text of every response (words become deltas); None
      uses the server's ``reply``;
    * ``audio``: the PCM bytes of an audio response, sent base64 in pieces
      of ``audio_chunk`` bytes (``response.output_audio.delta``);
    * ``events_on_connect``: server events sent right after ``session.created``
      (any type, known or not);
    * ``close_code``/``close_reason``/``close_on``: close the connection with
      that code when a client event of type ``close_on`` arrives (instead of
      answering it), or right after connecting with ``close_on="connect"``;
    * ``answer_pings``: False leaves pings unanswered (a ping timeout test);
    * ``event_delay``: seconds between the events of a response;
    * ``max_age``: seconds after which the server ends the connection, as
      the API does at its age limit: an ``error`` event with code
      ``websocket_connection_limit_reached``, then a close with 1000.

    ``received`` holds every client event (decoded), ``audio_received`` the
    decoded input audio, ``connections`` the number of WebSockets accepted
    and ``close_codes`` the code of each close frame the client sent.
    """

    reply: str | None = None
    audio: bytes = attrs.field(factory=_default_audio, repr=False)
    audio_chunk: int = 2400
    events_on_connect: list[dict[str, Any]] = attrs.field(factory=list)
    close_code: int | None = None
    close_reason: str = ""
    close_on: str | None = None
    answer_pings: bool = True
    event_delay: float = 0.0
    max_age: float | None = None
    received: list[dict[str, Any]] = attrs.field(factory=list, repr=False)
    audio_received: bytearray = attrs.field(factory=bytearray, repr=False)
    connections: int = 0
    close_codes: list[int] = attrs.field(factory=list)

    def close_with(self, code: int, reason: str = "", *, on: str = "connect") -> None:
        """Close every new connection with ``code`` when ``on`` arrives."""
        self.close_code = code
        self.close_reason = reason
        self.close_on = on


def is_websocket_upgrade(request: ReceivedRequest) -> bool:
    upgrade = (request.headers.get("upgrade") or "").lower()
    return request.method == "GET" and "websocket" in upgrade and request.path in WEBSOCKET_PATHS


def _accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode("latin-1") + _ACCEPT_GUID).digest()).decode("ascii")


async def _refuse(conn: h11.Connection, stream: trio.abc.Stream, response: FakeResponse) -> None:
    body = b"".join(response.body)
    headers = [(k, v) for k, v in response.headers if k.lower() != "content-length"]
    headers += [("content-length", str(len(body))), ("connection", "close")]
    data = conn.send(h11.Response(status_code=response.status, headers=headers))
    data = (data or b"") + (conn.send(h11.Data(data=body)) or b"") + (conn.send(h11.EndOfMessage()) or b"")
    await stream.send_all(data)


def _authorised(server: FakeServer, request: ReceivedRequest) -> bool:
    key = server._api_key
    auth = request.headers.get("authorization") or ""
    azure = request.headers.get("api-key")
    if key is not None:
        return auth == f"Bearer {key}" or azure == key
    # Without a configured key any credential will do, but one is needed.
    return (auth.startswith("Bearer ") and len(auth) > 7) or bool(azure)


async def serve_websocket(
    server: FakeServer, conn: h11.Connection, stream: trio.abc.Stream, request: ReceivedRequest
) -> None:
    """Answer the upgrade ``request`` (already read by ``conn``) and serve
    the WebSocket until either side closes it."""
    kind = WEBSOCKET_PATHS[request.path]
    if not _authorised(server, request):
        await _refuse(
            conn,
            stream,
            FakeResponse.error(
                401,
                "Missing or incorrect bearer token. Pass the API key in an Authorization: Bearer header.",
                type="invalid_request_error",
                code="invalid_api_key",
            ),
        )
        return
    query = request.query
    if kind == "realtime" and not (query.get("model") or query.get("call_id") or query.get("deployment")):
        await _refuse(conn, stream, FakeResponse.error(400, "A Realtime session needs a model (or call_id).", type="invalid_request_error"))
        return
    key = request.headers.get("sec-websocket-key")
    if not key or request.headers.get("sec-websocket-version") != "13":
        await _refuse(conn, stream, FakeResponse.error(400, "Not a valid WebSocket upgrade request.", type="invalid_request_error"))
        return
    script = server.websocket
    script.connections += 1
    number = script.connections
    data = conn.send(
        h11.InformationalResponse(
            status_code=101,
            headers=[
                ("upgrade", "websocket"),
                ("connection", "Upgrade"),
                ("sec-websocket-accept", _accept(key)),
                ("x-request-id", f"req_ws_{number}"),
            ],
        )
    )
    await stream.send_all(data or b"")
    trailing, _closed = conn.trailing_data
    session = _Session(server, stream, kind, number, request)
    await session.run(bytes(trailing))


class _Session:
    def __init__(
        self, server: FakeServer, stream: trio.abc.Stream, kind: str, number: int, request: ReceivedRequest
    ) -> None:
        self._server = server
        self._script = server.websocket
        self._stream = stream
        self._kind = kind
        self._number = number
        self._request = request
        self._ws = wsproto.connection.Connection(wsproto.connection.ConnectionType.SERVER)
        self._lock = trio.Lock()
        self._closing = False
        self._counter = 0
        self._parts: list[str] = []
        self._size = 0
        self._session: dict[str, Any] = {
            "type": "realtime",
            "object": "realtime.session",
            "id": f"sess_fake_{number}",
            "model": (request.query.get("model") or request.query.get("deployment") or ["gpt-realtime"])[0],
            "output_modalities": ["audio"],
            "instructions": "",
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
            "audio": {
                "input": {"format": {"type": "audio/pcm", "rate": 24000}, "turn_detection": None},
                "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy", "speed": 1.0},
            },
        }
        self._items: dict[str, dict[str, Any]] = {}
        self._last_item: str | None = None
        self._buffered_audio = 0

    def _id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._number}_{self._counter}"

    # -- wire ------------------------------------------------------------------

    async def _write(self, event: wsproto.events.Event) -> None:
        async with self._lock:
            if self._ws.state not in (
                wsproto.connection.ConnectionState.OPEN,
                wsproto.connection.ConnectionState.REMOTE_CLOSING,
            ):
                return
            await self._stream.send_all(self._ws.send(event))

    async def send(self, event: dict[str, Any]) -> None:
        if self._closing:
            return
        await self._write(wsproto.events.TextMessage(data=json.dumps(event, separators=(",", ":"))))

    async def close(self, code: int, reason: str = "") -> None:
        if self._closing:
            return
        await self._write(wsproto.events.CloseConnection(code=code, reason=reason))
        self._closing = True

    async def _error(self, message: str, *, code: str | None = None, event_id: str | None = None, param: str | None = None, **extra: Any) -> None:
        error = {"type": "invalid_request_error", "code": code, "message": message, "param": param, "event_id": event_id}
        if self._kind == "realtime":
            await self.send({"type": "error", "event_id": self._id("event_"), "error": error})
        else:
            await self.send({"type": "error", "status": 400, "error": error, **extra})

    # -- the loop --------------------------------------------------------------

    async def run(self, initial: bytes) -> None:
        async with trio.open_nursery() as nursery:
            if self._script.max_age is not None:
                nursery.start_soon(self._age_limit, self._script.max_age)
            try:
                await self._greet()
                if initial:
                    self._ws.receive_data(initial)
                await self._loop()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                # The client went away: nothing left to do.
                pass
            finally:
                nursery.cancel_scope.cancel()

    async def _age_limit(self, seconds: float) -> None:
        try:
            await self._age_limit_reached(seconds)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async def _age_limit_reached(self, seconds: float) -> None:
        await trio.sleep(seconds)
        await self._error(
            "The WebSocket connection reached its age limit; open a new one.",
            code="websocket_connection_limit_reached",
        )
        await self.close(1000, "connection age limit reached")
        # Give the client a moment to answer, then hang up.
        await trio.sleep(_CLOSE_WAIT)
        await trio.aclose_forcefully(self._stream)

    async def _greet(self) -> None:
        script = self._script
        if script.close_code is not None and script.close_on == "connect":
            await self.close(script.close_code, script.close_reason)
            return
        if self._kind == "realtime":
            await self.send({"type": "session.created", "event_id": self._id("event_"), "session": dict(self._session)})
        for event in script.events_on_connect:
            await self.send(dict(event))

    async def _loop(self) -> None:
        while True:
            for event in self._ws.events():
                if isinstance(event, wsproto.events.TextMessage):
                    self._size += len(event.data)
                    if self._size > _MAX_MESSAGE:
                        await self.close(1009, "message too big")
                        continue
                    self._parts.append(event.data)
                    if event.message_finished:
                        text = "".join(self._parts)
                        self._parts = []
                        self._size = 0
                        await self._message(text)
                elif isinstance(event, wsproto.events.BytesMessage):
                    if event.message_finished:
                        await self._error("Binary messages are not supported; send JSON text.")
                elif isinstance(event, wsproto.events.Ping):
                    if self._script.answer_pings:
                        await self._write(event.response())
                elif isinstance(event, wsproto.events.CloseConnection):
                    # A frame wsproto cannot parse comes as a close (1002)
                    # that leaves the state alone: only the client's own
                    # close frames are recorded.
                    if self._ws.state in _CLOSE_RECEIVED:
                        self._script.close_codes.append(int(event.code))
                    if not self._closing:
                        await self._write(event.response())
                    return
            if self._closing:
                with trio.move_on_after(_CLOSE_WAIT):
                    data = await self._stream.receive_some(_RECEIVE_SIZE)
                    if not data:
                        return
                    self._ws.receive_data(bytes(data))
                    continue
                return
            data = await self._stream.receive_some(_RECEIVE_SIZE)
            if not data:
                return
            # Never raises here: frames are parsed by events(), and the
            # loop has returned once the connection is closed.
            self._ws.receive_data(bytes(data))

    async def _message(self, text: str) -> None:
        try:
            event = json.loads(text)
        except ValueError:
            await self._error("The message is not valid JSON.", code="invalid_json")
            return
        if not isinstance(event, dict):
            await self._error("A client event must be a JSON object.", code="invalid_json")
            return
        self._script.received.append(event)
        if len(self._script.received) > self._server._record_limit:
            del self._script.received[0]
        kind = event.get("type")
        script = self._script
        if script.close_code is not None and script.close_on == kind:
            await self.close(script.close_code, script.close_reason)
            return
        if self._kind == "responses":
            await self._responses(event)
        else:
            await self._realtime(event)

    # -- Responses WebSocket mode ----------------------------------------------

    async def _responses(self, event: dict[str, Any]) -> None:
        stream_id = event.get("stream_id")
        lane = {} if stream_id is None else {"stream_id": stream_id}
        if event.get("type") != "response.create":
            await self._error(f"Unknown event type {event.get('type')!r}; only 'response.create' is accepted.", code="unknown_event_type", **lane)
            return
        body = {k: v for k, v in event.items() if k not in ("type", "stream_id")}
        body["stream"] = True
        request = ReceivedRequest(
            method="POST",
            target="/v1/responses",
            headers=self._request.headers,
            body=json.dumps(body).encode(),
            connection=self._request.connection,
        )
        answer = self._server.openai(request)
        if answer.status != 200:
            try:
                error = json.loads(b"".join(answer.body))["error"]
            except (ValueError, KeyError, TypeError):
                error = {"type": "server_error", "message": "The fake server failed.", "code": None, "param": None}
            await self.send({"type": "error", "status": answer.status, "error": error, **lane})
            return
        first = True
        for piece in answer.body:
            for line in piece.decode("utf-8").split("\n"):
                if not line.startswith("data: "):
                    continue
                payload = json.loads(line[6:])
                if not first and self._script.event_delay:
                    await trio.sleep(self._script.event_delay)
                first = False
                await self.send({**payload, **lane})

    # -- Realtime ----------------------------------------------------------------

    async def _realtime(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        client_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        handler = _REALTIME.get(kind) if isinstance(kind, str) else None
        if handler is None:
            await self._error(f"Invalid value: {kind!r} is not a supported client event type.", code="invalid_value", param="type", event_id=client_id)
            return
        await handler(self, event, client_id)

    async def _session_update(self, event: dict[str, Any], client_id: str | None) -> None:
        session = event.get("session")
        if not isinstance(session, dict):
            await self._error("Missing required parameter: 'session'.", code="missing_required_parameter", param="session", event_id=client_id)
            return
        for name, value in session.items():
            if name == "audio" and isinstance(value, dict):
                audio = self._session["audio"]
                for side, settings in value.items():
                    if isinstance(settings, dict):
                        audio[side] = {**audio.get(side, {}), **settings}
            else:
                self._session[name] = value
        await self.send({"type": "session.updated", "event_id": self._id("event_"), "session": dict(self._session)})

    def _add_item(self, item: dict[str, Any]) -> str | None:
        previous = self._last_item
        self._items[item["id"]] = item
        self._last_item = item["id"]
        return previous

    async def _item_create(self, event: dict[str, Any], client_id: str | None) -> None:
        item = event.get("item")
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            await self._error("Missing required parameter: 'item.type'.", code="missing_required_parameter", param="item", event_id=client_id)
            return
        item = {"object": "realtime.item", "status": "completed", **item}
        item.setdefault("id", self._id("item_"))
        previous = self._add_item(item)
        await self.send({"type": "conversation.item.created", "event_id": self._id("event_"), "previous_item_id": previous, "item": item})

    async def _item_lookup(self, event: dict[str, Any], client_id: str | None) -> dict[str, Any] | None:
        item_id = event.get("item_id")
        item = self._items.get(item_id) if isinstance(item_id, str) else None
        if item is None:
            await self._error(f"Item with item_id {item_id!r} not found.", code="item_not_found", param="item_id", event_id=client_id)
        return item

    async def _item_delete(self, event: dict[str, Any], client_id: str | None) -> None:
        item = await self._item_lookup(event, client_id)
        if item is not None:
            del self._items[item["id"]]
            await self.send({"type": "conversation.item.deleted", "event_id": self._id("event_"), "item_id": item["id"]})

    async def _item_retrieve(self, event: dict[str, Any], client_id: str | None) -> None:
        item = await self._item_lookup(event, client_id)
        if item is not None:
            await self.send({"type": "conversation.item.retrieved", "event_id": self._id("event_"), "item": item})

    async def _item_truncate(self, event: dict[str, Any], client_id: str | None) -> None:
        item = await self._item_lookup(event, client_id)
        if item is not None:
            await self.send(
                {
                    "type": "conversation.item.truncated",
                    "event_id": self._id("event_"),
                    "item_id": item["id"],
                    "content_index": event.get("content_index", 0),
                    "audio_end_ms": event.get("audio_end_ms", 0),
                }
            )

    async def _audio_append(self, event: dict[str, Any], client_id: str | None) -> None:
        audio = event.get("audio")
        try:
            if not isinstance(audio, str):
                raise ValueError
            data = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError):
            await self._error("Invalid 'audio': expected base64-encoded audio bytes.", code="invalid_value", param="audio", event_id=client_id)
            return
        self._buffered_audio += len(data)
        kept = self._script.audio_received
        # Past the limit the slice is empty: nothing more is kept.
        kept += data[: _MAX_AUDIO_KEPT - len(kept)]

    async def _audio_commit(self, event: dict[str, Any], client_id: str | None) -> None:
        if not self._buffered_audio:
            await self._error("Error committing input audio buffer: the buffer is empty.", code="input_audio_buffer_commit_empty", event_id=client_id)
            return
        self._buffered_audio = 0
        item = {
            "id": self._id("item_"),
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        previous = self._add_item(item)
        await self.send({"type": "input_audio_buffer.committed", "event_id": self._id("event_"), "previous_item_id": previous, "item_id": item["id"]})
        await self.send({"type": "conversation.item.created", "event_id": self._id("event_"), "previous_item_id": previous, "item": item})

    async def _audio_clear(self, event: dict[str, Any], client_id: str | None) -> None:
        self._buffered_audio = 0
        await self.send({"type": "input_audio_buffer.cleared", "event_id": self._id("event_")})

    async def _response_cancel(self, event: dict[str, Any], client_id: str | None) -> None:
        await self._error("Cancellation failed: no active response found.", code="response_cancel_not_active", event_id=client_id)

    async def _output_clear(self, event: dict[str, Any], client_id: str | None) -> None:
        await self._error("output_audio_buffer.clear is only supported for WebRTC and SIP sessions.", code="invalid_value", event_id=client_id)

    async def _response_create(self, event: dict[str, Any], client_id: str | None) -> None:
        options = event.get("response")
        if options is not None and not isinstance(options, dict):
            await self._error("Invalid type for 'response': expected an object.", code="invalid_type", param="response", event_id=client_id)
            return
        options = options or {}
        modalities = options.get("output_modalities") or self._session.get("output_modalities") or ["audio"]
        audio_out = "audio" in modalities
        text = self._script.reply if self._script.reply is not None else self._server.openai.reply
        # str.split never returns an empty list: there is a last word.
        pieces = text.split(" ")
        words = [w + " " for w in pieces[:-1]] + pieces[-1:]
        response_id = self._id("resp_")
        item_id = self._id("item_")
        where = {"response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0}
        part_type = "audio" if audio_out else "text"
        response = {
            "object": "realtime.response",
            "id": response_id,
            "status": "in_progress",
            "status_details": None,
            "output": [],
            "conversation_id": f"conv_fake_{self._number}",
            "output_modalities": ["audio"] if audio_out else ["text"],
            "metadata": options.get("metadata"),
            "usage": None,
        }
        item = {"id": item_id, "object": "realtime.item", "type": "message", "role": "assistant", "status": "in_progress", "content": []}
        events: list[dict[str, Any]] = [
            {"type": "response.created", "response": dict(response)},
            {"type": "response.output_item.added", "response_id": response_id, "output_index": 0, "item": dict(item)},
            {"type": "response.content_part.added", **where, "part": {"type": part_type, "text" if not audio_out else "transcript": ""}},
        ]
        if audio_out:
            events += [{"type": "response.output_audio_transcript.delta", **where, "delta": w} for w in words]
            audio = self._script.audio
            step = max(2, self._script.audio_chunk)
            events += [
                {"type": "response.output_audio.delta", **where, "delta": base64.b64encode(audio[i : i + step]).decode("ascii")}
                for i in range(0, len(audio), step)
            ]
            events += [
                {"type": "response.output_audio.done", **where},
                {"type": "response.output_audio_transcript.done", **where, "transcript": text},
            ]
            content = {"type": "output_audio", "transcript": text}
        else:
            events += [{"type": "response.output_text.delta", **where, "delta": w} for w in words]
            events.append({"type": "response.output_text.done", **where, "text": text})
            content = {"type": "output_text", "text": text}
        done_item = dict(item, status="completed", content=[content])
        events += [
            {"type": "response.content_part.done", **where, "part": {"type": part_type, "text" if not audio_out else "transcript": text}},
            {"type": "response.output_item.done", "response_id": response_id, "output_index": 0, "item": done_item},
            {
                "type": "response.done",
                "response": dict(
                    response,
                    status="completed",
                    output=[done_item],
                    usage={"total_tokens": 2 * len(words), "input_tokens": len(words), "output_tokens": len(words)},
                ),
            },
        ]
        if options.get("conversation") != "none":
            self._add_item(done_item)
        for i, out in enumerate(events):
            if i and self._script.event_delay:
                await trio.sleep(self._script.event_delay)
            await self.send({"event_id": self._id("event_"), **out})


_REALTIME = {
    "session.update": _Session._session_update,
    "conversation.item.create": _Session._item_create,
    "conversation.item.delete": _Session._item_delete,
    "conversation.item.retrieve": _Session._item_retrieve,
    "conversation.item.truncate": _Session._item_truncate,
    "input_audio_buffer.append": _Session._audio_append,
    "input_audio_buffer.commit": _Session._audio_commit,
    "input_audio_buffer.clear": _Session._audio_clear,
    "response.create": _Session._response_create,
    "response.cancel": _Session._response_cancel,
    "output_audio_buffer.clear": _Session._output_clear,
}
