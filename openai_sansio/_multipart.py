"""``multipart/form-data`` request bodies, as a list of pieces.

The encoder lays out the framing and the small values as bytes and leaves
every file as a ``FilePart`` for the runtime to read in bounded pieces, so
an upload is never held in memory.  It reads no file content; it does ask
the operating system for sizes (``os.stat`` on a path, a seek to the end of
a seekable file object and back) so that the body has a Content-Length
whenever one can be known.

Field values follow the official SDK's form encoding: ``None`` is left
out, booleans are ``true``/``false``, a list sends one part per item under
``name[]``, and a mapping sends its items as ``name[key]`` (not as JSON),
all recursively.
"""

from __future__ import annotations

import io
import math
import mimetypes
import os
import re
import stat
from typing import IO, AsyncIterable, Iterator, Mapping, Tuple, Union

import attrs

from ._errors import LocalProtocolError
from ._header_rules import BAD_VALUE_CHAR, TOKEN
from ._request import BodyPiece, FilePart, StreamedBody

__all__ = ["FileContent", "FileTypes", "MultipartBody", "encode_multipart"]

FileContent = Union[bytes, bytearray, memoryview, "os.PathLike[str]", IO[bytes], AsyncIterable[bytes]]
FileTypes = Union[
    FileContent,
    Tuple[Union[str, None], FileContent],
    Tuple[Union[str, None], FileContent, Union[str, None]],
    Tuple[Union[str, None], FileContent, Union[str, None], Mapping[str, str]],
]

_DEFAULT_FILENAME = "upload"
_DEFAULT_CONTENT_TYPE = "application/octet-stream"
# Inside a quoted name or filename: a quote would end it, CR/LF would start
# a new header, and a backslash may be read as an escape (as the official
# SDK's HTTP library does, it is doubled).  Other controls are
# percent-encoded too, like CR and LF in the HTML form encoding.
_PARAM_ESCAPES = {'"': "%22", "\\": "\\\\"}
_PARAM_ESCAPES.update({chr(c): f"%{c:02X}" for c in (*range(0x20), 0x7F)})
_PARAM_SPECIAL = re.compile(r'["\\\x00-\x1f\x7f]')
# A part header value (a content type, say) is sent as is: it must stay on
# its line.
_BYTES_TYPES = (bytes, bytearray, memoryview)
# In-memory file content up to this size is joined with the framing around
# it; larger content stays its own piece, so it is never copied.
_JOIN_LIMIT = 64 * 1024


@attrs.frozen(eq=False, repr=False)
class MultipartBody:
    """An encoded ``multipart/form-data`` body.

    ``parts()`` returns a fresh iterator each time (one per attempt) over
    ``bytes`` (framing and small values) and ``FilePart`` sources.
    ``length`` is the body's size when every file's size is known, else
    None.  ``replayable`` is False when some source can be read only once
    (an async iterable, a file object that cannot seek).
    """

    boundary: str
    _pieces: tuple[BodyPiece, ...]
    length: int | None
    replayable: bool
    # What it was made from, for with_fields().
    _fields: Mapping[str, object]
    _random_bytes: bytes

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def parts(self) -> Iterator[BodyPiece]:
        return iter(self._pieces)

    def with_fields(self, extra: Mapping[str, object]) -> MultipartBody:
        """The body re-encoded (same boundary) with ``extra`` fields added;
        each replaces a field of the same name, as ``extra_body`` does for a
        JSON body."""
        if not isinstance(extra, Mapping):
            raise LocalProtocolError(f"extra fields must be a mapping, not {type(extra).__name__}")
        merged = dict(self._fields)
        merged.update(extra)
        return encode_multipart(merged, random_bytes=self._random_bytes)

    def as_streamed_body(self) -> StreamedBody:
        return StreamedBody(parts=self.parts, length=self.length, replayable=self.replayable)

    def __repr__(self) -> str:
        size = "unknown length" if self.length is None else f"{self.length} bytes"
        files = sum(1 for p in self._pieces if isinstance(p, FilePart))
        return f"MultipartBody(<{size}>, files={files}, replayable={self.replayable})"


def encode_multipart(fields: Mapping[str, object], *, random_bytes: bytes) -> MultipartBody:
    """Encode ``fields`` as ``multipart/form-data``.

    The boundary is made from the 16 ``random_bytes`` (e.g.
    ``os.urandom(16)``).  Values may be text (``str``, ``int``, ``float``,
    ``bool``), ``None`` (left out), lists, mappings, or files: ``bytes``,
    an ``os.PathLike`` path, a binary file object, an async iterable of
    bytes, or a ``(filename, content[, content_type[, headers]])`` tuple.

    Raises ``LocalProtocolError`` for anything it cannot send, before any
    byte exists.
    """
    if not isinstance(random_bytes, (bytes, bytearray)) or len(random_bytes) != 16:
        raise LocalProtocolError("encode_multipart needs exactly 16 random bytes")
    if not isinstance(fields, Mapping):
        raise LocalProtocolError(f"multipart fields must be a mapping, not {type(fields).__name__}")
    boundary = bytes(random_bytes).hex()
    encoder = _Encoder(b"--" + boundary.encode("ascii"))
    for name, value in fields.items():
        if not isinstance(name, str):
            raise LocalProtocolError(f"multipart field names must be str, not {type(name).__name__}")
        encoder.add(name, value)
    pieces, length, replayable = encoder.finish()
    return MultipartBody(boundary, pieces, length, replayable, dict(fields), bytes(random_bytes))


