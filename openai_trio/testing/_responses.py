"""Scripted responses and recorded requests for the fake server."""

from __future__ import annotations

import json
import math
from typing import Any, Iterable, Mapping, Sequence, Union
from urllib.parse import parse_qs

import attrs

from openai_sansio import Headers

from ._multipart import FormPart, parse_multipart

__all__ = ["FakeResponse", "ReceivedRequest", "format_sse", "HeadersLike"]

HeadersLike = Union[Mapping[str, str], Sequence[tuple[str, str]], None]


def _freeze_headers(value: HeadersLike) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    items: Iterable[tuple[str, str]] = value.items() if isinstance(value, Mapping) else value
    out = []
    for name, val in items:
        name, val = str(name), str(val)
        if any(c in name + val for c in "\r\n\x00"):
            # A scripted header is meant to be a header, not a way to smuggle
            # bytes; use FakeResponse.raw for that.
            raise ValueError(f"header {name!r} contains CR, LF or NUL")
        out.append((name.lower(), val))
    return tuple(out)


def _freeze_pieces(value: Iterable[bytes]) -> tuple[bytes, ...]:
    pieces = tuple(value)
    for piece in pieces:
        if not isinstance(piece, (bytes, bytearray, memoryview)):
            raise TypeError(f"body pieces must be bytes, not {type(piece).__name__}")
    return tuple(bytes(p) for p in pieces)


