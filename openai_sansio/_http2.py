"""The client side of one HTTP/2 connection, on top of h2.

``HTTP2Connection`` speaks the verbs of ``HTTP11Connection`` (``send``,
``send_body``/``end_body``, ``receive_data``, ``next_event``,
``data_to_send``) with events from the same vocabulary, each naming its
stream, plus what multiplexing needs:

* ``cancel(stream_id)`` resets one stream (RST_STREAM CANCEL); the others
  go on.
* ``StreamReset`` and ``ConnectionTerminated`` events.  A stream the server
  refused (REFUSED_STREAM) or left out of a GOAWAY is reported with
  ``not_processed=True``: sending it again elsewhere cannot run it twice.
* Flow control both ways.  Request bodies wait past the peer's window and go
  out as WINDOW_UPDATEs arrive; the receive windows are large (16 MiB by
  default) and handed back in batches: the connection's as data arrives, a
  stream's only as its reader reports it consumed (``acknowledge``), so a
  slow reader holds at most one stream window and never stalls the other
  streams.
* ``max_streams`` follows the server's MAX_CONCURRENT_STREAMS.

Everything h2 answers on its own while receiving (SETTINGS and PING
acknowledgements, window updates) comes out of ``data_to_send``: the runtime
writes it after every ``receive_data``.
"""

from __future__ import annotations

import collections
from typing import Any, Deque

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
from hpack import NeverIndexedHeaderTuple

from ._errors import IncompleteResponseError, LocalProtocolError, RemoteProtocolError
from ._events import (
    NEED_DATA,
    ConnectionClosed,
    ConnectionTerminated,
    DataReceived,
    Event,
    ResponseComplete,
    ResponseReceived,
    Sentinel,
    StreamReset,
)
from ._header_rules import HTTP2_REFUSED, authority, check_name, check_request_line, encode_value
from ._headers import Headers
from ._redact import RedactedBytes, is_credential_name
from ._request import Origin, Request, StreamedBody

__all__ = ["HTTP2Connection", "DEFAULT_WINDOW", "DEFAULT_MAX_STREAMS"]

DEFAULT_WINDOW = 16 * 1024 * 1024
# What one connection carries at most, whatever the server allows.
DEFAULT_MAX_STREAMS = 1000
# Until the server's SETTINGS arrive its limit reads as "unlimited"; RFC 9113
# recommends servers allow at least 100, so that many are safe to start.
_EARLY_MAX_STREAMS = 100
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_CANCEL = h2.errors.ErrorCodes.CANCEL
_REFUSED = h2.errors.ErrorCodes.REFUSED_STREAM
_NO_TRAILERS = Headers()
_CLOSED = ConnectionClosed()
# Stream ids are 31 bits; a connection that used them up takes no more.
_LAST_STREAM_ID = 2**31 - 1


class _Stream:
    """What the connection remembers of one request's stream."""

    __slots__ = (
        "body_open", "credit", "ended_local", "ended_remote", "head", "pending", "pending_size",
        "trailers",
    )

    def __init__(self) -> None:
        # Body bytes waiting for flow-control window, oldest first.
        self.pending: Deque[memoryview] = collections.deque()
        self.pending_size = 0
        # Whether more body may still come from send_body (a streamed body).
        self.body_open = False
        self.ended_local = False
        self.ended_remote = False
        self.head = False
        self.trailers = _NO_TRAILERS
        # Received bytes handed back neither to the peer nor yet reported
        # consumed: padding counts at once, data once acknowledged.
        self.credit = 0


class _Client(h2.connection.H2Connection):
    """h2's connection, taking a GOAWAY the way RFC 9113 (6.8) does.

    h2 treats a received GOAWAY as the end of everything and would refuse
    the frames of the streams the server is still finishing.  The streams
    up to the GOAWAY's last id may complete, so receiving goes on; no new
    stream starts (``HTTP2Connection.max_streams`` is 0 from then on).
    """

    def _receive_goaway_frame(self, frame: Any) -> Any:
        before = self.state_machine.state
        result = super()._receive_goaway_frame(frame)
        if before is h2.connection.ConnectionState.CLIENT_OPEN:
            self.state_machine.state = before
        return result


