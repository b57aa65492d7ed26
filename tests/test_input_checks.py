"""Input no request could carry is refused with ``LocalProtocolError``
before any byte is sent: bodies that contain themselves or are absurdly
deep, path values and raw paths that would be resolved as dot segments, and
header values outside ASCII.  Checked at the core (``Call`` and
``openai_sansio.api``) and end to end through the trio client, whose fake
server must then have seen no connection at all."""

from __future__ import annotations

import inspect
import re
import sys
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_sansio import Call, ClientConfig, LocalProtocolError, RequestOptions, api
from openai_trio import Client
from openai_trio.testing import FakeServer

KEY = "sk-input-checks-0123456789"
MESSAGES: Any = [{"role": "user", "content": "Hi"}]
CONFIG = ClientConfig(api_key=KEY, base_url="https://api.example.com/v1")


def _nested(depth: int, kind: str) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


def _looped_list() -> list[Any]:
    looped: list[Any] = [1]
    looped.append(looped)
    return looped


def _looped_message() -> Any:
    message: dict[str, Any] = {"role": "user", "content": "Hi"}
    message["metadata"] = {"again": [message]}
    return message


def _post(body: Any = None, **kwargs: Any) -> Call:
    return Call(CONFIG, "POST", "/chat/completions", body=body, idempotency_key="k-1", **kwargs)


# -- bodies at the core -------------------------------------------------------


@pytest.mark.parametrize("make", [_looped_list, _looped_message])
def test_a_body_holding_itself_is_called_circular(make: Callable[[], Any]) -> None:
    with pytest.raises(LocalProtocolError, match=r"contains itself \(a circular reference\)") as info:
        _post({"model": "m", "messages": [make()]})
    assert "NaN" not in str(info.value)
    with pytest.raises(LocalProtocolError, match=r"body field 'messages' contains itself"):
        api.chat_completions_create(model="m", messages=[make()])


def test_nan_is_not_reported_as_a_cycle() -> None:
    with pytest.raises(LocalProtocolError, match="NaN or infinity") as info:
        _post({"x": float("nan")})
    assert "circular" not in str(info.value)


@pytest.mark.parametrize("kind", ["list", "dict"])
@pytest.mark.parametrize("depth", [5_000, 100_000])
def test_an_absurdly_deep_body_is_refused_without_recursing(kind: str, depth: int) -> None:
    deep = _nested(depth, kind)
    with pytest.raises(LocalProtocolError, match="nested too deeply"):
        _post({"messages": deep})
    with pytest.raises(LocalProtocolError, match=r"body field 'messages' is nested more than 200 levels"):
        api.chat_completions_create(model="m", messages=deep)


def test_a_deep_body_sharing_one_list_is_reported_at_once() -> None:
    # Each level holds the one below twice: walking every path would take
    # 2**300 steps, so the cycle search must visit each list once.
    shared: Any = "x"
    for _ in range(300):
        shared = [shared, shared]
    with pytest.raises(LocalProtocolError, match="nested more than 200 levels"):
        api.chat_completions_create(model="m", messages=shared)


def test_a_deep_body_from_a_generator_is_reported_as_deep() -> None:
    with pytest.raises(LocalProtocolError, match="nested more than 200 levels"):
        api.chat_completions_create(model="m", messages=(m for m in [_nested(300, "list")]))


def test_a_body_that_outruns_the_callers_stack_is_refused() -> None:
    # The caller may already be deep in its own stack: the copy then stops
    # short of the depth limit, with a LocalProtocolError all the same.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 60)
    try:
        with pytest.raises(LocalProtocolError, match="'messages' is nested too deeply to copy"):
            api.chat_completions_create(model="m", messages=_nested(150, "list"))
    finally:
        sys.setrecursionlimit(limit)


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_a_reasonably_deep_body_is_sent(kind: str) -> None:
    deep = _nested(100, kind)
    message: Any = {"role": "user", "content": "x", "d": deep}
    prepared = api.chat_completions_create(model="m", messages=[message])
    assert prepared.body is not None
    call = Call(CONFIG, "POST", prepared.path, **prepared.body_arguments(), idempotency_key="k")
    body = call.request().body
    assert isinstance(body, bytes) and body.count(b"[" if kind == "list" else b"{") >= 100


# -- paths at the core --------------------------------------------------------


@pytest.mark.parametrize("value", ["", ".", ".."])
def test_path_values_that_name_no_resource_are_refused(value: str) -> None:
    with pytest.raises(LocalProtocolError, match="`model`"):
        api.models_retrieve(value)
    with pytest.raises(LocalProtocolError, match="`file_id`"):
        api.files_content(value)


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ("a/../b", "/models/a%2F..%2Fb"),
        ("...", "/models/..."),
        ("%2e%2e", "/models/%252e%252e"),
        ("gpt-4.1", "/models/gpt-4.1"),
        ("caf\xe9 ?#", "/models/caf%C3%A9%20%3F%23"),
    ],
)
def test_other_path_values_are_one_encoded_segment(value: str, path: str) -> None:
    assert api.models_retrieve(value).path == path


@pytest.mark.parametrize(
    "path", ["/models/..", "/models/.", "/models/../files", "/a/./b", "/a/%2e%2E/b", "/a/.%2e", "/%2E"]
)
def test_raw_paths_with_dot_segments_are_refused(path: str) -> None:
    with pytest.raises(LocalProtocolError, match=r"'\.' or '\.\.' segment"):
        Call(CONFIG, "GET", path)


@pytest.mark.parametrize("path", ["/models/gpt-4.1", "/a/.../b", "/a/..b/c.", "/a/%2e%2e%2e", "/a/b.json"])
def test_raw_paths_with_dots_inside_segments_are_sent(path: str) -> None:
    assert Call(CONFIG, "GET", path).request().target == "/v1" + path


