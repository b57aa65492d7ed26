"""The fake server's HTTP/2 mode driven by a bare h2 client (prior
knowledge, over a memory stream): bodies over the limit, bodiless
answers, streams that never answer, verbatim bytes, and a client that
breaks the protocol."""

from __future__ import annotations

import json
import math
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import pytest
import trio

from openai_trio.testing import FakeResponse, FakeServer


class H2Client:
    """One HTTP/2 connection with nothing done for the test but framing."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.events: list[h2.events.Event] = []
        self.eof = False

    @classmethod
    async def open(cls, server: FakeServer) -> H2Client:
        client = cls(await server.connect())
        client.h2.initiate_connection()
        await client.flush()
        return client

    async def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            await self.stream.send_all(data)

    async def request(self, method: str, path: str, body: bytes = b"") -> int:
        sid = self.h2.get_next_available_stream_id()
        headers = [(b":method", method.encode()), (b":path", path.encode()), (b":scheme", b"http"), (b":authority", b"fake.test")]
        if body:
            headers += [(b"content-type", b"application/json"), (b"authorization", b"Bearer sk-h2")]
        self.h2.send_headers(sid, headers, end_stream=not body)
        step = self.h2.max_outbound_frame_size
        for start in range(0, len(body), step):
            self.h2.send_data(sid, body[start : start + step], end_stream=start + step >= len(body))
        await self.flush()
        return sid

    async def read(self) -> None:
        """One read's worth of events (or EOF)."""
        with trio.fail_after(10):
            data = await self.stream.receive_some(65536)
        if not data:
            self.eof = True
            return
        for event in self.h2.receive_data(bytes(data)):
            if isinstance(event, h2.events.DataReceived):
                self.h2.acknowledge_received_data(event.flow_controlled_length or 0, event.stream_id or 0)
            self.events.append(event)
        await self.flush()

    async def response(self, sid: int) -> tuple[dict[bytes, bytes], bytes, list[str]]:
        """The head, the body and the kinds of the stream's events, once it ended."""
        while not self._ended(sid):
            assert not self.eof, "EOF before the stream ended"
            await self.read()
        mine = [e for e in self.events if getattr(e, "stream_id", None) == sid]
        head = next(e for e in mine if isinstance(e, h2.events.ResponseReceived))
        body = b"".join(e.data or b"" for e in mine if isinstance(e, h2.events.DataReceived))
        return dict(head.headers or []), body, [type(e).__name__ for e in mine]

    def _ended(self, sid: int) -> bool:
        return any(
            isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset)) and e.stream_id == sid for e in self.events
        )


async def wait_idle(server: FakeServer) -> None:
    with trio.fail_after(5):
        while server.active_connections:  # noqa: ASYNC110 (a poll of a counter)
            await trio.sleep(0.001)


async def test_a_body_over_the_limit_is_refused_with_413() -> None:
    async with FakeServer(max_body_size=1000) as server:
        client = await H2Client.open(server)
        body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * 40_000}]}).encode()
        sid = await client.request("POST", "/v1/chat/completions", body)
        head, answer, _ = await client.response(sid)
        assert head[b":status"] == b"413"
        assert "over the limit" in json.loads(answer)["error"]["message"]
        # Three DATA frames came in; none of the body was kept.
        assert server.requests[-1].body == b""
        # The connection goes on.
        sid = await client.request("GET", "/v1/models/gpt-4o-mini")
        assert (await client.response(sid))[0][b":status"] == b"200"
        await client.stream.aclose()
        await wait_idle(server)


@pytest.mark.parametrize(
    ("method", "scripted", "status"),
    # The fake app routes no HEAD: its 404 still has no body.
    [("GET", FakeResponse(status=204, body=[b"{}"]), b"204"), ("HEAD", None, b"404")],
)
async def test_bodiless_answers_end_with_the_head(method: str, scripted: FakeResponse | None, status: bytes) -> None:
    async with FakeServer() as server:
        if scripted is not None:
            server.enqueue(scripted)
        client = await H2Client.open(server)
        sid = await client.request(method, "/v1/models/gpt-4o-mini")
        head, body, kinds = await client.response(sid)
        assert body == b"" and "DataReceived" not in kinds
        assert head[b":status"] == status
        await client.stream.aclose()
        await wait_idle(server)


@pytest.mark.parametrize("silent", [FakeResponse(hang=True), FakeResponse(headers_delay=math.inf)], ids=["hang", "inf-delay"])
async def test_a_stream_that_never_answers_holds_up_no_other(silent: FakeResponse) -> None:
    async with FakeServer() as server:
        server.enqueue(silent)
        client = await H2Client.open(server)
        quiet = await client.request("GET", "/v1/models/gpt-4o-mini")
        sid = await client.request("GET", "/v1/models/gpt-4o")
        head, body, _ = await client.response(sid)
        assert head[b":status"] == b"200" and json.loads(body)["id"] == "gpt-4o"
        assert not [e for e in client.events if getattr(e, "stream_id", None) == quiet]
        # Closing the connection ends the silent stream's task too.
        await client.stream.aclose()
        await wait_idle(server)


async def test_verbatim_bytes_go_out_as_they_are_and_end_the_connection() -> None:
    async with FakeServer() as server:
        server.enqueue(FakeResponse.raw([b"not ", b"http/2"], delay=0.01))
        client = await H2Client.open(server)
        await client.request("GET", "/v1/models")
        data = b""
        with trio.fail_after(10):
            while chunk := await client.stream.receive_some(65536):
                data += chunk
        assert data.endswith(b"not http/2")
        await wait_idle(server)


async def test_a_client_breaking_the_protocol_gets_goaway() -> None:
    async with FakeServer() as server:
        client = await H2Client.open(server)
        # A DATA frame on stream 0, which only carries connection frames.
        await client.stream.send_all(b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x")
        while not client.eof:
            try:
                await client.read()
            except h2.exceptions.ProtocolError:
                break
        goaway: Any = next(e for e in client.events if isinstance(e, h2.events.ConnectionTerminated))
        assert goaway.error_code == h2.errors.ErrorCodes.PROTOCOL_ERROR
        await wait_idle(server)
    assert len(server.handler_errors) == 1
    assert isinstance(server.handler_errors[0], h2.exceptions.ProtocolError)


async def test_queued_answers_go_to_streams_in_arrival_order() -> None:
    # Streams arriving in one read are answered by tasks trio may start in
    # either order; the queue must still be read in the order they came.
    async with FakeServer() as server:
        client = await H2Client.open(server)
        for _ in range(20):
            server.enqueue(FakeResponse(body=[b'{"n": 1}']), FakeResponse(body=[b'{"n": 2}']))
            first = client.h2.get_next_available_stream_id()
            for path in ("/v1/one", "/v1/two"):
                sid = client.h2.get_next_available_stream_id()
                client.h2.send_headers(
                    sid, [(b":method", b"GET"), (b":path", path.encode()), (b":scheme", b"http"), (b":authority", b"t")],
                    end_stream=True,
                )
            await client.flush()
            answers = [json.loads((await client.response(sid))[1])["n"] for sid in (first, first + 2)]
            assert answers == [1, 2]
        await client.stream.aclose()
        await wait_idle(server)
