"""The trio client over HTTP/2 against a server scripted here with h2.

Each test drives a small h2 server over trio memory streams (the client's
``connector`` hands them out), so the server's every frame can be chosen:
interleaved answers, GOAWAY and resets mid-flight, lowered stream limits,
small windows, malformed bytes.  Everything goes through the public client
API; the server's side of each connection is inspected to check what went
over the wire.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any, AsyncIterator, Awaitable, Callable

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import hyperframe.frame
import pytest
import trio
import trio.lowlevel
import trio.testing

import openai_trio
from openai_sansio import Origin, StreamResetError
from openai_sansio._lifecycle import MAX_UNPROCESSED_RESENDS
from openai_sansio.types.chat_params import ChatCompletionUserMessageParam
from openai_trio import APIConnectionError, APITimeoutError, Client, PoolStats, RemoteProtocolError

KEY = "sk-test-http2"
BASE_URL = "http://h2.test/v1"


def say(text: str) -> list[ChatCompletionUserMessageParam]:
    return [{"role": "user", "content": text}]


MESSAGES = say("Hello")
WINDOW = 16 * 1024 * 1024
TRANSPORT_GONE = (trio.BrokenResourceError, trio.ClosedResourceError)

Handler = Callable[["ServerStream"], Awaitable[None]]


def model(name: str) -> bytes:
    return json.dumps({"id": name, "object": "model", "created": 0, "owned_by": "test"}).encode()


def completion(text: str) -> bytes:
    return json.dumps(
        {
            "id": "cc",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
        }
    ).encode()


def chunk_event(text: str) -> bytes:
    item = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }
    return b"data: " + json.dumps(item).encode() + b"\n\n"


def file_object(size: int) -> bytes:
    return json.dumps(
        {
            "id": "file-1",
            "object": "file",
            "bytes": size,
            "created_at": 0,
            "filename": "data.bin",
            "purpose": "batch",
            "status": "processed",
        }
    ).encode()


class ServerStream:
    """The server's side of one request stream."""

    def __init__(self, conn: ServerConnection, stream_id: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.conn = conn
        self.id = stream_id
        self.headers = dict(headers)
        self.path = self.headers[b":path"].decode()
        self.body = bytearray()
        self.ended = trio.Event()
        self.reset_code: int | None = None
        self.gone = trio.Event()
        self.sent = 0
        self.answered = False
        # What the connection was like as the request arrived: SETTINGS
        # frames the client had acknowledged, streams open including this.
        self.acked_at_arrival = 0
        self.open_at_arrival = 0

    @property
    def name(self) -> str:
        """The last path segment: the tests put a request's tag there."""
        return self.path.rsplit("/", 1)[-1]

    @property
    def open(self) -> bool:
        return self.reset_code is None and not self.conn.dead

    async def head(self, status: int = 200, content_type: bytes = b"application/json", end: bool = False) -> bool:
        if not self.open:
            return False
        fields = [(b":status", str(status).encode()), (b"content-type", content_type)]
        try:
            self.conn.h2.send_headers(self.id, fields, end_stream=end)
        except h2.exceptions.ProtocolError:
            # The stream was reset, or the client already said goodbye
            # (GOAWAY) while this answer was pending: nobody wants it.
            return False
        await self.conn.flush()
        return True

    async def data(self, data: bytes, end: bool = False) -> bool:
        """Send ``data`` as the flow-control windows allow."""
        view = memoryview(data)
        h2c = self.conn.h2
        while True:
            if not self.open:
                return False
            try:
                room = min(h2c.local_flow_control_window(self.id), h2c.max_outbound_frame_size)
                if not view:
                    if end:
                        h2c.end_stream(self.id)
                        self.answered = True
                        await self.conn.flush()
                    return True
                if room <= 0:
                    await self.conn.window_opened()
                    continue
                piece, view = view[:room], view[room:]
                h2c.send_data(self.id, piece.tobytes(), end_stream=end and not view)
            except h2.exceptions.ProtocolError:
                # As in head(): a reset stream, or a client that left.
                return False
            self.sent += len(piece)
            if end and not view:
                self.answered = True
            await self.conn.flush()
            if not view:
                return True

    async def respond(self, body: bytes, status: int = 200, content_type: bytes = b"application/json") -> bool:
        return await self.head(status, content_type) and await self.data(body, end=True)

    async def reset(self, code: int) -> None:
        if not self.open:
            return
        self.conn.h2.reset_stream(self.id, code)
        self.reset_code = code
        self.gone.set()
        await self.conn.flush()


class ServerConnection:
    """One connection of the scripted server: h2 (server side) on a memory
    stream, reading in its own task and starting a handler per request."""

    def __init__(self, server: H2Server, transport: trio.abc.Stream, index: int) -> None:
        self.server = server
        self.transport = transport
        self.index = index
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding=None))
        self.streams: dict[int, ServerStream] = {}
        self.lock = trio.Lock()
        self._window = trio.Event()
        self.dead = False
        self.eof = trio.Event()
        self.events: list[h2.events.Event] = []
        self.settings_acked = 0
        self.pings_acked = 0
        self.goaway: h2.events.ConnectionTerminated | None = None

    async def window_opened(self) -> None:
        await self._window.wait()

    def _opened_window(self) -> None:
        self._window.set()
        self._window = trio.Event()

    async def flush(self) -> None:
        async with self.lock:
            data = self.h2.data_to_send()
            if data and not self.dead:
                try:
                    await self.transport.send_all(data)
                except TRANSPORT_GONE:
                    self.dead = True

    async def send_raw(self, data: bytes) -> None:
        """Bytes straight to the wire, after whatever h2 has queued."""
        async with self.lock:
            if self.dead:
                return
            try:
                await self.transport.send_all(self.h2.data_to_send() + data)
            except TRANSPORT_GONE:
                # The client already hung up on what came before.
                self.dead = True

    async def send_goaway(self, last_stream_id: int, code: int = 0) -> None:
        # Framed by hand: h2 refuses to send anything after its own GOAWAY,
        # and the streams up to last_stream_id must still be answered.
        frame = hyperframe.frame.GoAwayFrame(0)
        frame.last_stream_id = last_stream_id
        frame.error_code = code
        await self.send_raw(frame.serialize())

    async def update_settings(self, values: dict[h2.settings.SettingCodes | int, int]) -> None:
        self.h2.update_settings(values)
        await self.flush()

    async def ping(self) -> None:
        self.h2.ping(b"pingpong")
        await self.flush()

    async def hang_up(self) -> None:
        self.dead = True
        self._opened_window()
        for stream in self.streams.values():
            stream.gone.set()
        await self.transport.aclose()

    async def run(self, nursery: trio.Nursery) -> None:
        server = self.server
        if server.preface is not None and self.index == 0:
            await self.transport.send_all(server.preface)
        self.h2.initiate_connection()
        if server.settings:
            self.h2.update_settings(server.settings)
        await self.flush()
        try:
            while not self.dead:
                try:
                    data = await self.transport.receive_some(65536)
                except TRANSPORT_GONE:
                    break
                if not data:
                    break
                try:
                    events = self.h2.receive_data(data)
                except h2.exceptions.ProtocolError as exc:
                    server.errors.append(exc)
                    break
                for event in events:
                    self._handle(event, nursery)
                await self.flush()
        finally:
            self.dead = True
            self.eof.set()
            self._opened_window()
            for stream in self.streams.values():
                stream.gone.set()

    def _handle(self, event: h2.events.Event, nursery: trio.Nursery) -> None:
        self.events.append(event)
        server = self.server
        if isinstance(event, h2.events.RequestReceived):
            assert event.stream_id is not None
            stream = ServerStream(self, event.stream_id, list(event.headers or []))
            stream.acked_at_arrival = self.settings_acked
            self.streams[stream.id] = stream
            stream.open_at_arrival = sum(1 for s in self.streams.values() if s.open and not s.answered)
            server.requests.append(stream)
            server._arrival.set()
            server._arrival = trio.Event()
            if event.stream_ended is not None:
                stream.ended.set()
            nursery.start_soon(server.handler, stream)
        elif isinstance(event, h2.events.DataReceived):
            stream = self.streams[event.stream_id or 0]
            stream.body += event.data or b""
            if server.acknowledge:
                self.h2.acknowledge_received_data(event.flow_controlled_length or 0, event.stream_id or 0)
            else:
                server.unacknowledged.append((self, event.flow_controlled_length or 0, event.stream_id or 0))
        elif isinstance(event, h2.events.StreamEnded):
            self.streams[event.stream_id or 0].ended.set()
        elif isinstance(event, h2.events.StreamReset):
            found = self.streams.get(event.stream_id or 0)
            server.resets.append((self.index, event.stream_id, int(event.error_code or 0)))
            if found is not None:
                found.reset_code = int(event.error_code or 0)
                found.gone.set()
            self._opened_window()
        elif isinstance(event, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
            self._opened_window()
        elif isinstance(event, h2.events.SettingsAcknowledged):
            self.settings_acked += 1
        elif isinstance(event, h2.events.PingAckReceived):
            self.pings_acked += 1
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = event


async def answer(stream: ServerStream) -> None:
    """The ordinary answer to each kind of request the tests make."""
    await stream.ended.wait()
    path = stream.path
    if path.startswith("/v1/models/"):
        await stream.respond(model(stream.name))
    elif path == "/v1/chat/completions":
        request = json.loads(bytes(stream.body))
        text = request["messages"][0]["content"]
        if request.get("stream"):
            await stream.head(200, b"text/event-stream")
            for word in text.split():
                await stream.data(chunk_event(word))
            await stream.data(b"data: [DONE]\n\n", end=True)
        else:
            await stream.respond(completion(text))
    elif path == "/v1/files":
        await stream.respond(file_object(len(stream.body)))
    else:  # pragma: no cover - every test asks for one of the above
        await stream.respond(b"{}", status=404)


class H2Server:
    """The scripted server: ``connect`` is the client's connector."""

    def __init__(self, handler: Handler = answer, settings: dict[h2.settings.SettingCodes | int, int] | None = None) -> None:
        self.handler = handler
        self.settings = settings
        self.connections: list[ServerConnection] = []
        self.client_ends: list[Faulty] = []
        self.requests: list[ServerStream] = []
        self.resets: list[tuple[int, int | None, int]] = []
        self.errors: list[Exception] = []
        # Whether received body bytes are handed back at once; otherwise they
        # wait in ``unacknowledged`` for the test to release them.
        self.acknowledge = True
        # Bytes the first connection sends before its own preface.
        self.preface: bytes | None = None
        self.unacknowledged: list[tuple[ServerConnection, int, int]] = []
        self._arrival = trio.Event()
        self._nursery: trio.Nursery | None = None

    async def connect(self, origin: Origin) -> trio.abc.Stream:
        assert self._nursery is not None
        client_end, server_end = trio.testing.memory_stream_pair()
        conn = ServerConnection(self, server_end, len(self.connections))
        self.connections.append(conn)
        self._nursery.start_soon(conn.run, self._nursery)
        return client_end

    async def wait_requests(self, count: int) -> None:
        while len(self.requests) < count:
            await self._arrival.wait()

    async def __aenter__(self) -> H2Server:
        self._manager = trio.open_nursery()
        self._nursery = await self._manager.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._nursery is not None
        self._nursery.cancel_scope.cancel()
        await self._manager.__aexit__(None, None, None)


class Faulty(trio.abc.Stream):
    """The client's end of a connection, with faults to switch on: writes
    that take a while (so that other tasks run in the middle of one),
    writes that never finish or fail, reads and closes that fail."""

    def __init__(self, inner: trio.abc.Stream, write_delay: float | None) -> None:
        self._inner = inner
        self.write_delay = write_delay
        self.stall_writes = False
        self.fail_writes = False
        self.fail_reads = False
        self.fail_close = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self.write_delay is not None:
            await trio.sleep(self.write_delay)
        if self.stall_writes:
            await trio.sleep_forever()
        if self.fail_writes:
            raise trio.BrokenResourceError("the link broke")
        await self._inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:  # pragma: no cover - unused by the client
        await self._inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        data = await self._inner.receive_some(max_bytes)
        if self.fail_reads:
            raise trio.BrokenResourceError("the link broke")
        return data

    async def aclose(self) -> None:
        if self.fail_close:
            raise trio.BrokenResourceError("the link broke")
        await self._inner.aclose()


def client_for(server: H2Server, write_delay: float | None = None, **kwargs: Any) -> Client:
    """A client whose every connection goes to ``server``; the client's end
    of each is in ``server.client_ends``."""
    options: dict[str, Any] = {"max_connections": 1, "max_retries": 0, "timeout": 30}
    options.update(kwargs)

    async def connect(origin: Origin) -> trio.abc.Stream:
        end = Faulty(await server.connect(origin), write_delay)
        server.client_ends.append(end)
        return end

    return Client(api_key=KEY, base_url=BASE_URL, connector=connect, h2c=True, **options)


def raw_view(client: Client) -> Any:
    # Typed as the plain namespaces (the generated surface's business): the
    # raw responses' retries_taken is what these tests read.
    return client.with_raw_response


def streaming_view(client: Client) -> Any:
    return client.with_streaming_response


def settled(stats: PoolStats) -> bool:
    return stats.in_use == 0 and stats.connecting == 0 and stats.waiting == 0


async def gather(*calls: Callable[[], Awaitable[Any]]) -> list[Any]:
    results: list[Any] = [None] * len(calls)

    async def run(index: int, call: Callable[[], Awaitable[Any]]) -> None:
        results[index] = await call()

    async with trio.open_nursery() as nursery:
        for index, call in enumerate(calls):
            nursery.start_soon(run, index, call)
    return results


# -- many requests on one connection -------------------------------------------


async def test_concurrent_requests_share_one_connection_answered_out_of_order() -> None:
    count = 40
    rng = random.Random(7)
    order: list[str] = []

    async def shuffled(stream: ServerStream) -> None:
        # Heads and bodies of all streams interleave: every request gets its
        # head once all have arrived, then body halves in a random order.
        await stream.ended.wait()
        await server.wait_requests(count)
        await trio.sleep(rng.random() / 100)
        body = model(stream.name)
        await stream.head()
        await trio.sleep(rng.random() / 100)
        await stream.data(body[:10])
        await trio.sleep(rng.random() / 100)
        order.append(stream.name)
        await stream.data(body[10:], end=True)

    async with H2Server(shuffled) as server, client_for(server) as client:
        with trio.fail_after(20):
            names = [f"m{i}" for i in range(count)]
            results = await gather(*[lambda n=n: client.models.retrieve(n) for n in names])
        assert [r.id for r in results] == names
        assert order != names
        assert len(server.connections) == 1
        assert settled(client.pool_stats()) and client.pool_stats().connections == 1


async def test_mixed_calls_stream_and_upload_on_one_connection() -> None:
    async with H2Server() as server, client_for(server) as client:
        with trio.fail_after(20):

            async def streamed() -> list[str]:
                async with await client.chat.completions.create(
                    model="m", messages=say("one two three"), stream=True
                ) as stream:
                    return [str(c.choices[0].delta.content) async for c in stream]

            async def plain() -> str | None:
                made = await client.chat.completions.create(model="m", messages=MESSAGES)
                return made.choices[0].message.content

            async def upload() -> int:
                made = await client.files.create(file=("data.bin", b"x" * 200_000, "application/octet-stream"),
                                                 purpose="batch")
                return made.bytes

            got = await gather(streamed, plain, upload, lambda: client.models.retrieve("m"))
        assert got[0] == ["one", "two", "three"]
        assert got[1] == "Hello"
        assert got[2] > 200_000  # the file plus its multipart framing
        assert got[3].id == "m"
        assert len(server.connections) == 1
        assert settled(client.pool_stats())


# -- streams the server did not process ------------------------------------------


async def test_goaway_mid_flight_replays_the_streams_above_last_stream_id() -> None:
    count = 12
    processed: Counter[str] = Counter()

    async def goaway_on_first(stream: ServerStream) -> None:
        await stream.ended.wait()
        conn = stream.conn
        if conn.index == 0:
            await server.wait_requests(count)
            ids = sorted(conn.streams)
            last = ids[count // 2 - 1]
            if stream.id == ids[0]:
                await conn.send_goaway(last)
            if stream.id > last:
                return  # left out of the GOAWAY: never acted on
            await trio.sleep(0.01)
        processed[stream.name] += 1
        await stream.respond(model(stream.name))

    async with H2Server(goaway_on_first) as server, client_for(server) as client:
        with trio.fail_after(20):
            names = [f"m{i}" for i in range(count)]
            raws = await gather(*[lambda n=n: raw_view(client).models.retrieve(n) for n in names])
        assert [raw.parse().id for raw in raws] == names
        assert all(raw.retries_taken == 0 for raw in raws)
        assert processed == Counter(names)
        assert len(server.connections) == 2
        assert len(server.connections[1].streams) == count // 2
        assert settled(client.pool_stats())
        # The connection that went away is gone from the pool; the new one stays.
        assert client.pool_stats().connections == 1
        assert (await client.models.retrieve("after")).id == "after"
        assert len(server.connections) == 2


async def test_goaway_while_idle_sends_the_next_request_on_a_new_connection() -> None:
    async with H2Server() as server, client_for(server) as client:
        with trio.fail_after(10):
            assert (await client.models.retrieve("a")).id == "a"
            await server.connections[0].send_goaway(1)
            raw = await raw_view(client).models.retrieve("b")
        assert raw.parse().id == "b" and raw.retries_taken == 0
        # The GOAWAY is read only with the next request's answer: that request
        # went out on the old connection first, unprocessed there.
        assert [sorted(c.streams) for c in server.connections] == [[1, 3], [1]]
        assert settled(client.pool_stats())


async def test_refused_streams_are_sent_again_without_a_retry() -> None:
    refused: set[str] = set()

    async def refuse_some(stream: ServerStream) -> None:
        await stream.ended.wait()
        if stream.name not in refused and int(stream.name[1:]) % 2:
            refused.add(stream.name)
            await stream.reset(h2.errors.ErrorCodes.REFUSED_STREAM)
            return
        await stream.respond(model(stream.name))

    async with H2Server(refuse_some) as server, client_for(server) as client:
        with trio.fail_after(20):
            names = [f"m{i}" for i in range(10)]
            raws = await gather(*[lambda n=n: raw_view(client).models.retrieve(n) for n in names])
        assert [raw.parse().id for raw in raws] == names
        assert all(raw.retries_taken == 0 for raw in raws)
        assert len(refused) == 5
        assert Counter(s.name for s in server.requests) == Counter(names + sorted(refused))
        assert len(server.connections) == 1
        assert settled(client.pool_stats())


async def test_a_server_refusing_everything_ends_in_an_error(autojump_clock: trio.testing.MockClock) -> None:
    async def refuse(stream: ServerStream) -> None:
        await stream.reset(h2.errors.ErrorCodes.REFUSED_STREAM)

    async with H2Server(refuse) as server, client_for(server, max_retries=2) as client:
        with trio.fail_after(20):
            with pytest.raises(APIConnectionError) as caught:
                await client.models.retrieve("m")
        assert not isinstance(caught.value, StreamResetError)
        sent = len(server.requests)
        # The first attempt is resent up to the bound without spending a
        # retry; each attempt then gets its one resend on a fresh connection.
        assert sent == (1 + MAX_UNPROCESSED_RESENDS + 1) + 2 * (1 + 1)
        assert settled(client.pool_stats())
        # The next call is not stuck behind it.
        server.handler = answer
        assert (await client.models.retrieve("ok")).id == "ok"


# -- resets ----------------------------------------------------------------------


async def test_reset_before_the_head_is_a_stream_reset_error_and_others_go_on() -> None:
    async def reset_one(stream: ServerStream) -> None:
        await stream.ended.wait()
        if stream.name == "bad":
            await server.wait_requests(5)
            await stream.reset(h2.errors.ErrorCodes.INTERNAL_ERROR)
            return
        await server.wait_requests(5)
        await trio.sleep(0.01)
        await stream.respond(model(stream.name))

    async with H2Server(reset_one) as server, client_for(server) as client:
        with trio.fail_after(20):
            outcome: dict[str, object] = {}

            async def call(name: str) -> None:
                try:
                    outcome[name] = (await client.models.retrieve(name)).id
                except StreamResetError as exc:
                    outcome[name] = exc

            await gather(*[lambda n=n: call(n) for n in ["a", "b", "bad", "c", "d"]])
        error = outcome.pop("bad")
        assert isinstance(error, StreamResetError) and isinstance(error, APIConnectionError)
        assert error.error_code == h2.errors.ErrorCodes.INTERNAL_ERROR
        assert "INTERNAL_ERROR" in str(error)
        assert outcome == {"a": "a", "b": "b", "c": "c", "d": "d"}
        assert len(server.connections) == 1
        assert settled(client.pool_stats()) and client.pool_stats().connections == 1


async def test_reset_mid_body_is_a_stream_reset_error() -> None:
    async def reset_in_body(stream: ServerStream) -> None:
        await stream.ended.wait()
        if stream.name == "bad":
            await stream.head()
            await stream.data(model("bad")[:5])
            await server.wait_requests(2)
            await stream.reset(h2.errors.ErrorCodes.ENHANCE_YOUR_CALM)
            return
        await server.wait_requests(2)
        await stream.respond(model(stream.name))

    async with H2Server(reset_in_body) as server, client_for(server) as client:
        with trio.fail_after(20):
            outcome: dict[str, object] = {}

            async def call(name: str) -> None:
                try:
                    outcome[name] = (await client.models.retrieve(name)).id
                except StreamResetError as exc:
                    outcome[name] = exc.error_code

            await gather(lambda: call("bad"), lambda: call("good"))
        assert outcome == {"bad": h2.errors.ErrorCodes.ENHANCE_YOUR_CALM, "good": "good"}
        assert settled(client.pool_stats())
        assert (await client.models.retrieve("again")).id == "again"
        assert len(server.connections) == 1


async def test_reset_mid_event_stream_raises_after_the_items_so_far() -> None:
    async def reset_stream(stream: ServerStream) -> None:
        await stream.ended.wait()
        await stream.head(200, b"text/event-stream")
        await stream.data(chunk_event("first"))
        await stream.reset(h2.errors.ErrorCodes.INTERNAL_ERROR)

    async with H2Server(reset_stream) as server, client_for(server) as client:
        with trio.fail_after(20):
            seen: list[str] = []
            with pytest.raises(StreamResetError):
                async with await client.chat.completions.create(model="m", messages=MESSAGES, stream=True) as s:
                    async for item in s:
                        seen.append(str(item.choices[0].delta.content))
        assert seen == ["first"]
        assert settled(client.pool_stats())
        server.handler = answer
        assert (await client.models.retrieve("next")).id == "next"
        assert len(server.connections) == 1


@pytest.mark.parametrize("in_body", [False, True])
async def test_a_reset_is_retried_as_a_connection_error(in_body: bool, autojump_clock: trio.testing.MockClock) -> None:
    async def reset_first(stream: ServerStream) -> None:
        await stream.ended.wait()
        if len(server.requests) == 1:
            if in_body:
                await stream.head()
                await stream.data(b"{")
            await stream.reset(h2.errors.ErrorCodes.INTERNAL_ERROR)
            return
        await stream.respond(model(stream.name))

    async with H2Server(reset_first) as server, client_for(server, max_retries=2) as client:
        with trio.fail_after(60):
            raw = await raw_view(client).models.retrieve("m")
        assert raw.parse().id == "m"
        assert raw.retries_taken == 1
        assert len(server.requests) == 2
        assert len(server.connections) == 1


# -- the server's stream limit ---------------------------------------------------


async def test_lowered_max_concurrent_streams_makes_new_requests_wait(
    autojump_clock: trio.testing.MockClock,
) -> None:
    lowered_to = 2

    async def lower_then_answer(stream: ServerStream) -> None:
        conn = stream.conn
        if stream.id == 1:
            await conn.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: lowered_to})
        await stream.ended.wait()
        await trio.sleep(0.05)
        await stream.respond(model(stream.name))

    async with H2Server(lower_then_answer) as server, client_for(server, write_delay=0.001) as client:
        with trio.fail_after(60):
            first = [f"m{i}" for i in range(8)]
            later = [f"n{i}" for i in range(8)]

            async def later_wave() -> list[Any]:
                await server.wait_requests(len(first))
                return await gather(*[lambda n=n: client.models.retrieve(n) for n in later])

            got = await gather(lambda: gather(*[lambda n=n: client.models.retrieve(n) for n in first]), later_wave)
        assert [m.id for m in got[0] + got[1]] == first + later
        assert server.errors == []
        assert len(server.connections) == 1
        # Once the client acknowledged the lowered limit, no stream opened
        # past it (h2 on the server would also have refused it).
        late = [s.open_at_arrival for s in server.requests if s.acked_at_arrival >= 2]
        assert late and max(late) <= lowered_to
        assert settled(client.pool_stats())


