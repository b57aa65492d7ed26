"""Behaviour shared with the official SDK: ``_request_id`` on results,
``Response.output_text``, paginators that are both awaitable and
async-iterable, and ``with_raw_response``."""

from __future__ import annotations

import gc
import json
import warnings
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import openai_trio
from openai_sansio.types import BetaResponse, ChatCompletion, Model, Response
from openai_trio import AsyncPaginator, Client, RawResponse
from openai_trio.testing import FAKE_REPLY, FakeResponse, FakeServer

KEY = "sk-test-parity-0123456789"
MESSAGES = [{"role": "user", "content": "Hello"}]

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
    ],
}


@asynccontextmanager
async def fake_client(**kwargs: Any) -> AsyncIterator[tuple[FakeServer, Client]]:
    async with FakeServer() as server:
        kwargs.setdefault("api_key", KEY)
        kwargs.setdefault("base_url", "http://fake.test/v1")
        async with Client(connector=server.connect, **kwargs) as client:
            yield server, client


def _item_page(ids: list[str], has_more: bool) -> FakeResponse:
    data = [{"id": i, "type": "message", "role": "user", "content": []} for i in ids]
    return FakeResponse.json(
        {"object": "list", "data": data, "first_id": ids[0], "last_id": ids[-1], "has_more": has_more},
        headers={"x-request-id": f"req_{ids[0]}"},
    )


def _head_without_request_id(body: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


# -- _request_id ------------------------------------------------------------------


async def test_request_id_on_models() -> None:
    async with fake_client() as (server, client):
        server.enqueue(FakeResponse.json(COMPLETION, headers={"x-request-id": "req_chat_1"}))
        completion = await client.chat.completions.create(model="m", messages=MESSAGES)
        assert completion._request_id == "req_chat_1"
        # Bookkeeping, not payload: equality, repr and to_dict ignore it.
        same = ChatCompletion.from_dict(COMPLETION)
        assert same._request_id is None
        assert completion == same
        assert "req_chat_1" not in repr(completion)
        assert completion.to_dict() == COMPLETION
        assert "_request_id" not in completion.extra
        # Only the top-level result carries it.
        assert completion.choices[0]._request_id is None

        # The fake server's own ids reach other resources too.
        embedding = await client.embeddings.create(model="e", input="x")
        assert embedding._request_id is not None
        assert embedding._request_id.startswith("req_")
        model = await client.models.retrieve("gpt-4o")
        assert model._request_id is not None and model._request_id != embedding._request_id
        response = await client.responses.create(model="gpt-4o-mini", input="hi")
        assert response._request_id is not None
        assert response._request_id not in (model._request_id, embedding._request_id)


@pytest.mark.parametrize("split", ["whole", "bytewise"])
async def test_request_id_absent_is_none(split: str) -> None:
    wire = _head_without_request_id(json.dumps(COMPLETION).encode())
    pieces = [wire] if split == "whole" else [wire[i : i + 1] for i in range(len(wire))]
    async with fake_client() as (server, client):
        server.enqueue(FakeResponse.raw(pieces, close=False))
        completion = await client.chat.completions.create(model="m", messages=MESSAGES)
        assert completion.id == "chatcmpl-1"
        assert completion._request_id is None


@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=8))
def test_request_id_survives_any_split(cuts: list[int]) -> None:
    import trio

    body = json.dumps(COMPLETION).encode()
    wire = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-request-id: req_split\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    points = sorted({c % len(wire) for c in cuts} - {0})
    pieces = [wire[a:b] for a, b in zip([0, *points], [*points, len(wire)], strict=True)]

    async def main() -> None:
        async with fake_client() as (server, client):
            server.enqueue(FakeResponse.raw(pieces, close=False))
            completion = await client.chat.completions.create(model="m", messages=MESSAGES)
            assert completion._request_id == "req_split"

    trio.run(main)


