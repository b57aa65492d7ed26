"""The blocking and asyncio drivers under examples/, against the fake server."""

from __future__ import annotations

import asyncio
import importlib.util
import pathlib
import sys
from types import ModuleType
from typing import Any, Callable

import pytest

from openai_sansio import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    ClientConfig,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    RemoteProtocolError,
    UnexpectedContentTypeError,
    api,
)
from openai_sansio.types.files import OpenAIFile
from openai_trio.testing import FAKE_REPLY, FakeResponse, FakeServer, run_fake_server_in_thread

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


blocking = _load("blocking_chat")
asyncio_chat = _load("asyncio_chat")

StreamChat = Callable[..., list[str]]


def _blocking(*args: Any, **kwargs: Any) -> list[str]:
    result: list[str] = blocking.stream_chat(*args, **kwargs)
    return result


def _asyncio(*args: Any, **kwargs: Any) -> list[str]:
    result: list[str] = asyncio.run(asyncio_chat.stream_chat(*args, **kwargs))
    return result


DRIVERS = pytest.mark.parametrize("stream_chat", [_blocking, _asyncio], ids=["blocking", "asyncio"])
MAINS = pytest.mark.parametrize("module", [blocking, asyncio_chat], ids=["blocking", "asyncio"])


@DRIVERS
def test_streams_the_reply(stream_chat: StreamChat) -> None:
    server = FakeServer()
    seen: list[str] = []
    with run_fake_server_in_thread(server) as base_url:
        tokens = stream_chat(base_url, "sk-test", "gpt-4o-mini", "Say hi", on_token=seen.append)
    assert "".join(tokens) == FAKE_REPLY
    assert len(tokens) == len(FAKE_REPLY.split(" "))
    assert seen == tokens
    (request,) = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.headers["accept"] == "text/event-stream"
    assert request.headers["idempotency-key"]
    body = request.json()
    assert body["stream"] is True
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"] == [{"role": "user", "content": "Say hi"}]