# -- cancellation ----------------------------------------------------------------


async def test_cancelling_one_request_resets_only_its_stream() -> None:
    names = ["a", "b", "x", "c"]

    async def hold_until_reset(stream: ServerStream) -> None:
        await stream.ended.wait()
        await server.wait_requests(len(names))
        victim = next(s for s in server.requests if s.name == "x")
        await victim.gone.wait()
        if stream is not victim:
            await stream.respond(model(stream.name))

    async with H2Server(hold_until_reset) as server, client_for(server) as client:
        with trio.fail_after(20):
            results: dict[str, str] = {}
            cancelled: list[BaseException] = []

            async def call(name: str) -> None:
                if name != "x":
                    results[name] = (await client.models.retrieve(name)).id
                    return
                with trio.CancelScope() as scope:
                    async with trio.open_nursery() as nursery:

                        async def cancel_later() -> None:
                            await server.wait_requests(len(names))
                            scope.cancel()

                        nursery.start_soon(cancel_later)
                        try:
                            await client.models.retrieve(name)
                        except trio.Cancelled as exc:
                            cancelled.append(exc)
                            raise
                assert scope.cancelled_caught

            await gather(*[lambda n=n: call(n) for n in names])
        assert results == {"a": "a", "b": "b", "c": "c"}
        assert [type(e) for e in cancelled] == [trio.Cancelled]
        victim = next(s for s in server.requests if s.name == "x")
        assert server.resets == [(0, victim.id, h2.errors.ErrorCodes.CANCEL)]
        assert len(server.connections) == 1
        assert settled(client.pool_stats())
        assert (await client.models.retrieve("after")).id == "after"


