"""The client side of one measurement, run in a fresh process.

``python -m benchmarks._worker '<json spec>'`` imports only what the client
under test needs, warms it up, measures, and prints one line
``RESULT <json>``.  A client that cannot be imported yields
``{"unavailable": "<reason>"}`` instead of an error, so the runner can show
"not available" and carry on.

Clients:

* ``ours``: ``openai_trio.Client``
* ``sdk_async``: the official ``openai.AsyncOpenAI`` on asyncio
* ``sdk_trio``: ``openai.AsyncOpenAI`` under ``trio.run`` (through anyio)
* ``sdk_sync``: the official ``openai.OpenAI``
* ``sansio``: ``openai_sansio`` alone over the server's bytes, no sockets
* ``floor``: a bare trio + h11 + SSE split + ``json.loads`` loop
* ``ours_h2``, ``ours_h1``, ``sdk_h2`` (scenario 5): ``openai_trio.Client``
  over one h2c connection and over HTTP/1.1 with 100 connections;
  ``AsyncOpenAI`` on httpx with HTTP/2 only (h2c with prior knowledge)
* scenario 6 (realtime): ``ours`` is ``client.realtime.connect`` of the trio
  adapter, ``core`` is ``openai_sansio.WebSocketConnection`` over a bare
  trio TCP stream, ``sdk_async`` the official ``AsyncOpenAI().realtime``
  (websockets on asyncio), ``floor`` trio + wsproto + ``json.loads``

The consumer work is the same everywhere: read ``choices[0].delta.content``
(streams) or ``choices[0].message.content`` and join or count it.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from . import _payloads
from ._proc import proc_status, raise_fd_limit, reset_peak_rss

__all__ = ["main", "run_spec"]

API_KEY = "sk-bench"
MESSAGES = [{"role": "user", "content": "Say hello."}]
SMALL_MODEL = "bench-small"


class Unavailable(Exception):
    """The client under test cannot be imported or lacks the needed API."""


def _base_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/v1"


def _import_ours() -> Any:
    try:
        import openai_trio
    except Exception as exc:
        raise Unavailable(f"import openai_trio failed: {type(exc).__name__}: {exc}") from exc
    if not hasattr(openai_trio, "Client"):
        raise Unavailable("openai_trio has no Client yet")
    return openai_trio


def _import_sdk() -> Any:
    try:
        import openai
    except Exception as exc:
        raise Unavailable(f"the official SDK is not installed ({exc})") from exc
    return openai


def _ours_client(openai_trio: Any, port: int, **extra: Any) -> Any:
    return openai_trio.Client(
        api_key=API_KEY, base_url=_base_url(port), max_retries=0, **extra
    )


# Set by main() for a profiled run: on only while a Timer is open, so the
# profile shows the measured work and not imports or warm-up.
PROFILER: Any = None


class Timer:
    """Client CPU and wall time of the block, after a collection."""

    cpu = wall = 0.0

    def __enter__(self) -> Timer:
        gc.collect()
        if PROFILER is not None:
            PROFILER.enable()
        self._c0 = time.process_time()
        self._w0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._w0
        self.cpu = time.process_time() - self._c0
        if PROFILER is not None:
            PROFILER.disable()


def _measure(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    with Timer() as timer:
        out = fn()
    return out, timer.cpu, timer.wall


# -- scenario 1: one long stream -------------------------------------------


def stream_scenario(client: str, port: int, n_chunks: int, warmup: int) -> dict[str, Any]:
    expected = _payloads.expected_text(n_chunks)
    runner = _STREAM_RUNNERS[client]
    text, cpu, wall = runner(port, n_chunks, warmup)
    return {
        "chunks": n_chunks,
        "cpu_s": cpu,
        "wall_s": wall,
        "ok": text == expected,
        "received_chars": len(text),
    }


def _stream_ours(port: int, n: int, warmup: int) -> tuple[str, float, float]:
    openai_trio = _import_ours()
    import trio

    async def one(client: Any, count: int) -> str:
        parts: list[str] = []
        append = parts.append
        async with await client.chat.completions.create(
            model=f"bench-stream-{count}", messages=MESSAGES, stream=True
        ) as stream:
            async for chunk in stream:
                choices = chunk.choices
                if choices:
                    content = choices[0].delta.content
                    if content:
                        append(content)
        return "".join(parts)

    async def main() -> tuple[str, float, float]:
        async with _ours_client(openai_trio, port) as client:
            await one(client, warmup)
            with Timer() as timer:
                text = await one(client, n)
            return text, timer.cpu, timer.wall

    result: tuple[str, float, float] = trio.run(main)
    return result


def _sdk_async_stream(openai: Any, port: int, n: int, warmup: int) -> Any:
    async def one(client: Any, count: int) -> str:
        parts: list[str] = []
        append = parts.append
        stream = await client.chat.completions.create(
            model=f"bench-stream-{count}", messages=MESSAGES, stream=True
        )
        async with stream:
            async for chunk in stream:
                choices = chunk.choices
                if choices:
                    content = choices[0].delta.content
                    if content:
                        append(content)
        return "".join(parts)

    async def main() -> tuple[str, float, float]:
        async with openai.AsyncOpenAI(
            api_key=API_KEY, base_url=_base_url(port), max_retries=0
        ) as client:
            await one(client, warmup)
            with Timer() as timer:
                text = await one(client, n)
            return text, timer.cpu, timer.wall

    return main


def _stream_sdk_async(port: int, n: int, warmup: int) -> tuple[str, float, float]:
    openai = _import_sdk()
    import asyncio

    result: tuple[str, float, float] = asyncio.run(_sdk_async_stream(openai, port, n, warmup)())
    return result


def _stream_sdk_trio(port: int, n: int, warmup: int) -> tuple[str, float, float]:
    openai = _import_sdk()
    import trio

    result: tuple[str, float, float] = trio.run(_sdk_async_stream(openai, port, n, warmup))
    return result


def _stream_sdk_sync(port: int, n: int, warmup: int) -> tuple[str, float, float]:
    openai = _import_sdk()

    def one(client: Any, count: int) -> str:
        parts: list[str] = []
        append = parts.append
        with client.chat.completions.create(
            model=f"bench-stream-{count}", messages=MESSAGES, stream=True
        ) as stream:
            for chunk in stream:
                choices = chunk.choices
                if choices:
                    content = choices[0].delta.content
                    if content:
                        append(content)
        return "".join(parts)

    with openai.OpenAI(api_key=API_KEY, base_url=_base_url(port), max_retries=0) as client:
        one(client, warmup)
        text, cpu, wall = _measure(lambda: one(client, n))
    return text, cpu, wall


def _sansio_names() -> Any:
    try:
        import openai_sansio as s
    except Exception as exc:
        raise Unavailable(f"import openai_sansio failed: {type(exc).__name__}: {exc}") from exc
    missing = [
        name
        for name in ("HTTP11Connection", "ChatCompletionStreamDecoder", "Request", "Origin")
        if not hasattr(s, name)
    ]
    if missing:
        raise Unavailable(f"openai_sansio does not export {', '.join(missing)} yet")
    return s


def sansio_stream_once(s: Any, data: bytes, read_size: int = 16384) -> str:
    """Drive ``HTTP11Connection`` + ``ChatCompletionStreamDecoder`` over ``data``."""
    body = json.dumps(
        {"model": "bench-stream", "messages": MESSAGES, "stream": True},
        separators=(",", ":"),
    ).encode()
    request = s.Request(
        "POST",
        s.Origin("http", "127.0.0.1", 8000),
        "/v1/chat/completions",
        (
            ("content-type", "application/json"),
            ("accept", "text/event-stream"),
            ("authorization", f"Bearer {API_KEY}"),
            ("content-length", str(len(body))),
        ),
        body,
    )
    conn = s.HTTP11Connection()
    decoder = s.ChatCompletionStreamDecoder()
    conn.send(request)
    conn.data_to_send()
    need_data = s.NEED_DATA
    data_received = s.DataReceived
    response_complete = s.ResponseComplete
    parts: list[str] = []
    append = parts.append
    complete = False
    for offset in range(0, len(data), read_size):
        conn.receive_data(data[offset : offset + read_size])
        while True:
            event = conn.next_event()
            if event is need_data:
                break
            if type(event) is data_received:
                for chunk in decoder.feed(event.data):
                    choices = chunk.choices
                    if choices:
                        content = choices[0].delta.content
                        if content:
                            append(content)
            elif type(event) is response_complete:
                complete = True
    for chunk in decoder.close():
        choices = chunk.choices
        if choices and choices[0].delta.content:
            append(choices[0].delta.content)
    if not complete:
        raise RuntimeError("the recorded response did not complete")
    return "".join(parts)


def _stream_sansio(port: int, n: int, warmup: int) -> tuple[str, float, float]:
    s = _sansio_names()
    # The server writes exactly these bytes (same precomputed buffer).
    warm = _payloads.stream_response(warmup)
    data = _payloads.stream_response(n)
    sansio_stream_once(s, warm)
    text, cpu, wall = _measure(lambda: sansio_stream_once(s, data))
    return text, cpu, wall


class _FloorConnection:
    """trio + h11 with nothing else: the least any client must do."""

    def __init__(self, stream: Any, port: int) -> None:
        import h11

        self.h11 = h11
        self.stream = stream
        self.conn = h11.Connection(h11.CLIENT)
        self.host = f"127.0.0.1:{port}"

    async def send(self, payload: dict[str, Any], accept: str) -> None:
        h11 = self.h11
        body = json.dumps(payload, separators=(",", ":")).encode()
        conn = self.conn
        head = h11.Request(
            method="POST",
            target="/v1/chat/completions",
            headers=[
                ("host", self.host),
                ("authorization", f"Bearer {API_KEY}"),
                ("content-type", "application/json"),
                ("accept", accept),
                ("content-length", str(len(body))),
            ],
        )
        data = conn.send(head) + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage())
        await self.stream.send_all(data)

    async def next_event(self) -> Any:
        conn = self.conn
        while True:
            event = conn.next_event()
            if event is self.h11.NEED_DATA:
                conn.receive_data(await self.stream.receive_some(65536))
                continue
            return event

    async def stream_chat(self, count: int) -> str:
        h11 = self.h11
        await self.send(
            {"model": f"bench-stream-{count}", "messages": MESSAGES, "stream": True},
            "text/event-stream",
        )
        loads = json.loads
        parts: list[str] = []
        append = parts.append
        buf = b""
        data_type = h11.Data
        while True:
            event = await self.next_event()
            if type(event) is data_type:
                buf += event.data
                events = buf.split(b"\n\n")
                buf = events.pop()
                for raw in events:
                    for line in raw.split(b"\n"):
                        if line.startswith(b"data: "):
                            payload = line[6:]
                            if payload == b"[DONE]":
                                continue
                            choices = loads(payload)["choices"]
                            if choices:
                                content = choices[0]["delta"].get("content")
                                if content:
                                    append(content)
            elif type(event) is h11.Response:
                if event.status_code != 200:
                    raise RuntimeError(f"status {event.status_code}")
            elif type(event) is h11.EndOfMessage:
                break
            else:
                raise RuntimeError(f"unexpected {event!r}")
        self.conn.start_next_cycle()
        return "".join(parts)

    async def complete(self) -> str:
        h11 = self.h11
        await self.send({"model": SMALL_MODEL, "messages": MESSAGES}, "application/json")
        body = b""
        while True:
            event = await self.next_event()
            if type(event) is h11.Data:
                body += event.data
            elif type(event) is h11.Response:
                if event.status_code != 200:
                    raise RuntimeError(f"status {event.status_code}")
            elif type(event) is h11.EndOfMessage:
                break
        self.conn.start_next_cycle()
        content: str = json.loads(body)["choices"][0]["message"]["content"]
        return content


def _stream_floor(port: int, n: int, warmup: int) -> tuple[str, float, float]:
    import trio

    async def main() -> tuple[str, float, float]:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            conn = _FloorConnection(stream, port)
            await conn.stream_chat(warmup)
            with Timer() as timer:
                text = await conn.stream_chat(n)
            return text, timer.cpu, timer.wall

    result: tuple[str, float, float] = trio.run(main)
    return result


_STREAM_RUNNERS: dict[str, Callable[[int, int, int], tuple[str, float, float]]] = {
    "ours": _stream_ours,
    "sdk_async": _stream_sdk_async,
    "sdk_trio": _stream_sdk_trio,
    "sdk_sync": _stream_sdk_sync,
    "sansio": _stream_sansio,
    "floor": _stream_floor,
}


# -- scenario 2: many small requests ---------------------------------------


def _split(total: int, workers: int) -> list[int]:
    base, extra = divmod(total, workers)
    return [base + (1 if i < extra else 0) for i in range(workers)]


def nonstream_scenario(
    client: str, port: int, n_requests: int, concurrencies: list[int]
) -> dict[str, Any]:
    runner = _NONSTREAM_RUNNERS[client]
    out: dict[str, Any] = {}
    for c in concurrencies:
        done, cpu, wall = runner(port, n_requests, c)
        out[str(c)] = {
            "requests": done,
            "ok": done == n_requests,
            "cpu_s": cpu,
            "wall_s": wall,
        }
    return {"by_concurrency": out}


def _nonstream_ours(port: int, total: int, conc: int) -> tuple[int, float, float]:
    openai_trio = _import_ours()
    import trio

    expected = json.loads(_payloads.completion_body())["choices"][0]["message"]["content"]

    async def worker(client: Any, count: int, done: list[int]) -> None:
        for _ in range(count):
            resp = await client.chat.completions.create(model=SMALL_MODEL, messages=MESSAGES)
            if resp.choices[0].message.content == expected:
                done[0] += 1

    async def batch(client: Any, count: int) -> int:
        done = [0]
        async with trio.open_nursery() as nursery:
            for share in _split(count, conc):
                nursery.start_soon(worker, client, share, done)
        return done[0]

    async def main() -> tuple[int, float, float]:
        async with _ours_client(openai_trio, port) as client:
            await batch(client, conc * 2)  # opens the pool's connections
            with Timer() as timer:
                done = await batch(client, total)
            return done, timer.cpu, timer.wall

    result: tuple[int, float, float] = trio.run(main)
    return result


def _nonstream_sdk_async(port: int, total: int, conc: int) -> tuple[int, float, float]:
    openai = _import_sdk()
    import asyncio

    expected = json.loads(_payloads.completion_body())["choices"][0]["message"]["content"]

    async def worker(client: Any, count: int) -> int:
        done = 0
        for _ in range(count):
            resp = await client.chat.completions.create(model=SMALL_MODEL, messages=MESSAGES)
            if resp.choices[0].message.content == expected:
                done += 1
        return done

    async def batch(client: Any, count: int) -> int:
        results = await asyncio.gather(*(worker(client, k) for k in _split(count, conc)))
        return sum(results)

    async def main() -> tuple[int, float, float]:
        async with openai.AsyncOpenAI(
            api_key=API_KEY, base_url=_base_url(port), max_retries=0
        ) as client:
            await batch(client, conc * 2)
            with Timer() as timer:
                done = await batch(client, total)
            return done, timer.cpu, timer.wall

    result: tuple[int, float, float] = asyncio.run(main())
    return result


def _nonstream_floor(port: int, total: int, conc: int) -> tuple[int, float, float]:
    import trio

    expected = json.loads(_payloads.completion_body())["choices"][0]["message"]["content"]

    async def worker(conn: _FloorConnection, count: int, done: list[int]) -> None:
        for _ in range(count):
            if await conn.complete() == expected:
                done[0] += 1

    async def batch(conns: list[_FloorConnection], count: int) -> int:
        done = [0]
        async with trio.open_nursery() as nursery:
            for conn, share in zip(conns, _split(count, conc), strict=True):
                nursery.start_soon(worker, conn, share, done)
        return done[0]

    async def main() -> tuple[int, float, float]:
        streams = [await trio.open_tcp_stream("127.0.0.1", port) for _ in range(conc)]
        try:
            conns = [_FloorConnection(s, port) for s in streams]
            await batch(conns, conc * 2)
            with Timer() as timer:
                done = await batch(conns, total)
            return done, timer.cpu, timer.wall
        finally:
            for s in streams:
                await s.aclose()

    result: tuple[int, float, float] = trio.run(main)
    return result


_NONSTREAM_RUNNERS: dict[str, Callable[[int, int, int], tuple[int, float, float]]] = {
    "ours": _nonstream_ours,
    "sdk_async": _nonstream_sdk_async,
    "floor": _nonstream_floor,
}


# -- scenario 4: many slow streams -----------------------------------------


def slow_plan(n_streams: int, seconds: float) -> list[tuple[int, int]]:
    """(chunks, interval ms) for each stream: 50-100 ms apart, ~``seconds`` long."""
    plan = []
    for i in range(n_streams):
        interval = 50 + (i * 37) % 51
        plan.append((max(2, int(seconds * 1000 / interval) + 1), interval))
    return plan


class _SlowStats:
    def __init__(self) -> None:
        self.received = 0
        self.sent = 0
        self.lags: list[float] = []  # worst lag per stream, seconds
        self.first: list[float] = []  # request start to first chunk, seconds
        self.incomplete = 0
        self.errors: list[str] = []
        self.peak_rss = 0

    def record(self, n: int, interval_ms: int, start: float, times: list[float]) -> None:
        self.sent += n
        self.received += len(times)
        if len(times) != n:
            self.incomplete += 1
        if times:
            t0 = times[0]
            self.first.append(t0 - start)
            step = interval_ms / 1000.0
            self.lags.append(max(t - t0 - k * step for k, t in enumerate(times)))

    def sample_rss(self) -> None:
        rss = proc_status().get("VmRSS", 0)
        if rss > self.peak_rss:
            self.peak_rss = rss


def slow_scenario(client: str, port: int, n_streams: int, seconds: float) -> dict[str, Any]:
    plan = slow_plan(n_streams, seconds)
    stats = _SlowStats()
    baseline, hwm_reset, wall = _SLOW_RUNNERS[client](port, plan, stats)
    end = proc_status()
    peak = max(stats.peak_rss, end.get("VmHWM", 0) if hwm_reset else 0)
    lags = sorted(stats.lags)
    first = sorted(stats.first)
    return {
        "streams": n_streams,
        "baseline_kib": baseline,
        "peak_kib": peak,
        "peak_from_hwm": hwm_reset,
        "per_stream_kib": (peak - baseline) / n_streams,
        "sent": stats.sent,
        "received": stats.received,
        "incomplete_streams": stats.incomplete,
        "errors": stats.errors[:5],
        "error_count": len(stats.errors),
        "lag_median_ms": 1000 * lags[len(lags) // 2] if lags else None,
        "lag_max_ms": 1000 * lags[-1] if lags else None,
        "lag_p95_ms": _p95_ms(lags),
        "first_chunk_p95_ms": _p95_ms(first),
        "first_chunk_max_ms": 1000 * first[-1] if first else None,
        "wall_s": wall,
    }


def _p95_ms(values: list[float]) -> float | None:
    if not values:
        return None
    return 1000 * values[min(len(values) - 1, int(len(values) * 0.95))]


def _settle() -> tuple[int, bool]:
    gc.collect()
    baseline = proc_status().get("VmRSS", 0)
    return baseline, reset_peak_rss()


def _slow_ours(port: int, plan: list[tuple[int, int]], stats: _SlowStats) -> tuple[int, bool, float]:
    openai_trio = _import_ours()
    import trio

    async def one(client: Any, n: int, interval: int) -> None:
        times: list[float] = []
        now = time.perf_counter
        start = now()
        try:
            async with await client.chat.completions.create(
                model=f"bench-slow-{n}-{interval}", messages=MESSAGES, stream=True
            ) as stream:
                async for chunk in stream:
                    choices = chunk.choices
                    if choices and choices[0].delta.content:
                        times.append(now())
        except Exception as exc:
            stats.errors.append(f"{type(exc).__name__}: {exc}")
        stats.record(n, interval, start, times)

    async def sampler(cancel: trio.CancelScope) -> None:
        with cancel:
            while True:
                stats.sample_rss()
                await trio.sleep(0.05)

    async def main() -> tuple[int, bool, float]:
        async with _ours_client(openai_trio, port, **_ours_pool(openai_trio, len(plan))) as client:
            # Warm: every lazy import and first-use cost paid before the baseline.
            async with await client.chat.completions.create(
                model="bench-slow-3-10", messages=MESSAGES, stream=True
            ) as stream:
                async for _ in stream:
                    pass
            baseline, reset = _settle()
            w0 = time.perf_counter()
            cancel = trio.CancelScope()
            async with trio.open_nursery() as outer:
                outer.start_soon(sampler, cancel)
                async with trio.open_nursery() as nursery:
                    for n, interval in plan:
                        nursery.start_soon(one, client, n, interval)
                cancel.cancel()
            return baseline, reset, time.perf_counter() - w0

    result: tuple[int, bool, float] = trio.run(main)
    return result


def _ours_pool(openai_trio: Any, n_streams: int) -> dict[str, Any]:
    """Room for every stream at once, as the official SDK's default (1000) gives."""
    import inspect

    params = inspect.signature(openai_trio.Client).parameters
    if "max_connections" in params:
        return {"max_connections": max(1000, n_streams)}
    return {}


