"""The client side of one HTTP/1.1 connection, on top of h11.

``HTTP11Connection`` turns a ``Request`` into bytes and the server's bytes
into the shared connection events of ``_events.py``.  It speaks the same
verbs the HTTP/2 connection will, so nothing above it sees an h11 type: a
request becomes a "stream" numbered 1, 3, 5, ... even though HTTP/1.1 only
ever has one of them in flight.
"""

from __future__ import annotations

import re

import h11

from ._errors import IncompleteResponseError, LocalProtocolError, RemoteProtocolError
from ._events import (
    NEED_DATA,
    ConnectionClosed,
    DataReceived,
    Event,
    ResponseComplete,
    ResponseReceived,
    Sentinel,
)
from ._header_rules import HTTP11_REFUSED, authority, check_name, check_request_line, encode_value
from ._headers import SECRET_HEADERS, Headers
from ._proxy import Proxy
from ._redact import RedactedBytes
from ._request import Origin, Request, StreamedBody

__all__ = ["HTTP11Connection"]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# h11 quotes raw received bytes in some messages (header lines, chunk
# headers); a response header may carry a cookie, so cut the quote off.
_QUOTED_BYTES = re.compile(r":? (?:b['\"]|bytearray\().*", re.DOTALL)
# Checked request header names and values with their wire form, and the
# decoded names and latest values of response headers: a client sends and
# receives the same few fields every time.  Shared by all connections (a
# cache per connection costs kilobytes each when hundreds of streams are
# open), bounded (emptied when full, so unique values such as idempotency
# keys or request ids cannot grow them), and never holding the value of a
# credential header.  Refusals are not cached.
_CACHE_LIMIT = 256
_NAMES: dict[str, tuple[str, bytes]] = {}
_VALUES: dict[str, bytes] = {}
_UNCACHED_VALUES = SECRET_HEADERS | {"idempotency-key"}
_RESPONSE_NAMES: dict[bytes, str] = {}
_RESPONSE_VALUES: dict[str, tuple[bytes, str]] = {}
_STRAY_DATA = "the server sent data while no request was in flight"
_NO_TRAILERS = Headers()
_CLOSED = ConnectionClosed()
# Immutable, so one serves every request.
_END_OF_MESSAGE = h11.EndOfMessage()