async def test_leaving_an_event_stream_early_resets_it_and_keeps_the_connection() -> None:
    async def endless(stream: ServerStream) -> None:
        await stream.ended.wait()
        if stream.path != "/v1/chat/completions":
            await stream.respond(model(stream.name))
            return
        await stream.head(200, b"text/event-stream")
        for _ in range(100_000):
            if not await stream.data(chunk_event("more")):
                return
            await trio.sleep(0.001)

    async with H2Server(endless) as server, client_for(server) as client:
        with trio.fail_after(20):
            async with await client.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream:
                count = 0
                async for _ in stream:
                    count += 1
                    if count == 3:
                        break
            assert (await client.models.retrieve("next")).id == "next"
        assert server.resets == [(0, 1, h2.errors.ErrorCodes.CANCEL)]
        assert len(server.connections) == 1
        assert settled(client.pool_stats())


@pytest.mark.parametrize("seed", range(8))
async def test_cancellation_fuzz(seed: int, autojump_clock: trio.testing.MockClock) -> None:
    rng = random.Random(seed)
    server_rng = random.Random(seed + 1000)

    async def jittery(stream: ServerStream) -> None:
        await trio.sleep(server_rng.choice([0, 0.001, 0.01]))
        await stream.ended.wait()
        await trio.sleep(server_rng.choice([0, 0.002, 0.02]))
        if stream.path == "/v1/chat/completions" and json.loads(bytes(stream.body)).get("stream"):
            if not await stream.head(200, b"text/event-stream"):
                return
            for word in range(server_rng.randrange(1, 6)):
                await trio.sleep(server_rng.choice([0, 0.003]))
                if not await stream.data(chunk_event(f"w{word}")):
                    return
            await stream.data(b"data: [DONE]\n\n", end=True)
            return
        if stream.path == "/v1/files":
            await stream.respond(file_object(len(stream.body)))
            return
        body = model(stream.name) if stream.path.startswith("/v1/models/") else completion("hi")
        if not await stream.head():
            return
        await trio.sleep(server_rng.choice([0, 0.002]))
        await stream.data(body[:7])
        await trio.sleep(server_rng.choice([0, 0.002]))
        await stream.data(body[7:], end=True)

    async with H2Server(jittery) as server, client_for(server) as client:
        failures: list[BaseException] = []
        kinds: list[type] = []
        outcomes: Counter[str] = Counter()

        async def one(index: int) -> None:
            kind = rng.choice(["model", "chat", "stream", "upload"])
            delay = rng.choice([0, 0.0005, 0.001, 0.003, 0.006, 0.01, 0.02, 0.05, None])
            with trio.CancelScope() as scope:
                if delay is not None:
                    scope.deadline = trio.current_time() + delay
                try:
                    if kind == "model":
                        assert (await client.models.retrieve(f"m{index}")).id == f"m{index}"
                    elif kind == "chat":
                        await client.chat.completions.create(model="m", messages=MESSAGES)
                    elif kind == "upload":
                        size = rng.choice([10, 100_000, 300_000])
                        await client.files.create(file=("f.bin", b"u" * size, "application/octet-stream"),
                                                  purpose="batch")
                    else:
                        async with await client.chat.completions.create(
                            model="m", messages=MESSAGES, stream=True
                        ) as stream:
                            async for _ in stream:
                                await trio.sleep(rng.choice([0, 0.001]))
                except trio.Cancelled as exc:
                    # Untouched: not wrapped, not replaced by a subclass.
                    kinds.append(type(exc))
                    raise
                except BaseException as exc:  # pragma: no cover - the failure itself
                    failures.append(exc)
            outcomes["cancelled" if scope.cancelled_caught else "done"] += 1

        with trio.fail_after(120):
            async with trio.open_nursery() as nursery:
                for index in range(40):
                    nursery.start_soon(one, index)
                    if rng.random() < 0.3:
                        await trio.sleep(rng.choice([0, 0.001, 0.005]))
        assert failures == []
        assert set(kinds) == {trio.Cancelled} and len(kinds) >= outcomes["cancelled"]
        assert outcomes["cancelled"] and outcomes["done"]
        stats = client.pool_stats()
        assert settled(stats), stats
        # Cancellation never leaves half a frame: the one connection lives on.
        assert len(server.connections) == 1 and stats.connections == 1
        assert server.errors == []
        assert all(code == h2.errors.ErrorCodes.CANCEL for _, _, code in server.resets)
        with trio.fail_after(10):
            assert (await client.models.retrieve("after")).id == "after"
        assert len(server.connections) == 1


