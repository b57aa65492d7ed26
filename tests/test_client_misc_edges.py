"""Edges of the command line, the package namespace and streamed bodies: what each argument
check says, the retry and timeout options taking effect, an output that
breaks or is interrupted mid-stream, and the lazy exports of
``openai_trio``."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from typing import Any

import pytest
import trio

import openai_trio
from openai_trio import Client
from openai_trio._cli import main
from openai_trio.testing import FAKE_REPLY, FakeResponse, FakeServer, run_fake_server_in_thread


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["chat", "p", "--max-retries=-1"], "argument --max-retries: must not be negative"),
        (["chat", "p", "--timeout=0"], "argument --timeout: must be positive"),
        (["chat", "p", "--timeout=-1.5"], "argument --timeout: must be positive"),
        (["chat", "p", "--max-tokens=0"], "argument --max-tokens: must be at least 1"),
        (["demo", "--delay=-1"], "argument --delay: must not be negative"),
        (["chat", "p", "--timeout=soon"], "argument --timeout: invalid _positive_float value"),
    ],
)
def test_argument_checks_name_the_problem(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(("retries", "code"), [("1", 0), ("0", 1)])
def test_max_retries_and_timeout_options_are_used(retries: str, code: int) -> None:
    server = FakeServer()
    server.enqueue(FakeResponse.error(500, "try again", headers={"retry-after-ms": "1"}))
    out, err = io.StringIO(), io.StringIO()
    with run_fake_server_in_thread(server) as base_url:
        argv = ["chat", "p", "--base-url", base_url, "--api-key", "sk-cli", "--timeout", "30", "--max-retries", retries]
        assert main(argv, stdout=out, stderr=err) == code
    assert len(server.requests) == 2 - code
    if code == 0:
        assert (out.getvalue(), err.getvalue()) == (FAKE_REPLY + "\n", "")
    else:
        assert err.getvalue().startswith("python -m openai_trio: error: InternalServerError: Error code: 500")


class BrokenOutput(io.StringIO):
    """An output that fails once the first piece of the reply is written."""

    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error

    def write(self, text: str) -> int:
        if text.strip():
            raise self.error
        return super().write(text)


def test_a_broken_output_pipe_is_a_one_line_error() -> None:
    err = io.StringIO()
    code = main(["demo", "Hi", "--delay", "0"], stdout=BrokenOutput(BrokenPipeError(32, "Broken pipe")), stderr=err)
    assert code == 1
    assert err.getvalue() == "python -m openai_trio: error: BrokenPipeError: [Errno 32] Broken pipe\n"


def test_an_interrupt_mid_stream_exits_130() -> None:
    out, err = BrokenOutput(KeyboardInterrupt()), io.StringIO()
    assert main(["demo", "Hi", "--delay", "0"], stdout=out, stderr=err) == 130
    assert err.getvalue() == "" and out.getvalue() == ""


def test_lazy_exports_resolve_once_and_unknown_names_raise() -> None:
    tool = openai_trio.Tool
    assert tool is openai_trio.Tool and "Tool" in vars(openai_trio)
    with pytest.raises(AttributeError, match="module 'openai_trio' has no attribute 'NoSuchThing'"):
        _ = openai_trio.NoSuchThing
    assert not hasattr(openai_trio, "also_missing")


def test_every_exported_name_resolves_in_a_fresh_interpreter() -> None:
    code = (
        "import openai_trio\n"
        "missing = [n for n in openai_trio.__all__ if getattr(openai_trio, n, None) is None]\n"
        "print(missing)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


# -- streams and bodies ---------------------------------------------------------------

KEY = "sk-test-client-misc-edges"


def with_client(test: Any) -> Any:
    async def main() -> Any:
        async with (
            FakeServer() as server,
            Client(api_key=KEY, base_url="http://fake.test/v1", connector=server.connect, max_retries=0) as client,
        ):
            return await test(server, client)

    return trio.run(main)


def test_text_deltas_skip_the_usage_chunk() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        stream = await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True,
            stream_options={"include_usage": True},
        )
        async with stream:
            assert "".join([t async for t in stream.text_deltas()]) == FAKE_REPLY

    with_client(test)


def test_a_body_of_several_mebibytes_arrives_whole() -> None:
    data = bytes(range(256)) * (3 * 4096)  # 3 MiB, read in many pieces

    async def test(server: FakeServer, client: Client) -> None:
        made = await client.files.create(file=("big.bin", data), purpose="batch")
        content = await client.files.content(made.id)
        assert len(content.content) == len(data) and content.content == data

    with_client(test)


def test_a_stream_whose_last_event_has_no_blank_line_after_it() -> None:
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": {"content": "end"}, "finish_reason": "stop"}]}
    body = b"data: " + json.dumps(chunk).encode() + b"\n\ndata: [DONE]"

    async def test(server: FakeServer, client: Client) -> None:
        server.enqueue(FakeResponse(body=(body,), content_type="text/event-stream"))
        stream = await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        async with stream:
            assert [t async for t in stream.text_deltas()] == ["end"]
        # The connection was whole, so it went back to the pool.
        again = await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        assert again.choices[0].message.content == FAKE_REPLY
        assert server.connections_opened == 1

    with_client(test)