async def test_request_id_on_pages_and_streams() -> None:
    async with fake_client() as (server, client):
        server.enqueue(_item_page(["a"], True), _item_page(["b"], False))
        page = await client.responses.input_items.list("resp_1")
        assert page._request_id == "req_a"
        nxt = await page.get_next_page()
        assert nxt._request_id == "req_b"

        models = await client.models.list()
        assert models._request_id is not None

        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            assert stream._request_id == stream.request_id
            assert stream._request_id == stream.headers["x-request-id"]
            async for _ in stream:
                pass


async def test_generic_request_leaves_plain_results_alone() -> None:
    async with fake_client() as (_server, client):
        data = await client.request("GET", "/models")
        assert isinstance(data, dict)
        assert "_request_id" not in data


# -- Response.output_text ---------------------------------------------------------


def _message(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message", "id": "msg", "role": "assistant", "status": "completed", "content": list(parts)}


def _text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": []}


def test_output_text_joins_message_text_in_order() -> None:
    payload = {
        "id": "resp_1",
        "output": [
            {"type": "reasoning", "id": "rs", "summary": []},
            _message(_text("Hello"), {"type": "refusal", "refusal": "no"}, _text(", ")),
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
            _message(_text("world")),
            {"type": "some_future_item", "content": [_text("hidden")]},
        ],
    }
    assert Response.from_dict(payload).output_text == "Hello, world"
    assert BetaResponse.from_dict(payload).output_text == "Hello, world"


def test_output_text_empty_and_lenient() -> None:
    assert Response.from_dict({"id": "r", "output": []}).output_text == ""
    # Fields the spec requires but a server left out never break it.
    assert Response.from_dict({"id": "r"}).output_text == ""
    sparse = {"output": [{"type": "message"}, _message({"type": "output_text"}), _message(_text("x"))]}
    assert Response.from_dict(sparse).output_text == "x"
    # A server that sends the SDK-only key does not override the computed value.
    sent = Response.from_dict({"output": [_message(_text("real"))], "output_text": "stale"})
    assert sent.output_text == "real"
    assert sent.extra == {"output_text": "stale"}
    with pytest.raises(AttributeError):
        sent.output_text = "x"  # type: ignore[misc]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.lists(st.one_of(st.text(max_size=5), st.none()), max_size=4).map(lambda ts: ("message", ts)),
            st.sampled_from(["reasoning", "function_call", "web_search_call"]).map(lambda t: (t, [])),
        ),
        max_size=6,
    )
)
def test_output_text_matches_a_simple_model(items: list[tuple[str, list[str | None]]]) -> None:
    output: list[dict[str, Any]] = []
    expected = ""
    for kind, texts in items:
        if kind != "message":
            output.append({"type": kind, "id": "x"})
            continue
        parts = []
        for t in texts:
            if t is None:
                parts.append({"type": "refusal", "refusal": "nope"})
            else:
                parts.append(_text(t))
                expected += t
        output.append(_message(*parts))
    assert Response.from_dict({"output": output}).output_text == expected


async def test_output_text_from_the_api() -> None:
    async with fake_client() as (_server, client):
        response = await client.responses.create(model="gpt-4o-mini", input="Say hi")
        assert response.output_text == FAKE_REPLY


# -- paginators ---------------------------------------------------------------------


async def test_list_is_awaitable_and_async_iterable() -> None:
    async with fake_client() as (server, client):
        paginator = client.models.list()
        assert isinstance(paginator, AsyncPaginator)
        assert "Paginator" in repr(paginator)
        page = await paginator
        ids = [m.id for m in page]
        assert ids
        assert len(server.requests) == 1
        # No await: every item, with one request of its own.
        walked = [m async for m in client.models.list()]
        assert [m.id for m in walked] == ids
        assert all(isinstance(m, Model) for m in walked)
        assert len(server.requests) == 2
        # Each await of the same paginator asks again.
        again = await paginator
        assert [m.id for m in again] == ids
        assert len(server.requests) == 3


