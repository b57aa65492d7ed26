"""Run OpenAI API calls on asyncio streams.

The same sans-IO core as the trio client and the blocking driver: a
builder from ``openai_sansio.api`` describes the call, a ``CallLifecycle``
decides what to send, how much to read, what to retry and when, and an
``HTTP11Connection`` turns bytes into events.  This file only moves bytes
with ``asyncio`` and keeps time with ``wait_for``.

    python examples/asyncio_chat.py "Say hi" --model gpt-4o-mini
    python examples/asyncio_chat.py "Say hi" --fake      # no key needed

One connection per attempt, no pooling: a driver, not a client.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import ssl
import sys
import time
from typing import Any, AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence, TypeVar

from openai_sansio import (
    NEED_DATA,
    NOT_GIVEN,
    APIConnectionError,
    APIError,
    APITimeoutError,
    CallLifecycle,
    CassettePlayer,
    ClientConfig,
    ConnectionClosed,
    DataReceived,
    Done,
    FilePart,
    HTTP11Connection,
    OpenAIError,
    PreparedOperation,
    Raise,
    ReadBody,
    RemoteProtocolError,
    ReplayConnection,
    Request,
    ResponseComplete,
    ResponseReceived,
    Retry,
    SendRequest,
    StartStream,
    StreamedBody,
    api,
    lifecycle_for,
    new_idempotency_key,
)

__all__ = ["main", "run", "run_operation", "stream_chat", "iter_chat", "stream_chat_with_config", "replay_from"]

T = TypeVar("T")

_READ_SIZE = 65536


class _Failed(Exception):
    """The transport failed under an attempt; ``closed``: the peer hung up;
    ``nothing_sent``: no byte of the request was written (no connection)."""

    def __init__(self, error: APIError, *, closed: bool = False, nothing_sent: bool = False) -> None:
        super().__init__(str(error))
        self.error = error
        self.closed = closed
        self.nothing_sent = nothing_sent


async def _limited(awaitable: Awaitable[T], seconds: float | None, limit: str) -> T:
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except asyncio.TimeoutError:
        raise _Failed(APITimeoutError(limit, seconds or 0.0)) from None


class _CassetteReader:
    """``StreamReader.read`` answered by a cassette player's connection."""

    def __init__(self, conn: ReplayConnection) -> None:
        self._conn = conn
        self._rest = b""

    async def read(self, size: int) -> bytes:
        data = self._rest
        if not data:
            chunk = self._conn.next_chunk()
            if chunk is None:
                return b""
            if chunk.reset:
                raise ConnectionResetError("the recorded connection failed here")
            data = chunk.data
        self._rest = data[size:]
        return data[:size]


class _CassetteWriter:
    """The ``StreamWriter`` calls this driver makes, fed to the player."""

    def __init__(self, conn: ReplayConnection) -> None:
        self._conn = conn

    def write(self, data: bytes) -> None:
        self._conn.receive_data(data)  # CassetteMiss: no recording answers

    async def drain(self) -> None:
        pass

    def close(self) -> None:
        pass

    async def wait_closed(self) -> None:
        pass


Connect = Callable[[Request], Awaitable[tuple[Any, Any]]]


def replay_from(player: CassettePlayer) -> Connect:
    """A ``connect`` for :func:`run` that answers from a cassette, no network:
    ``await run(lifecycle, connect=replay_from(CassettePlayer(cassette)))``."""

    async def connect(_request: Request) -> tuple[Any, Any]:
        conn = player.connection()
        return _CassetteReader(conn), _CassetteWriter(conn)

    return connect


