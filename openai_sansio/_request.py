"""A fully prepared HTTP request: what a connection turns into bytes."""

from __future__ import annotations

from typing import IO, AsyncIterable, Callable, Iterator, Union

import attrs

from ._redact import REDACTED, is_credential_name, redact_target, request_secrets

__all__ = ["FilePart", "Origin", "Request", "StreamedBody"]


@attrs.frozen
class Origin:
    """Where a request goes: the key a connection pool groups by."""

    scheme: str  # "http" or "https"
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


@attrs.frozen(eq=False, repr=False)
class FilePart:
    """Bytes of a request body that live outside memory: the runtime reads
    them in bounded pieces and writes each one; the core never reads them.

    Exactly one source is set: ``path`` (opened afresh for every attempt),
    ``file`` (a binary file object, sought to ``offset`` first when that is
    not None) or ``stream`` (an async iterable of bytes, readable once).
    ``size`` is the exact number of bytes to send, or None to send until
    the source is exhausted.
    """

    path: str | None = None
    file: IO[bytes] | None = None
    stream: AsyncIterable[bytes] | None = None
    size: int | None = None
    offset: int | None = None

    @property
    def replayable(self) -> bool:
        """Whether the same bytes can be produced again for another attempt."""
        if self.path is not None:
            return self.size is not None
        return self.file is not None and self.offset is not None

    def __repr__(self) -> str:
        if self.path is not None:
            what = f"path={self.path!r}"
        elif self.file is not None:
            what = f"file={type(self.file).__name__}, offset={self.offset!r}"
        else:
            what = f"stream={type(self.stream).__name__}"
        return f"FilePart({what}, size={self.size!r})"


BodyPiece = Union[bytes, FilePart]


@attrs.frozen(eq=False, repr=False)
class StreamedBody:
    """A request body sent in pieces after the head.

    ``parts()`` returns a fresh iterator over the body each time it is
    called: ``bytes`` to send as they are and ``FilePart`` sources to read.
    ``length`` is the total size when every piece's size is known (sent as
    Content-Length), else None (HTTP/1.1 then uses chunked framing).
    ``replayable`` is False when some source can be read only once: such a
    body must not be sent again once any of it was read.
    """

    parts: Callable[[], Iterator[BodyPiece]]
    length: int | None
    replayable: bool = True

    def __repr__(self) -> str:
        size = "unknown length" if self.length is None else f"{self.length} bytes"
        return f"StreamedBody(<{size}>, replayable={self.replayable})"


@attrs.frozen(repr=False)
class Request:
    """One HTTP request, ready for the wire.

    ``target`` is the path plus query string.  ``headers`` are ``(name,
    value)`` text pairs, names lower-case, already validated: no CR, LF or
    NUL anywhere.  ``body`` is the complete body as ``bytes``, or a
    ``StreamedBody`` written piece by piece.  The repr never shows a
    credential.
    """

    method: str
    origin: Origin
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | StreamedBody = b""

    @property
    def url(self) -> str:
        return f"{self.origin}{self.target}"

    @property
    def secrets(self) -> tuple[str, ...]:
        """The credential values this request carries (its credential
        headers' and query parameters', see ``_redact``), longest first:
        what errors about it must not repeat."""
        return request_secrets(self.headers, self.target)

    @property
    def redacted_url(self) -> str:
        """``url`` with credential query values shown as ``<redacted>``."""
        return f"{self.origin}{redact_target(self.target, self.secrets)}"

    def header(self, name: str) -> str | None:
        key = name.lower()
        for n, v in self.headers:
            if n == key:
                return v
        return None

    def __repr__(self) -> str:
        shown = [(n, REDACTED if is_credential_name(n) else v) for n, v in self.headers]
        body = self.body
        shown_body = repr(body) if isinstance(body, StreamedBody) else f"<{len(body)} bytes>"
        return (
            f"Request(method={self.method!r}, url={self.redacted_url!r}, headers={shown!r}, "
            f"body={shown_body})"
        )