class HTTP11Connection:
    """One HTTP/1.1 client connection: requests in, response events out.

    Feed it the server's bytes with ``receive_data`` (``b""`` at EOF), pull
    events with ``next_event`` until it returns ``NEED_DATA``, and write what
    ``data_to_send`` returns.  ``max_response_head_size`` bounds how much of a
    response head (or a chunk header or trailer block) is buffered while it is
    incomplete; a head still unfinished past it is a ``RemoteProtocolError``.
    Call ``next_event`` until ``NEED_DATA`` after each ``receive_data`` so the
    bound holds.

    ``forward_proxy`` makes this a connection to that (http) proxy, which
    forwards plain-HTTP requests: each request line carries the absolute
    form of the target (``GET http://host:port/path HTTP/1.1``) and, when
    the proxy has credentials, a ``Proxy-Authorization`` header (unless the
    request brings its own).  The Host header still names the origin.  An
    https origin is refused there: it goes through a CONNECT tunnel.
    """

    def __init__(
        self, *, max_response_head_size: int = 64 * 1024, forward_proxy: Proxy | None = None
    ) -> None:
        if max_response_head_size < 1:
            raise ValueError("max_response_head_size must be positive")
        # The proxy's credential field, ready for the wire (None without
        # one); only looked at when forwarding.
        self._forward: Proxy | None = None
        self._proxy_auth: tuple[bytes, bytes] | None = None
        if forward_proxy is not None:
            if not isinstance(forward_proxy, Proxy):
                raise TypeError(f"forward_proxy must be a Proxy, not {type(forward_proxy).__name__}")
            if forward_proxy.is_socks:
                raise LocalProtocolError(f"{forward_proxy.scheme} proxies do not forward HTTP requests")
            auth = forward_proxy.authorization()
            if auth is not None:
                self._proxy_auth = (b"proxy-authorization", auth.encode("ascii"))
            self._forward = forward_proxy
        self._h11 = h11.Connection(
            h11.CLIENT, max_incomplete_event_size=max_response_head_size
        )
        self._outgoing: list[bytes] = []
        # Whether _outgoing holds a request head (which carries credentials).
        self._head_queued = False
        self._next_stream_id = 1
        # The id of the newest request; meaningful while _in_flight.
        self._current = 0
        self._in_flight = False
        self._eof = False
        self._closed = False
        # Set once the peer broke framing; every later next_event repeats it.
        self._error: str | None = None
        # What _error is raised as: a close mid-response is also a
        # connection error.
        self._error_type: type[RemoteProtocolError] = RemoteProtocolError
        # The first bytes of a response, until they are known to be "HTTP/".
        self._prefix: bytes | None = None
        # Whether h11 is between requests on both sides; it only changes in
        # send() and when a response completes (any other change comes with
        # _eof, _closed or _error set), so it is tracked rather than asked
        # for on every pool check.
        self._h11_idle = True
        # What ended the last run of body chunks (see next_event), not yet
        # handed out.
        self._held: object | None = None
        # The Host header for the last origin seen: a connection has one.
        self._host: tuple[Origin, bytes] | None = None
        # Whether a streamed body's head went out and its end has not.
        self._body_open = False

    # -- state ------------------------------------------------------------

    @property
    def max_streams(self) -> int:
        return 1

    @property
    def stream_id(self) -> int | None:
        """The stream id of the request in flight, if any."""
        return self._current if self._in_flight else None

    @property
    def is_closed(self) -> bool:
        """Closed by ``close()``, by the peer, or broken by a protocol error."""
        return self._closed or self._error is not None

    @property
    def is_idle(self) -> bool:
        """Whether ``send`` would accept a new request right now."""
        return (
            not self._in_flight
            and self._h11_idle
            and not self._closed
            and not self._eof
            and self._error is None
        )

    @property
    def is_reusable(self) -> bool:
        """Whether the connection can carry another request.

        With one request at a time this is ``is_idle``: true on a fresh
        connection and after a response completed with keep-alive intact,
        false while a response is in flight or once either side asked to
        close.
        """
        return self.is_idle

    def close(self) -> None:
        """Refuse further requests; the caller closes the transport."""
        self._closed = True
        self._outgoing.clear()
        self._head_queued = False

    def cancel(self, stream_id: int) -> None:
        """Abandon the request on ``stream_id``.  HTTP/1.1 cannot reset one
        request, so the connection closes (the HTTP/2 connection resets
        only that stream); a stream that is not in flight is ignored."""
        if self._in_flight and stream_id == self._current:
            self._in_flight = False
            self.close()

    # -- sending ----------------------------------------------------------

    def send(self, request: Request) -> int:
        """Queue ``request`` (head and whole body) and return its stream id.

        For a ``StreamedBody`` only the head is queued: pass the body with
        ``send_body`` and finish it with ``end_body``.  It is framed with
        Content-Length when its length is known, else chunked.

        The ``host`` header comes from ``request.origin`` unless the request
        carries one; ``content-length`` is added when there is a body or the
        method is POST, PUT or PATCH.  Spaces and tabs around header values
        are dropped.  The connection frames the body itself, so
        ``transfer-encoding`` (and ``upgrade``) headers are refused.

        Raises ``LocalProtocolError``, having queued nothing, when the
        request cannot be put on the wire as given or the connection cannot
        take a request now.
        """
        self._check_can_send()
        method = request.method
        check_request_line(method, request.target)
        body = request.body
        fields: list[tuple[bytes, bytes]] = []
        host: bytes | None = None
        have_length = False
        length: bytes | None
        if isinstance(body, StreamedBody):
            streamed = True
            data = b""
            length = None if body.length is None else str(body.length).encode("ascii")
        else:
            streamed = False
            data = body
            length = str(len(data)).encode("ascii")
        names = _NAMES
        values = _VALUES
        for name, value in request.headers:
            checked = names.get(name)
            if checked is None:
                checked = check_name(name)
                if len(names) >= _CACHE_LIMIT:
                    names.clear()
                names[name] = checked
            lname, raw_name = checked
            # A credential is never stored, so looking it up costs nothing.
            raw_value = values.get(value)
            if raw_value is None:
                raw_value = encode_value(lname, value)
                if lname not in _UNCACHED_VALUES:
                    if len(values) >= _CACHE_LIMIT:
                        values.clear()
                    values[value] = raw_value
            if lname == "host":
                if host is not None:
                    raise LocalProtocolError("more than one 'host' header")
                host = raw_value
                continue
            if lname == "content-length":
                if have_length:
                    raise LocalProtocolError("more than one 'content-length' header")
                if raw_value != length:
                    raise LocalProtocolError(
                        "'content-length' header does not match the body length"
                    )
                have_length = True
            elif lname in HTTP11_REFUSED:
                raise LocalProtocolError(
                    f"header {lname!r} is not allowed: {HTTP11_REFUSED[lname]}"
                )
            fields.append((raw_name, raw_value))
        if host is None:
            cached = self._host
            if cached is not None and cached[0] is request.origin:
                host = cached[1]
            else:
                host = authority(request.origin)
                self._host = (request.origin, host)
        fields.insert(0, (b"host", host))
        target = request.target.encode("ascii")
        if self._forward is not None:
            target = self._forwarded(request, target, fields)
        if not have_length and (body or method in _BODY_METHODS):
            if length is None:
                fields.append((b"transfer-encoding", b"chunked"))
            else:
                fields.append((b"content-length", length))

        try:
            head = self._h11.send(
                h11.Request(
                    method=method.encode("ascii"),
                    target=target,
                    headers=fields,
                    # Every name and value was checked above, as h11 would;
                    # h11 still checks the method, target and framing.
                    _parsed=True,
                )
            )
            if streamed:
                payload = tail = b""
            else:
                # h11 counts the body against Content-Length; for bytes it
                # hands the same object back, so this costs no copy.
                payload = self._h11.send(h11.Data(data=data)) if data else b""
                tail = self._h11.send(_END_OF_MESSAGE)
        except h11.LocalProtocolError:  # pragma: no cover
            # Unreachable: everything h11 checks was checked above.  Its
            # message may quote a header value, so it is not passed on.
            raise LocalProtocolError("h11 refused the request") from None
        self._outgoing.append(head)
        self._head_queued = True
        if payload:
            self._outgoing.append(payload)
        self._outgoing.append(tail)
        self._body_open = streamed
        stream_id = self._current = self._next_stream_id
        self._next_stream_id += 2
        self._in_flight = True
        self._h11_idle = False
        self._prefix = b""
        return stream_id

    def _forwarded(self, request: Request, target: bytes, fields: list[tuple[bytes, bytes]]) -> bytes:
        """The absolute-form target for a forwarding proxy; adds the proxy's
        credential to ``fields`` unless the request carries one."""
        origin = request.origin
        if origin.scheme != "http":
            raise LocalProtocolError(
                f"a forwarding proxy carries plain-HTTP requests only, not {origin.scheme}: "
                "use a CONNECT tunnel"
            )
        auth = self._proxy_auth
        if auth is not None and not any(name == b"proxy-authorization" for name, _ in fields):
            fields.insert(1, auth)
        return b"http://" + authority(origin) + target

    @property
    def body_open(self) -> bool:
        """Whether a streamed body was started and not yet ended."""
        return self._body_open

    def send_body(self, data: bytes) -> None:
        """Queue the next piece of the streamed body of the request in flight.

        More bytes than a Content-Length announced is a
        ``LocalProtocolError``, and the connection cannot be used again (its
        head is on the wire).  An empty piece queues nothing.
        """
        self._check_body_open()
        if not data:
            return
        try:
            framed = self._h11.send(h11.Data(data=data))
        except h11.LocalProtocolError:
            raise self._abandon_body("the body is longer than its Content-Length") from None
        if framed:
            self._outgoing.append(framed)

    def end_body(self) -> None:
        """Queue the end of the streamed body (the last chunk when chunked).

        Fewer bytes than a Content-Length announced is a
        ``LocalProtocolError``, and the connection cannot be used again.
        """
        self._check_body_open()
        try:
            tail = self._h11.send(_END_OF_MESSAGE)
        except h11.LocalProtocolError:
            raise self._abandon_body("the body is shorter than its Content-Length") from None
        self._body_open = False
        if tail:
            self._outgoing.append(tail)
        conn = self._h11
        if not self._in_flight and conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            # The whole response came in before the body was done.
            conn.start_next_cycle()
            self._h11_idle = True

    def _check_body_open(self) -> None:
        if not self._body_open:
            raise LocalProtocolError("no streamed request body is being sent")
        if self._closed or self._error is not None:
            raise LocalProtocolError("the connection is closed")

    def _abandon_body(self, message: str) -> LocalProtocolError:
        self._body_open = False
        self.close()
        return LocalProtocolError(message)

    def _check_can_send(self) -> None:
        if self._closed or self._eof or self._error is not None:
            raise LocalProtocolError("the connection is closed")
        if self._in_flight:
            raise LocalProtocolError(
                f"a request is already in flight on this connection (stream {self._current})"
            )
        if not self._h11_idle:
            raise LocalProtocolError("the connection cannot carry another request (keep-alive ended)")

    def data_to_send(self) -> bytes:
        """Everything queued for the wire since the last call.

        Bytes that hold a request head come as ``RedactedBytes``: their
        repr (in a traceback's recorded locals, say) shows no header.
        """
        out = self._outgoing
        if not out:
            return b""
        data = b"".join(out)
        out.clear()
        if self._head_queued:
            self._head_queued = False
            return RedactedBytes(data)
        return data

    # -- receiving --------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Hand over bytes read from the transport; ``b""`` means EOF."""
        if self._error is not None:
            return
        if not data:
            self._eof = True
            self._h11.receive_data(b"")
            return
        if self._eof:
            raise LocalProtocolError("received data after EOF")
        if not self._in_flight:
            # With no request in flight any byte from the server is a
            # response to nothing; taking it for the next request's answer
            # would mix up responses.
            self._error = _STRAY_DATA
            return
        if self._prefix is not None:
            # h11 judges the status line only once the whole head is in, so
            # a peer that is not speaking HTTP (a TLS or SSH server, say)
            # would be waited on until the head limit or a timeout.
            prefix = (self._prefix + data[:5])[:5]
            if not b"HTTP/".startswith(prefix):
                self._fail_message("the response does not start with 'HTTP/'")
                return
            self._prefix = None if len(prefix) == 5 else prefix
        self._h11.receive_data(data)

    def next_event(self) -> Event | Sentinel:
        """The next event, or ``NEED_DATA`` when more bytes must arrive first.

        Raises ``RemoteProtocolError`` when the server broke HTTP/1.1; the
        connection is then closed for good.
        """
        if self._error is not None:
            raise self._error_type(self._error)
        held = self._held
        if held is not None:
            self._held = None
            if isinstance(held, h11.RemoteProtocolError):
                raise self._fail(held) from held
            return self._other_event(held)
        conn = self._h11
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            raise self._fail(exc) from exc
        if type(event) is not h11.Data:
            return self._other_event(event)
        # The streaming hot path.  Every body chunk already buffered goes
        # into one event, so the layers above run once per read rather than
        # once per HTTP chunk (a chat stream sends one per token).  What
        # ends the run is held for the next call, errors included, so the
        # order of events does not change.
        data = event.data
        parts: list[bytes] | None = None
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                self._held = exc
                break
            if type(event) is not h11.Data:
                if event is not h11.NEED_DATA:
                    self._held = event
                break
            if parts is None:
                parts = [data]
            parts.append(event.data)
        if parts is not None:
            data = b"".join(parts)
        return DataReceived(self._current, bytes(data))

    def _other_event(self, event: object) -> Event | Sentinel:
        # A 1xx interim response says nothing about the final one.  Loop, not
        # recurse: a server may send any number of them.
        while type(event) is h11.InformationalResponse:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise self._fail(exc) from exc
        if event is h11.NEED_DATA:
            return NEED_DATA
        if isinstance(event, h11.Response):
            return ResponseReceived(
                self._current,
                event.status_code,
                # The names as received; Headers lower-cases them once
                # (h11's own lower-cased view is slower to walk).
                _response_headers(event.headers.raw_items()),
                event.http_version.decode("ascii"),
            )
        if isinstance(event, h11.EndOfMessage):
            return self._complete(event)
        if isinstance(event, h11.ConnectionClosed):
            self._closed = True
            return _CLOSED
        # PAUSED needs a protocol switch, which send() never proposes.
        self._error = "unexpected HTTP/1.1 state"  # pragma: no cover
        raise RemoteProtocolError(self._error)  # pragma: no cover

    def _complete(self, event: h11.EndOfMessage) -> ResponseComplete:
        stream_id = self._current
        self._in_flight = False
        trailers = Headers.from_raw(event.headers) if event.headers else _NO_TRAILERS
        conn = self._h11
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
            self._h11_idle = True
        if conn.trailing_data[0]:
            # Bytes beyond the end of the response answer nothing we asked;
            # refuse them now rather than read them as the next response.
            self._error = _STRAY_DATA
        return ResponseComplete(stream_id, trailers)

    def _fail(self, exc: h11.RemoteProtocolError) -> RemoteProtocolError:
        message = str(exc)
        if message == "peer unexpectedly closed connection" or message.startswith(
            ("can't handle event type ConnectionClosed", "peer closed connection without sending complete")
        ):
            # h11 says how much was missing: "... body (received 3 bytes,
            # expected 10)", "...: incomplete chunked read".
            detail = ""
            if message.startswith("peer closed"):
                rest = message[len("peer closed connection without sending complete message body") :]
                rest = rest.strip(" :()")
                detail = f" ({_QUOTED_BYTES.sub('', rest)})" if rest else ""
            self._fail_message(f"the server closed the connection before the response was complete{detail}")
            self._error_type = IncompleteResponseError
            return IncompleteResponseError(self._error or "")
        return RemoteProtocolError(self._fail_message(_QUOTED_BYTES.sub("", message)))

    def _fail_message(self, message: str) -> str:
        self._error = f"invalid HTTP/1.1 response: {message}"
        self._in_flight = False
        return self._error


def _response_headers(raw: list[tuple[bytes, bytes]]) -> Headers:
    # Headers.from_raw, sharing the strings that repeat from one response to
    # the next (every name, most values): an open stream keeps its headers.
    names = _RESPONSE_NAMES
    latest = _RESPONSE_VALUES
    fields: list[tuple[str, str]] = []
    append = fields.append
    for raw_name, raw_value in raw:
        name = names.get(raw_name)
        if name is None:
            name = raw_name.decode("latin-1").lower()
            if len(names) >= _CACHE_LIMIT:
                names.clear()
            names[raw_name] = name
        # Credential headers are never stored, so they always miss here.
        seen = latest.get(name)
        if seen is not None and seen[0] == raw_value:
            append((name, seen[1]))
            continue
        value = raw_value.decode("latin-1")
        if name not in SECRET_HEADERS:
            if seen is None and len(latest) >= _CACHE_LIMIT:
                latest.clear()
            latest[name] = (raw_value, value)
        append((name, value))
    headers = Headers.__new__(Headers)
    headers._set(tuple(fields))
    return headers