class _Exchange:
    """One attempt: a stream pair, its HTTP/1.1 framing and the request it carries."""

    def __init__(self, request: Request, lifecycle: CallLifecycle, connect: Connect | None = None) -> None:
        self.request = request
        self.timeout = lifecycle.call.timeout
        self.conn = HTTP11Connection()
        self.eof = False
        self.writer: Any = None
        self._connect = connect

    async def _write(self) -> None:
        assert self.writer is not None
        try:
            self.writer.write(self.conn.data_to_send())
            await _limited(self.writer.drain(), self.timeout.write, "write")
        except OSError as exc:
            raise _Failed(APIConnectionError(f"Connection error: {exc}")) from None

    async def send(self) -> tuple[int, Any]:
        """Connect, write the request; return the status and headers of the response."""
        origin = self.request.origin
        context = ssl.create_default_context() if origin.scheme == "https" else None
        try:
            if self._connect is not None:
                opening = self._connect(self.request)
            else:
                opening = asyncio.open_connection(
                    origin.host, origin.port, ssl=context,
                    server_hostname=origin.host if context is not None else None,
                )
            self.reader, self.writer = await _limited(opening, self.timeout.connect, "connect")
        except _Failed as failure:
            failure.nothing_sent = True
            raise
        except (OSError, ssl.SSLError) as exc:
            error = APIConnectionError(f"Connection error: {exc.strerror or exc}")
            raise _Failed(error, nothing_sent=True) from None
        self.conn.send(self.request)
        await self._write()
        body = self.request.body
        if isinstance(body, StreamedBody):
            async for piece in _body_pieces(body):
                self.conn.send_body(piece)
                await self._write()
            self.conn.end_body()
            await self._write()
        event = await self.next_event()
        if not isinstance(event, ResponseReceived):
            raise _Failed(RemoteProtocolError(f"expected a response head, got {type(event).__name__}"))
        return event.status_code, event.headers

    async def next_event(self) -> Any:
        while True:
            try:
                event = self.conn.next_event()
            except RemoteProtocolError as exc:
                # After an end of file it is the peer hanging up mid-response.
                raise _Failed(exc, closed=self.eof) from None
            if event is not NEED_DATA:
                if isinstance(event, ConnectionClosed):
                    raise _Failed(APIConnectionError("The server closed the connection."), closed=True)
                return event
            try:
                data = await _limited(self.reader.read(_READ_SIZE), self.timeout.read, "read")
            except OSError as exc:
                raise _Failed(APIConnectionError(f"Connection error: {exc}"), closed=True) from None
            self.eof = not data
            self.conn.receive_data(data)

    async def read_body(self, max_bytes: int) -> tuple[bytes, bool]:
        body = bytearray()
        while not isinstance(event := await self.next_event(), ResponseComplete):
            if isinstance(event, DataReceived):
                body += event.data
                if len(body) > max_bytes:
                    return bytes(body[:max_bytes]), True
        return bytes(body), False

    async def stream(self, decoder: Any) -> AsyncIterator[Any]:
        while True:
            try:
                event = await self.next_event()
            except _Failed as failure:
                # Items were handed out already: no retry from here on.
                raise failure.error from None
            if isinstance(event, DataReceived):
                for item in decoder.feed(event.data):
                    yield item
            elif isinstance(event, ResponseComplete):
                for item in decoder.close():
                    yield item
                return

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (OSError, ssl.SSLError):
                pass


async def _body_pieces(body: StreamedBody) -> AsyncIterator[bytes]:
    for part in body.parts():
        if not isinstance(part, FilePart):
            yield part
        elif part.stream is not None:
            async for chunk in part.stream:
                yield bytes(chunk)
        else:
            # Small example files: read in the loop's thread, piece by piece.
            file = open(part.path, "rb") if part.path is not None else part.file  # noqa: SIM115, ASYNC230
            assert file is not None
            try:
                if part.offset is not None:
                    file.seek(part.offset)
                remaining = part.size
                while remaining is None or remaining > 0:
                    chunk = file.read(_READ_SIZE if remaining is None else min(_READ_SIZE, remaining))
                    if not chunk:
                        break
                    if remaining is not None:
                        remaining -= len(chunk)
                    yield chunk
            finally:
                if part.path is not None:
                    file.close()


async def _actions(lifecycle: CallLifecycle, connect: Connect | None = None) -> AsyncGenerator[Any, None]:
    """Carry out ``lifecycle``'s actions; yields the result, or each item of a stream."""
    started = time.monotonic()
    action: Any = lifecycle.start()
    exchange: _Exchange | None = None
    try:
        while True:
            try:
                if isinstance(action, SendRequest):
                    if exchange is not None:
                        await exchange.close()
                    exchange = _Exchange(action.request, lifecycle, connect)
                    action = lifecycle.response_head(*await exchange.send())
                elif isinstance(action, ReadBody):
                    assert exchange is not None
                    body, truncated = await exchange.read_body(action.max_bytes)
                    action = lifecycle.response_body(
                        body, truncated, now=time.time(), jitter=random.random(),
                        elapsed=time.monotonic() - started,
                    )
                elif isinstance(action, StartStream):
                    assert exchange is not None
                    async for item in exchange.stream(action.decoder):
                        yield item
                    return
                elif isinstance(action, Retry):
                    await asyncio.sleep(action.delay)
                    action = lifecycle.start()
                elif isinstance(action, Raise):
                    raise action.error
                else:
                    assert isinstance(action, Done)
                    yield action.result
                    return
            except _Failed as failure:
                action = lifecycle.transport_error(
                    failure.error, connection_closed=failure.closed, nothing_sent=failure.nothing_sent,
                    jitter=random.random(),
                    elapsed=time.monotonic() - started,
                )
    finally:
        if exchange is not None:
            await exchange.close()