# -- timeouts --------------------------------------------------------------------


async def test_a_read_timeout_fails_only_its_own_request(autojump_clock: trio.testing.MockClock) -> None:
    async def never_for_slow(stream: ServerStream) -> None:
        await stream.ended.wait()
        if stream.name.startswith("slow"):
            await stream.gone.wait()
            return
        await trio.sleep(3)
        await stream.respond(model(stream.name))

    async with H2Server(never_for_slow) as server, client_for(server, timeout=openai_trio.Timeout(5)) as client:
        with trio.fail_after(60):
            outcome: dict[str, object] = {}

            async def call(name: str) -> None:
                try:
                    outcome[name] = (await client.models.retrieve(name)).id
                except APITimeoutError as exc:
                    outcome[name] = exc.limit

            await gather(*[lambda n=n: call(n) for n in ["a", "slow1", "b", "slow2", "c"]])
        assert outcome == {"a": "a", "b": "b", "c": "c", "slow1": "read", "slow2": "read"}
        assert sorted(code for _, _, code in server.resets) == [h2.errors.ErrorCodes.CANCEL] * 2
        assert len(server.connections) == 1
        assert settled(client.pool_stats())
        assert (await client.models.retrieve("after")).id == "after"


# -- flow control ----------------------------------------------------------------


