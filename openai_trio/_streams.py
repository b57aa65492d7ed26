"""A request in flight on a leased connection, and the stream object that
turns its event-stream body into items.

The connection goes back to the pool (or is closed) exactly once, when the
response ends, when the caller leaves the ``async with`` block, or when
anything (an error, a cancellation) interrupts reading: never by garbage
collection.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Generic, Sequence, TypeVar

import trio

from openai_sansio import (
    APIError,
    APIResponseValidationError,
    APIStreamError,
    DataReceived,
    Headers,
    OpenAIError,
    RemoteProtocolError,
    Request,
    ResponseComplete,
    ResponseReceived,
    StreamDecodeError,
)
from openai_sansio._redact import drop_frames, scrub_value

from ._connection import Limits

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

    from openai_sansio import StreamDecoder

    from ._pool import ConnectionPool, Lease

__all__ = ["AsyncStream", "Exchange"]

T = TypeVar("T")

logger = logging.getLogger("openai_trio")

# After the server said the stream is over, this much more body (and this
# long) is read to reach the end of the response so the connection can be
# reused; past either bound the connection is closed instead.
DRAIN_MAX_BYTES = 64 * 1024
DRAIN_MAX_SECONDS = 1.0
# Bodies up to this size are kept as pieces and joined once at the end
# (the fastest way for the small bodies of most calls).
_JOIN_AT = 1024 * 1024


_NO_HEADERS = Headers()
# Errors the decoder makes from what the server sent: the frames they are
# raised through hold that text (see drop_frames).
_MADE_FROM_CONTENT = (APIStreamError, StreamDecodeError, APIResponseValidationError)


def scrub_secret(exc: BaseException, secret: str | Sequence[str] | None) -> None:
    """Remove the secrets (one, or several longest first) from the text an
    error and its chain carry, in place.

    The core scrubs the errors it builds from a response; this is for text
    that reaches an error another way: what a server sends inside an event
    stream lands in the error's message, ``body`` and ``data`` (and the
    JSON error chained under it), and a token provider's token is known
    only here.
    """
    secrets = (secret,) if isinstance(secret, str) else tuple(s for s in secret or () if s)
    if not secrets:
        return
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        link.args = tuple(scrub_value(arg, secrets) for arg in link.args)
        fields = vars(link)
        for name, value in fields.items():
            if isinstance(value, (str, dict, list, tuple)):
                fields[name] = scrub_value(value, secrets)
        link = link.__cause__ if link.__cause__ is not None else link.__context__


class Exchange:
    """One request/response on a connection slot taken from the pool."""

    __slots__ = (
        "_pool", "complete", "connection", "headers", "limits", "released", "status_code", "stream_id",
    )

    def __init__(self, pool: ConnectionPool, conn: Lease, limits: Limits) -> None:
        self._pool = pool
        self.connection = conn
        self.limits = limits
        self.stream_id = 0
        self.status_code = 0
        self.headers = _NO_HEADERS
        self.released = False
        self.complete = False

    async def start(self, request: Request) -> None:
        """Send the request and wait for the response head."""
        self.stream_id, event = await self.connection.send_and_receive(request, self.limits)
        if not isinstance(event, ResponseReceived):
            self.connection.mark_broken()
            raise RemoteProtocolError(
                f"expected a response head, got {type(event).__name__}", request=request
            )
        self.status_code = event.status_code
        self.headers = event.headers

    async def next_body_event(self) -> DataReceived | ResponseComplete:
        event = await self.connection.receive_event(self.limits)
        if isinstance(event, ResponseComplete):
            self.complete = True
            return event
        if isinstance(event, DataReceived):
            return event
        self.connection.mark_broken()
        raise RemoteProtocolError(f"unexpected {type(event).__name__} inside a response body")

    async def read_body(self, max_bytes: int) -> tuple[bytes, bool]:
        """The body, up to ``max_bytes``; the flag says it was cut short
        (the connection is then closed, as the rest was never read).

        On an error or a cut the connection is already released; after a
        complete body the caller releases it (with ``discard`` if the body
        turns out to be nonsense), before its next checkpoint.
        """
        parts: list[bytes] = []
        size = 0
        # Past _JOIN_AT bytes the pieces go straight into one buffer, so a
        # big body is held once, not as pieces plus their join (plus a
        # slice, at the cap): a 300 MiB body against the 256 MiB cap used
        # to peak at three times the cap.
        big: bytearray | None = None
        # next_body_event, inlined: small responses are all overhead.
        receive = self.connection.receive_event
        limits = self.limits
        try:
            while True:
                event = await receive(limits)
                if type(event) is not DataReceived:
                    if isinstance(event, ResponseComplete):
                        self.complete = True
                        break
                    if not isinstance(event, DataReceived):
                        self.connection.mark_broken()
                        raise RemoteProtocolError(
                            f"unexpected {type(event).__name__} inside a response body"
                        )
                data = event.data
                size += len(data)
                if big is not None:
                    big += data
                elif size > _JOIN_AT:
                    big = bytearray().join(parts)
                    big += data
                    parts.clear()
                else:
                    parts.append(data)
                del data
                if size > max_bytes:
                    await self.release(discard=True)
                    if big is None:
                        return b"".join(parts)[:max_bytes], True
                    del big[max_bytes:]
                    return _as_bytes(big), True
        except BaseException:
            # What arrived may quote a key the server echoed; a traceback
            # that records locals would show it.
            parts.clear()
            big = None
            event = None
            await self.release(discard=True)
            raise
        if big is not None:
            return _as_bytes(big), False
        return b"".join(parts), False

    async def drain(self, feed: Callable[[bytes], object] | None = None) -> None:
        """Read the rest of the body, bounded in bytes and time, to hand the
        connection back reusable; close it if the bounds run out.

        Shielded: it runs to completion (briefly) even while the caller is
        being cancelled.
        """
        if self.released:
            return
        drained = 0
        with trio.CancelScope(shield=True):
            with trio.move_on_after(DRAIN_MAX_SECONDS):
                try:
                    while not self.complete and drained <= DRAIN_MAX_BYTES:
                        event = await self.next_body_event()
                        if isinstance(event, DataReceived):
                            drained += len(event.data)
                            if feed is not None:
                                feed(event.data)
                except Exception as exc:
                    # Whatever went wrong, the connection is simply not reused.
                    logger.debug("Could not drain the end of a finished stream: %r", exc)
        await self.release(discard=not self.complete)

    async def release(self, *, discard: bool = False) -> None:
        """Hand the connection back; idempotent."""
        if self.released:
            return
        self.released = True
        if self._pool.release_nowait(self.connection, discard=discard or not self.complete):
            await self.connection.aclose()


class AsyncStream(Generic[T]):
    """The items of an event-stream response, read as they arrive.

    Use it as an async context manager and iterate it::

        async with await client.chat.completions.create(..., stream=True) as stream:
            async for chunk in stream:
                ...

    Leaving the block by any route (end, ``break``, exception,
    cancellation) gives the connection back before the block exits.  Once
    the server signals the end of the stream (``[DONE]`` or a terminal
    event) the rest of the body is read, within small bounds, so the
    connection can carry the next request.

    An error the server reports inside the stream raises
    ``APIStreamError`` after the items that arrived ahead of it.
    """

    __slots__ = (
        "_decoder", "_error", "_exchange", "_finished", "_pending", "_secret",
        "headers", "request", "request_id", "status_code",
    )

    def __init__(
        self,
        exchange: Exchange,
        decoder: StreamDecoder[T],
        *,
        request: Request,
        secret: str | Sequence[str] | None = None,
    ) -> None:
        self._exchange = exchange
        self._secret = secret
        self._decoder = decoder
        # Decoded items not yet handed out, last first so the next one is a
        # pop() away: a list costs a fraction of a deque per open stream.
        self._pending: list[T] = []
        self._error: BaseException | None = None
        self._finished = False
        self.request = request
        self.status_code = exchange.status_code
        self.headers = exchange.headers
        self.request_id: str | None = exchange.headers.get("x-request-id")

    @property
    def _request_id(self) -> str | None:
        # The official SDK's name for it, as on parsed models.
        return self.request_id

    def __repr__(self) -> str:
        state = "closed" if self._finished else "open"
        return f"<AsyncStream {self.request.method} {self.request.redacted_url} {state}>"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        if self._pending:
            return self._pending.pop()
        if self._error is not None:
            error, self._error = self._error, None
            self._finished = True
            raise error
        if self._finished:
            raise StopAsyncIteration
        try:
            await self._fill()
        except APIStreamError as exc:
            # Made from the stream's text: the decoding frames below hold it.
            drop_frames(exc)
            scrub_secret(exc, self._secret)
            await self._exchange.release(discard=True)
            if exc.received:
                self._pending[:] = exc.received[::-1]
                self._error = exc
                return self._pending.pop()
            self._finished = True
            raise
        except BaseException as exc:
            self._finished = True
            if isinstance(exc, OpenAIError):
                if isinstance(exc, _MADE_FROM_CONTENT):
                    drop_frames(exc)
                scrub_secret(exc, self._secret)
                if isinstance(exc, APIError) and exc.request is None:
                    exc.request = self.request
            await self._exchange.release(discard=True)
            raise
        if self._pending:
            return self._pending.pop()
        self._finished = True
        raise StopAsyncIteration

    async def _fill(self) -> None:
        # The per-chunk hot path: straight to the connection, no helpers.
        decoder = self._decoder
        exchange = self._exchange
        receive = exchange.connection.receive_event
        limits = exchange.limits
        pending = self._pending
        while not pending:
            if decoder.done:
                await exchange.drain(decoder.feed)
                return
            if exchange.complete:
                return
            event = await receive(limits)
            if type(event) is DataReceived:
                pending[:] = decoder.feed(event.data)[::-1]
            elif isinstance(event, ResponseComplete):
                exchange.complete = True
                await exchange.release()
                pending[:] = decoder.close()[::-1]
            else:
                exchange.connection.mark_broken()
                raise RemoteProtocolError(
                    f"unexpected {type(event).__name__} inside a response body",
                    request=self.request,
                )

    async def aclose(self) -> None:
        """Stop reading and give the connection back; idempotent.

        If the stream already ended, what is left of the body is drained
        (briefly) so the connection stays reusable; otherwise it is closed.
        """
        self._finished = True
        self._pending.clear()
        self._error = None
        exchange = self._exchange
        if exchange.released:
            return
        if self._decoder.done:
            await exchange.drain(self._decoder.feed)
        else:
            await exchange.release(discard=True)

    def text_deltas(self) -> _TextDeltas:
        """Iterate only the generated text, piece by piece.

        Works for chat completion chunks (``choices[0].delta.content``),
        legacy completions (``choices[0].text``) and Responses
        ``response.output_text.delta`` events; other items are skipped.
        """
        return _TextDeltas(self)


class _TextDeltas:
    __slots__ = ("_stream",)

    def __init__(self, stream: AsyncStream[Any]) -> None:
        self._stream = stream

    def __aiter__(self) -> _TextDeltas:
        return self

    async def __anext__(self) -> str:
        while True:
            text = _text_of(await self._stream.__anext__())
            if text:
                return text


def _text_of(item: object) -> str | None:
    if isinstance(item, dict):
        return None
    kind = getattr(item, "type", None)
    if kind is not None and isinstance(kind, str):
        if kind == "response.output_text.delta":
            delta = getattr(item, "delta", None)
            return delta if isinstance(delta, str) else None
        return None
    choices = getattr(item, "choices", None)
    if not choices:
        return None
    choice = choices[0]
    delta = getattr(choice, "delta", None)
    if delta is not None:
        content = getattr(delta, "content", None)
        return content if isinstance(content, str) else None
    text = getattr(choice, "text", None)
    return text if isinstance(text, str) else None


def _as_bytes(buffer: bytearray) -> bytes:
    # A bytearray stands in for bytes: everything downstream only slices,
    # decodes, parses or writes it, and a bytes copy would double the peak.
    return buffer  # type: ignore[return-value]
