"""A sans-IO decoder for ``text/event-stream`` bodies.

It follows the WHATWG HTML rules for interpreting an event stream, working
on bytes and decoding only whole lines: CR and LF are ASCII and can never sit
inside a UTF-8 sequence, so decoding line by line gives exactly what decoding
the whole stream at once would, wherever the network happened to split it.

Each byte is scanned a constant number of times, however the input is
chunked, and everything kept between calls is bounded by ``max_event_size``.
That is a bound on memory, not only on a count: the data lines of an open
event are joined into one buffer at the end of each call (kept as one object
each, many tiny lines would cost several times their length in headers), and
a long input is worked through in slices, so that splitting it never makes
an object per line for all of it at once.

Where we differ from a browser, on purpose: an event without an ``event:``
field has type None rather than ``"message"``; the end of the body completes
a pending event (see ``SSEDecoder.close``); and a ``retry`` of more than 18
significant digits is ignored instead of parsed.
"""

from __future__ import annotations

import enum
from typing import NoReturn

import attrs

from ._errors import LocalProtocolError, RemoteProtocolError

__all__ = ["DEFAULT_MAX_EVENT_SIZE", "SSEDecoder", "ServerSentEvent"]

#: The default bound on one event (see ``SSEDecoder``).  Streamed partial
#: images arrive base64-encoded inside a single event, so this has to be
#: comfortably larger than any image the API sends.
DEFAULT_MAX_EVENT_SIZE = 32 * 1024 * 1024

_BOM = b"\xef\xbb\xbf"
# Retry values are milliseconds; anything longer than this many significant
# digits is ignored rather than handed to int(), whose digit limit would
# otherwise turn a silly value into a ValueError.
_MAX_RETRY_DIGITS = 18
# Input longer than this is decoded a slice at a time: split whole, short
# lines cost about 20 times their size in objects while a slice is worked
# through, so a slice must stay small beside the smallest useful event limit.
_SLICE = 4 * 1024
# Past this many data values kept for an open event at the end of a call,
# they are joined into one buffer.
_KEPT_VALUES = 16
_REPR_LIMIT = 48
_REPR_SHOWN = 40


def _short(value: str | None) -> str:
    if value is None or len(value) <= _REPR_LIMIT:
        return repr(value)
    return f"{value[:_REPR_SHOWN]!r}..., len={len(value)}"


@attrs.frozen(repr=False)
class ServerSentEvent:
    """One dispatched event.

    ``event`` is the type named by an ``event:`` field of the event's own
    block, or None when the block had none (the standard calls that type
    ``"message"``).  ``id`` is the stream's last event id when the event was
    dispatched (None if the stream never set one) and ``retry`` is the
    reconnection time in milliseconds if this very block carried a valid one.
    """

    event: str | None = None
    data: str = ""
    id: str | None = None
    retry: int | None = None

    def __repr__(self) -> str:
        # Streamed images put megabytes in ``data``: keep logs readable.
        return (
            f"ServerSentEvent(event={_short(self.event)}, data={_short(self.data)}, "
            f"id={_short(self.id)}, retry={self.retry!r})"
        )


