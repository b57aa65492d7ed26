"""Orchestration: the fake server, the alternating rounds, the results.

Every measurement runs in a fresh worker process (``benchmarks._worker``)
so one client's imports, caches and heap never colour another's numbers.
Within a scenario the clients take turns, round after round (A B C, A B C,
...), and ratios are taken between clients of the same round.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

__all__ = ["Config", "main", "run"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"

SCENARIOS = ("stream", "nonstream", "import", "slow", "http2", "realtime")
STREAM_CLIENTS = ("ours", "sdk_async", "sdk_trio", "sdk_sync", "sansio", "floor")
NONSTREAM_CLIENTS = ("ours", "sdk_async", "floor")
SLOW_CLIENTS = ("ours", "sdk_async", "floor")
HTTP2_CLIENTS = ("ours_h2", "ours_h1", "sdk_h2")
# Scenario 6: ours is the trio adapter's client.realtime.connect, core the
# sans-IO WebSocketConnection over bare trio streams.
REALTIME_CLIENTS = ("ours", "core", "sdk_async", "floor")
SDK_CLIENTS = frozenset({"sdk_async", "sdk_trio", "sdk_sync", "sdk_h2"})
# Scenario 5's clients are variants of these: --clients ours keeps both of ours.
CLIENT_FAMILY = {"ours_h2": "ours", "ours_h1": "ours", "sdk_h2": "sdk_async"}
# Connections each scenario 5 client must have used, and over which protocol.
HTTP2_EXPECT = {"ours_h2": ("h2", 1), "sdk_h2": ("h2", 1), "ours_h1": ("h1", 100)}

IMPORT_TARGETS: dict[str, str] = {
    "openai_trio": "import openai_trio",
    "openai_sansio": "import openai_sansio",
    "trio": "import trio",
    "deps": "import trio, h11, h2, wsproto, attrs, ssl, json",
    "openai": "import openai",
}

# Runs in a fresh interpreter: time and RSS of one import statement.
_IMPORT_PROBE = """\
import sys, time
def rss():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0
# The working tree, whatever the editable install maps; costs nothing.
sys.path.insert(0, sys.argv[2])
r0 = rss()
c0 = time.process_time()
t0 = time.perf_counter()
exec(sys.argv[1])
t1 = time.perf_counter()
c1 = time.process_time()
r1 = rss()
print('RESULT {"wall_s": %r, "cpu_s": %r, "rss_kib": %d, "rss_delta_kib": %d}'
      % (t1 - t0, c1 - c0, r1, r1 - r0))
