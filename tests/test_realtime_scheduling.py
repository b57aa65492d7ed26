# The server events are wide unions; the tests know which one they read.
# mypy: disable-error-code="union-attr"
"""How a WebSocket connection shares trio's scheduler: events read ahead
are handed to ``recv`` with a cancellation point but no schedule point (a
pass of the scheduler per event cost as much as decoding it), so these
tests pin what is kept: a cancelled ``recv`` raises ``Cancelled`` at once
and loses no event, and a caller that does nothing but read still lets
other tasks run at least once every ``max_queue`` (+1) events."""

from __future__ import annotations

from typing import Any

import trio
import trio.lowlevel
import trio.testing

import openai_trio
from openai_trio.testing import FakeServer

KEY = "sk-test-scheduling"
MODEL = "gpt-realtime"
WORDS = [f"w{i}" for i in range(600)]


def client_for(server: FakeServer) -> openai_trio.Client:
    return openai_trio.Client(api_key=KEY, base_url="https://fake.test/v1", connector=server.connect)


async def start_text_response(conn: Any) -> None:
    assert (await conn.recv()).type == "session.created"
    await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
    assert (await conn.recv()).type == "session.updated"
    await conn.response.create()


async def test_a_cancelled_recv_raises_at_once_and_loses_nothing(autojump_clock: trio.testing.MockClock) -> None:
    async with (
        FakeServer(reply=" ".join(WORDS)) as server,
        client_for(server) as client,
        client.realtime.connect(model=MODEL, max_queue=32) as conn,
    ):
        await start_text_response(conn)
        # Every task idle: the reader has filled the queue and waits.
        await trio.sleep(1)
        deltas: list[str] = []
        cancelled = 0
        while True:
            with trio.CancelScope() as scope:
                scope.cancel()
                await conn.recv()
                raise AssertionError("recv in a cancelled scope returned")
            cancelled += scope.cancelled_caught
            event = await conn.recv()
            if event.type == "response.output_text.delta":
                deltas.append(str(event.delta))
            elif event.type == "response.done":
                break
        assert cancelled > len(WORDS)
        assert "".join(deltas).split() == WORDS


async def test_a_reader_that_only_reads_lets_other_tasks_run(autojump_clock: trio.testing.MockClock) -> None:
    max_queue = 16
    trace: list[str] = []

    async def ticker() -> None:
        while True:
            trace.append("tick")
            await trio.lowlevel.checkpoint()

    async with (
        FakeServer(reply=" ".join(WORDS)) as server,
        client_for(server) as client,
        client.realtime.connect(model=MODEL, max_queue=max_queue) as conn,
    ):
        await start_text_response(conn)
        # A full queue to start with: the longest run there can be.
        await trio.sleep(1)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ticker)
            while True:
                event = await conn.recv()
                trace.append("event")
                if event.type == "response.done":
                    break
            nursery.cancel_scope.cancel()
    assert trace.count("event") > len(WORDS)
    longest = run = 0
    for entry in trace:
        run = run + 1 if entry == "event" else 0
        longest = max(longest, run)
    # A run of the reading task hands over at most max_queue + 1 events:
    # the queue, and one from the reader waiting to put its next one in.
    # Between two ticks that task may run twice (trio orders the tasks of
    # one scheduler pass either way); the first run empties a full queue.
    assert max_queue <= longest <= 2 * (max_queue + 1), longest
