"""The fake server, driven by a raw h11 client and plain bytes."""

from __future__ import annotations

import base64
import itertools
import json
import socket
import struct
from typing import Any, Awaitable, Callable

import h11
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_sansio import Origin
from openai_trio.testing import (
    FAKE_REPLY,
    FakeResponse,
    FakeServer,
    ReceivedRequest,
    format_sse,
    run_fake_server_in_thread,
)

# -- helpers ------------------------------------------------------------------


class Reply:
    def __init__(self, response: h11.Response, pieces: list[bytes]) -> None:
        self.status = response.status_code
        self.headers = {k.decode(): v.decode() for k, v in response.headers}
        self.pieces = pieces
        self.body = b"".join(pieces)

    def json(self) -> Any:
        return json.loads(self.body)

    def sse_data(self) -> list[str]:
        """The ``data:`` payloads, in order."""
        out = []
        for block in self.body.decode().split("\n\n"):
            data = [line[6:] for line in block.split("\n") if line.startswith("data: ")]
            if data:
                out.append("\n".join(data))
        return out


class Client:
    """A minimal HTTP/1.1 client over any trio stream, on h11."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.conn = h11.Connection(h11.CLIENT)

    async def request(
        self,
        method: str,
        target: str,
        body: Any = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> Reply:
        if self.conn.our_state is h11.DONE:
            self.conn.start_next_cycle()
        raw = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs = [("host", "fake"), *(headers or [])]
        if raw or method == "POST":
            hdrs.append(("content-length", str(len(raw))))
        data = self.conn.send(h11.Request(method=method, target=target, headers=hdrs))
        data += self.conn.send(h11.Data(data=raw)) if raw else b""
        data += self.conn.send(h11.EndOfMessage())
        await self.stream.send_all(data)
        return await self.read()

    async def read(self) -> Reply:
        response: h11.Response | None = None
        pieces: list[bytes] = []
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(bytes(await self.stream.receive_some(65536)))
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                pieces.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                assert response is not None
                return Reply(response, pieces)
            else:
                raise AssertionError(f"unexpected {event!r}")


async def read_to_eof(stream: trio.abc.Stream) -> bytes:
    data = bytearray()
    while chunk := await stream.receive_some(65536):
        data += chunk
    return bytes(data)


def chat_body(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi there"}], **extra}


async def call(server: FakeServer, method: str, target: str, body: Any = None) -> Reply:
    client = Client(await server.connect())
    try:
        return await client.request(method, target, body)
    finally:
        await client.stream.aclose()


def http_request(body: bytes, *, extra: bytes = b"") -> bytes:
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: fake\r\nContent-Type: application/json\r\n"
        + extra
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )


def parse_response(raw: bytes) -> Reply:
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("host", "x")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(raw)
    response = conn.next_event()
    assert isinstance(response, h11.Response)
    pieces = []
    while not isinstance(event := conn.next_event(), h11.EndOfMessage):
        assert isinstance(event, h11.Data), event
        pieces.append(bytes(event.data))
    return Reply(response, pieces)


# -- the default OpenAI-compatible answers ---------------------------------------


async def test_chat_completion_json() -> None:
    async with FakeServer() as server:
        reply = await call(server, "POST", "/v1/chat/completions", chat_body())
        assert reply.status == 200
        assert reply.headers["content-type"] == "application/json"
        assert reply.headers["x-request-id"].startswith("req_")
        assert int(reply.headers["content-length"]) == len(reply.body)
        assert reply.headers["openai-processing-ms"].isdigit()
        doc = reply.json()
        assert doc["object"] == "chat.completion"
        assert doc["model"] == "gpt-4o-mini"
        assert doc["id"].startswith("chatcmpl-")
        (choice,) = doc["choices"]
        assert choice["message"] == {
            "role": "assistant",
            "content": FAKE_REPLY,
            "refusal": None,
            "annotations": [],
        }
        assert choice["finish_reason"] == "stop"
        assert doc["usage"]["completion_tokens"] == len(FAKE_REPLY.split(" "))
        assert doc["usage"]["total_tokens"] == doc["usage"]["prompt_tokens"] + len(FAKE_REPLY.split(" "))
        (recorded,) = server.requests
        assert recorded.method == "POST"
        assert recorded.path == "/v1/chat/completions"
        assert recorded.json()["messages"][0]["content"] == "Hi there"
        assert recorded.headers["host"] == "fake"
        assert recorded.connection == 1


async def test_chat_completion_stream() -> None:
    async with FakeServer() as server:
        reply = await call(
            server,
            "POST",
            "/v1/chat/completions",
            chat_body(stream=True, stream_options={"include_usage": True}),
        )
        assert reply.status == 200
        assert reply.headers["content-type"].startswith("text/event-stream")
        assert reply.headers["transfer-encoding"] == "chunked"
        data = reply.sse_data()
        assert data[-1] == "[DONE]"
        chunks = [json.loads(d) for d in data[:-1]]
        assert all(c["object"] == "chat.completion.chunk" for c in chunks)
        assert len({c["id"] for c in chunks}) == 1
        assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
        text = "".join(
            c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]
        )
        assert text == FAKE_REPLY
        assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
        assert chunks[-1]["choices"] == []
        assert chunks[-1]["usage"]["completion_tokens"] == len(FAKE_REPLY.split(" "))
        # One event per chunk: many small pieces, not one blob.
        assert len(reply.pieces) == len(data)


async def test_chat_stream_without_usage_and_limits() -> None:
    async with FakeServer() as server:
        reply = await call(
            server, "POST", "/v1/chat/completions", chat_body(stream=True, max_tokens=3, n=2)
        )
        chunks = [json.loads(d) for d in reply.sse_data()[:-1]]
        assert all("usage" not in c for c in chunks)
        for index in (0, 1):
            mine = [c["choices"][0] for c in chunks if c["choices"][0]["index"] == index]
            assert "".join(ch["delta"].get("content", "") for ch in mine) == "Hello! This reply"
            assert mine[-1]["finish_reason"] == "length"
        reply = await call(
            server, "POST", "/v1/chat/completions", chat_body(max_completion_tokens=2)
        )
        assert reply.json()["choices"][0]["message"]["content"] == "Hello! This"
        assert reply.json()["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "m"}, "messages"),
        ({"model": "m", "messages": []}, "messages"),
        (chat_body(max_tokens=0), "max_tokens"),
        (chat_body(n=99), "n"),
    ],
)
async def test_chat_validation(body: dict[str, Any], param: str) -> None:
    async with FakeServer() as server:
        reply = await call(server, "POST", "/v1/chat/completions", body)
        assert reply.status == 400
        assert reply.json()["error"]["param"] == param
        assert reply.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b""])
async def test_bad_json_body_is_400(body: bytes) -> None:
    async with FakeServer() as server:
        reply = await call(server, "POST", "/v1/chat/completions", body)
        assert reply.status == 400
        error = reply.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["type"] == "invalid_request_error"


async def test_unknown_path_is_openai_404() -> None:
    async with FakeServer() as server:
        reply = await call(server, "POST", "/v1/nope", {})
        assert reply.status == 404
        assert reply.json() == {
            "error": {
                "message": "Invalid URL (POST /v1/nope)",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        }
        reply = await call(server, "GET", "/v1/chat/completions")
        assert reply.status == 404


async def test_legacy_completions() -> None:
    async with FakeServer() as server:
        reply = await call(server, "POST", "/v1/completions", {"model": "m", "prompt": "Hi"})
        doc = reply.json()
        assert doc["object"] == "text_completion"
        assert FAKE_REPLY.startswith(doc["choices"][0]["text"])
        reply = await call(
            server,
            "POST",
            "/v1/completions",
            {"model": "m", "prompt": "Hi", "stream": True, "max_tokens": 4,
             "stream_options": {"include_usage": True}},
        )
        data = reply.sse_data()
        assert data[-1] == "[DONE]"
        chunks = [json.loads(d) for d in data[:-1]]
        assert "".join(c["choices"][0]["text"] for c in chunks if c["choices"]) == "Hello! This reply comes"
        assert chunks[-2]["choices"][0]["finish_reason"] == "length"
        assert chunks[-1]["usage"]["completion_tokens"] == 4
        reply = await call(server, "POST", "/v1/completions", {"model": "m"})
        assert reply.status == 400


async def test_embeddings_are_deterministic() -> None:
    async with FakeServer() as server:
        body = {"model": "text-embedding-3-small", "input": ["alpha", "beta", "alpha"]}
        doc = (await call(server, "POST", "/v1/embeddings", body)).json()
        vectors = [d["embedding"] for d in doc["data"]]
        assert [d["index"] for d in doc["data"]] == [0, 1, 2]
        assert vectors[0] == vectors[2] != vectors[1]
        assert len(vectors[0]) == 32
        assert abs(sum(v * v for v in vectors[0]) - 1.0) < 1e-5
        again = (await call(server, "POST", "/v1/embeddings", {**body, "input": "alpha"})).json()
        assert again["data"][0]["embedding"] == vectors[0]
        encoded = (
            await call(
                server,
                "POST",
                "/v1/embeddings",
                {**body, "input": "alpha", "encoding_format": "base64", "dimensions": 7},
            )
        ).json()
        floats = struct.unpack("<7f", base64.b64decode(encoded["data"][0]["embedding"]))
        assert len(floats) == 7
        tokens = (await call(server, "POST", "/v1/embeddings", {**body, "input": [1, 2, 3]})).json()
        assert len(tokens["data"]) == 1
        for bad in ({**body, "input": []}, {**body, "dimensions": 0}, {**body, "encoding_format": "x"}):
            assert (await call(server, "POST", "/v1/embeddings", bad)).status == 400


async def test_models() -> None:
    async with FakeServer() as server:
        listing = (await call(server, "GET", "/v1/models")).json()
        names = [m["id"] for m in listing["data"]]
        assert "gpt-4o-mini" in names
        one = (await call(server, "GET", "/v1/models/gpt-4o-mini")).json()
        assert one["object"] == "model"
        deleted = (await call(server, "DELETE", "/v1/models/gpt-4o-mini")).json()
        assert deleted == {"id": "gpt-4o-mini", "object": "model", "deleted": True}
        missing = await call(server, "GET", "/v1/models/gpt-4o-mini")
        assert missing.status == 404
        assert missing.json()["error"]["code"] == "model_not_found"
        assert (await call(server, "DELETE", "/v1/models/gpt-4o-mini")).status == 404
        # Fine-tuned names carry colons; some compatible servers use slashes.
        server.openai.models["org/model:ft"] = {"id": "org/model:ft", "object": "model"}
        assert (await call(server, "GET", "/v1/models/org/model:ft")).status == 200


async def test_responses_lifecycle() -> None:
    async with FakeServer() as server:
        created = (
            await call(server, "POST", "/v1/responses", {"model": "gpt-4o-mini", "input": "Hello"})
        ).json()
        assert created["object"] == "response"
        assert created["status"] == "completed"
        assert created["output"][0]["content"][0]["text"] == FAKE_REPLY
        rid = created["id"]
        assert rid.startswith("resp_")
        fetched = (await call(server, "GET", f"/v1/responses/{rid}")).json()
        assert fetched == created
        items = (await call(server, "GET", f"/v1/responses/{rid}/input_items")).json()
        assert items["object"] == "list"
        assert items["data"][0]["content"] == [{"type": "input_text", "text": "Hello"}]
        assert items["first_id"] == items["data"][0]["id"]
        cancel = await call(server, "POST", f"/v1/responses/{rid}/cancel")
        assert cancel.status == 400
        deleted = (await call(server, "DELETE", f"/v1/responses/{rid}")).json()
        assert deleted == {"id": rid, "object": "response.deleted", "deleted": True}
        for method, target in [
            ("GET", f"/v1/responses/{rid}"),
            ("DELETE", f"/v1/responses/{rid}"),
            ("POST", f"/v1/responses/{rid}/cancel"),
            ("GET", f"/v1/responses/{rid}/input_items"),
        ]:
            assert (await call(server, method, target)).status == 404


async def test_responses_background_cancel_and_list_input() -> None:
    async with FakeServer() as server:
        body = {
            "model": "m",
            "background": True,
            "input": [
                {"role": "user", "content": "one"},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "two"}]},
            ],
        }
        created = (await call(server, "POST", "/v1/responses", body)).json()
        assert created["status"] == "in_progress"
        cancelled = (await call(server, "POST", f"/v1/responses/{created['id']}/cancel")).json()
        assert cancelled["status"] == "cancelled"
        asc = (await call(server, "GET", f"/v1/responses/{created['id']}/input_items?order=asc")).json()
        desc = (await call(server, "GET", f"/v1/responses/{created['id']}/input_items")).json()
        assert [i["content"][0]["text"] for i in asc["data"]] == ["one", "two"]
        assert desc["data"] == list(reversed(asc["data"]))
        assert (await call(server, "POST", "/v1/responses", {"model": "m"})).status == 400


async def test_responses_stream_events() -> None:
    async with FakeServer() as server:
        reply = await call(
            server, "POST", "/v1/responses", {"model": "m", "input": "x", "stream": True}
        )
        blocks = [b for b in reply.body.decode().split("\n\n") if b]
        names = [b.split("\n")[0].removeprefix("event: ") for b in blocks]
        payloads = [json.loads(b.split("\n")[1].removeprefix("data: ")) for b in blocks]
        assert names == [p["type"] for p in payloads]
        assert names[:4] == [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
        ]
        assert names[-1] == "response.completed"
        assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
        deltas = [p["delta"] for p in payloads if p["type"] == "response.output_text.delta"]
        assert "".join(deltas) == FAKE_REPLY
        assert payloads[-1]["response"]["output"][0]["content"][0]["text"] == FAKE_REPLY
        assert "[DONE]" not in reply.body.decode()
        short = await call(
            server,
            "POST",
            "/v1/responses",
            {"model": "m", "input": "x", "stream": True, "max_output_tokens": 2},
        )
        assert b"event: response.incomplete" in short.body


async def test_api_key_required() -> None:
    async with FakeServer(api_key="sk-right") as server:
        server.enqueue(FakeResponse.json({"scripted": True}))
        client = Client(await server.connect())
        denied = await client.request("GET", "/v1/models", headers=[("authorization", "Bearer sk-wrong")])
        assert denied.status == 401
        assert denied.json()["error"]["code"] == "invalid_api_key"
        assert "sk-wrong" not in denied.body.decode()
        allowed = await client.request("GET", "/v1/models", headers=[("authorization", "Bearer sk-right")])
        assert allowed.json() == {"scripted": True}


# -- scripting ------------------------------------------------------------------


async def test_enqueue_is_fifo_across_connections_then_default() -> None:
    async with FakeServer() as server:
        server.enqueue(FakeResponse.json({"n": 1}), FakeResponse.error(429, "slow down"))
        server.enqueue(lambda request: FakeResponse.json({"path": request.path}))
        assert server.pending == 3
        first = Client(await server.connect())
        second = Client(await server.connect())
        assert (await first.request("GET", "/a")).json() == {"n": 1}
        limited = await second.request("GET", "/b")
        assert limited.status == 429
        assert limited.json()["error"] == {
            "message": "slow down",
            "type": "rate_limit_error",
            "param": None,
            "code": None,
        }
        assert (await first.request("GET", "/c")).json() == {"path": "/c"}
        assert server.pending == 0
        assert (await second.request("POST", "/v1/chat/completions", chat_body())).status == 200
        assert [r.connection for r in server.requests] == [1, 2, 1, 2]
        assert server.connections_opened == 2
        with pytest.raises(TypeError):
            server.enqueue(42)  # type: ignore[arg-type]


async def test_routes_and_async_handlers(autojump_clock: trio.testing.MockClock) -> None:
    async with FakeServer() as server:
        async def slow(request: ReceivedRequest) -> FakeResponse:
            await trio.sleep(0.25)
            return FakeResponse.json({"id": request.path.rsplit("/", 1)[1]})

        server.route("GET", "/v1/things/{id}", slow)
        server.route("POST", "/v1/chat/completions", FakeResponse.json({"overridden": True}))
        reply = await call(server, "GET", "/v1/things/abc?x=1")
        assert reply.json() == {"id": "abc"}
        assert reply.headers["openai-processing-ms"] == "250"
        assert server.last_request.query == {"x": ["1"]}
        assert (await call(server, "GET", "/v1/things/")).status == 404
        assert (await call(server, "GET", "/v1/things/a/b")).status == 404
        assert (await call(server, "POST", "/v1/things/abc")).status == 404
        assert (await call(server, "POST", "/v1/chat/completions", chat_body())).json() == {
            "overridden": True
        }


async def test_custom_default_handler_and_handler_errors() -> None:
    def broken(request: ReceivedRequest) -> FakeResponse:
        raise KeyError("boom")

    async with FakeServer(handler=broken) as server:
        reply = await call(server, "GET", "/anything")
        assert reply.status == 500
        assert reply.json()["error"]["type"] == "server_error"
        assert isinstance(server.handler_errors[0], KeyError)
        server.route("GET", "/wrong", lambda request: "not a response")  # type: ignore[arg-type,return-value]
        assert (await call(server, "GET", "/wrong")).status == 500
        assert isinstance(server.handler_errors[1], TypeError)


async def test_last_request_and_record_limit() -> None:
    async with FakeServer(record_limit=2) as server:
        with pytest.raises(LookupError):
            _ = server.last_request
        for n in range(4):
            await call(server, "GET", f"/v1/models?n={n}")
        assert [r.target for r in server.requests] == ["/v1/models?n=2", "/v1/models?n=3"]


# -- FakeResponse shapes ----------------------------------------------------------


async def test_sse_default_chunk_per_event_exact_bytes() -> None:
    async with FakeServer() as server:
        server.enqueue(FakeResponse.sse([{"a": 1}, "event: x\ndata: hi\n\n"]))
        stream = await server.connect()
        await stream.send_all(http_request(b"{}", extra=b"Connection: close\r\n"))
        raw = await read_to_eof(stream)
        head, _, body = raw.partition(b"\r\n\r\n")
        assert b"transfer-encoding: chunked" in head.lower()
        pieces = [b'data: {"a":1}\n\n', b"event: x\ndata: hi\n\n", b"data: [DONE]\n\n"]
        expected = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
        assert body == expected


async def test_sse_chunk_sizes_and_byte_chunks() -> None:
    async with FakeServer() as server:
        events = [{"i": i} for i in range(3)]
        whole = b"".join(format_sse(e).encode() for e in events) + b"data: [DONE]\n\n"
        server.enqueue(
            FakeResponse.sse(events, chunks=[1, 5, 3]),
            FakeResponse.sse([], chunks=[b"data: {\"x\"", b":1}\n", b"\n"]),
            FakeResponse.sse(events, done=False, chunks=[1000]),
        )
        recut = await call(server, "POST", "/", {})
        assert recut.pieces[:3] == [whole[:1], whole[1:6], whole[6:9]]
        assert recut.body == whole
        exact = await call(server, "POST", "/", {})
        assert exact.pieces == [b'data: {"x"', b":1}\n", b"\n"]
        single = await call(server, "POST", "/", {})
        assert single.pieces == [whole[: -len(b"data: [DONE]\n\n")]]
    with pytest.raises(ValueError):
        FakeResponse.sse([{"a": 1}], chunks=[b"x"])
    with pytest.raises(ValueError):
        FakeResponse.sse([{"a": 1}], chunks=[0])


def test_format_sse() -> None:
    assert format_sse({"a": 1}) == 'data: {"a":1}\n\n'
    assert format_sse("two\nlines", event="e", id="7") == "event: e\nid: 7\ndata: two\ndata: lines\n\n"


def test_fake_response_validation() -> None:
    with pytest.raises(ValueError):
        FakeResponse.json({}, headers={"x-evil": "a\r\nb: c"})
    with pytest.raises(ValueError):
        FakeResponse(status=42)
    with pytest.raises(ValueError):
        FakeResponse(status=100)
    with pytest.raises(ValueError):
        FakeResponse(delay=-1)
    with pytest.raises(ValueError):
        FakeResponse(close_after=-1)
    with pytest.raises(TypeError):
        FakeResponse(body=["text"])  # type: ignore[list-item]
    error = FakeResponse.error(503, "down", headers=[("Retry-After", "1")])
    assert ("retry-after", "1") in error.headers
    assert json.loads(error.body[0])["error"]["type"] == "server_error"


async def test_text_and_custom_headers_and_bodiless() -> None:
    async with FakeServer() as server:
        server.enqueue(
            FakeResponse.text("<html>bad gateway</html>", 502, content_type="text/html",
                              headers={"x-request-id": "req_mine", "x-should-retry": "true"}),
            FakeResponse(status=204, body=[b"ignored"]),
        )
        reply = await call(server, "GET", "/x")
        assert reply.status == 502
        assert reply.headers["content-type"] == "text/html"
        assert reply.headers["x-request-id"] == "req_mine"
        assert reply.headers["x-should-retry"] == "true"
        assert reply.body == b"<html>bad gateway</html>"
        empty = await call(server, "DELETE", "/x")
        assert empty.status == 204
        assert empty.body == b""
        assert "content-length" not in empty.headers


# -- faults -------------------------------------------------------------------------


async def test_headers_delay_and_piece_delay(autojump_clock: trio.testing.MockClock) -> None:
    async with FakeServer() as server:
        server.enqueue(FakeResponse.sse([{"a": 1}, {"b": 2}], delay=1.5, headers_delay=2.0))
        stream = await server.connect()
        await stream.send_all(http_request(b"{}"))
        start = trio.current_time()
        head = await stream.receive_some()
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert trio.current_time() - start == pytest.approx(2.0)
        arrivals = []
        data = b""
        while not data.endswith(b"0\r\n\r\n"):
            data += await stream.receive_some()
            arrivals.append(trio.current_time() - start)
        assert arrivals[-1] == pytest.approx(5.0)


async def test_close_after_truncates_body() -> None:
    async with FakeServer() as server:
        server.enqueue(
            FakeResponse.sse([{"a": 1}, {"b": 2}], close_after=1),
            FakeResponse.json({"x": 1}, close_after=0),
        )
        for _ in range(2):
            client = Client(await server.connect())
            with pytest.raises(h11.RemoteProtocolError):
                await client.request("POST", "/", {})
        assert server.active_connections == 0


async def test_keep_alive_false_closes() -> None:
    async with FakeServer() as server:
        server.enqueue(FakeResponse.json({"bye": True}, keep_alive=False))
        stream = await server.connect()
        await stream.send_all(http_request(b"{}"))
        raw = await read_to_eof(stream)
        reply = parse_response(raw)
        assert reply.headers["connection"] == "close"
        assert reply.json() == {"bye": True}


async def test_raw_bytes_then_close() -> None:
    garbage = [b"HTTP/1.1 200 OK\r\nContent-Len", b"gth: nope\r\n\r\n"]
    async with FakeServer() as server:
        server.enqueue(FakeResponse.raw(garbage))
        stream = await server.connect()
        await stream.send_all(http_request(b"{}"))
        assert await read_to_eof(stream) == b"".join(garbage)


async def test_raw_keep_open_serves_next_request() -> None:
    async with FakeServer() as server:
        canned = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        server.enqueue(FakeResponse.raw([canned], close=False))
        client = Client(await server.connect())
        assert (await client.request("GET", "/first")).body == b"ok"
        second = await client.request("POST", "/v1/chat/completions", chat_body())
        assert second.json()["choices"][0]["message"]["content"] == FAKE_REPLY
        assert server.connections_opened == 1


async def test_raw_keep_open_with_pipelined_request() -> None:
    async with FakeServer() as server:
        server.enqueue(FakeResponse.raw([b"HTTP/1.1 204 No Content\r\n\r\n"], close=False))
        stream = await server.connect()
        one = b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"
        two = b"GET /v1/models/gpt-4o HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        await stream.send_all(one + two)
        raw = await read_to_eof(stream)
        first, _, rest = raw.partition(b"\r\n\r\n")
        assert first == b"HTTP/1.1 204 No Content"
        assert parse_response(rest).json()["id"] == "gpt-4o"


async def test_hanging_response_until_client_leaves(autojump_clock: trio.testing.MockClock) -> None:
    async with FakeServer() as server:
        server.enqueue(FakeResponse.hanging())
        stream = await server.connect()
        await stream.send_all(http_request(b"{}"))
        with trio.move_on_after(100) as scope:
            await stream.receive_some()
        assert scope.cancelled_caught
        assert server.active_connections == 1
        await stream.aclose()
        await trio.testing.wait_all_tasks_blocked()
        assert server.active_connections == 0


async def test_infinite_delay_and_exit_cancels_everything(autojump_clock: trio.testing.MockClock) -> None:
    async with FakeServer() as server:
        server.enqueue(FakeResponse.json({}, headers_delay=float("inf")))
        port = await server.serve_tcp()
        stream = await server.connect()
        await stream.send_all(http_request(b"{}"))
        tcp = await trio.open_tcp_stream("127.0.0.1", port)
        await trio.testing.wait_all_tasks_blocked()
        assert server.active_connections == 2
    # Leaving the block closed both connections without waiting for them.
    assert await stream.receive_some() == b""
    assert await tcp.receive_some() == b""
    await tcp.aclose()


async def test_client_disconnect_mid_stream(autojump_clock: trio.testing.MockClock) -> None:
    async with FakeServer() as server:
        server.enqueue(FakeResponse.sse([{"i": i} for i in range(50)], delay=0.1))
        stream = await server.connect()
        await stream.send_all(http_request(b"{}"))
        await stream.receive_some()
        await stream.aclose()
        await trio.sleep(1)
        assert server.active_connections == 0
        assert server.handler_errors == []
        # The server is still fine for the next client.
        assert (await call(server, "GET", "/v1/models")).status == 200


async def test_not_running_errors() -> None:
    server = FakeServer()
    with pytest.raises(RuntimeError):
        await server.connect()
    with pytest.raises(RuntimeError):
        _ = server.base_url
    async with server:
        with pytest.raises(RuntimeError):
            await server.__aenter__()
    assert "not listening" in repr(server)


# -- malformed and oversize requests -----------------------------------------------


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nbad header\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000, 431),
    ],
)
async def test_malformed_request_gets_error_and_close(raw: bytes, status: int) -> None:
    async with FakeServer() as server:
        stream = await server.connect()
        await stream.send_all(raw)
        reply = parse_response(await read_to_eof(stream))
        assert reply.status == status
        assert reply.headers["connection"] == "close"
        assert "error" in reply.json()
        assert server.requests == []


async def test_body_over_limit_is_413() -> None:
    async with FakeServer(max_body_size=100) as server:
        stream = await server.connect()
        await stream.send_all(http_request(b"x" * 101))
        assert parse_response(await read_to_eof(stream)).status == 413
        stream = await server.connect()
        body = b"x" * 200
        chunked = (
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        )
        await stream.send_all(chunked)
        assert parse_response(await read_to_eof(stream)).status == 413


async def test_client_gone_mid_request_and_before_any() -> None:
    async with FakeServer() as server:
        stream = await server.connect()
        await stream.send_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        await stream.aclose()
        quiet = await server.connect()
        await quiet.aclose()
        await trio.testing.wait_all_tasks_blocked()
        assert server.active_connections == 0
        assert server.requests == []


async def test_expect_100_continue() -> None:
    async with FakeServer() as server:
        stream = await server.connect()
        body = json.dumps(chat_body()).encode()
        await stream.send_all(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        interim = await stream.receive_some()
        assert interim.startswith(b"HTTP/1.1 100 ")
        await stream.send_all(body)
        reply = parse_response(await read_to_eof(stream))
        assert reply.json()["choices"][0]["message"]["content"] == FAKE_REPLY


def _serve_pieces(pieces: list[bytes]) -> tuple[Reply, list[ReceivedRequest]]:
    async def main() -> tuple[Reply, list[ReceivedRequest]]:
        async with FakeServer() as server:
            stream = await server.connect()
            for piece in pieces:
                await stream.send_all(piece)
            return parse_response(await read_to_eof(stream)), server.requests

    return trio.run(main)


_REQUEST = http_request(
    json.dumps(chat_body(stream=True)).encode(),
    extra=b"Authorization: Bearer sk-secret\r\nConnection: close\r\n",
)


def _check_served(reply: Reply, requests: list[ReceivedRequest]) -> None:
    assert reply.status == 200
    data = reply.sse_data()
    assert data[-1] == "[DONE]"
    (request,) = requests
    assert request.json() == chat_body(stream=True)
    assert request.headers["authorization"] == "Bearer sk-secret"


def test_request_whole_and_byte_by_byte() -> None:
    _check_served(*_serve_pieces([_REQUEST]))
    _check_served(*_serve_pieces([_REQUEST[i : i + 1] for i in range(len(_REQUEST))]))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(_REQUEST)), max_size=8))
def test_request_random_splits(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(_REQUEST)]
    pieces = [_REQUEST[a:b] for a, b in itertools.pairwise(points) if b > a]
    _check_served(*_serve_pieces(pieces))


def test_received_request_repr_hides_secrets() -> None:
    _, requests = _serve_pieces([_REQUEST])
    text = repr(requests[0])
    assert "sk-secret" not in text
    assert "<redacted>" in text
    assert "bytes>" in text


# -- real sockets on loopback ------------------------------------------------------


async def test_connect_fits_a_client_connector() -> None:
    async with FakeServer() as server:
        connector: Callable[[Origin], Awaitable[trio.abc.Stream]] = server.connect
        client = Client(await connector(Origin("https", "api.example", 443)))
        first = await client.request("GET", "/v1/models")
        second = await client.request("GET", "/v1/models/gpt-4o")
        assert (first.status, second.json()["id"]) == (200, "gpt-4o")
        assert server.connections_opened == server.active_connections == 1


async def test_serve_tcp_keep_alive() -> None:
    async with FakeServer() as server:
        port = await server.serve_tcp()
        assert server.base_url == f"http://127.0.0.1:{port}/v1"
        assert str(port) in repr(server)
        client = Client(await trio.open_tcp_stream("127.0.0.1", port))
        for _ in range(3):
            reply = await client.request("POST", "/v1/chat/completions", chat_body())
            assert reply.json()["choices"][0]["message"]["content"] == FAKE_REPLY
        assert server.connections_opened == 1
        assert {r.connection for r in server.requests} == {1}
        await client.stream.aclose()


def test_run_in_thread_with_blocking_socket() -> None:
    server = FakeServer()
    server.enqueue(FakeResponse.error(418, "teapot"))
    with run_fake_server_in_thread(server) as base_url:
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        port = int(base_url.rsplit(":", 1)[1].split("/")[0])
        for expected in (418, 200):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                raw = b""
                while chunk := sock.recv(65536):
                    raw += chunk
            assert parse_response(raw).status == expected
    assert len(server.requests) == 2
    # Stopped: nothing listens there any more.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_run_in_thread_reports_startup_failure() -> None:
    with pytest.raises(RuntimeError, match="failed to start"), run_fake_server_in_thread(
        host="256.0.0.1"
    ):
        pass


async def test_scripted_content_length_mismatch_truncates() -> None:
    async with FakeServer() as server:
        server.enqueue(
            FakeResponse(headers={"content-length": "100"}, body=[b'{"short":', b"1}"]),
            FakeResponse(headers={"content-length": "2"}, body=[b"toolong"]),
        )
        for expected_body in (b'{"short":1}', b""):
            stream = await server.connect()
            await stream.send_all(http_request(b"{}"))
            raw = await read_to_eof(stream)
            assert raw.endswith(b"\r\n\r\n" + expected_body)
        assert [type(e).__name__ for e in server.handler_errors] == ["LocalProtocolError"] * 2


async def test_raw_pieces_with_delay(autojump_clock: trio.testing.MockClock) -> None:
    async with FakeServer() as server:
        server.enqueue(FakeResponse.raw([b"HTTP/1.1 200 OK\r\n", b"Content-Length: 0\r\n\r\n"], delay=3))
        stream = await server.connect()
        start = trio.current_time()
        await stream.send_all(http_request(b"{}"))
        assert await read_to_eof(stream) == b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
        assert trio.current_time() - start == pytest.approx(3.0)