def _slow_sdk_async(
    port: int, plan: list[tuple[int, int]], stats: _SlowStats
) -> tuple[int, bool, float]:
    openai = _import_sdk()
    import asyncio

    async def one(client: Any, n: int, interval: int) -> None:
        times: list[float] = []
        now = time.perf_counter
        start = now()
        try:
            stream = await client.chat.completions.create(
                model=f"bench-slow-{n}-{interval}", messages=MESSAGES, stream=True
            )
            async with stream:
                async for chunk in stream:
                    choices = chunk.choices
                    if choices and choices[0].delta.content:
                        times.append(now())
        except Exception as exc:
            stats.errors.append(f"{type(exc).__name__}: {exc}")
        stats.record(n, interval, start, times)

    async def sampler() -> None:
        while True:
            stats.sample_rss()
            await asyncio.sleep(0.05)

    async def main() -> tuple[int, bool, float]:
        async with openai.AsyncOpenAI(
            api_key=API_KEY, base_url=_base_url(port), max_retries=0
        ) as client:
            stream = await client.chat.completions.create(
                model="bench-slow-3-10", messages=MESSAGES, stream=True
            )
            async with stream:
                async for _ in stream:
                    pass
            baseline, reset = _settle()
            w0 = time.perf_counter()
            sampling = asyncio.ensure_future(sampler())
            await asyncio.gather(*(one(client, n, interval) for n, interval in plan))
            sampling.cancel()
            try:
                await sampling
            except asyncio.CancelledError:
                pass
            return baseline, reset, time.perf_counter() - w0

    result: tuple[int, bool, float] = asyncio.run(main())
    return result


