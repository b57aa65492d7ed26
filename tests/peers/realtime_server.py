"""A scripted Realtime API server written with the ``websockets`` library:
the independent peer the WebSocket tests talk to (none of this project's
code runs in it).

    python -m peers.realtime_server PORTS_FILE CERT KEY

Listens on two loopback ports bound here, ``ws`` (plain) and ``wss`` (TLS
with CERT and KEY), and writes their numbers to PORTS_FILE as JSON once
both listen.  SIGTERM stops it.

What it does, as the Realtime API does it:

* The upgrade must go to ``/v1/realtime`` with ``?model=`` or
  ``?call_id=`` and carry ``Authorization: Bearer <key>``; otherwise the
  answer is an HTTP error with a JSON ``{"error": ...}`` body (401 without a
  bearer, 404 for another path, 400 without a model) and no upgrade.  The
  101 carries an ``x-request-id``.
* ``session.created`` first, then, for each client event:
  ``session.update`` -> ``session.updated`` (the session with the update
  merged in); ``conversation.item.create`` -> ``conversation.item.added``
  and ``conversation.item.done``; ``response.create`` -> ``response.created``,
  the output item and content part, ``response.output_text.delta`` events
  (``response.metadata.deltas`` of them, default 3; delta ``i`` is
  ``"w<i> "``), ``response.output_text.done`` with the joined text, and
  ``response.done``.
* Bad input (not JSON, not an object, no or an unknown ``type``, a
  ``conversation.item.create`` without ``item``, a binary message) gets an
  ``error`` event naming the client's ``event_id``; the session goes on.
* ``response.create`` with ``response.metadata.close_code`` (and
  ``close_reason``) closes the connection with that code instead of
  answering.
* Azure OpenAI's form is served at ``/openai/realtime``: ``api-version``
  and ``deployment`` in the query, the key in ``api-key`` or a bearer
  token (404, 401 and 400 otherwise).  The session is the same.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import socket
import ssl
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

_ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}_peer{next(_ids):06d}"


def _http_error(status: HTTPStatus, message: str, code: str | None) -> Response:
    body = json.dumps(
        {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
    ).encode()
    headers = Headers(
        [("content-type", "application/json"), ("content-length", str(len(body))), ("x-request-id", _id("req"))]
    )
    return Response(status.value, status.phrase, headers, body)


def _azure_request(request: Request) -> Response | None:
    # Azure OpenAI's form: the deployment and api-version in the query, the
    # key in api-key (or an Entra ID token as a bearer).
    query = parse_qs(urlsplit(request.path).query)
    if not query.get("api-version"):
        return _http_error(HTTPStatus.NOT_FOUND, "Azure wants an api-version query parameter", "404")
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    has_token = scheme.lower() == "bearer" and bool(token.strip())
    if not (request.headers.get("api-key") or has_token):
        return _http_error(HTTPStatus.UNAUTHORIZED, "Azure wants an api-key header or a bearer token", "401")
    if not query.get("deployment"):
        return _http_error(HTTPStatus.BAD_REQUEST, "an Azure Realtime session needs ?deployment=", "missing_deployment")
    return None


def process_request(connection: ServerConnection, request: Request) -> Response | None:
    target = urlsplit(request.path)
    if target.path.rstrip("/") == "/openai/realtime":
        return _azure_request(request)
    if target.path.rstrip("/") != "/v1/realtime":
        return _http_error(HTTPStatus.NOT_FOUND, f"no such endpoint: {target.path}", "not_found")
    auth = request.headers.get("Authorization", "")
    scheme, _, key = auth.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return _http_error(
            HTTPStatus.UNAUTHORIZED, "this peer wants an API key as 'Authorization: Bearer <key>'", None
        )
    query = parse_qs(target.query)
    if not query.get("model") and not query.get("call_id"):
        return _http_error(HTTPStatus.BAD_REQUEST, "a Realtime session needs ?model= or ?call_id=", "missing_model")
    return None


def process_response(connection: ServerConnection, request: Request, response: Response) -> Response:
    if response.status_code == HTTPStatus.SWITCHING_PROTOCOLS:
        response.headers["x-request-id"] = _id("req")
    return response


class Session:
    """One connection's script: what the server answers each client event with."""

    def __init__(self, ws: ServerConnection, model: str) -> None:
        self.ws = ws
        self.session: dict[str, Any] = {
            "type": "realtime",
            "object": "realtime.session",
            "id": _id("sess"),
            "model": model,
            "output_modalities": ["text"],
            "instructions": "",
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
        }
        self.items: list[str] = []

    async def emit(self, event_type: str, **fields: Any) -> None:
        await self.ws.send(json.dumps({"event_id": _id("event"), "type": event_type, **fields}))

    async def error(self, message: str, *, code: str, param: str | None = None, event_id: Any = None) -> None:
        await self.emit(
            "error",
            error={
                "type": "invalid_request_error",
                "code": code,
                "message": message,
                "param": param,
                "event_id": event_id if isinstance(event_id, str) else None,
            },
        )

    async def run(self) -> None:
        await self.emit("session.created", session=self.session)
        async for message in self.ws:
            if isinstance(message, bytes):
                await self.error("this peer takes text messages only", code="invalid_message")
                continue
            try:
                event = json.loads(message)
            except ValueError:
                await self.error("the message is not valid JSON", code="invalid_json")
                continue
            if not isinstance(event, dict):
                await self.error("a client event must be a JSON object", code="invalid_event")
                continue
            if not await self.handle(event):
                return

    async def handle(self, event: dict[str, Any]) -> bool:
        """Answer one client event; False once the connection was closed."""
        kind = event.get("type")
        event_id = event.get("event_id")
        if kind == "session.update":
            update = event.get("session")
            if not isinstance(update, dict):
                await self.error("session.update needs a 'session' object", code="missing_required_parameter",
                                 param="session", event_id=event_id)
                return True
            self.session.update({k: v for k, v in update.items() if k not in ("id", "object")})
            await self.emit("session.updated", session=self.session)
        elif kind == "conversation.item.create":
            item = event.get("item")
            if not isinstance(item, dict):
                await self.error("conversation.item.create needs an 'item' object",
                                 code="missing_required_parameter", param="item", event_id=event_id)
                return True
            item = {"id": _id("item"), "object": "realtime.item", "status": "completed", **item}
            previous = self.items[-1] if self.items else None
            self.items.append(item["id"])
            await self.emit("conversation.item.added", previous_item_id=previous, item=item)
            await self.emit("conversation.item.done", previous_item_id=previous, item=item)
        elif kind == "response.create":
            return await self.respond(event.get("response"))
        elif isinstance(kind, str):
            await self.error(f"unknown client event type {kind[:60]!r}", code="invalid_value",
                             param="type", event_id=event_id)
        else:
            await self.error("a client event needs a 'type'", code="missing_required_parameter",
                             param="type", event_id=event_id)
        return True

    async def respond(self, options: Any) -> bool:
        options = options if isinstance(options, dict) else {}
        metadata = options.get("metadata") if isinstance(options.get("metadata"), dict) else {}
        if "close_code" in metadata:
            await self.ws.close(int(metadata["close_code"]), str(metadata.get("close_reason", "")))
            return False
        count = int(metadata.get("deltas", 3))
        response_id, item_id = _id("resp"), _id("item")
        response: dict[str, Any] = {
            "object": "realtime.response",
            "id": response_id,
            "status": "in_progress",
            "output": [],
            "conversation_id": "conv_peer",
            "output_modalities": ["text"],
            "metadata": metadata or None,
        }
        await self.emit("response.created", response=response)
        item: dict[str, Any] = {
            "id": item_id, "object": "realtime.item", "type": "message", "role": "assistant",
            "status": "in_progress", "content": [],
        }
        await self.emit("response.output_item.added", response_id=response_id, output_index=0, item=item)
        where = {"response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0}
        await self.emit("response.content_part.added", **where, part={"type": "text", "text": ""})
        parts = []
        for i in range(count):
            delta = f"w{i} "
            parts.append(delta)
            await self.emit("response.output_text.delta", **where, delta=delta)
        text = "".join(parts)
        await self.emit("response.output_text.done", **where, text=text)
        await self.emit("response.content_part.done", **where, part={"type": "text", "text": text})
        item = {**item, "status": "completed", "content": [{"type": "output_text", "text": text}]}
        await self.emit("response.output_item.done", response_id=response_id, output_index=0, item=item)
        response = {
            **response,
            "status": "completed",
            "output": [item],
            "usage": {"total_tokens": count + 1, "input_tokens": 1, "output_tokens": count},
        }
        await self.emit("response.done", response=response)
        return True


async def handler(ws: ServerConnection) -> None:
    assert ws.request is not None
    query = parse_qs(urlsplit(ws.request.path).query)
    model = (query.get("model") or query.get("deployment") or query.get("call_id") or [""])[0]
    try:
        await Session(ws, model).run()
    except ConnectionClosed:
        # The client went away mid-answer: its business, not an error here.
        pass


def _listening() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def _write_ports(path: str, ports: dict[str, int]) -> None:
    partial = path + ".part"
    with open(partial, "w") as out:
        json.dump(ports, out)
    # The rename makes the file appear whole to the poller.
    os.replace(partial, path)


async def _main(args: argparse.Namespace) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    context.set_alpn_protocols(["http/1.1"])
    plain, tls = _listening(), _listening()
    options: dict[str, Any] = {
        "process_request": process_request,
        "process_response": process_response,
        # The client under test drives pings; the peer only answers them.
        "ping_interval": None,
        "compression": None,
        "max_size": 16 * 1024 * 1024,
        "server_header": "realtime-peer",
    }
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with serve(handler, sock=plain, **options), serve(handler, sock=tls, ssl=context, **options):
        _write_ports(args.ports_file, {"ws": plain.getsockname()[1], "wss": tls.getsockname()[1]})
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("ports_file")
    parser.add_argument("cert")
    parser.add_argument("key")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
