"""The fake server's Batch API: batches that run their lines over polls.

A batch moves one step each time it is retrieved, so a test decides how far
it gets by how often it asks, and a client on a ``MockClock`` never waits
for real time: ``validating`` (the input file is checked), then
``in_progress`` for ``in_progress_polls`` polls (each answering a share of
the lines through the fake server's own endpoint handlers), ``finalizing``,
and ``completed`` with an output file and, when some lines were refused,
an error file.  A file that does not hold valid batch lines makes the batch
``failed``; ``expire_next`` makes the next batch ``expired`` after its first
share; ``cancel`` goes through ``cancelling`` to ``cancelled``, keeping the
lines already answered.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from ._responses import FakeResponse, ReceivedRequest

__all__ = ["BATCH_ENDPOINTS", "FakeBatches"]

BATCH_ENDPOINTS = (
    "/v1/responses",
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/moderations",
    "/v1/images/generations",
    "/v1/images/edits",
    "/v1/videos",
)
_TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
_MAX_KEPT = 1000


def _invalid(message: str, *, param: str | None = None) -> FakeResponse:
    return FakeResponse.error(400, message, type="invalid_request_error", param=param)


class _Run:
    """One batch and what is left of its work."""

    def __init__(self, obj: dict[str, Any], content: bytes, expire: bool) -> None:
        self.obj = obj
        self.content = content
        self.expire = expire
        self.lines: list[dict[str, Any]] = []
        self.done = 0
        self.polls = 0
        self.output: list[bytes] = []
        self.errors: list[bytes] = []


class FakeBatches:
    """State and knobs of the fake Batch API (``server.openai.batches``).

    ``in_progress_polls``: how many polls answer the lines (at least 1);
    ``poll_after_ms``: sent as ``openai-poll-after-ms`` on every batch
    object when set; ``expire_next``: the next batch created expires.
    """

    def __init__(self) -> None:
        self.runs: dict[str, _Run] = {}
        self.in_progress_polls = 2
        self.poll_after_ms: int | None = None
        self.expire_next = False

    def _answer(self, obj: dict[str, Any]) -> FakeResponse:
        headers = {} if self.poll_after_ms is None else {"openai-poll-after-ms": str(self.poll_after_ms)}
        return FakeResponse.json(obj, headers=headers)

    # -- routes (called with the FakeOpenAI as ``api``) -----------------------

    def create(self, api: Any, request: ReceivedRequest, body: dict[str, Any]) -> FakeResponse:
        for name in ("input_file_id", "endpoint", "completion_window"):
            if not isinstance(body.get(name), str):
                return _invalid(f"Missing required parameter: '{name}'.", param=name)
        endpoint = body["endpoint"]
        if endpoint not in BATCH_ENDPOINTS:
            return _invalid(f"Invalid 'endpoint': {endpoint!r} is not supported.", param="endpoint")
        if body["completion_window"] != "24h":
            return _invalid("Invalid 'completion_window': only '24h' is supported.", param="completion_window")
        found = api.files.get(body["input_file_id"])
        if found is None:
            return FakeResponse.error(404, f"No such File object: {body['input_file_id']}", param="input_file_id")
        file_obj, content = found
        if file_obj.get("purpose") != "batch":
            return _invalid("The input file must be uploaded with purpose 'batch'.", param="input_file_id")
        batch_id = api._next_id("batch_")
        now = int(time.time())
        obj: dict[str, Any] = {
            "id": batch_id,
            "object": "batch",
            "endpoint": endpoint,
            "errors": None,
            "input_file_id": body["input_file_id"],
            "completion_window": "24h",
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": now,
            "in_progress_at": None,
            "expires_at": now + 86400,
            "finalizing_at": None,
            "completed_at": None,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": None,
            "cancelled_at": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "metadata": body.get("metadata"),
        }
        self.runs[batch_id] = _Run(obj, content, self.expire_next)
        self.expire_next = False
        while len(self.runs) > _MAX_KEPT:
            del self.runs[next(iter(self.runs))]
        return self._answer(obj)

    def retrieve(self, api: Any, request: ReceivedRequest, body: None, batch_id: str) -> FakeResponse:
        run = self.runs.get(batch_id)
        if run is None:
            return self._missing(batch_id)
        self._step(api, request, run)
        return self._answer(run.obj)

    def cancel(self, api: Any, request: ReceivedRequest, body: None, batch_id: str) -> FakeResponse:
        run = self.runs.get(batch_id)
        if run is None:
            return self._missing(batch_id)
        if run.obj["status"] in _TERMINAL:
            return FakeResponse.error(
                409, f"Cannot cancel a batch with status '{run.obj['status']}'.", type="invalid_request_error"
            )
        if run.obj["status"] != "cancelling":
            run.obj["status"] = "cancelling"
            run.obj["cancelling_at"] = int(time.time())
        return self._answer(run.obj)

    def list_all(self, api: Any, request: ReceivedRequest, body: None) -> FakeResponse:
        data = [run.obj for run in reversed(self.runs.values())]
        return FakeResponse.json({
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": False,
        })

    @staticmethod
    def _missing(batch_id: str) -> FakeResponse:
        return FakeResponse.error(404, f"No batch found with id '{batch_id}'.", param="batch_id")

    # -- the work --------------------------------------------------------------

    def _step(self, api: Any, request: ReceivedRequest, run: _Run) -> None:
        obj = run.obj
        status = obj["status"]
        now = int(time.time())
        if status == "validating":
            errors = self._load(run)
            if errors:
                obj.update(status="failed", failed_at=now, errors={"object": "list", "data": errors})
                return
            obj.update(status="in_progress", in_progress_at=now)
            obj["request_counts"]["total"] = len(run.lines)
        elif status == "in_progress":
            polls = max(1, self.in_progress_polls)
            share = -(-len(run.lines) // polls) or 1
            for line in run.lines[run.done : run.done + share]:
                self._run_line(api, request, run, line)
            run.done = min(len(run.lines), run.done + share)
            if run.expire:
                for line in run.lines[run.done :]:
                    self._fail_line(run, line, "batch_expired",
                                    "This request could not be executed before the completion window expired.")
                self._write_files(api, run)
                obj.update(status="expired", expired_at=now)
            elif run.done >= len(run.lines):
                obj.update(status="finalizing", finalizing_at=now)
        elif status == "finalizing":
            self._write_files(api, run)
            obj.update(status="completed", completed_at=now)
        elif status == "cancelling":
            self._write_files(api, run)
            obj.update(status="cancelled", cancelled_at=now)

    def _load(self, run: _Run) -> list[dict[str, Any]]:
        """Parse the input file into ``run.lines``; the errors that fail the batch."""
        errors: list[dict[str, Any]] = []
        seen: set[str] = set()
        endpoint = run.obj["endpoint"]

        def error(number: int, code: str, message: str, param: str | None = None) -> None:
            errors.append({"code": code, "message": message, "param": param, "line": number})

        for number, raw in enumerate(run.content.split(b"\n"), 1):
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                error(number, "invalid_json_line", "This line is not valid JSON.")
                continue
            if not isinstance(line, dict):
                error(number, "invalid_request", "Each line must be a JSON object.")
                continue
            custom_id = line.get("custom_id")
            if not isinstance(custom_id, str) or not custom_id:
                error(number, "missing_required_parameter", "Missing 'custom_id'.", "custom_id")
                continue
            if custom_id in seen:
                error(number, "duplicate_custom_id", f"The custom_id {custom_id!r} is used twice.", "custom_id")
                continue
            seen.add(custom_id)
            if line.get("method") != "POST":
                error(number, "invalid_method", "Only POST is supported.", "method")
            elif line.get("url") != endpoint:
                error(number, "mismatched_endpoint", f"The url must be {endpoint!r}, as the batch's.", "url")
            elif not isinstance(line.get("body"), dict):
                error(number, "invalid_request", "'body' must be a JSON object.", "body")
            else:
                run.lines.append(line)
        if not run.lines and not errors:
            error(1, "empty_file", "The input file has no requests.")
        return errors[:100]

    def _run_line(self, api: Any, request: ReceivedRequest, run: _Run, line: dict[str, Any]) -> None:
        body = line["body"]
        if body.get("stream") is True:
            answer = _invalid("Streaming is not supported in batches.", param="stream")
        else:
            segments = [s for s in line["url"][3:].split("/") if s]
            route = api._route("POST", segments)
            if route is None:
                answer = FakeResponse.error(404, f"The fake server does not serve {line['url']}.")
            else:
                handler, args = route
                answer = handler(api, request, body, *args)
        try:
            payload = json.loads(b"".join(answer.body))
        except ValueError:
            payload = None
        out = {
            "id": api._next_id("batch_req_"),
            "custom_id": line["custom_id"],
            "response": {
                "status_code": answer.status,
                "request_id": "req_" + hashlib.sha256(line["custom_id"].encode()).hexdigest()[:16],
                "body": payload,
            },
            "error": None,
        }
        counts = run.obj["request_counts"]
        if 200 <= answer.status < 300:
            run.output.append(json.dumps(out).encode() + b"\n")
            counts["completed"] += 1
        else:
            run.errors.append(json.dumps(out).encode() + b"\n")
            counts["failed"] += 1

    def _fail_line(self, run: _Run, line: dict[str, Any], code: str, message: str) -> None:
        out = {
            "id": "batch_req_" + hashlib.sha256(line["custom_id"].encode()).hexdigest()[:24],
            "custom_id": line["custom_id"],
            "response": None,
            "error": {"code": code, "message": message},
        }
        run.errors.append(json.dumps(out).encode() + b"\n")
        run.obj["request_counts"]["failed"] += 1

    def _write_files(self, api: Any, run: _Run) -> None:
        for key, lines, name in (
            ("output_file_id", run.output, "batch_output.jsonl"),
            ("error_file_id", run.errors, "batch_errors.jsonl"),
        ):
            if not lines:
                continue
            content = b"".join(lines)
            file_id = api._next_id("file-")
            api.files[file_id] = (
                {
                    "id": file_id,
                    "object": "file",
                    "bytes": len(content),
                    "created_at": int(time.time()),
                    "filename": name,
                    "purpose": "batch_output",
                    "status": "processed",
                    "expires_at": None,
                    "status_details": None,
                },
                content,
            )
            run.obj[key] = file_id
        run.output, run.errors = [], []


# Route handlers in the shape FakeOpenAI's dispatch calls (the API first).
def create_batch(api: Any, request: ReceivedRequest, body: dict[str, Any]) -> FakeResponse:
    return api.batches.create(api, request, body)  # type: ignore[no-any-return]


def retrieve_batch(api: Any, request: ReceivedRequest, body: None, batch_id: str) -> FakeResponse:
    return api.batches.retrieve(api, request, body, batch_id)  # type: ignore[no-any-return]


def cancel_batch(api: Any, request: ReceivedRequest, body: None, batch_id: str) -> FakeResponse:
    return api.batches.cancel(api, request, body, batch_id)  # type: ignore[no-any-return]


def list_batches(api: Any, request: ReceivedRequest, body: None) -> FakeResponse:
    return api.batches.list_all(api, request, body)  # type: ignore[no-any-return]
