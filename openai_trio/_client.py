"""``Client``: configuration, the connection pool and the retry loop.

Each logical call is an ``openai_sansio.Call``; this module only runs it:
it takes a connection from the pool, writes the request, reads the response
under the call's time limits, sleeps between attempts and hands the bytes
back to the ``Call`` for every decision.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import ssl
import time
from typing import TYPE_CHECKING, Any, Callable, Generic, Mapping, TypeVar

import attrs
import trio

from openai_sansio import (
    NOT_GIVEN,
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APITimeoutError,
    Call,
    ClientConfig,
    Headers,
    NotGiven,
    OpenAIError,
    Request,
    RequestOptions,
    StreamDecoder,
    Timeout,
    new_idempotency_key,
)

from ._connection import Limits, StaleConnectionError
from ._logging import logger, setup_logging
from ._pool import DEFAULT_MAX_CONNECTIONS, ConnectionPool, Connector, PoolStats
from ._streams import AsyncStream, Exchange, scrub_secret
from ._tls import TCPConnector

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

    from ._resources import Chat, Completions, Embeddings, Models, Responses

__all__ = ["Client", "RawResponse"]

T = TypeVar("T")

# A successful body larger than this is refused rather than buffered.
MAX_BODY_BYTES = 256 * 1024 * 1024
# Error bodies are only read this far: enough for any JSON error object.
MAX_ERROR_BODY_BYTES = 1024 * 1024

Parse = Callable[[Any], T]


def _identity(data: Any) -> Any:
    return data


def _limits(timeout: Timeout, deadline: float) -> Limits:
    return Limits(
        connect=timeout.connect,
        read=timeout.read,
        write=timeout.write,
        pool=timeout.pool,
        total=timeout.total,
        deadline=deadline,
    )


def _url_for_log(request: Request) -> str:
    # Query strings can carry credentials (some proxies take ``?key=``), so
    # log lines name the origin and path only.
    path, sep, _ = request.target.partition("?")
    return f"{request.origin}{path}{'?...' if sep else ''}"


def _attach_request_id(result: Any, request_id: str | None) -> None:
    # Only types that declare the attribute (models, pages) get it: a
    # caller's own ``cast`` result or a plain dict is left alone.
    if hasattr(type(result), "_request_id"):
        result._request_id = request_id


class RawResponse(Generic[T]):
    """A response as ``with_raw_response`` methods return it: the status,
    the headers and the request that got it, and ``parse()`` for the
    result the plain method would have returned.

    The body is parsed as it arrives (a body that does not match the model
    raises from the call itself, not from ``parse()``).  For a streamed
    call ``parse()`` returns the open ``AsyncStream``; use it with
    ``async with`` as usual, or the connection stays leased.
    """

    def __init__(
        self,
        *,
        status_code: int,
        headers: Headers,
        http_request: Request,
        content: bytes,
        parsed: T,
        retries_taken: int,
    ) -> None:
        self.status_code = status_code
        self.headers = headers
        self.http_request = http_request
        self.content = content
        self.retries_taken = retries_taken
        self._parsed = parsed

    def __repr__(self) -> str:
        return f"<RawResponse [{self.status_code}] {self.method} {self.url}>"

    @property
    def request_id(self) -> str | None:
        """The server's ``x-request-id`` for this response, if it sent one."""
        return self.headers.get("x-request-id")

    @property
    def method(self) -> str:
        return self.http_request.method

    @property
    def url(self) -> str:
        return self.http_request.url

    @property
    def text(self) -> str:
        """The body as text (empty for a streamed response)."""
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.content)

    def parse(self) -> T:
        """The typed result: a model, a page, an ``AsyncStream`` or None."""
        return self._parsed


def _merge_config(
    config: ClientConfig | None,
    *,
    max_retries: int | NotGiven,
    timeout: Timeout | float | NotGiven | None,
    **fields: object,
) -> ClientConfig:
    """``config`` (or one read from the environment) with every setting that
    was given replaced."""
    given: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
    if max_retries is not NOT_GIVEN:
        given["max_retries"] = max_retries
    if timeout is not NOT_GIVEN:
        given["timeout"] = Timeout.coerce(timeout)
    if config is None:
        return ClientConfig.from_env(**given)
    if given:
        return attrs.evolve(config, **given)
    return config


