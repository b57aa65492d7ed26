"""The generated surface against the spec and the official SDK.

Every one of the spec's operations must be a builder in ``openai_sansio.api``
and a method on ``Client`` at the official SDK's path, taking exactly the
operation's path, query and body parameters as the spec names them (read
here from the spec itself, not from the generator), and the call it makes
must put each value where the spec says.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

import openai_trio
from openai_sansio import NOT_GIVEN, OPERATIONS, LocalProtocolError, PreparedOperation, api
from openai_trio.testing import FakeResponse, FakeServer, format_sse

SPEC_PATH = Path(__file__).resolve().parents[2] / "shared" / "openapi" / "openapi.yaml"
OPTIONS = ["extra_headers", "extra_query", "extra_body", "timeout", "max_retries"]


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    with SPEC_PATH.open("rb") as f:
        loaded: dict[str, Any] = yaml.load(f, Loader=yaml.CSafeLoader)
    return loaded


def _deref(spec: dict[str, Any], schema: Any) -> Any:
    while isinstance(schema, dict) and "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _props(spec: dict[str, Any], schema: Any) -> list[str]:
    names: list[str] = []
    stack = [schema]
    while stack:
        s = _deref(spec, stack.pop())
        if not isinstance(s, dict):
            continue
        names += [n for n in s.get("properties", {}) if n not in names]
        stack += reversed(s.get("allOf", []))
    return names


def _spec_operations(spec: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any], list[dict[str, Any]]]]:
    out = {}
    for raw_path, item in spec["paths"].items():
        for method in ("get", "post", "put", "patch", "delete"):
            if method in item:
                op = item[method]
                params = [*item.get("parameters", []), *op.get("parameters", [])]
                out[op["operationId"]] = (method.upper(), raw_path, op, params)
    return out


def _wire(py: str) -> str:
    return py[:-1] if py.endswith("_") else py


def test_every_operation_has_a_builder_and_a_method(spec: dict[str, Any]) -> None:
    ops = _spec_operations(spec)
    assert len(ops) == len(OPERATIONS) == 288
    client = openai_trio.Client(api_key="sk-test")
    for operation_id, op in OPERATIONS.items():
        builder = getattr(api, op.sdk_path.replace(".", "_"))
        assert callable(builder), operation_id
        target: Any = client
        for part in op.sdk_path.split("."):
            target = getattr(target, part)
        assert callable(target), op.sdk_path
        # Same keywords on the method and its builder.
        assert list(inspect.signature(target).parameters) == list(inspect.signature(builder).parameters)
    assert sorted(api.__all__) == sorted(op.sdk_path.replace(".", "_") for op in OPERATIONS.values())


def test_keywords_match_the_spec(spec: dict[str, Any]) -> None:
    checked = 0
    for operation_id, (_method, _path, op, params) in _spec_operations(spec).items():
        table = OPERATIONS[operation_id]
        names = list(inspect.signature(getattr(api, table.sdk_path.replace(".", "_"))).parameters)
        assert names[-5:] == OPTIONS, operation_id
        got = sorted(_wire(n) for n in names[:-5])
        path_params = [p["name"] for p in params if p.get("in") == "path"]
        # An array query parameter ``ids[]`` is the keyword ``ids``.
        query_params = [p["name"].removesuffix("[]") for p in params if p.get("in") == "query"]
        content = (op.get("requestBody") or {}).get("content", {})
        if table.body_kind == "multipart":
            body = _props(spec, content["multipart/form-data"]["schema"])
        elif table.body_kind == "json":
            body = _props(spec, content["application/json"]["schema"])
        elif table.body_kind == "raw":
            body = ["content"]
        else:
            assert not content, operation_id
            body = []
        assert got == sorted([*path_params, *query_params, *body]), operation_id
        # The SDK's convention: the last path parameter is positional.
        sig = inspect.signature(getattr(api, table.sdk_path.replace(".", "_")))
        positional = [p.name for p in sig.parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
        assert positional == path_params[-1:], operation_id
        checked += 1
    assert checked == 288


def test_sdk_paths_exist_in_the_official_sdk() -> None:
    sdk = openai.AsyncOpenAI(api_key="sk-test")
    for op in OPERATIONS.values():
        target: Any = sdk
        for part in op.sdk_path.split("."):
            target = getattr(target, part)
        assert callable(target), op.sdk_path
        ours = inspect.signature(getattr(api, op.sdk_path.replace(".", "_")))
        theirs = inspect.signature(target)
        positional = [p.name for p in theirs.parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
        assert [p.name for p in ours.parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD] == positional, (
            op.sdk_path
        )


def _sample_kwargs(op: Any) -> tuple[list[str], dict[str, Any]]:
    sig = inspect.signature(getattr(api, op.sdk_path.replace(".", "_")))
    args: list[str] = []
    kwargs: dict[str, Any] = {}
    for name, p in sig.parameters.items():
        if name in OPTIONS:
            continue
        value = f"v-{name}"
        if p.kind is p.POSITIONAL_OR_KEYWORD:
            args.append(value)
        else:
            kwargs[name] = value
    return args, kwargs


def test_builders_put_every_value_where_the_spec_says() -> None:
    for op in OPERATIONS.values():
        args, kwargs = _sample_kwargs(op)
        if "stream" in kwargs:
            kwargs["stream"] = False
        prepared = getattr(api, op.sdk_path.replace(".", "_"))(*args, **kwargs)
        assert isinstance(prepared, PreparedOperation)
        assert prepared.operation is op
        for name in op.path_params:
            assert f"v-{name}" in prepared.path.split("/"), op.operation_id
        for name in op.query_params:
            value = (prepared.query or {})[name]
            base = name.removesuffix("[]")
            assert value in (f"v-{base}", f"v-{base}_", False), op.operation_id
        for name in op.body_params:
            value = (prepared.body or {})[name]
            assert value in (f"v-{name}", f"v-{name}_", False), op.operation_id
        assert repr(prepared).startswith(f"<PreparedOperation {op.operation_id}: {op.method} ")


def test_builders_leave_out_what_was_not_given() -> None:
    prepared = api.files_list(purpose=NOT_GIVEN, limit=3)
    assert prepared.query == {"limit": 3}
    chat = api.chat_completions_create(model="m", messages=({"role": "user", "content": "hi"},), stream=True)
    assert chat.stream is True
    assert chat.body == {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    beta = api.beta_responses_retrieve("resp_1")
    assert beta.query == {"beta": "true"}


@pytest.mark.parametrize("bad", ["", ".", "..", 5, None])
def test_bad_path_values_fail_before_sending(bad: Any) -> None:
    with pytest.raises(LocalProtocolError):
        api.files_retrieve(bad)
    with pytest.raises(LocalProtocolError):
        openai_trio.Client(api_key="sk-test").containers.files.content.retrieve(bad, container_id="c")


def test_table_kinds() -> None:
    kinds = {op.operation_id: (op.body_kind, op.response_kind, op.page_kind) for op in OPERATIONS.values()}
    assert kinds["createFile"] == ("multipart", "json", "none")
    assert kinds["downloadFile"] == ("none", "binary", "none")
    assert kinds["createSpeech"] == ("json", "binary", "none")
    assert kinds["deleteResponse"] == ("none", "empty", "none")
    assert kinds["listVectorStoreFiles"] == ("none", "json", "cursor")
    assert kinds["usage-completions"] == ("none", "json", "page")
    assert kinds["listModels"] == ("none", "json", "single")
    counts = {
        "multipart": sum(op.body_kind == "multipart" for op in OPERATIONS.values()),
        "binary": sum(op.response_kind == "binary" for op in OPERATIONS.values()),
        "empty": sum(op.response_kind == "empty" for op in OPERATIONS.values()),
    }
    assert counts == {"multipart": 17, "binary": 7, "empty": 8}


# -- through the client ------------------------------------------------------------------


def _client(server: FakeServer, **kwargs: Any) -> openai_trio.Client:
    return openai_trio.Client(
        api_key="sk-test", base_url="http://fake.test/v1", connector=server.connect, **kwargs
    )


FILE = {"id": "file-1", "object": "file", "bytes": 5, "created_at": 1, "filename": "a.jsonl", "purpose": "batch"}


async def test_files_create_and_content() -> None:
    async with FakeServer() as server, _client(server, random_bytes=lambda n: b"\x01" * n) as client:
        server.enqueue(FakeResponse.json(FILE))
        created = await client.files.create(file=("a.jsonl", b'{"a":1}\n', "application/jsonl"), purpose="batch")
        assert created.id == "file-1"
        upload = server.last_request
        assert upload.method == "POST" and upload.path == "/v1/files"
        parts = {p.name: p for p in upload.form()}
        assert parts["purpose"].text == "batch"
        assert parts["file"].filename == "a.jsonl"
        assert parts["file"].data == b'{"a":1}\n'

        server.enqueue(FakeResponse(body=[b"line 1\n", b"line 2\n"], content_type="application/octet-stream"))
        content = await client.files.content("file-1")
        assert content.read() == b"line 1\nline 2\n"
        assert server.last_request.path == "/v1/files/file-1/content"

        server.enqueue(FakeResponse(body=[b"abc", b"def"], content_type="application/octet-stream"))
        async with client.files.with_streaming_response.content("file-1") as streamed:
            pieces = [piece async for piece in streamed.iter_bytes()]
        assert b"".join(pieces) == b"abcdef"


async def test_empty_responses_are_success() -> None:
    async with FakeServer() as server, _client(server) as client:
        server.enqueue(FakeResponse(body=[], content_type=None))
        assert await client.responses.delete("resp_1") is None
        server.enqueue(FakeResponse(body=[], content_type=None))
        assert await client.containers.delete("cntr_1") is None
        assert [r.method for r in server.requests] == ["DELETE", "DELETE"]


async def test_cursor_pages_walk_with_after() -> None:
    async with FakeServer() as server, _client(server) as client:
        item = {"object": "vector_store.file", "usage_bytes": 1, "created_at": 1, "vector_store_id": "vs"}
        server.enqueue(
            FakeResponse.json({"object": "list", "data": [{**item, "id": "a"}, {**item, "id": "b"}],
                               "has_more": True, "first_id": "a", "last_id": "b"}),
            FakeResponse.json({"object": "list", "data": [{**item, "id": "c"}], "has_more": False}),
        )
        ids = [f.id async for f in client.vector_stores.files.list("vs_1", limit=2, filter="completed")]
        assert ids == ["a", "b", "c"]
        first, second = server.requests
        assert first.query == {"limit": ["2"], "filter": ["completed"]}
        assert second.query == {"limit": ["2"], "filter": ["completed"], "after": ["b"]}

        server.enqueue(FakeResponse.json({"object": "list", "data": [{**item, "id": "z"}], "has_more": True}))
        page = await client.vector_stores.files.list("vs_1")
        assert page.has_next_page()
        info = page.next_page_info()
        assert info is not None and dict(info.params) == {"after": "z"}


async def test_page_token_pages_walk_with_page() -> None:
    async with FakeServer() as server, _client(server) as client:
        bucket = {"object": "bucket", "start_time": 0, "end_time": 1, "result": []}
        server.enqueue(
            FakeResponse.json({"object": "page", "data": [bucket], "has_more": True, "next_page": "tok_2"}),
            FakeResponse.json({"object": "page", "data": [bucket, bucket], "has_more": False, "next_page": None}),
        )
        page = await client.admin.organization.usage.completions(start_time=0)
        assert isinstance(page, openai_trio.AsyncPageTokenPage)
        assert page.has_next_page()
        nxt = await page.next_page()
        assert len(nxt) == 2 and not nxt.has_next_page() and nxt.next_page_info() is None
        assert server.requests[1].query == {"start_time": ["0"], "page": ["tok_2"]}


async def test_raw_and_streaming_views() -> None:
    async with FakeServer() as server, _client(server) as client:
        server.enqueue(FakeResponse.json(FILE, headers={"x-request-id": "req_1"}))
        raw = await client.files.with_raw_response.retrieve("file-1")
        assert raw.request_id == "req_1" and raw.parse().id == "file-1"

        server.enqueue(FakeResponse.json({"object": "list", "data": [FILE], "has_more": False}))
        raw_page = await client.with_raw_response.files.list()
        assert raw_page.status_code == 200
        assert [f.id for f in raw_page.parse()] == ["file-1"]

        server.enqueue(FakeResponse.json(FILE))
        async with client.files.with_streaming_response.retrieve("file-1") as response:
            assert response.status_code == 200
            parsed = await response.parse()
        assert parsed.id == "file-1"
        server.enqueue(FakeResponse.json({"object": "list", "data": [FILE], "has_more": False}))
        async with client.files.with_streaming_response.list() as listed:
            page = await listed.parse()
        assert isinstance(page, openai_trio.AsyncCursorPage) and page[0].id == "file-1"
        assert repr(client.files.with_raw_response) == "<Files (raw)>"
        assert client.files.with_raw_response.with_raw_response is client.files.with_raw_response


async def test_generic_stream_decoder_for_assistants_runs() -> None:
    async with FakeServer() as server, _client(server) as client:
        run = {"id": "run_1", "object": "thread.run", "status": "queued"}
        server.enqueue(FakeResponse.sse([format_sse(run, event="thread.run.created")]))
        stream = await client.beta.threads.runs.create("thread_1", assistant_id="asst_1", stream=True)
        async with stream:
            items = [item async for item in stream]
        assert server.last_request.json() == {"assistant_id": "asst_1", "stream": True}
        assert len(items) == 1


async def test_embeddings_ask_for_base64_and_decode_it() -> None:
    import base64
    import struct

    packed = base64.b64encode(struct.pack("<3f", 0.5, -1.0, 2.25)).decode()
    body = {"object": "list", "model": "e", "data": [{"object": "embedding", "index": 0, "embedding": packed}],
            "usage": {"prompt_tokens": 1, "total_tokens": 1}}
    async with FakeServer() as server, _client(server) as client:
        server.enqueue(FakeResponse.json(body))
        result = await client.embeddings.create(model="e", input="hi")
        assert server.last_request.json()["encoding_format"] == "base64"
        assert result.data[0].embedding == [0.5, -1.0, 2.25]

        server.enqueue(FakeResponse.json(body))
        kept = await client.embeddings.create(model="e", input="hi", encoding_format="base64")
        assert kept.data[0].embedding == packed

        floats = {**body, "data": [{"object": "embedding", "index": 0, "embedding": [1.0]}]}
        server.enqueue(FakeResponse.json(floats))
        plain = await client.embeddings.create(model="e", input="hi", encoding_format="float")
        assert server.last_request.json()["encoding_format"] == "float"
        assert plain.data[0].embedding == [1.0]

        server.enqueue(FakeResponse.json({**body, "data": [{"object": "embedding", "index": 0, "embedding": "!!"}]}))
        with pytest.raises(openai_trio.APIResponseValidationError):
            await client.embeddings.create(model="e", input="hi")


async def test_binary_operations_accept_their_media_types() -> None:
    async with FakeServer() as server, _client(server) as client:
        server.enqueue(FakeResponse(body=[b"ID3"], content_type="application/octet-stream"))
        speech = await client.audio.speech.create(model="tts-1", input="hi", voice="alloy")
        assert speech.read() == b"ID3"
        assert server.last_request.headers["accept"] == "application/octet-stream"
        server.enqueue(FakeResponse(body=[b"ID3"], content_type="audio/mpeg"))
        await client.audio.speech.create(
            model="tts-1", input="hi", voice="alloy", extra_headers={"Accept": "audio/mpeg"}
        )
        assert server.last_request.headers["accept"] == "audio/mpeg"


async def test_streaming_manager_enters_once_and_walks_raw_pages() -> None:
    async with FakeServer() as server, _client(server) as client:
        server.enqueue(FakeResponse.json(FILE))
        manager = client.files.with_streaming_response.retrieve("file-1")
        assert repr(manager) == "<StreamedResponseManager>"
        async with manager as response:
            assert (await response.parse()).id == "file-1"
        with pytest.raises(RuntimeError, match="entered only once"):
            await manager.__aenter__()

        # ``async for`` over a raw paginator walks the page it wraps.
        server.enqueue(FakeResponse.json({"object": "list", "data": [FILE, {**FILE, "id": "file-2"}],
                                          "has_more": False}))
        assert [f.id async for f in client.files.with_raw_response.list()] == ["file-1", "file-2"]
        page = openai_trio.AsyncCursorPage([{"id": "x"}], {"has_more": True})
        assert page.next_page_info() == openai_trio.PageInfo({"after": "x"})
        assert not page.has_next_page()  # no fetcher behind a hand-made page
        with pytest.raises(RuntimeError, match="no next page"):
            await page.get_next_page()


def test_prepare_copies_containers_and_refuses_cycles() -> None:
    import types as pytypes

    messages: list[Any] = [{"role": "user", "content": ("a", "b")}]
    prepared = api.chat_completions_create(
        model="m", messages=messages, metadata=pytypes.MappingProxyType({"k": "v"}),
        stop=(s for s in ["x"]),
    )
    assert prepared.body is not None
    assert prepared.body["messages"] == [{"role": "user", "content": ["a", "b"]}]
    assert prepared.body["metadata"] == {"k": "v"} and prepared.body["stop"] == ["x"]
    looped: list[Any] = []
    looped.append(looped)
    with pytest.raises(LocalProtocolError, match="contains itself"):
        api.chat_completions_create(model="m", messages=looped)
    with pytest.raises(LocalProtocolError, match="path values"):
        OPERATIONS["retrieveFile"].path_for(())
