"""The fake server's vector stores: files that finish processing over polls.

``POST /vector_stores`` and ``GET /vector_stores/{id}``; attaching a file
(``POST /vector_stores/{id}/files``) or a batch of them
(``POST /vector_stores/{id}/file_batches``) answers ``in_progress``, and each
retrieval moves it one poll on: after ``processing_polls`` retrievals the
file is ``completed`` (``failed`` with a ``last_error`` when its id is in
``fail_files``), and a batch's ``file_counts`` say how its files ended.  A
test decides how far processing gets by how often it asks, and a client on
a ``MockClock`` never waits for real time.  ``poll_after_ms`` is sent as
``openai-poll-after-ms`` on every file and batch object when set.
"""

from __future__ import annotations

import time
from typing import Any

from ._responses import FakeResponse, ReceivedRequest

__all__ = [
    "FakeVectorStores",
    "create_file",
    "create_file_batch",
    "create_vector_store",
    "retrieve_file",
    "retrieve_file_batch",
    "retrieve_vector_store",
]

_MAX_KEPT = 1000


def _invalid(message: str, *, param: str | None = None) -> FakeResponse:
    return FakeResponse.error(400, message, type="invalid_request_error", param=param)


def _not_found(message: str) -> FakeResponse:
    return FakeResponse.error(404, message, type="invalid_request_error")


def _keep(table: dict[str, Any], key: str, value: Any) -> None:
    table[key] = value
    while len(table) > _MAX_KEPT:
        del table[next(iter(table))]


class FakeVectorStores:
    """State and knobs of the fake vector stores (``server.openai.vector_stores``).

    ``processing_polls``: retrievals a file or batch stays ``in_progress``
    for (0: done at the first retrieval); ``fail_files``: file ids that
    fail to process; ``poll_after_ms``: the ``openai-poll-after-ms`` hint.
    """

    def __init__(self) -> None:
        self.stores: dict[str, dict[str, Any]] = {}
        #: (vector store id, file id) -> [file object, polls left]
        self.files: dict[tuple[str, str], list[Any]] = {}
        #: batch id -> [batch object, polls left]
        self.batches: dict[str, list[Any]] = {}
        self.processing_polls = 2
        self.fail_files: set[str] = set()
        self.poll_after_ms: int | None = None

    def answer(self, obj: dict[str, Any]) -> FakeResponse:
        headers = {} if self.poll_after_ms is None else {"openai-poll-after-ms": str(self.poll_after_ms)}
        return FakeResponse.json(obj, headers=headers)

    def finish(self, obj: dict[str, Any]) -> dict[str, Any]:
        if obj["id"] in self.fail_files:
            return dict(obj, status="failed", last_error={"code": "invalid_file", "message": "The file could not be parsed."})
        return dict(obj, status="completed")


def _store(api: Any, store_id: str) -> dict[str, Any] | None:
    return api.vector_stores.stores.get(store_id)  # type: ignore[no-any-return]


def create_vector_store(api: Any, request: ReceivedRequest, body: dict[str, Any]) -> FakeResponse:
    store_id = api._next_id("vs_")
    obj = {
        "id": store_id,
        "object": "vector_store",
        "created_at": int(time.time()),
        "name": body.get("name") if isinstance(body.get("name"), str) else None,
        "usage_bytes": 0,
        "file_counts": {"in_progress": 0, "completed": 0, "failed": 0, "cancelled": 0, "total": 0},
        "status": "completed",
        "expires_after": None,
        "expires_at": None,
        "last_active_at": None,
        "metadata": body.get("metadata") or {},
    }
    _keep(api.vector_stores.stores, store_id, obj)
    return FakeResponse.json(obj)


def retrieve_vector_store(api: Any, request: ReceivedRequest, body: Any, store_id: str) -> FakeResponse:
    obj = _store(api, store_id)
    if obj is None:
        return _not_found(f"No vector store found with id '{store_id}'.")
    return FakeResponse.json(obj)


