"""The pytest plugin's fixtures used in this very session (the package's
entry point loads the plugin here too): the fake server, fault plans, and a
cassette committed beside this file, replayed with no server and no key."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
import trio

import openai_trio
from openai_sansio import CassetteMiss, loads_cassette
from openai_trio.testing import (
    FAKE_REPLY,
    FakeResponse,
    FakeServer,
    RateLimited,
    run_fake_server_in_thread,
)
from openai_trio.testing._plugin import CassetteFixture

MESSAGES: list[Any] = [{"role": "user", "content": "Hi"}]
CASSETTES = pathlib.Path(__file__).parent / "cassettes"


def run(main: Any) -> Any:
    async def bounded() -> Any:
        with trio.fail_after(20):
            return await main()

    return trio.run(bounded)


def test_fake_server_fixture_serves_a_sync_test(openai_fake_server: FakeServer) -> None:
    openai_fake_server.enqueue(FakeResponse.error(429, "slow", headers={"retry-after-ms": "1"}))

    async def main() -> Any:
        async with openai_trio.Client(api_key="sk-test", base_url=openai_fake_server.base_url) as client:
            return await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    assert run(main).choices[0].message.content == FAKE_REPLY
    assert len(openai_fake_server.requests) == 2


def test_fault_plan_fixture_installs_the_plan(openai_fake_server: FakeServer, openai_fault_plan: Any) -> None:
    plan = openai_fault_plan([RateLimited(retry_after_ms=1)])

    async def main() -> None:
        async with openai_trio.Client(api_key="sk-test", base_url=openai_fake_server.base_url) as client:
            await client.models.list()

    run(main)
    assert openai_fake_server.fault_plan is plan
    assert plan is not None and plan.counts["RateLimited"] == 1 and len(openai_fake_server.requests) == 2


# tests/cassettes/test_committed_cassette_replays.jsonl was recorded from the
# fake server with the fixture in recording mode (see the next test); this
# one replays it as CI does, with no server and no key.
@pytest.mark.openai_cassette(volatile=["user"])
def test_committed_cassette_replays(openai_cassette: CassetteFixture) -> None:
    assert not openai_cassette.recording
    assert openai_cassette.path == CASSETTES / "test_committed_cassette_replays.jsonl"
    assert "replaying" in repr(openai_cassette)

    async def main() -> Any:
        async with openai_cassette.client(max_retries=0) as client:
            completion = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, user="anyone")
            with pytest.raises(CassetteMiss, match="closest is #0"):
                await client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "Bye"}]
                )
            return completion

    assert run(main).choices[0].message.content == FAKE_REPLY


@pytest.mark.openai_cassette(name="test_committed_cassette_replays")
def test_cassette_player_for_the_blocking_driver(openai_cassette: CassetteFixture) -> None:
    player = openai_cassette.player()
    assert len(player.unplayed) == 1


def test_a_missing_cassette_plays_nothing(openai_cassette: CassetteFixture) -> None:
    assert not openai_cassette.path.exists()
    assert openai_cassette.player().unplayed == []


def test_recording_mode_records_real_traffic(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = "sk-canary-fixture-recording-7f3a"
    server = FakeServer()
    path = tmp_path / "recorded.jsonl"
    with run_fake_server_in_thread(server) as base_url:
        monkeypatch.setenv("OPENAI_API_KEY", key)
        monkeypatch.setenv("OPENAI_BASE_URL", base_url)
        fixture = CassetteFixture(path, recording=True, options={"timings": True})
        assert fixture.recording and "recording" in repr(fixture)

        async def main() -> Any:
            async with fixture.client(max_retries=0) as client:
                return await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, user="me")

        assert run(main).choices[0].message.content == FAKE_REPLY
    text = path.read_text(encoding="utf-8")
    assert key not in text
    (exchange,) = loads_cassette(text).exchanges
    assert exchange.request.target == "/v1/chat/completions"
    assert exchange.response.delays is not None
