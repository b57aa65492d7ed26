"""Turning raw rounds into the markdown report, the targets and the chart."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from ._runner import IMPORT_TARGETS

__all__ = ["chart", "machine_info", "render", "summarise"]

NA = "n/a"
LABELS = {
    "ours": "openai_trio",
    "sdk_async": "official SDK, AsyncOpenAI on asyncio",
    "sdk_trio": "official SDK, AsyncOpenAI under trio",
    "sdk_sync": "official SDK, OpenAI (sync)",
    "sansio": "openai_sansio alone (no sockets)",
    "floor": "floor: trio + h11 + json",
    "ours_h2": "openai_trio, HTTP/2 (h2c), one connection",
    "ours_h1": "openai_trio, HTTP/1.1, 100 connections",
    "sdk_h2": "official SDK, AsyncOpenAI, httpx HTTP/2 (h2c)",
    "core": "openai_sansio WebSocketConnection over bare trio streams",
}
# Scenario 6's clients, where they differ from the HTTP ones.
REALTIME_LABELS = {
    **LABELS,
    "ours": "openai_trio, client.realtime.connect",
    "sdk_async": "official SDK, AsyncOpenAI().realtime.connect (websockets, asyncio)",
    "floor": "floor: trio + wsproto + json",
}
_PACKAGES = (
    "openai-trio", "openai", "httpx2", "httpcore2", "pydantic", "pydantic_core", "anyio",
    "trio", "h11", "h2", "wsproto", "attrs", "matplotlib",
)


# -- facts about the run ----------------------------------------------------


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions: dict[str, str] = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": versions,
    }


# -- statistics -------------------------------------------------------------


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _good_rounds(entry: dict[str, Any]) -> list[dict[str, Any] | None]:
    """Rounds in order; a failed round stays as None so rounds line up."""
    return [None if "error" in r else r for r in entry.get("rounds", [])]


def _series(entry: dict[str, Any] | None, metric: Callable[[dict[str, Any]], float | None]) -> list[float | None]:
    if not entry:
        return []
    out: list[float | None] = []
    for r in _good_rounds(entry):
        out.append(None if r is None else metric(r))
    return out


def _values(series: Sequence[float | None]) -> list[float]:
    return [v for v in series if v is not None]


def _ratios(num: Sequence[float | None], den: Sequence[float | None]) -> list[float]:
    """Per-round ratios: only rounds where both sides have a value."""
    return [a / b for a, b in zip(num, den, strict=False) if a is not None and b and b > 0]


class Stat:
    """Median of per-round values, with the rounds kept for ratios."""

    def __init__(self, series: Sequence[float | None], unavailable: str | None = None) -> None:
        self.series = list(series)
        self.values = _values(series)
        self.median = _median(self.values)
        self.unavailable = unavailable

    def ratio(self, other: Stat) -> list[float]:
        return _ratios(self.series, other.series)


def _stat(results: dict[str, Any], client: str, metric: Callable[[dict[str, Any]], float | None]) -> Stat:
    entry = results.get(client)
    if entry is None:
        return Stat([], "not run")
    if entry.get("unavailable"):
        return Stat([], f"not available: {entry['unavailable']}")
    stat = Stat(_series(entry, metric))
    if stat.median is None:
        errors = [r.get("error") for r in entry.get("rounds", []) if "error" in r]
        stat.unavailable = f"failed: {_short(errors[0])}" if errors else "no data"
    return stat


def _short(text: str, limit: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _stream_cpu_us(r: dict[str, Any]) -> float | None:
    return 1e6 * r["cpu_s"] / r["chunks"] if r.get("ok") else None


def _stream_rate(r: dict[str, Any]) -> float | None:
    return r["chunks"] / r["wall_s"] if r.get("ok") and r["wall_s"] > 0 else None


def _nonstream(conc: int, kind: str) -> Callable[[dict[str, Any]], float | None]:
    def metric(r: dict[str, Any]) -> float | None:
        row = r.get("by_concurrency", {}).get(str(conc))
        if not row or not row.get("ok"):
            return None
        if kind == "rps":
            return float(row["requests"] / row["wall_s"]) if row["wall_s"] > 0 else None
        return float(1e3 * row["cpu_s"] / row["requests"])

    return metric


def _import_ms(r: dict[str, Any]) -> float | None:
    return 1e3 * r["wall_s"] if "wall_s" in r else None


def _import_cpu(r: dict[str, Any]) -> float | None:
    return 1e3 * r["cpu_s"] if "cpu_s" in r else None


def _import_rss(r: dict[str, Any]) -> float | None:
    return r["rss_delta_kib"] / 1024 if "rss_delta_kib" in r else None


def _slow_kib(r: dict[str, Any]) -> float | None:
    return float(r["per_stream_kib"]) if "per_stream_kib" in r else None


def _slow_lag(r: dict[str, Any]) -> float | None:
    v = r.get("lag_p95_ms")
    return float(v) if v is not None else None


def _slow_open(r: dict[str, Any]) -> float | None:
    v = r.get("first_chunk_p95_ms")
    return float(v) if v is not None else None


def _realtime_cpu_us(r: dict[str, Any]) -> float | None:
    return 1e6 * r["cpu_s"] / r["events"] if r.get("ok") and r.get("events") else None


def _realtime_rate(r: dict[str, Any]) -> float | None:
    return r["events"] / r["wall_s"] if r.get("ok") and r["wall_s"] > 0 else None


def _http2_cpu_ms(r: dict[str, Any]) -> float | None:
    return 1e3 * r["cpu_s"] / r["requests"] if r.get("ok") else None


def _http2_rps(r: dict[str, Any]) -> float | None:
    return r["requests"] / r["wall_s"] if r.get("ok") and r["wall_s"] > 0 else None


LAG_LIMIT_MS = 100.0



def kept_up(r: dict[str, Any]) -> bool:
    """All chunks arrived, nothing failed, and p95 worst lag under one interval."""
    lag = r.get("lag_p95_ms")
    return (
        r.get("received") == r.get("sent")
        and not r.get("error_count")
        and lag is not None
        and lag <= LAG_LIMIT_MS
    )


# -- formatting -----------------------------------------------------------


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return NA
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _x(value: float | None) -> str:
    return NA if value is None else f"{value:.2f}x"


def _cell(stat: Stat, digits: int = 1) -> str:
    if stat.median is None:
        return stat.unavailable or NA
    return _fmt(stat.median, digits)


def _ratio_text(label: str, ratios: list[float]) -> str:
    if not ratios:
        return f"{label} {NA}"
    med = statistics.median(ratios)
    if len(ratios) == 1:
        return f"{label} {med:.2f}x"
    return f"{label} {med:.2f}x [{min(ratios):.2f}-{max(ratios):.2f}]"


class _Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str]] = []

    def add(self, metric: str, ours: str, sdk: str, floor: str, ratios: str) -> None:
        self.rows.append((metric, ours, sdk, floor, ratios))

    def render(self) -> str:
        head = ("Metric", "openai_trio", "official SDK", "floor", "Ratios (median of per-round [min-max])")
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
        for row in self.rows:
            lines.append("| " + " | ".join(c.replace("|", "/") for c in row) + " |")
        return "\n".join(lines)


class _Targets:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.failed: list[str] = []

    def check(self, name: str, ok: bool | None, detail: str) -> None:
        verdict = "PASS" if ok else ("FAIL" if ok is not None else "N/A ")
        self.lines.append(f"{verdict} {name}: {detail}")
        if ok is False:
            self.failed.append(name)


def summarise(data: dict[str, Any]) -> tuple[_Table, _Targets, list[str]]:
    """The main table, the target verdicts, and detail notes."""
    results = data.get("results", {})
    table = _Table()
    targets = _Targets()
    notes: list[str] = []

    stream = results.get("stream")
    if stream is not None:
        ours = _stat(stream, "ours", _stream_cpu_us)
        sdk = _stat(stream, "sdk_async", _stream_cpu_us)
        floor = _stat(stream, "floor", _stream_cpu_us)
        sdk_over_ours = sdk.ratio(ours)
        ours_over_floor = ours.ratio(floor)
        table.add(
            "stream: client CPU us/chunk (official: AsyncOpenAI on asyncio)",
            _cell(ours), _cell(sdk), _cell(floor),
            _ratio_text("SDK/ours", sdk_over_ours) + "; " + _ratio_text("ours/floor", ours_over_floor),
        )
        ours_r = _stat(stream, "ours", _stream_rate)
        sdk_r = _stat(stream, "sdk_async", _stream_rate)
        floor_r = _stat(stream, "floor", _stream_rate)
        table.add(
            "stream: chunks/s (wall)",
            _cell(ours_r, 0), _cell(sdk_r, 0), _cell(floor_r, 0),
            _ratio_text("ours/SDK", ours_r.ratio(sdk_r)) + "; " + _ratio_text("floor/ours", floor_r.ratio(ours_r)),
        )
        for client, label in (("sdk_trio", "AsyncOpenAI under trio"), ("sdk_sync", "OpenAI sync")):
            other = _stat(stream, client, _stream_cpu_us)
            table.add(
                f"stream: client CPU us/chunk (official: {label})",
                _cell(ours), _cell(other), _cell(floor),
                _ratio_text("SDK/ours", other.ratio(ours)),
            )
        sansio = _stat(stream, "sansio", _stream_cpu_us)
        table.add(
            "stream: CPU us/chunk, openai_sansio alone on recorded bytes, 16 KiB reads (ours column)",
            _cell(sansio), NA, _cell(floor),
            _ratio_text("sansio/floor", sansio.ratio(floor)) + "; " + _ratio_text("ours/sansio", ours.ratio(sansio)),
        )
        r1 = _median(sdk_over_ours)
        targets.check(
            "streaming CPU/chunk >= 6x lower than the official async client",
            None if r1 is None else r1 >= 6.0,
            f"SDK/ours = {_x(r1)} (target >= 6x)",
        )
        r2 = _median(ours_over_floor)
        targets.check(
            "streaming CPU/chunk <= 1.5x the floor",
            None if r2 is None else r2 <= 1.5,
            f"ours/floor = {_x(r2)} (target <= 1.5x)",
        )

    nonstream = results.get("nonstream")
    if nonstream is not None:
        concs = data.get("config", {}).get("concurrency", [])
        for conc in concs:
            ours = _stat(nonstream, "ours", _nonstream(conc, "rps"))
            sdk = _stat(nonstream, "sdk_async", _nonstream(conc, "rps"))
            floor = _stat(nonstream, "floor", _nonstream(conc, "rps"))
            ours_over_sdk = ours.ratio(sdk)
            floor_over_ours = floor.ratio(ours)
            table.add(
                f"non-stream, concurrency {conc}: requests/s",
                _cell(ours, 0), _cell(sdk, 0), _cell(floor, 0),
                _ratio_text("ours/SDK", ours_over_sdk) + "; " + _ratio_text("floor/ours", floor_over_ours),
            )
            ours_c = _stat(nonstream, "ours", _nonstream(conc, "cpu"))
            sdk_c = _stat(nonstream, "sdk_async", _nonstream(conc, "cpu"))
            floor_c = _stat(nonstream, "floor", _nonstream(conc, "cpu"))
            table.add(
                f"non-stream, concurrency {conc}: client CPU ms/request",
                _cell(ours_c, 3), _cell(sdk_c, 3), _cell(floor_c, 3),
                _ratio_text("SDK/ours", sdk_c.ratio(ours_c)) + "; " + _ratio_text("ours/floor", ours_c.ratio(floor_c)),
            )
            a = _median(ours_over_sdk)
            targets.check(
                f"non-streaming requests/s >= 5x the official SDK at concurrency {conc}",
                None if a is None else a >= 5.0,
                f"ours/SDK = {_x(a)} (target >= 5x)",
            )
            b = _median(floor_over_ours)
            targets.check(
                f"non-streaming requests/s within 2x of the floor at concurrency {conc}",
                None if b is None else b <= 2.0,
                f"floor/ours = {_x(b)} (target <= 2x)",
            )

    imports = results.get("import")
    if imports is not None:
        names = ("openai_trio", "openai_sansio", "trio", "deps", "openai")
        ms = {name: _stat(imports, name, _import_ms) for name in names}
        cpu = {name: _stat(imports, name, _import_cpu) for name in names}
        rss = {name: _stat(imports, name, _import_rss) for name in names}

        def over_deps(stats: dict[str, Stat]) -> list[float]:
            return [a - b for a, b in zip(stats["openai_trio"].series, stats["deps"].series, strict=False)
                    if a is not None and b is not None]

        diff = over_deps(ms)
        cpu_diff = over_deps(cpu)
        table.add(
            "import: wall ms (floor column: trio, h11, h2, wsproto, attrs, ssl, json)",
            _cell(ms["openai_trio"]), _cell(ms["openai"]), _cell(ms["deps"]),
            _ratio_text("openai/openai_trio", ms["openai"].ratio(ms["openai_trio"]))
            + f"; openai_trio - deps = {_fmt(_median(diff))} ms",
        )
        table.add(
            "import: CPU ms (floor column: deps)",
            _cell(cpu["openai_trio"]), _cell(cpu["openai"]), _cell(cpu["deps"]),
            _ratio_text("openai/openai_trio", cpu["openai"].ratio(cpu["openai_trio"]))
            + f"; openai_trio - deps = {_fmt(_median(cpu_diff))} ms",
        )
        table.add(
            "import: RSS growth MiB (floor column: deps)",
            _cell(rss["openai_trio"]), _cell(rss["openai"]), _cell(rss["deps"]),
            _ratio_text("openai/openai_trio", rss["openai"].ratio(rss["openai_trio"])),
        )
        table.add(
            "import: wall ms, openai_sansio (ours) / trio alone (floor)",
            _cell(ms["openai_sansio"]), NA, _cell(ms["trio"]), "",
        )
        d = _median(diff)
        targets.check(
            "import openai_trio at most 40 ms over its dependencies alone",
            None if d is None else d <= 40.0,
            f"openai_trio - deps = {_fmt(d)} ms wall, {_fmt(_median(cpu_diff))} ms CPU "
            "(target <= 40 ms wall; median of per-round differences)",
        )

    slow = results.get("slow")
    if slow is not None:
        n = data.get("config", {}).get("slow_streams")
        ours = _stat(slow, "ours", _slow_kib)
        sdk = _stat(slow, "sdk_async", _slow_kib)
        floor = _stat(slow, "floor", _slow_kib)
        sdk_over_ours = sdk.ratio(ours)
        table.add(
            f"{n} slow streams: peak RSS over baseline, KiB/stream",
            _cell(ours), _cell(sdk), _cell(floor),
            _ratio_text("SDK/ours", sdk_over_ours) + "; " + _ratio_text("ours/floor", ours.ratio(floor)),
        )
        lag = {c: _stat(slow, c, _slow_lag) for c in ("ours", "sdk_async", "floor")}
        table.add(
            f"{n} slow streams: p95 of per-stream worst lag, ms",
            _cell(lag["ours"]), _cell(lag["sdk_async"]), _cell(lag["floor"]), "",
        )
        opened = {c: _stat(slow, c, _slow_open) for c in ("ours", "sdk_async", "floor")}
        table.add(
            f"{n} slow streams: p95 time to first chunk, ms",
            _cell(opened["ours"]), _cell(opened["sdk_async"]), _cell(opened["floor"]), "",
        )
        kept = {c: _kept_text(slow.get(c)) for c in ("ours", "sdk_async", "floor")}
        table.add(f"{n} slow streams: kept up (rounds, chunks received/sent)",
                  kept["ours"][0], kept["sdk_async"][0], kept["floor"][0], "")
        r = _median(sdk_over_ours)
        ours_kept = kept["ours"][1]
        targets.check(
            "slow streams: at most a third of the official SDK's memory per stream",
            None if r is None else r >= 3.0,
            f"SDK/ours = {_x(r)} (target >= 3x)",
        )
        targets.check(
            "slow streams: openai_trio keeps up with the server",
            ours_kept,
            f"{kept['ours'][0]} (every chunk received, no errors, p95 worst lag <= {LAG_LIMIT_MS:.0f} ms)",
        )

    sdk_trio = (stream or {}).get("sdk_trio")
    if sdk_trio and not sdk_trio.get("unavailable"):
        rounds = sdk_trio.get("rounds", [])
        ok = sum(1 for r in rounds if r.get("ok"))
        versions = data.get("machine", {}).get("packages", {})
        notes.append(
            f"AsyncOpenAI under trio.run (through anyio): {ok}/{len(rounds)} rounds completed "
            f"correctly with openai {versions.get('openai')}, httpx2 {versions.get('httpx2')}, "
            f"anyio {versions.get('anyio')}, trio {versions.get('trio')}."
        )
    if slow is not None:
        notes.append(
            "Scenario 4 gives openai_trio.Client max_connections=1000 (its default is lower), "
            "the official SDK's default limit, so every stream gets its own connection in both. "
            "Lag: per stream the worst delay of chunk k past first chunk + k * interval; a client "
            "whose CPU cannot keep up with the arrival rate falls behind however fast the server is."
        )
    if data.get("profile"):
        notes.append(
            "cProfile counts every resumption of a coroutine as a call, so call counts of async "
            "functions exceed the number of chunks or requests; the per-unit columns divide by "
            "the real number of chunks or requests."
        )
    http2 = results.get("http2")
    if http2 is not None:
        conc = data.get("config", {}).get("http2_concurrency")
        h2 = _stat(http2, "ours_h2", _http2_cpu_ms)
        sdk = _stat(http2, "sdk_h2", _http2_cpu_ms)
        h1 = _stat(http2, "ours_h1", _http2_cpu_ms)
        sdk_over_h2 = sdk.ratio(h2)
        h2_over_h1 = h2.ratio(h1)
        table.add(
            f"HTTP/2, {conc} concurrent: client CPU ms/request (ours: one h2c connection; "
            "official: httpx HTTP/2; floor column: openai_trio over HTTP/1.1, 100 connections)",
            _cell(h2, 3), _cell(sdk, 3), _cell(h1, 3),
            _ratio_text("SDK/ours", sdk_over_h2) + "; " + _ratio_text("h2/h1", h2_over_h1),
        )
        h2_r = _stat(http2, "ours_h2", _http2_rps)
        sdk_r = _stat(http2, "sdk_h2", _http2_rps)
        h1_r = _stat(http2, "ours_h1", _http2_rps)
        table.add(
            f"HTTP/2, {conc} concurrent: requests/s (wall; floor column: openai_trio over HTTP/1.1)",
            _cell(h2_r, 0), _cell(sdk_r, 0), _cell(h1_r, 0),
            _ratio_text("ours/SDK", h2_r.ratio(sdk_r)) + "; " + _ratio_text("h2/h1", h2_r.ratio(h1_r)),
        )
        a = _median(sdk_over_h2)
        targets.check(
            "HTTP/2 CPU/request >= 5x lower than the official SDK over HTTP/2",
            None if a is None else a >= 5.0,
            f"SDK/ours = {_x(a)} (target >= 5x)",
        )
        b = _median(h2_over_h1)
        targets.check(
            "HTTP/2 CPU/request within 1.5x of openai_trio over HTTP/1.1 with 100 connections",
            None if b is None else b <= 1.5,
            f"h2/h1 = {_x(b)} (target <= 1.5x)",
        )
        notes.append(
            "Scenario 5 runs over cleartext HTTP/2 with prior knowledge (h2c): openai_trio.Client("
            "h2c=True, max_connections=1), and the official SDK on "
            "DefaultAsyncHttpxClient(http1=False, http2=True), the only way httpx speaks HTTP/2 "
            "to an http:// origin. The server counts connections and requests by protocol in "
            "every round; a round over the wrong protocol or more connections counts as failed."
        )
    realtime = results.get("realtime")
    if realtime is not None:
        n = data.get("config", {}).get("realtime_deltas")
        sdk = _stat(realtime, "sdk_async", _realtime_cpu_us)
        floor = _stat(realtime, "floor", _realtime_cpu_us)
        sdk_r = _stat(realtime, "sdk_async", _realtime_rate)
        floor_r = _stat(realtime, "floor", _realtime_rate)
        for client, label in (("ours", "client.realtime.connect"), ("core", "the core over bare trio streams")):
            ours = _stat(realtime, client, _realtime_cpu_us)
            ours_r = _stat(realtime, client, _realtime_rate)
            table.add(
                f"realtime, one response of {n} text deltas: client CPU us/event (ours: {label}; "
                "official: AsyncOpenAI().realtime on asyncio; floor: trio + wsproto + json)",
                _cell(ours, 2), _cell(sdk, 2), _cell(floor, 2),
                _ratio_text("SDK/ours", sdk.ratio(ours)) + "; " + _ratio_text("ours/floor", ours.ratio(floor)),
            )
            table.add(
                f"realtime: events/s (wall; ours: {label})",
                _cell(ours_r, 0), _cell(sdk_r, 0), _cell(floor_r, 0),
                _ratio_text("ours/SDK", ours_r.ratio(sdk_r)) + "; " + _ratio_text("floor/ours", floor_r.ratio(ours_r)),
            )
        notes.append(
            "Scenario 6 times one response.create answered by small response.output_text.delta "
            "events (about 180 bytes of JSON each, 1-4 characters of text), from the send to "
            "response.done, on a connection already open (session.created read) after a warm-up "
            "session; the server writes every frame of the response at once, so the client sets the pace."
        )
        separate = data.get("realtime_run")
        if separate:
            # Merged in from a run of its own (--scenario realtime): say
            # when, and under what load, since the header describes the other run.
            notes.append(
                f"Scenario 6 ran on its own ({separate.get('command', 'python -m benchmarks --scenario realtime')}) "
                f"at {separate.get('started', NA)}, load average {_load(separate.get('load_start'))} at start, "
                f"{_load(separate.get('load_end'))} at end, {separate.get('elapsed_s', 0):.0f} s; its ratios "
                "all come from that one run (4 clients alternating, 5 rounds)."
            )
    return table, targets, notes


def _kept_text(entry: dict[str, Any] | None) -> tuple[str, bool | None]:
    if not entry:
        return NA, None
    if entry.get("unavailable"):
        return f"not available: {entry['unavailable']}", None
    rounds = [r for r in entry.get("rounds", []) if "error" not in r]
    if not rounds:
        return NA, None
    ok = sum(1 for r in rounds if kept_up(r))
    sent = sum(r["sent"] for r in rounds)
    received = sum(r["received"] for r in rounds)
    return f"{ok}/{len(rounds)} rounds, {received}/{sent}", ok == len(rounds)


def _details(data: dict[str, Any]) -> list[str]:
    """Per-client medians for every client measured, and availability."""
    out: list[str] = []
    results = data.get("results", {})
    stream = results.get("stream")
    if stream:
        out += ["", "### Scenario 1: one stream, every client", "",
                "| Client | CPU us/chunk | chunks/s (wall) | CPU us/chunk in each round |", "|---|---|---|---|"]
        for client in stream:
            cpu = _stat(stream, client, _stream_cpu_us)
            rate = _stat(stream, client, _stream_rate)
            per_round = ", ".join(_fmt(v) for v in cpu.values) or "-"
            out.append(f"| {LABELS.get(client, client)} | {_cell(cpu)} | {_cell(rate, 0)} | {per_round} |")
    imports = results.get("import")
    if imports:
        out += ["", "### Scenario 3: imports, fresh interpreter each", "",
                "| Import | wall ms | CPU ms | RSS growth MiB | wall ms in each round |", "|---|---|---|---|---|"]
        for name, statement in IMPORT_TARGETS.items():
            if name not in imports:
                continue
            wall = _stat(imports, name, _import_ms)
            cpu = _stat(imports, name, _import_cpu)
            rss = _stat(imports, name, _import_rss)
            each = ", ".join(_fmt(v) for v in wall.values) or "-"
            out.append(f"| `{statement}` | {_cell(wall)} | {_cell(cpu)} | {_cell(rss)} | {each} |")
    slow = results.get("slow")
    if slow:
        out += ["", "### Scenario 4: slow streams, every round", "",
                "| Client | KiB/stream | baseline MiB | peak MiB | received/sent | p95 lag ms | max lag ms | p95 first chunk ms |",
                "|---|---|---|---|---|---|---|---|"]
        for client, entry in slow.items():
            if entry.get("unavailable"):
                out.append(f"| {LABELS.get(client, client)} | not available: {entry['unavailable']} | | | | | | |")
                continue
            for r in entry.get("rounds", []):
                if "error" in r:
                    out.append(f"| {LABELS.get(client, client)} | failed: {_short(r['error'])} | | | | | | |")
                    continue
                out.append(
                    f"| {LABELS.get(client, client)} | {_fmt(r['per_stream_kib'])} | "
                    f"{_fmt(r['baseline_kib'] / 1024)} | {_fmt(r['peak_kib'] / 1024)} | "
                    f"{r['received']}/{r['sent']} | {_fmt(r.get('lag_p95_ms'))} | "
                    f"{_fmt(r.get('lag_max_ms'))} | {_fmt(r.get('first_chunk_p95_ms'))} |"
                )
    http2 = results.get("http2")
    if http2:
        out += ["", "### Scenario 5: HTTP/2, every round (connections and requests as the server saw them, "
                "warm-up batch included)", "",
                "| Client | CPU ms/request | requests/s | server: HTTP/2 connections, streams | "
                "server: HTTP/1.1 connections, requests | most requests in one server read |",
                "|---|---|---|---|---|---|"]
        for client, entry in http2.items():
            label = LABELS.get(client, client)
            if entry.get("unavailable"):
                out.append(f"| {label} | not available: {entry['unavailable']} | | | | |")
                continue
            for r in entry.get("rounds", []):
                seen = r.get("server") or {}
                counts = (
                    f"{seen.get('h2_connections', NA)}, {seen.get('h2_streams', NA)} | "
                    f"{seen.get('h1_connections', NA)}, {seen.get('h1_requests', NA)} | "
                    f"{seen.get('h2_max_requests_per_read', NA) if seen.get('h2_streams') else '-'}"
                )
                if "error" in r:
                    out.append(f"| {label} | failed: {_short(r['error'])} | | {counts} |")
                    continue
                ms = 1e3 * r["cpu_s"] / r["requests"]
                rps = r["requests"] / r["wall_s"] if r["wall_s"] > 0 else None
                out.append(f"| {label} | {_fmt(ms, 3)} | {_fmt(rps, 0)} | {counts} |")
    realtime = results.get("realtime")
    if realtime:
        out += ["", "### Scenario 6: a Realtime session of small deltas, every client", "",
                "| Client | CPU us/event | events/s (wall) | CPU us/event in each round |", "|---|---|---|---|"]
        for client in realtime:
            cpu = _stat(realtime, client, _realtime_cpu_us)
            rate = _stat(realtime, client, _realtime_rate)
            per_round = ", ".join(_fmt(v, 2) for v in cpu.values) or "-"
            out.append(f"| {REALTIME_LABELS.get(client, client)} | {_cell(cpu, 2)} | {_cell(rate, 0)} | {per_round} |")
    return out


def _profile_lines(data: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for prof in data.get("profile") or []:
        scenario = prof.get("scenario", "stream")
        out += ["", f"## Profile: openai_trio, {scenario} (cProfile)", ""]
        if prof.get("unavailable"):
            out.append(f"not available: {_short(prof['unavailable'])}")
            continue
        total, units = prof["total_s"], prof["units"]
        unit = "chunk" if scenario == "stream" else "request"
        out.append(f"{prof['what']}: profiled time {total:.3f} s (profiling inflates it; "
                   f"compare shares). Full list: `profile-{scenario}.txt`.")
        out += ["", f"| own time % | us/{unit} (profiled) | calls | function |", "|---|---|---|---|"]
        for row in prof["top"]:
            share = 100 * row["tottime"] / total if total else 0
            out.append(f"| {share:.1f} | {1e6 * row['tottime'] / units:.2f} | {row['calls']} | `{row['func']}` |")
        cum = prof.get("top_cumulative") or []
        if cum:
            out += ["", "Cumulative time inside our packages:", "",
                    f"| cumulative % | us/{unit} (profiled) | calls | function |", "|---|---|---|---|"]
            for row in cum:
                share = 100 * row["cumtime"] / total if total else 0
                out.append(f"| {share:.1f} | {1e6 * row['cumtime'] / units:.2f} | {row['calls']} | `{row['func']}` |")
    return out


def render(data: dict[str, Any]) -> str:
    table, targets, notes = summarise(data)
    m = data["machine"]
    cfg = data["config"]
    pkgs = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    lines = [
        "# openai_trio benchmarks",
        "",
        f"- Date: {data['started']} ({cfg['name']} run, {cfg['rounds']} alternating rounds, "
        f"{data.get('elapsed_s', 0):.0f} s)",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['platform']}; "
        f"load average {_load(data.get('load_start'))} at start, {_load(data.get('load_end'))} at end",
        f"- Python: {m['implementation']} {m['python']}",
        f"- Packages: {pkgs}",
        f"- Sizes: stream {cfg['stream_chunks']} chunks; non-stream {cfg['nonstream_requests']} requests "
        f"at concurrency {', '.join(map(str, cfg['concurrency']))}; imports x{cfg['import_reps']}; "
        f"{cfg['slow_streams']} slow streams for ~{cfg['slow_seconds']} s (a chunk every 50-100 ms); "
        f"HTTP/2 {cfg.get('http2_batches', NA)} x {cfg.get('http2_concurrency', NA)} concurrent requests; "
        f"Realtime {cfg.get('realtime_deltas', NA)} text deltas",
        "- Command: `python -m benchmarks` (see benchmarks/README.md)",
        "",
        "Times are the client process only: CPU is `time.process_time()` around the measured work "
        "after a warm-up, in a fresh process per client and round; the fake server runs in its "
        "own process. Values are medians over rounds; ratios are medians of per-round ratios, "
        "so compare ratios, not absolute times, on a shared machine.",
        "",
        table.render(),
        "",
        "## Targets",
        "",
        "```",
        *targets.lines,
        "```",
    ]
    lines += _profile_lines(data)
    lines += _details(data)
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def _load(value: Any) -> str:
    if not value:
        return NA
    return "/".join(f"{v:.1f}" for v in value)


# -- chart --------------------------------------------------------------------


def chart(data: dict[str, Any], path: Path) -> str:
    """Write a PNG of the medians; returns what happened (matplotlib is optional)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "skipped: matplotlib is not installed"
    results = data.get("results", {})
    fig, axes = plt.subplots(3, 2, figsize=(13, 13))
    colours = {"ours": "#2a7ab0", "sansio": "#7fb7de", "floor": "#888888",
               "sdk_async": "#d9822b", "sdk_trio": "#e6a35c", "sdk_sync": "#b35c1e"}

    def bars(ax: Any, names: list[str], values: list[float | None], keys: list[str], title: str, unit: str) -> None:
        shown = [(n, v, k) for n, v, k in zip(names, values, keys, strict=True) if v is not None]
        if not shown:
            ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
        else:
            xs = range(len(shown))
            ax.bar(xs, [v for _, v, _ in shown], color=[colours.get(k, "#555555") for _, _, k in shown])
            ax.set_xticks(list(xs))
            ax.set_xticklabels([n for n, _, _ in shown], rotation=20, ha="right", fontsize=8)
            for x, (_, v, _) in zip(xs, shown, strict=True):
                ax.annotate(_fmt(v), (x, v), ha="center", va="bottom", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(unit)

    stream = results.get("stream", {})
    keys = [c for c in ("ours", "sansio", "floor", "sdk_async", "sdk_trio", "sdk_sync") if c in stream]
    bars(axes[0][0], [LABELS[k].replace(", ", "\n") for k in keys],
         [_stat(stream, k, _stream_cpu_us).median for k in keys], keys,
         "Scenario 1: client CPU per streamed chunk (lower is better)", "us/chunk")

    ax = axes[0][1]
    nonstream = results.get("nonstream", {})
    concs = data.get("config", {}).get("concurrency", [])
    if nonstream and concs:
        width = 0.27
        for i, k in enumerate(c for c in ("ours", "sdk_async", "floor") if c in nonstream):
            vals = [_stat(nonstream, k, _nonstream(c, "rps")).median or 0 for c in concs]
            ax.bar([x + (i - 1) * width for x in range(len(concs))], vals, width,
                   label=LABELS[k], color=colours[k])
        ax.set_xticks(list(range(len(concs))))
        ax.set_xticklabels([f"concurrency {c}" for c in concs])
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
    ax.set_title("Scenario 2: small requests per second (higher is better)", fontsize=10)
    ax.set_ylabel("requests/s")

    imports = results.get("import", {})
    names = [n for n in ("openai_sansio", "openai_trio", "trio", "deps", "openai") if n in imports]
    bars(axes[1][0], names, [_stat(imports, n, _import_ms).median for n in names],
         ["ours" if n.startswith("openai_") else "sdk_async" if n == "openai" else "floor" for n in names],
         "Scenario 3: import wall time, fresh interpreter", "ms")

    slow = results.get("slow", {})
    keys = [c for c in ("ours", "sdk_async", "floor") if c in slow]
    bars(axes[1][1], [LABELS[k].replace(", ", "\n") for k in keys],
         [_stat(slow, k, _slow_kib).median for k in keys], keys,
         "Scenario 4: peak RSS per slow stream (lower is better)", "KiB/stream")

    http2 = results.get("http2", {})
    keys = [c for c in ("ours_h2", "ours_h1", "sdk_h2") if c in http2]
    names = [LABELS[k].replace(", ", "\n") for k in keys]
    tint = {"ours_h2": "ours", "ours_h1": "sansio", "sdk_h2": "sdk_async"}
    conc = data.get("config", {}).get("http2_concurrency", NA)
    bars(axes[2][0], names, [_stat(http2, k, _http2_cpu_ms).median for k in keys], [tint[k] for k in keys],
         f"Scenario 5: client CPU per request, {conc} concurrent (lower is better)", "ms/request")
    bars(axes[2][1], names, [_stat(http2, k, _http2_rps).median for k in keys], [tint[k] for k in keys],
         f"Scenario 5: requests per second, {conc} concurrent (higher is better)", "requests/s")

    fig.suptitle(f"openai_trio benchmarks, {data['started']} ({data['config']['name']} run)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return f"written to {path}"
