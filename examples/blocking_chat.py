"""Stream a chat completion with nothing but the standard library's sockets.

This driver shows that ``openai_sansio`` needs no async framework: a
``Call`` decides what to send and whether to retry, an ``HTTP11Connection``
turns bytes into events, and a ``ChatCompletionStreamDecoder`` turns body
bytes into typed chunks.  All this file does is move bytes, keep time and
roll dice.

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
from typing import Any, Callable, Sequence

from openai_sansio import (
    NEED_DATA,
    APIConnectionError,
    APITimeoutError,
    Call,
    ChatCompletionStreamDecoder,
    ClientConfig,
    ConnectionClosed,
    DataReceived,
    HTTP11Connection,
    OpenAIError,
    RemoteProtocolError,
    Request,
    ResponseComplete,
    ResponseReceived,
    new_idempotency_key,
)
from openai_sansio import Headers as HeadersType

__all__ = ["main", "stream_chat", "stream_chat_with_config"]

_READ_SIZE = 65536
# An error body is read whole before it is decoded; a server that sends an
# endless one is cut off here.
_MAX_ERROR_BODY = 1024 * 1024


class _ErrorStatus(Exception):
    """A complete non-2xx response: retried or raised by the caller."""

    def __init__(self, status: int, headers: HeadersType, body: bytes) -> None:
        super().__init__(status)
        self.status = status
        self.headers = headers
        self.body = body


class _EarlyFailure(Exception):
    """The attempt failed before any response head arrived: safe to retry."""

    def __init__(self, error: OpenAIError) -> None:
        super().__init__(str(error))
        self.error = error


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
) -> list[str]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
    }
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    call = Call(
        config,
        "POST",
        "/chat/completions",
        body=body,
        stream=True,
        idempotency_key=new_idempotency_key(os.urandom(16)),
    )
    while True:
        request = call.request()
        try:
            return _attempt(call, request, on_token)
        except _ErrorStatus as err:
            delay = call.retry_delay(
                status_code=err.status, headers=err.headers, now=time.time(), jitter=random.random()
            )
            if delay is None:
                raise call.decode_error(err.status, err.headers, err.body) from None
        except _EarlyFailure as failure:
            delay = call.retry_delay_after_error(jitter=random.random())
            if delay is None:
                raise failure.error from None
        time.sleep(delay)


def _connect(request: Request, call: Call) -> socket.socket:
    origin = request.origin
    limits = call.timeout
    try:
        sock = socket.create_connection((origin.host, origin.port), timeout=limits.connect)
    except TimeoutError:
        raise _EarlyFailure(APITimeoutError("connect", limits.connect or 0.0, request=request)) from None
    except OSError as exc:
        raise _EarlyFailure(
            APIConnectionError(f"Connection error: {exc.strerror or exc}", request=request)
        ) from None
    try:
        if origin.scheme == "https":
            context = ssl.create_default_context()
            sock = context.wrap_socket(sock, server_hostname=origin.host)
        sock.settimeout(limits.read)
    except (OSError, ssl.SSLError) as exc:
        sock.close()
        raise _EarlyFailure(APIConnectionError(f"TLS error: {exc}", request=request)) from None
    return sock


def _attempt(call: Call, request: Request, on_token: Callable[[str], None] | None) -> list[str]:
    sock = _connect(request, call)
    conn = HTTP11Connection()
    tokens: list[str] = []
    status: int | None = None
    headers = HeadersType()
    error_body = bytearray()
    decoder: ChatCompletionStreamDecoder[Any] | None = None

    def emit(chunks: list[Any]) -> None:
        for chunk in chunks:
            for choice in chunk.choices:
                text = choice.delta.content
                if choice.index == 0 and text:
                    tokens.append(text)
                    if on_token is not None:
                        on_token(text)

    try:
        conn.send(request)
        try:
            sock.sendall(conn.data_to_send())
        except OSError as exc:
            raise _EarlyFailure(APIConnectionError(f"Connection error: {exc}", request=request)) from None
        while True:
            try:
                event = conn.next_event()
            except RemoteProtocolError as exc:
                if status is None:
                    raise _EarlyFailure(exc) from None
                raise
            if event is NEED_DATA:
                try:
                    data = sock.recv(_READ_SIZE)
                except TimeoutError:
                    error: OpenAIError = APITimeoutError("read", call.timeout.read or 0.0, request=request)
                    if status is None:
                        raise _EarlyFailure(error) from None
                    raise error from None
                except OSError as exc:
                    error = APIConnectionError(f"Connection error: {exc}", request=request)
                    if status is None:
                        raise _EarlyFailure(error) from None
                    raise error from None
                conn.receive_data(data)
            elif isinstance(event, ResponseReceived):
                status, headers = event.status_code, event.headers
                if 200 <= status < 300:
                    decoder = ChatCompletionStreamDecoder(request=request)
            elif isinstance(event, DataReceived):
                if decoder is not None:
                    emit(decoder.feed(event.data))
                elif len(error_body) < _MAX_ERROR_BODY:
                    error_body += event.data[: _MAX_ERROR_BODY - len(error_body)]
            elif isinstance(event, ResponseComplete):
                assert status is not None
                if decoder is None:
                    raise _ErrorStatus(status, headers, bytes(error_body))
                emit(decoder.close())
                return tokens
            else:
                assert isinstance(event, ConnectionClosed)
                raise _EarlyFailure(
                    APIConnectionError("The server closed the connection.", request=request)
                )
    finally:
        sock.close()


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

    def run(base_url: str | None, api_key: str | None) -> None:
        config = ClientConfig.from_env(base_url=base_url, api_key=api_key, timeout=args.timeout)
        stream_chat_with_config(config, args.model, args.prompt, max_tokens=args.max_tokens, on_token=show)
        sys.stdout.write("\n")

    try:
        if args.fake:
            from openai_trio.testing import run_fake_server_in_thread

            with run_fake_server_in_thread() as base_url:
                run(base_url, "sk-fake")
        else:
            run(args.base_url, args.api_key)
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
