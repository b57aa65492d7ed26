"""Pollers: ``create_and_poll``, ``upload_and_poll`` and ``poll`` on
``client.vector_stores.files``, ``client.vector_stores.file_batches``,
``client.beta.threads.runs`` and ``client.beta.threads``, and
``client.batches.poll``.

Each helper retrieves the object until the core's ``Poller`` says it is
finished, sleeping between retrievals with ``trio.sleep`` (so a
``MockClock`` runs them instantly, and cancelling the caller cancels the
wait).  Time is ``trio.current_time()``.  ``max_wait_seconds`` is a deadline
for the whole wait, the retrieval in flight included: when it passes,
``PollTimeoutError`` (a ``TimeoutError``) is raised, carrying the object as
last seen.  The official SDK lets a retrieval in flight finish after its
deadline and has the deadline on vector store files only.

Mixed into the generated namespaces through ``NAMESPACE_MIXINS`` in
``tools/generate_surface.py``; the methods reach the client through the
generated ones (``retrieve``, ``create``, ...), in their parsed and raw views.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterable

import trio

from openai_sansio import (
    NOT_GIVEN,
    LocalProtocolError,
    NotGiven,
    PollDone,
    Poller,
    PollKind,
    PollTimeoutError,
)

if TYPE_CHECKING:
    from openai_sansio.types.assistants import RunObject
    from openai_sansio.types.batch import Batch
    from openai_sansio.types.vector_stores import VectorStoreFileBatchObject, VectorStoreFileObject

    from ._namespace import Namespace

__all__ = [
    "BatchesPollMixin",
    "BetaThreadsPollMixin",
    "BetaThreadsRunsPollMixin",
    "VectorStoresFileBatchesPollMixin",
    "VectorStoresFilesPollMixin",
]

# Request options a helper passes on from its first call to its retrievals
# (a body has no place on a GET).
_CARRIED = ("extra_headers", "extra_query", "timeout", "max_retries")


def _options(params: dict[str, Any]) -> dict[str, Any]:
    return {k: params[k] for k in _CARRIED if k in params}


def _interval(value: int | NotGiven | None) -> int | None:
    return None if value is None or value is NOT_GIVEN else value


def _no_stream(params: dict[str, Any]) -> None:
    if "stream" in params:
        raise LocalProtocolError("a polling helper never streams; leave out 'stream' (or use the stream helpers)")


async def poll_until_done(
    kind: PollKind,
    retrieve: Callable[[], Awaitable[Any]],
    *,
    poll_interval_ms: int | NotGiven | None = None,
    max_wait_seconds: float | None = None,
    what: str = "the object",
) -> Any:
    """Call ``retrieve`` (a raw-view retrieval) until the object is finished
    for its ``kind``; return the parsed object."""
    poller = Poller(
        kind,
        now=trio.current_time(),
        poll_interval_ms=_interval(poll_interval_ms),
        max_wait_seconds=max_wait_seconds,
        what=what,
    )
    deadline = poller.deadline
    while True:
        poller.before_request(trio.current_time())
        with trio.move_on_at(float("inf") if deadline is None else deadline) as scope:
            raw = await retrieve()
        if scope.cancelled_caught:
            # The retrieval in flight was cut at the deadline.
            poller.before_request(trio.current_time())
            raise PollTimeoutError(f"gave up waiting for {what} to finish")  # pragma: no cover
        obj = raw.parse()
        step = poller.step(obj, raw.headers, trio.current_time())
        if isinstance(step, PollDone):
            return obj
        await trio.sleep(step.seconds)


def _files_namespace(namespace: Any) -> Any:
    module = importlib.import_module("openai_trio._generated.files")
    return module.Files(namespace._transport, "parsed")


def _parsed(namespace: Any) -> Any:
    ns: Namespace = namespace
    return ns._view("parsed")


def _raw(namespace: Any) -> Any:
    ns: Namespace = namespace
    return ns._view("raw")


class VectorStoresFilesPollMixin:
    """``client.vector_stores.files``: ``poll``, ``create_and_poll``,
    ``upload`` and ``upload_and_poll``."""

    __slots__ = ()

    async def poll(
        self,
        file_id: str,
        *,
        vector_store_id: str,
        poll_interval_ms: int | NotGiven | None = None,
        max_wait_seconds: float | None = None,
        **options: Any,
    ) -> VectorStoreFileObject:
        """Wait until the file is no longer ``in_progress``; returns it
        whatever its outcome (check ``status`` and ``last_error``)."""
        raw = _raw(self)
        return await poll_until_done(  # type: ignore[no-any-return]
            "vector_store_file",
            lambda: raw.retrieve(file_id, vector_store_id=vector_store_id, **options),
            poll_interval_ms=poll_interval_ms,
            max_wait_seconds=max_wait_seconds,
            what=f"vector store file {file_id!r}",
        )

    async def create_and_poll(
        self,
        file_id: str,
        *,
        vector_store_id: str,
        poll_interval_ms: int | NotGiven | None = None,
        max_wait_seconds: float | None = None,
        **params: Any,
    ) -> VectorStoreFileObject:
        """Attach a file to a vector store (``create``'s parameters:
        ``attributes``, ``chunking_strategy``, ...) and wait for it to be
        processed.  ``max_wait_seconds`` bounds the wait after attaching."""
        Poller("vector_store_file", now=0, poll_interval_ms=_interval(poll_interval_ms),
               max_wait_seconds=max_wait_seconds)  # arguments checked before anything is sent
        await _parsed(self).create(vector_store_id, file_id=file_id, **params)
        return await self.poll(
            file_id,
            vector_store_id=vector_store_id,
            poll_interval_ms=poll_interval_ms,
            max_wait_seconds=max_wait_seconds,
            **_options(params),
        )

    async def upload(self, *, vector_store_id: str, file: Any, **params: Any) -> VectorStoreFileObject:
        """Upload a file (purpose ``assistants``) and attach it to the
        vector store, without waiting for it to be processed."""
        uploaded = await _files_namespace(self).create(file=file, purpose="assistants")
        return await _parsed(self).create(vector_store_id, file_id=uploaded.id, **params)  # type: ignore[no-any-return]

    async def upload_and_poll(
        self,
        *,
        vector_store_id: str,
        file: Any,
        poll_interval_ms: int | NotGiven | None = None,
        max_wait_seconds: float | None = None,
        **params: Any,
    ) -> VectorStoreFileObject:
        """Upload a file, attach it and wait for it to be processed."""
        Poller("vector_store_file", now=0, poll_interval_ms=_interval(poll_interval_ms),
               max_wait_seconds=max_wait_seconds)
        uploaded = await _files_namespace(self).create(file=file, purpose="assistants")
        return await self.create_and_poll(
            uploaded.id,
            vector_store_id=vector_store_id,
            poll_interval_ms=poll_interval_ms,
            max_wait_seconds=max_wait_seconds,
            **params,
        )


class VectorStoresFileBatchesPollMixin:
    """``client.vector_stores.file_batches``: ``poll``, ``create_and_poll``
    and ``upload_and_poll``."""

    __slots__ = ()

    async def poll(
        self,
        batch_id: str,
        *,
        vector_store_id: str,
        poll_interval_ms: int | NotGiven | None = None,
        max_wait_seconds: float | None = None,
        **options: Any,
    ) -> VectorStoreFileBatchObject:
        """Wait until no file of the batch is in progress."""
        raw = _raw(self)
        return await poll_until_done(  # type: ignore[no-any-return]
            "vector_store_file_batch",
            lambda: raw.retrieve(batch_id, vector_store_id=vector_store_id, **options),
            poll_interval_ms=poll_interval_ms,
            max_wait_seconds=max_wait_seconds,
            what=f"vector store file batch {batch_id!r}",
        )

    async def create_and_poll(
        self,
        vector_store_id: str,
        *,
        poll_interval_ms: int | NotGiven | None = None,
        max_wait_seconds: float | None = None,
        **params: Any,
    ) -> VectorStoreFileBatchObject:
        """Create a file batch (``create``'s parameters: ``file_ids`` or
        ``files``, ``chunking_strategy``, ...) and wait for its files."""
        Poller("vector_store_file_batch", now=0, poll_interval_ms=_interval(poll_interval_ms),
               max_wait_seconds=max_wait_seconds)
        batch = await _parsed(self).create(vector_store_id, **params)
        return await self.poll(
            batch.id,
            vector_store_id=vector_store_id,
            poll_interval_ms=poll_interval_ms,
            max_wait_seconds=max_wait_seconds,
            **_options(params),
        )

    async def upload_and_poll(
        self,
        vector_store_id: str,
        *,
        files: Iterable[Any],
        max_concurrency: int = 5,
        file_ids: Iterable[str] = (),
        poll_interval_ms: int | NotGiven | None = None,
        max_wait_seconds: float | None = None,
        **params: Any,
    ) -> VectorStoreFileBatchObject:
        """Upload ``files`` (at most ``max_concurrency`` at a time, in a
        nursery: the first failure cancels the rest and is raised), then
        create a batch of them and of ``file_ids`` and wait for it.  The
        batch lists the uploads in the order given (the SDK: in the order
        they finished)."""
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise LocalProtocolError(f"max_concurrency must be a positive int, got {max_concurrency!r}")
        Poller("vector_store_file_batch", now=0, poll_interval_ms=_interval(poll_interval_ms),
               max_wait_seconds=max_wait_seconds)
        pending = list(files)
        ids: list[str | None] = [None] * len(pending)
        limiter = trio.CapacityLimiter(max_concurrency)
        files_ns = _files_namespace(self)

        async def upload(index: int, file: Any) -> None:
            async with limiter:
                uploaded = await files_ns.create(file=file, purpose="assistants")
            ids[index] = uploaded.id

        async with trio.open_nursery() as nursery:
            for index, file in enumerate(pending):
                nursery.start_soon(upload, index, file)
        all_ids = [*file_ids, *(i for i in ids if i is not None)]
        return await self.create_and_poll(
            vector_store_id,
            file_ids=all_ids,
            poll_interval_ms=poll_interval_ms,
            max_wait_seconds=max_wait_seconds,
            **params,
        )


class BetaThreadsRunsPollMixin:
    """``client.beta.threads.runs``: ``poll``, ``create_and_poll`` and
    ``submit_tool_outputs_and_poll``."""

    __slots__ = ()

    async def poll(
        self,
        run_id: str,
        thread_id: str,
        *,
        poll_interval_ms: int | NotGiven | None = None,
        max_wait_seconds: float | None = None,
        **options: Any,
    ) -> RunObject:
        """Wait until the run is ``requires_action``, ``completed``,
        ``failed``, ``cancelled``, ``expired`` or ``incomplete``."""
        raw = _raw(self)
        return await poll_until_done(  # type: ignore[no-any-return]
            "run",
            lambda: raw.retrieve(run_id, thread_id=thread_id, **options),
            poll_interval_ms=poll_interval_ms,
            max_wait_seconds=max_wait_seconds,
            what=f"run {run_id!r}",
        )

    async def create_and_poll(
        self,
        *,
        thread_id: str,
        poll_interval_ms: int | NotGiven | None = None,
        max_wait_seconds: float | None = None,
        **params: Any,
    ) -> RunObject:
        """Create a run (``create``'s parameters: ``assistant_id``,
        ``instructions``, ``tools``, ...; not ``stream``) and wait for it to
        finish or to need tool outputs."""
        _no_stream(params)
        Poller("run", now=0, poll_interval_ms=_interval(poll_interval_ms), max_wait_seconds=max_wait_seconds)
        run = await _parsed(self).create(thread_id, **params)
        return await self.poll(
            run.id,
            thread_id,
            poll_interval_ms=poll_interval_ms,
            max_wait_seconds=max_wait_seconds,
            **_options(params),
        )

    async def submit_tool_outputs_and_poll(
        self,
        *,
        tool_outputs: Iterable[Any],
        run_id: str,
        thread_id: str,
        poll_interval_ms: int | NotGiven | None = None,
        max_wait_seconds: float | None = None,
        **params: Any,
    ) -> RunObject:
        """Send the outputs a ``requires_action`` run waits for, and wait
        for the run again."""
        _no_stream(params)
        Poller("run", now=0, poll_interval_ms=_interval(poll_interval_ms), max_wait_seconds=max_wait_seconds)
        run = await _parsed(self).submit_tool_outputs(
            run_id, thread_id=thread_id, tool_outputs=tool_outputs, **params
        )
        return await self.poll(
            run.id,
            thread_id,
            poll_interval_ms=poll_interval_ms,
            max_wait_seconds=max_wait_seconds,
            **_options(params),
        )


class BetaThreadsPollMixin:
    """``client.beta.threads.create_and_run_poll``."""

    __slots__ = ()

    async def create_and_run_poll(
        self,
        *,
        poll_interval_ms: int | NotGiven | None = None,
        max_wait_seconds: float | None = None,
        **params: Any,
    ) -> RunObject:
        """Create a thread and a run on it (``create_and_run``'s parameters,
        not ``stream``) and wait for the run."""
        _no_stream(params)
        Poller("run", now=0, poll_interval_ms=_interval(poll_interval_ms), max_wait_seconds=max_wait_seconds)
        run = await _parsed(self).create_and_run(**params)
        runs: BetaThreadsRunsPollMixin = _parsed(self).runs
        return await runs.poll(
            run.id,
            run.thread_id,
            poll_interval_ms=poll_interval_ms,
            max_wait_seconds=max_wait_seconds,
            **_options(params),
        )


class BatchesPollMixin:
    """``client.batches.poll``: not in the official SDK; the Batch job
    helper waits with it."""

    __slots__ = ()

    async def poll(
        self,
        batch_id: str,
        *,
        poll_interval_ms: int | NotGiven | None = None,
        max_wait_seconds: float | None = None,
        **options: Any,
    ) -> Batch:
        """Wait until the batch is ``completed``, ``failed``, ``expired`` or
        ``cancelled``; returns it whatever the outcome."""
        raw = _raw(self)
        return await poll_until_done(  # type: ignore[no-any-return]
            "batch",
            lambda: raw.retrieve(batch_id, **options),
            poll_interval_ms=poll_interval_ms,
            max_wait_seconds=max_wait_seconds,
            what=f"batch {batch_id!r}",
        )