def _slow_floor(
    port: int, plan: list[tuple[int, int]], stats: _SlowStats
) -> tuple[int, bool, float]:
    import h11
    import trio

    async def one(n: int, interval: int) -> None:
        times: list[float] = []
        now = time.perf_counter
        start = now()
        loads = json.loads
        try:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            async with stream:
                conn = _FloorConnection(stream, port)
                await conn.send(
                    {"model": f"bench-slow-{n}-{interval}", "messages": MESSAGES, "stream": True},
                    "text/event-stream",
                )
                buf = b""
                while True:
                    event = await conn.next_event()
                    if type(event) is h11.Data:
                        buf += event.data
                        events = buf.split(b"\n\n")
                        buf = events.pop()
                        for raw in events:
                            if raw.startswith(b"data: {"):
                                choices = loads(raw[6:])["choices"]
                                if choices and choices[0]["delta"].get("content"):
                                    times.append(now())
                    elif type(event) is h11.EndOfMessage:
                        break
        except Exception as exc:
            stats.errors.append(f"{type(exc).__name__}: {exc}")
        stats.record(n, interval, start, times)

    async def sampler(cancel: trio.CancelScope) -> None:
        with cancel:
            while True:
                stats.sample_rss()
                await trio.sleep(0.05)

    async def main() -> tuple[int, bool, float]:
        # Warm, like the clients: first-use costs paid before the baseline.
        await one(3, 10)
        stats.__init__()  # type: ignore[misc]
        baseline, reset = _settle()
        w0 = time.perf_counter()
        cancel = trio.CancelScope()
        async with trio.open_nursery() as outer:
            outer.start_soon(sampler, cancel)
            async with trio.open_nursery() as nursery:
                for n, interval in plan:
                    nursery.start_soon(one, n, interval)
            cancel.cancel()
        return baseline, reset, time.perf_counter() - w0

    result: tuple[int, bool, float] = trio.run(main)
    return result