async def run(lifecycle: CallLifecycle, *, connect: Connect | None = None) -> Any:
    """The result of a call that is not streamed.  ``connect(request)``
    opens the (reader, writer) pair instead (see :func:`replay_from`)."""
    async with contextlib.aclosing(_actions(lifecycle, connect)) as actions:
        async for result in actions:
            return result
    raise AssertionError("unreachable: a lifecycle ends with a result or an error")


async def run_operation(
    config: ClientConfig, prepared: PreparedOperation[Any], *, connect: Connect | None = None
) -> Any:
    """Run one call built by an ``openai_sansio.api`` builder:
    ``await run_operation(config, api.files_content("file-abc"))``."""
    key = None if prepared.operation.method == "GET" else new_idempotency_key(os.urandom(16))
    lifecycle = lifecycle_for(config, prepared, idempotency_key=key, multipart_random=os.urandom(16))
    return await run(lifecycle, connect=connect)


async def stream_chat(
    base_url: str,
    api_key: str | None,
    model: str,
    prompt: str,
    *,
    max_tokens: int | None = None,
    max_retries: int = 2,
    timeout: float = 60.0,
    on_token: Callable[[str], None] | None = None,
) -> list[str]:
    """Stream one chat completion and return its text pieces in order.

    ``on_token`` is called with each piece as soon as it arrives.  Raises
    an ``openai_sansio.APIError`` subclass on failure.
    """
    config = ClientConfig(api_key=api_key, base_url=base_url, max_retries=max_retries, timeout=timeout)
    return await stream_chat_with_config(config, model, prompt, max_tokens=max_tokens, on_token=on_token)


async def stream_chat_with_config(
    config: ClientConfig,
    model: str,
    prompt: str,
    *,
    max_tokens: int | None = None,
    on_token: Callable[[str], None] | None = None,
    connect: Connect | None = None,
) -> list[str]:
    tokens: list[str] = []
    async for text in iter_chat(config, model, prompt, max_tokens=max_tokens, connect=connect):
        tokens.append(text)
        if on_token is not None:
            on_token(text)
    return tokens


async def iter_chat(
    config: ClientConfig,
    model: str,
    prompt: str,
    *,
    max_tokens: int | None = None,
    connect: Connect | None = None,
) -> AsyncIterator[str]:
    """Yield the text pieces of one streamed chat completion as they arrive.

    Failures before the response head (connection errors, retryable
    statuses) are retried as the lifecycle decides; once text has been
    yielded, a failure is raised as is.
    """
    prepared = api.chat_completions_create(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        stream=True,
        max_tokens=NOT_GIVEN if max_tokens is None else max_tokens,
    )
    lifecycle = lifecycle_for(config, prepared, idempotency_key=new_idempotency_key(os.urandom(16)))
    async with contextlib.aclosing(_actions(lifecycle, connect)) as chunks:
        async for chunk in chunks:
            for choice in chunk.choices:
                if choice.index == 0 and choice.delta.content:
                    yield choice.delta.content


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Stream a chat completion on asyncio.")
    parser.add_argument("prompt")
    parser.add_argument("--model", default="gpt-4o-mini")
    parser.add_argument("--base-url", help="default: $OPENAI_BASE_URL or the OpenAI API")
    parser.add_argument("--api-key", help="default: $OPENAI_API_KEY")
    parser.add_argument("--max-tokens", type=int)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument(
        "--fake", action="store_true", help="talk to openai_trio's built-in fake server"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    shown: list[str] = []

    def show(text: str) -> None:
        shown.append(text)
        sys.stdout.write(text)
        sys.stdout.flush()

    def run_chat(base_url: str | None, api_key: str | None) -> None:
        config = ClientConfig.from_env(base_url=base_url, api_key=api_key, timeout=args.timeout)
        asyncio.run(
            stream_chat_with_config(config, args.model, args.prompt, max_tokens=args.max_tokens, on_token=show)
        )
        sys.stdout.write("\n")

    try:
        if args.fake:
            from openai_trio.testing import run_fake_server_in_thread

            with run_fake_server_in_thread() as base_url:
                run_chat(base_url, "sk-fake")
        else:
            run_chat(args.base_url, args.api_key)
    except OpenAIError as exc:
        if shown:
            sys.stdout.write("\n")
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
