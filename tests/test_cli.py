"""``python -m openai_trio``: the demo and the chat command."""

from __future__ import annotations

import importlib
import io
import os
import pathlib
import subprocess
import sys

import pytest

from openai_trio._cli import main
from openai_trio.testing import FAKE_REPLY, FakeResponse, FakeServer, run_fake_server_in_thread

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)


def run_main(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_demo_subprocess() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-m", "openai_trio", "demo", "--delay", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == FAKE_REPLY
    assert lines[1].startswith("-- streamed 31 pieces from the fake server at http://127.0.0.1:")
    assert "1 connection," in lines[1]
    assert "request id req_" in lines[1]
    assert result.stderr == ""


@pytest.mark.parametrize(("argv", "status"), [(["demo", "--delay", "0"], 0), (["chat", "p"], 2)])
def test_python_m_in_process(
    argv: list[str], status: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # What ``python -m openai_trio`` runs, without a subprocess (which
    # coverage does not follow): main()'s status becomes the exit status.
    # Compiled and run by hand as runpy would (runpy itself trips on
    # pytest's import hook, which claims this package for its plugin).
    path = ROOT / "openai_trio" / "__main__.py"
    code = compile(path.read_text(encoding="utf-8"), str(path), "exec")
    monkeypatch.setattr(sys, "argv", ["openai_trio", *argv])
    with pytest.raises(SystemExit) as info:
        exec(code, {"__name__": "__main__", "__package__": "openai_trio", "__file__": str(path)})
    assert info.value.code == status
    out, err = capsys.readouterr()
    if status == 0:
        assert out.splitlines()[0] == FAKE_REPLY and err == ""
    else:
        assert out == "" and "OPENAI_API_KEY" in err


def test_importing_the_main_module_runs_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["openai_trio", "nope"])
    monkeypatch.delitem(sys.modules, "openai_trio.__main__", raising=False)
    module = importlib.import_module("openai_trio.__main__")
    assert module.main is main
    assert capsys.readouterr() == ("", "")


def test_demo_in_process() -> None:
    code, out, err = run_main("demo", "Hi!", "--delay", "0", "--model", "gpt-4.1-nano")
    assert code == 0
    assert out.startswith(FAKE_REPLY + "\n-- streamed ")
    assert err == ""


@pytest.mark.parametrize("stream", [False, True])
def test_chat_against_fake_server(stream: bool) -> None:
    server = FakeServer()
    with run_fake_server_in_thread(server) as base_url:
        argv = ["chat", "Say hi", "--base-url", base_url, "--api-key", "sk-cli", "--model", "m1"]
        code, out, err = run_main(*argv, *(["--stream"] if stream else []))
    assert (code, out, err) == (0, FAKE_REPLY + "\n", "")
    (request,) = server.requests
    body = request.json()
    assert body["model"] == "m1"
    assert body["messages"] == [{"role": "user", "content": "Say hi"}]
    assert body.get("stream", False) is stream
    assert request.headers["authorization"] == "Bearer sk-cli"


def test_chat_reads_environment_and_options(monkeypatch: pytest.MonkeyPatch) -> None:
    server = FakeServer()
    with run_fake_server_in_thread(server) as base_url:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
        monkeypatch.setenv("OPENAI_BASE_URL", base_url)
        code, out, _ = run_main("chat", "p", "--stream", "--max-tokens", "2", "--system", "be brief")
    assert (code, out) == (0, "Hello! This\n")
    (request,) = server.requests
    assert request.headers["authorization"] == "Bearer sk-env"
    assert request.json()["max_tokens"] == 2
    assert request.json()["messages"][0] == {"role": "system", "content": "be brief"}


@pytest.mark.parametrize("stream", [False, True])
def test_chat_error_is_one_line_without_key(stream: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    server = FakeServer(api_key="sk-right")
    with run_fake_server_in_thread(server) as base_url:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-secret")
        code, out, err = run_main(
            "chat", "p", "--base-url", base_url, *(["--stream"] if stream else [])
        )
    assert code == 1
    assert out == ""
    assert err.startswith("python -m openai_trio: error: AuthenticationError: Error code: 401")
    assert err.count("\n") == 1
    assert "sk-wrong-secret" not in err


def test_chat_stream_cut_short_keeps_printed_text() -> None:
    server = FakeServer()
    events = [{"choices": [{"index": 0, "delta": {"content": w}}]} for w in ["one", " two", " three"]]
    server.enqueue(FakeResponse.sse(events, close_after=2))
    with run_fake_server_in_thread(server) as base_url:
        code, out, err = run_main("chat", "p", "--stream", "--base-url", base_url, "--api-key", "k")
    assert code == 1
    assert out == "one two\n"
    assert err.startswith("python -m openai_trio: error: ")
    assert err.count("\n") == 1


def test_chat_without_key_for_openai_is_refused() -> None:
    code, out, err = run_main("chat", "p")
    assert code == 2
    assert out == ""
    assert "OPENAI_API_KEY" in err


def test_chat_bad_base_url() -> None:
    code, _, err = run_main("chat", "p", "--base-url", "ftp://nowhere", "--api-key", "sk-x")
    assert code == 1
    assert "base_url" in err
    assert "sk-x" not in err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["chat"],
        ["chat", "p", "--max-tokens", "0"],
        ["chat", "p", "--timeout", "-1"],
        ["chat", "p", "--max-retries", "-1"],
        ["demo", "--delay", "-1"],
        ["nope"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("openai-trio ")
