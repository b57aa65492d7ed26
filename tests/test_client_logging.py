"""Logging: ``OPENAI_LOG`` switches it on; the API key never appears."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

import openai_trio
from openai_trio import Client
from openai_trio._logging import logger, setup_logging
from openai_trio.testing import FakeResponse, FakeServer

KEY = "sk-secret-must-not-leak-4242"
MESSAGES = [{"role": "user", "content": "Hello"}]


async def test_debug_logs_never_contain_the_key(
    caplog: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    caplog.set_level(logging.DEBUG, logger="openai_trio")
    async with (
        FakeServer() as server,
        Client(api_key=KEY, base_url="http://fake.test/v1", connector=server.connect) as client,
    ):
        server.enqueue(
            # Not kept alive, so the next attempt opens a fresh connection and
            # its hang-up counts as a connection error.
            FakeResponse.error(
                429, f"bad key {KEY}", headers={"retry-after-ms": "5"}, keep_alive=False
            ),
            FakeResponse.raw([]),
        )
        await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        server.enqueue(FakeResponse.error(401, f"Incorrect API key provided: {KEY}"))
        with pytest.raises(openai_trio.AuthenticationError) as info:
            await client.models.list(max_retries=0)
        assert KEY not in str(info.value)
        assert KEY not in repr(info.value.request)
        async with await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        ) as stream:
            assert KEY not in repr(stream)
            async for _chunk in stream:
                pass
    messages = [r.getMessage() for r in caplog.records]
    assert any("HTTP Request: POST http://fake.test:80/v1/chat/completions" in m for m in messages)
    assert any("Retrying" in m and "429" in m for m in messages)
    assert any("Retrying" in m and "APIConnectionError" in m for m in messages)
    for record in caplog.records:
        assert KEY not in record.getMessage()
        assert KEY not in repr(record.args)
        assert "authorization" not in record.getMessage().lower()
    assert KEY not in caplog.text


def test_openai_log_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import openai_trio._logging as module

    monkeypatch.setattr(module, "_configured", False)
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "level", logging.NOTSET)
    setup_logging({"OPENAI_LOG": "debug"})
    assert logger.level == logging.DEBUG
    assert len(logger.handlers) == 1
    # Only once per process.
    setup_logging({"OPENAI_LOG": "info"})
    assert logger.level == logging.DEBUG

    monkeypatch.setattr(module, "_configured", False)
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "level", logging.NOTSET)
    setup_logging({"OPENAI_LOG": "INFO"})
    assert logger.level == logging.INFO

    monkeypatch.setattr(module, "_configured", False)
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "level", logging.NOTSET)
    setup_logging({})
    assert logger.level == logging.NOTSET
    assert logger.handlers == []
