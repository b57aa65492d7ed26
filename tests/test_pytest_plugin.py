"""The pytest plugin's fixtures, in pytest sessions of their own."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

from openai_trio.testing import FakeServer, run_fake_server_in_thread

KEY = "sk-canary-plugin-5d1e"

INNER = textwrap.dedent(
    '''
    import trio
    import openai_trio
    import pytest
    from openai_trio.testing import FAKE_REPLY, FakeResponse, RateLimited


    def test_fake_server_sync(openai_fake_server):
        openai_fake_server.enqueue(FakeResponse.error(429, "slow", headers={"retry-after-ms": "1"}))

        async def main():
            async with openai_trio.Client(api_key="k", base_url=openai_fake_server.base_url) as client:
                return await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}])

        assert trio.run(main).choices[0].message.content == FAKE_REPLY
        assert len(openai_fake_server.requests) == 2


    def test_fault_plan(openai_fake_server, openai_fault_plan):
        plan = openai_fault_plan([RateLimited()])

        async def main():
            async with openai_trio.Client(api_key="k", base_url=openai_fake_server.base_url) as client:
                await client.models.list()

        trio.run(main)
        assert plan.counts["RateLimited"] == 1 and len(openai_fake_server.requests) == 2


    @pytest.mark.openai_cassette(volatile=["user"])
    def test_chat(openai_cassette):
        async def main():
            async with openai_cassette.client(max_retries=0) as client:
                return await client.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "Hi"}], user=USER
                )

        assert trio.run(main).choices[0].message.content == FAKE_REPLY
    '''
)


def _pytest(directory: pathlib.Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "PYTEST_"))}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-W", "error", *args, str(directory)],
        capture_output=True, text=True, cwd=directory, env=full, timeout=60, check=False,
    )


@pytest.mark.timeout(120)
def test_fixtures_record_then_replay(tmp_path: pathlib.Path) -> None:
    (tmp_path / "test_inner.py").write_text("USER = 'one'\n" + INNER, encoding="utf-8")
    server = FakeServer()
    with run_fake_server_in_thread(server) as base_url:
        recorded = _pytest(tmp_path, "--openai-record", env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": base_url})
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    cassette = tmp_path / "cassettes" / "test_chat.jsonl"
    assert cassette.is_file() and KEY not in cassette.read_text(encoding="utf-8")
    assert [r.path for r in server.requests][-1] == "/v1/chat/completions"
    # Replayed with no server and no key; the volatile "user" may change.
    (tmp_path / "test_inner.py").write_text("USER = 'two'\n" + INNER, encoding="utf-8")
    replayed = _pytest(tmp_path, "-k", "test_chat", env={})
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    # A request the cassette lacks fails loudly, naming it and the closest.
    (tmp_path / "test_inner.py").write_text(
        "USER = 'two'\n" + INNER.replace('"content": "Hi"}], user', '"content": "Bye"}], user'), encoding="utf-8"
    )
    missed = _pytest(tmp_path, "-k", "test_chat", env={})
    assert missed.returncode == 1
    assert "CassetteMiss: no recording matches POST /v1/chat/completions; closest is #0" in missed.stdout
    cassette.unlink()
    absent = _pytest(tmp_path, "-k", "test_chat", env={})
    assert "--openai-record" in absent.stdout and "no cassette at" in absent.stdout