def _file_object(api: Any, store_id: str, file_id: str, body: dict[str, Any]) -> dict[str, Any]:
    found = api.files.get(file_id)
    return {
        "id": file_id,
        "object": "vector_store.file",
        "usage_bytes": len(found[1]) if found is not None else 0,
        "created_at": int(time.time()),
        "vector_store_id": store_id,
        "status": "in_progress",
        "last_error": None,
        "chunking_strategy": body.get("chunking_strategy")
        or {"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}},
        "attributes": body.get("attributes") or {},
    }


def create_file(api: Any, request: ReceivedRequest, body: dict[str, Any], store_id: str) -> FakeResponse:
    fake: FakeVectorStores = api.vector_stores
    if _store(api, store_id) is None:
        return _not_found(f"No vector store found with id '{store_id}'.")
    file_id = body.get("file_id")
    if not isinstance(file_id, str) or not file_id:
        return _invalid("Missing required parameter: 'file_id'.", param="file_id")
    if file_id not in api.files:
        return _not_found(f"No file found with id '{file_id}'.")
    obj = _file_object(api, store_id, file_id, body)
    _keep(fake.files, (store_id, file_id), [obj, fake.processing_polls])  # type: ignore[arg-type]
    return fake.answer(obj)


def retrieve_file(api: Any, request: ReceivedRequest, body: Any, store_id: str, file_id: str) -> FakeResponse:
    fake: FakeVectorStores = api.vector_stores
    entry = fake.files.get((store_id, file_id))
    if entry is None:
        return _not_found(f"No file found with id '{file_id}' in vector store '{store_id}'.")
    obj, left = entry
    if obj["status"] == "in_progress":
        if left <= 0:
            obj = entry[0] = fake.finish(obj)
        else:
            entry[1] = left - 1
    return fake.answer(obj)


def create_file_batch(api: Any, request: ReceivedRequest, body: dict[str, Any], store_id: str) -> FakeResponse:
    fake: FakeVectorStores = api.vector_stores
    if _store(api, store_id) is None:
        return _not_found(f"No vector store found with id '{store_id}'.")
    ids = body.get("file_ids")
    if ids is None and isinstance(body.get("files"), list):
        ids = [f.get("file_id") for f in body["files"] if isinstance(f, dict)]
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        return _invalid("Missing required parameter: 'file_ids'.", param="file_ids")
    missing = [i for i in ids if i not in api.files]
    if missing:
        return _not_found(f"No file found with id '{missing[0]}'.")
    files = []
    for file_id in ids:
        obj = _file_object(api, store_id, file_id, body)
        _keep(fake.files, (store_id, file_id), [obj, fake.processing_polls])  # type: ignore[arg-type]
        files.append(file_id)
    batch = {
        "id": api._next_id("vsfb_"),
        "object": "vector_store.files_batch",
        "created_at": int(time.time()),
        "vector_store_id": store_id,
        "status": "in_progress",
        "file_counts": {"in_progress": len(files), "completed": 0, "failed": 0, "cancelled": 0, "total": len(files)},
    }
    _keep(fake.batches, batch["id"], [batch, fake.processing_polls, files])
    return fake.answer(batch)


def retrieve_file_batch(
    api: Any, request: ReceivedRequest, body: Any, store_id: str, batch_id: str
) -> FakeResponse:
    fake: FakeVectorStores = api.vector_stores
    entry = fake.batches.get(batch_id)
    if entry is None or entry[0]["vector_store_id"] != store_id:
        return _not_found(f"No file batch found with id '{batch_id}' in vector store '{store_id}'.")
    batch, left, files = entry
    if batch["status"] == "in_progress":
        if left <= 0:
            failed = sum(1 for f in files if f in fake.fail_files)
            for file_id in files:
                found = fake.files.get((store_id, file_id))
                if found is not None and found[0]["status"] == "in_progress":
                    found[0] = fake.finish(found[0])
            counts = {"in_progress": 0, "completed": len(files) - failed, "failed": failed,
                      "cancelled": 0, "total": len(files)}
            batch = entry[0] = dict(batch, status="completed", file_counts=counts)
        else:
            entry[1] = left - 1
    return fake.answer(batch)
