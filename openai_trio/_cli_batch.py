"""``python -m openai_trio batch run requests.jsonl``: a Batch API job from
the command line, through ``client.batches.run`` / ``resume``.

The input file is in the Batch API's own format (one ``{"custom_id",
"method", "url", "body"}`` object a line) and is read twice, in bounded
pieces: once to check every line, once to upload.  The results go out as
JSON lines in input order (``--output``, else stdout); what happens goes to
stderr, the batch id first, so that an interrupted job can be picked up with
``--resume``.  The exit status is 0 when every request succeeded, 1 when some
did not (or the batch failed), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pathlib
from collections.abc import Iterator
from typing import IO, Any, TextIO

from openai_sansio import BatchResult, ClientConfig, JsonLinesDecoder

__all__ = ["add_batch_parser", "run_batch"]

_READ_SIZE = 64 * 1024


def add_batch_parser(commands: Any) -> None:
    batch = commands.add_parser(
        "batch",
        help="run requests through the Batch API",
        description="Run requests through the Batch API: upload, wait, download the results.",
    )
    actions = batch.add_subparsers(dest="batch_command", metavar="ACTION", required=True)
    run = actions.add_parser(
        "run",
        help="upload a JSONL file of requests, wait for the batch and write its results",
        description=(
            "Check and upload a JSONL file of batch requests (custom_id, method, url, body "
            "on each line), create the batch, wait for it and write one result line per "
            "request in input order.  With --resume, pick up a batch created earlier instead."
        ),
    )
    run.add_argument("requests", nargs="?", type=pathlib.Path, help="the input JSONL file")
    run.add_argument("--endpoint", help="e.g. /v1/chat/completions (default: the first line's url)")
    run.add_argument("--output", type=pathlib.Path, metavar="FILE", help="write the results here, not to stdout")
    run.add_argument("--resume", metavar="BATCH_ID", help="wait for and read a batch created earlier")
    run.add_argument("--completion-window", default="24h")
    run.add_argument("--poll-interval", type=float, metavar="SECONDS",
                     help="between retrievals (default: the server's hint, else 1 s)")
    run.add_argument("--max-wait", type=float, metavar="SECONDS", help="give up waiting after this long")
    run.add_argument("--no-progress", action="store_true", help="no progress bar, even on a terminal")
    run.add_argument("--no-strict", action="store_true",
                     help="let body parameters the endpoint does not know through (compatible servers)")
    run.add_argument("--base-url", help="e.g. http://127.0.0.1:8000/v1")
    run.add_argument("--api-key", help="prefer $OPENAI_API_KEY: arguments show up in ps")
    run.add_argument("--timeout", type=float, metavar="SECONDS", default=600.0, help="per request")
    run.add_argument("--max-retries", type=int, metavar="N", default=2)


class _InputFile:
    """The lines of an input file, read afresh on each iteration (so the
    job can check them all before uploading them)."""

    def __init__(self, path: pathlib.Path) -> None:
        self._path = path

    def __iter__(self) -> Iterator[Any]:
        decoder = JsonLinesDecoder(file="input")
        with self._path.open("rb") as file:
            while chunk := file.read(_READ_SIZE):
                for line in decoder.feed(chunk):
                    yield line.value
        for line in decoder.close():
            yield line.value


def _record(result: BatchResult) -> dict[str, Any]:
    response = result.response
    if response is not None and hasattr(response, "to_dict"):
        response = response.to_dict()
    error = result.error
    return {
        "custom_id": result.custom_id,
        "status_code": result.status_code,
        "request_id": result.request_id,
        "response": response,
        "error": None if error is None else {
            "type": type(error).__name__,
            "code": getattr(error, "code", None),
            "message": str(error),
        },
    }


def _progress_wanted(args: argparse.Namespace, err: TextIO) -> bool:
    if args.no_progress or not err.isatty():
        return False
    return importlib.util.find_spec("tqdm") is not None


async def run_batch(args: argparse.Namespace, config: ClientConfig, out: TextIO, err: TextIO) -> int:
    from . import Client

    if args.resume is None and args.requests is None:
        raise _usage("give a requests file, or --resume BATCH_ID")
    if args.resume is not None and args.requests is not None:
        raise _usage("give a requests file or --resume BATCH_ID, not both")
    if args.requests is not None and not args.requests.is_file():
        raise _usage(f"no such file: {args.requests}")
    interval = None if args.poll_interval is None else int(args.poll_interval * 1000)
    progress = _progress_wanted(args, err)
    async with Client(config=config) as client:
        if args.resume is not None:
            job = client.batches.resume(
                args.resume, progress=progress, poll_interval_ms=interval, max_wait_seconds=args.max_wait
            )
        else:
            job = client.batches.run(
                _InputFile(args.requests), endpoint=args.endpoint, completion_window=args.completion_window,
                strict=not args.no_strict, progress=progress, poll_interval_ms=interval,
                max_wait_seconds=args.max_wait,
            )
        async with job:
            what = "resumed" if args.resume is not None else "created"
            err.write(f"batch {job.id} {what}; pick it up again with --resume {job.id}\n")
            err.flush()
            sink: IO[str] = out if args.output is None else args.output.open("w", encoding="utf-8")
            ok = failed = 0
            try:
                async for result in job.results():
                    sink.write(json.dumps(_record(result), ensure_ascii=False) + "\n")
                    if result.ok:
                        ok += 1
                    else:
                        failed += 1
            finally:
                if sink is not out:
                    sink.close()
            status = job.batch.status if job.batch is not None else "unknown"
    err.write(f"batch {job.id} {status}: {ok} succeeded, {failed} failed\n")
    return 0 if failed == 0 and status == "completed" else 1


def _usage(message: str) -> Exception:
    # The command line's own usage error (exit status 2); imported here, as
    # _cli imports this module.
    from ._cli import _UsageError

    return _UsageError(message)
