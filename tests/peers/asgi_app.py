"""A tiny OpenAI-like ASGI app for transport tests under hypercorn.

Every response carries ``x-http-version`` (what the server spoke: ``1.1``
or ``2``) so a test can check which protocol a call used.

``POST /v1/chat/completions``
    A chat completion; with ``"stream": true`` an SSE stream of
    ``chat.completion.chunk`` events then ``data: [DONE]``.  The query (or
    an ``x-peer-`` header) tunes a stream: ``chunks`` (default 3) and
    ``delay`` in seconds between them (default 0).
``POST /v1/echo``
    Reads the whole body; answers its ``length`` and ``sha256``.
``POST /v1/files``
    Reads the whole (multipart) body and answers a file object whose
    ``bytes`` is the size of the ``file`` part and whose ``id`` is
    ``file-<sha256 of that part>``.
``GET /v1/slow``
    ``size`` bytes (default 4 MiB) of ``application/octet-stream`` in
    ``chunk``-byte pieces (default 64 KiB), ``delay`` seconds apart: a
    client that reads slowly exercises the server's flow control.
``GET /v1/boom``
    Sends the head and ``after`` bytes (default 10) of a body, then
    raises: hypercorn resets the HTTP/2 stream (or drops the HTTP/1.1
    connection).
``GET /healthz``
    ``ok``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any, Awaitable, Callable, MutableMapping
from urllib.parse import parse_qs

__all__ = ["app", "REPLY_WORDS"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

REPLY_WORDS = ["Hello", " from", " hypercorn", "."]
_CREATED = 1_700_000_000


class Boom(Exception):
    """Raised on purpose by ``/v1/boom``."""


class _Request:
    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self._receive = receive
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self.query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}

    def option(self, name: str, default: float) -> float:
        raw = self.query.get(name, self.headers.get(f"x-peer-{name}"))
        return default if raw is None else float(raw)

    async def body(self) -> tuple[bytes, int, str]:
        """The whole body, its length and sha256 (hex)."""
        parts: list[bytes] = []
        digest = hashlib.sha256()
        size = 0
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                break
            chunk: bytes = message.get("body", b"")
            digest.update(chunk)
            size += len(chunk)
            parts.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(parts), size, digest.hexdigest()


def _version_header(scope: Scope) -> tuple[bytes, bytes]:
    return (b"x-http-version", str(scope.get("http_version", "")).encode())


async def _start(send: Send, scope: Scope, status: int, content_type: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type.encode()), _version_header(scope)],
        }
    )


async def _json(send: Send, scope: Scope, status: int, payload: Any) -> None:
    await _start(send, scope, status, "application/json")
    await send({"type": "http.response.body", "body": json.dumps(payload).encode()})


def _error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}


async def _chat(request: _Request, send: Send) -> None:
    raw, _, _ = await request.body()
    try:
        body = json.loads(raw)
    except ValueError:
        await _json(send, request.scope, 400, _error("the body is not JSON"))
        return
    model = body.get("model", "gpt-4o-mini")
    if not body.get("stream"):
        text = "".join(REPLY_WORDS)
        await _json(
            send,
            request.scope,
            200,
            {
                "id": "chatcmpl-peer",
                "object": "chat.completion",
                "created": _CREATED,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": len(REPLY_WORDS), "total_tokens": 1 + len(REPLY_WORDS)},
            },
        )
        return
    count = int(request.option("chunks", len(REPLY_WORDS)))
    delay = request.option("delay", 0.0)
    await _start(send, request.scope, 200, "text/event-stream")
    for i in range(count):
        chunk = {
            "id": "chatcmpl-peer",
            "object": "chat.completion.chunk",
            "created": _CREATED,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": REPLY_WORDS[i % len(REPLY_WORDS)]},
                    "finish_reason": "stop" if i == count - 1 else None,
                    "logprobs": None,
                }
            ],
        }
        event = f"data: {json.dumps(chunk)}\n\n".encode()
        await send({"type": "http.response.body", "body": event, "more_body": True})
        if delay:
            await asyncio.sleep(delay)
    await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})


async def _echo(request: _Request, send: Send) -> None:
    _, size, sha = await request.body()
    await _json(send, request.scope, 200, {"length": size, "sha256": sha, "method": request.method})


def _file_part(body: bytes, content_type: str) -> bytes | None:
    # Enough multipart for one upload: the part named "file", by boundary.
    marker = "boundary="
    if marker not in content_type:
        return None
    boundary = content_type.split(marker, 1)[1].split(";", 1)[0].strip('"').encode()
    for part in body.split(b"--" + boundary):
        head, sep, content = part.partition(b"\r\n\r\n")
        if sep and b'name="file"' in head:
            return content[:-2] if content.endswith(b"\r\n") else content
    return None


async def _files(request: _Request, send: Send) -> None:
    body, _, _ = await request.body()
    data = _file_part(body, request.headers.get("content-type", ""))
    if data is None:
        await _json(send, request.scope, 400, _error("no 'file' part in the body"))
        return
    await _json(
        send,
        request.scope,
        200,
        {
            "id": "file-" + hashlib.sha256(data).hexdigest(),
            "object": "file",
            "bytes": len(data),
            "created_at": _CREATED,
            "filename": "upload",
            "purpose": "assistants",
            "status": "processed",
        },
    )


async def _slow(request: _Request, send: Send) -> None:
    size = int(request.option("size", 4 * 1024 * 1024))
    piece = max(1, int(request.option("chunk", 64 * 1024)))
    delay = request.option("delay", 0.0)
    await _start(send, request.scope, 200, "application/octet-stream")
    block = bytes(range(256)) * (piece // 256 + 1)
    sent = 0
    while sent < size:
        n = min(piece, size - sent)
        await send({"type": "http.response.body", "body": block[:n], "more_body": True})
        sent += n
        if delay:
            await asyncio.sleep(delay)
    await send({"type": "http.response.body", "body": b""})


async def _boom(request: _Request, send: Send) -> None:
    after = int(request.option("after", 10))
    await _start(send, request.scope, 200, "application/octet-stream")
    await send({"type": "http.response.body", "body": b"x" * after, "more_body": True})
    raise Boom("the peer app fails mid-stream on purpose")


_ROUTES: dict[tuple[str, str], Callable[[_Request, Send], Awaitable[None]]] = {
    ("POST", "/v1/chat/completions"): _chat,
    ("POST", "/v1/echo"): _echo,
    ("PUT", "/v1/echo"): _echo,
    ("POST", "/v1/files"): _files,
    ("GET", "/v1/slow"): _slow,
    ("GET", "/v1/boom"): _boom,
}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    request = _Request(scope, receive)
    if request.method == "GET" and request.path == "/healthz":
        await _start(send, scope, 200, "text/plain")
        await send({"type": "http.response.body", "body": b"ok"})
        return
    handler = _ROUTES.get((request.method, request.path))
    if handler is None:
        await _json(send, scope, 404, _error(f"no route for {request.method} {request.path}"))
        return
    await handler(request, send)