async def test_async_for_over_list_walks_cursor_pages() -> None:
    async with fake_client() as (server, client):
        server.enqueue(_item_page(["a", "b"], True), _item_page(["c"], True), _item_page(["d"], False))
        seen = [getattr(item, "id", None) async for item in client.responses.input_items.list("r", limit=2)]
        assert seen == ["a", "b", "c", "d"]
        assert [r.query.get("after") for r in server.requests] == [None, ["b"], ["c"]]
        assert all(r.query["limit"] == ["2"] for r in server.requests)
        assert client.pool_stats().in_use == 0


async def test_breaking_out_of_a_list_holds_nothing() -> None:
    async with fake_client() as (server, client):
        server.enqueue(_item_page(["a", "b"], True), _item_page(["c"], False))
        async for item in client.responses.input_items.list("r"):
            assert getattr(item, "id", None) == "a"
            break
        assert len(server.requests) == 1
        assert client.pool_stats().in_use == 0


async def test_errors_reach_the_async_for() -> None:
    async with fake_client() as (server, client):
        server.enqueue(FakeResponse.error(404, "no such response"))
        with pytest.raises(openai_trio.NotFoundError):
            async for _ in client.responses.input_items.list("missing", max_retries=0):
                pass
        server.enqueue(_item_page(["a"], True), FakeResponse.error(400, "bad cursor"))
        seen = []
        with pytest.raises(openai_trio.BadRequestError):
            async for item in client.responses.input_items.list("r"):
                seen.append(getattr(item, "id", None))
        assert seen == ["a"]


async def test_unused_paginator_sends_nothing_and_warns_nothing() -> None:
    async with fake_client() as (server, client):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            paginator = client.models.list()
            iterator = client.responses.input_items.list("r").__aiter__()
            del paginator, iterator
            gc.collect()
        assert [str(w.message) for w in caught] == []
        assert server.requests == []


async def test_list_validates_arguments_eagerly() -> None:
    async with fake_client() as (server, client):
        with pytest.raises(openai_trio.LocalProtocolError):
            client.responses.input_items.list("")
        assert server.requests == []


# -- with_raw_response ------------------------------------------------------------------


async def test_raw_response_of_create() -> None:
    async with fake_client() as (server, client):
        server.enqueue(FakeResponse.json(COMPLETION, headers={"x-request-id": "req_raw"}))
        raw = await client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
        assert isinstance(raw, RawResponse)
        assert raw.status_code == 200
        assert raw.headers["x-request-id"] == "req_raw"
        assert raw.request_id == "req_raw"
        assert raw.http_request.method == "POST" == raw.method
        assert raw.url.startswith("http://fake.test")
        assert raw.url.endswith("/v1/chat/completions")
        assert raw.retries_taken == 0
        assert raw.json() == COMPLETION
        assert json.loads(raw.text) == COMPLETION
        assert raw.content == json.dumps(COMPLETION, separators=(",", ":")).encode()
        completion = raw.parse()
        assert isinstance(completion, ChatCompletion)
        assert completion.choices[0].message.content == "hi"
        assert completion._request_id == "req_raw"
        assert KEY not in repr(raw) and KEY not in repr(raw.http_request)
        assert "200" in repr(raw)


async def test_raw_response_counts_retries() -> None:
    async with fake_client() as (server, client):
        server.enqueue(FakeResponse.error(500, "boom"), FakeResponse.json(COMPLETION))
        raw = await client.chat.completions.with_raw_response.create(
            model="m", messages=MESSAGES, max_retries=1
        )
        assert raw.retries_taken == 1
        assert raw.parse().id == "chatcmpl-1"


async def test_raw_response_of_a_stream() -> None:
    async with fake_client() as (_server, client):
        raw = await client.chat.completions.with_raw_response.create(
            model="m", messages=MESSAGES, stream=True
        )
        assert raw.status_code == 200
        assert raw.headers["content-type"].startswith("text/event-stream")
        assert raw.content == b""
        async with raw.parse() as stream:
            assert isinstance(stream, openai_trio.AsyncStream)
            text = "".join([piece async for piece in stream.text_deltas()])
        assert text == FAKE_REPLY
        assert client.pool_stats().in_use == 0


