"""The client side of one WebSocket connection: the Realtime API and the
Responses API's WebSocket mode.

``WebSocketConnection`` speaks the same verbs as the HTTP connections
(``data_to_send``, ``receive_data``, ``next_event``) plus three of its own:
``send`` a client event, ``ping``, ``close``.  The opening handshake goes
over h11 (as wsproto's own handshake does, but with the key made from the
caller's random bytes); frames are parsed by wsproto and written here, so
that every masking key comes from the caller's random source too and a test
can assert the exact bytes of a frame.  Like the rest of the core it reads
no clock and draws no randomness of its own.

``realtime_request`` and ``responses_websocket_request`` build where the
connection goes and the headers it carries, from a ``ClientConfig``, with
the same code that builds HTTP requests.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import json
from typing import TYPE_CHECKING, Any, Callable, Final, Mapping
from urllib.parse import unquote

import attrs
import h11
import wsproto.connection
import wsproto.events

from ._call import Call, RequestOptions, _encode_body
from ._config import ClientConfig
from ._errors import (
    APIError,
    APIResponseValidationError,
    APIStatusError,
    IncompleteResponseError,
    LocalProtocolError,
    RemoteProtocolError,
    StreamDecodeError,
)
from ._events import NEED_DATA
from ._header_rules import authority, check_name, encode_value
from ._headers import Headers
from ._redact import RedactedBytes, drop_frames, redact_target, scrub_text, scrub_value
from ._request import Origin, Request

if TYPE_CHECKING:
    from ._azure import AzureConfig

__all__ = [
    "DEFAULT_MAX_WEBSOCKET_MESSAGE_SIZE",
    "RESPONSES_WEBSOCKET_MAX_AGE",
    "BinaryMessage",
    "PongReceived",
    "WebSocketClosed",
    "WebSocketClosedError",
    "WebSocketConnection",
    "WebSocketOpened",
    "WebSocketRequest",
    "WebSocketState",
    "realtime_request",
    "responses_websocket_request",
]

#: The largest message (after its fragments are joined) a connection accepts
#: or sends unless told otherwise.  Realtime audio deltas are small; a whole
#: ``response.done`` with long output is the big one.
DEFAULT_MAX_WEBSOCKET_MESSAGE_SIZE: Final = 16 * 1024 * 1024

#: How long (seconds) the API keeps a Responses WebSocket open: it ends a
#: connection at this age (with a ``websocket_connection_limit_reached``
#: error), so a client opens a new one before that.
RESPONSES_WEBSOCKET_MAX_AGE: Final = 60 * 60.0

# RFC 6455 section 1.3: the server proves it read our key by hashing it
# with this fixed string.
_ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_CONTROL_PAYLOAD = 125
_OP_TEXT = 0x1
_OP_BINARY = 0x2
_OP_CLOSE = 0x8
_OP_PING = 0x9
_OP_PONG = 0xA
# Codes a close frame may carry (RFC 6455 7.4): 1004-1006 and 1015 are
# reserved for reports, never for the wire, and 1016-2999 are unassigned.
_SENDABLE_CODES = frozenset({1000, 1001, 1002, 1003, *range(1007, 1015)})
# Codes that end the connection the way the caller wanted: a normal close,
# and a close frame with no code in it (wsproto reports that as 1005).
_NORMAL_CODES = frozenset({1000, 1005})
# Server-side trouble that says nothing against the request: going away,
# internal error, restarting, try again later, bad gateway.
_RETRYABLE_CODES = frozenset({1001, 1011, 1012, 1013, 1014})
# Enough of an error answer to the handshake to show what the server said.
_MAX_ERROR_BODY = 64 * 1024
# Refused handshake headers: the connection owns the upgrade.
_OWN_HEADERS = frozenset(
    {
        "host",
        "upgrade",
        "connection",
        "content-length",
        "transfer-encoding",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-accept",
    }
)
# Header removals handed to Call: an upgrade is not a JSON call and is
# never retried, so neither field means anything on it.
_NOT_SENT: dict[str, None] = {"accept": None, "x-retry-count": None}


class WebSocketState(enum.Enum):
    """Where a connection is: ``CONNECTING`` until the server accepts the
    upgrade, ``OPEN`` while messages flow both ways, ``CLOSING`` once our
    close frame is queued and the server's has not arrived, ``CLOSED`` for
    good (the caller then closes the transport)."""

    CONNECTING = "CONNECTING"
    OPEN = "OPEN"
    CLOSING = "CLOSING"
    CLOSED = "CLOSED"

    def __repr__(self) -> str:
        return self.value


# -- events ------------------------------------------------------------------


@attrs.frozen
class WebSocketOpened:
    """The server accepted the upgrade; ``headers`` are its 101 response's
    (``x-request-id`` among them).  Always the first event."""

    headers: Headers


@attrs.frozen
class WebSocketClosed:
    """The connection ended cleanly: the server closed it with 1000 (or no
    code), or answered the close frame we sent (``local``).  The last event;
    ``next_event`` keeps returning it."""

    code: int
    reason: str
    local: bool = False


@attrs.frozen
class PongReceived:
    """The server answered a ping (``payload`` as sent in it)."""

    payload: bytes


@attrs.frozen(repr=False)
class BinaryMessage:
    """A binary message (neither API sends them; kept, not dropped)."""

    data: bytes

    def __repr__(self) -> str:
        return f"BinaryMessage(len={len(self.data)})"


def _decoders(kind: str) -> tuple[Callable[[Any], Any], Callable[[Mapping[str, Any]], None]]:
    """The server event decoder and the client event check for ``kind``;
    the generated models load only when a connection is made."""
    from . import _realtime_events as events

    if kind == "responses":
        return events.decode_responses_ws_server_event, events.validate_responses_ws_client_event
    return events.decode_realtime_server_event, events.validate_realtime_client_event


# -- errors ------------------------------------------------------------------


class WebSocketClosedError(APIError):
    """The server closed the WebSocket with a code other than 1000: a
    policy violation (1008), an application code (4000-4999), a message it
    would not take (1003, 1007, 1009), and so on.  ``code`` and ``reason``
    are what its close frame said; ``retryable`` is true for the codes that
    blame the server rather than the request (1001 going away, 1011, 1012
    restarting, 1013 try again later, 1014), where opening a new connection
    is the remedy.

    A connection lost with no close frame at all is not this error but
    ``IncompleteResponseError``, as for HTTP.
    """

    def __init__(self, code: int, reason: str, *, request: Request | None = None) -> None:
        shown = f": {reason}" if reason else ""
        super().__init__(f"The server closed the WebSocket with code {code}{shown}", request=request)
        # Not ``code``: on an APIError that is the API's error code string.
        self.close_code = code
        self.reason = reason
        self.retryable = code in _RETRYABLE_CODES


# -- where a connection goes ---------------------------------------------------


@attrs.frozen(repr=False, eq=False)
class WebSocketRequest:
    """Where a WebSocket connection goes and the headers its upgrade
    request carries.

    ``origin`` is the transport's (``https`` for ``wss://``, ``http`` for
    ``ws://``), so pools, TLS and proxies treat it as an HTTP connection;
    ``target`` is the path and query of the upgrade request; ``url`` the
    ``ws(s)://`` form.  ``kind`` (``"realtime"`` or ``"responses"``) picks
    how server events are decoded.  Build it with ``realtime_request`` or
    ``responses_websocket_request``; the repr redacts every credential.
    """

    origin: Origin
    target: str
    headers: tuple[tuple[str, str], ...]
    kind: str
    _call: Call = attrs.field(alias="call")

    @property
    def url(self) -> str:
        scheme = "wss" if self.origin.scheme == "https" else "ws"
        return f"{scheme}://{authority(self.origin).decode('ascii')}{self.target}"

    @property
    def secrets(self) -> tuple[str, ...]:
        """The credentials the upgrade request carries, longest first."""
        return self._call.secrets

    @property
    def request(self) -> Request:
        """The upgrade request as an HTTP ``Request`` (what errors carry)."""
        return self._call.request()

    def decode_error(self, status_code: int, headers: Headers, body: bytes) -> APIStatusError:
        """The typed error for a refused upgrade, as for an HTTP call."""
        return self._call.decode_error(status_code, headers, body)

    def __repr__(self) -> str:
        scheme = "wss" if self.origin.scheme == "https" else "ws"
        shown = redact_target(self.target, self.secrets)
        where = f"{scheme}://{authority(self.origin).decode('ascii')}{shown}"
        return f"<WebSocketRequest {self.kind} {where!r}>"

    __str__ = __repr__


def _websocket_request(
    config: ClientConfig,
    kind: str,
    path: str,
    query: Mapping[str, object],
    extra_headers: Mapping[str, str | None] | None,
    extra_query: Mapping[str, object] | None,
) -> WebSocketRequest:
    if not isinstance(config, ClientConfig):
        raise LocalProtocolError(f"config must be a ClientConfig, not {type(config).__name__}")
    if extra_headers is not None and not isinstance(extra_headers, Mapping):
        raise LocalProtocolError(f"extra_headers must be a mapping, not {type(extra_headers).__name__}")
    headers: dict[str, str | None] = dict(_NOT_SENT)
    for name, value in (extra_headers or {}).items():
        if isinstance(name, str) and name.lower() in _OWN_HEADERS:
            raise LocalProtocolError(f"header {name.lower()!r} is set by the WebSocket connection")
        headers[name] = value
    for name, _value in config.default_headers:
        if name.lower() in _OWN_HEADERS:
            raise LocalProtocolError(f"header {name.lower()!r} is set by the WebSocket connection")
    # The same Call that builds HTTP requests: the credential header, the
    # organization and project, default_headers, default_query and the
    # checks on every one of them; its error decoding serves a refused
    # upgrade too.
    call = Call(
        config,
        "GET",
        path,
        query=query,
        options=RequestOptions(extra_headers=headers, extra_query=extra_query, max_retries=0),
    )
    request = call.request()
    return WebSocketRequest(request.origin, request.target, request.headers, kind, call=call)


def realtime_request(
    config: ClientConfig,
    *,
    model: str | None = None,
    call_id: str | None = None,
    azure: AzureConfig | None = None,
    extra_headers: Mapping[str, str | None] | None = None,
    extra_query: Mapping[str, object] | None = None,
) -> WebSocketRequest:
    """Where a Realtime session goes: ``{base_url}/realtime`` with
    ``?model=`` (a new session) or ``?call_id=`` (joining a SIP or WebRTC
    call), over ``wss://`` for an https base URL and ``ws://`` for http,
    with the config's credential (``Authorization: Bearer``), organization,
    project, default headers and default query, as the official SDK sends.

    With ``azure`` (an ``AzureConfig``; pass ``config`` from its
    ``client_config()``) the session goes to ``{endpoint}/openai/realtime``
    with ``api-version`` and ``deployment`` (the configured deployment,
    else ``model``, which Azure then requires) in the query, and the
    credential in ``api-key`` or as a bearer token, as the official SDK's
    Azure client does (its ``api-version`` and ``deployment`` win over
    ``extra_query``).  A token from an ``azure_ad_token_provider`` goes in
    ``extra_headers`` (see ``AzureConfig.auth_header``).
    """
    for what, value in (("model", model), ("call_id", call_id)):
        if value is not None and (not isinstance(value, str) or not value):
            raise LocalProtocolError(f"{what} must be a non-empty str")
    query: dict[str, object] = {}
    if azure is not None:
        from ._azure import AzureConfig as _AzureConfig

        if not isinstance(azure, _AzureConfig):
            raise LocalProtocolError(f"azure must be an AzureConfig, not {type(azure).__name__}")
        deployment = unquote(azure.azure_deployment) if azure.azure_deployment else model
        if not deployment:
            raise LocalProtocolError("an Azure Realtime session needs model= (or an azure_deployment)")
        if call_id is not None:
            query["call_id"] = call_id
        query["deployment"] = deployment
        if isinstance(extra_query, Mapping):
            # As in the official SDK, the client's api-version and
            # deployment win over the caller's extra query.
            extra_query = {k: v for k, v in extra_query.items() if k not in ("api-version", "deployment")}
    else:
        if model is not None:
            query["model"] = model
        if call_id is not None:
            query["call_id"] = call_id
        if not query:
            raise LocalProtocolError("a Realtime session needs model= or call_id=")
    return _websocket_request(config, "realtime", "/realtime", query, extra_headers, extra_query)


def responses_websocket_request(
    config: ClientConfig,
    *,
    extra_headers: Mapping[str, str | None] | None = None,
    extra_query: Mapping[str, object] | None = None,
) -> WebSocketRequest:
    """Where a Responses WebSocket goes: ``{base_url}/responses`` over
    ``wss://`` (``ws://`` for an http base URL), with the same headers and
    default query as any call made with ``config`` (so an Azure config
    brings its ``api-key`` and ``api-version``).  The model is named in
    each ``response.create`` event, not here.  The server ends the
    connection at ``RESPONSES_WEBSOCKET_MAX_AGE`` seconds and runs one
    response at a time on it.
    """
    return _websocket_request(config, "responses", "/responses", {}, extra_headers, extra_query)


# -- frames --------------------------------------------------------------------


def _mask(payload: bytes, key: bytes) -> bytes:
    """``payload`` XORed with the repeated 4-byte ``key`` (RFC 6455 5.3)."""
    n = len(payload)
    if not n:
        return b""
    # One big-integer XOR runs in C over the whole payload: linear, and far
    # quicker than a Python loop over its bytes.
    pad = (key * ((n + 3) // 4))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(pad, "little")).to_bytes(n, "little")


def encode_frame(opcode: int, payload: bytes, mask: bytes) -> bytes:
    """One final (FIN) client frame: opcode, the MASK bit, a 7-, 16- or
    64-bit payload length, the masking key and the masked payload."""
    n = len(payload)
    first = 0x80 | opcode
    if n <= 125:
        head = bytes((first, 0x80 | n))
    elif n <= 0xFFFF:
        head = bytes((first, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((first, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + mask + _mask(payload, mask)


def accept_value(key: bytes) -> bytes:
    """The ``Sec-WebSocket-Accept`` a server must answer ``key`` with."""
    return base64.b64encode(hashlib.sha1(key + _ACCEPT_GUID).digest())


def _has_token(value: str | None, token: str) -> bool:
    if value is None:
        return False
    return any(part.strip().lower() == token for part in value.split(","))


# -- the connection ------------------------------------------------------------


class WebSocketConnection:
    """One client WebSocket connection: events in and out as bytes.

    ``random_bytes(n)`` must return ``n`` unpredictable bytes (``os.urandom``
    in production): 16 for the handshake key, drawn here, and 4 for the
    masking key of every frame sent.  ``decode`` turns each server event
    (a JSON object) into what ``next_event`` returns; by default the
    generated Realtime or Responses WebSocket server event models (per the
    request's ``kind``), with ``UnknownRealtimeEvent`` for a type this
    version does not know.  A client event mapping given to ``send`` is
    checked for the required keys of its type.  ``max_message_size`` bounds a message in either direction
    (received fragments are counted as they arrive); ``max_response_head_size``
    the handshake response's head.

    The upgrade request is queued at once: write ``data_to_send()``, feed
    what the server sends to ``receive_data`` (``b""`` at EOF) and call
    ``next_event`` until it returns ``NEED_DATA``, writing ``data_to_send()``
    after each round (the core answers pings and close frames itself).  The
    first event is ``WebSocketOpened``; a refused upgrade raises the typed
    ``APIStatusError`` (401 ``AuthenticationError`` and so on) with the
    server's message.  Then come server events, ``PongReceived`` and
    ``BinaryMessage``, and finally ``WebSocketClosed`` or an error:
    ``WebSocketClosedError`` for a close code other than 1000,
    ``IncompleteResponseError`` for a connection lost without a close frame,
    ``RemoteProtocolError`` for bytes that break RFC 6455 (``StreamDecodeError``
    for a message that is not a JSON object, ``APIResponseValidationError``
    for a known event type of the wrong shape).  Once it has ended,
    ``next_event`` repeats the same ending, so a loop stops on
    ``WebSocketClosed`` rather than waiting for ``NEED_DATA``.
    """

    def __init__(
        self,
        request: WebSocketRequest,
        *,
        random_bytes: Callable[[int], bytes],
        decode: Callable[[Any], Any] | None = None,
        max_message_size: int = DEFAULT_MAX_WEBSOCKET_MESSAGE_SIZE,
        max_response_head_size: int = 64 * 1024,
    ) -> None:
        if not isinstance(request, WebSocketRequest):
            raise LocalProtocolError(f"request must be a WebSocketRequest, not {type(request).__name__}")
        if not callable(random_bytes):
            raise LocalProtocolError("random_bytes must be a callable such as os.urandom")
        if isinstance(max_message_size, bool) or not isinstance(max_message_size, int) or max_message_size < 1:
            raise LocalProtocolError("max_message_size must be a positive int")
        if max_response_head_size < 1:
            raise LocalProtocolError("max_response_head_size must be positive")
        self._request = request
        self._random = random_bytes
        default_decode, self._validate = _decoders(request.kind)
        self._decode = default_decode if decode is None else decode
        self._max_message = max_message_size
        self._state = WebSocketState.CONNECTING
        self._outgoing: list[bytes] = []
        self._h11: h11.Connection | None = h11.Connection(
            h11.CLIENT, max_incomplete_event_size=max_response_head_size
        )
        self._ws: wsproto.connection.Connection | None = None
        self._ws_events: Any = None
        # A refused upgrade: its status and headers until its body is in.
        self._refused: tuple[int, Headers] | None = None
        self._error_body: list[bytes] = []
        self._error_size = 0
        # The text or binary message being put together from fragments.
        self._parts: list[Any] = []
        self._size = 0
        self._eof = False
        # How the connection ended: an event to repeat or an error to raise.
        self._final: WebSocketClosed | None = None
        self._error: BaseException | None = None
        self._key = base64.b64encode(self._draw(16))
        self._queue_handshake()

    # -- state -------------------------------------------------------------

    @property
    def state(self) -> WebSocketState:
        return self._state

    @property
    def request(self) -> WebSocketRequest:
        return self._request

    def __repr__(self) -> str:
        return f"<WebSocketConnection {self._state!r} {self._request!r}>"

    # -- sending -----------------------------------------------------------

    def _draw(self, n: int) -> bytes:
        data = self._random(n)
        if not isinstance(data, (bytes, bytearray)) or len(data) != n:
            raise LocalProtocolError(f"random_bytes({n}) must return exactly {n} bytes")
        return bytes(data)

    def _queue_handshake(self) -> None:
        request = self._request
        fields: list[tuple[bytes, bytes]] = [(b"host", authority(request.origin))]
        for name, value in request.headers:
            lname, raw_name = check_name(name)
            fields.append((raw_name, encode_value(lname, value)))
        fields += [
            (b"upgrade", b"websocket"),
            (b"connection", b"Upgrade"),
            (b"sec-websocket-key", self._key),
            (b"sec-websocket-version", b"13"),
        ]
        assert self._h11 is not None
        try:
            head = self._h11.send(
                h11.Request(method=b"GET", target=request.target.encode("ascii"), headers=fields)
            )
            tail = self._h11.send(h11.EndOfMessage())
        except h11.LocalProtocolError:  # pragma: no cover
            # Call checked every field h11 would; its message may quote one.
            raise LocalProtocolError("h11 refused the upgrade request") from None
        self._outgoing.append(RedactedBytes((head or b"") + (tail or b"")))

    def _check_open(self) -> None:
        if self._state is WebSocketState.CONNECTING:
            raise LocalProtocolError("the WebSocket handshake is not complete yet (wait for WebSocketOpened)")
        if self._state is not WebSocketState.OPEN:
            raise LocalProtocolError("the WebSocket is closing or closed")

    def _queue(self, opcode: int, payload: bytes) -> None:
        self._outgoing.append(encode_frame(opcode, payload, self._draw(4)))

    def send(self, event: Mapping[str, Any] | str | bytes) -> None:
        """Queue one message: a client event (a mapping with a ``"type"``,
        sent as JSON text), text as it is, or ``bytes`` as a binary message.

        ``LocalProtocolError`` (nothing queued) before the handshake is
        complete, after a close, for a mapping without a ``"type"`` or that
        JSON cannot carry, or for a message over ``max_message_size``.
        """
        self._check_open()
        if isinstance(event, (bytes, bytearray, memoryview)):
            opcode, payload = _OP_BINARY, bytes(event)
        elif isinstance(event, str):
            try:
                opcode, payload = _OP_TEXT, event.encode("utf-8")
            except UnicodeEncodeError:
                raise LocalProtocolError("the text is not valid Unicode (lone surrogates)") from None
        elif isinstance(event, Mapping):
            # A known type must carry its required keys; others go as given.
            self._validate(event)
            kind = event["type"]
            try:
                payload = _encode_body(event)
            except LocalProtocolError as exc:
                raise LocalProtocolError(f"the {kind!r} event {exc}") from None
            opcode = _OP_TEXT
        else:
            raise LocalProtocolError(
                f"send takes a client event mapping, str or bytes, not {type(event).__name__}"
            )
        if len(payload) > self._max_message:
            raise LocalProtocolError(
                f"the message is {len(payload)} bytes, over max_message_size ({self._max_message})"
            )
        self._queue(opcode, payload)

    def ping(self, payload: bytes = b"") -> None:
        """Queue a ping; the server's pong comes back as ``PongReceived``."""
        self._check_open()
        if not isinstance(payload, (bytes, bytearray)) or len(payload) > _MAX_CONTROL_PAYLOAD:
            raise LocalProtocolError(f"a ping payload must be bytes of at most {_MAX_CONTROL_PAYLOAD}")
        self._queue(_OP_PING, bytes(payload))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake: queue a close frame with ``code``
        and ``reason``; the server's answer ends the connection with
        ``WebSocketClosed(local=True)``.  Messages still arrive until then.

        A no-op once closing or closed.  Before the handshake is complete
        there is nothing to close politely: the connection is marked closed
        and the caller drops the transport.  ``LocalProtocolError`` for a
        code that may not be sent (only 1000-1003, 1007-1014 and 3000-4999
        may) or a reason over 123 bytes of UTF-8.
        """
        if isinstance(code, bool) or not isinstance(code, int) or not (
            code in _SENDABLE_CODES or 3000 <= code <= 4999
        ):
            raise LocalProtocolError(f"close code {code!r} may not be sent")
        if not isinstance(reason, str):
            raise LocalProtocolError("a close reason must be a str")
        try:
            raw_reason = reason.encode("utf-8")
        except UnicodeEncodeError:
            raise LocalProtocolError("the close reason is not valid Unicode") from None
        if len(raw_reason) > _MAX_CONTROL_PAYLOAD - 2:
            raise LocalProtocolError(f"a close reason may be at most {_MAX_CONTROL_PAYLOAD - 2} bytes of UTF-8")
        if self._state is WebSocketState.CONNECTING:
            self._state = WebSocketState.CLOSED
            self._final = WebSocketClosed(1006, "closed before the handshake completed", local=True)
            return
        if self._state is not WebSocketState.OPEN:
            return
        self._queue(_OP_CLOSE, code.to_bytes(2, "big") + raw_reason)
        self._state = WebSocketState.CLOSING

    def data_to_send(self) -> bytes:
        """Everything queued for the wire since the last call.  The upgrade
        request comes as ``RedactedBytes`` (its repr shows no header)."""
        out = self._outgoing
        if not out:
            return b""
        if len(out) == 1:
            data = out[0]
        else:
            head = out[0]
            data = b"".join(out)
            if isinstance(head, RedactedBytes):
                data = RedactedBytes(data)
        out.clear()
        return data

    # -- receiving ---------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Hand over bytes read from the transport; ``b""`` means EOF.

        Call ``next_event`` until ``NEED_DATA`` after each call, so that no
        more than one read's worth of bytes is ever buffered.
        """
        if self._eof and data:
            raise LocalProtocolError("received data after EOF")
        if not data:
            self._eof = True
        if self._error is not None or self._state is WebSocketState.CLOSED:
            return
        if self._h11 is not None:
            self._h11.receive_data(data)
        elif self._ws is not None and data:
            self._ws.receive_data(data)

    def next_event(self) -> Any:
        """The next event or server event, or ``NEED_DATA``."""
        if self._error is not None:
            raise self._error.with_traceback(None)
        if self._final is not None:
            return self._final
        try:
            if self._h11 is not None:
                return self._handshake_event()
            return self._frame_event()
        except (APIError, LocalProtocolError) as exc:
            if self._error is None:
                # Raised while queuing an answer (random_bytes broke).
                self._fail(exc)
            raise

    def _fail(self, exc: BaseException) -> BaseException:
        self._error = drop_frames(exc)
        self._state = WebSocketState.CLOSED
        self._parts = []
        self._error_body = []
        return exc

    def _remote_error(self, message: str, close_code: int | None = None) -> BaseException:
        if close_code is not None and self._state is WebSocketState.OPEN:
            # Tell the server why it is being dropped (RFC 6455 7.1.7).
            self._queue(_OP_CLOSE, close_code.to_bytes(2, "big"))
        return self._fail(RemoteProtocolError(f"invalid WebSocket traffic: {message}"))

    # The handshake.

    def _handshake_event(self) -> Any:
        conn = self._h11
        assert conn is not None
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError:
                if self._eof and self._refused is None:
                    raise self._fail(
                        IncompleteResponseError(
                            "the server closed the connection before the WebSocket handshake was answered"
                        )
                    ) from None
                if self._eof:
                    # The error body was cut short: what arrived is enough.
                    raise self._refuse() from None
                # h11's message may quote the bytes of a header.
                raise self._remote_error("the handshake response is not valid HTTP/1.1") from None
            if event is h11.NEED_DATA:
                if self._eof:
                    if self._refused is not None:
                        raise self._refuse()
                    raise self._fail(
                        IncompleteResponseError(
                            "the server closed the connection before the WebSocket handshake was answered"
                        )
                    )
                return NEED_DATA
            if isinstance(event, h11.InformationalResponse):
                if event.status_code == 101:
                    return self._accept(event)
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
                headers = Headers.from_raw(event.headers.raw_items())
                if status < 400:
                    raise self._remote_error(
                        f"the server answered the upgrade with {status} instead of 101 Switching Protocols"
                    )
                self._refused = (status, headers)
                continue
            if isinstance(event, h11.Data):
                room = _MAX_ERROR_BODY - self._error_size
                if room > 0:
                    piece = bytes(event.data[:room])
                    self._error_body.append(piece)
                    self._error_size += len(piece)
                if self._error_size >= _MAX_ERROR_BODY:
                    raise self._refuse()
                continue
            if isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                if self._refused is not None:
                    raise self._refuse()
                raise self._fail(
                    IncompleteResponseError(
                        "the server closed the connection before the WebSocket handshake was answered"
                    )
                )
            # PAUSED only follows a 101, handled above.
            raise self._remote_error("unexpected HTTP/1.1 state")  # pragma: no cover

    def _refuse(self) -> BaseException:
        assert self._refused is not None
        status, headers = self._refused
        body = b"".join(self._error_body)
        return self._fail(self._request.decode_error(status, headers, body))

    def _accept(self, event: h11.InformationalResponse) -> WebSocketOpened:
        headers = Headers.from_raw(event.headers.raw_items())
        if not _has_token(headers.get("upgrade"), "websocket"):
            raise self._remote_error("the 101 response does not upgrade to 'websocket'")
        if not _has_token(headers.get("connection"), "upgrade"):
            raise self._remote_error("the 101 response has no 'Connection: upgrade'")
        accept = headers.get("sec-websocket-accept")
        if accept is None or accept.strip().encode("latin-1") != accept_value(self._key):
            raise self._remote_error("the 101 response's Sec-WebSocket-Accept does not match our key")
        if headers.get("sec-websocket-extensions") is not None:
            raise self._remote_error("the server chose an extension the client did not offer")
        if headers.get("sec-websocket-protocol") is not None:
            raise self._remote_error("the server chose a subprotocol the client did not offer")
        conn = self._h11
        assert conn is not None
        trailing, closed = conn.trailing_data
        self._h11 = None
        # What came after the 101 (a session.created, say) is the first
        # frames; wsproto's connection parses them from here on.
        self._ws = wsproto.connection.Connection(wsproto.connection.ConnectionType.CLIENT)
        if trailing:
            self._ws.receive_data(bytes(trailing))
        self._eof = self._eof or closed
        self._state = WebSocketState.OPEN
        return WebSocketOpened(headers)

    # Frames.
    #
    # wsproto parses; this class writes.  wsproto's Connection would mask
    # what it sends with os.urandom, so frames are serialised here
    # (encode_frame) and its send() is never called.  Its receive side does
    # not depend on what was sent except in one place: a close frame
    # received after its own close moves it to CLOSED instead of
    # REMOTE_CLOSING.  Both stop its parser (it reads nothing after a close
    # frame), and this class keeps the state that governs sending, so the
    # two never disagree about what may come in.

    def _frame_event(self) -> Any:
        ws = self._ws
        assert ws is not None
        while True:
            if self._ws_events is None:
                self._ws_events = ws.events()
            event = next(self._ws_events, None)
            if event is None:
                self._ws_events = None
                if self._eof:
                    return self._lost()
                return NEED_DATA
            kind = type(event)
            if kind is wsproto.events.TextMessage or kind is wsproto.events.BytesMessage:
                result = self._message(event)
                if result is not None:
                    return result
                continue
            if kind is wsproto.events.Ping:
                if self._state is WebSocketState.OPEN:
                    self._queue(_OP_PONG, bytes(event.payload))
                continue
            if kind is wsproto.events.Pong:
                return PongReceived(bytes(event.payload))
            if kind is wsproto.events.CloseConnection:
                return self._closed(event, ws)
            raise self._remote_error(f"unexpected frame event {kind.__name__}")  # pragma: no cover

    def _message(self, event: Any) -> Any:
        data = event.data
        if isinstance(data, str):
            size = len(data) if data.isascii() else len(data.encode("utf-8", "surrogatepass"))
        else:
            data = bytes(data)
            size = len(data)
        self._size += size
        if self._size > self._max_message:
            raise self._remote_error(
                f"a message grew past max_message_size ({self._max_message} bytes)", close_code=1009
            )
        if not event.message_finished:
            if data:
                self._parts.append(data)
            return None
        parts = self._parts
        if parts:
            parts.append(data)
            data = "".join(parts) if isinstance(data, str) else b"".join(parts)
            self._parts = []
        self._size = 0
        if not isinstance(data, str):
            return BinaryMessage(data)
        return self._server_event(data)

    def _server_event(self, text: str) -> Any:
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):
            obj = None
        if not isinstance(obj, dict):
            shown = text[:200]
            raise self._fail(
                StreamDecodeError(
                    "invalid WebSocket traffic: a server message is not a JSON object",
                    data=scrub_text(shown, self._request.secrets),
                    request=self._request.request,
                )
            )
        try:
            return self._decode(obj)
        except APIResponseValidationError as exc:
            # A known type of the wrong shape; its text and body may quote
            # what the server sent.
            secrets = self._request.secrets
            raise self._fail(
                APIResponseValidationError(
                    scrub_text(exc.message, secrets),
                    body=scrub_value(exc.body, secrets),
                    request=self._request.request,
                )
            ) from None
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
            kind = obj.get("type")
            shown_kind = kind[:80] if isinstance(kind, str) else None
            raise self._fail(
                StreamDecodeError(
                    f"invalid WebSocket traffic: a {shown_kind!r} event does not have the expected "
                    f"shape ({type(exc).__name__})",
                    data=scrub_text(text[:200], self._request.secrets),
                    request=self._request.request,
                )
            ) from None

    def _closed(self, event: Any, ws: wsproto.connection.Connection) -> Any:
        code = int(event.code)
        reason = scrub_text(event.reason or "", self._request.secrets)
        if ws.state is wsproto.connection.ConnectionState.OPEN:
            # wsproto reports a frame it could not parse as a close event
            # without moving out of OPEN; a real close frame moves it on.
            message = reason or "malformed frame"
            close_code = code if code in _SENDABLE_CODES else 1002
            raise self._remote_error(message, close_code=close_code)
        local = self._state is WebSocketState.CLOSING
        if self._state is WebSocketState.OPEN:
            # Answer the close (RFC 6455 5.5.1), echoing its code.
            payload = b"" if code == 1005 else code.to_bytes(2, "big")
            self._queue(_OP_CLOSE, payload)
        self._state = WebSocketState.CLOSED
        self._parts = []
        if local or code in _NORMAL_CODES:
            self._final = WebSocketClosed(code, reason, local=local)
            return self._final
        raise self._fail(WebSocketClosedError(code, reason, request=self._request.request))

    def _lost(self) -> Any:
        if self._state is WebSocketState.CLOSING:
            # We were closing anyway; the server hung up without its frame.
            self._state = WebSocketState.CLOSED
            self._final = WebSocketClosed(1006, "", local=True)
            return self._final
        raise self._fail(
            IncompleteResponseError(
                "the server closed the connection without a WebSocket close frame (1006)",
                request=self._request.request,
            )
        )