# -- headers at the core ------------------------------------------------------

SECRETISH = "tok\xe9n-0123456789"


@pytest.mark.parametrize("value", [SECRETISH, "\xa0", "x\xff", "\x80abc"])
def test_non_ascii_header_values_are_refused_by_name(value: str) -> None:
    with pytest.raises(LocalProtocolError, match="'x-custom' has a non-ASCII value") as info:
        Call(CONFIG, "GET", "/models", options=RequestOptions(extra_headers={"X-Custom": value}))
    assert value not in str(info.value) and value not in repr(info.value)


def test_non_ascii_header_names_are_refused() -> None:
    with pytest.raises(LocalProtocolError, match="invalid header name"):
        Call(CONFIG, "GET", "/models", options=RequestOptions(extra_headers={"x-caf\xe9": "v"}))


def test_a_non_ascii_api_key_is_refused_without_showing_it() -> None:
    key = "sk-\xe9" + "0123456789"
    with pytest.raises(LocalProtocolError, match="'authorization' has a non-ASCII value") as info:
        Call(ClientConfig(api_key=key), "GET", "/models")
    assert key not in str(info.value)


def test_visible_ascii_space_and_tab_are_sent() -> None:
    value = "".join(map(chr, range(0x21, 0x7F))) + " \tend"
    call = Call(CONFIG, "GET", "/models", options=RequestOptions(extra_headers={"x-all": value}))
    assert dict(call.request().headers)["x-all"] == value


@settings(max_examples=200, deadline=None)
@given(value=st.text(max_size=12))
def test_any_header_value_is_sent_as_ascii_or_refused_unquoted(value: str) -> None:
    try:
        call = Call(CONFIG, "GET", "/models", options=RequestOptions(extra_headers={"x-h": value}))
    except LocalProtocolError as exc:
        assert "'x-h'" in str(exc)
        if len(value.strip(" \t")) >= 3:
            assert value.strip(" \t") not in str(exc)
        return
    sent = dict(call.request().headers).get("x-h")
    if sent is not None:
        assert re.fullmatch(r"[\t\x20-\x7e]*", sent)


# -- end to end: nothing reaches the server -----------------------------------


@asynccontextmanager
async def fake_client() -> AsyncIterator[tuple[FakeServer, Client]]:
    server = FakeServer()
    async with server, Client(api_key=KEY, base_url="http://fake.test/v1", connector=server.connect) as client:
        yield server, client


async def _refused(server: FakeServer, attempt: Callable[[], Awaitable[object]], pattern: str) -> str:
    with pytest.raises(LocalProtocolError, match=pattern) as info:
        await attempt()
    assert server.connections_opened == 0 and server.requests == []
    return str(info.value)


async def test_client_refuses_bad_bodies_before_connecting() -> None:
    async with fake_client() as (server, client):
        chat = client.chat.completions.create
        await _refused(server, lambda: chat(model="m", messages=_looped_list()), "'messages' contains itself")
        await _refused(server, lambda: chat(model="m", messages=[_looped_message()]), "'messages' contains itself")
        await _refused(
            server, lambda: chat(model="m", messages=_nested(5_000, "list")), "'messages' is nested more than 200"
        )
        await _refused(
            server, lambda: chat(model="m", messages=[_nested(5_000, "dict")]), "'messages' is nested more than 200"
        )
        await _refused(
            server, lambda: chat(model="m", messages=MESSAGES, extra_body={"x": _looped_list()}), "contains itself"
        )
        await _refused(
            server, lambda: chat(model="m", messages=MESSAGES, extra_body={"x": _nested(5_000, "dict")}), "too deeply"
        )
        await _refused(
            server, lambda: client.post("/chat/completions", body={"m": _looped_list()}, cast_to=object), "contains itself"
        )
        # A deep but sensible body still goes out whole.
        deep = _nested(100, "dict")
        message: Any = {"role": "user", "content": "Hi", "extra": deep}
        await chat(model="m", messages=[message])
        assert server.last_request.json()["messages"][0]["extra"] == deep


@pytest.mark.parametrize("value", ["", ".", ".."])
async def test_client_refuses_dot_and_empty_path_values(value: str) -> None:
    async with fake_client() as (server, client):
        message = await _refused(server, lambda: client.models.retrieve(value), "`model`")
        assert KEY not in message
        await _refused(server, lambda: client.files.delete(value), "`file_id`")


async def test_client_escape_hatch_refuses_dot_segments() -> None:
    async with fake_client() as (server, client):
        await _refused(server, lambda: client.get("/models/..", cast_to=object), r"'\.' or '\.\.' segment")
        await _refused(server, lambda: client.get("/models/%2E%2e/x", cast_to=object), "segment")


async def test_client_sends_an_encoded_slash_in_a_path_value_as_one_segment() -> None:
    async with fake_client() as (server, client):
        with pytest.raises(Exception, match="does not exist"):
            await client.models.retrieve("a/../b")
        assert server.last_request.target == "/v1/models/a%2F..%2Fb"


async def test_client_refuses_non_ascii_extra_headers() -> None:
    async with fake_client() as (server, client):
        message = await _refused(
            server,
            lambda: client.models.list(extra_headers={"X-Title": SECRETISH}),
            "'x-title' has a non-ASCII value",
        )
        assert SECRETISH not in message
        await _refused(
            server,
            lambda: client.chat.completions.create(model="m", messages=MESSAGES, extra_headers={"x-\xe9": "v"}),
            "invalid header name",
        )
        # An ASCII value with spaces and tabs still goes out.
        await client.models.list(extra_headers={"X-Title": "My\tApp 1"})
        assert server.last_request.headers["x-title"] == "My\tApp 1"
