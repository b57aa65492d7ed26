"""Smoke test of the benchmark harness: a tiny run, checked for shape only.

The harness runs as documented (``python -m benchmarks``) with ``--smoke``
sizes.  Timings are never asserted; what must hold is that every scenario
produced its rows, that every client either measured something or said
clearly why not, and that nothing crashed.  The official SDK is optional:
without it those rows must read "not available".
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, object], Path]:
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--no-chart", "--output-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = (out / "latest.md").read_text(encoding="utf-8")
    data = json.loads((out / "latest.json").read_text(encoding="utf-8"))
    assert proc.stdout == report  # the table is printed too
    return report, data, out


def _rounds(data: dict[str, object], scenario: str, client: str) -> dict[str, object]:
    results = data["results"]
    assert isinstance(results, dict)
    entry = results[scenario][client]
    assert isinstance(entry, dict)
    return entry


def test_report_has_every_scenario_and_the_targets(
    smoke_run: tuple[str, dict[str, object], Path],
) -> None:
    report, _, _ = smoke_run
    for needle in (
        "| Metric | openai_trio | official SDK | floor |",
        "stream: client CPU us/chunk",
        "non-stream, concurrency 1: requests/s",
        "non-stream, concurrency 3: client CPU ms/request",
        "import: wall ms",
        "slow streams: peak RSS over baseline, KiB/stream",
        "| HTTP/2 | not yet measured",
        "## Targets",
        "Machine: ",
        "Python: ",
    ):
        assert needle in report, needle
    targets = report.split("## Targets", 1)[1]
    # One verdict line per target: 2 streaming, 2 per concurrency, 1 import, 2 slow.
    verdicts = [line for line in targets.splitlines() if line[:4] in ("PASS", "FAIL", "N/A ")]
    assert len(verdicts) == 2 + 2 * 2 + 1 + 2


def test_floor_measures_every_scenario(smoke_run: tuple[str, dict[str, object], Path]) -> None:
    _, data, _ = smoke_run
    stream = _rounds(data, "stream", "floor")["rounds"]
    assert isinstance(stream, list) and len(stream) == 1
    assert stream[0]["ok"] is True and stream[0]["cpu_s"] > 0
    nonstream = _rounds(data, "nonstream", "floor")["rounds"]
    assert isinstance(nonstream, list)
    assert set(nonstream[0]["by_concurrency"]) == {"1", "3"}
    assert all(row["ok"] for row in nonstream[0]["by_concurrency"].values())
    slow = _rounds(data, "slow", "floor")["rounds"]
    assert isinstance(slow, list)
    assert slow[0]["received"] == slow[0]["sent"] > 0
    deps = _rounds(data, "import", "deps")["rounds"]
    assert isinstance(deps, list) and deps[0]["wall_s"] > 0


@pytest.mark.parametrize(
    ("scenario", "client"),
    [
        ("stream", "ours"),
        ("stream", "sansio"),
        ("stream", "sdk_async"),
        ("nonstream", "ours"),
        ("slow", "ours"),
        ("import", "openai_trio"),
        ("import", "openai_sansio"),
    ],
)
def test_each_client_measured_or_explained(
    smoke_run: tuple[str, dict[str, object], Path], scenario: str, client: str
) -> None:
    report, data, _ = smoke_run
    entry = _rounds(data, scenario, client)
    reason = entry["unavailable"]
    if reason is not None:
        assert isinstance(reason, str) and reason
        assert "not available" in report
        if client.startswith("sdk"):
            # Unavailable only when the SDK really is missing.
            assert importlib.util.find_spec("openai") is None
        return
    rounds = entry["rounds"]
    assert isinstance(rounds, list) and len(rounds) == 1
    assert "error" not in rounds[0], rounds[0]


def test_smoke_runs_start_the_official_sdk_once(
    smoke_run: tuple[str, dict[str, object], Path],
) -> None:
    # Each SDK process costs a second or more to start; the smoke size keeps
    # it to one stream so the test stays fast.
    _, data, _ = smoke_run
    results = data["results"]
    assert isinstance(results, dict)
    assert set(results["stream"]) == {"ours", "sdk_async", "sansio", "floor"}
    assert set(results["nonstream"]) == {"ours", "floor"}
    assert set(results["slow"]) == {"ours", "floor"}
    assert "openai" not in results["import"]
