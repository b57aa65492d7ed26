"""``client.get/post/put/patch/delete``: any endpoint, any result shape,
JSON, multipart and raw bodies, streams, and the SDK's ``options``."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import pytest
import trio
import trio.testing

import openai_trio
from openai_sansio.types import ChatCompletionChunk, Model
from openai_trio import (
    AsyncStream,
    AzureClient,
    Client,
    LocalProtocolError,
    RawResponse,
    RequestOptions,
)
from openai_trio._binary import BinaryResponse
from openai_trio.testing import FakeResponse, FakeServer, ReceivedRequest

KEY = "sk-escape-SECRET"
MESSAGES = [{"role": "user", "content": "Hello"}]


@asynccontextmanager
async def fake_client(**kwargs: Any) -> AsyncIterator[tuple[FakeServer, Client]]:
    async with FakeServer() as server:
        kwargs.setdefault("api_key", KEY)
        kwargs.setdefault("base_url", "http://fake.test/v1")
        async with Client(connector=server.connect, **kwargs) as client:
            yield server, client


def echo(request: ReceivedRequest) -> FakeResponse:
    return FakeResponse.json(
        {
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "body": request.json() if request.body else None,
        }
    )


# -- results ---------------------------------------------------------------------


async def test_get_json_with_query_and_sdk_options() -> None:
    async with fake_client() as (server, client):
        server.route("GET", "/v1/things/{id}", echo)
        result = await client.get(
            "/things/t1",
            cast_to=dict,
            query={"limit": 2},
            options={"headers": {"X-Custom": "yes"}, "params": {"order": "asc"}},
        )
        assert result == {
            "method": "GET",
            "path": "/v1/things/t1",
            "query": {"limit": ["2"], "order": ["asc"]},
            "body": None,
        }
        request = server.last_request
        assert request.headers["x-custom"] == "yes"
        assert request.headers["authorization"] == f"Bearer {KEY}"
        assert "idempotency-key" not in request.headers
        # The default cast_to is "whatever JSON came back".
        assert (await client.get("/things/t2"))["path"] == "/v1/things/t2"


async def test_cast_to_a_model_class() -> None:
    async with fake_client() as (_server, client):
        model = await client.get("/models/gpt-4o", cast_to=Model)
        assert isinstance(model, Model)
        assert model.id == "gpt-4o"
        assert model._request_id is not None


async def test_cast_to_a_function_and_typed_containers() -> None:
    async with fake_client() as (server, client):
        server.route("GET", "/v1/list", FakeResponse.json([1, 2, 3]))
        assert await client.get("/list", cast_to=list) == [1, 2, 3]
        assert await client.get("/list", cast_to=list[int]) == [1, 2, 3]
        assert await client.get("/list", cast_to=sum) == 6
        with pytest.raises(openai_trio.APIResponseValidationError, match="shape"):
            await client.get("/list", cast_to=dict)
        server.route("GET", "/v1/obj", FakeResponse.json({"a": 1}))
        assert await client.get("/obj", cast_to=dict[str, int]) == {"a": 1}
        with pytest.raises(openai_trio.APIResponseValidationError):
            await client.get("/obj", cast_to=list)


async def test_raw_bodies() -> None:
    payload = bytes(range(256)) * 4
    async with fake_client() as (server, client):
        server.route(
            "GET",
            "/v1/files/f1/content",
            FakeResponse(body=(payload,), content_type="application/octet-stream"),
        )
        assert await client.get("/files/f1/content", cast_to=bytes) == payload
        binary = await client.get("/files/f1/content", cast_to=BinaryResponse)
        assert isinstance(binary, BinaryResponse) and binary.read() == payload
        raw = await client.get("/files/f1/content", cast_to=RawResponse)
        assert isinstance(raw, RawResponse)
        assert raw.status_code == 200
        assert raw.headers["content-type"] == "application/octet-stream"
        assert raw.content == payload
        assert raw.http_request.method == "GET"
        server.route("GET", "/v1/page", FakeResponse.text("héllo"))
        assert await client.get("/page", cast_to=str) == "héllo"
        raw_json = await client.get("/models", cast_to=RawResponse[Any])
        assert raw_json.json()["object"] == "list"


async def test_cast_to_none() -> None:
    async with fake_client() as (server, client):
        server.route("DELETE", "/v1/things/{id}", FakeResponse(body=(), content_type=None))
        assert await client.delete("/things/t1", cast_to=None) is None
        assert server.last_request.method == "DELETE"
        server.route("POST", "/v1/ping", FakeResponse.json({"ignored": True}))
        assert await client.post("/ping", cast_to=type(None)) is None


# -- bodies ------------------------------------------------------------------------


async def test_post_json_body_and_options() -> None:
    async with fake_client() as (server, client):
        server.route("POST", "/v1/things", echo)
        result = await client.post(
            "/things",
            cast_to=dict,
            body={"name": "a"},
            options={"extra_json": {"more": 1}, "idempotency_key": "my-key", "max_retries": 0},
            extra_headers={"X-One": "1"},
        )
        assert result["body"] == {"name": "a", "more": 1}
        request = server.last_request
        assert request.headers["idempotency-key"] == "my-key"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["x-one"] == "1"
        # Without one, a POST still gets its own key, as every call does.
        await client.post("/things", body={})
        assert server.last_request.headers["idempotency-key"].startswith("openai-trio-")


async def test_request_options_object() -> None:
    async with fake_client() as (server, client):
        server.route("PATCH", "/v1/things/{id}", echo)
        options = RequestOptions(extra_headers={"x-a": "1"}, extra_query={"q": "v"}, extra_body={"b": 2})
        result = await client.patch("/things/t1", body={"a": 1}, options=options, extra_query={"r": "w"})
        assert result["method"] == "PATCH"
        assert result["body"] == {"a": 1, "b": 2}
        assert result["query"] == {"q": ["v"], "r": ["w"]}
        assert server.last_request.headers["x-a"] == "1"


async def test_put_and_delete_with_bodies() -> None:
    async with fake_client() as (server, client):
        server.route("PUT", "/v1/things/{id}", echo)
        server.route("DELETE", "/v1/things/{id}", echo)
        assert (await client.put("/things/t1", body={"x": 1}))["body"] == {"x": 1}
        assert (await client.delete("/things/t1", body={"y": 2}))["body"] == {"y": 2}
        assert (await client.delete("/things/t1"))["body"] is None


async def test_post_files_as_multipart(tmp_path: Any) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(b'{"prompt": "p"}\n')
    async with fake_client() as (server, client):
        server.route("POST", "/v1/uploads/parts", FakeResponse.json({"ok": True}))
        result = await client.post(
            "/uploads/parts",
            body={"purpose": "fine-tune"},
            files={"file": path, "extra": ("notes.txt", b"some notes", "text/plain")},
        )
        assert result == {"ok": True}
        request = server.last_request
        content_type = request.headers["content-type"]
        assert content_type.startswith("multipart/form-data; boundary=")
        boundary = content_type.split("boundary=")[1]
        body = request.body
        assert body.count(f"--{boundary}".encode()) == 4  # three parts and the closing line
        assert b'name="purpose"\r\n\r\nfine-tune\r\n' in body
        assert b'filename="train.jsonl"' in body and b'{"prompt": "p"}\n' in body
        assert b'filename="notes.txt"' in body and b"Content-Type: text/plain" in body


async def test_post_raw_content() -> None:
    offer = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"
    async with fake_client() as (server, client):
        server.route("POST", "/v1/realtime/calls", FakeResponse.text("v=0 answer", content_type="application/sdp"))
        answer = await client.post("/realtime/calls", content=offer, content_type="application/sdp", cast_to=str)
        assert answer == "v=0 answer"
        request = server.last_request
        assert request.body == offer
        assert request.headers["content-type"] == "application/sdp"


# -- streams -------------------------------------------------------------------------


async def test_stream_with_a_typed_stream_cls() -> None:
    async with fake_client() as (server, client):
        stream = await client.post(
            "/chat/completions",
            cast_to=dict,
            body={"model": "m", "messages": MESSAGES, "stream": True},
            stream=True,
            stream_cls=AsyncStream[ChatCompletionChunk],
        )
        assert isinstance(stream, AsyncStream)
        async with stream:
            chunks = [chunk async for chunk in stream]
        assert chunks and all(isinstance(c, ChatCompletionChunk) for c in chunks)
        assert server.last_request.headers["accept"] == "text/event-stream"


async def test_stream_of_dicts() -> None:
    async with fake_client() as (_server, client):
        stream = await client.post(
            "/chat/completions",
            cast_to=dict,
            body={"model": "m", "messages": MESSAGES, "stream": True},
            stream=True,
            stream_cls=AsyncStream,
        )
        async with stream:
            chunks = [chunk async for chunk in stream]
        assert chunks and all(isinstance(c, dict) and c["object"] == "chat.completion.chunk" for c in chunks)


# -- errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"options": {"follow_redirects": True}}, "unknown request option"),
        ({"options": ["headers"]}, "options must be"),
        ({"cast_to": 3}, "cast_to must be"),
        ({"cast_to": int}, "cast_to must be"),
        ({"stream_cls": AsyncStream}, "only used with stream=True"),
        ({"stream": True, "cast_to": bytes}, "decodes JSON events"),
        ({"stream": True, "stream_cls": list}, "stream_cls must be"),
        ({"stream": "yes"}, "stream must be a bool"),
        ({"files": {"f": b"x"}, "content": b"y"}, "files= or content="),
        ({"files": {"f": b"x"}, "body": {"f": "y"}}, "both body and files"),
        ({"files": [("f", b"x")]}, "files must be a mapping"),
        ({"files": {"f": b"x"}, "body": [("a", "b")]}, "body must be a mapping"),
        ({"body": {"a": 1}, "content": b"y"}, "body= or content="),
    ],
)
async def test_misuse_fails_before_any_byte_is_sent(kwargs: dict[str, Any], match: str) -> None:
    async with fake_client() as (server, client):
        with pytest.raises(LocalProtocolError, match=match):
            await client.post("/anything", **kwargs)
        assert server.requests == []


async def test_error_status_is_typed() -> None:
    async with fake_client(max_retries=0) as (server, client):
        server.route("GET", "/v1/missing", FakeResponse.error(404, "No such thing"))
        with pytest.raises(openai_trio.NotFoundError) as info:
            await client.get("/missing", cast_to=bytes)
        assert info.value.response.status_code == 404
        assert info.value.response.json()["error"]["message"] == "No such thing"


async def test_timeout_from_options(autojump_clock: trio.testing.MockClock) -> None:
    async with fake_client(max_retries=0) as (server, client):
        server.enqueue(FakeResponse.hanging())
        start = trio.current_time()
        with pytest.raises(openai_trio.APITimeoutError) as info:
            await client.get("/models", options={"timeout": 1.5})
        assert info.value.limit == "read" and info.value.seconds == 1.5
        assert trio.current_time() - start == pytest.approx(1.5)
        server.enqueue(FakeResponse.hanging())
        with pytest.raises(openai_trio.APITimeoutError) as info:
            # A keyword wins over the same option in the mapping.
            await client.get("/models", options={"timeout": 100.0}, timeout=2.5)
        assert info.value.seconds == 2.5


async def test_azure_routes_the_escape_hatch_too() -> None:
    async with FakeServer() as server:
        server.route("POST", "/openai/deployments/{d}/chat/completions", echo)
        server.route("GET", "/openai/models", echo)
        async with AzureClient(
            azure_endpoint="http://res.azure.test", api_version="2024-10-21", api_key=KEY, connector=server.connect
        ) as client:
            result = await client.post("/chat/completions", body={"model": "dep-1", "messages": MESSAGES})
            assert result["path"] == "/openai/deployments/dep-1/chat/completions"
            assert result["query"] == {"api-version": ["2024-10-21"]}
            assert (await client.get("/models"))["path"] == "/openai/models"
            assert server.last_request.headers["api-key"] == KEY

