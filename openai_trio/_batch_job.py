"""``client.batches.run()`` and ``client.batches.resume()``: a Batch API job
from requests to results.

::

    async with client.batches.run(requests, endpoint="/v1/chat/completions") as job:
        print("resume later with", job.id)
        async for result in job.results():      # waits, then in input order
            print(result.custom_id, result.unwrap())

Entering ``run(...)`` builds the input file (the core's ``BatchInputEncoder``
checks every request first), uploads it streamed with purpose ``batch`` and
creates the batch; entering ``resume(batch_id)`` only retrieves it.
``wait()`` polls until the batch is finished (``client.batches.poll``'s
rules: ``openai-poll-after-ms``, ``max_wait_seconds`` -> ``PollTimeoutError``,
``trio.current_time()``, cancellable).  ``results()`` downloads the output
and error files streamed, spooling their lines to a temporary file with an
index by ``custom_id`` (memory stays bounded by the number of requests, not
the size of the answers), and yields one ``BatchResult`` per request in the
order of the input file.  Leaving the block removes the spool; it does not
cancel the batch (``job.cancel()`` does), so a job interrupted anywhere can be
picked up with ``resume(job.id)``.
"""

from __future__ import annotations

import importlib
import json
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO, TYPE_CHECKING, Any

import trio

from openai_sansio import (
    NOT_GIVEN,
    BatchFailedError,
    BatchInputEncoder,
    BatchOutputError,
    BatchResult,
    JsonLine,
    JsonLinesDecoder,
    LocalProtocolError,
    NotGiven,
    encode_batch_input,
    missing_result,
    parse_batch_result,
)
from openai_sansio._batch import DEFAULT_MAX_LINE_BYTES, RequestLike

from ._polling import poll_until_done

if TYPE_CHECKING:
    from types import TracebackType

    from openai_sansio.types.batch import Batch

__all__ = ["BatchJob", "BatchesJobMixin"]

_READ_GROUP = 256  # spooled lines read back per trip to a worker thread