def _quote(value: str) -> bytes:
    if _PARAM_SPECIAL.search(value):
        value = _PARAM_SPECIAL.sub(lambda m: _PARAM_ESCAPES[m.group()], value)
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise LocalProtocolError("a multipart field name or filename is not valid Unicode") from None


def _is_file_content(value: object) -> bool:
    return (
        isinstance(value, (*_BYTES_TYPES, os.PathLike))
        or hasattr(value, "read")
        or hasattr(value, "__aiter__")
    )


class _Encoder:
    def __init__(self, dash_boundary: bytes) -> None:
        self._dash = dash_boundary
        self._pieces: list[BodyPiece] = []
        self._pending = bytearray()
        self._length: int | None = 0
        self._replayable = True

    def finish(self) -> tuple[tuple[BodyPiece, ...], int | None, bool]:
        self._pending += self._dash + b"--\r\n"
        self._flush()
        return tuple(self._pieces), self._length, self._replayable

    def _flush(self) -> None:
        if self._pending:
            data = bytes(self._pending)
            self._pieces.append(data)
            if self._length is not None:
                self._length += len(data)
            self._pending.clear()

    def add(self, name: str, value: object, depth: int = 0) -> None:
        if depth > 32:
            raise LocalProtocolError(f"multipart field {name[:80]!r} is nested too deeply")
        if value is None:
            return
        if isinstance(value, bool):
            self._text(name, "true" if value else "false")
        elif isinstance(value, str):
            self._text(name, value)
        elif isinstance(value, int):
            try:
                self._text(name, str(value))
            except ValueError:  # more digits than int -> str allows
                raise LocalProtocolError(f"multipart field {name[:80]!r} is too large") from None
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise LocalProtocolError(f"multipart field {name[:80]!r} must be a finite number")
            self._text(name, repr(value))
        elif isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise LocalProtocolError(
                        f"multipart field {name[:80]!r} has a key that is not str: {type(key).__name__}"
                    )
                self.add(f"{name}[{key}]", item, depth + 1)
        elif isinstance(value, tuple) and len(value) in (2, 3, 4) and _is_file_content(value[1]):
            self._file_tuple(name, value)
        elif isinstance(value, (list, tuple)):
            for item in value:
                self.add(name + "[]", item, depth + 1)
        elif _is_file_content(value):
            self._file(name, None, value, None, None, named=False)
        else:
            raise LocalProtocolError(
                f"multipart field {name[:80]!r} has a value of type {type(value).__name__}; "
                "expected str, int, float, bool, None, a list, a mapping or a file "
                "(bytes, a path, a binary file object, an async iterable of bytes or a tuple)"
            )

    def _head(self, name: str, filename: str | None, content_type: str | None,
              headers: Mapping[str, str] | None) -> None:
        out = self._pending
        out += self._dash + b'\r\nContent-Disposition: form-data; name="' + _quote(name) + b'"'
        if filename is not None:
            out += b'; filename="' + _quote(filename) + b'"'
        out += b"\r\n"
        if content_type is not None:
            out += b"Content-Type: " + _header_value(name, "content type", content_type) + b"\r\n"
        for key, val in (headers or {}).items():
            if not isinstance(key, str) or not TOKEN.fullmatch(key):
                raise LocalProtocolError(f"multipart field {name[:80]!r} has an invalid header name")
            if key.lower() in ("content-disposition", "content-type"):
                raise LocalProtocolError(
                    f"multipart field {name[:80]!r}: the {key.lower()} header is set from the tuple"
                )
            out += key.encode("ascii") + b": " + _header_value(name, f"header {key!r}", val) + b"\r\n"
        out += b"\r\n"

    def _text(self, name: str, value: str) -> None:
        try:
            data = value.encode("utf-8")
        except UnicodeEncodeError:
            raise LocalProtocolError(f"multipart field {name[:80]!r} is not valid Unicode") from None
        self._head(name, None, None, None)
        self._pending += data + b"\r\n"

    def _file_tuple(self, name: str, value: tuple[object, ...]) -> None:
        filename = value[0]
        if filename is not None and not isinstance(filename, str):
            raise LocalProtocolError(
                f"multipart field {name[:80]!r}: a file tuple's filename must be str or None, "
                f"not {type(filename).__name__}"
            )
        content_type = value[2] if len(value) > 2 else None
        if content_type is not None and not isinstance(content_type, str):
            raise LocalProtocolError(
                f"multipart field {name[:80]!r}: a file tuple's content type must be str or None, "
                f"not {type(content_type).__name__}"
            )
        headers = value[3] if len(value) > 3 else None
        if headers is not None and not isinstance(headers, Mapping):
            raise LocalProtocolError(
                f"multipart field {name[:80]!r}: a file tuple's headers must be a mapping, "
                f"not {type(headers).__name__}"
            )
        self._file(name, filename, value[1], content_type, headers, named=True)

    def _file(self, name: str, filename: str | None, content: object, content_type: str | None,
              headers: Mapping[str, str] | None, *, named: bool) -> None:
        # ``named``: the filename came from a tuple, where None means "send
        # no filename" rather than "work one out".
        part: FilePart | None = None
        data: bytes | None = None
        guessed: str | None = None
        if isinstance(content, _BYTES_TYPES):
            data = bytes(content)
            guessed = _DEFAULT_FILENAME
        elif isinstance(content, os.PathLike):
            path = os.fsdecode(os.fspath(content))
            part = _path_part(name, path)
            guessed = os.path.basename(path) or _DEFAULT_FILENAME
        elif hasattr(content, "read"):
            part = _file_object_part(name, content)
            guessed = _name_of(content)
        else:
            # An async iterable: every caller checked _is_file_content.
            part = FilePart(stream=content)  # type: ignore[arg-type]
            guessed = _name_of(content)
        if not named:
            filename = guessed
        if content_type is None:
            content_type = _guess_type(filename)
        self._head(name, filename, content_type, headers)
        if data is not None and len(data) <= _JOIN_LIMIT:
            self._pending += data
        elif data is not None:
            self._flush()
            self._pieces.append(data)
            if self._length is not None:
                self._length += len(data)
        else:
            assert part is not None
            self._flush()
            self._pieces.append(part)
            if part.size is None:
                self._length = None
            elif self._length is not None:
                self._length += part.size
            self._replayable = self._replayable and part.replayable
        self._pending += b"\r\n"