def _check_delay(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
        raise ValueError(f"{attribute.name} must be a number >= 0 (math.inf is allowed), got {value!r}")


def _check_close_after(_inst: object, _attribute: attrs.Attribute[int | None], value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValueError(f"close_after must be a non-negative int or None, got {value!r}")


def format_sse(data: object, *, event: str | None = None, id: str | None = None) -> str:
    """One server-sent event block, blank line included.

    ``data`` that is not already a string is JSON-encoded.  A string that
    spans several lines becomes several ``data:`` lines, as the format asks.
    """
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    lines = []
    if event is not None:
        lines.append(f"event: {event}")
    if id is not None:
        lines.append(f"id: {id}")
    lines.extend(f"data: {line}" for line in text.split("\n"))
    return "\n".join(lines) + "\n\n"


_ERROR_TYPES = {
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    429: "rate_limit_error",
}


@attrs.frozen
class FakeResponse:
    """One scripted answer.

    ``body`` is a sequence of pieces; each piece goes out in its own write
    (and, when ``chunked``, as its own HTTP chunk), so a test chooses where
    the client sees boundaries.  Without ``chunked`` the server sends a
    ``content-length`` of the full body.

    Faults:

    * ``headers_delay``: seconds to wait before the status line;
    * ``delay``: seconds to wait before each body piece after the first;
    * ``close_after``: close the connection after this many body pieces
      (a truncated body: the framing promised more);
    * ``end_delay``: seconds to wait after the last body piece before
      ending the message (the final empty chunk, or HTTP/2's END_STREAM);
    * ``keep_alive=False``: send ``connection: close`` and close after the
      response;
    * ``verbatim`` (see :meth:`raw`): the pieces are written as-is, with no HTTP framing at all
      (for malformed responses); the connection then closes unless
      ``keep_alive`` is true, in which case the pieces are taken to be a
      complete response and the next request is served;
    * ``hang``: never answer; the connection stays open until the client
      closes it or the server stops.

    Every header the test does not set itself (``content-type``,
    ``x-request-id``, ``openai-processing-ms``, ...) is filled in by the
    server when it sends the response.
    """

    status: int = 200
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_freeze_headers)
    body: tuple[bytes, ...] = attrs.field(default=(), converter=_freeze_pieces)
    chunked: bool = False
    content_type: str | None = "application/json"
    headers_delay: float = attrs.field(default=0.0, validator=_check_delay)
    delay: float = attrs.field(default=0.0, validator=_check_delay)
    close_after: int | None = attrs.field(default=None, validator=_check_close_after)
    keep_alive: bool = True
    end_delay: float = attrs.field(default=0.0, validator=_check_delay, kw_only=True)
    verbatim: bool = False
    hang: bool = False

    def __attrs_post_init__(self) -> None:
        if isinstance(self.status, bool) or not isinstance(self.status, int) or not 100 <= self.status <= 999:
            raise ValueError(f"status must be an int in 100..999, got {self.status!r}")
        if 100 <= self.status < 200 and not self.verbatim:
            raise ValueError("informational statuses can only be scripted with FakeResponse.raw")

    # -- constructors -------------------------------------------------------

    @classmethod
    def json(
        cls,
        obj: Any,
        status: int = 200,
        *,
        headers: HeadersLike = None,
        headers_delay: float = 0.0,
        close_after: int | None = None,
        keep_alive: bool = True,
    ) -> FakeResponse:
        """A JSON body with a ``content-length``."""
        body = json.dumps(obj, separators=(",", ":")).encode()
        return cls(
            status=status,
            headers=headers,
            body=(body,),
            headers_delay=headers_delay,
            close_after=close_after,
            keep_alive=keep_alive,
        )

    @classmethod
    def text(
        cls,
        text: str | bytes,
        status: int = 200,
        *,
        content_type: str = "text/plain; charset=utf-8",
        headers: HeadersLike = None,
        headers_delay: float = 0.0,
        keep_alive: bool = True,
    ) -> FakeResponse:
        """A body that is not JSON (an HTML error page from a proxy, say)."""
        body = text.encode() if isinstance(text, str) else text
        return cls(
            status=status,
            headers=headers,
            body=(body,),
            content_type=content_type,
            headers_delay=headers_delay,
            keep_alive=keep_alive,
        )

    @classmethod
    def sse(
        cls,
        events: Sequence[Mapping[str, Any] | str],
        *,
        chunks: Sequence[bytes] | Sequence[int] | None = None,
        done: bool = True,
        status: int = 200,
        headers: HeadersLike = None,
        delay: float = 0.0,
        headers_delay: float = 0.0,
        close_after: int | None = None,
        keep_alive: bool = True,
    ) -> FakeResponse:
        """A ``text/event-stream`` body with chunked transfer encoding.

        A mapping in ``events`` becomes ``data: <json>`` plus a blank line; a
        string is written verbatim (use :func:`format_sse` for ``event:``
        lines).  ``done`` appends ``data: [DONE]``.  By default each event is
        its own chunk.  ``chunks`` changes that: a list of ints re-cuts the
        encoded body into pieces of those sizes (the rest is one final
        piece), a list of bytes *is* the body, piece by piece (``events``
        must then be empty and ``done`` is ignored).
        """
        if chunks is not None and chunks and all(isinstance(c, (bytes, bytearray)) for c in chunks):
            if events:
                raise ValueError("give either events or byte chunks, not both")
            pieces: list[bytes] = [bytes(c) for c in chunks]
        else:
            blocks = [
                (event if isinstance(event, str) else format_sse(event)).encode()
                for event in events
            ]
            if done:
                blocks.append(b"data: [DONE]\n\n")
            pieces = _recut(b"".join(blocks), chunks) if chunks else blocks  # type: ignore[arg-type]
        return cls(
            status=status,
            headers=headers,
            body=pieces,
            chunked=True,
            content_type="text/event-stream; charset=utf-8",
            delay=delay,
            headers_delay=headers_delay,
            close_after=close_after,
            keep_alive=keep_alive,
        )

    @classmethod
    def error(
        cls,
        status: int,
        message: str,
        *,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        headers: HeadersLike = None,
        headers_delay: float = 0.0,
        keep_alive: bool = True,
    ) -> FakeResponse:
        """An OpenAI-shaped error: ``{"error": {"message", "type", "param", "code"}}``."""
        if type is None:
            type = "server_error" if status >= 500 else _ERROR_TYPES.get(status, "invalid_request_error")
        body = {"error": {"message": message, "type": type, "param": param, "code": code}}
        return cls.json(
            body, status, headers=headers, headers_delay=headers_delay, keep_alive=keep_alive
        )

    @classmethod
    def raw(
        cls,
        pieces: Sequence[bytes],
        close: bool = True,
        *,
        delay: float = 0.0,
        headers_delay: float = 0.0,
    ) -> FakeResponse:
        """Bytes written exactly as given, then (by default) a close."""
        return cls(
            body=pieces,
            verbatim=True,
            keep_alive=not close,
            content_type=None,
            delay=delay,
            headers_delay=headers_delay,
        )

    @classmethod
    def hanging(cls) -> FakeResponse:
        """Never answer (for read-timeout tests)."""
        return cls(hang=True)


def _recut(data: bytes, sizes: Sequence[int]) -> list[bytes]:
    pieces = []
    pos = 0
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise ValueError(f"chunk sizes must be positive ints, got {size!r}")
        if pos >= len(data):
            break
        pieces.append(data[pos : pos + size])
        pos += size
    if pos < len(data):
        pieces.append(data[pos:])
    return pieces


@attrs.frozen(repr=False)
class ReceivedRequest:
    """A request as the fake server saw it.

    ``connection`` numbers the connection it arrived on (1 for the first
    connection the server accepted), so tests can check reuse.
    """

    method: str
    target: str
    headers: Headers
    body: bytes
    http_version: str = "1.1"
    connection: int = 0

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.target.partition("?")[2], keep_blank_values=True)

    def json(self) -> Any:
        """The body decoded as JSON (``ValueError`` if it is not)."""
        return json.loads(self.body)

    def form(self) -> list[FormPart]:
        """The parts of a ``multipart/form-data`` body (``ValueError`` if
        it is not one)."""
        return parse_multipart(self.headers.get("content-type") or "", self.body)

    def __repr__(self) -> str:
        # Headers redacts credentials in its own repr.
        return (
            f"ReceivedRequest(method={self.method!r}, target={self.target!r}, "
            f"headers={self.headers!r}, body=<{len(self.body)} bytes>, "
            f"connection={self.connection})"
        )