_SLOW_RUNNERS: dict[
    str, Callable[[int, list[tuple[int, int]], _SlowStats], tuple[int, bool, float]]
] = {
    "ours": _slow_ours,
    "sdk_async": _slow_sdk_async,
    "floor": _slow_floor,
}


# -- scenario 5: many concurrent requests over HTTP/2 --------------------------


def http2_scenario(client: str, port: int, concurrency: int, batches: int) -> dict[str, Any]:
    """``batches`` rounds of ``concurrency`` requests all in flight at once."""
    done, cpu, wall = _HTTP2_RUNNERS[client](port, concurrency, batches)
    total = concurrency * batches
    return {
        "requests": total,
        "completed": done,
        "ok": done == total,
        "concurrency": concurrency,
        "batches": batches,
        "cpu_s": cpu,
        "wall_s": wall,
    }


def _http2_ours(extra: dict[str, Any]) -> Callable[[int, int, int], tuple[int, float, float]]:
    def run(port: int, conc: int, batches: int) -> tuple[int, float, float]:
        openai_trio = _import_ours()
        import inspect

        import trio

        missing = sorted(set(extra) - set(inspect.signature(openai_trio.Client).parameters))
        if missing:
            raise Unavailable(f"openai_trio.Client takes no {', '.join(missing)} yet")
        expected = json.loads(_payloads.completion_body())["choices"][0]["message"]["content"]

        async def one(client: Any, done: list[int]) -> None:
            resp = await client.chat.completions.create(model=SMALL_MODEL, messages=MESSAGES)
            if resp.choices[0].message.content == expected:
                done[0] += 1

        async def batch(client: Any, done: list[int]) -> None:
            async with trio.open_nursery() as nursery:
                for _ in range(conc):
                    nursery.start_soon(one, client, done)

        async def main() -> tuple[int, float, float]:
            async with _ours_client(openai_trio, port, **extra) as client:
                await batch(client, [0])  # connections open, every stream structure grown
                done = [0]
                with Timer() as timer:
                    for _ in range(batches):
                        await batch(client, done)
                return done[0], timer.cpu, timer.wall

        result: tuple[int, float, float] = trio.run(main)
        return result

    return run


