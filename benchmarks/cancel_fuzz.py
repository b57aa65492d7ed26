"""Cancellation fuzz over real loopback sockets and TLS.

``python -m benchmarks.cancel_fuzz [--requests 10000] [--max-connections 10]
[--seed N] [--plain]`` runs many calls of four shapes (a GET, a chat
completion, a streamed chat completion read to the end, a 64 KiB upload)
against the fake server over TLS, each under a random deadline, so that
the cancellations land while connecting, during the TLS handshake, while
writing, while waiting for the head, while reading a body and while
iterating a stream.  Afterwards the pool's accounting must be back to
zero, ten concurrent calls must succeed, the process's open descriptors
must be back to where they were and no ``ResourceWarning`` may have been
issued.  The test suite runs a smaller version of the same function
(``tests/test_campaign.py``); this command prints the figures for the
README.
"""

from __future__ import annotations

import argparse
import contextvars
import gc
import json
import os
import random
import ssl
import sys
import warnings
from collections import Counter
from typing import Any

import attrs
import trio

import openai_trio
from openai_sansio import Origin
from openai_sansio.types import ChatCompletionMessageParam
from openai_trio.testing import FakeResponse, FakeServer, ReceivedRequest

__all__ = ["FuzzReport", "PHASES", "open_fds", "run_fuzz", "main"]

# Where a cancellation can land, in the order a call meets them.
PHASES = ("connect", "tls", "send", "head", "body", "stream")

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hello"}]
_CHUNK = {
    "id": "chatcmpl-fuzz",
    "object": "chat.completion.chunk",
    "created": 0,
    "model": "m",
    "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}],
}
_MODEL = {"id": "m", "object": "model", "created": 0, "owned_by": "fuzz"}
_COMPLETION = {
    "id": "chatcmpl-fuzz",
    "object": "chat.completion",
    "created": 0,
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop", "logprobs": None}
    ],
}
_FILE = {
    "id": "file-fuzz",
    "object": "file",
    "bytes": 1,
    "created_at": 0,
    "filename": "up.bin",
    "purpose": "assistants",
    "status": "processed",
}
_UPLOAD = bytes(range(256)) * 256  # 64 KiB

# Whether the call reading in this task is a stream: reads are made in the
# caller's task, so the transport wrapper can tell a stream's reads apart.
_STREAMING: contextvars.ContextVar[bool] = contextvars.ContextVar("_STREAMING", default=False)


@attrs.frozen
class FuzzReport:
    requests: int
    completed: int
    cancelled: int
    # Cancellations caught in each phase by the transport wrapper.
    by_phase: dict[str, int]
    # Exceptions other than trio's own Cancelled that escaped a call.
    escaped: list[str]
    pool_after: openai_trio.PoolStats
    followups_ok: int
    connections_opened: int
    fds_before: int
    fds_after: int
    resource_warnings: int
    server_requests: int

    @property
    def clean(self) -> bool:
        stats = self.pool_after
        return (
            not self.escaped
            and stats.in_use == 0
            and stats.waiting == 0
            and stats.connecting == 0
            and self.followups_ok == 10
            and self.fds_after <= self.fds_before
            and self.resource_warnings == 0
        )


