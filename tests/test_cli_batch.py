"""``python -m openai_trio batch run``: against the fake server in a
thread, with a fake key."""

from __future__ import annotations

import io
import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import pytest

from openai_trio._cli import main
from openai_trio.testing import FakeServer, run_fake_server_in_thread

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHAT = "/v1/chat/completions"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)


def run_main(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def write_requests(path: pathlib.Path, n: int, failing: tuple[int, ...] = (), **extra: Any) -> pathlib.Path:
    with path.open("w") as file:
        for i in range(n):
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{i}"}], **extra}
            if i in failing:
                body["n"] = 99
            file.write(json.dumps({"custom_id": f"line-{i}", "method": "POST", "url": CHAT, "body": body}) + "\n")
    return path


def fast(server: FakeServer) -> FakeServer:
    server.openai.batches.poll_after_ms = 1
    return server


def test_batch_run_to_stdout(tmp_path: pathlib.Path) -> None:
    requests = write_requests(tmp_path / "requests.jsonl", 4)
    server = fast(FakeServer())
    with run_fake_server_in_thread(server) as base_url:
        code, out, err = run_main("batch", "run", str(requests), "--base-url", base_url, "--api-key", "sk-cli-secret")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["custom_id"] for r in records] == [f"line-{i}" for i in range(4)]
    assert all(r["status_code"] == 200 and r["error"] is None for r in records)
    assert records[0]["response"]["object"] == "chat.completion"
    first, last = err.splitlines()
    assert first.startswith("batch batch_") and first.endswith("--resume " + first.split()[1])
    assert last.endswith("completed: 4 succeeded, 0 failed")
    assert "sk-cli-secret" not in out + err


def test_batch_run_to_a_file_with_failures_then_resume(tmp_path: pathlib.Path) -> None:
    requests = write_requests(tmp_path / "requests.jsonl", 5, failing=(3,))
    output = tmp_path / "results.jsonl"
    server = fast(FakeServer())
    with run_fake_server_in_thread(server) as base_url:
        common = ["--base-url", base_url, "--api-key", "sk-fake", "--no-progress"]
        code, out, err = run_main("batch", "run", str(requests), "--endpoint", CHAT, "--output", str(output), *common)
        assert (code, out) == (1, "")
        records = [json.loads(line) for line in output.read_text().splitlines()]
        assert [r["status_code"] for r in records] == [200, 200, 200, 400, 200]
        assert records[3]["error"]["type"] == "BadRequestError"
        assert err.splitlines()[-1].endswith("completed: 4 succeeded, 1 failed")
        batch_id = err.split()[1]
        code, out, err = run_main("batch", "run", "--resume", batch_id, *common)
    assert code == 1
    assert [json.loads(line)["custom_id"] for line in out.splitlines()] == [f"line-{i}" for i in range(5)]
    assert err.startswith(f"batch {batch_id} resumed")
    assert sum(r.path == "/v1/batches" and r.method == "POST" for r in server.requests) == 1


def test_a_bad_line_stops_before_anything_is_sent(tmp_path: pathlib.Path) -> None:
    requests = write_requests(tmp_path / "requests.jsonl", 3, temprature=1)
    server = FakeServer()
    with run_fake_server_in_thread(server) as base_url:
        code, out, err = run_main("batch", "run", str(requests), "--base-url", base_url, "--api-key", "sk-fake")
    assert (code, out) == (1, "")
    assert "BatchLineError: Line 1 (custom_id 'line-0'): unknown parameter `temprature`" in err
    assert server.requests == []
    (tmp_path / "broken.jsonl").write_bytes(b'{"custom_id": "a"\n')
    with run_fake_server_in_thread(FakeServer()) as base_url:
        code, _, err = run_main("batch", "run", str(tmp_path / "broken.jsonl"), "--base-url", base_url, "--api-key", "k")
    assert code == 1 and "Line 1 of the batch input file: not valid JSON" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["batch", "run"], "give a requests file, or --resume BATCH_ID"),
        (["batch", "run", "x.jsonl", "--resume", "batch_1"], "not both"),
        (["batch", "run", "missing.jsonl"], "no such file: missing.jsonl"),
    ],
)
def test_usage_errors(argv: list[str], message: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(*argv, "--base-url", "http://127.0.0.1:9/v1")
    assert (code, out) == (2, "")
    assert message in err


def test_batch_run_subprocess(tmp_path: pathlib.Path) -> None:
    requests = write_requests(tmp_path / "requests.jsonl", 2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["OPENAI_API_KEY"] = "sk-env-fake"
    with run_fake_server_in_thread(fast(FakeServer())) as base_url:
        result = subprocess.run(
            [sys.executable, "-m", "openai_trio", "batch", "run", str(requests), "--base-url", base_url],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=30, check=False,
        )
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["custom_id"] for line in result.stdout.splitlines()] == ["line-0", "line-1"]
