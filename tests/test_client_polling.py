"""The pollers against the fake server on a MockClock: vector store files
and file batches, Assistants runs (create, tool outputs, thread and run),
batches; openai-poll-after-ms, poll_interval_ms, the deadline (the request
in flight included), cancellation, misuse refused before any byte."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from openai_sansio import LocalProtocolError, PollTimeoutError
from openai_sansio.types.assistants import RunObject
from openai_sansio.types.vector_stores import VectorStoreFileBatchObject, VectorStoreFileObject
from openai_trio import Client
from openai_trio.testing import FakeResponse, FakeServer

KEY = "sk-test-polling"
FORCED: dict[str, Any] = {
    "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}],
    "tool_choice": "required",
}


def run(test: Any) -> Any:
    async def main() -> Any:
        async with (
            FakeServer() as server,
            Client(api_key=KEY, base_url="http://fake.test/v1", connector=server.connect, max_retries=0) as client,
        ):
            return await test(server, client)

    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def gets(server: FakeServer, fragment: str) -> list[Any]:
    """The retrievals of a path containing ``fragment``."""
    return [r for r in server.requests if r.method == "GET" and fragment in r.path]


async def store_and_file(client: Client) -> tuple[str, str]:
    store = await client.vector_stores.create(name="docs")
    uploaded = await client.files.create(file=("notes.txt", b"some notes"), purpose="assistants")
    return store.id, uploaded.id


def test_vector_store_file_create_and_poll() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        store_id, file_id = await store_and_file(client)
        start = trio.current_time()
        done = await client.vector_stores.files.create_and_poll(file_id, vector_store_id=store_id)
        assert isinstance(done, VectorStoreFileObject)
        assert (done.id, done.status, done.vector_store_id) == (file_id, "completed", store_id)
        # Two retrievals in progress, the third completed; a second apart.
        assert len(gets(server, f"/files/{file_id}")) == 3
        assert trio.current_time() - start == pytest.approx(2.0)

    run(test)


def test_the_servers_hint_and_the_callers_interval() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        server.openai.vector_stores.poll_after_ms = 250
        store_id, file_id = await store_and_file(client)
        start = trio.current_time()
        await client.vector_stores.files.create_and_poll(file_id, vector_store_id=store_id)
        assert trio.current_time() - start == pytest.approx(0.5)
        _, other = await store_and_file(client)
        start = trio.current_time()
        await client.vector_stores.files.create_and_poll(other, vector_store_id=store_id, poll_interval_ms=20)
        assert trio.current_time() - start == pytest.approx(0.04)

    run(test)


def test_a_failed_file_is_returned() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        store_id, file_id = await store_and_file(client)
        server.openai.vector_stores.fail_files.add(file_id)
        done = await client.vector_stores.files.create_and_poll(file_id, vector_store_id=store_id)
        assert done.status == "failed" and done.last_error is not None

    run(test)


def test_upload_and_poll() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        store = await client.vector_stores.create(name="docs")
        done = await client.vector_stores.files.upload_and_poll(
            vector_store_id=store.id, file=("a.txt", b"alpha"), attributes={"lang": "en"}
        )
        assert done.status == "completed" and done.attributes == {"lang": "en"}
        uploads = [r for r in server.requests if r.path == "/v1/files"]
        assert len(uploads) == 1 and b'name="purpose"' in uploads[0].body and b"assistants" in uploads[0].body
        attached = await client.vector_stores.files.upload(vector_store_id=store.id, file=("b.txt", b"beta"))
        assert attached.status == "in_progress"

    run(test)


def test_file_batches() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        store_id, first = await store_and_file(client)
        server.openai.vector_stores.fail_files.add(first)
        batch = await client.vector_stores.file_batches.upload_and_poll(
            store_id, files=[("b.txt", b"b"), ("c.txt", b"c"), ("d.txt", b"d")], file_ids=[first], max_concurrency=2
        )
        assert isinstance(batch, VectorStoreFileBatchObject)
        assert batch.status == "completed"
        counts = batch.file_counts
        assert (counts.total, counts.completed, counts.failed, counts.in_progress) == (4, 3, 1, 0)
        created = next(r for r in server.requests if r.path.endswith("/file_batches"))
        ids = created.json()["file_ids"]
        assert ids[0] == first and len(ids) == 4
        uploaded = [r for r in server.requests if r.path == "/v1/files" and r.method == "POST"]
        assert len(uploaded) == 4  # the first by store_and_file
        # The order given, whatever order the uploads finished in.
        names = [server.openai.files[i][0]["filename"] for i in ids[1:]]
        assert names == ["b.txt", "c.txt", "d.txt"]

        again = await client.vector_stores.file_batches.create_and_poll(store_id, file_ids=[first])
        assert again.file_counts.failed == 1

    run(test)


def test_runs_create_and_poll_and_tool_outputs() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        runs = client.beta.threads.runs
        done = await runs.create_and_poll(thread_id="thread_1", assistant_id="asst_1")
        assert isinstance(done, RunObject) and done.status == "completed"
        assert len(gets(server, f"/runs/{done.id}")) == 2  # in_progress, completed

        waiting = await runs.create_and_poll(thread_id="thread_1", assistant_id="asst_1", **FORCED)
        assert waiting.status == "requires_action"
        assert waiting.required_action is not None
        calls = waiting.required_action.submit_tool_outputs.tool_calls
        finished = await runs.submit_tool_outputs_and_poll(
            run_id=waiting.id,
            thread_id="thread_1",
            tool_outputs=[{"tool_call_id": c.id, "output": "42"} for c in calls],
        )
        assert finished.status == "completed" and finished.id == waiting.id

        again = await runs.poll(done.id, "thread_1")
        assert again.status == "completed"

    run(test)


def test_create_and_run_poll() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        server.openai.assistants.in_progress_polls = 3
        server.openai.assistants.poll_after_ms = 100
        start = trio.current_time()
        done = await client.beta.threads.create_and_run_poll(
            assistant_id="asst_1", thread={"messages": [{"role": "user", "content": "hi"}]}
        )
        assert done.status == "completed" and done.thread_id.startswith("thread_")
        assert trio.current_time() - start == pytest.approx(0.3)
        assert len(gets(server, f"/threads/{done.thread_id}/runs/{done.id}")) == 4

    run(test)


def test_batches_poll() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        line = b'{"custom_id": "a", "method": "POST", "url": "/v1/embeddings", "body": {"model": "text-embedding-3-small", "input": "x"}}\n'
        uploaded = await client.files.create(file=("in.jsonl", line), purpose="batch")
        batch = await client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/embeddings", completion_window="24h"
        )
        done = await client.batches.poll(batch.id, poll_interval_ms=10)
        assert done.status == "completed" and done.output_file_id

    run(test)


def test_the_deadline() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        store_id, file_id = await store_and_file(client)
        server.openai.vector_stores.processing_polls = 100
        start = trio.current_time()
        with pytest.raises(PollTimeoutError) as info:
            await client.vector_stores.files.create_and_poll(file_id, vector_store_id=store_id, max_wait_seconds=2.5)
        assert isinstance(info.value, TimeoutError)
        assert info.value.last is not None and info.value.last.status == "in_progress"
        assert trio.current_time() - start == pytest.approx(2.5)
        assert len(gets(server, f"/files/{file_id}")) == 3  # at 0, 1 and 2 s
        # Zero: no retrieval at all.
        before = len(server.requests)
        with pytest.raises(PollTimeoutError):
            await client.vector_stores.files.poll(file_id, vector_store_id=store_id, max_wait_seconds=0)
        assert len(server.requests) == before

    run(test)


def test_the_deadline_cuts_a_slow_retrieval() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        async def slow(request: Any) -> FakeResponse:
            await trio.sleep(60)
            return FakeResponse.json({"id": "run_1", "status": "in_progress"})

        server.route("GET", "/v1/threads/thread_1/runs/run_1", slow)
        start = trio.current_time()
        with pytest.raises(PollTimeoutError):
            await client.beta.threads.runs.poll("run_1", "thread_1", max_wait_seconds=5)
        assert trio.current_time() - start == pytest.approx(5)

    run(test)


def test_cancellation_stops_the_wait() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        store_id, file_id = await store_and_file(client)
        server.openai.vector_stores.processing_polls = 1000
        with trio.move_on_after(10) as scope:
            await client.vector_stores.files.create_and_poll(file_id, vector_store_id=store_id)
        assert scope.cancelled_caught
        polls = len(gets(server, f"/files/{file_id}"))
        assert 1 <= polls <= 11
        await trio.sleep(100)
        assert len(gets(server, f"/files/{file_id}")) == polls

    run(test)


def test_options_reach_the_retrievals() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        await client.beta.threads.runs.create_and_poll(
            thread_id="thread_1", assistant_id="asst_1", extra_headers={"x-trace": "t1"}, extra_query={"q": "1"}
        )
        retrievals = [r for r in server.requests if r.method == "GET"]
        assert retrievals and all(r.headers.get("x-trace") == "t1" and "q=1" in r.target for r in retrievals)

    run(test)


def test_misuse_is_refused_before_any_byte() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        runs = client.beta.threads.runs
        files = client.vector_stores.files
        attempts: list[Any] = [
            runs.create_and_poll(thread_id="t", assistant_id="a", stream=True),
            runs.submit_tool_outputs_and_poll(run_id="r", thread_id="t", tool_outputs=[], stream=False),
            client.beta.threads.create_and_run_poll(assistant_id="a", stream=True),
            runs.create_and_poll(thread_id="t", assistant_id="a", poll_interval_ms=-1),
            files.create_and_poll("f", vector_store_id="vs", max_wait_seconds=float("inf")),
            files.upload_and_poll(vector_store_id="vs", file=("a", b"a"), max_wait_seconds=-1),
            client.vector_stores.file_batches.upload_and_poll("vs", files=[], max_concurrency=0),
            client.batches.poll("b", poll_interval_ms=1.5),  # type: ignore[arg-type]
        ]
        for attempt in attempts:
            with pytest.raises(LocalProtocolError):
                await attempt
        assert server.requests == []

    run(test)