async def test_raw_response_of_lists_and_empty_bodies() -> None:
    async with fake_client() as (server, client):
        raw = await client.models.with_raw_response.list()
        assert isinstance(raw, RawResponse)
        page = raw.parse()
        assert isinstance(page, openai_trio.AsyncPage)
        assert page._request_id == raw.request_id
        assert [m.id for m in page]

        server.enqueue(_item_page(["a"], True), _item_page(["b"], False))
        raw_items = await client.responses.input_items.with_raw_response.list("r")
        first = raw_items.parse()
        # The next page is a plain page again.
        nxt = await first.get_next_page()
        assert isinstance(nxt, openai_trio.AsyncCursorPage)
        assert [getattr(i, "id", None) for i in nxt] == ["b"]

        response = await client.responses.create(model="gpt-4o-mini", input="hi", store=True)
        deleted = await client.responses.with_raw_response.delete(response.id)
        assert deleted.status_code == 200
        assert deleted.parse() is None


Method = Callable[[Any], Awaitable[Any]]


async def _raw_input_items(client: Client) -> Any:
    stored = await client.responses.create(model="m", input="x", store=True)
    return await client.with_raw_response.responses.input_items.list(stored.id)

# One call of every resource method through ``with_raw_response``.
RAW_CALLS: dict[str, Method] = {
    "chat.completions.create": lambda c: c.chat.completions.with_raw_response.create(
        model="m", messages=MESSAGES
    ),
    "chat.with_raw_response.completions.create": lambda c: c.chat.with_raw_response.completions.create(
        model="m", messages=MESSAGES
    ),
    "client.with_raw_response.chat.completions.create": (
        lambda c: c.with_raw_response.chat.completions.create(model="m", messages=MESSAGES)
    ),
    "client.with_raw_response.completions.create": (
        lambda c: c.with_raw_response.completions.create(model="m", prompt="x")
    ),
    "client.with_raw_response.responses.input_items.list": lambda c: _raw_input_items(c),
    "client.with_raw_response.embeddings.create": (
        lambda c: c.with_raw_response.embeddings.create(model="e", input="x")
    ),
    "client.with_raw_response.models.list": lambda c: c.with_raw_response.models.list(),
    "completions.create": lambda c: c.completions.with_raw_response.create(model="m", prompt="x"),
    "responses.create": lambda c: c.responses.with_raw_response.create(model="m", input="x"),
    "embeddings.create": lambda c: c.embeddings.with_raw_response.create(model="e", input="x"),
    "models.list": lambda c: c.models.with_raw_response.list(),
    "models.retrieve": lambda c: c.models.with_raw_response.retrieve("gpt-4o"),
}


@pytest.mark.parametrize("call", list(RAW_CALLS.values()), ids=list(RAW_CALLS))
async def test_every_method_has_a_raw_form(call: Method) -> None:
    async with fake_client() as (server, client):
        raw = await call(client)
        assert isinstance(raw, RawResponse)
        assert raw.status_code == 200
        assert raw.request_id == raw.headers["x-request-id"]
        assert raw.http_request.url.endswith(server.last_request.path)
        parsed = raw.parse()
        assert not isinstance(parsed, RawResponse)
        assert parsed._request_id == raw.request_id


async def test_raw_view_is_cached_and_errors_still_raise() -> None:
    async with fake_client() as (server, client):
        view = client.models.with_raw_response
        assert view is client.models.with_raw_response
        assert view.with_raw_response is view
        server.enqueue(FakeResponse.error(404, "gone"))
        with pytest.raises(openai_trio.NotFoundError):
            await view.retrieve("nope")
        # The plain namespace is unchanged.
        model = await client.models.retrieve("gpt-4o")
        assert isinstance(model, Model)