def _http2_sdk(port: int, conc: int, batches: int) -> tuple[int, float, float]:
    openai = _import_sdk()
    import asyncio

    try:
        import h2  # noqa: F401  (httpx's HTTP/2 needs it)
    except ImportError as exc:
        raise Unavailable(f"httpx's HTTP/2 needs h2 ({exc})") from exc
    expected = json.loads(_payloads.completion_body())["choices"][0]["message"]["content"]

    async def one(client: Any) -> int:
        resp = await client.chat.completions.create(model=SMALL_MODEL, messages=MESSAGES)
        return 1 if resp.choices[0].message.content == expected else 0

    async def batch(client: Any) -> int:
        return sum(await asyncio.gather(*(one(client) for _ in range(conc))))

    async def main() -> tuple[int, float, float]:
        # Over http:// httpx speaks HTTP/2 only when HTTP/1.1 is off (prior knowledge).
        http_client = openai.DefaultAsyncHttpxClient(http1=False, http2=True)
        async with openai.AsyncOpenAI(
            api_key=API_KEY, base_url=_base_url(port), max_retries=0, http_client=http_client
        ) as client:
            await batch(client)
            done = 0
            with Timer() as timer:
                for _ in range(batches):
                    done += await batch(client)
            return done, timer.cpu, timer.wall

    result: tuple[int, float, float] = asyncio.run(main())
    return result