async def test_a_slow_reader_holds_at_most_one_stream_window_and_stalls_nobody() -> None:
    event = chunk_event("x" * 60_000)
    total_events = (WINDOW + WINDOW // 2) // len(event)
    blocked = trio.Event()

    async def big_stream(stream: ServerStream) -> None:
        await stream.ended.wait()
        if stream.path != "/v1/chat/completions":
            await stream.respond(model(stream.name))
            return
        await stream.head(200, b"text/event-stream")
        for _ in range(total_events):
            if stream.conn.h2.local_flow_control_window(stream.id) < len(event):
                blocked.set()
            await stream.data(event)
        await stream.data(b"data: [DONE]\n\n", end=True)

    async with H2Server(big_stream) as server, client_for(server) as client:
        with trio.fail_after(50):
            async with await client.chat.completions.create(model="m", messages=MESSAGES, stream=True) as s:
                items = 0
                async for _ in s:
                    items += 1
                    break
                # The reader stops; the server fills the stream's window and
                # must wait, while other requests on the connection go on.
                others = await gather(*[lambda n=n: client.models.retrieve(n) for n in ["a", "b", "c"]])
                assert [m.id for m in others] == ["a", "b", "c"]
                await blocked.wait()
                stream = server.requests[0]
                read = items * len(event)
                # The server filled the window and could send no more.
                assert WINDOW - 2 * len(event) <= stream.sent - read <= WINDOW
                assert stream.sent < total_events * len(event)
                async for _ in s:
                    items += 1
            assert items == total_events
            assert stream.sent == total_events * len(event) + len(b"data: [DONE]\n\n")
        assert len(server.connections) == 1
        assert settled(client.pool_stats())


@pytest.mark.parametrize("source", ["bytes", "path", "iterable"])
async def test_request_bodies_larger_than_the_window_go_out_as_it_opens(
    source: str, tmp_path: Any, autojump_clock: trio.testing.MockClock
) -> None:
    payload = bytes(range(256)) * 2000  # 512,000 bytes
    settings: dict[h2.settings.SettingCodes | int, int] = {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1000}

    async def echo_size(stream: ServerStream) -> None:
        await stream.ended.wait()
        if stream.path == "/v1/files":
            await stream.respond(file_object(len(stream.body)))
        else:
            await answer(stream)

    async def hand_back_slowly() -> None:
        # The server's window opens a little at a time, as a slow server's
        # would.
        while True:
            await trio.sleep(0.01)
            for conn, size, stream_id in server.unacknowledged:
                try:
                    conn.h2.acknowledge_received_data(size, stream_id)
                except h2.exceptions.StreamClosedError:
                    pass
                await conn.flush()
            server.unacknowledged.clear()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 30_000):
            yield payload[start : start + 30_000]

    file: Any
    if source == "bytes":
        file = ("data.bin", payload, "application/octet-stream")
    elif source == "path":
        path = tmp_path / "data.bin"
        path.write_bytes(payload)
        file = path
    else:
        file = ("data.bin", chunks(), "application/octet-stream")
    async with H2Server(echo_size, settings=settings) as server, client_for(server) as client:
        server.acknowledge = False
        async with trio.open_nursery() as nursery:
            nursery.start_soon(hand_back_slowly)
            # A path is read in worker threads, which the autojump clock does
            # not wait for: while a read runs it jumps from one 10 ms tick of
            # hand_back_slowly to the next, so virtual time races ahead of
            # the work.  The bound on a real hang is pytest's own timeout.
            with trio.fail_after(60 if source != "path" else 100_000):
                made, text = await gather(
                    lambda: client.files.create(file=file, purpose="batch"),
                    lambda: client.chat.completions.create(model="m", messages=say("y" * 200_000)),
                )
            nursery.cancel_scope.cancel()
        upload = next(s for s in server.requests if s.path == "/v1/files")
        assert payload in bytes(upload.body)
        assert made.bytes == len(upload.body)
        assert text.choices[0].message.content == "y" * 200_000
        assert len(server.connections) == 1
        assert settled(client.pool_stats())