"""


@attrs.define
class Config:
    """How much of each scenario to run."""

    name: str
    rounds: int
    stream_chunks: int
    stream_warmup: int
    nonstream_requests: int
    concurrency: list[int]
    import_reps: int
    slow_streams: int
    slow_seconds: float
    worker_timeout: float = 600.0
    # None: every client the scenario knows; else only these.
    clients: list[str] | None = None
    # Scenarios the official SDK takes part in (it is the slow one to start).
    sdk_scenarios: tuple[str, ...] = ("stream", "nonstream", "import", "slow", "http2", "realtime")
    # Scenario 5: requests in flight at once, and how many such batches are timed.
    http2_concurrency: int = 1000
    http2_batches: int = 5
    # Scenario 6: text deltas answering one response.create, and the warm-up session's.
    realtime_deltas: int = 20_000
    realtime_warmup: int = 200

    @classmethod
    def full(cls) -> Config:
        return cls("full", 5, 20_000, 500, 2_000, [1, 10, 100], 10, 500, 3.0)

    @classmethod
    def quick(cls) -> Config:
        return cls("quick", 2, 2_000, 100, 200, [1, 10], 3, 50, 1.5, http2_batches=2, realtime_deltas=5_000)

    @classmethod
    def smoke(cls) -> Config:
        # Starting the official SDK costs a second or more per process, so a
        # smoke run shows it in one scenario only.
        return cls(
            "smoke", 1, 200, 20, 20, [1, 3], 1, 4, 0.2,
            worker_timeout=60.0, clients=["ours", "sdk_async", "sansio", "floor", "core"],
            sdk_scenarios=("stream",), http2_concurrency=50, http2_batches=1,
            realtime_deltas=200, realtime_warmup=20,
        )


def sdk_installed() -> bool:
    try:
        return importlib.util.find_spec("openai") is not None
    except (ImportError, ValueError):
        return False


class FakeServer:
    """The fake OpenAI server in its own process."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._server"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.close()
            raise RuntimeError(f"the fake server did not start: {line!r}")
        self.port = int(line.split()[1])

    def close(self) -> None:
        proc = self.proc
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parse_result(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith("RESULT "):
            parsed: dict[str, Any] = json.loads(line[7:])
            return parsed
    return None


def run_worker(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """One measurement in a fresh process; errors come back as ``{"error": ...}``."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks._worker", json.dumps(spec)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    result = _parse_result(proc.stdout)
    if result is None:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}
    return result


def _log(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def server_stats(port: int, *, reset: bool = False) -> dict[str, Any]:
    """What the fake server has seen (see ``_server.Stats``); ``reset`` starts over."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/bench/stats?reset=1" if reset else "/bench/stats")
        stats: dict[str, Any] = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    return stats


def _alternate(
    scenario: str,
    clients: Sequence[str],
    rounds: int,
    spec: dict[str, Any],
    timeout: float,
    check: Callable[[str, dict[str, Any], dict[str, Any]], str | None] | None = None,
) -> dict[str, Any]:
    """Run ``clients`` in turn, ``rounds`` times; drop a client once unavailable.

    With ``check``, every round also records what the server saw during it
    (``"server"``), and a round ``check`` finds fault with counts as failed.
    """
    out: dict[str, Any] = {c: {"rounds": [], "unavailable": None} for c in clients}
    port = int(spec.get("port", 0))
    for r in range(rounds):
        for client in clients:
            entry = out[client]
            if entry["unavailable"] is not None:
                continue
            t0 = time.perf_counter()
            if check is not None:
                server_stats(port, reset=True)
            result = run_worker({**spec, "scenario": scenario, "client": client}, timeout)
            if check is not None and "unavailable" not in result:
                result["server"] = server_stats(port)
                if "error" not in result:
                    fault = check(client, result, result["server"])
                    if fault is not None:
                        result["error"] = fault
            if "unavailable" in result:
                entry["unavailable"] = result["unavailable"]
                _log(f"  {scenario} {client}: not available ({result['unavailable']})")
                continue
            entry["rounds"].append(result)
            status = result.get("error") or "ok"
            _log(f"  {scenario} round {r + 1}/{rounds} {client}: {status} "
                 f"({time.perf_counter() - t0:.1f} s)")
    return out


def _sdk_filter(
    clients: Sequence[str], have_sdk: bool, cfg: Config, scenario: str
) -> tuple[list[str], dict[str, Any]]:
    if cfg.clients is not None:
        clients = [c for c in clients if c in cfg.clients or CLIENT_FAMILY.get(c) in cfg.clients]
    if scenario not in cfg.sdk_scenarios:
        clients = [c for c in clients if c not in SDK_CLIENTS]
    kept = [c for c in clients if have_sdk or c not in SDK_CLIENTS]
    skipped = {
        c: {"rounds": [], "unavailable": "the official SDK (openai) is not installed"}
        for c in clients
        if c not in kept
    }
    return kept, skipped


def run_stream(cfg: Config, port: int, have_sdk: bool) -> dict[str, Any]:
    clients, skipped = _sdk_filter(STREAM_CLIENTS, have_sdk, cfg, "stream")
    spec = {"port": port, "chunks": cfg.stream_chunks, "warmup": cfg.stream_warmup}
    return {**_alternate("stream", clients, cfg.rounds, spec, cfg.worker_timeout), **skipped}


def run_nonstream(cfg: Config, port: int, have_sdk: bool) -> dict[str, Any]:
    clients, skipped = _sdk_filter(NONSTREAM_CLIENTS, have_sdk, cfg, "nonstream")
    spec = {"port": port, "requests": cfg.nonstream_requests, "concurrency": cfg.concurrency}
    return {**_alternate("nonstream", clients, cfg.rounds, spec, cfg.worker_timeout), **skipped}


def run_slow(cfg: Config, port: int, have_sdk: bool) -> dict[str, Any]:
    clients, skipped = _sdk_filter(SLOW_CLIENTS, have_sdk, cfg, "slow")
    spec = {"port": port, "streams": cfg.slow_streams, "seconds": cfg.slow_seconds}
    return {**_alternate("slow", clients, cfg.rounds, spec, cfg.worker_timeout), **skipped}


def http2_protocol_fault(client: str, result: dict[str, Any], seen: dict[str, Any]) -> str | None:
    """Why a scenario 5 round did not measure what it claims, or None.

    A client that quietly fell back to HTTP/1.1 (or opened more connections
    than it should) would make the comparison meaningless, so the server's
    own counts decide.
    """
    protocol, connections = HTTP2_EXPECT[client]
    # The warm-up batch runs over the same connections.
    requests = int(result.get("requests", 0)) + int(result.get("concurrency", 0))
    if protocol == "h2":
        if seen["h1_requests"]:
            return f"the server saw {seen['h1_requests']} HTTP/1.1 requests, expected HTTP/2 only"
        if seen["h2_connections"] != connections:
            return f"the server saw {seen['h2_connections']} HTTP/2 connections, expected {connections}"
        if seen["h2_streams"] < requests:
            return f"the server saw {seen['h2_streams']} HTTP/2 streams, expected {requests}"
    else:
        if seen["h2_streams"] or seen["h2_connections"]:
            return f"the server saw {seen['h2_streams']} HTTP/2 streams, expected HTTP/1.1 only"
        if not 0 < seen["h1_connections"] <= connections:
            return f"the server saw {seen['h1_connections']} HTTP/1.1 connections, expected 1-{connections}"
        if seen["h1_requests"] < requests:
            return f"the server saw {seen['h1_requests']} HTTP/1.1 requests, expected {requests}"
    return None


def run_http2(cfg: Config, port: int, have_sdk: bool) -> dict[str, Any]:
    clients, skipped = _sdk_filter(HTTP2_CLIENTS, have_sdk, cfg, "http2")
    spec = {"port": port, "concurrency": cfg.http2_concurrency, "batches": cfg.http2_batches}
    measured = _alternate("http2", clients, cfg.rounds, spec, cfg.worker_timeout, http2_protocol_fault)
    return {**measured, **skipped}


def run_realtime(cfg: Config, port: int, have_sdk: bool) -> dict[str, Any]:
    clients, skipped = _sdk_filter(REALTIME_CLIENTS, have_sdk, cfg, "realtime")
    spec = {"port": port, "deltas": cfg.realtime_deltas, "warmup": cfg.realtime_warmup}
    return {**_alternate("realtime", clients, cfg.rounds, spec, cfg.worker_timeout), **skipped}


def _import_once(statement: str, cwd: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-I", "-c", _IMPORT_PROBE, statement, str(ROOT)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    result = _parse_result(proc.stdout)
    if result is None:
        tail = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return {"unavailable": tail[0]}
    return result


def run_import(cfg: Config, have_sdk: bool) -> dict[str, Any]:
    targets = dict(IMPORT_TARGETS)
    if "import" not in cfg.sdk_scenarios:
        del targets["openai"]
    out: dict[str, Any] = {name: {"rounds": [], "unavailable": None} for name in targets}
    if not have_sdk and "openai" in out:
        out["openai"]["unavailable"] = "the official SDK (openai) is not installed"
    # -I and a neutral cwd: the installed packages, no stray path entries.
    with tempfile.TemporaryDirectory() as cwd:
        for name, statement in targets.items():
            if out[name]["unavailable"] is None:
                warm = _import_once(statement, cwd)  # writes .pyc files; not counted
                if "unavailable" in warm:
                    out[name]["unavailable"] = warm["unavailable"]
                    _log(f"  import {name}: not available ({warm['unavailable']})")
        for rep in range(cfg.import_reps):
            for name, statement in targets.items():
                if out[name]["unavailable"] is None:
                    out[name]["rounds"].append(_import_once(statement, cwd))
            _log(f"  import round {rep + 1}/{cfg.import_reps}")
    return out


def _profile(cfg: Config, port: int, out_dir: Path, scenario: str) -> dict[str, Any]:
    """cProfile openai_trio over the measured part of one scenario run."""
    import pstats

    prof = out_dir / f"profile-{scenario}.prof"
    spec: dict[str, Any] = {"scenario": scenario, "client": "ours", "port": port, "profile": str(prof)}
    if scenario == "stream":
        spec.update(chunks=cfg.stream_chunks, warmup=cfg.stream_warmup)
        units, what = cfg.stream_chunks, f"one {cfg.stream_chunks}-chunk stream"
    elif scenario == "http2":
        conc, batches = cfg.http2_concurrency, cfg.http2_batches
        spec.update(client="ours_h2", concurrency=conc, batches=batches)
        units = conc * batches
        what = f"{batches} x {conc} concurrent requests over one HTTP/2 connection"
    else:
        conc = min(10, max(cfg.concurrency))
        spec.update(requests=cfg.nonstream_requests, concurrency=[conc])
        units, what = cfg.nonstream_requests, f"{cfg.nonstream_requests} requests at concurrency {conc}"
    result = run_worker(spec, cfg.worker_timeout)
    if "unavailable" in result or "error" in result or not prof.exists():
        return {"unavailable": result.get("unavailable") or result.get("error") or "no profile"}
    stats = pstats.Stats(str(prof))
    prof.unlink()
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = []
    for (filename, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append({"func": f"{_short_path(filename)}:{line}({func})", "calls": nc, "tottime": tt, "cumtime": ct})
    rows.sort(key=lambda row: row["tottime"], reverse=True)
    with open(out_dir / f"profile-{scenario}.txt", "w", encoding="utf-8") as f:
        f.write(f"cProfile of openai_trio over {what}, measured part only "
                f"(profiled time {total:.3f} s)\n\n")
        f.write(f"{'tottime':>9} {'cumtime':>9} {'calls':>9}  function\n")
        for row in rows[:60]:
            f.write(f"{row['tottime']:9.4f} {row['cumtime']:9.4f} {row['calls']:9d}  {row['func']}\n")
    by_cum = sorted(rows, key=lambda row: row["cumtime"], reverse=True)
    return {
        "scenario": scenario,
        "what": what,
        "total_s": total,
        "units": units,
        "top": rows[:15],
        "top_cumulative": [r for r in by_cum if "openai_" in r["func"]][:12],
    }


def _short_path(filename: str) -> str:
    for marker in ("site-packages/", "/work/main/", str(ROOT) + "/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    if filename.startswith(("~", "<")):
        return filename
    return os.path.basename(filename)


def run(
    cfg: Config,
    scenarios: Sequence[str],
    out_dir: Path,
    *,
    chart: bool = True,
    profile: bool = False,
) -> dict[str, Any]:
    """Run ``scenarios``, write the report into ``out_dir``, return the data."""
    from . import _report

    have_sdk = sdk_installed()
    out_dir.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {
        "config": attrs.asdict(cfg),
        "machine": _report.machine_info(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "load_start": os.getloadavg(),
        "results": {},
    }
    t0 = time.perf_counter()
    needs_server = any(s in scenarios for s in ("stream", "nonstream", "slow", "http2", "realtime")) or profile
    server = FakeServer() if needs_server else None
    try:
        port = server.port if server else 0
        if "stream" in scenarios:
            _log("scenario 1: one long stream")
            data["results"]["stream"] = run_stream(cfg, port, have_sdk)
        if "nonstream" in scenarios:
            _log("scenario 2: small non-streaming requests")
            data["results"]["nonstream"] = run_nonstream(cfg, port, have_sdk)
        if "import" in scenarios:
            _log("scenario 3: import")
            data["results"]["import"] = run_import(cfg, have_sdk)
        if "slow" in scenarios:
            _log("scenario 4: slow concurrent streams")
            data["results"]["slow"] = run_slow(cfg, port, have_sdk)
        if "http2" in scenarios:
            _log("scenario 5: concurrent requests over HTTP/2")
            data["results"]["http2"] = run_http2(cfg, port, have_sdk)
        if "realtime" in scenarios:
            _log("scenario 6: a long Realtime session of small deltas")
            data["results"]["realtime"] = run_realtime(cfg, port, have_sdk)
        if profile:
            profiled = ["stream", "nonstream"] + (["http2"] if "http2" in scenarios else [])
            _log(f"profiling openai_trio ({', '.join(profiled)})")
            data["profile"] = [_profile(cfg, port, out_dir, sc) for sc in profiled]
    finally:
        if server is not None:
            server.close()
    data["elapsed_s"] = time.perf_counter() - t0
    data["load_end"] = os.getloadavg()
    data["scenarios"] = list(scenarios)
    (out_dir / "latest.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
    write_report(data, out_dir, chart=chart)
    return data


def write_report(data: dict[str, Any], out_dir: Path, *, chart: bool = True) -> None:
    """latest.md (also printed) and latest.png from the collected data."""
    from . import _report

    report = _report.render(data)
    (out_dir / "latest.md").write_text(report, encoding="utf-8")
    if chart:
        _log("chart: " + _report.chart(data, out_dir / "latest.png"))
    sys.stdout.write(report)
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="openai_trio side by side with the official SDK and a trio+h11 floor.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 rounds (trial runs)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, 1 round (the test suite)")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=[*SCENARIOS, "all"],
        help="run only this scenario (repeatable; default all)",
    )
    parser.add_argument("--rounds", type=int, help="override the number of rounds")
    parser.add_argument(
        "--clients",
        help=f"comma-separated subset of {','.join(dict.fromkeys(STREAM_CLIENTS + HTTP2_CLIENTS + REALTIME_CLIENTS))} "
        "(default: all)",
    )
    parser.add_argument("--output-dir", type=Path, default=RESULTS, help="default benchmarks/results")
    parser.add_argument("--no-chart", action="store_true", help="skip the PNG chart")
    parser.add_argument(
        "--profile", action="store_true",
        help="also cProfile openai_trio over one stream, over small requests and (with scenario http2) over HTTP/2",
    )
    parser.add_argument(
        "--from-json", type=Path, metavar="PATH",
        help="only re-render the report and chart from a saved latest.json",
    )
    args = parser.parse_args(argv)
    if args.from_json is not None:
        data = json.loads(args.from_json.read_text(encoding="utf-8"))
        args.output_dir.mkdir(parents=True, exist_ok=True)
        write_report(data, args.output_dir, chart=not args.no_chart)
        return 0
    cfg = Config.smoke() if args.smoke else Config.quick() if args.quick else Config.full()
    if args.rounds is not None:
        cfg.rounds = max(1, args.rounds)
    if args.clients:
        only = [c.strip() for c in args.clients.split(",") if c.strip()]
        unknown = sorted(set(only) - set(STREAM_CLIENTS) - set(HTTP2_CLIENTS) - set(REALTIME_CLIENTS))
        if unknown:
            parser.error(f"unknown clients: {', '.join(unknown)}")
        cfg.clients = only
    chosen = args.scenario or ["all"]
    scenarios = list(SCENARIOS) if "all" in chosen else list(dict.fromkeys(chosen))
    run(cfg, scenarios, args.output_dir, chart=not args.no_chart, profile=args.profile)
    return 0