def _header_value(name: str, what: str, value: object) -> bytes:
    if not isinstance(value, str):
        raise LocalProtocolError(f"multipart field {name[:80]!r}: the {what} must be str")
    if BAD_VALUE_CHAR.search(value):
        raise LocalProtocolError(
            f"multipart field {name[:80]!r}: the {what} contains a control character "
            "or a character outside latin-1"
        )
    return value.strip(" \t").encode("latin-1")


def _guess_type(filename: str | None) -> str:
    if filename:
        guessed, _ = mimetypes.guess_type(filename, strict=False)
        if guessed:
            return guessed
    return _DEFAULT_CONTENT_TYPE


def _name_of(source: object) -> str:
    name = getattr(source, "name", None)
    if isinstance(name, (str, bytes)) and name:
        base = os.path.basename(os.fsdecode(name))
        # Names such as "<stdin>" say nothing about the content.
        if base and not (base.startswith("<") and base.endswith(">")):
            return base
    return _DEFAULT_FILENAME


def _path_part(name: str, path: str) -> FilePart:
    try:
        info = os.stat(path)
    except OSError as exc:
        raise LocalProtocolError(
            f"multipart field {name[:80]!r}: cannot upload {path!r}: {exc.strerror or exc}"
        ) from None
    if stat.S_ISDIR(info.st_mode):
        raise LocalProtocolError(f"multipart field {name[:80]!r}: {path!r} is a directory")
    # A pipe or a device has no size to announce: it is read to its end, once.
    size = info.st_size if stat.S_ISREG(info.st_mode) else None
    return FilePart(path=path, size=size)


def _file_object_part(name: str, file: object) -> FilePart:
    mode = getattr(file, "mode", None)
    if isinstance(file, io.TextIOBase) or (isinstance(mode, str) and "b" not in mode):
        raise LocalProtocolError(
            f"multipart field {name[:80]!r}: the file is open in text mode; open it with 'rb'"
        )
    if getattr(file, "closed", False) is True:
        raise LocalProtocolError(f"multipart field {name[:80]!r}: the file is closed")
    offset: int | None = None
    size: int | None = None
    try:
        seekable = bool(file.seekable()) if hasattr(file, "seekable") else False
        if seekable:
            offset = int(file.tell())  # type: ignore[attr-defined]
            end = int(file.seek(0, io.SEEK_END))  # type: ignore[attr-defined]
            file.seek(offset)  # type: ignore[attr-defined]
            size = max(0, end - offset)
    except (OSError, ValueError):
        # Not seekable after all (a pipe wrapped in a buffered reader, say):
        # read once, to its end.
        offset = size = None
    return FilePart(file=file, size=size, offset=offset)  # type: ignore[arg-type]
