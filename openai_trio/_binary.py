"""Responses whose body is raw bytes (file contents, audio, video): read
whole, or streamed from the open connection."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Callable, Sequence, Union

import trio

from openai_sansio import APIError, DataReceived, Headers, LocalProtocolError, OpenAIError, Request

from ._streams import scrub_secret

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

    from ._streams import Exchange

__all__ = ["BinaryResponse", "StreamedBinaryResponse"]

StrPath = Union[str, "os.PathLike[str]"]


def _charset(headers: Headers) -> str:
    content_type = headers.get("content-type") or ""
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"')
            try:
                "".encode(charset)
            except LookupError:
                break
            return charset
    return "utf-8"


def _check_chunk_size(chunk_size: int | None) -> None:
    if chunk_size is not None and (
        isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1
    ):
        raise LocalProtocolError(f"chunk_size must be a positive int or None, got {chunk_size!r}")


class BinaryResponse:
    """A binary body read whole: ``content`` (or ``read()``) for the bytes,
    ``text`` and ``json()`` for bodies that turn out to be text, and
    ``write_to_file(path)`` to save it."""

    __slots__ = ("content", "headers", "request", "status_code")

    def __init__(self, content: bytes, *, status_code: int, headers: Headers, request: Request) -> None:
        self.content = content
        self.status_code = status_code
        self.headers = headers
        self.request = request

    def __repr__(self) -> str:
        return f"<BinaryResponse [{self.status_code}] {len(self.content)} bytes>"

    @property
    def request_id(self) -> str | None:
        return self.headers.get("x-request-id")

    @property
    def _request_id(self) -> str | None:
        # The official SDK's name for it, as on parsed models.
        return self.request_id

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    def read(self) -> bytes:
        return self.content

    @property
    def text(self) -> str:
        """The body decoded with the charset the server named (UTF-8 if none)."""
        return self.content.decode(_charset(self.headers), errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)

    def iter_bytes(self, chunk_size: int | None = None) -> list[bytes]:
        """The body in pieces of ``chunk_size`` bytes (one piece if None)."""
        _check_chunk_size(chunk_size)
        data = self.content
        if chunk_size is None:
            return [data] if data else []
        return [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]

    async def write_to_file(self, path: StrPath) -> None:
        """Write the body to ``path`` (in a worker thread)."""
        await trio.Path(path).write_bytes(self.content)


class StreamedBinaryResponse:
    """A binary body read as it arrives, on a connection this object holds
    until the body ends or it is closed.

    Use it as an async context manager::

        async with await client.files.with_streaming_response.content("file-abc") as response:
            await response.write_to_file("out.jsonl")

    ``iter_bytes()``, ``read()`` and ``write_to_file()`` consume the body
    (only one of them, once).  Leaving the block before the end closes the
    connection rather than reading the rest; a body read to its end hands
    the connection back for reuse.
    """

    __slots__ = ("_consumed", "_exchange", "_parse", "_secret", "headers", "request", "status_code")

    def __init__(
        self,
        exchange: Exchange,
        *,
        request: Request,
        secret: str | Sequence[str] | None = None,
        parse: Callable[[bytes], Any] | None = None,
    ) -> None:
        self._exchange = exchange
        self._parse = parse
        self._secret = secret
        self._consumed = False
        self.request = request
        self.status_code = exchange.status_code
        self.headers = exchange.headers

    def __repr__(self) -> str:
        state = "closed" if self._exchange.released else "open"
        return (
            f"<StreamedBinaryResponse [{self.status_code}] {self.request.method} "
            f"{self.request.redacted_url} {state}>"
        )

    @property
    def request_id(self) -> str | None:
        return self.headers.get("x-request-id")

    @property
    def _request_id(self) -> str | None:
        return self.request_id

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    @property
    def closed(self) -> bool:
        return self._exchange.released

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def iter_bytes(self, chunk_size: int | None = None) -> _ByteChunks:
        """The body piece by piece: as the network delivers it, or in pieces
        of exactly ``chunk_size`` bytes (the last may be shorter)."""
        _check_chunk_size(chunk_size)
        if self._consumed:
            raise LocalProtocolError("the body of this response has already been read")
        self._consumed = True
        return _ByteChunks(self, chunk_size)

    async def read(self) -> bytes:
        """The rest of the body, whole."""
        return b"".join([piece async for piece in self.iter_bytes()])

    async def parse(self) -> Any:
        """Read the rest of the body and return what the plain method would
        have: the parsed model, the bytes, or None."""
        body = await self.read()
        return body if self._parse is None else self._parse(body)

    async def write_to_file(self, path: StrPath) -> None:
        """Write the body to ``path`` piece by piece, never holding it all."""
        async with await trio.open_file(path, "wb") as file:
            async for piece in self.iter_bytes():
                await file.write(piece)

    async def aclose(self) -> None:
        """Stop reading and give the connection back; idempotent.

        A body read to its end leaves the connection reusable; otherwise
        the connection is closed, as the rest of the body was never read.
        """
        self._consumed = True
        exchange = self._exchange
        if not exchange.released:
            await exchange.release(discard=not exchange.complete)

    async def _next_piece(self) -> bytes | None:
        exchange = self._exchange
        if exchange.released or exchange.complete:
            return None
        try:
            event = await exchange.next_body_event()
        except BaseException as exc:
            if isinstance(exc, OpenAIError):
                scrub_secret(exc, self._secret)
                if isinstance(exc, APIError) and exc.request is None:
                    exc.request = self.request
            await exchange.release(discard=True)
            raise
        if type(event) is DataReceived:
            return event.data
        await exchange.release()
        return None


class _ByteChunks:
    __slots__ = ("_buffer", "_done", "_response", "_size")

    def __init__(self, response: StreamedBinaryResponse, chunk_size: int | None) -> None:
        self._response = response
        self._size = chunk_size
        self._buffer = bytearray()
        self._done = False

    def __aiter__(self) -> _ByteChunks:
        return self

    async def __anext__(self) -> bytes:
        size = self._size
        buffer = self._buffer
        while not self._done:
            if size is not None and len(buffer) >= size:
                break
            piece = await self._response._next_piece()
            if piece is None:
                self._done = True
            elif size is None:
                if piece:
                    return piece
            else:
                buffer += piece
        if size is None or not buffer:
            raise StopAsyncIteration
        out = bytes(buffer[:size])
        del buffer[:size]
        return out