_HTTP2_RUNNERS: dict[str, Callable[[int, int, int], tuple[int, float, float]]] = {
    "ours_h2": _http2_ours({"h2c": True, "max_connections": 1}),
    "ours_h1": _http2_ours({"max_connections": 100}),
    "sdk_h2": _http2_sdk,
}


# -- entry point -------------------------------------------------------------


# -- scenario 6: a long Realtime session of small deltas -------------------


def realtime_scenario(client: str, port: int, n_deltas: int, warmup: int) -> dict[str, Any]:
    """One ``response.create`` answered by ``n_deltas`` text deltas, timed
    from the send to ``response.done`` on a connection already open (its
    ``session.created`` read), after a warm-up session of ``warmup``."""
    expected = _payloads.expected_text(n_deltas)
    text, events, cpu, wall = _REALTIME_RUNNERS[client](port, n_deltas, warmup)
    return {
        "deltas": n_deltas,
        "events": events,
        "cpu_s": cpu,
        "wall_s": wall,
        "ok": text == expected,
        "received_chars": len(text),
    }


def _realtime_model(n: int) -> str:
    return f"bench-realtime-{n}"


async def _typed_response(recv_events: Any, send: Any) -> tuple[str, int, float, float]:
    """Send response.create, join the deltas until response.done; the
    events come from ``recv_events`` (an async iterator of typed events)."""
    parts: list[str] = []
    append = parts.append
    count = 0
    with Timer() as timer:
        await send({"type": "response.create"})
        async for event in recv_events:
            count += 1
            kind = event.type
            if kind == "response.output_text.delta":
                append(event.delta)
            elif kind == "response.done":
                break
    return "".join(parts), count, timer.cpu, timer.wall


