"""The pool's idle check on HTTP/2 connections over loopback: frames that
arrive while a connection idles keep it, a peer's shutdown condemns it."""

from __future__ import annotations

import json
import logging

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest
import trio

import openai_trio

MODEL = json.dumps({"id": "gpt-4o-mini", "object": "model", "created": 0, "owned_by": "test"}).encode()


class Server:
    """A tiny h2c server: answers every request with MODEL, and can ping or
    hang up on the connections it holds."""

    def __init__(self) -> None:
        self.connections: list[tuple[trio.SocketStream, h2.connection.H2Connection]] = []
        # The serving task and the test both write: one at a time.
        self.send_lock = trio.Lock()
        self.opened = 0

    async def serve(self, stream: trio.SocketStream) -> None:
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding=None))
        conn.initiate_connection()
        await stream.send_all(conn.data_to_send())
        self.opened += 1
        self.connections.append((stream, conn))
        try:
            while True:
                data = await stream.receive_some(65536)
                if not data:
                    return
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        conn.send_headers(event.stream_id, [(b":status", b"200"),
                                                            (b"content-type", b"application/json")])
                        conn.send_data(event.stream_id, MODEL, end_stream=True)
                async with self.send_lock:
                    await stream.send_all(conn.data_to_send())
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return


async def test_ping_while_idle_keeps_the_connection_and_a_hangup_drops_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="openai_trio")
    server = Server()
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(trio.serve_tcp, server.serve, 0)
        port = listeners[0].socket.getsockname()[1]
        async with openai_trio.Client(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-test", h2c=True,
                                      max_retries=0, timeout=5) as client:
            assert (await client.models.retrieve("gpt-4o-mini")).id == "gpt-4o-mini"
            stream, conn = server.connections[0]
            # Frames while idle: a PING and new SETTINGS.
            conn.ping(b"12345678")
            conn.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 50})
            async with server.send_lock:
                await stream.send_all(conn.data_to_send())
            await trio.sleep(0.05)
            assert (await client.models.retrieve("gpt-4o-mini")).id == "gpt-4o-mini"
            assert server.opened == 1
            # The server shuts its side of the idle connection.
            async with server.send_lock:
                await stream.aclose()
            await trio.sleep(0.05)
            assert (await client.models.retrieve("gpt-4o-mini")).id == "gpt-4o-mini"
            assert server.opened == 2
            # Found dead before use, not by sending into it and resending.
            assert not [r for r in caplog.records if "sending again" in r.getMessage()]
        nursery.cancel_scope.cancel()