class _State(enum.Enum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"
    FAILED = "FAILED"


class SSEDecoder:
    """Turn the bytes of an event stream into ``ServerSentEvent`` objects.

    ``feed(data)`` returns the events completed by ``data``; ``close()`` is
    the end of the body.  One leniency beyond the standard: ``close()``
    treats the end of the body as a final line end and a final blank line,
    so a last event whose terminating blank line the server left out is
    still delivered instead of being dropped.

    ``max_event_size`` (default 32 MiB) bounds memory: if any line, together
    with the data already collected for the event it belongs to, grows past
    that many bytes, ``RemoteProtocolError`` is raised.  The data counted is
    the standard's data buffer: each ``data`` value plus one line feed.  The
    outcome does not depend on how the input is split, only on the stream.
    A decoder that raised ``RemoteProtocolError`` stays failed.

    ``last_event_id`` is the id in force after the last completed block
    (what a reconnecting client sends as ``Last-Event-ID``) and ``retry`` the
    latest valid reconnection time in milliseconds; both start as None.
    """

    __slots__ = (
        "_at_start",
        "_block_retry",
        "_data",
        "_event",
        "_id_buffer",
        "_last_event_id",
        "_line",
        "_max",
        "_retry",
        "_size",
        "_skip_lf",
        "_slow",
        "_state",
    )

    def __init__(self, *, max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> None:
        if type(max_event_size) is not int or max_event_size < 1:
            raise LocalProtocolError("max_event_size must be a positive int")
        self._max = max_event_size
        # The unterminated line so far; it never holds CR or LF.  Before the
        # byte-order mark is ruled in or out it holds up to two BOM bytes.
        self._line = bytearray()
        # The data values of the open event; joined with line feeds they are
        # the standard's data buffer, whose length is _size (each value plus
        # one line feed).  The first may be a bytearray holding earlier
        # values already joined, so that few objects are kept between calls.
        self._data: list[bytes | bytearray] = []
        self._size = 0
        self._event: str | None = None
        self._block_retry: int | None = None
        self._id_buffer: str | None = None
        self._last_event_id: str | None = None
        self._retry: int | None = None
        # The previous chunk ended in CR, already taken as a line end, so an
        # LF opening the next chunk is the second half of a CRLF.
        self._skip_lf = False
        self._at_start = True
        self._state = _State.OPEN
        # Any of the three above needs _prelude(); one flag keeps that check
        # off the hot path.
        self._slow = True

    @property
    def max_event_size(self) -> int:
        return self._max

    @property
    def last_event_id(self) -> str | None:
        return self._last_event_id

    @property
    def retry(self) -> int | None:
        return self._retry

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """Take the next bytes of the body; return the events they complete.

        Raises ``RemoteProtocolError`` when the stream breaks
        ``max_event_size`` (events completed earlier in the same call go
        down with it: the connection is being discarded anyway) and
        ``LocalProtocolError`` after ``close()``.
        """
        if data.__class__ is not bytes:
            data = bytes(data)
        if self._slow:
            data = self._prelude(data)
        if (
            data[-2:] == b"\n\n"
            and data[:6] == b"data: "
            and data.find(b"\n", 6) == len(data) - 2
            and 13 not in data
            and not self._line
            and not self._data
        ):
            # Nearly every chunk of a chat stream is one whole event with a
            # single data line.  This gives what the general loop below
            # would, with less work.
            if len(data) - 2 > self._max:
                self._too_big()
            self._last_event_id = self._id_buffer
            event = ServerSentEvent(
                self._event,
                data[6:-2].decode("utf-8", "replace"),
                self._id_buffer,
                self._block_retry,
            )
            self._event = None
            self._block_retry = None
            return [event]
        if len(data) > _SLICE:
            return self._feed_slices(data)
        if 13 in data:
            # Normalise line ends inside this chunk only; a CR at the very
            # end is a line end already, and _skip_lf handles a following LF.
            if data[-1] == 13:
                self._skip_lf = self._slow = True
            data = data.replace(b"\r\n", b"\n")
            if 13 in data:
                data = data.replace(b"\r", b"\n")
        lines = data.split(b"\n")
        tail = lines.pop()
        pending = self._line
        events: list[ServerSentEvent] = []
        if lines:
            if pending:
                # Each line is joined once, when its end arrives: linear.
                pending += lines[0]
                lines[0] = bytes(pending)
                pending.clear()
            limit = self._max
            for line in lines:
                if not line:
                    self._last_event_id = self._id_buffer
                    if self._data:
                        events.append(
                            ServerSentEvent(
                                self._event, self._take_data(), self._id_buffer, self._block_retry
                            )
                        )
                    self._event = None
                    self._block_retry = None
                    continue
                if self._size + len(line) > limit:
                    self._too_big()
                if line[:6] == b"data: ":
                    # The shape nearly every line of a chat stream has.
                    value = line[6:]
                    self._data.append(value)
                    self._size += len(value) + 1
                elif line[:7] == b"event: ":
                    # Every event of a Responses stream names its type.
                    self._event = line[7:].decode("utf-8", "replace")
                elif line[0] != 58:  # ":" starts a comment
                    self._field(line)
        if self._data and len(self._data) > _KEPT_VALUES:
            self._join_kept()
        if tail:
            pending += tail
            if len(pending) + self._size > self._max:
                self._too_big()
        return events

    def _feed_slices(self, data: bytes) -> list[ServerSentEvent]:
        # The result does not depend on where the input is cut, so any cut
        # will do; after a slice ending in CR the next runs the prelude.
        events: list[ServerSentEvent] = []
        for start in range(0, len(data), _SLICE):
            events += self.feed(data[start : start + _SLICE])
        return events

    def _take_data(self) -> str:
        # The data buffer as text, emptied.  A joined buffer takes the last
        # values in place, so the event costs its text and one buffer, not
        # also a joined copy of that buffer.
        values = self._data
        first = values[0]
        if first.__class__ is bytearray:
            for value in values[1:]:
                first += b"\n"
                first += value
            text = first.decode("utf-8", "replace")
        else:
            text = b"\n".join(values).decode("utf-8", "replace")
        self._data = []
        self._size = 0
        return text

    def _join_kept(self) -> None:
        # Each byte is copied into the joined buffer once, so this stays
        # linear however many calls an event spans.
        values = self._data
        first = values[0]
        if first.__class__ is bytearray:
            del values[0]
            first += b"\n"
            first += b"\n".join(values)
        else:
            first = bytearray(b"\n".join(values))
        self._data = [first]

    def close(self) -> list[ServerSentEvent]:
        """The body ended: return any event the missing blank line held back.

        Calling it again, or after a failure, returns an empty list.
        """
        if self._state is not _State.OPEN:
            return []
        # The end of the body ends the unterminated line, if any, and then
        # the block, exactly as line ends would.
        self._skip_lf = False
        events = self.feed(b"\n\n" if self._line else b"\n")
        self._state = _State.CLOSED
        self._slow = True
        return events

    def _refuse(self) -> NoReturn:
        if self._state is _State.CLOSED:
            raise LocalProtocolError("feed() called after close()")
        raise RemoteProtocolError("the event stream already failed")

    def _too_big(self) -> NoReturn:
        self._state = _State.FAILED
        self._slow = True
        self._data = []
        self._line = bytearray()
        raise RemoteProtocolError(
            f"server-sent event larger than max_event_size ({self._max} bytes)"
        )

    def _prelude(self, data: bytes) -> bytes:
        if self._state is not _State.OPEN:
            self._refuse()
        if self._skip_lf:
            if not data:
                return data
            self._skip_lf = False
            if data[0] == 10:
                data = data[1:]
        elif self._at_start:
            held = self._line
            if held:
                data = bytes(held) + data
                held.clear()
            if len(data) < 3 and _BOM.startswith(data):
                # Too short to tell whether this is a byte-order mark.
                held += data
                return b""
            self._at_start = False
            if data.startswith(_BOM):
                data = data[3:]
        self._slow = False
        return data

    def _field(self, line: bytes) -> None:
        colon = line.find(b":")
        if colon < 0:
            name = line
            value = b""
        else:
            name = line[:colon]
            # Exactly one space after the colon is part of the syntax.
            skip = 2 if line.startswith(b" ", colon + 1) else 1
            value = line[colon + skip :]
        if name == b"data":
            self._data.append(value)
            self._size += len(value) + 1
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            if b"\0" not in value:
                self._id_buffer = value.decode("utf-8", "replace")
        elif name == b"retry" and value.isdigit():
            digits = value.lstrip(b"0")
            if len(digits) <= _MAX_RETRY_DIGITS:
                self._retry = self._block_retry = int(digits or b"0")