class HTTP2Connection:
    """One HTTP/2 client connection: requests in, per-stream events out.

    The connection preface and SETTINGS are queued on construction, so the
    first ``data_to_send`` carries them.  ``max_response_head_size`` bounds
    a response's decoded header list (announced as MAX_HEADER_LIST_SIZE);
    ``window`` is the receive window of the connection and of each stream.
    """

    def __init__(
        self,
        *,
        max_response_head_size: int = 64 * 1024,
        window: int = DEFAULT_WINDOW,
        max_streams: int = DEFAULT_MAX_STREAMS,
    ) -> None:
        if max_response_head_size < 1:
            raise ValueError("max_response_head_size must be positive")
        if not 65535 <= window <= 2**31 - 1:
            raise ValueError("window must be between 65535 and 2**31 - 1")
        if max_streams < 1:
            raise ValueError("max_streams must be positive")
        # Outbound header checks are ours (_header_rules, in _head): h2's
        # second pass over every request's fields costs about a twentieth
        # of a small request.  What it would also do, keeping credentials
        # out of the HPACK table, _head does itself.  What the server sends
        # is still checked by h2.
        config = h2.config.H2Configuration(
            client_side=True,
            header_encoding=None,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
        )
        self._h2 = conn = _Client(config=config)
        conn.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: max_response_head_size,
            },
        )
        # h2 applies the announced limit only once the server acknowledges
        # it; the bound holds from the first byte.
        conn.decoder.max_header_list_size = max_response_head_size
        conn.initiate_connection()
        if window > 65535:
            conn.increment_flow_control_window(window - 65535)
        self._window = window
        self._local_max_streams = max_streams
        self._streams: dict[int, _Stream] = {}
        self._events: Deque[Event] = collections.deque()
        # Connection-level bytes received and not yet handed back.
        self._connection_credit = 0
        self._goaway = False
        self._settings_received = False
        self._eof = False
        self._closed = False
        self._error: str | None = None
        # What _error is raised as: a close with streams open is also a
        # connection error.
        self._error_type: type[RemoteProtocolError] = RemoteProtocolError
        # Frame boundaries, tracked as bytes pass (see _scan): the header
        # bytes of the frame being read and the body bytes still to come.
        self._frame_head = b""
        self._frame_left = 0
        self._frames_seen = 0
        # Whether h2 queued a HEADERS frame since the last data_to_send.
        self._head_queued = False

    # -- state ------------------------------------------------------------

    @property
    def max_streams(self) -> int:
        """How many streams may be open at once now (the server's limit,
        capped by ours); 0 once no new stream can start."""
        if self._goaway or self._closed or self._eof or self._error is not None:
            return 0
        remote = self._h2.remote_settings.max_concurrent_streams if self._settings_received else _EARLY_MAX_STREAMS
        return max(0, min(remote, self._local_max_streams))

    @property
    def open_streams(self) -> int:
        """Streams started and not yet finished (or reset)."""
        return len(self._streams)

    @property
    def is_closed(self) -> bool:
        return self._closed or self._error is not None or (self._eof and not self._events)

    @property
    def is_reusable(self) -> bool:
        """Whether a new stream may start now or once one ends."""
        highest = self._h2.highest_outbound_stream_id
        return self.max_streams > 0 and (highest is None or highest < _LAST_STREAM_ID - 2)

    @property
    def is_idle(self) -> bool:
        """No stream is open and new ones may start."""
        return not self._streams and self.is_reusable

    @property
    def can_send(self) -> bool:
        """Whether ``send`` would start a stream right now."""
        return self.is_reusable and len(self._streams) < self.max_streams

    def pending_body(self, stream_id: int) -> int:
        """Body bytes of ``stream_id`` held back for lack of window."""
        stream = self._streams.get(stream_id)
        return 0 if stream is None else stream.pending_size

    def close(self) -> None:
        """Say goodbye (GOAWAY, NO_ERROR) and refuse further requests; the
        caller writes ``data_to_send`` and closes the transport."""
        if self._closed:
            return
        self._closed = True
        if self._error is None and not self._eof:
            try:
                self._h2.close_connection()
            except h2.exceptions.ProtocolError:  # pragma: no cover - already closing
                pass

    # -- sending ----------------------------------------------------------

    def send(self, request: Request) -> int:
        """Start a stream for ``request`` and return its id.

        The whole body is queued unless it is a ``StreamedBody`` (then pass
        it with ``send_body`` and finish with ``end_body``); what exceeds
        the peer's flow-control window waits in the connection and goes out
        with later ``data_to_send`` calls as the window opens.

        Raises ``LocalProtocolError``, having queued nothing, when the
        request cannot be sent as given or no stream can start now.
        """
        if not self.can_send:
            if self._closed or self._error is not None or self._eof:
                raise LocalProtocolError("the connection is closed")
            if self._goaway:
                raise LocalProtocolError("the server ended this connection (GOAWAY): no new streams")
            raise LocalProtocolError(
                f"the connection already carries {len(self._streams)} streams, "
                f"the most the server allows at once"
            )
        headers = self._head(request)
        body = request.body
        conn = self._h2
        stream_id = conn.get_next_available_stream_id()
        streamed = isinstance(body, StreamedBody)
        data = b"" if streamed else body
        assert isinstance(data, bytes)
        end_now = not streamed and not data
        try:
            conn.send_headers(stream_id, headers, end_stream=end_now)
            self._head_queued = True
        except h2.exceptions.ProtocolError as exc:  # pragma: no cover - checked above
            raise LocalProtocolError(f"h2 refused the request: {type(exc).__name__}") from None
        stream = _Stream()
        stream.ended_local = end_now
        stream.body_open = streamed
        self._streams[stream_id] = stream
        if data:
            stream.pending.append(memoryview(data))
            stream.pending_size = len(data)
            self._pump(stream_id, stream, end=True)
        return stream_id

    def _head(self, request: Request) -> list[tuple[bytes, bytes]]:
        method = request.method
        check_request_line(method, request.target)
        body = request.body
        if isinstance(body, StreamedBody):
            length = None if body.length is None else str(body.length).encode("ascii")
        else:
            length = str(len(body)).encode("ascii")
        host: bytes | None = None
        have_length = False
        fields: list[tuple[bytes, bytes]] = []
        for name, value in request.headers:
            lname, raw_name = check_name(name)
            raw_value = encode_value(lname, value)
            if lname == "host":
                if host is not None:
                    raise LocalProtocolError("more than one 'host' header")
                host = raw_value
                continue
            if lname == "content-length":
                if have_length:
                    raise LocalProtocolError("more than one 'content-length' header")
                if raw_value != length:
                    raise LocalProtocolError("'content-length' header does not match the body length")
                have_length = True
            elif lname in HTTP2_REFUSED:
                raise LocalProtocolError(f"header {lname!r} is not allowed: {HTTP2_REFUSED[lname]}")
            elif lname == "te" and raw_value.lower() != b"trailers":
                raise LocalProtocolError("header 'te' may only be 'trailers' over HTTP/2")
            if is_credential_name(lname):
                # Never in the compression table, where a length oracle
                # could guess it (CRIME-style), and never in h2's logs.
                fields.append(NeverIndexedHeaderTuple(raw_name, raw_value))
            else:
                fields.append((raw_name, raw_value))
        if not have_length and length is not None and (length != b"0" or method in _BODY_METHODS):
            fields.append((b"content-length", length))
        return [
            (b":method", method.encode("ascii")),
            (b":scheme", request.origin.scheme.encode("ascii")),
            (b":authority", host if host is not None else _authority(request.origin)),
            (b":path", request.target.encode("ascii")),
            *fields,
        ]

    def send_body(self, stream_id: int, data: bytes) -> None:
        """Queue the next piece of the streamed body of ``stream_id``.

        Once the stream is over (answered, reset, cancelled) the piece is
        dropped: nobody wants it any more.
        """
        stream = self._body_stream(stream_id)
        if stream is not None and data:
            stream.pending.append(memoryview(data))
            stream.pending_size += len(data)
            self._pump(stream_id, stream, end=False)

    def end_body(self, stream_id: int) -> None:
        """Mark the streamed body of ``stream_id`` complete; END_STREAM goes
        out with its last byte."""
        stream = self._body_stream(stream_id)
        if stream is not None:
            stream.body_open = False
            self._pump(stream_id, stream, end=True)

    def _body_stream(self, stream_id: int) -> _Stream | None:
        if self._closed or self._error is not None:
            raise LocalProtocolError("the connection is closed")
        stream = self._streams.get(stream_id)
        if stream is None:
            highest = self._h2.highest_outbound_stream_id
            if highest is not None and 0 < stream_id <= highest and stream_id % 2:
                return None
            raise LocalProtocolError(f"no stream {stream_id} was started on this connection")
        if not stream.body_open:
            raise LocalProtocolError(f"no streamed request body is open on stream {stream_id}")
        return stream

    def _pump(self, stream_id: int, stream: _Stream, *, end: bool) -> None:
        """Send as much of the stream's held body as the windows allow; with
        ``end`` (and nothing more to come) finish the stream."""
        conn = self._h2
        pending = stream.pending
        while pending:
            room = min(conn.local_flow_control_window(stream_id), conn.max_outbound_frame_size)
            if room <= 0:
                return
            piece = pending[0]
            if len(piece) <= room:
                pending.popleft()
            else:
                pending[0] = piece[room:]
                piece = piece[:room]
            stream.pending_size -= len(piece)
            last = end and not pending and not stream.body_open
            conn.send_data(stream_id, piece.tobytes(), end_stream=last)
            if last:
                stream.ended_local = True
                return
        if end and not stream.body_open and not stream.ended_local:
            conn.end_stream(stream_id)
            stream.ended_local = True

    def _pump_all(self) -> None:
        for stream_id, stream in self._streams.items():
            if stream.pending:
                self._pump(stream_id, stream, end=not stream.body_open)

    def cancel(self, stream_id: int) -> None:
        """Reset ``stream_id`` (RST_STREAM CANCEL) and forget it: its held
        body is dropped and anything more the server sends for it is
        ignored.  Does nothing for a stream that already ended."""
        stream = self._streams.pop(stream_id, None)
        if stream is None or self._closed or self._error is not None or self._eof:
            return
        if stream.ended_remote and stream.ended_local:  # pragma: no cover - forgotten on end
            return
        try:
            self._h2.reset_stream(stream_id, _CANCEL)
        except h2.exceptions.ProtocolError:  # pragma: no cover - closed meanwhile
            pass

    def acknowledge(self, stream_id: int, size: int) -> None:
        """Report ``size`` bytes of ``stream_id``'s body consumed by its
        reader, so the server may send that much more on it."""
        stream = self._streams.get(stream_id)
        if stream is None or stream.ended_remote or self._error is not None:
            return
        stream.credit += size
        # Batched: one WINDOW_UPDATE per half window, not one per DATA frame.
        if stream.credit >= self._window // 2:
            credit, stream.credit = stream.credit, 0
            self._h2.increment_flow_control_window(credit, stream_id=stream_id)

    def data_to_send(self) -> bytes:
        """Everything queued for the wire since the last call."""
        # After a protocol error this still holds the GOAWAY h2 queued to
        # say why: worth writing before the transport is dropped.
        data = self._h2.data_to_send()
        if self._head_queued:
            # A HEADERS frame went into it: credentials, even if HPACK
            # coded, stay out of reprs.
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
            if self._streams:
                self._fail(
                    f"the server closed the connection with {len(self._streams)} "
                    "stream(s) unfinished"
                )
                self._error_type = IncompleteResponseError
            elif not self._closed:
                self._events.append(_CLOSED)
            return
        if self._eof:
            raise LocalProtocolError("received data after EOF")
        problem = self._scan(data)
        if problem is not None:
            self._fail(f"invalid HTTP/2 from the server: {problem}")
            return
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self._fail(f"invalid HTTP/2 from the server: {type(exc).__name__}: {_short(exc)}")
            return
        self._handle(events)

    def _scan(self, data: bytes) -> str | None:
        """Check each frame header as it arrives, before h2 sees the bytes.

        h2 buffers a frame whole before judging its length, so a peer that
        is not speaking HTTP/2 (an HTTP/1.1 server answering "HTTP/1.1 ...")
        would be waited on with up to 16 MiB buffered.  The server's first
        frame must be SETTINGS (RFC 9113 3.4) and no frame may exceed the
        size we allow; both are known from nine bytes.
        """
        pos = 0
        end = len(data)
        limit = self._h2.max_inbound_frame_size
        while pos < end:
            left = self._frame_left
            if left:
                step = min(left, end - pos)
                self._frame_left = left - step
                pos += step
                continue
            head = self._frame_head + data[pos : pos + 9 - len(self._frame_head)]
            pos += len(head) - len(self._frame_head)
            if len(head) < 9:
                self._frame_head = head
                break
            self._frame_head = b""
            length = int.from_bytes(head[:3], "big")
            if not self._frames_seen and (head[3] != 0x4 or head[4] & 0x1):
                return "the server did not start with a SETTINGS frame (is it an HTTP/1.1 server?)"
            if length > limit:
                return f"a frame of {length} bytes, over the {limit} allowed"
            self._frames_seen += 1
            self._frame_left = length
        return None

    def _handle(self, events: list[h2.events.Event]) -> None:
        out = self._events
        streams = self._streams
        window_changed = False
        for event in events:
            kind = type(event)
            if kind is h2.events.DataReceived:
                assert isinstance(event, h2.events.DataReceived)
                self._credit_connection(event.flow_controlled_length)
                stream_id = event.stream_id
                stream = streams.get(stream_id)
                if stream is None:  # pragma: no cover - h2 drops data of reset streams
                    continue
                stream.credit += event.flow_controlled_length - len(event.data)
                if event.data:
                    out.append(DataReceived(stream_id, event.data))
            elif kind is h2.events.ResponseReceived:
                assert isinstance(event, h2.events.ResponseReceived)
                self._response(event, streams.get(event.stream_id))
            elif kind is h2.events.StreamEnded:
                stream_id = event.stream_id  # type: ignore[attr-defined]
                stream = streams.get(stream_id)
                if stream is None:
                    continue
                stream.ended_remote = True
                if not stream.head:
                    self._fail(f"stream {stream_id} ended before its response head")
                    return
                if stream.ended_local:
                    del streams[stream_id]
                else:
                    # The server answered before the body was all sent; the
                    # rest is not wanted.
                    del streams[stream_id]
                    self._reset_quietly(stream_id)
                out.append(ResponseComplete(stream_id, stream.trailers))
            elif kind is h2.events.TrailersReceived:
                assert isinstance(event, h2.events.TrailersReceived)
                stream = streams.get(event.stream_id)
                if stream is not None:
                    stream.trailers = Headers.from_raw(_regular(event.headers or []))
            elif kind is h2.events.StreamReset:
                assert isinstance(event, h2.events.StreamReset)
                stream = streams.pop(event.stream_id, None)
                if stream is None:
                    continue
                code = int(event.error_code or 0)
                out.append(StreamReset(event.stream_id, code, not_processed=code == _REFUSED))
            elif kind is h2.events.ConnectionTerminated:
                assert isinstance(event, h2.events.ConnectionTerminated)
                self._terminated(event)
            elif kind is h2.events.WindowUpdated:
                window_changed = True
            elif kind is h2.events.RemoteSettingsChanged:
                self._settings_received = True
                window_changed = True
            elif kind is h2.events.InformationalResponseReceived:
                continue
            # PING and SETTINGS acknowledgements are queued by h2 itself;
            # priority, ALTSVC and unknown frames carry nothing for us.
        if window_changed:
            self._pump_all()

    def _response(self, event: h2.events.ResponseReceived, stream: _Stream | None) -> None:
        if stream is None:  # pragma: no cover - h2 refuses heads for unknown streams
            return
        status: bytes | None = None
        fields: list[tuple[bytes, bytes]] = []
        for name, value in event.headers or []:
            if name == b":status":
                status = value
            elif not name.startswith(b":"):
                fields.append((name, value))
        if status is None or len(status) != 3 or not status.isdigit():
            self._fail(f"stream {event.stream_id} has an invalid :status")
            return
        stream.head = True
        self._events.append(
            ResponseReceived(event.stream_id, int(status), Headers.from_raw(fields), "2")
        )

    def _terminated(self, event: h2.events.ConnectionTerminated) -> None:
        self._goaway = True
        last = event.last_stream_id or 0
        code = int(event.error_code or 0)
        for stream_id in sorted(self._streams):
            if stream_id > last:
                del self._streams[stream_id]
                self._events.append(StreamReset(stream_id, code, not_processed=True))
        self._events.append(ConnectionTerminated(last, code))

    def _credit_connection(self, size: int) -> None:
        self._connection_credit += size
        if self._connection_credit >= self._window // 2:
            credit, self._connection_credit = self._connection_credit, 0
            self._h2.increment_flow_control_window(credit)

    def _reset_quietly(self, stream_id: int) -> None:
        try:
            self._h2.reset_stream(stream_id, h2.errors.ErrorCodes.NO_ERROR)
        except h2.exceptions.ProtocolError:  # pragma: no cover - already closed
            pass

    def _fail(self, message: str) -> None:
        self._error = message
        self._streams.clear()

    def next_event(self) -> Event | Sentinel:
        """The next event, or ``NEED_DATA`` when more bytes must arrive first.

        Raises ``RemoteProtocolError`` (for good: the connection is done)
        once the server broke HTTP/2 or closed with streams unfinished.
        """
        if self._events:
            return self._events.popleft()
        if self._error is not None:
            raise self._error_type(self._error)
        return NEED_DATA


def _authority(origin: Origin) -> bytes:
    return authority(origin)


def _regular(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(n, v) for n, v in headers if not n.startswith(b":")]


def _short(exc: BaseException) -> str:
    # h2's messages quote frame contents at most in passing; keep them short.
    return str(exc)[:200]
