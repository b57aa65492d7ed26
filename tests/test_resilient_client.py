"""``ResilientClient`` (issue 10): failover, circuit breaking, rate limits
and health checks around real clients and fake servers, on MockClock."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

import openai_trio
from openai_trio import (
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    Client,
    Endpoint,
    RateLimiter,
    ResilientClient,
)
from openai_trio.testing import FakeResponse, FakeServer

KEY_A = "sk-primary-SECRET-aaaaaaaa"
KEY_B = "sk-backup-SECRET-bbbbbbbb"
MESSAGES = [{"role": "user", "content": "Hello"}]


@asynccontextmanager
async def two_servers(**client_options: Any) -> AsyncIterator[tuple[FakeServer, FakeServer, Client, Client]]:
    client_options.setdefault("max_retries", 0)
    async with FakeServer() as a, FakeServer() as b, Client(
        api_key=KEY_A, base_url="https://primary.test/v1", connector=a.connect, **client_options
    ) as primary, Client(
        api_key=KEY_B, base_url="http://backup.test:8080/v1", connector=b.connect, **client_options
    ) as backup:
        yield a, b, primary, backup


@asynccontextmanager
async def one_server(**client_options: Any) -> AsyncIterator[tuple[FakeServer, Client]]:
    async with FakeServer() as server, Client(
        api_key=KEY_A, base_url="http://one.test/v1", connector=server.connect, **client_options
    ) as one:
        yield server, one


async def ask(client: ResilientClient, **kwargs: Any) -> Any:
    return await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, **kwargs)


async def test_a_failing_endpoint_fails_over_to_the_next() -> None:
    async with two_servers() as (a, b, primary, backup):
        resilient = ResilientClient(primary, backup)
        a.enqueue(FakeResponse.error(503, "overloaded"))
        completion = await ask(resilient)
        assert completion.choices[0].message.content
        assert len(a.requests) == 1 and len(b.requests) == 1
        assert b.last_request.headers["authorization"] == f"Bearer {KEY_B}"
        # Healthy again: the primary serves the next call.
        await ask(resilient)
        assert len(a.requests) == 2 and len(b.requests) == 1


async def test_errors_about_the_request_are_not_failed_over() -> None:
    async with two_servers() as (a, b, primary, backup):
        resilient = ResilientClient(primary, backup)
        a.enqueue(FakeResponse.error(400, "bad messages"))
        with pytest.raises(openai_trio.BadRequestError):
            await ask(resilient)
        assert b.requests == []


async def test_when_every_endpoint_fails_the_last_error_says_where() -> None:
    async with two_servers() as (a, b, primary, backup):
        resilient = ResilientClient(primary, backup)
        a.enqueue(FakeResponse.error(500, "boom"))
        b.enqueue(FakeResponse.error(429, "slow down"))
        with pytest.raises(openai_trio.RateLimitError) as caught:
            await ask(resilient)
        if sys.version_info >= (3, 11):
            note = "\n".join(caught.value.__notes__)
            assert "https://primary.test:443: InternalServerError (500)" in note
            assert "http://backup.test:8080: RateLimitError (429)" in note
            assert "SECRET" not in note
        assert "SECRET" not in repr(resilient) and "SECRET" not in repr(resilient.endpoints)


async def test_a_custom_failover_rule() -> None:
    async with two_servers() as (a, b, primary, backup):
        resilient = ResilientClient(primary, backup, failover_on=lambda error: True)
        a.enqueue(FakeResponse.error(404, "no such model here"))
        await ask(resilient)
        assert len(b.requests) == 1


async def test_the_circuit_opens_skips_the_endpoint_and_probes_it_later(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with two_servers() as (a, b, primary, backup):
        breaker = CircuitBreaker(failure_threshold=2, recovery_time=30.0)
        resilient = ResilientClient(primary, backup, circuit_breaker=breaker)
        a.enqueue(FakeResponse.error(502, "down"), FakeResponse.error(502, "down"))
        await ask(resilient)
        await ask(resilient)
        assert breaker.state("https://primary.test:443", trio.current_time()) is CircuitState.OPEN
        for _ in range(3):
            await ask(resilient)
        assert len(a.requests) == 2  # skipped while open
        assert len(b.requests) == 5
        await trio.sleep(30.0)
        await ask(resilient)  # the probe, which succeeds
        assert len(a.requests) == 3
        assert breaker.state("https://primary.test:443", trio.current_time()) is CircuitState.CLOSED


async def test_every_circuit_open_raises_before_sending(autojump_clock: trio.testing.MockClock) -> None:
    async with two_servers() as (a, b, primary, backup):
        breaker = CircuitBreaker(failure_threshold=1, recovery_time=60.0)
        resilient = ResilientClient(primary, backup, circuit_breaker=breaker)
        a.enqueue(FakeResponse.error(500, "x"))
        b.enqueue(FakeResponse.error(500, "y"))
        with pytest.raises(openai_trio.InternalServerError):
            await ask(resilient)
        await trio.sleep(10.0)
        with pytest.raises(CircuitOpenError, match="nothing was sent") as caught:
            await ask(resilient)
        assert isinstance(caught.value, openai_trio.APIConnectionError)
        assert caught.value.retry_at - trio.current_time() == pytest.approx(50.0)
        assert len(a.requests) == 1 and len(b.requests) == 1


async def test_a_cancelled_probe_frees_the_half_open_circuit(autojump_clock: trio.testing.MockClock) -> None:
    async with one_server(max_retries=0) as (server, one):
        breaker = CircuitBreaker(failure_threshold=1, recovery_time=5.0)
        resilient = ResilientClient(one, circuit_breaker=breaker)
        server.enqueue(FakeResponse.error(500, "x"))
        with pytest.raises(openai_trio.InternalServerError):
            await ask(resilient)
        await trio.sleep(5.0)
        server.enqueue(FakeResponse.json({}, headers_delay=100.0))
        with trio.move_on_after(1.0):
            await ask(resilient)
        # The probe was given back: the next call may probe.
        assert breaker.state("http://one.test:80", trio.current_time()) is CircuitState.HALF_OPEN
        assert (await ask(resilient)).choices


async def test_requests_per_minute_space_calls_out(autojump_clock: trio.testing.MockClock) -> None:
    async with one_server() as (_server, one):
        resilient = ResilientClient(Endpoint(one, rate_limiter=RateLimiter(requests_per_minute=2)))
        finished: list[float] = []

        async def call() -> None:
            await ask(resilient)
            finished.append(trio.current_time())

        async with trio.open_nursery() as nursery:
            for _ in range(5):
                nursery.start_soon(call)
        # Two at once (a full bucket), then one every 30 s.
        assert [round(t) for t in sorted(finished)] == [0, 0, 30, 60, 90]


async def test_a_caller_cancelled_while_waiting_takes_no_budget(autojump_clock: trio.testing.MockClock) -> None:
    async with one_server() as (server, one):
        limiter = RateLimiter(requests_per_minute=1)
        resilient = ResilientClient(Endpoint(one, rate_limiter=limiter))
        await ask(resilient)
        with trio.move_on_after(10.0):
            await ask(resilient)
        assert len(server.requests) == 1
        # The budget refills on time; the cancelled wait took none of it.
        await trio.sleep(50.0)
        assert limiter.delay(trio.current_time()) == 0
        await ask(resilient)
        assert len(server.requests) == 2


async def test_server_rate_limit_headers_hold_the_next_call(autojump_clock: trio.testing.MockClock) -> None:
    async with one_server() as (server, one):
        resilient = ResilientClient(Endpoint(one, rate_limiter=RateLimiter()))
        exhausted = {
            "x-ratelimit-limit-requests": "100",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "12s",
        }
        body = {
            "id": "c", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "hi", "refusal": None}}],
        }
        server.enqueue(FakeResponse.json(body, headers=exhausted))
        await ask(resilient)
        started = trio.current_time()
        await ask(resilient)
        assert trio.current_time() - started == pytest.approx(12.0)


async def test_a_429_with_retry_after_holds_the_endpoint(autojump_clock: trio.testing.MockClock) -> None:
    async with two_servers() as (a, b, primary, backup):
        resilient = ResilientClient(Endpoint(primary, rate_limiter=RateLimiter()), backup)
        a.enqueue(FakeResponse.error(429, "slow down", headers={"retry-after": "20"}))
        await ask(resilient)  # failed over to the backup
        started = trio.current_time()
        await ask(resilient)  # the primary's budget waits out its retry-after
        assert trio.current_time() - started == pytest.approx(20.0)
        assert len(a.requests) == 2 and len(b.requests) == 1


async def test_tokens_per_minute_settle_on_the_usage_reported(autojump_clock: trio.testing.MockClock) -> None:
    async with one_server() as (_server, one):
        limiter = RateLimiter(tokens_per_minute=1000)
        resilient = ResilientClient(Endpoint(one, rate_limiter=limiter))
        completion = await ask(resilient, max_completion_tokens=900)
        used = completion.usage.total_tokens
        assert used < 900
        # The estimate (about 900) was counted and the difference given back.
        assert limiter.delay(trio.current_time(), 1000 - used - 5) == 0


async def test_streams_pages_and_raw_responses_go_through() -> None:
    async with two_servers() as (a, b, primary, backup):
        resilient = ResilientClient(primary, backup, circuit_breaker=CircuitBreaker())
        a.enqueue(FakeResponse.error(503, "busy"))
        stream = await ask(resilient, stream=True)
        async with stream:
            chunks = [chunk async for chunk in stream]
        assert chunks and len(b.requests) == 1
        page = await resilient.models.list()
        assert page.data
        assert [m.id async for m in resilient.models.list()] == [m.id for m in page.data]
        raw = await resilient.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
        assert raw.status_code == 200 and raw.parse().choices
        async with resilient.chat.completions.with_streaming_response.create(model="m", messages=MESSAGES) as r:
            assert r.status_code == 200
            assert (await r.parse()).choices


async def test_health_checks_feed_the_breaker(autojump_clock: trio.testing.MockClock) -> None:
    async with two_servers() as (a, b, primary, backup):
        breaker = CircuitBreaker(failure_threshold=1, recovery_time=300.0)
        resilient = ResilientClient(primary, backup, circuit_breaker=breaker)
        a.enqueue(FakeResponse.error(500, "x"))
        await ask(resilient)
        assert breaker.state("https://primary.test:443", trio.current_time()) is CircuitState.OPEN
        b.enqueue(FakeResponse.error(503, "maintenance"))
        report = await resilient.check_health()
        assert [(h.origin, h.ok, h.error, h.circuit) for h in report] == [
            ("https://primary.test:443", True, None, CircuitState.CLOSED),
            ("http://backup.test:8080", False, "InternalServerError (503)", CircuitState.OPEN),
        ]
        assert report[0].latency is not None and report[1].latency is None
        assert a.last_request.path == "/v1/models"
        with pytest.raises(openai_trio.LocalProtocolError, match="probe_timeout"):
            await resilient.check_health(probe_timeout=0)


async def test_monitor_checks_until_cancelled(autojump_clock: trio.testing.MockClock) -> None:
    async with two_servers() as (a, b, primary, backup):
        resilient = ResilientClient(primary, backup, circuit_breaker=CircuitBreaker())
        async with trio.open_nursery() as nursery:
            await nursery.start(resilient.monitor, 10.0)
            await trio.sleep(35.0)
            nursery.cancel_scope.cancel()
        assert len(a.requests) == len(b.requests) == 4
        with pytest.raises(openai_trio.LocalProtocolError, match="interval"):
            await resilient.monitor(0)


async def test_leaving_the_block_closes_every_client() -> None:
    async with FakeServer() as a, FakeServer() as b:
        one = Client(api_key=KEY_A, base_url="http://one.test/v1", connector=a.connect)
        two = Client(api_key=KEY_B, base_url="http://two.test/v1", connector=b.connect)
        async with ResilientClient(one, two) as resilient:
            await ask(resilient)
        for client in (one, two):
            with pytest.raises(openai_trio.APIConnectionError, match="closed"):
                await client.models.list()


def test_a_resilient_client_needs_an_endpoint() -> None:
    with pytest.raises(openai_trio.LocalProtocolError, match="at least one"):
        ResilientClient()


async def test_no_key_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with two_servers() as (a, _, primary, backup):
        resilient = ResilientClient(primary, backup, circuit_breaker=CircuitBreaker(failure_threshold=1))
        a.enqueue(FakeResponse.error(500, "x"))
        await ask(resilient)
        await resilient.check_health()
    assert "SECRET" not in caplog.text