async def test_an_early_answer_stops_a_body_waiting_for_window() -> None:
    settings: dict[h2.settings.SettingCodes | int, int] = {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1000}

    async def too_large(stream: ServerStream) -> None:
        if stream.path == "/v1/files":
            await stream.respond(b'{"error": {"message": "too large", "type": "invalid_request_error"}}', 413)
        else:
            await answer(stream)

    async with H2Server(too_large, settings=settings) as server, client_for(server) as client:
        server.acknowledge = False
        with trio.fail_after(20):
            with pytest.raises(openai_trio.APIStatusError) as caught:
                await client.files.create(file=("big.bin", b"z" * 1_000_000, "application/octet-stream"),
                                          purpose="batch")
            assert caught.value.status_code == 413
            server.acknowledge = True
            assert (await client.models.retrieve("after")).id == "after"
        assert len(server.requests[0].body) < 100_000
        assert len(server.connections) == 1
        assert settled(client.pool_stats())


# -- malformed input from the server ---------------------------------------------


def raw_frame(kind: int, flags: int, stream_id: int, payload: bytes, length: int | None = None) -> bytes:
    size = len(payload) if length is None else length
    return size.to_bytes(3, "big") + bytes([kind, flags]) + stream_id.to_bytes(4, "big") + payload


MALFORMED = {
    # An HTTP/1.1 server answering after the SETTINGS went out.
    "http1-answer": b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n",
    # DATA over the 16 KiB frame size the client allows.
    "frame-too-large": raw_frame(0x0, 0x0, 1, b"d" * 20_000),
    # A PING must be on stream 0 and 8 bytes long.
    "ping-on-a-stream": raw_frame(0x6, 0x0, 1, b"12345678"),
    "short-settings": raw_frame(0x4, 0x0, 0, b"\x00\x03\x00"),
    # Headers that are not HPACK at all.
    "bad-hpack": raw_frame(0x1, 0x5, 1, b"\xff\xff\xff\xff\xff\xff"),
}


def pieces_of(data: bytes, how: str, rng: random.Random) -> list[bytes]:
    if how == "whole":
        return [data]
    if how == "bytewise":
        return [data[i : i + 1] for i in range(len(data))] if len(data) < 2000 else [data[:1], data[1:]]
    cuts = sorted(rng.sample(range(1, len(data)), min(4, len(data) - 1)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


@pytest.mark.parametrize("how", ["whole", "bytewise", "random"])
@pytest.mark.parametrize("what", sorted(MALFORMED))
async def test_malformed_bytes_fail_the_requests_and_the_connection_is_replaced(what: str, how: str) -> None:
    rng = random.Random(what + how)

    async def garbage_on_first(stream: ServerStream) -> None:
        await stream.ended.wait()
        if stream.conn.index == 0:
            await server.wait_requests(2)
            if stream.name == "a":
                for piece in pieces_of(MALFORMED[what], how, rng):
                    await stream.conn.send_raw(piece)
                    await trio.lowlevel.checkpoint()
            await stream.conn.eof.wait()
            return
        await stream.respond(model(stream.name))

    async with H2Server(garbage_on_first) as server, client_for(server) as client:
        with trio.fail_after(20):
            errors: list[BaseException] = []

            async def call(name: str) -> None:
                try:
                    await client.models.retrieve(name)
                except APIConnectionError as exc:  # pragma: no cover - what a failing test shows
                    errors.append(exc)
                except RemoteProtocolError as exc:
                    errors.append(exc)

            await gather(lambda: call("a"), lambda: call("b"))
            assert [type(e) for e in errors] == [RemoteProtocolError, RemoteProtocolError]
            assert all("HTTP/2" in str(e) for e in errors)
            assert settled(client.pool_stats())
            assert (await client.models.retrieve("next")).id == "next"
        assert len(server.connections) == 2
        assert client.pool_stats().connections == 1


async def test_an_http1_server_answering_h2c_is_a_protocol_error() -> None:
    async with H2Server() as server, client_for(server) as client:
        server.preface = b"HTTP/1.1 505 HTTP Version Not Supported\r\n\r\n"
        with trio.fail_after(20):
            with pytest.raises(RemoteProtocolError, match="SETTINGS"):
                await client.models.retrieve("m")
        assert settled(client.pool_stats()) and client.pool_stats().connections == 0


async def test_eof_mid_response_fails_it_and_a_request_without_an_answer_is_resent() -> None:
    async def hang_up_mid_body(stream: ServerStream) -> None:
        await stream.ended.wait()
        if stream.conn.index == 0 and stream.name != "first":
            await server.wait_requests(3)
            if stream.name == "a":
                await stream.head()
                await stream.data(model("a")[:9])
                await trio.sleep(0.01)
                await stream.conn.hang_up()
            return
        await stream.respond(model(stream.name))

    async with H2Server(hang_up_mid_body) as server, client_for(server) as client:
        with trio.fail_after(20):
            assert (await client.models.retrieve("first")).id == "first"
            outcome: dict[str, object] = {}

            async def call(name: str) -> None:
                try:
                    raw = await raw_view(client).models.retrieve(name)
                    outcome[name] = (raw.parse().id, raw.retries_taken)
                except RemoteProtocolError as exc:
                    outcome[name] = exc

            await gather(lambda: call("a"), lambda: call("b"))
        error = outcome.pop("a")
        assert isinstance(error, RemoteProtocolError) and "closed" in str(error)
        # "b" had no byte of its answer: the connection, reused, most likely
        # died under it unprocessed, so it went out again on a new one.
        assert outcome == {"b": ("b", 0)}
        assert len(server.connections) == 2
        assert settled(client.pool_stats())


async def test_a_connection_the_server_dropped_while_idle_is_not_used_again() -> None:
    async with H2Server() as server, client_for(server) as client:
        with trio.fail_after(20):
            assert (await client.models.retrieve("a")).id == "a"
            await server.connections[0].hang_up()
            raw = await raw_view(client).models.retrieve("b")
        assert raw.parse().id == "b" and raw.retries_taken == 0
        assert len(server.connections) == 2
        assert settled(client.pool_stats())


# -- an idle connection, and closing ---------------------------------------------


async def test_ping_and_settings_while_idle_keep_the_connection() -> None:
    async with H2Server() as server, client_for(server) as client:
        with trio.fail_after(20):
            assert (await client.models.retrieve("a")).id == "a"
            conn = server.connections[0]
            await conn.ping()
            await conn.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 50,
                                        h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 100_000})
            await conn.ping()
            assert client.pool_stats() == PoolStats(connections=1, idle=1)
            assert (await client.models.retrieve("b")).id == "b"
            assert (await client.models.retrieve("c")).id == "c"
        assert len(server.connections) == 1
        assert conn.pings_acked == 2
        assert conn.settings_acked >= 2


async def test_closing_the_client_says_goaway_and_closes_the_transport() -> None:
    async with H2Server() as server:
        client = client_for(server)
        with trio.fail_after(20):
            assert (await client.models.retrieve("a")).id == "a"
            conn = server.connections[0]
            await client.aclose()
            await conn.eof.wait()
            await client.aclose()
        assert conn.goaway is not None and conn.goaway.error_code == 0
        assert client.pool_stats() == PoolStats()
        with pytest.raises(APIConnectionError, match="closed"):
            await client.models.retrieve("b")
        assert len(server.connections) == 1


