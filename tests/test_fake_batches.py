"""The fake server's Batch API: statuses over polls, output and error
files, validation failures, expiry and cancellation."""

from __future__ import annotations

import json
from typing import Any

import pytest

import openai_trio
from openai_trio.testing import FakeServer


def client(server: FakeServer) -> openai_trio.Client:
    return openai_trio.Client(api_key="sk-test", base_url="http://fake/v1", connector=server.connect, max_retries=0)


def line(custom_id: str, **body: Any) -> bytes:
    body.setdefault("model", "gpt-4o-mini")
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}).encode() + b"\n"


async def retrieve(c: openai_trio.Client, batch_id: str) -> Any:
    return await c.batches.retrieve(batch_id)


async def submit(c: openai_trio.Client, content: bytes) -> Any:
    file = await c.files.create(file=("in.jsonl", content), purpose="batch")
    return await c.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h")


async def test_a_batch_runs_over_polls() -> None:
    async with FakeServer() as server, client(server) as c:
        batch = await submit(c, line("a") + line("b", n=99) + line("c"))
        statuses = [batch.status]
        while batch.status != "completed":
            batch = await retrieve(c, batch.id)
            statuses.append(batch.status)
        assert statuses == ["validating", "in_progress", "in_progress", "finalizing", "completed"]
        assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (3, 2, 1)
        output = [json.loads(x) for x in (await c.files.content(batch.output_file_id)).read().splitlines()]
        errors = [json.loads(x) for x in (await c.files.content(batch.error_file_id)).read().splitlines()]
        assert [o["custom_id"] for o in output] == ["a", "c"]
        assert output[0]["response"]["status_code"] == 200
        assert output[0]["response"]["body"]["object"] == "chat.completion"
        assert errors[0]["custom_id"] == "b"
        assert errors[0]["response"]["status_code"] == 400
        assert [b.id async for b in c.batches.list()] == [batch.id]


async def test_a_bad_input_file_fails_the_batch() -> None:
    async with FakeServer() as server, client(server) as c:
        batch = await submit(c, line("a") + b"not json\n" + line("a"))
        batch = await retrieve(c, batch.id)
        assert batch.status == "failed"
        assert [(e.code, e.line) for e in batch.errors.data] == [("invalid_json_line", 2), ("duplicate_custom_id", 3)]


async def test_expiry_and_cancellation() -> None:
    async with FakeServer() as server, client(server) as c:
        server.openai.batches.expire_next = True
        server.openai.batches.poll_after_ms = 250
        batch = await submit(c, line("a") + line("b") + line("c") + line("d"))
        await retrieve(c, batch.id)
        raw = await c.batches.with_raw_response.retrieve(batch.id)
        assert raw.headers["openai-poll-after-ms"] == "250"
        expired: Any = raw.parse()
        assert expired.status == "expired"
        errors = [json.loads(x) for x in (await c.files.content(expired.error_file_id)).read().splitlines()]
        assert [(e["custom_id"], e["error"]["code"]) for e in errors] == [("c", "batch_expired"), ("d", "batch_expired")]

        batch = await submit(c, line("a"))
        assert (await c.batches.cancel(batch.id)).status == "cancelling"
        assert (await retrieve(c, batch.id)).status == "cancelled"
        with pytest.raises(openai_trio.ConflictError):
            await c.batches.cancel(batch.id)


def raw_line(custom_id: Any, url: str = "/v1/chat/completions", method: str = "POST", body: Any = None) -> bytes:
    return json.dumps({"custom_id": custom_id, "method": method, "url": url,
                       "body": {"model": "m", "messages": []} if body is None else body}).encode() + b"\n"


async def test_refused_creations_and_unknown_batches() -> None:
    async with FakeServer() as server, client(server) as c:
        batch_file = await c.files.create(file=("in.jsonl", line("a")), purpose="batch")
        other = await c.files.create(file=("in.jsonl", line("a")), purpose="fine-tune")
        for body, error in [
            ({"endpoint": "/v1/chat/completions", "completion_window": "24h"}, openai_trio.BadRequestError),
            ({"input_file_id": batch_file.id, "endpoint": "/v1/audio/speech", "completion_window": "24h"},
             openai_trio.BadRequestError),
            ({"input_file_id": batch_file.id, "endpoint": "/v1/chat/completions", "completion_window": "1h"},
             openai_trio.BadRequestError),
            ({"input_file_id": "file-nope", "endpoint": "/v1/chat/completions", "completion_window": "24h"},
             openai_trio.NotFoundError),
            ({"input_file_id": other.id, "endpoint": "/v1/chat/completions", "completion_window": "24h"},
             openai_trio.BadRequestError),
        ]:
            with pytest.raises(error):
                await c.post("/batches", body=body, cast_to=dict)
        for call in (c.batches.retrieve, c.batches.cancel):
            with pytest.raises(openai_trio.NotFoundError):
                await call("batch_nope")


async def test_every_kind_of_bad_input_line() -> None:
    async with FakeServer() as server, client(server) as c:
        content = (b"[1]\n" + raw_line("") + raw_line("m", method="GET")
                   + raw_line("u", url="/v1/embeddings") + raw_line("b", body=[1]))
        batch = await retrieve(c, (await submit(c, content)).id)
        assert [e.code for e in batch.errors.data] == [
            "invalid_request", "missing_required_parameter", "invalid_method", "mismatched_endpoint", "invalid_request"]
        empty = await retrieve(c, (await submit(c, b"\n\n")).id)
        assert [e.code for e in empty.errors.data] == ["empty_file"]


async def test_lines_the_fake_cannot_answer() -> None:
    async with FakeServer() as server, client(server) as c:
        server.openai.batches.in_progress_polls = 1
        moderation = await c.files.create(file=("in.jsonl", raw_line("x", url="/v1/moderations", body={"input": "hi"})),
                                          purpose="batch")
        batch = await c.batches.create(input_file_id=moderation.id, endpoint="/v1/moderations", completion_window="24h")
        streamed = await submit(c, line("s", stream=True))
        for batch_id in (batch.id, streamed.id):
            for _ in range(3):
                done = await retrieve(c, batch_id)
            assert done.status == "completed" and done.output_file_id is None
            (error,) = [json.loads(x) for x in (await c.files.content(done.error_file_id)).read().splitlines()]
            assert error["response"]["status_code"] in (400, 404)