class _RawNamespaces:
    """The namespaces of a client in their ``with_raw_response`` form."""

    __slots__ = ("_client",)

    def __init__(self, client: Client) -> None:
        self._client = client

    @property
    def chat(self) -> Any:
        return self._client.chat.with_raw_response

    @property
    def completions(self) -> Any:
        return self._client.completions.with_raw_response

    @property
    def responses(self) -> Any:
        return self._client.responses.with_raw_response

    @property
    def embeddings(self) -> Any:
        return self._client.embeddings.with_raw_response

    @property
    def models(self) -> Any:
        return self._client.models.with_raw_response


class Client:
    """An OpenAI API client for trio.

    Use it as an async context manager so its connections are closed::

        async with openai_trio.Client() as client:
            completion = await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
            )

    Settings not given come from the environment (``OPENAI_API_KEY``,
    ``OPENAI_BASE_URL``, ``OPENAI_ORG_ID``, ``OPENAI_PROJECT_ID``); a
    complete ``config`` may be passed instead, and keyword arguments given
    next to it override its fields.  ``connector`` replaces how transport
    streams are opened (TCP and TLS): it is called with an ``Origin`` and
    returns a ready ``trio.abc.Stream``.  ``max_connections`` limits the
    connections per origin.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        default_headers: Mapping[str, str] | None = None,
        default_query: Mapping[str, str] | None = None,
        max_retries: int | NotGiven = NOT_GIVEN,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        connector: Connector | None = None,
        config: ClientConfig | None = None,
    ) -> None:
        setup_logging()
        config = _merge_config(
            config,
            api_key=api_key,
            base_url=base_url,
            organization=organization,
            project=project,
            default_headers=default_headers,
            default_query=default_query,
            max_retries=max_retries,
            timeout=timeout,
        )
        self._config = config
        if connector is None:
            connector = TCPConnector(ssl_context)
        elif ssl_context is not None:
            raise TypeError("pass ssl_context or connector, not both: a connector does its own TLS")
        self._pool = ConnectionPool(connector, max_connections=max_connections)
        self._owns_pool = True
        self._closed = False
        self._resources: dict[str, Any] = {}
        self._limits: tuple[Timeout, Limits] | None = None

    def with_options(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        default_headers: Mapping[str, str] | None = None,
        default_query: Mapping[str, str] | None = None,
        max_retries: int | NotGiven = NOT_GIVEN,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
    ) -> Client:
        """A client with some settings changed that shares this client's
        connection pool.

        Closing the copy does not close the pool; closing the original
        closes it for both.
        """
        clone = Client.__new__(Client)
        clone._config = _merge_config(
            self._config,
            api_key=api_key,
            base_url=base_url,
            organization=organization,
            project=project,
            default_headers=default_headers,
            default_query=default_query,
            max_retries=max_retries,
            timeout=timeout,
        )
        clone._pool = self._pool
        clone._owns_pool = False
        clone._closed = False
        clone._resources = {}
        clone._limits = None
        return clone

    def __repr__(self) -> str:
        return f"<openai_trio.Client base_url={self._config.base_url!r}>"

    @property
    def config(self) -> ClientConfig:
        return self._config

    @property
    def base_url(self) -> str:
        return self._config.base_url

    @property
    def max_retries(self) -> int:
        return self._config.max_retries

    @property
    def timeout(self) -> Timeout:
        return self._config.timeout

    def pool_stats(self) -> PoolStats:
        """Connections open, stream slots in use, idle connections,
        connections being opened and callers waiting, over all origins."""
        return self._pool.stats()

    @property
    def connections_opened(self) -> int:
        """How many connections this client has opened in its lifetime."""
        return self._pool.connections_opened

    # -- resources (created on first use so the client imports quickly) -----

    def _resource(self, name: str) -> Any:
        res = self._resources.get(name)
        if res is None:
            from . import _resources

            res = self._resources[name] = getattr(_resources, name)(self)
        return res

    @property
    def chat(self) -> Chat:
        res: Chat = self._resource("Chat")
        return res

    @property
    def completions(self) -> Completions:
        res: Completions = self._resource("Completions")
        return res

    @property
    def responses(self) -> Responses:
        res: Responses = self._resource("Responses")
        return res

    @property
    def embeddings(self) -> Embeddings:
        res: Embeddings = self._resource("Embeddings")
        return res

    @property
    def models(self) -> Models:
        res: Models = self._resource("Models")
        return res

    @property
    def with_raw_response(self) -> _RawNamespaces:
        """``client.with_raw_response.chat.completions.create(...)`` and so
        on: each namespace's ``with_raw_response`` form."""
        return _RawNamespaces(self)

    # -- lifetime -------------------------------------------------------------

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every pooled connection; idempotent."""
        self._closed = True
        if self._owns_pool:
            await self._pool.aclose()

    # -- the generic entry point -------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, object] | None = None,
        query: Mapping[str, object] | None = None,
        stream: bool = False,
        cast: Callable[[Any], Any] | None = None,
        extra_headers: Mapping[str, str | None] | None = None,
        extra_query: Mapping[str, object] | None = None,
        extra_body: Mapping[str, object] | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,  # noqa: ASYNC109
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Any:
        """Call any API endpoint: ``path`` is relative to ``base_url``.

        Returns the decoded JSON (passed through ``cast`` when given) or,
        with ``stream=True``, an ``AsyncStream`` of decoded event payloads
        (each passed through ``cast``, default: the JSON object as a dict).
        """
        options = RequestOptions(
            extra_headers=extra_headers,
            extra_query=extra_query,
            extra_body=extra_body,
            timeout=timeout,
            max_retries=max_retries,
        )
        if stream:
            parse_item = cast if cast is not None else dict

            def make_decoder(request: Request) -> StreamDecoder[Any]:
                return StreamDecoder(parse_item, request=request)

            return await self._call(
                method, path, body=body, query=query, options=options,
                parse=_identity, stream_decoder=make_decoder,
            )
        return await self._call(
            method, path, body=body, query=query, options=options,
            parse=_identity if cast is None else cast,
        )

    # -- running one logical call -------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, object] | None = None,
        query: Mapping[str, object] | None = None,
        options: RequestOptions | None = None,
        parse: Parse[Any] | None,
        stream_decoder: Callable[[Request], StreamDecoder[Any]] | None = None,
        raw: bool = False,
    ) -> Any:
        """Run one logical call; ``parse=None`` means the response has no
        body worth reading (the result is None).  ``raw=True`` returns a
        ``RawResponse`` around the result."""
        if self._closed:
            raise APIConnectionError("The client has been closed.")
        method = method.upper()
        call = Call(
            self._config,
            method,
            path,
            body=body,
            query=query,
            stream=stream_decoder is not None,
            options=options,
            idempotency_key=None if method == "GET" else new_idempotency_key(os.urandom(16)),
        )
        timeout = call.timeout
        started = trio.current_time()
        if timeout.total is None:
            # No deadline: the limits are the same for every such call.
            deadline = math.inf
            cached = self._limits
            if cached is not None and cached[0] is timeout:
                limits = cached[1]
            else:
                limits = _limits(timeout, deadline)
                self._limits = (timeout, limits)
        else:
            deadline = started + timeout.total
            limits = _limits(timeout, deadline)
        # The inner operations check the deadline themselves and say which
        # limit ran out; this scope is the backstop for every other
        # checkpoint (backoff sleeps, pool bookkeeping).
        try:
            if deadline == math.inf:
                return await self._run(call, limits, parse, stream_decoder, started, raw)
            with trio.move_on_at(deadline):
                return await self._run(call, limits, parse, stream_decoder, started, raw)
            # Only reached when the scope cancelled _run.
            raise APITimeoutError(
                "total", math.inf if timeout.total is None else timeout.total, request=call.request()
            )
        except OpenAIError as exc:
            scrub_secret(exc, self._config.api_key)
            raise

    async def _run(
        self,
        call: Call,
        limits: Limits,
        parse: Parse[Any] | None,
        stream_decoder: Callable[[Request], StreamDecoder[Any]] | None,
        started: float,
        raw_response: bool,
    ) -> Any:
        while True:
            request = call.request()
            # Checked first: building the URL for a disabled log line is
            # measurable on small requests.
            verbose = logger.isEnabledFor(logging.INFO)
            attempt_started = 0.0
            if verbose:
                attempt_started = trio.current_time()
                logger.debug(
                    "Request: %s %s (attempt %d)", request.method, _url_for_log(request), call.retries_taken + 1
                )
            raw = b""
            try:
                exchange = await self._send(request, limits)
                status = exchange.status_code
                ok = 200 <= status < 300
                if not ok:
                    raw, _ = await exchange.read_body(MAX_ERROR_BODY_BYTES)
                    # An error body, however odd, was framed correctly: the
                    # connection stays reusable.
                    await exchange.release()
                elif stream_decoder is None:
                    raw, truncated = await exchange.read_body(MAX_BODY_BYTES)
                    if truncated:
                        raise APIResponseValidationError(
                            f"response body larger than {MAX_BODY_BYTES} bytes",
                            status_code=status,
                            request=request,
                        )
            except APIError as exc:
                if exc.request is None:
                    exc.request = request
                if (
                    not isinstance(exc, APIConnectionError)
                    or (isinstance(exc, APITimeoutError) and exc.limit == "total")
                    # Closed under us: no later attempt can do better.
                    or self._pool.closed
                ):
                    raise
                delay = call.retry_delay_after_error(jitter=random.random())
                if delay is None or trio.current_time() + delay >= limits.deadline:
                    logger.debug("%s %s failed: %s", request.method, _url_for_log(request), exc)
                    raise
                logger.info(
                    "Retrying %s %s in %.3f seconds after %s",
                    request.method, _url_for_log(request), delay, type(exc).__name__,
                )
                await trio.sleep(delay)
                continue
            if verbose:
                logger.info(
                    'HTTP Request: %s %s "%d" (%.3fs)',
                    request.method, _url_for_log(request), status, trio.current_time() - attempt_started,
                )
            if ok:
                if stream_decoder is not None:
                    stream = AsyncStream(
                        exchange, stream_decoder(request), request=request, secret=self._config.api_key
                    )
                    if not raw_response:
                        return stream
                    return RawResponse(
                        status_code=status,
                        headers=exchange.headers,
                        http_request=request,
                        content=b"",
                        parsed=stream,
                        retries_taken=call.retries_taken,
                    )
                # A 200 whose body is not what the API sends (an HTML page
                # from a proxy, say) means the peer is not the API server we
                # think: do not send it anything else on this connection.
                try:
                    result = None if parse is None else call.parse_response(
                        status, exchange.headers, raw, parse
                    )
                except BaseException:
                    await exchange.release(discard=True)
                    raise
                await exchange.release()
                _attach_request_id(result, exchange.headers.get("x-request-id"))
                if not raw_response:
                    return result
                return RawResponse(
                    status_code=status,
                    headers=exchange.headers,
                    http_request=request,
                    content=raw,
                    parsed=result,
                    retries_taken=call.retries_taken,
                )
            # Built before retry_delay() moves the call on to its next
            # attempt, so the error carries the request that failed.
            error = call.decode_error(status, exchange.headers, raw)
            delay = call.retry_delay(
                status_code=status, headers=exchange.headers, now=time.time(), jitter=random.random()
            )
            if delay is None or trio.current_time() + delay >= limits.deadline:
                logger.debug(
                    "%s %s: giving up after %d retries (%.3fs)",
                    request.method, _url_for_log(request), call.retries_taken, trio.current_time() - started,
                )
                raise error
            logger.info(
                "Retrying %s %s in %.3f seconds after status %d",
                request.method, _url_for_log(request), delay, status,
            )
            await trio.sleep(delay)

    async def _send(self, request: Request, limits: Limits) -> Exchange:
        """Send ``request`` and wait for the response head.

        A reused connection that turns out to have been closed by the peer
        before any response byte arrived is dropped and the request goes
        out again on a fresh connection: the server never saw it, so this
        spends no retry.
        """
        fresh = False
        while True:
            conn = await self._pool.acquire(request.origin, limits, fresh=fresh)
            exchange = Exchange(self._pool, conn, limits)
            try:
                await exchange.start(request)
            except StaleConnectionError as exc:
                await exchange.release(discard=True)
                if fresh:  # pragma: no cover - a fresh connection is never reused
                    raise APIConnectionError(str(exc), request=request) from exc
                logger.debug("Reused connection to %s was closed; sending again", request.origin)
                fresh = True
                continue
            except BaseException:
                await exchange.release(discard=True)
                raise
            return exchange