async def test_closing_the_client_with_streams_in_flight_ends_them() -> None:
    async def never(stream: ServerStream) -> None:
        await stream.gone.wait()

    async with H2Server(never) as server:
        client = client_for(server)
        with trio.fail_after(20):
            errors: list[BaseException] = []

            async def call(name: str) -> None:
                try:
                    await client.models.retrieve(name)
                except APIConnectionError as exc:
                    errors.append(exc)

            async with trio.open_nursery() as nursery:
                for name in ["a", "b", "c"]:
                    nursery.start_soon(call, name)
                await server.wait_requests(3)
                await client.aclose()
                await client.aclose()
            await server.connections[0].eof.wait()
        assert len(errors) == 3
        assert all("closed" in str(e) for e in errors)
        assert server.connections[0].goaway is not None
        assert client.pool_stats() == PoolStats()


async def test_window_handed_back_while_another_request_reads(autojump_clock: trio.testing.MockClock) -> None:
    # One request reads the connection, waiting for an answer that comes
    # only after a large stream ends; the large stream's reader consumes
    # from its queue and must get its window handed back to the server
    # although it is not the one reading.
    body = b"b" * (WINDOW + WINDOW // 2)
    big_done = trio.Event()

    async def big_then_small(stream: ServerStream) -> None:
        await stream.ended.wait()
        if stream.name == "small":
            await big_done.wait()
            await stream.respond(model("small"))
            return
        await stream.head(200, b"application/octet-stream")
        await stream.data(body, end=True)
        big_done.set()

    async with H2Server(big_then_small) as server, client_for(server, timeout=60) as client:
        with trio.fail_after(100):

            async def small() -> str:
                return (await client.models.retrieve("small")).id

            async def big() -> int:
                await server.wait_requests(1)
                got = 0
                async with streaming_view(client).files.content("big") as response:
                    async for piece in response.iter_bytes():
                        got += len(piece)
                        # A slow consumer: the reading request reads all
                        # the server may send before this one catches up.
                        await trio.sleep(0.001)
                return got

            results = await gather(small, big)
        assert results == ["small", len(body)]


async def test_a_waiter_cancelled_as_it_is_handed_the_reading_passes_it_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # A reads; B and C wait.  B is cancelled just as A's whole answer
    # arrives, so A may hand the reading to B, who leaves with its
    # cancellation: C must not be left waiting with nobody reading.  Which
    # of A and B runs first is up to trio's scheduler, so a few rounds.
    scopes: dict[str, trio.CancelScope] = {}

    async def scripted(stream: ServerStream) -> None:
        await stream.ended.wait()
        name = stream.name
        if name.startswith("a"):
            await server.wait_requests(len(server.requests) + 2)
            await trio.sleep(1)  # everyone parked
            stream.conn.h2.send_headers(stream.id, [(b":status", b"200"), (b"content-type", b"application/json")])
            stream.conn.h2.send_data(stream.id, model(name), end_stream=True)
            # No checkpoint between the write waking A and the cancel
            # waking B: they run in the same batch, in either order.
            await stream.conn.flush()
            scopes["b" + name[1:]].cancel()
        elif name.startswith("c"):
            await trio.sleep(5)
            await stream.respond(model(name))
        else:
            await stream.gone.wait()

    async with H2Server(scripted) as server, client_for(server, timeout=30) as client:
        got: dict[str, str] = {}

        async def call(name: str) -> None:
            with trio.CancelScope() as scopes[name]:
                got[name] = (await client.models.retrieve(name)).id

        for round_ in range(12):
            got.clear()

            with trio.fail_after(20):
                async with trio.open_nursery() as nursery:
                    for name in ["a", "b", "c"]:
                        nursery.start_soon(call, f"{name}{round_}")
                        await server.wait_requests(len(server.requests) + 1)
            assert got == {f"a{round_}": f"a{round_}", f"c{round_}": f"c{round_}"}
            assert settled(client.pool_stats())
        assert len(server.connections) == 1


# -- transport faults ------------------------------------------------------------


async def test_a_write_that_times_out_breaks_the_connection(autojump_clock: trio.testing.MockClock) -> None:
    async with H2Server() as server, client_for(server, timeout=openai_trio.Timeout(30, write=2)) as client:
        with trio.fail_after(60):
            assert (await client.models.retrieve("a")).id == "a"
            server.client_ends[0].stall_writes = True
            with pytest.raises(APITimeoutError) as caught:
                await client.models.retrieve("b")
            assert caught.value.limit == "write"
            # Half a frame may be on the wire: the connection is done for.
            assert (await client.models.retrieve("c")).id == "c"
        assert len(server.connections) == 2
        assert settled(client.pool_stats())


async def test_a_read_that_fails_fails_the_streams_in_flight() -> None:
    async def hold(stream: ServerStream) -> None:
        await stream.ended.wait()
        if stream.conn.index == 0 and stream.name != "first":
            await server.wait_requests(3)
            server.client_ends[0].fail_reads = True
            await stream.conn.ping()
            await stream.conn.eof.wait()
            return
        await stream.respond(model(stream.name))

    async with H2Server(hold) as server, client_for(server) as client:
        with trio.fail_after(20):
            assert (await client.models.retrieve("first")).id == "first"
            errors: list[BaseException] = []

            async def call(name: str) -> None:
                # Not a GET: the server may have acted on it before the
                # connection broke, and max_retries=0 allows no second copy.
                try:
                    await client.models.delete(name)
                except APIConnectionError as exc:
                    errors.append(exc)

            await gather(lambda: call("a"), lambda: call("b"))
            assert len(errors) == 2
            assert all("while receiving" in str(e) for e in errors)
            assert settled(client.pool_stats())
            assert (await client.models.retrieve("next")).id == "next"
        assert len(server.connections) == 2


async def test_closing_over_a_failing_transport_is_quiet() -> None:
    async with H2Server() as server:
        client = client_for(server)
        with trio.fail_after(20):
            assert (await client.models.retrieve("a")).id == "a"
            end = server.client_ends[0]
            end.fail_writes = end.fail_close = True
            await client.aclose()
        assert client.pool_stats() == PoolStats()


async def test_a_reset_that_cannot_be_written_is_dropped_with_the_connection() -> None:
    async def hold(stream: ServerStream) -> None:
        await stream.ended.wait()
        if stream.name == "x":
            await stream.gone.wait()
            return
        await stream.respond(model(stream.name))

    async with H2Server(hold) as server, client_for(server) as client:
        with trio.fail_after(20):
            assert (await client.models.retrieve("a")).id == "a"
            with trio.move_on_after(0.05) as scope:
                async with trio.open_nursery() as nursery:

                    async def break_link() -> None:
                        await server.wait_requests(2)
                        server.client_ends[0].fail_writes = True

                    nursery.start_soon(break_link)
                    await client.models.retrieve("x")
            assert scope.cancelled_caught
            assert settled(client.pool_stats())
            assert (await client.models.retrieve("b")).id == "b"
        assert server.resets == []
        assert len(server.connections) == 2


async def test_an_early_head_stops_a_body_waiting_for_window() -> None:
    settings: dict[h2.settings.SettingCodes | int, int] = {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1000}

    async def head_first(stream: ServerStream) -> None:
        if stream.path != "/v1/files":
            await answer(stream)
            return
        await stream.head(413)
        await trio.sleep(0.01)
        await stream.data(b'{"error": {"message": "too large", "type": "invalid_request_error"}}', end=True)

    async with H2Server(head_first, settings=settings) as server, client_for(server) as client:
        server.acknowledge = False
        with trio.fail_after(20):
            with pytest.raises(openai_trio.APIStatusError) as caught:
                await client.files.create(file=("big.bin", b"z" * 1_000_000, "application/octet-stream"),
                                          purpose="batch")
            assert caught.value.status_code == 413
            server.acknowledge = True
            assert (await client.models.retrieve("after")).id == "after"
        assert len(server.connections) == 1
        assert settled(client.pool_stats())


@pytest.mark.parametrize("then", ["goaway", "timeout"])
async def test_requests_waiting_for_a_stream_slot(then: str, autojump_clock: trio.testing.MockClock) -> None:
    # The server lowers its limit to one stream while requests the pool
    # already let through are about to start theirs; then it either sends
    # them away (GOAWAY: they go to a new connection) or keeps its one
    # stream busy past the pool timeout.
    async def lower(stream: ServerStream) -> None:
        conn = stream.conn
        if conn.index == 0 and stream.id == 1:
            await conn.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1})
            await stream.ended.wait()
            await trio.sleep(1)
            if then == "goaway":
                await conn.send_goaway(max(conn.streams))
                await stream.respond(model(stream.name))
            else:
                await trio.sleep(100)
                await stream.respond(model(stream.name))
            return
        await stream.ended.wait()
        await stream.respond(model(stream.name))

    timeout = openai_trio.Timeout(300, pool=10)
    async with H2Server(lower) as server, client_for(server, write_delay=0.001, timeout=timeout) as client:
        outcome: dict[str, object] = {}

        async def call(name: str) -> None:
            try:
                outcome[name] = (await client.models.retrieve(name)).id
            except APITimeoutError as exc:
                outcome[name] = exc.limit

        with trio.fail_after(200):
            await gather(*[lambda n=n: call(n) for n in [f"m{i}" for i in range(6)]])
        if then == "goaway":
            assert outcome == {f"m{i}": f"m{i}" for i in range(6)}
        else:
            assert set(outcome.values()) - {f"m{i}" for i in range(6)} == {"pool"}
        assert settled(client.pool_stats())


