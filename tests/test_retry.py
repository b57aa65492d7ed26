"""RetryPolicy: which failures are retried and how long to wait."""

from __future__ import annotations

import functools
import math
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_sansio import Headers, LocalProtocolError, RetryPolicy

NOW = 1_700_000_000.0  # a fixed "current time" for retry-after dates


def h(**fields: str) -> Headers:
    return Headers([(k.replace("_", "-"), v) for k, v in fields.items()])


def delay(
    status: int,
    headers: Headers | None = None,
    *,
    taken: int = 0,
    jitter: float = 0.0,
    policy: RetryPolicy | None = None,
) -> float | None:
    policy = RetryPolicy() if policy is None else policy
    return policy.delay_after_response(
        status, headers or Headers(), retries_taken=taken, now=NOW, jitter=jitter
    )


def http_date(ts: float) -> str:
    return format_datetime(datetime.fromtimestamp(ts, tz=timezone.utc), usegmt=True)


# -- configuration -------------------------------------------------------------


def test_defaults_match_the_official_client() -> None:
    p = RetryPolicy()
    assert (p.max_retries, p.initial_delay, p.max_delay, p.max_retry_after) == (2, 0.5, 8.0, 60.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": -1},
        {"max_retries": True},
        {"max_retries": 1.0},
        {"initial_delay": -0.1},
        {"initial_delay": math.nan},
        {"max_delay": math.inf},
        {"max_retry_after": "60"},
        {"max_retry_after": False},
    ],
)
def test_invalid_configuration_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(LocalProtocolError, match=next(iter(kwargs))):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_policy_is_frozen() -> None:
    p = RetryPolicy()
    with pytest.raises(AttributeError):
        p.max_retries = 5  # type: ignore[misc]


# -- which statuses ------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529, 599])
def test_transient_statuses_are_retried(status: int) -> None:
    assert delay(status) == 0.5


@pytest.mark.parametrize("status", [200, 204, 301, 400, 401, 403, 404, 405, 410, 413, 422, 499])
def test_other_statuses_are_not_retried(status: int) -> None:
    assert delay(status) is None


def test_x_should_retry_true_overrides_status() -> None:
    assert delay(400, h(x_should_retry="true")) == 0.5
    assert delay(404, h(x_should_retry="true")) == 0.5


def test_x_should_retry_false_overrides_status() -> None:
    assert delay(503, h(x_should_retry="false")) is None
    assert delay(429, h(x_should_retry="false")) is None


@pytest.mark.parametrize("value", ["TRUE", "1", "yes", "", "false "])
def test_x_should_retry_other_values_are_ignored(value: str) -> None:
    assert delay(400, h(x_should_retry=value)) is None
    assert delay(503, h(x_should_retry=value)) == 0.5


def test_success_is_never_retried_even_if_the_server_asks() -> None:
    assert delay(200, h(x_should_retry="true")) is None


def test_header_names_are_case_insensitive() -> None:
    headers = Headers([("X-Should-Retry", "false"), ("Retry-After", "3")])
    assert delay(503, headers) is None
    assert delay(503, Headers([("Retry-After", "3")])) == 3.0


# -- retry budget --------------------------------------------------------------


def test_no_retry_once_the_budget_is_spent() -> None:
    p = RetryPolicy(max_retries=2)
    assert delay(503, taken=0, policy=p) is not None
    assert delay(503, taken=1, policy=p) is not None
    assert delay(503, taken=2, policy=p) is None
    assert delay(503, h(x_should_retry="true"), taken=2, policy=p) is None
    assert delay(503, h(retry_after="1"), taken=5, policy=p) is None


def test_zero_retries_means_never() -> None:
    p = RetryPolicy(max_retries=0)
    assert delay(503, h(x_should_retry="true"), policy=p) is None
    assert p.delay_after_error(retries_taken=0, jitter=0.0) is None


def test_connection_errors_use_backoff_and_budget() -> None:
    p = RetryPolicy(max_retries=3)
    assert p.delay_after_error(retries_taken=0, jitter=0.0) == 0.5
    assert p.delay_after_error(retries_taken=2, jitter=0.0) == 2.0
    assert p.delay_after_error(retries_taken=3, jitter=0.0) is None


# -- backoff ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("taken", "expected"),
    [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (10_000, 8.0)],
)
def test_exponential_backoff_is_capped(taken: int, expected: float) -> None:
    p = RetryPolicy(max_retries=10**9)
    assert p.backoff(taken, jitter=0.0) == expected
    assert delay(500, taken=taken, policy=p) == expected


def test_custom_backoff_parameters() -> None:
    p = RetryPolicy(max_retries=10, initial_delay=0.1, max_delay=0.3)
    assert [p.backoff(n, jitter=0.0) for n in range(4)] == [0.1, 0.2, 0.3, 0.3]


def test_jitter_shortens_by_up_to_a_quarter() -> None:
    p = RetryPolicy()
    assert p.backoff(0, jitter=0.5) == 0.5 * 0.875
    assert p.backoff(4, jitter=0.999) == pytest.approx(8.0 * (1 - 0.25 * 0.999))


