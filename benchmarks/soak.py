"""``python -m benchmarks.soak``: the fault soak of issue 8.

Many calls against the fake server on loopback under a seeded random fault
plan, over HTTP/1.1 and (a share of them) h2c, JSON and streamed, many at
once.  What it checks is not speed: every call ends in success or a typed
``APIError``; none is lost or finished twice; none reaches the server's
application more than ``1 + max_retries`` times; file descriptors come
back to where they were, and resident memory stays flat after a warm-up.

``tests/test_fault_soak.py`` runs a small version in the test suite; this
command runs the full one (100,000 calls by default) and prints the figures.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import json
import os
import sys
import time
from array import array
from collections import Counter
from typing import Any

import attrs
import trio
import trio.testing

import openai_trio
from openai_trio.testing import (
    FAKE_REPLY,
    INTERNAL_ERROR,
    REFUSED_STREAM,
    DelayHead,
    EarlyClose,
    FakeOpenAI,
    FakeResponse,
    FakeServer,
    Fault,
    FaultPlan,
    GoAway,
    LateTerminator,
    MalformedChunkSize,
    MalformedHeaders,
    MalformedStatusLine,
    OversizedHeaders,
    PartialChunks,
    RateLimited,
    ReceivedRequest,
    ResetMidBody,
    ResetStream,
    ServerErrors,
    SlowTrickle,
)

__all__ = ["SOAK_FAULTS", "SoakResult", "main", "run_soak"]

SOAK_ID = "x-soak-id"

#: Every fault kind, with waits short enough for a soak.
SOAK_FAULTS: tuple[Fault, ...] = (
    DelayHead(0.02),
    PartialChunks(7),
    ResetMidBody(16),
    ResetMidBody(40, abort=False),
    LateTerminator(0.02),
    MalformedStatusLine(),
    MalformedHeaders(),
    MalformedChunkSize(),
    EarlyClose(),
    SlowTrickle(0.001, 64),
    OversizedHeaders(),
    RateLimited(retry_after=0.01),
    RateLimited(retry_after=None, retry_after_ms=5),
    ServerErrors((500, 502)),
    ServerErrors((503, 500, 502)),
    GoAway("below"),
    GoAway("above"),
    ResetStream(REFUSED_STREAM),
    ResetStream(INTERNAL_ERROR),
    ResetStream(INTERNAL_ERROR, after_bytes=8),
)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _glibc_trim() -> Any:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None)
    except OSError:
        return None


_malloc_trim = _glibc_trim()


def trimmed_rss_kib() -> int:
    """Resident memory once glibc has handed back the free pages it keeps
    inside its heap (0 where there is no malloc_trim).

    The soak's many short-lived 64 KiB receive buffers leave holes in the
    heap that glibc neither reuses fully nor returns on its own, so plain
    RSS creeps up while the memory in use stays flat; this figure follows
    what the process holds."""
    if _malloc_trim is None:
        return 0
    gc.collect()
    _malloc_trim(0)
    return rss_kib()


@attrs.define
class SoakResult:
    requests: int
    successes: int = 0
    typed_errors: Counter[str] = attrs.field(factory=Counter)
    #: Typed errors by type and the faults of the call's attempts.
    error_causes: Counter[str] = attrs.field(factory=Counter)
    #: Exceptions that are not APIError subclasses (must stay empty).
    untyped_errors: Counter[str] = attrs.field(factory=Counter)
    #: A success whose content was not the fake server's reply.
    corrupt: int = 0
    lost: int = 0
    duplicated: int = 0
    max_receipts: int = 0
    #: Calls that reached the server more than 1 + max_retries times, with
    #: the faults their attempts got.
    over_budget: list[tuple[int, int, tuple[str, ...]]] = attrs.field(factory=list)
    faults: Counter[str] = attrs.field(factory=Counter)
    received: int = 0
    h2_calls: int = 0
    streamed_calls: int = 0
    fds_before: int = 0
    fds_after: int = 0
    rss_warm_kib: int = 0
    rss_end_kib: int = 0
    #: The same after ``malloc_trim`` (see ``trimmed_rss_kib``).
    rss_warm_trimmed_kib: int = 0
    rss_end_trimmed_kib: int = 0
    warmup: int = 0
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "successes": self.successes,
            "typed_errors": dict(sorted(self.typed_errors.items())),
            "error_causes": dict(self.error_causes.most_common(12)),
            "untyped_errors": dict(self.untyped_errors),
            "corrupt": self.corrupt,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "max_server_receipts_per_request": self.max_receipts,
            "over_budget": len(self.over_budget),
            "over_budget_examples": [
                {"id": i, "receipts": n, "faults": list(kinds)} for i, n, kinds in self.over_budget[:10]
            ],
            "over_budget_faults": dict(Counter(k for *_, kinds in self.over_budget for k in kinds if k != "-")),
            "received_by_server": self.received,
            "faults_served": dict(sorted(self.faults.items())),
            "h2c_calls": self.h2_calls,
            "streamed_calls": self.streamed_calls,
            "fds_before": self.fds_before,
            "fds_after": self.fds_after,
            "warmup_calls": self.warmup,
            "rss_after_warmup_kib": self.rss_warm_kib,
            "rss_at_end_kib": self.rss_end_kib,
            "rss_after_warmup_trimmed_kib": self.rss_warm_trimmed_kib,
            "rss_at_end_trimmed_kib": self.rss_end_trimmed_kib,
            "wall_seconds": round(self.seconds, 1),
        }


class _TrackingPlan(FaultPlan):
    """Remembers the faults of the calls still running (bounded by the
    concurrency), to name them for a call over its budget."""

    def __init__(self, base: FaultPlan) -> None:
        self.__dict__.update(base.__dict__)
        self.by_call: dict[str, list[str]] = {}

    def choose(self, request: ReceivedRequest) -> Fault | None:
        fault = super().choose(request)
        call = request.headers.get(SOAK_ID)
        if call is not None and call in self.by_call:
            self.by_call[call].append(fault.kind if fault is not None else "-")
        return fault


async def run_soak(
    *,
    total: int = 5000,
    concurrency: int = 50,
    seed: int = 1,
    rate: float = 0.3,
    max_retries: int = 2,
    h2c_every: int = 4,
    stream_every: int = 3,
    warmup: int | None = None,
    kinds: tuple[Fault, ...] = SOAK_FAULTS,
) -> SoakResult:
    """Run the soak in the current trio run (see the module docstring)."""
    result = SoakResult(requests=total)
    # Past the fault plan's memory of recent calls (10,000, bounded by
    # design): before it is full, its growth would pass for the client's.
    warmup = min(total // 5, 15_000) if warmup is None else warmup
    result.warmup = warmup
    receipts = array("I", bytes(4 * total))
    outcomes = bytearray(total)  # 0: no outcome yet
    # The soak reads only the plan's counts, not its log of choices.
    plan = _TrackingPlan(FaultPlan.random(seed=seed, rate=rate, kinds=kinds, call_key=SOAK_ID, log_limit=100))
    limit = 1 + max_retries
    started = time.monotonic()

    answer = FakeOpenAI()

    def count(request: ReceivedRequest) -> FakeResponse:
        # The application's view: a request refused or left out of a GOAWAY
        # never gets here.
        call = request.headers.get(SOAK_ID)
        if call is not None:
            receipts[int(call)] += 1
        return answer(request)

    async with FakeServer(handler=count, fault_plan=plan, record_limit=100) as server:
        await server.serve_tcp()
        result.fds_before = open_fds()
        options: dict[str, Any] = {"api_key": "sk-soak", "base_url": server.base_url, "max_retries": max_retries}
        options["timeout"] = 60
        async with openai_trio.Client(**options) as h1, openai_trio.Client(h2c=True, **options) as h2:
            next_id = 0

            async def one(i: int) -> None:
                client = h2 if i % h2c_every == 0 else h1
                streamed = i % stream_every == 0
                headers = {SOAK_ID: str(i)}
                plan.by_call[str(i)] = []
                code = 1
                type_name = ""
                try:
                    if streamed:
                        stream = await client.chat.completions.create(
                            model="gpt-4o-mini",
                            messages=[{"role": "user", "content": "soak"}],
                            stream=True,
                            extra_headers=headers,
                        )
                        text = []
                        async with stream:
                            async for chunk in stream:
                                if chunk.choices and chunk.choices[0].delta.content:
                                    text.append(chunk.choices[0].delta.content)
                        ok = "".join(text) == FAKE_REPLY
                    else:
                        completion = await client.chat.completions.create(
                            model="gpt-4o-mini",
                            messages=[{"role": "user", "content": "soak"}],
                            extra_headers=headers,
                        )
                        ok = completion.choices[0].message.content == FAKE_REPLY
                    result.successes += 1
                    if not ok:
                        result.corrupt += 1
                except openai_trio.APIError as exc:
                    type_name = type(exc).__name__
                    if os.environ.get("SOAK_DEBUG"):
                        print(i, type_name, str(exc)[:100], file=sys.stderr)
                    result.typed_errors[type_name] += 1
                    code = 2
                except Exception as exc:
                    result.untyped_errors[type(exc).__name__] += 1
                    code = 3
                if outcomes[i]:
                    result.duplicated += 1
                outcomes[i] = code
                faults = plan.by_call.pop(str(i), [])
                if code == 2:
                    proto = "h2c" if client is h2 else "h1"
                    cause = f"{proto} {type_name} <- {' '.join(faults) or 'no receipt'}"
                    result.error_causes[cause] += 1
                if receipts[i] > limit:
                    result.over_budget.append((i, receipts[i], tuple(faults)))
                result.h2_calls += client is h2
                result.streamed_calls += streamed

            async def worker() -> None:
                nonlocal next_id
                while next_id < total:
                    i = next_id
                    next_id += 1
                    await one(i)
                    if i == warmup:
                        result.rss_warm_kib = rss_kib()
                        result.rss_warm_trimmed_kib = trimmed_rss_kib()

            async with trio.open_nursery() as nursery:
                for _ in range(concurrency):
                    nursery.start_soon(worker)
        # Both clients are closed: the server's ends follow.
        while server.active_connections:  # noqa: ASYNC110 - the server has no event for it
            await trio.sleep(0.01)
        result.fds_after = open_fds()
        result.received = plan.received
        result.faults = Counter(plan.counts)
    result.rss_end_kib = rss_kib()
    result.rss_end_trimmed_kib = trimmed_rss_kib()
    if not result.rss_warm_kib:
        result.rss_warm_kib = result.rss_end_kib
        result.rss_warm_trimmed_kib = result.rss_end_trimmed_kib
    result.lost = outcomes.count(0)
    result.max_receipts = max(receipts, default=0)
    result.seconds = time.monotonic() - started
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate", type=float, default=0.3, help="share of requests that get a fault")
    parser.add_argument("--max-retries", type=int, default=2)
    parser.add_argument(
        "--clock-rate",
        type=float,
        default=10.0,
        help="virtual seconds per real second (trio MockClock): retry backoff and fault waits pass this much "
        "faster; 1 runs on a real clock",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    clock = None if args.clock_rate == 1 else trio.testing.MockClock(rate=args.clock_rate)
    result = trio.run(
        lambda: run_soak(
            total=args.requests,
            concurrency=args.concurrency,
            seed=args.seed,
            rate=args.rate,
            max_retries=args.max_retries,
        ),
        clock=clock,
    )
    summary = result.summary()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for key, value in summary.items():
            print(f"{key:32} {value}")
    broken = (
        result.untyped_errors or result.lost or result.duplicated or result.corrupt
        or result.over_budget or result.fds_after > result.fds_before
    )
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
