"""Serve ``peers.asgi_app`` with hypercorn (asyncio): TLS (h2 and
http/1.1 by ALPN) on one port, h2c prior knowledge (or HTTP/1.1) on another.

    python -m peers._hypercorn_main PORTS_FILE CERT KEY [--h2-max-concurrent-streams N]
        [--keep-alive-max-requests N]

The sockets are bound here on free ports before hypercorn starts, so no
other process can take them in between; their numbers are written to
PORTS_FILE as JSON once they listen.  SIGTERM shuts down gracefully.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
from typing import Any

import h2.errors
import h2.exceptions
from hypercorn.asyncio import serve
from hypercorn.config import Config
from hypercorn.events import Closed
from hypercorn.protocol import h2 as hypercorn_h2
from hypercorn.protocol.events import StreamClosed

from peers.asgi_app import app


def _reset_unfinished_streams() -> None:
    """Make an app that fails mid-response reset its HTTP/2 stream.

    hypercorn (0.18) logs the app's exception and forgets the stream
    without ending it on the wire: the client would wait for the rest of a
    body that never comes.  A server should say INTERNAL_ERROR (RFC 9113,
    8.1), as nginx does for a failed upstream, so the launcher makes it do
    so: a stream closed by the app before its body was complete is
    flushed, then reset.
    """
    original = hypercorn_h2.H2Protocol.stream_send

    async def stream_send(self: Any, event: Any) -> None:
        buffer = self.stream_buffers.get(event.stream_id) if isinstance(event, StreamClosed) else None
        if buffer is not None and not buffer.complete and not self.closed:
            await buffer.drain()
            try:
                self.connection.reset_stream(event.stream_id, h2.errors.ErrorCodes.INTERNAL_ERROR)
            except h2.exceptions.ProtocolError:
                await self.send(Closed())
                return
            await self._flush()
        await original(self, event)

    hypercorn_h2.H2Protocol.stream_send = stream_send  # type: ignore[method-assign]


def _listening() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _write_ports(path: str, ports: dict[str, int]) -> None:
    partial = path + ".part"
    with open(partial, "w") as out:
        json.dump(ports, out)
    # The rename makes the file appear whole to the poller.
    os.replace(partial, path)


async def _main(args: argparse.Namespace) -> None:
    _reset_unfinished_streams()
    tls, plain = _listening(), _listening()
    config = Config()
    config.bind = [f"fd://{tls.fileno()}"]
    config.insecure_bind = [f"fd://{plain.fileno()}"]
    config.certfile = args.cert
    config.keyfile = args.key
    config.alpn_protocols = ["h2", "http/1.1"]
    config.h2_max_concurrent_streams = args.h2_max_concurrent_streams
    config.keep_alive_max_requests = args.keep_alive_max_requests
    config.graceful_timeout = 1.0
    config.errorlog = "-"
    config.accesslog = None
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    ports = {"tls": tls.getsockname()[1], "h2c": plain.getsockname()[1]}
    _write_ports(args.ports_file, ports)
    await serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("ports_file")
    parser.add_argument("cert")
    parser.add_argument("key")
    parser.add_argument("--h2-max-concurrent-streams", type=int, default=100)
    parser.add_argument("--keep-alive-max-requests", type=int, default=1000)
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
