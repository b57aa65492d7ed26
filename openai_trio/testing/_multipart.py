"""Reading ``multipart/form-data`` bodies back, for tests of uploads."""

from __future__ import annotations

import re

import attrs

__all__ = ["FormPart", "parse_multipart"]

_BOUNDARY = re.compile(r';\s*boundary=(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)
_PARAM = re.compile(r';\s*([A-Za-z0-9_*-]+)=(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))', re.DOTALL)
# What an encoder percent-encodes inside a quoted parameter (the HTML form
# encoding's quote, CR and LF, and the other controls); any other "%XX" is
# the text itself.
_PERCENT = re.compile(r"%(22|[01][0-9A-F]|7F)")


@attrs.frozen
class FormPart:
    """One part of a form: its field name, filename (None for a text field),
    content type and other headers (names lower-cased), and raw bytes."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def text(self) -> str:
        return self.data.decode("utf-8")


def _unquote(value: str) -> str:
    value = re.sub(r"\\(.)", r"\1", value, flags=re.DOTALL)
    return _PERCENT.sub(lambda m: chr(int(m.group(1), 16)), value)


def parse_multipart(content_type: str, body: bytes) -> list[FormPart]:
    """The parts of a ``multipart/form-data`` body; ``ValueError`` when it
    is not well formed (a missing closing delimiter included)."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise ValueError(f"not a multipart/form-data content type: {content_type!r}")
    match = _BOUNDARY.search(content_type)
    if match is None:
        raise ValueError("the content type has no boundary")
    delimiter = b"--" + (match.group(1) or match.group(2)).encode("ascii")
    if not body.startswith(delimiter):
        raise ValueError("the body does not start with the boundary")
    parts: list[FormPart] = []
    pos = len(delimiter)
    while True:
        if body[pos : pos + 2] == b"--":
            if body[pos + 2 :] not in (b"", b"\r\n"):
                raise ValueError("bytes after the closing delimiter")
            return parts
        if body[pos : pos + 2] != b"\r\n":
            raise ValueError("a delimiter is not followed by CRLF")
        end = body.find(b"\r\n" + delimiter, pos)
        if end < 0:
            raise ValueError("a part is not closed by a delimiter")
        parts.append(_part(body[pos + 2 : end]))
        pos = end + 2 + len(delimiter)


def _part(raw: bytes) -> FormPart:
    head, sep, data = raw.partition(b"\r\n\r\n")
    if not sep:
        if not raw.startswith(b"\r\n"):
            raise ValueError("a part has no blank line after its headers")
        head, data = b"", raw[2:]
    headers: list[tuple[str, str]] = []
    for line in head.decode("utf-8").split("\r\n") if head else []:
        name, colon, value = line.partition(":")
        if not colon:
            raise ValueError(f"a part header line has no colon: {line!r}")
        headers.append((name.strip().lower(), value.strip()))
    disposition = next((v for n, v in headers if n == "content-disposition"), None)
    if disposition is None or not disposition.startswith("form-data"):
        raise ValueError("a part has no form-data content-disposition")
    params = {
        m.group(1).lower(): _unquote(m.group(2)) if m.group(2) is not None else m.group(3)
        for m in _PARAM.finditer(disposition)
    }
    if "name" not in params:
        raise ValueError("a part has no name")
    return FormPart(
        name=params["name"],
        filename=params.get("filename"),
        content_type=next((v for n, v in headers if n == "content-type"), None),
        data=data,
        headers=tuple((n, v) for n, v in headers if n not in ("content-disposition", "content-type")),
    )
