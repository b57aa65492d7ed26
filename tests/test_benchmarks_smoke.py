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
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import h2.settings
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
        "HTTP/2, 50 concurrent: client CPU ms/request",
        "HTTP/2, 50 concurrent: requests/s",
        "### Scenario 5: HTTP/2, every round",
        "realtime, one response of 200 text deltas: client CPU us/event",
        "realtime: events/s",
        "### Scenario 6: a Realtime session of small deltas",
        "## Targets",
        "Machine: ",
        "Python: ",
    ):
        assert needle in report, needle
    targets = report.split("## Targets", 1)[1]
    # One verdict line per target: 2 streaming, 2 per concurrency, 1 import, 2 slow, 2 HTTP/2.
    verdicts = [line for line in targets.splitlines() if line[:4] in ("PASS", "FAIL", "N/A ")]
    assert len(verdicts) == 2 + 2 * 2 + 1 + 2 + 2


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
    realtime = _rounds(data, "realtime", "floor")["rounds"]
    assert isinstance(realtime, list)
    assert realtime[0]["ok"] is True and realtime[0]["events"] == 200 + 7


@pytest.mark.parametrize(
    ("scenario", "client"),
    [
        ("stream", "ours"),
        ("stream", "sansio"),
        ("stream", "sdk_async"),
        ("nonstream", "ours"),
        ("slow", "ours"),
        ("http2", "ours_h2"),
        ("http2", "ours_h1"),
        ("realtime", "ours"),
        ("realtime", "core"),
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
    assert set(results["http2"]) == {"ours_h2", "ours_h1"}
    assert "openai" not in results["import"]


def test_http2_rounds_record_the_protocol_the_server_saw(
    smoke_run: tuple[str, dict[str, object], Path],
) -> None:
    _, data, _ = smoke_run
    for client, protocol in (("ours_h2", "h2"), ("ours_h1", "h1")):
        entry = _rounds(data, "http2", client)
        if entry["unavailable"] is not None:
            continue
        rounds = entry["rounds"]
        assert isinstance(rounds, list) and len(rounds) == 1
        seen = rounds[0]["server"]
        # Warm-up batch plus the measured one, all over the expected protocol.
        if protocol == "h2":
            assert seen["h2_connections"] == 1 and seen["h2_streams"] >= 100
            assert seen["h1_requests"] == 0
        else:
            assert seen["h2_streams"] == 0 and seen["h1_requests"] >= 100


@pytest.fixture
def fake_server() -> Iterator[int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._server"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("PORT "), line
        yield int(line.split()[1])
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.parametrize("window", [65535, 100, 1])
def test_fake_server_http2_answers_within_the_clients_flow_control_window(
    fake_server: int, window: int
) -> None:
    # A small stream window makes the server hold the body back and send it
    # as WINDOW_UPDATEs arrive; several streams at once share the connection.
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    conn.local_settings = h2.settings.Settings(
        client=True, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window}
    )
    conn.initiate_connection()
    body = b'{"model":"bench-small","messages":[]}'
    streams = [conn.get_next_available_stream_id() + 2 * k for k in range(3)]
    bodies: dict[int, bytes] = {}
    ended: set[int] = set()
    status: dict[int, bytes] = {}
    with socket.create_connection(("127.0.0.1", fake_server), timeout=10) as sock:
        for sid in streams:
            headers = [
                (b":method", b"POST"), (b":scheme", b"http"), (b":authority", b"127.0.0.1"),
                (b":path", b"/v1/chat/completions"), (b"content-type", b"application/json"),
            ]
            conn.send_headers(sid, headers)
            conn.send_data(sid, body, end_stream=True)
        sock.sendall(conn.data_to_send())
        while len(ended) < len(streams):
            data = sock.recv(65536)
            assert data, "the server closed the connection"
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    assert event.stream_id is not None
                    status[event.stream_id] = dict(event.headers)[b":status"]
                elif isinstance(event, h2.events.DataReceived):
                    assert event.stream_id is not None and event.data is not None
                    bodies[event.stream_id] = bodies.get(event.stream_id, b"") + event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    assert event.stream_id is not None
                    ended.add(event.stream_id)
            sock.sendall(conn.data_to_send())
    for sid in streams:
        assert status[sid] == b"200"
        content = json.loads(bodies[sid])["choices"][0]["message"]["content"]
        assert content == "Hello! How can I help you today?"
