"""The core's resilience state machines (issue 10): rate-limit headers,
token estimates, the rate limiter and the circuit breaker, on times given
as numbers (no clock anywhere)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openai_sansio import (
    APIConnectionError,
    APITimeoutError,
    CircuitBreaker,
    CircuitState,
    LocalProtocolError,
    RateLimiter,
    RateLimitHeaders,
    estimate_tokens,
    is_failover_error,
    make_status_error,
    parse_rate_limit_headers,
    parse_reset_duration,
)
from openai_sansio import Headers as H


def status_error(status: int) -> BaseException:
    return make_status_error(status, H([]), {"error": {"message": "x"}})


# --- reset durations and headers ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("1h2m3.5s", 3723.5),
        ("0.5", 0.5),
        ("7", 7.0),
        (" 2s ", 2.0),
        (".5s", 0.5),
        ("1m30s", 90.0),
        ("3us", 3e-6),
        ("999999h", 86_400.0),  # capped at a day
    ],
)
def test_reset_durations(text: str, seconds: float) -> None:
    assert parse_reset_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "1x", "-1s", "1s2", "s", "1 s", "nan", "-3", "1" * 80, "m1s"])
def test_reset_durations_that_are_not(text: str) -> None:
    assert parse_reset_duration(text) is None


@given(st.text(max_size=40))
def test_any_reset_text_is_a_duration_or_none(text: str) -> None:
    found = parse_reset_duration(text)
    assert found is None or 0 <= found <= 86_400.0


def test_rate_limit_headers_read() -> None:
    said = parse_rate_limit_headers(
        H(
            [
                ("x-ratelimit-limit-requests", "500"),
                ("x-ratelimit-limit-tokens", "30000"),
                ("x-ratelimit-remaining-requests", "499"),
                ("x-ratelimit-remaining-tokens", "29000"),
                ("x-ratelimit-reset-requests", "120ms"),
                ("x-ratelimit-reset-tokens", "2s"),
                ("retry-after-ms", "1500"),
            ]
        )
    )
    assert said == RateLimitHeaders(500, 30000, 499, 29000, 0.12, 2.0, 1.5)
    assert not said.empty
    assert parse_rate_limit_headers(H([])).empty


def test_malformed_rate_limit_headers_count_as_absent() -> None:
    said = parse_rate_limit_headers(
        H(
            [
                ("x-ratelimit-limit-requests", "lots"),
                ("x-ratelimit-remaining-tokens", "-5"),
                ("x-ratelimit-reset-requests", "soon"),
                ("x-ratelimit-remaining-requests", "9" * 40),
                ("retry-after", "-3"),
            ]
        )
    )
    assert said.empty


def test_retry_after_as_a_date_uses_the_wall_clock() -> None:
    said = parse_rate_limit_headers(H([("retry-after", "Thu, 01 Jan 1970 00:01:40 GMT")]), now=90.0)
    assert said.retry_after == pytest.approx(10.0)


# --- token estimates -----------------------------------------------------------


def test_estimate_counts_text_and_the_output_cap() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "x" * 400}], "max_completion_tokens": 50}
    # 400 + "m" + "user" + "user"-ish keys' values: strings of the body only.
    assert estimate_tokens(body) == -(-(400 + 1 + 4) // 4) + 50
    assert estimate_tokens({"input": "abcd", "max_output_tokens": 7}) == 1 + 7
    assert estimate_tokens({"prompt": "abcdefgh", "max_tokens": True}) == 2  # a bool is no cap
    assert estimate_tokens(None) == 0
    assert estimate_tokens({}) == 0


def test_estimate_of_a_huge_or_circular_body_is_bounded() -> None:
    loop: dict[str, object] = {"content": "abcd"}
    loop["self"] = loop
    assert estimate_tokens(loop) > 0  # stops after a bounded walk
    deep: object = "abcd"
    for _ in range(10_000):
        deep = [deep]
    assert estimate_tokens({"messages": deep}) == 1


# --- the rate limiter ------------------------------------------------------------


def test_requests_per_minute() -> None:
    limiter = RateLimiter(requests_per_minute=60)
    for _ in range(60):
        assert limiter.delay(0.0) == 0
        limiter.take(0.0)
    assert limiter.delay(0.0) == pytest.approx(1.0)
    assert limiter.delay(0.5) == pytest.approx(0.5)
    assert limiter.delay(1.0) == 0
    limiter.take(1.0)
    assert limiter.delay(1.0) == pytest.approx(1.0)


def test_tokens_per_minute() -> None:
    limiter = RateLimiter(tokens_per_minute=1500)
    assert limiter.delay(0.0, 1000) == 0
    limiter.take(0.0, 1000)
    # 500 left; 1000 more need 500 refilled at 25 a second.
    assert limiter.delay(0.0, 1000) == pytest.approx(20.0)
    # A request larger than the whole budget waits for a full bucket, not for ever.
    assert limiter.delay(0.0, 10_000) == pytest.approx(40.0)
    limiter.take(40.0, 10_000)
    assert limiter.delay(40.0, 1) == pytest.approx((10_000 - 1500 + 1) * 60 / 1500)


def test_settle_gives_back_what_was_not_used() -> None:
    limiter = RateLimiter(tokens_per_minute=1000)
    limiter.take(0.0, 900)
    assert limiter.delay(0.0, 500) > 0
    limiter.settle(estimated=900, used=100)
    assert limiter.delay(0.0, 500) == 0
    limiter.settle(estimated=0, used=10_000)  # charged past the budget
    assert limiter.delay(0.0, 1) > 0
    RateLimiter(requests_per_minute=5).settle(10, 1)  # no token budget: nothing to do


def test_server_headers_tighten_the_budget() -> None:
    limiter = RateLimiter(requests_per_minute=1000)
    limiter.observe(0.0, RateLimitHeaders(remaining_requests=0, reset_requests=5.0))
    assert limiter.delay(0.0) == pytest.approx(5.0)
    assert limiter.delay(5.0) == 0
    # A remaining count below the local level lowers it.
    limiter.observe(5.0, RateLimitHeaders(remaining_requests=1))
    limiter.take(5.0)
    assert limiter.delay(5.0) > 0


def test_unknown_budgets_are_learnt_from_the_server() -> None:
    limiter = RateLimiter()
    assert limiter.delay(0.0, 10**9) == 0
    limiter.observe(0.0, RateLimitHeaders(limit_requests=2, limit_tokens=100))
    assert repr(limiter) == "RateLimiter(requests_per_minute=2.0, tokens_per_minute=100.0)"
    limiter.take(0.0, 10)
    limiter.take(0.0, 10)
    assert limiter.delay(0.0, 10) == pytest.approx(30.0)


def test_retry_after_holds_every_request() -> None:
    limiter = RateLimiter()
    limiter.observe(10.0, RateLimitHeaders(retry_after=3.0))
    assert limiter.delay(10.0) == pytest.approx(3.0)
    assert limiter.delay(13.0) == 0


@pytest.mark.parametrize("bad", [0, -1, math.inf, math.nan, True, "60"])
def test_rate_limiter_refuses_nonsense(bad: object) -> None:
    with pytest.raises(LocalProtocolError, match="requests_per_minute"):
        RateLimiter(requests_per_minute=bad)  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="tokens_per_minute"):
        RateLimiter(tokens_per_minute=bad)  # type: ignore[arg-type]


# --- the circuit breaker -----------------------------------------------------------

DOWN = APIConnectionError("refused")


def test_breaker_opens_after_failures_in_a_row_and_recovers() -> None:
    breaker = CircuitBreaker(failure_threshold=3, recovery_time=10.0)
    key = "https://a:443"
    for _ in range(2):
        assert breaker.allow(key, 0.0)
        breaker.record(key, 0.0, DOWN)
    breaker.record(key, 0.0)  # a success in between resets the count
    for _ in range(3):
        assert breaker.allow(key, 1.0)
        breaker.record(key, 1.0, DOWN)
    assert breaker.state(key, 1.0) is CircuitState.OPEN
    assert not breaker.allow(key, 5.0)
    assert breaker.retry_at(key, 5.0) == 11.0
    assert list(breaker.open_keys()) == [key]
    # After the recovery time one probe goes through, a second waits.
    assert breaker.state(key, 11.0) is CircuitState.HALF_OPEN
    assert breaker.retry_at(key, 11.0) == 11.0
    assert breaker.allow(key, 11.0)
    assert not breaker.allow(key, 11.0)
    breaker.record(key, 12.0)
    assert breaker.state(key, 12.0) is CircuitState.CLOSED
    assert "open=0" in repr(breaker)


def test_a_failed_probe_opens_the_circuit_again() -> None:
    breaker = CircuitBreaker(failure_threshold=1, recovery_time=10.0, half_open_calls=2)
    breaker.record("k", 0.0, APITimeoutError("read", 5.0))
    assert breaker.allow("k", 10.0) and breaker.allow("k", 10.0) and not breaker.allow("k", 10.0)
    breaker.record("k", 10.5, status_error(503))
    assert breaker.state("k", 15.0) is CircuitState.OPEN
    assert breaker.state("k", 20.5) is CircuitState.HALF_OPEN


def test_answers_other_than_5xx_show_the_endpoint_is_up() -> None:
    breaker = CircuitBreaker(failure_threshold=1)
    for status in (400, 401, 404, 429):
        breaker.record("k", 0.0, status_error(status))
        assert breaker.state("k", 0.0) is CircuitState.CLOSED
    breaker.record("k", 0.0, status_error(500))
    assert breaker.state("k", 0.0) is CircuitState.OPEN


def test_a_cancelled_probe_is_released_unjudged() -> None:
    breaker = CircuitBreaker(failure_threshold=1, recovery_time=1.0)
    breaker.record("k", 0.0, DOWN)
    assert breaker.allow("k", 1.0)
    assert not breaker.allow("k", 1.0)
    breaker.release("k", 1.0)
    assert breaker.state("k", 1.0) is CircuitState.HALF_OPEN
    assert breaker.allow("k", 1.0)
    breaker.release("other", 1.0)  # a closed circuit has no probes to free


def test_health_checks_close_or_count() -> None:
    breaker = CircuitBreaker(failure_threshold=2, recovery_time=30.0)
    breaker.record("k", 0.0, DOWN)
    breaker.record("k", 0.0, DOWN)
    assert breaker.state("k", 1.0) is CircuitState.OPEN
    breaker.record_health("k", 1.0)  # it answered: open no longer
    assert breaker.state("k", 1.0) is CircuitState.CLOSED
    breaker.record_health("k", 2.0, DOWN)
    assert breaker.state("k", 2.0) is CircuitState.CLOSED
    breaker.record_health("k", 2.0, DOWN)
    assert breaker.state("k", 2.0) is CircuitState.OPEN
    breaker.record_health("k", 3.0, DOWN)  # open stays open
    assert breaker.state("k", 40.0) is CircuitState.HALF_OPEN
    breaker.record_health("k", 40.0, DOWN)
    assert breaker.state("k", 41.0) is CircuitState.OPEN
    breaker.record_health("k", 41.0, status_error(401))  # an answer, if not a welcome one
    assert breaker.state("k", 41.0) is CircuitState.CLOSED


@pytest.mark.parametrize(
    ("field", "bad"),
    [("failure_threshold", 0), ("failure_threshold", 1.5), ("half_open_calls", True), ("recovery_time", -1),
     ("recovery_time", math.inf), ("recovery_time", "30")],
)
def test_breaker_refuses_nonsense(field: str, bad: object) -> None:
    with pytest.raises(LocalProtocolError, match=field):
        CircuitBreaker(**{field: bad})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "fails_over"),
    [
        (APIConnectionError("x"), True),
        (APITimeoutError("read", 1.0), True),
        (status_error(500), True),
        (status_error(503), True),
        (status_error(429), True),
        (status_error(401), True),
        (status_error(403), True),
        (status_error(408), True),
        (status_error(409), True),
        (status_error(400), False),
        (status_error(404), False),
        (status_error(422), False),
        (LocalProtocolError("misuse"), False),
        (ValueError("x"), False),
    ],
)
def test_which_errors_fail_over(error: BaseException, fails_over: bool) -> None:
    assert is_failover_error(error) is fails_over
