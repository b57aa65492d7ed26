"""The reliability campaign's cancellation fuzz, at a size for the suite
(``python -m benchmarks.cancel_fuzz`` runs 10,000 calls)."""

from __future__ import annotations

import pytest

from benchmarks.cancel_fuzz import PHASES, run_fuzz


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "plain"])
async def test_cancellation_fuzz_over_loopback_leaves_nothing_behind(tls: bool) -> None:
    report = await run_fuzz(1_500, max_connections=10, seed=2026 if tls else 7, tls=tls)
    assert report.escaped == []
    assert report.requests == report.completed + report.cancelled
    stats = report.pool_after
    assert (stats.in_use, stats.waiting, stats.connecting) == (0, 0, 0), stats
    assert stats.connections <= 10
    assert report.followups_ok == 10
    assert report.fds_after <= report.fds_before
    assert report.resource_warnings == 0
    # The fuzz reached every phase (TLS only when there is TLS), and some
    # calls finished: one that cancels everything, or nothing, tests little.
    # (Real time decides where each lands: the rarest phases are only
    # required together, so a slow machine does not fail the test.)
    phases = report.by_phase
    assert set(phases) == set(PHASES)
    assert all(phases[phase] > 0 for phase in ("connect", "send", "head")), phases
    assert (phases["tls"] > 0) is tls, phases
    assert phases["body"] + phases["stream"] > 0, phases
    assert 0 < report.completed < report.requests
    assert report.clean
