"""Logging: ``OPENAI_LOG`` switches it on; the API key never appears."""

from __future__ import annotations

import logging
from typing import Any

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


def _chain(exc: BaseException | None) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def _assert_clean(text: str) -> None:
    assert KEY not in text
    # Not even a fragment of it.
    assert KEY[3:15] not in text


async def test_key_never_in_logs_errors_or_reprs(
    caplog: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    caplog.set_level(logging.DEBUG, logger="openai_trio")
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    reprs: list[str] = []
    echo = f"Incorrect API key provided: {KEY}. Authorization: Bearer {KEY}"
    chunk: dict[str, Any] = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
             "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}]}
    async with FakeServer() as server:
        client = Client(api_key=KEY, base_url="http://fake.test/v1", connector=server.connect, max_retries=1)
        reprs += [repr(client), str(client), repr(client.config), repr(client.with_options(timeout=3.0))]
        async with client:
            scripted = [
                # Error bodies that echo the key, JSON and not.
                [FakeResponse.error(401, echo)],
                [FakeResponse.text(echo, 502, keep_alive=False), FakeResponse.text(echo, 502)],
                # A 200 that is not JSON, echoing the key.
                [FakeResponse.text(echo, 200)],
                # Broken framing, a hang-up, a timeout.
                [FakeResponse.raw([b"HTTP/1.1 200 OK\r\nx-echo " + KEY.encode() + b"\r\n\r\n"])],
                [FakeResponse.raw([]), FakeResponse.raw([])],
                [FakeResponse.hanging(), FakeResponse.hanging()],
            ]
            for responses in scripted:
                server.enqueue(*responses)
                try:
                    await client.models.list(timeout=openai_trio.Timeout(read=1.0))
                except openai_trio.APIError as exc:
                    errors.append(exc)
            # Streams: items, an error event echoing the key, a bad payload.
            bodies: list[list[dict[str, Any] | str]] = [
                [chunk, {"error": {"message": echo}}],
                [chunk, f"data: {{{echo}\n\n"],
            ]
            for body in bodies:
                server.enqueue(FakeResponse.sse(body))
                async with await client.chat.completions.create(
                    model="m", messages=MESSAGES, stream=True
                ) as stream:
                    reprs.append(repr(stream))
                    reprs.append(repr(stream.request))
                    try:
                        async for _item in stream:
                            pass
                    except openai_trio.APIError as exc:
                        errors.append(exc)
                reprs.append(repr(stream))
    assert len(errors) == 8
    leaking = [type(e).__name__ for e in errors if KEY in repr(vars(e)) + str(e)]
    assert not leaking
    for error in errors:
        for link in _chain(error):
            _assert_clean(str(link))
            _assert_clean(repr(link))
            _assert_clean(repr(getattr(link, "request", None)))
            _assert_clean(repr(getattr(link, "body", None)))
            _assert_clean(repr(vars(link)))
    for text in reprs:
        _assert_clean(text)
    assert caplog.records
    for record in caplog.records:
        _assert_clean(record.getMessage())
        _assert_clean(repr(record.args))
    _assert_clean(caplog.text)


async def test_logged_urls_leave_out_the_query_string(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="openai_trio")
    async with FakeServer() as server, openai_trio.Client(
        api_key="sk-test", base_url="http://fake.test/v1", connector=server.connect,
        default_query={"key": "query-secret-value"},
    ) as client:
        await client.models.list()
    assert server.requests[0].target.endswith("?key=query-secret-value")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "/v1/models?..." in text
    assert "query-secret-value" not in text