def _realtime_ours(port: int, n: int, warmup: int) -> tuple[str, int, float, float]:
    openai_trio = _import_ours()
    import trio

    async def session(client: Any, count: int) -> tuple[str, int, float, float]:
        async with client.realtime.connect(model=_realtime_model(count)) as conn:
            events = conn.__aiter__()
            first = await events.__anext__()
            assert first.type == "session.created", first
            return await _typed_response(events, conn.send)

    async def main() -> tuple[str, int, float, float]:
        client = _ours_client(openai_trio, port)
        if not hasattr(getattr(client, "realtime", None), "connect"):
            raise Unavailable("openai_trio.Client has no realtime.connect yet")
        async with client:
            await session(client, warmup)
            return await session(client, n)

    return trio.run(main)


def _realtime_core(port: int, n: int, warmup: int) -> tuple[str, int, float, float]:
    import os

    import trio

    try:
        from openai_sansio import NEED_DATA, ClientConfig, WebSocketConnection, realtime_request
    except ImportError as exc:
        raise Unavailable(f"openai_sansio has no WebSocketConnection ({exc})") from exc
    config = ClientConfig(api_key=API_KEY, base_url=_base_url(port))

    class Events:
        def __init__(self, stream: Any, conn: Any) -> None:
            self.stream, self.conn = stream, conn

        def __aiter__(self) -> Events:
            return self

        async def __anext__(self) -> Any:
            conn = self.conn
            while True:
                event = conn.next_event()
                if event is NEED_DATA:
                    out = conn.data_to_send()
                    if out:
                        await self.stream.send_all(out)
                    conn.receive_data(await self.stream.receive_some(65536))
                    continue
                return event

        async def send(self, event: Any) -> None:
            self.conn.send(event)
            await self.stream.send_all(self.conn.data_to_send())

    async def session(count: int) -> tuple[str, int, float, float]:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        conn = WebSocketConnection(realtime_request(config, model=_realtime_model(count)), random_bytes=os.urandom)
        await stream.send_all(conn.data_to_send())
        events = Events(stream, conn)
        opened = await events.__anext__()
        assert type(opened).__name__ == "WebSocketOpened", opened
        first = await events.__anext__()
        assert first.type == "session.created", first
        result = await _typed_response(events, events.send)
        conn.close()
        await stream.send_all(conn.data_to_send())
        await stream.aclose()
        return result

    async def main() -> tuple[str, int, float, float]:
        await session(warmup)
        return await session(n)

    return trio.run(main)