def open_fds() -> int:
    """Descriptors this process has open (Linux: /proc/self/fd)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:  # pragma: no cover - not Linux
        return 0


class _PhaseStream(trio.abc.Stream):
    """A transport that counts the cancellations landing in its writes and
    reads, with a random short pause before each so that they do land."""

    def __init__(self, inner: trio.abc.Stream, rng: random.Random, phases: Counter[str]) -> None:
        self._inner = inner
        self._rng = rng
        self._phases = phases
        self._answer_started = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self._answer_started = False
        try:
            await trio.sleep(self._rng.choice((0.0, 0.0, 0.0005, 0.002)))
            await self._inner.send_all(data)
        except trio.Cancelled:
            self._phases["send"] += 1
            raise

    async def wait_send_all_might_not_block(self) -> None:
        await self._inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        try:
            data = await self._inner.receive_some(max_bytes)
        except trio.Cancelled:
            phase = "head" if not self._answer_started else "stream" if _STREAMING.get() else "body"
            self._phases[phase] += 1
            raise
        if data:
            self._answer_started = True
        return data

    async def aclose(self) -> None:
        await self._inner.aclose()


def _answer(rng: random.Random) -> Any:
    def handler(request: ReceivedRequest) -> FakeResponse:
        # The delays are in milliseconds: long enough for a deadline to
        # land inside them, short enough for 10,000 calls to take seconds.
        headers_delay = rng.choice((0.0, 0.0, 0.001, 0.004))
        if request.path.endswith("/chat/completions"):
            if (request.json() or {}).get("stream"):
                return FakeResponse.sse(
                    [_CHUNK] * rng.randint(2, 6), headers_delay=headers_delay, delay=rng.choice((0.0, 0.001, 0.003))
                )
            return FakeResponse.json(_COMPLETION, headers_delay=headers_delay)
        if request.path.endswith("/files"):
            return FakeResponse.json(_FILE, headers_delay=headers_delay)
        return FakeResponse.json(_MODEL, headers_delay=headers_delay)

    return handler


def _contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    import trustme

    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    # HTTP/1.1: every call has a connection of its own while it runs, so a
    # cancellation lands in exactly one call's phase.
    client_context.set_alpn_protocols(["http/1.1"])
    return server_context, client_context


async def run_fuzz(
    requests: int = 10_000,
    *,
    max_connections: int = 10,
    seed: int = 8,
    tls: bool = True,
    concurrency: int = 20,
    max_deadline: float = 0.02,
) -> FuzzReport:
    """Run the fuzz and report; see the module docstring."""
    rng = random.Random(seed)
    phases: Counter[str] = Counter({phase: 0 for phase in PHASES})
    gc.collect()
    fds_before = open_fds()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        server_context, client_context = _contexts() if tls else (None, None)
        async with FakeServer(handler=_answer(rng)) as server:
            port = await server.serve_tcp("127.0.0.1", ssl_context=server_context)

            async def connect(origin: Origin) -> trio.abc.Stream:
                # One address, so no happy-eyeballs nursery: a cancellation
                # here is trio's plain Cancelled, as from the client's own
                # connector.
                sock = trio.socket.socket()
                try:
                    await trio.sleep(rng.choice((0.0, 0.0005, 0.002)))
                    await sock.connect(("127.0.0.1", port))
                except BaseException as exc:
                    sock.close()
                    if isinstance(exc, trio.Cancelled):
                        phases["connect"] += 1
                    raise
                tcp = trio.SocketStream(sock)
                if client_context is None:
                    return _PhaseStream(tcp, rng, phases)
                stream = trio.SSLStream(tcp, client_context, server_hostname="127.0.0.1", https_compatible=True)
                try:
                    await trio.sleep(rng.choice((0.0, 0.0005)))
                    await stream.do_handshake()
                except BaseException as exc:
                    if isinstance(exc, trio.Cancelled):
                        phases["tls"] += 1
                    await trio.aclose_forcefully(stream)
                    raise
                return _PhaseStream(stream, rng, phases)

            scheme = "https" if tls else "http"
            completed = cancelled = 0
            escaped: list[str] = []
            async with openai_trio.Client(
                api_key="sk-fuzz",
                base_url=f"{scheme}://127.0.0.1:{port}/v1",
                connector=connect,
                max_connections=max_connections,
                max_retries=0,
                timeout=30,
            ) as client:
                limiter = trio.CapacityLimiter(concurrency)

                async def one(kind: int, deadline: float) -> None:
                    nonlocal completed, cancelled
                    async with limiter:
                        with trio.move_on_after(deadline) as scope:
                            try:
                                if kind == 0:
                                    await client.models.retrieve("m")
                                elif kind == 1:
                                    await client.chat.completions.create(model="m", messages=MESSAGES)
                                elif kind == 2:
                                    _STREAMING.set(True)
                                    stream = await client.chat.completions.create(
                                        model="m", messages=MESSAGES, stream=True
                                    )
                                    async with stream:
                                        async for _chunk in stream:
                                            pass
                                else:
                                    await client.files.create(file=("up.bin", _UPLOAD), purpose="assistants")
                            except trio.Cancelled:
                                raise
                            except BaseException as exc:  # reported, never hidden
                                escaped.append(f"{type(exc).__name__}: {exc}")
                                return
                        if scope.cancelled_caught:
                            cancelled += 1
                        else:
                            completed += 1

                async with trio.open_nursery() as nursery:
                    for _ in range(requests):
                        # One call in eight has no deadline to speak of, so
                        # connections also get reused.
                        deadline = 30.0 if rng.random() < 0.125 else rng.uniform(0.0, max_deadline)
                        nursery.start_soon(one, rng.randrange(4), deadline)
                pool_after = client.pool_stats()
                followups = 0

                async def followup() -> None:
                    nonlocal followups
                    completion = await client.chat.completions.create(model="m", messages=MESSAGES)
                    if completion.choices[0].message.content == "hi":
                        followups += 1

                async with trio.open_nursery() as nursery:
                    for _ in range(10):
                        nursery.start_soon(followup)
                connections_opened = client.connections_opened
            server_requests = len(server.requests)
        del server
        gc.collect()
    fds_after = open_fds()
    resource_warnings = sum(1 for w in caught if issubclass(w.category, ResourceWarning))
    return FuzzReport(
        requests=requests,
        completed=completed,
        cancelled=cancelled,
        by_phase=dict(phases),
        escaped=escaped,
        pool_after=pool_after,
        followups_ok=followups,
        connections_opened=connections_opened,
        fds_before=fds_before,
        fds_after=fds_after,
        resource_warnings=resource_warnings,
        server_requests=server_requests,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cancel_fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--max-connections", type=int, default=10)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--plain", action="store_true", help="plain TCP instead of TLS")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    report = trio.run(
        lambda: run_fuzz(args.requests, max_connections=args.max_connections, seed=args.seed, tls=not args.plain)
    )
    if args.json:
        print(json.dumps(attrs.asdict(report), default=str, indent=2))
    else:
        print(f"cancellation fuzz: {report.requests:,} calls, max {args.max_connections} connections, "
              f"{'plain TCP' if args.plain else 'TLS'}, seed {args.seed}")
        print(f"  completed {report.completed:,}, cancelled {report.cancelled:,}, escaped {len(report.escaped)}")
        elsewhere = report.cancelled - sum(report.by_phase.values())
        print("  cancelled in: " + ", ".join(f"{phase} {report.by_phase.get(phase, 0):,}" for phase in PHASES)
              + f"; elsewhere (waiting for the pool, between reads) {elsewhere:,}")
        print(f"  pool afterwards: {report.pool_after}")
        print(f"  10 concurrent calls afterwards: {report.followups_ok} succeeded")
        print(f"  connections opened: {report.connections_opened:,}; requests the server saw: {report.server_requests:,}")
        print(f"  open descriptors: {report.fds_before} before, {report.fds_after} after; "
              f"ResourceWarnings: {report.resource_warnings}")
        for line in report.escaped[:10]:
            print(f"  escaped: {line}")
        print("  CLEAN" if report.clean else "  NOT CLEAN")
    return 0 if report.clean else 1


if __name__ == "__main__":
    sys.exit(main())
