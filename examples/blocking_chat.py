"""Run OpenAI API calls with nothing but the standard library's sockets.

This driver shows that ``openai_sansio`` needs no async framework: a
builder from ``openai_sansio.api`` describes the call, a ``CallLifecycle``
decides what to send, how much to read, what to retry and when, and an
``HTTP11Connection`` turns bytes into events.  All this file does is move
bytes, keep time and roll dice.

    python examples/blocking_chat.py "Say hi" --model gpt-4o-mini
    python examples/blocking_chat.py "Say hi" --fake      # no key needed

One connection per attempt, no pooling: a driver, not a client.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import ssl
import sys
import time
from typing import Any, Callable, Iterator, Sequence

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
    LocalProtocolError,
    OpenAIError,
    PreparedOperation,
    Raise,
    ReadBody,
    RemoteProtocolError,
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

__all__ = ["main", "run", "run_operation", "stream_chat", "stream_chat_with_config", "replay_from"]

_READ_SIZE = 65536


class _Failed(Exception):
    """The transport failed under an attempt; ``closed``: the peer hung up;
    ``nothing_sent``: no byte of the request was written (no connection)."""

    def __init__(self, error: APIError, *, closed: bool = False, nothing_sent: bool = False) -> None:
        super().__init__(str(error))
        self.error = error
        self.closed = closed
        self.nothing_sent = nothing_sent


class _CassetteSocket:
    """The socket calls this driver makes, answered by a cassette player."""

    def __init__(self, player: CassettePlayer) -> None:
        self._conn = player.connection()
        self._rest = b""

    def sendall(self, data: bytes) -> None:
        self._conn.receive_data(data)  # CassetteMiss: no recording answers

    def recv(self, size: int) -> bytes:
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

    def close(self) -> None:
        pass


Connect = Callable[[Request], Any]


def replay_from(player: CassettePlayer) -> Connect:
    """A ``connect`` for :func:`run` that answers from a cassette, no network:
    ``run(lifecycle, connect=replay_from(CassettePlayer(cassette)))``."""
    return lambda _request: _CassetteSocket(player)


class _Exchange:
    """One attempt: a socket, its HTTP/1.1 framing and the request it carries."""

    def __init__(self, request: Request, lifecycle: CallLifecycle, connect: Connect | None = None) -> None:
        self.request = request
        self.timeout = lifecycle.call.timeout
        self.conn = HTTP11Connection()
        self.eof = False
        self.sock = self._connect() if connect is None else connect(request)

    def _connect(self) -> socket.socket:
        origin, limit = self.request.origin, self.timeout.connect
        try:
            sock = socket.create_connection((origin.host, origin.port), timeout=limit)
        except TimeoutError:
            raise _Failed(APITimeoutError("connect", limit or 0.0), nothing_sent=True) from None
        except OSError as exc:
            raise _Failed(APIConnectionError(f"Connection error: {exc.strerror or exc}"), nothing_sent=True) from None
        try:
            if origin.scheme == "https":
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=origin.host)
            sock.settimeout(self.timeout.read)
        except (OSError, ssl.SSLError) as exc:
            sock.close()
            raise _Failed(APIConnectionError(f"TLS error: {exc}"), nothing_sent=True) from None
        return sock

    def _write(self) -> None:
        try:
            self.sock.sendall(self.conn.data_to_send())
        except OSError as exc:
            raise _Failed(APIConnectionError(f"Connection error: {exc}")) from None

    def send(self) -> tuple[int, Any]:
        """Write the request; return the status and headers of the response."""
        self.conn.send(self.request)
        self._write()
        body = self.request.body
        if isinstance(body, StreamedBody):
            for piece in _body_pieces(body):
                self.conn.send_body(piece)
                self._write()
            self.conn.end_body()
            self._write()
        event = self.next_event()
        if not isinstance(event, ResponseReceived):
            raise _Failed(RemoteProtocolError(f"expected a response head, got {type(event).__name__}"))
        return event.status_code, event.headers

    def next_event(self) -> Any:
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
                data = self.sock.recv(_READ_SIZE)
            except TimeoutError:
                raise _Failed(APITimeoutError("read", self.timeout.read or 0.0)) from None
            except OSError as exc:
                raise _Failed(APIConnectionError(f"Connection error: {exc}"), closed=True) from None
            self.eof = not data
            self.conn.receive_data(data)

    def read_body(self, max_bytes: int) -> tuple[bytes, bool]:
        body = bytearray()
        while not isinstance(event := self.next_event(), ResponseComplete):
            if isinstance(event, DataReceived):
                body += event.data
                if len(body) > max_bytes:
                    return bytes(body[:max_bytes]), True
        return bytes(body), False

    def stream(self, decoder: Any) -> Iterator[Any]:
        while True:
            try:
                event = self.next_event()
            except _Failed as failure:
                # Items were handed out already: no retry from here on.
                raise failure.error from None
            if isinstance(event, DataReceived):
                yield from decoder.feed(event.data)
            elif isinstance(event, ResponseComplete):
                yield from decoder.close()
                return

    def close(self) -> None:
        self.sock.close()


def _body_pieces(body: StreamedBody) -> Iterator[bytes]:
    for part in body.parts():
        if not isinstance(part, FilePart):
            yield part
            continue
        if part.stream is not None:
            raise LocalProtocolError("the blocking driver cannot read an async iterable")
        file = open(part.path, "rb") if part.path is not None else part.file  # noqa: SIM115
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


def run(
    lifecycle: CallLifecycle, on_item: Callable[[Any], None] | None = None, *, connect: Connect | None = None
) -> Any:
    """Carry out ``lifecycle``'s actions: the result, or for a stream the
    list of its items (each also passed to ``on_item`` as it arrives).
    ``connect(request)`` opens the socket instead (see :func:`replay_from`)."""
    started = time.monotonic()
    action: Any = lifecycle.start()
    exchange: _Exchange | None = None
    try:
        while True:
            try:
                if isinstance(action, SendRequest):
                    if exchange is not None:
                        exchange.close()
                    exchange = None
                    exchange = _Exchange(action.request, lifecycle, connect)
                    action = lifecycle.response_head(*exchange.send())
                elif isinstance(action, ReadBody):
                    assert exchange is not None
                    body, truncated = exchange.read_body(action.max_bytes)
                    action = lifecycle.response_body(
                        body, truncated, now=time.time(), jitter=random.random(),
                        elapsed=time.monotonic() - started,
                    )
                elif isinstance(action, StartStream):
                    assert exchange is not None
                    items = []
                    for item in exchange.stream(action.decoder):
                        items.append(item)
                        if on_item is not None:
                            on_item(item)
                    return items
                elif isinstance(action, Retry):
                    time.sleep(action.delay)
                    action = lifecycle.start()
                elif isinstance(action, Raise):
                    raise action.error
                else:
                    assert isinstance(action, Done)
                    return action.result
            except _Failed as failure:
                action = lifecycle.transport_error(
                    failure.error, connection_closed=failure.closed, nothing_sent=failure.nothing_sent,
                    jitter=random.random(),
                    elapsed=time.monotonic() - started,
                )
    finally:
        if exchange is not None:
            exchange.close()


def run_operation(config: ClientConfig, prepared: PreparedOperation[Any], *, connect: Connect | None = None) -> Any:
    """Run one call built by an ``openai_sansio.api`` builder:
    ``run_operation(config, api.files_content("file-abc"))``."""
    key = None if prepared.operation.method == "GET" else new_idempotency_key(os.urandom(16))
    lifecycle = lifecycle_for(config, prepared, idempotency_key=key, multipart_random=os.urandom(16))
    return run(lifecycle, connect=connect)


def stream_chat(
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
    return stream_chat_with_config(config, model, prompt, max_tokens=max_tokens, on_token=on_token)


def stream_chat_with_config(
    config: ClientConfig,
    model: str,
    prompt: str,
    *,
    max_tokens: int | None = None,
    on_token: Callable[[str], None] | None = None,
    connect: Connect | None = None,
) -> list[str]:
    prepared = api.chat_completions_create(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        stream=True,
        max_tokens=NOT_GIVEN if max_tokens is None else max_tokens,
    )
    tokens: list[str] = []

    def emit(chunk: Any) -> None:
        for choice in chunk.choices:
            if choice.index == 0 and choice.delta.content:
                tokens.append(choice.delta.content)
                if on_token is not None:
                    on_token(choice.delta.content)

    lifecycle = lifecycle_for(config, prepared, idempotency_key=new_idempotency_key(os.urandom(16)))
    run(lifecycle, on_item=emit, connect=connect)
    return tokens


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Stream a chat completion over plain sockets.")
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
        stream_chat_with_config(config, args.model, args.prompt, max_tokens=args.max_tokens, on_token=show)
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