@settings(max_examples=200, deadline=None)
@given(taken=st.integers(0, 5000), jitter=st.floats(0.0, 1.0, exclude_max=True))
def test_jitter_bounds(taken: int, jitter: float) -> None:
    p = RetryPolicy(max_retries=10**6)
    base = min(0.5 * 2.0 ** min(taken, 60), 8.0)
    d = p.backoff(taken, jitter=jitter)
    assert 0.75 * base <= d <= base
    assert p.delay_after_error(retries_taken=taken, jitter=jitter) == d


@pytest.mark.parametrize("jitter", [-0.01, 1.0, 1.5, math.nan, math.inf])
def test_jitter_outside_unit_interval_is_refused(jitter: float) -> None:
    p = RetryPolicy()
    with pytest.raises(LocalProtocolError, match="jitter"):
        p.backoff(0, jitter=jitter)
    with pytest.raises(LocalProtocolError, match="jitter"):
        p.delay_after_error(retries_taken=0, jitter=jitter)
    with pytest.raises(LocalProtocolError, match="jitter"):
        delay(503, jitter=jitter)


@pytest.mark.parametrize("now", [math.nan, math.inf, -math.inf])
def test_now_must_be_finite(now: float) -> None:
    with pytest.raises(LocalProtocolError, match="now"):
        RetryPolicy().delay_after_response(503, Headers(), retries_taken=0, now=now, jitter=0.0)


# -- server-requested delays ---------------------------------------------------


def test_retry_after_ms_is_milliseconds() -> None:
    assert delay(429, h(retry_after_ms="1500")) == 1.5
    assert delay(429, h(retry_after_ms="12.5")) == 0.0125


def test_retry_after_seconds_including_fractions() -> None:
    assert delay(429, h(retry_after="2")) == 2.0
    assert delay(429, h(retry_after="2.5")) == 2.5
    assert delay(429, h(retry_after=" 7 ")) == 7.0


def test_retry_after_ms_wins_over_retry_after() -> None:
    assert delay(429, h(retry_after_ms="250", retry_after="30")) == 0.25


def test_unparsable_retry_after_ms_falls_back_to_retry_after() -> None:
    assert delay(429, h(retry_after_ms="soon", retry_after="3")) == 3.0


def test_server_delay_ignores_jitter() -> None:
    assert delay(429, h(retry_after="3"), jitter=0.9) == 3.0


@pytest.mark.parametrize("value", ["0", "-5", "0.0"])
def test_non_positive_server_delay_falls_back_to_backoff(value: str) -> None:
    assert delay(429, h(retry_after=value), taken=1) == 1.0
    # A usable retry-after-ms that is not positive does not fall through to
    # retry-after: the backoff is used.
    assert delay(429, h(retry_after_ms=value, retry_after="30"), taken=1) == 1.0


def test_delay_up_to_the_cap_is_honoured() -> None:
    assert delay(429, h(retry_after="60")) == 60.0
    assert delay(429, h(retry_after_ms="60000")) == 60.0
    p = RetryPolicy(max_retry_after=5.0)
    assert delay(429, h(retry_after="5"), policy=p) == 5.0


def test_delay_beyond_the_cap_means_no_retry() -> None:
    assert delay(429, h(retry_after="61")) is None
    assert delay(429, h(retry_after_ms="60001")) is None
    # ... even when the server also says to retry.
    assert delay(503, h(retry_after="3600", x_should_retry="true")) is None
    assert delay(429, h(retry_after="6"), policy=RetryPolicy(max_retry_after=5.0)) is None


def test_overflowing_numeral_is_an_excessive_delay() -> None:
    assert delay(429, h(retry_after="1e999")) is None
    assert delay(429, h(retry_after_ms="9" * 400)) is None


@pytest.mark.parametrize("value", ["inf", "+Infinity", "-inf", "nan", "-1e999"])
def test_meaningless_numbers_fall_back_to_backoff(value: str) -> None:
    assert delay(429, h(retry_after=value)) == 0.5
    assert delay(429, h(retry_after_ms=value, retry_after="3")) == 0.5


def test_http_date_relative_to_injected_now() -> None:
    assert delay(429, h(retry_after=http_date(NOW + 30))) == 30.0
    assert delay(503, h(retry_after=http_date(NOW + 60))) == 60.0


def test_http_date_too_far_ahead_means_no_retry() -> None:
    assert delay(429, h(retry_after=http_date(NOW + 61))) is None


def test_http_date_in_the_past_falls_back_to_backoff() -> None:
    assert delay(429, h(retry_after=http_date(NOW - 10)), taken=1) == 1.0
    assert delay(429, h(retry_after=http_date(NOW)), taken=1) == 1.0


def test_http_date_with_offset_and_with_unknown_zone() -> None:
    base = datetime.fromtimestamp(NOW + 20, tz=timezone.utc)
    # 1 hour east of UTC: the wall clock reads one hour later.
    east = base.replace(hour=(base.hour + 1) % 24).strftime("%a, %d %b %Y %H:%M:%S +0100")
    if base.hour == 23:  # pragma: no cover - NOW is fixed and not near midnight
        pytest.skip("day rollover")
    assert delay(429, h(retry_after=east)) == pytest.approx(20.0)
    unknown = base.strftime("%a, %d %b %Y %H:%M:%S -0000")
    assert delay(429, h(retry_after=unknown)) == pytest.approx(20.0)


