"""client.batches.run() and resume() against the fake server on a
MockClock: upload, polling, results in input order, failures, expiry,
cancellation, resuming, progress."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import sys
from typing import Any, AsyncIterator, Iterator

import pytest
import trio

import openai_trio
from openai_sansio import (
    BadRequestError,
    BatchFailedError,
    BatchLineError,
    BatchOutputError,
    BatchRequest,
    BatchRequestError,
    LocalProtocolError,
    PollTimeoutError,
)
from openai_sansio.types import ChatCompletion
from openai_trio.testing import FakeServer

CHAT = "/v1/chat/completions"


@contextlib.asynccontextmanager
async def fake_api() -> AsyncIterator[tuple[FakeServer, openai_trio.Client]]:
    async with FakeServer() as server, openai_trio.Client(
        api_key="sk-batch-secret", base_url="http://fake/v1", connector=server.connect, max_retries=0
    ) as client:
        yield server, client


def upload_id(server: FakeServer) -> str:
    (file_id,) = [k for k, (obj, _) in server.openai.files.items() if obj["purpose"] == "batch"]
    return file_id


def requests(n: int, failing: tuple[int, ...] = ()) -> list[BatchRequest]:
    # n=99 is past the fake model's limit: that line comes back as a 400.
    return [
        BatchRequest(f"req-{i}", {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{i}"}],
                                  **({"n": 99} if i in failing else {})})
        for i in range(n)
    ]


async def test_results_in_input_order_with_some_failing(autojump_clock: Any) -> None:
    async with fake_api() as (server, client):
        seen: list[str] = []
        async with client.batches.run(requests(7, failing=(1, 5)), endpoint=CHAT,
                                      progress=lambda b: seen.append(b.status)) as job:
            assert job.batch is not None and job.batch.status == "validating"
            assert job.custom_ids == [f"req-{i}" for i in range(7)]
            results = [r async for r in job.results()]
        assert [r.custom_id for r in results] == [f"req-{i}" for i in range(7)]
        assert [r.ok for r in results] == [True, False, True, True, True, False, True]
        assert all(isinstance(r.response, ChatCompletion) for r in results if r.ok)
        assert all(isinstance(r.error, BadRequestError) and r.status_code == 400 for r in results if not r.ok)
        assert seen == ["in_progress", "in_progress", "finalizing", "completed"]
        assert job.done and job.batch is not None and job.batch.status == "completed"
        upload, create = server.requests[:2]
        assert upload.path == "/v1/files"
        assert upload.headers["transfer-encoding"] == "chunked"
        parts = {part.name: part for part in upload.form()}
        purpose, file = parts["purpose"], parts["file"]
        assert (purpose.text, file.filename, file.content_type) == ("batch", "batch_input.jsonl", "application/jsonl")
        assert [json.loads(x)["custom_id"] for x in file.data.splitlines()] == job.custom_ids
        assert create.json() == {"input_file_id": upload_id(server), "endpoint": CHAT, "completion_window": "24h"}


async def test_reading_twice_and_metadata(autojump_clock: Any) -> None:
    async with fake_api() as (server, client), client.batches.run(
        [{"custom_id": "a", "url": CHAT, "body": requests(1)[0].body}], metadata={"run": "nightly"}
    ) as job:
        first = [r.custom_id async for r in job.results()]
        again = [r.custom_id async for r in job.results()]
        assert first == again == ["a"]
        assert server.requests[1].json()["metadata"] == {"run": "nightly"}
        assert repr(job) == f"<BatchJob {job.id} completed>"


async def test_a_bad_request_stops_the_job_before_any_byte() -> None:
    async with fake_api() as (server, client):
        bad = [*requests(50), BatchRequest("last", {"model": "m", "messages": [], "temprature": 0.2})]
        with pytest.raises(BatchLineError, match=r"Line 51 \(custom_id 'last'\): unknown parameter `temprature`"):
            async with client.batches.run(bad, endpoint=CHAT):
                pytest.fail("entered")  # pragma: no cover
        assert server.requests == []


async def test_a_one_shot_iterator_is_checked_as_it_streams() -> None:
    async with fake_api() as (server, client):
        def lines() -> Iterator[BatchRequest]:
            yield from requests(3000)
            yield requests(1)[0]  # req-0 again

        with pytest.raises(BatchLineError, match=r"Line 3001 .* used by an earlier line"):
            async with client.batches.run(lines(), endpoint=CHAT):
                pytest.fail("entered")  # pragma: no cover
        # The upload never completed: no file, no batch.
        assert server.openai.files == {} and server.openai.batches.runs == {}


async def test_resume_picks_up_a_job(autojump_clock: Any) -> None:
    async with fake_api() as (server, client):
        async with client.batches.run(requests(5, failing=(0,)), endpoint=CHAT) as job:
            batch_id = job.id
        assert batch_id is not None
        async with client.batches.resume(batch_id) as resumed:
            assert resumed.batch is not None and resumed.batch.status == "in_progress"
            results = [r async for r in resumed.results()]
        assert [r.custom_id for r in results] == [f"req-{i}" for i in range(5)]
        assert [r.ok for r in results] == [False, True, True, True, True]
        # Resuming creates and uploads nothing.
        assert sum(r.path == "/v1/batches" for r in server.requests) == 1
        assert sum(r.method == "POST" and r.path == "/v1/files" for r in server.requests) == 1
        with pytest.raises(LocalProtocolError):
            client.batches.resume("")


async def test_cancelled_mid_poll_then_cancel_the_batch(autojump_clock: Any) -> None:
    async with fake_api() as (server, client):
        server.openai.batches.in_progress_polls = 4
        async with client.batches.run(requests(8), endpoint=CHAT, poll_interval_ms=10_000) as job:
            with trio.move_on_after(25):  # three polls, then the wait is cancelled in its sleep
                await job.wait()
            assert job.batch is not None and job.batch.status == "in_progress"
            assert job.batch.request_counts is not None and job.batch.request_counts.completed == 4
            assert (await job.cancel()).status == "cancelling"
            results = [r async for r in job.results()]
        assert job.batch.status == "cancelled"
        assert [r.ok for r in results] == [True] * 4 + [False] * 4
        assert all(isinstance(r.error, BatchRequestError) and r.error.code == "batch_cancelled" for r in results[4:])


async def test_expired_batch(autojump_clock: Any) -> None:
    async with fake_api() as (server, client):
        server.openai.batches.expire_next = True
        async with client.batches.run(requests(4), endpoint=CHAT) as job:
            results = [r async for r in job.results()]
        assert [(r.custom_id, r.ok) for r in results] == [("req-0", True), ("req-1", True), ("req-2", False), ("req-3", False)]
        assert isinstance(results[3].error, BatchRequestError) and results[3].error.code == "batch_expired"


async def test_failed_batch(autojump_clock: Any) -> None:
    async with fake_api() as (_server, client):
        # A file not built by the helper: the server refuses it as a whole.
        file = await client.files.create(file=("x.jsonl", b'{"custom_id":"a"}\nnot json\n'), purpose="batch")
        batch = await client.batches.create(input_file_id=file.id, endpoint=CHAT, completion_window="24h")
        async with client.batches.resume(batch.id) as job:
            with pytest.raises(BatchFailedError, match=r"failed: invalid_method .line 1.*and 1 more") as caught:
                async for _ in job.results():
                    pytest.fail("a result")  # pragma: no cover
        assert [e.line for e in caught.value.errors] == [1, 2]


async def test_poll_after_and_deadline(autojump_clock: Any) -> None:
    async with fake_api() as (server, client):
        server.openai.batches.poll_after_ms = 30_000
        times: list[float] = []
        async with client.batches.run(requests(2), endpoint=CHAT, progress=lambda b: times.append(trio.current_time())) as job:
            await job.wait()
        assert [b - a for a, b in itertools.pairwise(times)] == [30.0] * (len(times) - 1)
        async with client.batches.run(requests(2), endpoint=CHAT, max_wait_seconds=45) as job:
            with pytest.raises(PollTimeoutError):
                await job.wait()
            assert job.batch is not None and job.batch.status == "in_progress"


async def test_malformed_and_missing_output(autojump_clock: Any) -> None:
    async with fake_api() as (server, client):
        async with client.batches.run(requests(3), endpoint=CHAT) as job:
            batch = await job.wait()
            assert batch.output_file_id is not None
            obj, content = server.openai.files[batch.output_file_id]
            lines = content.splitlines(keepends=True)
            server.openai.files[batch.output_file_id] = (obj, lines[0] + lines[2])
            results = [r async for r in job.results()]
        assert [r.ok for r in results] == [True, False, True]
        assert isinstance(results[1].error, BatchRequestError) and results[1].error.code == "missing_result"

        for bad, message in [(b"{}\n", "Line 2 of the batch output file: no custom_id"),
                             (lines[0], "Line 2 of the batch output file: custom_id 'req-0' has a result already"),
                             (b"[", "Line 2 of the batch output file: not valid JSON")]:
            async with client.batches.run(requests(2), endpoint=CHAT) as job:
                batch = await job.wait()
                assert batch.output_file_id is not None
                obj, content = server.openai.files[batch.output_file_id]
                server.openai.files[batch.output_file_id] = (obj, content.splitlines(keepends=True)[0] + bad)
                with pytest.raises(BatchOutputError, match=message):
                    [r async for r in job.results()]


async def test_misuse(monkeypatch: pytest.MonkeyPatch) -> None:
    async with fake_api() as (server, client):
        job = client.batches.run(requests(1), endpoint=CHAT)
        with pytest.raises(LocalProtocolError, match="async with"):
            job.results()
        with pytest.raises(LocalProtocolError, match="progress must be"):
            client.batches.run(requests(1), progress="yes")  # type: ignore[arg-type]
        monkeypatch.setitem(sys.modules, "tqdm", None)
        with pytest.raises(LocalProtocolError, match=r"pip install 'openai-trio\[progress\]'"):
            client.batches.run(requests(1), progress=True)
        assert server.requests == []
        # Reached through the raw view, the job still uses the plain methods.
        async with client.batches.with_raw_response.run(requests(1), endpoint=CHAT) as raw_job:  # type: ignore[attr-defined]
            assert raw_job.batch.status == "validating"
            with pytest.raises(LocalProtocolError, match="only once"):
                await raw_job.__aenter__()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_progress_bar_on_a_terminal_only(autojump_clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with fake_api() as (_server, client):
        pytest.importorskip("tqdm")
        piped = io.StringIO()
        monkeypatch.setattr(sys, "stderr", piped)
        async with client.batches.run(requests(3), endpoint=CHAT, progress=True) as job:
            await job.wait()
        assert piped.getvalue() == ""
        terminal = _Terminal()
        monkeypatch.setattr(sys, "stderr", terminal)
        async with client.batches.run(requests(3, failing=(2,)), endpoint=CHAT, progress=True) as job:
            await job.wait()
        drawn = terminal.getvalue()
        assert job.id is not None and job.id in drawn
        assert "3/3" in drawn and "completed, 1 failed" in drawn
        assert "sk-batch-secret" not in drawn