class _ChunkSource:
    """The input file as an async iterable over the core's chunk
    generator, for the multipart encoder (a class, not an async generator,
    so nothing is left to finalize if the upload stops early)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    def __aiter__(self) -> _ChunkSource:
        return self

    async def __anext__(self) -> bytes:
        await trio.lowlevel.checkpoint()
        try:
            return next(self._chunks)
        except StopIteration:
            raise StopAsyncIteration from None


class _Progress:
    """A terminal progress bar (tqdm, on stderr, off when it is not a
    TTY) or the caller's function, told about every batch retrieved."""

    def __init__(self, progress: Any) -> None:
        self._call: Callable[[Any], object] | None = None
        self._bar: Any = None
        self._tqdm: Any = None
        if callable(progress):
            self._call = progress
        elif progress is True:
            try:
                self._tqdm = importlib.import_module("tqdm").tqdm
            except ImportError:
                raise LocalProtocolError(
                    "progress=True needs tqdm: pip install 'openai-trio[progress]'"
                ) from None
        elif progress not in (False, None):
            raise LocalProtocolError(f"progress must be a bool or a function, not {type(progress).__name__}")

    def update(self, batch: Any) -> None:
        if self._call is not None:
            self._call(batch)
            return
        if self._tqdm is None:
            return
        counts = batch.request_counts
        total = counts.total if counts is not None and counts.total else None
        done = (counts.completed + counts.failed) if counts is not None else 0
        if self._bar is None:
            # disable=None: tqdm draws nothing unless stderr is a terminal.
            self._bar = self._tqdm(total=total, desc=batch.id, unit="req", file=sys.stderr, disable=None)
        bar = self._bar
        if total is not None and bar.total != total:
            bar.total = total
        bar.n = done
        failed = counts.failed if counts is not None else 0
        bar.set_postfix_str(f"{batch.status}, {failed} failed", refresh=False)
        bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class _Spool:
    """Output and error lines on disk, found again by ``custom_id``."""

    def __init__(self) -> None:
        self._file: IO[bytes] | None = None
        self._end = 0
        # custom_id -> (file kind, line number, offset, length)
        self.index: dict[str, tuple[str, int, int, int]] = {}

    async def add(self, kind: str, lines: list[JsonLine], known: set[str] | None) -> None:
        pieces = []
        for line in lines:
            result = parse_batch_result(line, file=kind)  # refuses a malformed line now
            custom_id = result.custom_id
            if custom_id in self.index:
                raise BatchOutputError(f"custom_id {custom_id!r} has a result already", line=line.number, file=kind)
            if known is not None and custom_id not in known:
                raise BatchOutputError(f"custom_id {custom_id!r} is not in the input", line=line.number, file=kind)
            self.index[custom_id] = (kind, line.number, self._end, len(line.raw))
            self._end += len(line.raw)
            pieces.append(line.raw)
        if pieces:
            if self._file is None:
                self._file = await trio.to_thread.run_sync(tempfile.TemporaryFile)
            await trio.to_thread.run_sync(self._file.write, b"".join(pieces))

    async def read(self, places: list[tuple[int, int]]) -> list[bytes]:
        file = self._file
        assert file is not None

        def read_all() -> list[bytes]:
            out = []
            for offset, length in places:
                file.seek(offset)
                out.append(file.read(length))
            file.seek(0, 2)
            return out

        return await trio.to_thread.run_sync(read_all)

    async def aclose(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            await trio.to_thread.run_sync(file.close)


class BatchJob:
    """One batch on the server, from ``client.batches.run()`` or
    ``client.batches.resume()``; use it with ``async with``.

    ``batch`` is the batch object as last seen, ``id`` its id; ``custom_ids``
    the requests' ids in input order (known once the results are being read
    for a resumed job).
    """

    def __init__(
        self,
        batches: Any,
        *,
        requests: Iterable[RequestLike] | None = None,
        batch_id: str | None = None,
        endpoint: str | None = None,
        completion_window: str = "24h",
        metadata: dict[str, str] | None = None,
        strict: bool = True,
        progress: Any = False,
        poll_interval_ms: int | NotGiven | None = None,
        max_wait_seconds: float | None = None,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> None:
        self._batches = batches
        self._requests = requests
        self._resume_id = batch_id
        self._endpoint = endpoint
        self._completion_window = completion_window
        self._metadata = metadata
        self._strict = strict
        self._progress_arg = progress
        _Progress(progress)  # checked before anything is sent
        self._poll_interval_ms = poll_interval_ms
        self._max_wait_seconds = max_wait_seconds
        self._max_line_bytes = max_line_bytes
        self._entered = False
        self._spool: _Spool | None = None
        self.batch: Batch | None = None
        self.custom_ids: list[str] | None = None

    def __repr__(self) -> str:
        status = None if self.batch is None else self.batch.status
        return f"<BatchJob {self.id} {status}>"

    @property
    def id(self) -> str | None:
        return self._resume_id if self.batch is None else self.batch.id

    # -- the block --------------------------------------------------------------

    async def __aenter__(self) -> BatchJob:
        if self._entered:
            raise LocalProtocolError("a BatchJob can be entered only once")
        self._entered = True
        if self._resume_id is not None:
            self.batch = await self._batches.retrieve(self._resume_id)
        else:
            await self._submit()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        spool, self._spool = self._spool, None
        if spool is not None:
            with trio.CancelScope(shield=True):
                await spool.aclose()

    async def _submit(self) -> None:
        requests = self._requests
        assert requests is not None
        if not isinstance(requests, Iterator):
            # Something that can be read twice is checked whole first, so a
            # bad last line stops the job before its first byte is sent.  A
            # one-shot iterator is checked as it streams: a bad line stops the
            # upload before the file is complete, and no batch is created.
            for _ in encode_batch_input(requests, encoder=BatchInputEncoder(self._endpoint, strict=self._strict)):
                pass
        encoder = BatchInputEncoder(self._endpoint, strict=self._strict)
        source = _ChunkSource(encode_batch_input(requests, encoder=encoder))
        files = importlib.import_module("openai_trio._generated.files").Files(self._batches._transport, "parsed")
        uploaded = await files.create(file=("batch_input.jsonl", source, "application/jsonl"), purpose="batch")
        assert encoder.endpoint is not None
        self._endpoint = encoder.endpoint
        self.custom_ids = encoder.custom_ids
        metadata = NOT_GIVEN if self._metadata is None else self._metadata
        self.batch = await self._batches.create(
            input_file_id=uploaded.id,
            endpoint=encoder.endpoint,
            completion_window=self._completion_window,
            metadata=metadata,
        )

    def _check_entered(self) -> Batch:
        if self.batch is None:
            raise LocalProtocolError("use the job with `async with` first")
        return self.batch

    # -- waiting ----------------------------------------------------------------

    @property
    def done(self) -> bool:
        """Whether the batch has reached a status it never leaves."""
        return self.batch is not None and self.batch.status in ("completed", "failed", "expired", "cancelled")

    async def wait(self) -> Batch:
        """Poll until the batch is ``completed``, ``failed``, ``expired`` or
        ``cancelled``; return it (whatever the outcome)."""
        batch = self._check_entered()
        if self.done:
            return batch
        progress = _Progress(self._progress_arg)
        raw = self._batches.with_raw_response

        async def retrieve() -> Any:
            answer = await raw.retrieve(batch.id)
            self.batch = answer.parse()
            progress.update(self.batch)
            return answer

        try:
            self.batch = await poll_until_done(
                "batch",
                retrieve,
                poll_interval_ms=self._poll_interval_ms,
                max_wait_seconds=self._max_wait_seconds,
                what=f"batch {batch.id!r}",
            )
        finally:
            progress.close()
        return self.batch

    async def cancel(self) -> Batch:
        """Ask the server to cancel the batch; it goes through ``cancelling``
        to ``cancelled``, keeping the results of the requests already run."""
        batch = self._check_entered()
        self.batch = await self._batches.cancel(batch.id)
        return self.batch

    # -- results ----------------------------------------------------------------

    def results(self) -> BatchResults:
        """The results, one per request, in input order (waiting first if
        the batch is not finished).  ``BatchFailedError`` for a batch whose
        input was refused; for a cancelled or expired batch, the requests
        that did not run have a ``BatchRequestError`` (``batch_cancelled``,
        ``batch_expired``)."""
        self._check_entered()
        return BatchResults(self)

    async def _prepare(self) -> _Spool:
        if self._spool is not None:
            return self._spool
        batch = await self.wait()
        if batch.status == "failed":
            raise BatchFailedError(batch)
        files = importlib.import_module("openai_trio._generated.files").Files(self._batches._transport, "streaming")
        if self.custom_ids is None:
            self.custom_ids = await self._input_ids(files, batch.input_file_id)
        spool = _Spool()
        known = set(self.custom_ids)
        try:
            for kind, file_id in (("output", batch.output_file_id), ("error", batch.error_file_id)):
                if not file_id:
                    continue
                decoder = JsonLinesDecoder(max_line_bytes=self._max_line_bytes, file=kind)
                async with files.content(file_id) as response:
                    async for chunk in response.iter_bytes():
                        await spool.add(kind, decoder.feed(chunk), known)
                await spool.add(kind, decoder.close(), known)
        except BaseException:
            with trio.CancelScope(shield=True):
                await spool.aclose()
            raise
        self._spool = spool
        return spool

    async def _input_ids(self, files: Any, file_id: str) -> list[str]:
        """The custom_ids of a resumed batch, read from its input file."""
        ids: list[str] = []
        decoder = JsonLinesDecoder(max_line_bytes=self._max_line_bytes, file="input")

        def take(lines: list[JsonLine]) -> None:
            for line in lines:
                value = line.value
                custom_id = value.get("custom_id") if isinstance(value, dict) else None
                if not isinstance(custom_id, str):
                    raise BatchOutputError("no custom_id", line=line.number, file="input")
                ids.append(custom_id)

        async with files.content(file_id) as response:
            async for chunk in response.iter_bytes():
                take(decoder.feed(chunk))
        take(decoder.close())
        return ids


class BatchResults:
    """``async for`` over a job's results, in input order."""

    def __init__(self, job: BatchJob) -> None:
        self._job = job
        self._spool: _Spool | None = None
        self._next = 0
        self._ready: list[BatchResult] = []

    def __aiter__(self) -> BatchResults:
        return self

    async def __anext__(self) -> BatchResult:
        if self._ready:
            return self._ready.pop()
        job = self._job
        if self._spool is None:
            self._spool = await job._prepare()
        ids = job.custom_ids or []
        if self._next >= len(ids):
            raise StopAsyncIteration
        group = ids[self._next : self._next + _READ_GROUP]
        self._next += len(group)
        spool = self._spool
        found = [(cid, spool.index.get(cid)) for cid in group]
        raws = iter(await spool.read([(p[2], p[3]) for _, p in found if p is not None]))
        status = job.batch.status if job.batch is not None else None
        endpoint = job.batch.endpoint if job.batch is not None else None
        out: list[BatchResult] = []
        for custom_id, place in found:
            if place is None:
                out.append(missing_result(custom_id, status))
                continue
            kind, number, _, _ = place
            raw = next(raws)
            line = JsonLine(number, raw, json.loads(raw))
            out.append(parse_batch_result(line, endpoint=endpoint, file=kind))
        out.reverse()
        self._ready = out
        return self._ready.pop()


def _parsed(namespace: Any) -> Any:
    # The job calls the plain methods even when reached through a raw view.
    return namespace._view("parsed")


class BatchesJobMixin:
    """``client.batches.run`` and ``client.batches.resume``."""

    __slots__ = ()

    def run(
        self,
        requests: Iterable[RequestLike],
        *,
        endpoint: str | None = None,
        completion_window: str = "24h",
        metadata: dict[str, str] | None = None,
        strict: bool = True,
        progress: bool | Callable[[Batch], object] | None = False,
        poll_interval_ms: int | NotGiven | None = None,
        max_wait_seconds: float | None = None,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> BatchJob:
        """A job for ``requests`` (``BatchRequest`` s, line-shaped mappings or
        ``(custom_id, body)`` pairs): entering it uploads them and creates
        the batch.  ``endpoint`` defaults to the first request's ``url``;
        ``strict=False`` lets body parameters the operation does not know
        through; ``progress=True`` shows a progress bar on a terminal
        (needs tqdm), a function is called with every batch retrieved;
        ``max_wait_seconds`` bounds ``wait()`` (``PollTimeoutError``)."""
        return BatchJob(
            _parsed(self), requests=requests, endpoint=endpoint, completion_window=completion_window,
            metadata=metadata, strict=strict, progress=progress, poll_interval_ms=poll_interval_ms,
            max_wait_seconds=max_wait_seconds, max_line_bytes=max_line_bytes,
        )

    def resume(
        self,
        batch_id: str,
        *,
        progress: bool | Callable[[Batch], object] | None = False,
        poll_interval_ms: int | NotGiven | None = None,
        max_wait_seconds: float | None = None,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> BatchJob:
        """A job for a batch created earlier: entering it retrieves the
        batch; results come in the order of its input file (read back from
        the server)."""
        if not isinstance(batch_id, str) or not batch_id:
            raise LocalProtocolError(f"batch_id must be a non-empty string, not {batch_id!r}")
        return BatchJob(
            _parsed(self), batch_id=batch_id, progress=progress, poll_interval_ms=poll_interval_ms,
            max_wait_seconds=max_wait_seconds, max_line_bytes=max_line_bytes,
        )