@DRIVERS
def test_max_tokens_and_odd_chunk_boundaries(stream_chat: StreamChat) -> None:
    server = FakeServer()
    events = [
        {"choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
        for word in ["Hé", "llo", " wörld"]
    ]
    server.enqueue(FakeResponse.sse(events, chunks=[1, 7, 13, 2, 40, 3]))
    with run_fake_server_in_thread(server) as base_url:
        assert stream_chat(base_url, "k", "m", "p") == ["Hé", "llo", " wörld"]
        assert stream_chat(base_url, "k", "m", "p", max_tokens=2) == ["Hello!", " This"]
    assert server.requests[1].json()["max_tokens"] == 2


@DRIVERS
def test_error_status_is_raised_without_the_key(stream_chat: StreamChat) -> None:
    server = FakeServer()
    server.enqueue(
        FakeResponse.error(401, "Incorrect API key provided: sk-secret-123.", code="invalid_api_key")
    )
    with run_fake_server_in_thread(server) as base_url, pytest.raises(AuthenticationError) as info:
        stream_chat(base_url, "sk-secret-123", "m", "p")
    assert info.value.status_code == 401
    assert info.value.code == "invalid_api_key"
    assert "sk-secret-123" not in str(info.value)
    assert "Incorrect API key" in str(info.value)
    assert len(server.requests) == 1


@DRIVERS
def test_retries_transient_statuses_with_same_idempotency_key(stream_chat: StreamChat) -> None:
    server = FakeServer()
    server.enqueue(
        FakeResponse.error(503, "overloaded", headers={"retry-after-ms": "5"}),
        FakeResponse.error(429, "slow down", headers={"retry-after-ms": "5"}),
    )
    with run_fake_server_in_thread(server) as base_url:
        tokens = stream_chat(base_url, "k", "m", "p")
    assert "".join(tokens) == FAKE_REPLY
    assert len(server.requests) == 3
    assert len({r.headers["idempotency-key"] for r in server.requests}) == 1
    assert [r.headers.get("x-retry-count") for r in server.requests] == ["0", "1", "2"]


@DRIVERS
def test_gives_up_after_max_retries(stream_chat: StreamChat) -> None:
    server = FakeServer()
    server.enqueue(*[FakeResponse.error(500, "boom", headers={"retry-after-ms": "1"})] * 2)
    with run_fake_server_in_thread(server) as base_url, pytest.raises(InternalServerError):
        stream_chat(base_url, "k", "m", "p", max_retries=1)
    assert len(server.requests) == 2
    server = FakeServer()
    server.enqueue(FakeResponse.error(429, "quota", headers={"x-should-retry": "false"}))
    with run_fake_server_in_thread(server) as base_url, pytest.raises(RateLimitError):
        stream_chat(base_url, "k", "m", "p")
    assert len(server.requests) == 1


@DRIVERS
def test_connection_dropped_before_head_is_retried(stream_chat: StreamChat) -> None:
    server = FakeServer()
    server.enqueue(FakeResponse.raw([b"HTTP/1.1 200 OK\r\nContent-"]))
    with run_fake_server_in_thread(server) as base_url:
        tokens = stream_chat(base_url, "k", "m", "p", max_retries=1)
    assert "".join(tokens) == FAKE_REPLY
    assert len(server.requests) == 2


@DRIVERS
def test_connection_errors_exhaust_retries(stream_chat: StreamChat) -> None:
    server = FakeServer()
    server.enqueue(FakeResponse.raw([]))
    with run_fake_server_in_thread(server) as base_url, pytest.raises(RemoteProtocolError):
        stream_chat(base_url, "k", "m", "p", max_retries=0)


@DRIVERS
def test_truncated_stream_is_not_retried(stream_chat: StreamChat) -> None:
    server = FakeServer()
    server.enqueue(
        FakeResponse.sse(
            [{"choices": [{"index": 0, "delta": {"content": "partial"}}]}] * 3, close_after=2
        )
    )
    seen: list[str] = []
    with run_fake_server_in_thread(server) as base_url, pytest.raises(RemoteProtocolError):
        stream_chat(base_url, "k", "m", "p", on_token=seen.append)
    assert seen == ["partial", "partial"]
    assert len(server.requests) == 1


@DRIVERS
def test_read_timeout(stream_chat: StreamChat) -> None:
    server = FakeServer()
    server.enqueue(FakeResponse.hanging())
    with run_fake_server_in_thread(server) as base_url, pytest.raises(APITimeoutError) as info:
        stream_chat(base_url, "k", "m", "p", timeout=0.2, max_retries=0)
    assert info.value.limit == "read"


@DRIVERS
def test_nothing_listening(stream_chat: StreamChat) -> None:
    with run_fake_server_in_thread() as base_url:
        pass
    with pytest.raises(APIConnectionError):
        stream_chat(base_url, "k", "m", "p", max_retries=0)


@MAINS
def test_main_prints_tokens(module: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    with run_fake_server_in_thread() as base_url:
        code = module.main(["Say hi", "--base-url", base_url, "--api-key", "sk-x", "--max-tokens", "3"])
    out, err = capsys.readouterr()
    assert code == 0
    assert out == "Hello! This reply\n"
    assert err == ""


@MAINS
def test_main_with_fake_flag(module: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert module.main(["Say hi", "--fake"]) == 0
    assert capsys.readouterr().out == FAKE_REPLY + "\n"


@MAINS
def test_main_error_is_one_line_without_key(
    module: ModuleType, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = FakeServer(api_key="sk-right")
    with run_fake_server_in_thread(server) as base_url:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key")
        monkeypatch.setenv("OPENAI_BASE_URL", base_url)
        code = module.main(["Say hi"])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err.startswith("error: Error code: 401")
    assert err.count("\n") == 1
    assert "sk-wrong-key" not in err
    assert server.requests[0].headers["authorization"] == "Bearer sk-wrong-key"


# -- a non-chat call from each driver: upload a file, download its content -----------

RunOperation = Callable[[Any, Any], Any]


def _blocking_run(config: Any, prepared: Any) -> Any:
    return blocking.run_operation(config, prepared)


def _asyncio_run(config: Any, prepared: Any) -> Any:
    return asyncio.run(asyncio_chat.run_operation(config, prepared))


OPERATION_DRIVERS = pytest.mark.parametrize("run_operation", [_blocking_run, _asyncio_run], ids=["blocking", "asyncio"])


@OPERATION_DRIVERS
def test_files_create_and_content(run_operation: RunOperation, tmp_path: pathlib.Path) -> None:
    data = bytes(range(256)) * 1000  # several read and write pieces
    path = tmp_path / "batch.jsonl"
    path.write_bytes(data)
    server = FakeServer()
    with run_fake_server_in_thread(server) as base_url:
        config = ClientConfig(api_key="sk-test", base_url=base_url)
        created = run_operation(config, api.files_create(file=path, purpose="batch"))
        assert isinstance(created, OpenAIFile)
        assert (created.filename, created.bytes, created.purpose) == ("batch.jsonl", len(data), "batch")
        content = run_operation(config, api.files_content(created.id))
        from_bytes = run_operation(config, api.files_create(file=("b.txt", b"hello", "text/plain"), purpose="user_data"))
        assert run_operation(config, api.files_content(from_bytes.id)) == b"hello"
    assert content == data
    upload, download = server.requests[:2]
    assert upload.method == "POST" and upload.path == "/v1/files"
    assert upload.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert upload.headers["idempotency-key"]
    assert [part.name for part in upload.form()] == ["file", "purpose"]
    assert download.method == "GET" and download.path == f"/v1/files/{created.id}/content"
    assert "idempotency-key" not in download.headers


@OPERATION_DRIVERS
def test_file_content_errors_are_typed_and_retried(run_operation: RunOperation) -> None:
    server = FakeServer()
    server.enqueue(FakeResponse.error(500, "boom", headers={"retry-after-ms": "1"}))
    with run_fake_server_in_thread(server) as base_url, pytest.raises(NotFoundError):
        run_operation(ClientConfig(api_key="k", base_url=base_url), api.files_content("file-missing"))
    assert len(server.requests) == 2


@OPERATION_DRIVERS
def test_stream_answered_with_json_is_an_error(run_operation: RunOperation) -> None:
    server = FakeServer()
    server.enqueue(FakeResponse.json({"id": "chatcmpl-1"}))
    prepared = api.chat_completions_create(model="m", messages=[{"role": "user", "content": "p"}], stream=True)
    with run_fake_server_in_thread(server) as base_url, pytest.raises(UnexpectedContentTypeError) as info:
        run_operation(ClientConfig(api_key="k", base_url=base_url), prepared)
    assert info.value.content_type == "application/json"


# -- replaying a cassette without trio --------------------------------------------------


def _recorded_chat_and_upload() -> Any:
    import trio

    import openai_trio
    from openai_trio.testing import Recorder

    async def record() -> Any:
        async with FakeServer() as server:
            recorder = Recorder(server.connect)
            async with openai_trio.Client(api_key="sk-rec", base_url="http://fake.test/v1", connector=recorder) as client:
                stream = await client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hi"}], stream=True
                )
                tokens = [c.choices[0].delta.content async for c in stream if c.choices and c.choices[0].delta.content]
                created = await client.files.create(file=("b.txt", b"hello", "text/plain"), purpose="user_data")
        return recorder.cassette, tokens, created

    return trio.run(record)


def test_blocking_driver_replays_a_cassette() -> None:
    from openai_sansio import CassetteMiss, CassettePlayer

    cassette, tokens, created = _recorded_chat_and_upload()
    player = CassettePlayer(cassette)
    # No server anywhere: the host does not even resolve.
    config = ClientConfig(api_key="sk-replay", base_url="http://nowhere.invalid/v1", max_retries=0)
    connect = blocking.replay_from(player)
    assert blocking.stream_chat_with_config(config, "gpt-4o-mini", "Say hi", connect=connect) == tokens
    upload = api.files_create(file=("b.txt", b"hello", "text/plain"), purpose="user_data")
    assert blocking.run_operation(config, upload, connect=connect) == created
    assert player.unplayed == []
    with pytest.raises(CassetteMiss, match="closest is #0"):
        blocking.stream_chat_with_config(config, "gpt-4o-mini", "Say bye", connect=connect)


def test_asyncio_driver_replays_a_cassette() -> None:
    from openai_sansio import CassetteMiss, CassettePlayer

    cassette, tokens, created = _recorded_chat_and_upload()
    player = CassettePlayer(cassette)
    config = ClientConfig(api_key="sk-replay", base_url="http://nowhere.invalid/v1", max_retries=0)
    connect = asyncio_chat.replay_from(player)

    async def replay() -> None:
        assert await asyncio_chat.stream_chat_with_config(config, "gpt-4o-mini", "Say hi", connect=connect) == tokens
        upload = api.files_create(file=("b.txt", b"hello", "text/plain"), purpose="user_data")
        assert await asyncio_chat.run_operation(config, upload, connect=connect) == created
        assert player.unplayed == []
        with pytest.raises(CassetteMiss, match="closest is #0"):
            await asyncio_chat.stream_chat_with_config(config, "gpt-4o-mini", "Say bye", connect=connect)

    asyncio.run(asyncio.wait_for(replay(), 30))
