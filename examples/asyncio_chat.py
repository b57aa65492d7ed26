"""Stream a chat completion on asyncio streams.

The same sans-IO core as the trio client and the blocking driver: a
``Call`` decides what to send and whether to retry, an ``HTTP11Connection``
turns bytes into events, a ``ChatCompletionStreamDecoder`` turns body bytes
into typed chunks.  This file only moves bytes with ``asyncio`` and keeps
time with ``asyncio.timeout``-style ``wait_for`` calls.

    python examples/asyncio_chat.py "Say hi" --model gpt-4o-mini
    python examples/asyncio_chat.py "Say hi" --fake      # no key needed

One connection per attempt, no pooling: a driver, not a client.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import ssl
import sys
import time
from typing import Any, AsyncIterator, Awaitable, Callable, Sequence, TypeVar

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

__all__ = ["main", "stream_chat", "iter_chat", "stream_chat_with_config"]

T = TypeVar("T")

_READ_SIZE = 65536
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


async def _limited(awaitable: Awaitable[T], seconds: float | None, make_error: Callable[[], Exception]) -> T:
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except asyncio.TimeoutError:
        raise make_error() from None


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
) -> list[str]:
    tokens: list[str] = []
    async for text in iter_chat(config, model, prompt, max_tokens=max_tokens):
        tokens.append(text)
        if on_token is not None:
            on_token(text)
    return tokens


async def iter_chat(
    config: ClientConfig, model: str, prompt: str, *, max_tokens: int | None = None
) -> AsyncIterator[str]:
    """Yield the text pieces of one streamed chat completion as they arrive.

    Failures before the response head (connection errors, retryable
    statuses) are retried as the ``Call`` decides; once text has been
    yielded, a failure is raised as is.
    """
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
            async for text in _attempt(call, request):
                yield text
            return
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
        await asyncio.sleep(delay)


async def _connect(call: Call, request: Request) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    origin = request.origin
    limit = call.timeout.connect
    context = ssl.create_default_context() if origin.scheme == "https" else None
    try:
        return await _limited(
            asyncio.open_connection(
                origin.host,
                origin.port,
                ssl=context,
                server_hostname=origin.host if context is not None else None,
            ),
            limit,
            lambda: _EarlyFailure(APITimeoutError("connect", limit or 0.0, request=request)),
        )
    except _EarlyFailure:
        raise
    except (OSError, ssl.SSLError) as exc:
        raise _EarlyFailure(
            APIConnectionError(f"Connection error: {exc.strerror or exc}", request=request)
        ) from None


async def _attempt(call: Call, request: Request) -> AsyncIterator[str]:
    reader, writer = await _connect(call, request)
    conn = HTTP11Connection()
    status: int | None = None
    headers = HeadersType()
    error_body = bytearray()
    decoder: ChatCompletionStreamDecoder[Any] | None = None
    read_limit = call.timeout.read

    def texts(chunks: list[Any]) -> list[str]:
        return [
            choice.delta.content
            for chunk in chunks
            for choice in chunk.choices
            if choice.index == 0 and choice.delta.content
        ]

    def failed(error: OpenAIError) -> Exception:
        # Before the head arrived nothing was shown, so a retry is safe.
        return _EarlyFailure(error) if status is None else error

    try:
        conn.send(request)
        try:
            writer.write(conn.data_to_send())
            await _limited(
                writer.drain(),
                call.timeout.write,
                lambda: APITimeoutError("write", call.timeout.write or 0.0, request=request),
            )
        except OSError as exc:
            raise _EarlyFailure(APIConnectionError(f"Connection error: {exc}", request=request)) from None
        except APITimeoutError as exc:
            raise _EarlyFailure(exc) from None
        while True:
            try:
                event = conn.next_event()
            except RemoteProtocolError as exc:
                raise failed(exc) from None
            if event is NEED_DATA:
                try:
                    data = await _limited(
                        reader.read(_READ_SIZE),
                        read_limit,
                        lambda: APITimeoutError("read", read_limit or 0.0, request=request),
                    )
                except APITimeoutError as exc:
                    raise failed(exc) from None
                except OSError as exc:
                    raise failed(APIConnectionError(f"Connection error: {exc}", request=request)) from None
                conn.receive_data(data)
            elif isinstance(event, ResponseReceived):
                status, headers = event.status_code, event.headers
                if 200 <= status < 300:
                    decoder = ChatCompletionStreamDecoder(request=request)
            elif isinstance(event, DataReceived):
                if decoder is not None:
                    for text in texts(decoder.feed(event.data)):
                        yield text
                elif len(error_body) < _MAX_ERROR_BODY:
                    error_body += event.data[: _MAX_ERROR_BODY - len(error_body)]
            elif isinstance(event, ResponseComplete):
                assert status is not None
                if decoder is None:
                    raise _ErrorStatus(status, headers, bytes(error_body))
                for text in texts(decoder.close()):
                    yield text
                return
            else:
                assert isinstance(event, ConnectionClosed)
                raise _EarlyFailure(
                    APIConnectionError("The server closed the connection.", request=request)
                )
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass


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

    def run(base_url: str | None, api_key: str | None) -> None:
        config = ClientConfig.from_env(base_url=base_url, api_key=api_key, timeout=args.timeout)
        asyncio.run(
            stream_chat_with_config(config, args.model, args.prompt, max_tokens=args.max_tokens, on_token=show)
        )
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
