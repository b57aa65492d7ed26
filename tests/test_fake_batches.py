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


async def submit(c: openai_trio.Client, content: bytes) -> Any:
    file = await c.files.create(file=("in.jsonl", content), purpose="batch")
    return await c.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h")


async def test_a_batch_runs_over_polls() -> None:
    async with FakeServer() as server, client(server) as c:
        batch = await submit(c, line("a") + line("b", n=99) + line("c"))
        statuses = [batch.status]
        while batch.status != "completed":
            batch = await c.batches.retrieve(batch.id)
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
        batch = await c.batches.retrieve(batch.id)
        assert batch.status == "failed"
        assert [(e.code, e.line) for e in batch.errors.data] == [("invalid_json_line", 2), ("duplicate_custom_id", 3)]


async def test_expiry_and_cancellation() -> None:
    async with FakeServer() as server, client(server) as c:
        server.openai.batches.expire_next = True
        server.openai.batches.poll_after_ms = 250
        batch = await submit(c, line("a") + line("b") + line("c") + line("d"))
        await c.batches.retrieve(batch.id)
        raw = await c.batches.with_raw_response.retrieve(batch.id)
        assert raw.headers["openai-poll-after-ms"] == "250"
        expired = raw.parse()
        assert expired.status == "expired"
        errors = [json.loads(x) for x in (await c.files.content(expired.error_file_id)).read().splitlines()]
        assert [(e["custom_id"], e["error"]["code"]) for e in errors] == [("c", "batch_expired"), ("d", "batch_expired")]

        batch = await submit(c, line("a"))
        assert (await c.batches.cancel(batch.id)).status == "cancelling"
        assert (await c.batches.retrieve(batch.id)).status == "cancelled"
        with pytest.raises(openai_trio.ConflictError):
            await c.batches.cancel(batch.id)