async def test_closing_while_a_write_is_stuck_skips_the_goaway(autojump_clock: trio.testing.MockClock) -> None:
    async with H2Server() as server:
        client = client_for(server, timeout=openai_trio.Timeout(30, write=5))
        with trio.fail_after(60):
            assert (await client.models.retrieve("a")).id == "a"
            server.client_ends[0].stall_writes = True
            errors: list[BaseException] = []

            async def stuck() -> None:
                try:
                    await client.models.retrieve("b")
                except APIConnectionError as exc:
                    errors.append(exc)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(stuck)
                await trio.testing.wait_all_tasks_blocked()
                # Half a frame must not be followed by a GOAWAY.
                await client.aclose()
            await server.connections[0].eof.wait()
        assert len(errors) == 1
        assert server.connections[0].goaway is None


async def test_closing_a_failed_connection_wakes_the_streams_waiting_on_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def hold(stream: ServerStream) -> None:
        await stream.gone.wait()

    async with H2Server(hold) as server:
        client = client_for(server, timeout=openai_trio.Timeout(300, write=5))
        with trio.fail_after(100):
            errors: list[BaseException] = []

            async def call(name: str) -> None:
                try:
                    await client.models.retrieve(name)
                except APIConnectionError as exc:
                    errors.append(exc)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(call, "a")
                await server.wait_requests(1)
                nursery.start_soon(call, "b")
                await server.wait_requests(2)
                await trio.testing.wait_all_tasks_blocked()
                # A third request's write times out: the connection is
                # failed while a and b wait on it.
                server.client_ends[0].stall_writes = True
                nursery.start_soon(call, "c")
                await trio.sleep(10)
                await client.aclose()
        assert len(errors) == 3
        # c's own write timed out; a and b learned of it from the dropped
        # transport (not at their read timeout, nor only at the close).
        timeouts = [e for e in errors if isinstance(e, APITimeoutError)]
        assert len(timeouts) == 1 and timeouts[0].limit == "write"
        assert client.pool_stats() == PoolStats()


async def test_a_window_update_that_cannot_be_written_fails_the_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    body = b"b" * (WINDOW + WINDOW // 2)

    async def big_and_never(stream: ServerStream) -> None:
        await stream.ended.wait()
        if stream.name == "small":
            await stream.gone.wait()
            return
        await stream.head(200, b"application/octet-stream")
        await stream.data(body, end=True)

    async with H2Server(big_and_never) as server, client_for(server, timeout=20) as client:
        with trio.fail_after(100):
            errors: list[BaseException] = []

            async def small() -> None:
                try:
                    await client.models.retrieve("small")
                except APIConnectionError as exc:
                    errors.append(exc)

            async def big() -> int:
                await server.wait_requests(1)
                got = 0
                try:
                    async with streaming_view(client).files.content("big") as response:
                        async for piece in response.iter_bytes():
                            got += len(piece)
                            if got > WINDOW // 4:
                                # Before the window goes back to the server.
                                server.client_ends[0].fail_writes = True
                            await trio.sleep(0.001)
                except APIConnectionError as exc:
                    errors.append(exc)
                return got

            _, got = await gather(small, big)
        assert WINDOW // 2 <= got < len(body)
        assert len(errors) == 2
        assert settled(client.pool_stats())


async def test_reprs_show_state_and_no_secret() -> None:
    async def hold(stream: ServerStream) -> None:
        await stream.gone.wait()

    async with H2Server(hold) as server, client_for(server) as client:
        with trio.fail_after(20):
            with trio.move_on_after(0.05):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(client.models.retrieve, "a")
                    await server.wait_requests(1)
                    await trio.testing.wait_all_tasks_blocked()
                    conn = client._pool._origins[next(iter(client._pool._origins))].connections[0]
                    busy = repr(conn)
                    lease = repr(next(iter(conn._leases.values())))  # type: ignore[union-attr]
                    nursery.cancel_scope.cancel()
            idle = repr(conn)
            await client.aclose()
            closed = repr(conn)
        assert busy == "<MultiplexedConnection http://h2.test:80 busy streams=1>"
        assert lease == "<StreamLease http://h2.test:80 stream=1>"
        assert idle.endswith("idle streams=0>") and closed.endswith("closed streams=0>")
        assert KEY not in busy + lease


async def test_a_failed_write_fails_the_other_streams_at_once() -> None:
    # "a" waits for an answer that never comes, its reader blocked on the
    # transport; "b"'s write fails.  "a" must learn of it now, not at its
    # 30-second read timeout ("b" itself is sent again on a new connection,
    # as a reused connection that broke under its write).
    async def never_answer_a(stream: ServerStream) -> None:
        await stream.ended.wait()
        if stream.name != "a":
            await stream.respond(model(stream.name))

    async with H2Server(never_answer_a) as server, client_for(server) as client:
        with trio.fail_after(5):
            assert (await client.models.retrieve("first")).id == "first"
            errors: list[BaseException] = []

            async def call_a() -> None:
                try:
                    await client.models.retrieve("a")
                except APIConnectionError as exc:
                    errors.append(exc)

            async def break_then_call_b() -> str:
                await server.wait_requests(2)
                server.client_ends[0].fail_writes = True
                return (await client.models.retrieve("b")).id

            _, b = await gather(call_a, break_then_call_b)
            assert b == "b"
            assert len(errors) == 1 and "while sending" in str(errors[0])
            assert settled(client.pool_stats())
        assert len(server.connections) == 2
