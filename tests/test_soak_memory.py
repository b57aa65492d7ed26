"""A client keeps nothing per call: under a seeded random fault plan, the
live objects of the library's own types after 1,500 calls are those after
300 (a list, a per-origin dict or a cycle holding connections would grow
with the calls).  Counted between batches, with no call in flight."""

from __future__ import annotations

import gc
from collections import Counter

import pytest
import trio
import trio.testing

import openai_trio
from benchmarks.soak import SOAK_FAULTS
from openai_trio.testing import FakeServer, FaultPlan

OURS = ("openai_trio", "openai_sansio")
BATCH = 20
# Idle pooled connections come and go between batches; a leak of one object
# a call would be 1,200 over the limit.
SLACK = 100


def library_objects() -> Counter[str]:
    gc.collect()
    counts: Counter[str] = Counter()
    for obj in gc.get_objects():
        # Some types hold a descriptor there rather than a str.
        module = getattr(type(obj), "__module__", None)
        if isinstance(module, str) and module.startswith(OURS) and not module.startswith("openai_trio.testing"):
            counts[f"{module}.{type(obj).__qualname__}"] += 1
    return counts


@pytest.mark.timeout(90)
@pytest.mark.parametrize("h2c", [False, True], ids=["http1", "h2c"])
def test_live_objects_flat_under_faults(h2c: bool) -> None:
    async def main() -> tuple[Counter[str], Counter[str]]:
        plan = FaultPlan.random(seed=5, rate=0.3, kinds=SOAK_FAULTS, log_limit=10)
        counts: list[Counter[str]] = []
        async with FakeServer(fault_plan=plan, record_limit=10) as server:
            await server.serve_tcp()
            async with openai_trio.Client(
                api_key="sk-memory", base_url=server.base_url, max_retries=2, h2c=h2c
            ) as client:

                async def one(i: int) -> None:
                    try:
                        if i % 2:
                            stream = await client.chat.completions.create(
                                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
                            )
                            async with stream:
                                async for _ in stream:
                                    pass
                        else:
                            await client.chat.completions.create(
                                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
                            )
                    except openai_trio.APIError:
                        pass

                done = 0
                for total in (300, 1500):
                    while done < total:
                        async with trio.open_nursery() as nursery:
                            for i in range(done, done + BATCH):
                                nursery.start_soon(one, i)
                        done += BATCH
                    counts.append(library_objects())
        return counts[0], counts[1]

    before, after = trio.run(main, clock=trio.testing.MockClock(rate=10.0))
    grown = {name: after[name] - before[name] for name in after if after[name] - before[name] > SLACK}
    assert grown == {}, grown
    assert sum(after.values()) < sum(before.values()) + 2 * SLACK, (sum(before.values()), sum(after.values()))
