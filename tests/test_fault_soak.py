"""The fault soak of issue 8, small: 5,000 calls on loopback under a seeded
random fault plan (``python -m benchmarks.soak`` runs the full 100,000)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from benchmarks.soak import SoakResult, run_soak

# Fault waits and retry backoff in virtual seconds: the clock runs this much
# faster than real time, so a soak full of retries fits in a test.
CLOCK_RATE = 10.0
TOTAL = 5000
MAX_RETRIES = 2


@pytest.mark.timeout(120)
def test_fault_soak() -> None:
    async def soak() -> SoakResult:
        # 600 virtual seconds: one real minute, whatever hangs.
        with trio.fail_after(600):
            return await run_soak(total=TOTAL, concurrency=50, seed=8, rate=0.3, max_retries=MAX_RETRIES)

    result = trio.run(soak, clock=trio.testing.MockClock(rate=CLOCK_RATE))
    summary = result.summary()
    # Every call ended once, in success or a typed APIError.
    assert result.untyped_errors == {}, summary
    assert result.lost == 0 and result.duplicated == 0, summary
    assert result.successes + sum(result.typed_errors.values()) == TOTAL, summary
    assert result.corrupt == 0, summary
    # Each kind of fault was served, over both protocols.
    assert len(result.faults) == 14, summary
    assert 0 < result.h2_calls < TOTAL and result.streamed_calls > 0
    assert result.successes > TOTAL // 2, summary
    # No call reached the server's application more than 1 + max_retries
    # times (refused streams and those left out of a GOAWAY never reach it).
    assert result.over_budget == [], summary
    assert result.max_receipts <= 1 + MAX_RETRIES, summary
    # Every connection was closed with the clients.
    assert result.fds_after == result.fds_before, summary
