"""Events a client connection produces, shared by HTTP/1.1 and HTTP/2.

Every event names the stream it belongs to.  HTTP/1.1 connections number
their requests 1, 3, 5, ... in order, like HTTP/2 client streams, so a pool
and a response reader never need to know which protocol is underneath.
"""

from __future__ import annotations

import enum

import attrs

from ._headers import Headers

__all__ = [
    "NEED_DATA",
    "Sentinel",
    "Event",
    "ResponseReceived",
    "DataReceived",
    "ResponseComplete",
    "ConnectionClosed",
    "StreamReset",
    "ConnectionTerminated",
]


class Sentinel(enum.Enum):
    NEED_DATA = "NEED_DATA"

    def __repr__(self) -> str:
        return self.value


NEED_DATA = Sentinel.NEED_DATA


@attrs.frozen
class ResponseReceived:
    """The status line and headers of a final (non-1xx) response."""

    stream_id: int
    status_code: int
    headers: Headers
    http_version: str = "1.1"


@attrs.frozen(repr=False)
class DataReceived:
    """A piece of a response body, in arrival order."""

    stream_id: int
    data: bytes

    def __repr__(self) -> str:
        shown = self.data if len(self.data) <= 48 else self.data[:40] + b"..."
        return f"DataReceived(stream_id={self.stream_id}, data={shown!r}, len={len(self.data)})"


@attrs.frozen
class ResponseComplete:
    """The response body on ``stream_id`` ended normally."""

    stream_id: int
    trailers: Headers = attrs.field(factory=Headers)


@attrs.frozen
class ConnectionClosed:
    """The peer closed the connection cleanly between responses.

    A close in the middle of a response is not this event: it raises
    ``RemoteProtocolError`` instead.
    """


@attrs.frozen
class StreamReset:
    """The stream ended without a complete response (HTTP/2 RST_STREAM, or a
    GOAWAY that left it out).

    ``not_processed`` means the server says it did not act on the request
    (``REFUSED_STREAM``, or a stream above a GOAWAY's last stream id): it
    can be sent again on another connection as if it never went out.
    ``error_code`` is the HTTP/2 error code (RFC 9113 section 7).
    """

    stream_id: int
    error_code: int
    not_processed: bool = False


@attrs.frozen
class ConnectionTerminated:
    """The server sent GOAWAY: no new stream may start on this connection.

    Streams up to ``last_stream_id`` go on until they end; the ones above
    it were reported as not processed just before this event.
    """

    last_stream_id: int
    error_code: int


Event = (
    ResponseReceived
    | DataReceived
    | ResponseComplete
    | ConnectionClosed
    | StreamReset
    | ConnectionTerminated
)