@pytest.mark.parametrize(
    "value",
    ["soon", "", "Wed, 32 Oct 2015 07:28:00 GMT", "Wed, 21 Oct 2015 07:28:00 +9999", "Mon,"],
)
def test_unparsable_retry_after_falls_back_to_backoff(value: str) -> None:
    assert delay(429, h(retry_after=value)) == 0.5
    assert RetryPolicy().server_delay(h(retry_after=value), now=NOW) is None


def test_server_delay_reports_raw_request() -> None:
    p = RetryPolicy()
    assert p.server_delay(Headers(), now=NOW) is None
    assert p.server_delay(h(retry_after="600"), now=NOW) == 600.0
    assert p.server_delay(h(retry_after="1e999"), now=NOW) == math.inf
    assert p.server_delay(h(retry_after="-1e999"), now=NOW) == -math.inf
    assert p.server_delay(h(retry_after=http_date(NOW - 5)), now=NOW) == -5.0


def test_should_retry_directly() -> None:
    p = RetryPolicy()
    assert p.should_retry(503, Headers(), retries_taken=0, now=NOW)
    assert not p.should_retry(400, Headers(), retries_taken=0, now=NOW)
    assert not p.should_retry(503, Headers(), retries_taken=2, now=NOW)


@settings(max_examples=100, deadline=None)
@given(
    status=st.integers(100, 599),
    value=st.text(max_size=30),
    jitter=st.floats(0.0, 1.0, exclude_max=True),
    taken=st.integers(0, 4),
)
def test_arbitrary_header_values_never_crash(
    status: int, value: str, jitter: float, taken: int
) -> None:
    p = RetryPolicy(max_retries=3)
    for name in ("retry-after", "retry-after-ms", "x-should-retry"):
        d = p.delay_after_response(
            status, Headers([(name, value)]), retries_taken=taken, now=NOW, jitter=jitter
        )
        assert d is None or 0 < d <= 60.0


# -- conformance with the official SDK -----------------------------------------

_numeric = st.one_of(
    st.integers(-10, 200).map(str),
    st.floats(-10, 200, allow_nan=False).map(repr),
    st.sampled_from(["inf", "nan", "1e999", "abc", "", " 5 "]),
)


@functools.cache
def _sdk_parts() -> tuple[Any, Any, Any, Any, float | None]:
    openai = pytest.importorskip("openai")
    base_client = pytest.importorskip("openai._base_client")
    httpx = pytest.importorskip("httpx2")
    models = pytest.importorskip("openai._models")
    max_after = getattr(pytest.importorskip("openai._constants"), "MAX_RETRY_AFTER_DELAY", None)
    sdk = openai.OpenAI(api_key="test", max_retries=3)
    return sdk, base_client, httpx, models, max_after


def _official_sdk() -> tuple[Any, Any, Any, Any, float]:
    """The installed official SDK's client and helpers, built once."""
    sdk, base_client, httpx, models, max_after = _sdk_parts()
    if max_after is None:
        pytest.skip("this SDK version has no retry-after cap")
    return sdk, base_client, httpx, models, max_after


@settings(max_examples=100, deadline=None)
@given(
    status=st.sampled_from([400, 401, 404, 408, 409, 422, 429, 500, 503]),
    retry_after=st.none() | _numeric,
    retry_after_ms=st.none() | _numeric.map(lambda s: s + "000" if s[-1:].isdigit() else s),
    should=st.sampled_from([None, "true", "false", "maybe"]),
    taken=st.integers(0, 3),
    jitter=st.floats(0.0, 1.0, exclude_max=True),
)
def test_same_decisions_as_the_official_sdk(
    status: int,
    retry_after: str | None,
    retry_after_ms: str | None,
    should: str | None,
    taken: int,
    jitter: float,
) -> None:
    sdk, base_client, httpx, models, max_after = _official_sdk()
    fields = {"retry-after": retry_after, "retry-after-ms": retry_after_ms, "x-should-retry": should}
    present = [(k, v) for k, v in fields.items() if v is not None]
    max_retries = 3
    response = httpx.Response(status, headers=present)
    remaining = max_retries - taken
    sdk_retries = remaining > 0 and sdk._should_retry(response)

    policy = RetryPolicy(max_retries=max_retries, max_retry_after=float(max_after))
    ours = policy.delay_after_response(
        status, Headers(present), retries_taken=taken, now=NOW, jitter=jitter
    )
    assert (ours is not None) == sdk_retries
    if sdk_retries:
        options = models.FinalRequestOptions.construct(
            method="post", url="/x", max_retries=max_retries
        )
        original = base_client.random
        base_client.random = lambda: jitter
        try:
            expected = sdk._calculate_retry_timeout(remaining, options, response.headers)
        finally:
            base_client.random = original
        assert ours == pytest.approx(expected)
