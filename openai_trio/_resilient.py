"""``ResilientClient``: opt-in rate limiting, circuit breaking and failover
around one or more clients.

It has the whole API surface of a ``Client`` (the generated namespaces run
on anything with an ``execute`` method), and runs each call on the first
endpoint whose circuit is closed and whose budget allows it, moving on to
the next when an endpoint fails in a way another might not.  The decisions
live in the core (``openai_sansio._resilience``); this module only waits
and counts on trio's clock, so ``MockClock`` drives it in tests.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs
import trio

from openai_sansio import (
    APIConnectionError,
    APIError,
    APIStatusError,
    LocalProtocolError,
    PreparedOperation,
)
from openai_sansio._resilience import (
    CircuitBreaker,
    CircuitState,
    RateLimiter,
    estimate_tokens,
    is_failover_error,
    parse_rate_limit_headers,
)

from ._client import RawResponse
from ._generated import Namespaces
from ._pages import AsyncPaginator
from ._streamed import StreamedResponseManager

if TYPE_CHECKING:
    from typing_extensions import Self

    from ._client import Client
    from ._namespace import Mode

__all__ = ["CircuitOpenError", "Endpoint", "EndpointHealth", "ResilientClient"]


class CircuitOpenError(APIConnectionError):
    """Every endpoint's circuit is open: nothing was sent.  ``retry_at`` is
    the ``trio.current_time()`` at which the first of them lets a probe
    through."""

    def __init__(self, message: str, *, retry_at: float) -> None:
        super().__init__(message)
        self.retry_at = retry_at


def _origin_of(client: Client) -> str:
    parts = urlsplit(client.base_url)
    port = parts.port
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    # No userinfo, path or query: those may carry credentials.
    return f"{parts.scheme}://{parts.hostname}:{port}"


@attrs.define(eq=False, repr=False)
class Endpoint:
    """One place to send calls: a client (its base URL and key), and an
    optional budget for it alone (``RateLimiter``: each key at each provider
    has its own limits)."""

    client: Client
    rate_limiter: RateLimiter | None = None
    origin: str = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.origin = _origin_of(self.client)

    def __repr__(self) -> str:
        return f"Endpoint({self.origin!r}, rate_limiter={self.rate_limiter!r})"


@attrs.frozen
class EndpointHealth:
    """What a health check found at one endpoint."""

    origin: str
    ok: bool
    latency: float | None  # seconds on trio's clock, when it answered
    error: str | None  # the error's type (and status), never its text
    circuit: CircuitState | None  # after the check; None without a breaker


def _describe(error: BaseException) -> str:
    name = type(error).__name__
    if isinstance(error, APIStatusError):
        return f"{name} ({error.status_code})"
    return name


def _used_tokens(result: Any) -> int | None:
    usage = getattr(result, "usage", None)
    total = getattr(usage, "total_tokens", None)
    return total if isinstance(total, int) and not isinstance(total, bool) else None


class ResilientClient(Namespaces):
    """The API surface over several endpoints, tried in the order given.

    ``ResilientClient(primary, backup, circuit_breaker=CircuitBreaker())``
    with clients (or ``Endpoint(client, rate_limiter=RateLimiter(...))``):

    * before a call goes to an endpoint, its ``RateLimiter`` (if any) waits
      until the call fits the requests and tokens per minute, which the
      server's ``x-ratelimit-*`` headers tighten as answers arrive;
    * an endpoint whose circuit (one per origin) is open is skipped; when
      all are, ``CircuitOpenError`` is raised before anything is sent;
    * a call that fails with an error ``failover_on`` accepts (default
      ``is_failover_error``: connection errors, timeouts, 401, 403, 408,
      409, 429, 5xx) goes to the next endpoint; when none is left, the last
      error is raised, with a note naming each endpoint tried and how it
      failed.  Other errors (a 400, a 404, caller mistakes) are raised at
      once.

    Each client still retries as configured before its error counts here;
    for quick failover give the clients ``max_retries=0`` or 1.  Lists are
    paged on the endpoint that served the first page; a stream fails over
    only while it is being opened.  ``async with`` closes every client.
    ``client.realtime.connect`` and ``client.responses.connect`` are
    ``Client``'s own: open WebSockets on an endpoint's client directly.
    """

    def __init__(
        self,
        *endpoints: Client | Endpoint,
        circuit_breaker: CircuitBreaker | None = None,
        failover_on: Callable[[BaseException], bool] = is_failover_error,
    ) -> None:
        if not endpoints:
            raise LocalProtocolError("ResilientClient needs at least one client or Endpoint")
        self._endpoints = tuple(e if isinstance(e, Endpoint) else Endpoint(e) for e in endpoints)
        self._breaker = circuit_breaker
        self._failover_on = failover_on
        self._namespaces = {}
        # One queue per budget: callers wait their turn in order, and one
        # that is cancelled while waiting has taken nothing.
        self._budget_locks: dict[int, trio.StrictFIFOLock] = {}

    def __repr__(self) -> str:
        return f"<ResilientClient {[e.origin for e in self._endpoints]}>"

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        return self._endpoints

    @property
    def circuit_breaker(self) -> CircuitBreaker | None:
        return self._breaker

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every endpoint's client (each ``aclose`` is idempotent)."""
        for endpoint in self._endpoints:
            with trio.CancelScope(shield=True):
                await endpoint.client.aclose()

    # -- the Transport the namespaces call ---------------------------------

    def execute(self, prepared: PreparedOperation[Any], mode: Mode) -> Any:
        if mode == "streaming":

            async def open_stream(client: Client) -> Any:
                manager = client.execute(prepared, "streaming")
                return await manager.__aenter__()

            return StreamedResponseManager(lambda: self._guarded(prepared, open_stream, parsed=False))
        if prepared.operation.page_kind != "none":

            async def first_page(client: Client) -> Any:
                return await client.execute(prepared, mode)

            return AsyncPaginator(lambda: self._guarded(prepared, first_page, parsed=False))

        async def raw_call(client: Client) -> Any:
            # Raw, so that the answer's rate-limit headers reach the budget.
            return await client.execute(prepared, "raw")

        return self._guarded(prepared, raw_call, parsed=mode == "parsed")

    async def _guarded(
        self, prepared: PreparedOperation[Any], run: Callable[[Client], Awaitable[Any]], *, parsed: bool
    ) -> Any:
        body = prepared.body if isinstance(prepared.body, Mapping) else None
        breaker = self._breaker
        tried: list[tuple[Endpoint, BaseException | None]] = []
        for endpoint in self._endpoints:
            key = endpoint.origin
            if breaker is not None and not breaker.allow(key, trio.current_time()):
                tried.append((endpoint, None))
                continue
            limiter = endpoint.rate_limiter
            tokens = estimate_tokens(body) if limiter is not None and limiter.tokens_per_minute is not None else 0
            try:
                if limiter is not None:
                    await self._wait_for_budget(limiter, tokens)
                result = await run(endpoint.client)
            except APIError as error:
                now = trio.current_time()
                if breaker is not None:
                    breaker.record(key, now, error)
                if limiter is not None and isinstance(error, APIStatusError):
                    limiter.observe(now, parse_rate_limit_headers(error.headers, now=endpoint.client.wall_clock()))
                if not self._failover_on(error):
                    raise
                tried.append((endpoint, error))
                continue
            except BaseException:
                if breaker is not None:
                    breaker.release(key, trio.current_time())
                raise
            now = trio.current_time()
            if breaker is not None:
                breaker.record(key, now)
            headers = getattr(result, "headers", None)
            if limiter is not None and headers is not None:
                limiter.observe(now, parse_rate_limit_headers(headers, now=endpoint.client.wall_clock()))
            payload = result.parse() if isinstance(result, RawResponse) else result
            if limiter is not None and tokens:
                used = _used_tokens(payload)
                if used is not None:
                    limiter.settle(tokens, used)
            return payload if parsed else result
        raise self._exhausted(tried)

    def _exhausted(self, tried: list[tuple[Endpoint, BaseException | None]]) -> BaseException:
        last = next((error for _, error in reversed(tried) if error is not None), None)
        if last is None:
            assert self._breaker is not None
            now = trio.current_time()
            retry_at = min(self._breaker.retry_at(e.origin, now) for e, _ in tried)
            origins = ", ".join(e.origin for e, _ in tried)
            return CircuitOpenError(
                f"every endpoint's circuit is open ({origins}); nothing was sent. "
                f"The first lets a call through in {max(0.0, retry_at - now):.1f} s",
                retry_at=retry_at,
            )
        if len(tried) > 1:
            # The note names origins and error types only: never a key.
            lines = [
                f"  {endpoint.origin}: {'skipped, circuit open' if error is None else _describe(error)}"
                for endpoint, error in tried
            ]
            if sys.version_info >= (3, 11):
                last.add_note("every endpoint failed:\n" + "\n".join(lines))
        return last

    async def _wait_for_budget(self, limiter: RateLimiter, tokens: int) -> None:
        lock = self._budget_locks.get(id(limiter))
        if lock is None:
            lock = self._budget_locks[id(limiter)] = trio.StrictFIFOLock()
        async with lock:
            while True:
                delay = limiter.delay(trio.current_time(), tokens)
                if delay <= 0:
                    break
                await trio.sleep(delay)
            limiter.take(trio.current_time(), tokens)

    # -- health ---------------------------------------------------------------

    async def check_health(self, *, probe_timeout: float = 10.0) -> list[EndpointHealth]:
        """Probe every endpoint at once with a cheap call (``models.list``,
        no retries, ``probe_timeout`` seconds) and feed the circuit breaker: an
        answer closes an endpoint's circuit, a failure counts against it."""
        if not (probe_timeout > 0 and not math.isinf(probe_timeout)):
            raise LocalProtocolError(f"probe_timeout must be a positive number of seconds, not {probe_timeout!r}")
        found: list[EndpointHealth | None] = [None] * len(self._endpoints)

        async def probe(index: int, endpoint: Endpoint) -> None:
            started = trio.current_time()
            error: APIError | None = None
            try:
                await endpoint.client.models.list(timeout=probe_timeout, max_retries=0)
            except APIError as exc:
                error = exc
            now = trio.current_time()
            breaker = self._breaker
            circuit = None
            if breaker is not None:
                breaker.record_health(endpoint.origin, now, error)
                circuit = breaker.state(endpoint.origin, now)
            found[index] = EndpointHealth(
                origin=endpoint.origin,
                ok=error is None,
                latency=now - started if error is None else None,
                error=None if error is None else _describe(error),
                circuit=circuit,
            )

        async with trio.open_nursery() as nursery:
            for index, endpoint in enumerate(self._endpoints):
                nursery.start_soon(probe, index, endpoint)
        return [health for health in found if health is not None]

    async def monitor(
        self, interval: float = 30.0, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Check health every ``interval`` seconds until cancelled; run it in
        a nursery of yours: ``nursery.start_soon(client.monitor, 30)``."""
        if not (interval > 0 and not math.isinf(interval)):
            raise LocalProtocolError(f"interval must be a positive number of seconds, not {interval!r}")
        task_status.started()
        while True:
            await self.check_health(probe_timeout=min(interval, 10.0))
            await trio.sleep(interval)
