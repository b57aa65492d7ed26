"""Per-call ``extra_headers``, ``extra_query``, ``extra_body``, ``timeout``
and ``max_retries`` reach the wire (as the fake server recorded it) through
every API method; idempotency keys and attempt numbers across retries."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable

import pytest
import trio
import trio.testing

import openai_trio
from openai_trio import AsyncStream, Client, PoolStats, Timeout
from openai_trio.testing import FakeResponse, FakeServer

KEY = "sk-test-options"
MESSAGES = [{"role": "user", "content": "Hello"}]

Method = Callable[..., Awaitable[Any]]


@asynccontextmanager
async def fake_client(**kwargs: Any) -> AsyncIterator[tuple[FakeServer, Client]]:
    async with FakeServer() as server:
        kwargs.setdefault("api_key", KEY)
        kwargs.setdefault("base_url", "http://fake.test/v1")
        async with Client(connector=server.connect, **kwargs) as client:
            yield server, client


# name -> (HTTP method, path, a call taking the per-call options as **kwargs)
METHODS: dict[str, tuple[str, str, Callable[[Client], Method]]] = {
    "chat.create": (
        "POST",
        "/v1/chat/completions",
        lambda c: lambda **kw: c.chat.completions.create(model="m", messages=MESSAGES, **kw),
    ),
    "chat.create-stream": (
        "POST",
        "/v1/chat/completions",
        lambda c: lambda **kw: c.chat.completions.create(model="m", messages=MESSAGES, stream=True, **kw),
    ),
    "completions.create": (
        "POST",
        "/v1/completions",
        lambda c: lambda **kw: c.completions.create(model="m", prompt="Say", **kw),
    ),
    "responses.create": (
        "POST",
        "/v1/responses",
        lambda c: lambda **kw: c.responses.create(model="m", input="hi", **kw),
    ),
    "responses.create-stream": (
        "POST",
        "/v1/responses",
        lambda c: lambda **kw: c.responses.create(model="m", input="hi", stream=True, **kw),
    ),
    "responses.retrieve": (
        "GET",
        "/v1/responses/resp_1",
        lambda c: lambda **kw: c.responses.retrieve("resp_1", **kw),
    ),
    "responses.delete": (
        "DELETE",
        "/v1/responses/resp_1",
        lambda c: lambda **kw: c.responses.delete("resp_1", **kw),
    ),
    "responses.cancel": (
        "POST",
        "/v1/responses/resp_1/cancel",
        lambda c: lambda **kw: c.responses.cancel("resp_1", **kw),
    ),
    "input_items.list": (
        "GET",
        "/v1/responses/resp_1/input_items",
        lambda c: lambda **kw: c.responses.input_items.list("resp_1", **kw),
    ),
    "embeddings.create": (
        "POST",
        "/v1/embeddings",
        lambda c: lambda **kw: c.embeddings.create(model="m", input="x", **kw),
    ),
    "models.list": ("GET", "/v1/models", lambda c: lambda **kw: c.models.list(**kw)),
    "models.retrieve": ("GET", "/v1/models/m", lambda c: lambda **kw: c.models.retrieve("m", **kw)),
    "models.delete": ("DELETE", "/v1/models/m", lambda c: lambda **kw: c.models.delete("m", **kw)),
    "request": ("PATCH", "/v1/things", lambda c: lambda **kw: c.request("PATCH", "/things", body={}, **kw)),
}
IDS = list(METHODS)
CASES = list(METHODS.values())


async def settle(result: Any) -> None:
    if isinstance(result, AsyncStream):
        async with result:
            async for _item in result:
                pass


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_extra_headers_query_body_reach_the_wire(case: tuple[str, str, Callable[[Client], Method]]) -> None:
    http_method, path, bind = case
    async with fake_client(
        default_headers={"x-default": "1", "x-keep": "k"}, default_query={"api-version": "v"}
    ) as (server, client):
        try:
            await settle(
                await bind(client)(
                    extra_headers={"x-probe": "yes", "x-default": None, "openai-beta": "b=1"},
                    extra_query={"probe": "q", "api-version": "w"},
                    extra_body={"probe_field": [1, 2]},
                )
            )
        except openai_trio.APIStatusError:
            pass  # the fake may not know the object: only the request matters
        request = server.requests[0]
        assert request.method == http_method
        assert request.path == path
        assert request.headers["x-probe"] == "yes"
        assert request.headers["openai-beta"] == "b=1"
        assert request.headers["x-keep"] == "k"
        assert "x-default" not in request.headers
        assert request.headers["authorization"] == f"Bearer {KEY}"
        assert request.query["probe"] == ["q"]
        # extra_query overrides the client's default for the same name.
        assert request.query["api-version"] == ["w"]
        assert request.json()["probe_field"] == [1, 2]
        assert client.pool_stats().in_use == 0


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_per_call_max_retries_and_idempotency(
    case: tuple[str, str, Callable[[Client], Method]], autojump_clock: trio.testing.MockClock
) -> None:
    http_method, _path, bind = case
    async with fake_client(max_retries=0) as (server, client):
        # A 500, a hang-up on a fresh connection (a connection error), a 429
        # and a 503: four attempts, all failures, with max_retries=3.
        server.enqueue(
            FakeResponse.error(500, "boom", keep_alive=False),
            FakeResponse.raw([]),
            FakeResponse.error(429, "slow", headers={"retry-after-ms": "10"}),
            FakeResponse.error(503, "busy"),
        )
        with pytest.raises(openai_trio.InternalServerError):
            await bind(client)(max_retries=3)
        assert len(server.requests) == 4
        assert [r.headers["x-retry-count"] for r in server.requests] == ["0", "1", "2", "3"]
        keys = [r.headers.get("idempotency-key") for r in server.requests]
        if http_method == "GET":
            assert keys == [None] * 4
        else:
            assert keys[0] is not None and keys[0].startswith("openai-trio-")
            assert len(set(keys)) == 1
        # The client's own max_retries=0 still holds for the next call.
        server.enqueue(FakeResponse.error(500, "boom"))
        with pytest.raises(openai_trio.InternalServerError):
            await bind(client)()
        assert len(server.requests) == 5
        # A new logical call gets a new key.
        if http_method != "GET":
            assert server.requests[4].headers["idempotency-key"] != keys[0]
        assert client.pool_stats().in_use == 0


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_per_call_timeout(
    case: tuple[str, str, Callable[[Client], Method]], autojump_clock: trio.testing.MockClock
) -> None:
    _http_method, _path, bind = case
    async with fake_client(max_retries=0, timeout=Timeout(read=100.0, total=1000.0)) as (server, client):
        server.enqueue(FakeResponse.hanging())
        start = trio.current_time()
        with pytest.raises(openai_trio.APITimeoutError) as info:
            await bind(client)(timeout=Timeout(read=1.5))
        assert info.value.limit == "read"
        assert info.value.seconds == 1.5
        assert trio.current_time() - start == pytest.approx(1.5)
        assert len(server.requests) == 1
        assert info.value.request is not None
        assert info.value.request.target == server.requests[0].target
        assert client.pool_stats() == PoolStats()
        # And the client's own limit comes back for the next call.
        server.enqueue(FakeResponse.hanging())
        start = trio.current_time()
        with pytest.raises(openai_trio.APITimeoutError) as info:
            await bind(client)()
        assert info.value.seconds == 100.0
        assert trio.current_time() - start == pytest.approx(100.0)


async def test_stale_resend_keeps_key_and_attempt_number(autojump_clock: trio.testing.MockClock) -> None:
    async with fake_client(max_retries=2) as (server, client):
        await client.models.list()
        # The reused connection is found closed after the request went out:
        # the server may have read it, so it goes again on a fresh
        # connection as a counted retry with the same key.
        server.enqueue(FakeResponse.raw([]), FakeResponse.error(500, "boom"))
        await client.chat.completions.create(model="m", messages=MESSAGES)
        posts = server.requests[1:]
        assert [r.connection for r in posts] == [1, 2, 2]
        assert [r.headers["x-retry-count"] for r in posts] == ["0", "1", "2"]
        assert len({r.headers["idempotency-key"] for r in posts}) == 1


async def test_extra_headers_can_set_idempotency_key_and_drop_retry_count(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with fake_client() as (server, client):
        server.enqueue(FakeResponse.error(500, "boom"))
        await client.chat.completions.create(
            model="m", messages=MESSAGES, extra_headers={"idempotency-key": "mine", "x-retry-count": None}
        )
        assert [r.headers["idempotency-key"] for r in server.requests] == ["mine", "mine"]
        assert all("x-retry-count" not in r.headers for r in server.requests)