def _realtime_sdk_async(port: int, n: int, warmup: int) -> tuple[str, int, float, float]:
    openai = _import_sdk()
    try:
        import websockets  # noqa: F401  (the SDK's realtime client needs it)
    except ImportError as exc:
        raise Unavailable(f"the SDK's realtime client needs websockets ({exc})") from exc
    import asyncio

    async def session(client: Any, count: int) -> tuple[str, int, float, float]:
        async with client.realtime.connect(model=_realtime_model(count)) as conn:
            events = conn.__aiter__()
            first = await events.__anext__()
            assert first.type == "session.created", first
            return await _typed_response(events, conn.send)

    async def main() -> tuple[str, int, float, float]:
        client = openai.AsyncOpenAI(api_key=API_KEY, base_url=_base_url(port), max_retries=0)
        await session(client, warmup)
        result = await session(client, n)
        await client.close()
        return result

    result: tuple[str, int, float, float] = asyncio.run(main())
    return result


def _realtime_floor(port: int, n: int, warmup: int) -> tuple[str, int, float, float]:
    """The least a client does: wsproto's own client, ``json.loads`` of
    every message and a look at its ``type``; no typed events."""
    import trio
    import wsproto
    import wsproto.events as we

    async def session(count: int) -> tuple[str, int, float, float]:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        target = f"/v1/realtime?model={_realtime_model(count)}"
        await stream.send_all(ws.send(we.Request(
            host=f"127.0.0.1:{port}", target=target, extra_headers=[(b"authorization", b"Bearer " + API_KEY.encode())]
        )))
        loads = json.loads

        async def messages() -> Any:
            # A read may end inside a message: wsproto hands it over in parts.
            pending: list[str] = []
            while True:
                ws.receive_data(await stream.receive_some(65536))
                for event in ws.events():
                    if isinstance(event, we.TextMessage):
                        if not event.message_finished:
                            pending.append(event.data)
                        elif pending:
                            pending.append(event.data)
                            yield loads("".join(pending))
                            pending.clear()
                        else:
                            yield loads(event.data)

        it = messages().__aiter__()
        first = await it.__anext__()
        assert first["type"] == "session.created", first
        parts: list[str] = []
        append = parts.append
        count_events = 0
        with Timer() as timer:
            await stream.send_all(ws.send(we.TextMessage(json.dumps({"type": "response.create"}))))
            async for obj in it:
                count_events += 1
                kind = obj["type"]
                if kind == "response.output_text.delta":
                    append(obj["delta"])
                elif kind == "response.done":
                    break
        await stream.send_all(ws.send(we.CloseConnection(code=1000)))
        await stream.aclose()
        return "".join(parts), count_events, timer.cpu, timer.wall

    async def main() -> tuple[str, int, float, float]:
        await session(warmup)
        return await session(n)

    return trio.run(main)


_REALTIME_RUNNERS: dict[str, Callable[[int, int, int], tuple[str, int, float, float]]] = {
    "ours": _realtime_ours,
    "core": _realtime_core,
    "sdk_async": _realtime_sdk_async,
    "floor": _realtime_floor,
}


def run_spec(spec: dict[str, Any]) -> dict[str, Any]:
    scenario = spec["scenario"]
    client = spec["client"]
    port = int(spec.get("port", 0))
    try:
        if scenario == "stream":
            return stream_scenario(client, port, spec["chunks"], spec.get("warmup", 200))
        if scenario == "nonstream":
            return nonstream_scenario(client, port, spec["requests"], spec["concurrency"])
        if scenario == "slow":
            return slow_scenario(client, port, spec["streams"], spec["seconds"])
        if scenario == "http2":
            return http2_scenario(client, port, spec["concurrency"], spec["batches"])
        if scenario == "realtime":
            return realtime_scenario(client, port, spec["deltas"], spec.get("warmup", 200))
    except Unavailable as exc:
        return {"unavailable": str(exc)}
    raise ValueError(f"unknown scenario {scenario!r}")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    spec = json.loads(args[0])
    raise_fd_limit()
    profile_path = spec.get("profile")
    if profile_path:
        import cProfile

        global PROFILER
        PROFILER = cProfile.Profile()
        result = run_spec(spec)
        PROFILER.dump_stats(profile_path)
    else:
        result = run_spec(spec)
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
