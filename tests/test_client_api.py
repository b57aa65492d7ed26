"""The public API of ``openai_trio.Client`` against the fake server."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import pytest
import trio
import trio.testing

import openai_trio
from openai_trio import NOT_GIVEN, Client
from openai_trio.testing import FAKE_REPLY, FakeResponse, FakeServer

KEY = "sk-test-0123456789abcdef"
MESSAGES = [{"role": "user", "content": "Hello"}]


@asynccontextmanager
async def fake_client(**kwargs: Any) -> AsyncIterator[tuple[FakeServer, Client]]:
    async with FakeServer() as server:
        kwargs.setdefault("api_key", KEY)
        kwargs.setdefault("base_url", "http://fake.test/v1")
        async with Client(connector=server.connect, **kwargs) as client:
            yield server, client


async def test_chat_completion_non_stream() -> None:
    async with fake_client() as (server, client):
        completion = await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, temperature=0.5
        )
        assert completion.choices[0].message.content == FAKE_REPLY
        assert completion.model == "gpt-4o-mini"
        request = server.last_request
        assert request.method == "POST"
        assert request.path == "/v1/chat/completions"
        # Only the given keywords are sent.
        assert request.json() == {"model": "gpt-4o-mini", "messages": MESSAGES, "temperature": 0.5}
        assert request.headers["authorization"] == f"Bearer {KEY}"
        assert request.headers["idempotency-key"]
        assert request.headers["x-retry-count"] == "0"


async def test_none_is_sent_as_null_and_not_given_is_omitted() -> None:
    async with fake_client() as (server, client):
        await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=iter(MESSAGES),
            max_tokens=None,
            seed=NOT_GIVEN,
            stop=("a", "b"),
        )
        body = server.last_request.json()
        assert body["max_tokens"] is None
        assert "seed" not in body
        assert body["stop"] == ["a", "b"]
        assert body["messages"] == MESSAGES


async def test_chat_completion_stream() -> None:
    async with fake_client() as (server, client):
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        )
        async with stream:
            assert stream.status_code == 200
            assert stream.request_id is not None
            chunks = [chunk async for chunk in stream]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == FAKE_REPLY
        assert server.last_request.json()["stream"] is True
        assert server.last_request.headers["accept"] == "text/event-stream"
        assert client.pool_stats().in_use == 0


async def test_text_deltas() -> None:
    async with fake_client() as (_server, client):
        async with await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        ) as stream:
            pieces = [t async for t in stream.text_deltas()]
        assert "".join(pieces) == FAKE_REPLY
        async with await client.completions.create(
            model="gpt-4o-mini", prompt="Say hi", stream=True, max_tokens=1000
        ) as stream:
            pieces = [t async for t in stream.text_deltas()]
        assert "".join(pieces) == FAKE_REPLY
        async with await client.responses.create(
            model="gpt-4o-mini", input="Say hi", stream=True
        ) as stream:
            pieces = [t async for t in stream.text_deltas()]
        assert "".join(pieces) == FAKE_REPLY


async def test_completions() -> None:
    async with fake_client() as (server, client):
        completion = await client.completions.create(model="gpt-4o-mini", prompt="Say hi", max_tokens=5)
        assert completion.choices[0].text
        assert server.last_request.json() == {"model": "gpt-4o-mini", "prompt": "Say hi", "max_tokens": 5}
        async with await client.completions.create(
            model="gpt-4o-mini", prompt="Say hi", stream=True, max_tokens=1000
        ) as stream:
            items = [item async for item in stream]
        assert "".join(i.choices[0].text for i in items if i.choices) == FAKE_REPLY


async def test_responses_lifecycle() -> None:
    async with fake_client() as (server, client):
        response = await client.responses.create(model="gpt-4o-mini", input="Say hi", store=True)
        assert response.id
        assert server.last_request.json() == {"model": "gpt-4o-mini", "input": "Say hi", "store": True}
        again = await client.responses.retrieve(response.id)
        assert again.id == response.id
        assert server.last_request.method == "GET"
        assert "idempotency-key" not in server.last_request.headers

        page = await client.responses.input_items.list(response.id, order="asc", limit=10)
        assert len(page) >= 1
        assert server.last_request.query == {"order": ["asc"], "limit": ["10"]}
        items = [item async for item in page]
        assert len(items) == len(page.data)

        await client.responses.delete(response.id)
        assert server.last_request.method == "DELETE"
        with pytest.raises(openai_trio.NotFoundError):
            await client.responses.retrieve(response.id)


async def test_responses_stream_and_cancel() -> None:
    async with fake_client() as (server, client):
        async with await client.responses.create(
            model="gpt-4o-mini", input="Say hi", stream=True
        ) as stream:
            events = [event async for event in stream]
        assert events[-1].type == "response.completed"
        background = await client.responses.create(
            model="gpt-4o-mini", input="Say hi", background=True
        )
        cancelled = await client.responses.cancel(background.id)
        assert cancelled.id == background.id
        assert server.last_request.path == f"/v1/responses/{background.id}/cancel"


async def test_cursor_pagination_walks_every_page() -> None:
    def page(ids: list[str], has_more: bool) -> FakeResponse:
        data = [{"id": i, "type": "message", "role": "user", "content": []} for i in ids]
        return FakeResponse.json(
            {"object": "list", "data": data, "first_id": ids[0], "last_id": ids[-1], "has_more": has_more}
        )

    async with fake_client() as (server, client):
        server.enqueue(page(["a", "b"], True), page(["c"], True), page(["d"], False))
        first = await client.responses.input_items.list("resp_1", limit=2)
        assert first.has_next_page()
        seen = [getattr(item, "id", None) async for item in first]
        assert seen == ["a", "b", "c", "d"]
        afters = [r.query.get("after") for r in server.requests]
        assert afters == [None, ["b"], ["c"]]
        assert all(r.query["limit"] == ["2"] for r in server.requests)


async def test_embeddings() -> None:
    async with fake_client() as (server, client):
        result = await client.embeddings.create(
            model="text-embedding-3-small", input=["a", "b"], dimensions=8
        )
        assert len(result.data) == 2
        assert len(result.data[0].embedding) == 8
        # Asked as base64 (the official SDK's default) and decoded to floats.
        assert server.last_request.json() == {
            "model": "text-embedding-3-small",
            "input": ["a", "b"],
            "dimensions": 8,
            "encoding_format": "base64",
        }
        assert all(isinstance(x, float) for x in result.data[0].embedding)


async def test_models() -> None:
    async with fake_client() as (server, client):
        models = await client.models.list()
        ids = [m.id for m in models]
        assert "gpt-4o-mini" in ids
        assert [m.id async for m in models] == ids
        assert not models.has_next_page()
        with pytest.raises(RuntimeError):
            await models.get_next_page()
        model = await client.models.retrieve("gpt-4o")
        assert model.id == "gpt-4o"
        deleted = await client.models.delete("gpt-4o")
        assert deleted.deleted is True
        with pytest.raises(openai_trio.NotFoundError) as info:
            await client.models.retrieve("gpt-4o")
        assert info.value.status_code == 404
        assert server.last_request.path == "/v1/models/gpt-4o"


async def test_path_parameters_are_escaped() -> None:
    async with fake_client() as (server, client):
        server.enqueue(FakeResponse.json({"id": "a/b", "object": "model", "created": 0, "owned_by": "x"}))
        await client.models.retrieve("a/b?c")
        assert server.last_request.target == "/v1/models/a%2Fb%3Fc"
        with pytest.raises(openai_trio.LocalProtocolError):
            await client.models.retrieve("")
        with pytest.raises(openai_trio.LocalProtocolError):
            await client.models.retrieve("..")
        assert len(server.requests) == 1


async def test_extra_options() -> None:
    async with fake_client(default_headers={"x-default": "1"}, default_query={"api-version": "v"}) as (
        server,
        client,
    ):
        await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            extra_headers={"x-custom": "yes", "x-default": None},
            extra_query={"debug": "true"},
            extra_body={"vendor_option": 3},
            timeout=30.0,
            max_retries=0,
        )
        request = server.last_request
        assert request.headers["x-custom"] == "yes"
        assert "x-default" not in request.headers
        assert request.query == {"api-version": ["v"], "debug": ["true"]}
        assert request.json()["vendor_option"] == 3


async def test_status_errors_are_typed_with_request_id() -> None:
    cases = [
        (400, openai_trio.BadRequestError),
        (401, openai_trio.AuthenticationError),
        (403, openai_trio.PermissionDeniedError),
        (404, openai_trio.NotFoundError),
        (409, openai_trio.ConflictError),
        (422, openai_trio.UnprocessableEntityError),
        (429, openai_trio.RateLimitError),
        (500, openai_trio.InternalServerError),
    ]
    async with fake_client(max_retries=0) as (server, client):
        for status, cls in cases:
            server.enqueue(
                FakeResponse.error(status, "nope", code="bad", headers={"x-request-id": f"req_{status}"})
            )
            with pytest.raises(cls) as info:
                await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            err = info.value
            assert err.status_code == status
            assert err.request_id == f"req_{status}"
            assert err.code == "bad"
            assert "nope" in str(err)
        # Error responses leave the connection reusable.
        assert server.connections_opened == 1
        assert client.pool_stats().in_use == 0


async def test_stream_status_error_raised_by_create() -> None:
    async with fake_client(max_retries=0) as (server, client):
        server.enqueue(FakeResponse.error(400, "bad stream"))
        with pytest.raises(openai_trio.BadRequestError):
            await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        assert client.pool_stats().in_use == 0


async def test_stream_error_event_after_items() -> None:
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
             "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}]}
    async with fake_client() as (server, client):
        server.enqueue(
            FakeResponse.sse([chunk, {"error": {"message": "overloaded"}}], chunks=[10_000])
        )
        got = []
        async with await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        ) as stream:
            with pytest.raises(openai_trio.APIStreamError, match="overloaded"):
                async for item in stream:
                    got.append(item)
            # The stream is finished after the error.
            assert [item async for item in stream] == []
        assert [c.choices[0].delta.content for c in got] == ["hi"]
        assert client.pool_stats().in_use == 0


async def test_generic_request() -> None:
    async with fake_client() as (_server, client):
        data = await client.request("GET", "/models")
        assert isinstance(data, dict) and data["object"] == "list"
        ids = await client.request("get", "/models", cast=lambda d: [m["id"] for m in d["data"]])
        assert "gpt-4o" in ids
        stream = await client.request(
            "POST", "/chat/completions",
            body={"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True},
            stream=True,
        )
        async with stream:
            raw = [item async for item in stream]
        assert all(isinstance(item, dict) for item in raw)
        assert "".join(
            c["choices"][0]["delta"].get("content") or "" for c in raw if c["choices"]
        ) == FAKE_REPLY


async def test_invalid_json_body_is_validation_error() -> None:
    async with fake_client() as (server, client):
        server.enqueue(FakeResponse.text("<html>oops</html>", 200))
        with pytest.raises(openai_trio.APIResponseValidationError):
            await client.models.list()
        server.enqueue(FakeResponse.json({"object": "list", "data": 3}))
        with pytest.raises(openai_trio.APIResponseValidationError):
            await client.models.list()


async def test_over_loopback_tcp() -> None:
    async with FakeServer() as server:
        await server.serve_tcp()
        async with Client(api_key=KEY, base_url=server.base_url) as client:
            completion = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            assert completion.choices[0].message.content == FAKE_REPLY
            async with await client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, stream=True
            ) as stream:
                text = "".join([t async for t in stream.text_deltas()])
            assert text == FAKE_REPLY
            assert server.connections_opened == 1
            assert client.connections_opened == 1


async def test_config_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env.test:8080/v1")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-1")
    async with FakeServer() as server:
        async with Client(connector=server.connect, timeout=None, max_retries=0) as client:
            assert client.base_url == "http://env.test:8080/v1"
            assert client.max_retries == 0
            assert client.timeout.read is None
            await client.models.list()
            request = server.last_request
            assert request.path == "/v1/models"
            assert request.headers["host"] == "env.test:8080"
            assert request.headers["authorization"] == "Bearer sk-from-env"
            assert request.headers["openai-organization"] == "org-1"
            assert "sk-from-env" not in repr(client)
        config = openai_trio.ClientConfig(api_key="k", base_url="http://cfg.test/v1")
        async with Client(config=config, connector=server.connect, max_retries=5) as client:
            assert client.config.base_url == "http://cfg.test/v1"
            assert client.max_retries == 5


async def test_ssl_context_and_connector_are_exclusive() -> None:
    import ssl

    async with FakeServer() as server:
        with pytest.raises(TypeError):
            Client(api_key=KEY, connector=server.connect, ssl_context=ssl.create_default_context())


async def test_closed_client_refuses_calls() -> None:
    async with fake_client() as (_server, client):
        pass
    with pytest.raises(openai_trio.APIConnectionError):
        await client.models.list()
    await client.aclose()  # idempotent


async def test_local_errors_before_any_byte() -> None:
    async with fake_client() as (server, client):
        with pytest.raises(openai_trio.LocalProtocolError):
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, extra_headers={"x-bad": "a\r\nb"}
            )
        with pytest.raises(openai_trio.LocalProtocolError):
            await client.request("POST", "/x", body={"v": float("nan")})
        assert server.requests == []
        assert server.connections_opened == 0


def test_flat_namespace() -> None:
    for name in openai_trio.__all__:
        assert hasattr(openai_trio, name), name
    assert issubclass(openai_trio.RateLimitError, openai_trio.APIStatusError)
    assert openai_trio.APITimeoutError("read", 1.0).limit == "read"


def test_import_is_lazy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, openai_trio; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('openai_sansio.types'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == []


async def test_stream_repr_and_request() -> None:
    async with fake_client() as (_server, client):
        async with await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        ) as stream:
            assert "open" in repr(stream)
            assert stream.request.method == "POST"
        assert "closed" in repr(stream)
        await stream.aclose()
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()
        await trio.lowlevel.checkpoint()


async def test_page_helpers_and_cursor_from_items() -> None:
    async with fake_client() as (server, client):
        item = {"id": "x1", "type": "message", "role": "user", "content": []}
        server.enqueue(
            # No last_id: the cursor comes from the last item's id.
            FakeResponse.json({"object": "list", "data": [item], "has_more": True}),
            FakeResponse.json({"object": "list", "data": [], "has_more": True}),
        )
        page = await client.responses.input_items.list("resp_1")
        assert "1 items" in repr(page)
        assert getattr(page[0], "id", None) == "x1"
        assert page.last_id is None and page.has_next_page()
        nxt = await page.get_next_page()
        assert server.last_request.query["after"] == ["x1"]
        # has_more with no items and no last_id: nowhere to go on from.
        assert not nxt.has_next_page()
        with pytest.raises(RuntimeError):
            await nxt.get_next_page()
        server.enqueue(FakeResponse.json(["not", "an", "object"]))
        with pytest.raises(openai_trio.APIResponseValidationError):
            await client.models.list()


async def test_with_options_shares_the_pool() -> None:
    async with fake_client() as (server, client):
        other = client.with_options(max_retries=0, default_headers={"x-extra": "1"})
        assert other.max_retries == 0
        assert client.max_retries == 2
        await other.models.list()
        await client.models.list()
        assert "x-extra" in server.requests[0].headers
        assert "x-extra" not in server.requests[1].headers
        assert server.connections_opened == 1
        await other.aclose()
        with pytest.raises(openai_trio.APIConnectionError):
            await other.models.list()
        # The original (and its pool) still works.
        await client.models.list()
        assert client.pool_stats() == openai_trio.PoolStats(connections=1, idle=1)


async def test_responses_retrieve_stream() -> None:
    events = [
        {"type": "response.output_text.delta", "delta": "Hi", "sequence_number": 5,
         "item_id": "i", "output_index": 0, "content_index": 0, "logprobs": []},
        {"type": "response.completed", "sequence_number": 6, "response": {
            "id": "resp_1", "object": "response", "created_at": 0, "status": "completed",
            "model": "m", "output": [], "parallel_tool_calls": True, "tool_choice": "auto",
            "tools": [], "error": None, "incomplete_details": None, "instructions": None,
            "metadata": {}, "temperature": None, "top_p": None}},
    ]
    async with fake_client() as (server, client):
        server.enqueue(FakeResponse.sse(events, done=False))
        async with await client.responses.retrieve(
            "resp_1", stream=True, starting_after=4, include=["message.output_text.logprobs"]
        ) as stream:
            got = [event async for event in stream]
        assert [e.type for e in got] == ["response.output_text.delta", "response.completed"]
        request = server.last_request
        assert request.method == "GET"
        assert request.query == {
            "stream": ["true"],
            "starting_after": ["4"],
            "include": ["message.output_text.logprobs"],
        }
        assert request.headers["accept"] == "text/event-stream"


async def test_closing_the_client_ends_calls_in_flight_without_retrying(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with FakeServer() as server:
        client = Client(api_key=KEY, base_url="http://fake.test/v1", connector=server.connect, max_retries=5)
        server.enqueue(FakeResponse.hanging())
        errors: list[BaseException] = []

        async def call() -> None:
            try:
                await client.models.list()
            except openai_trio.APIConnectionError as exc:
                errors.append(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(call)
            await trio.sleep(1.0)
            start = trio.current_time()
            await client.aclose()
        # Failed at once: no backoff sleeps, no second request.
        assert trio.current_time() - start < 0.1
        assert len(errors) == 1
        assert len(server.requests) == 1
        assert client.pool_stats() == openai_trio.PoolStats()


async def test_oversized_bodies_are_cut_and_the_connection_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    from openai_trio import _client

    monkeypatch.setattr(_client, "MAX_BODY_BYTES", 1000)
    monkeypatch.setattr(_client, "MAX_ERROR_BODY_BYTES", 500)
    async with fake_client(max_retries=0) as (server, client):
        server.enqueue(FakeResponse.json({"object": "list", "data": [], "pad": "x" * 5000}))
        with pytest.raises(openai_trio.APIResponseValidationError, match="larger than 1000 bytes"):
            await client.models.list()
        assert client.pool_stats() == openai_trio.PoolStats()
        server.enqueue(FakeResponse.error(400, "y" * 5000))
        with pytest.raises(openai_trio.BadRequestError) as info:
            await client.models.list()
        # Only the start of the error body was read; its connection is gone.
        assert len(str(info.value.body)) <= 500
        assert client.pool_stats() == openai_trio.PoolStats()
        assert (await client.models.retrieve("gpt-4o")).id == "gpt-4o"
