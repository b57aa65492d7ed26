"""A fully prepared HTTP request: what a connection turns into bytes."""

from __future__ import annotations

import attrs

from ._headers import SECRET_HEADERS

__all__ = ["Origin", "Request"]


@attrs.frozen
class Origin:
    """Where a request goes: the key a connection pool groups by."""

    scheme: str  # "http" or "https"
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


@attrs.frozen(repr=False)
class Request:
    """One HTTP request, ready for the wire.

    ``target`` is the path plus query string.  ``headers`` are ``(name,
    value)`` text pairs, names lower-case, already validated: no CR, LF or
    NUL anywhere.  ``body`` is the complete body.  The repr never shows a
    credential.
    """

    method: str
    origin: Origin
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    @property
    def url(self) -> str:
        return f"{self.origin}{self.target}"

    def header(self, name: str) -> str | None:
        key = name.lower()
        for n, v in self.headers:
            if n == key:
                return v
        return None

    def __repr__(self) -> str:
        shown = [
            (n, "<redacted>" if n in SECRET_HEADERS else v) for n, v in self.headers
        ]
        return (
            f"Request(method={self.method!r}, url={self.url!r}, headers={shown!r}, "
            f"body=<{len(self.body)} bytes>)"
        )
