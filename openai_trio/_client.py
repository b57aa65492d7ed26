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
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Generic, Mapping, TypeVar

import attrs
import trio

from openai_sansio import (
    MAX_BODY_BYTES,
    MAX_ERROR_BODY_BYTES,
    NOT_GIVEN,
    Action,
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    Call,
    CallLifecycle,
    ClientConfig,
    Done,
    Headers,
    MultipartBody,
    NotGiven,
    OpenAIError,
    Origin,
    Raise,
    ReadBody,
    Request,
    RequestOptions,
    Retry,
    SendRequest,
    StartStream,
    StreamBody,
    StreamDecoder,
    Timeout,
    new_idempotency_key,
)

from ._binary import BinaryResponse, StreamedBinaryResponse
from ._connection import Limits, StaleConnectionError
from ._execute import Executor
from ._generated import Namespaces
from ._logging import logger, setup_logging
from ._multiplexed import UnprocessedStreamError
from ._namespace import Mode, Transport
from ._pool import DEFAULT_MAX_CONNECTIONS, ConnectionPool, Connector, PoolStats, choose_protocol
from ._proxy import make_connector
from ._runtime import in_trio, trio_required
from ._streams import AsyncStream, Exchange, scrub_secret
from ._tls import TCPConnector

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

    from ._realtime import RealtimeNamespace, ResponsesNamespace
    from ._webhooks import Webhooks


__all__ = ["Client", "RawResponse"]

T = TypeVar("T")

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


def _may_multiplex(http2: bool, h2c: bool) -> Callable[[Origin], bool]:
    def may(origin: Origin) -> bool:
        return http2 if origin.scheme == "https" else h2c

    return may


def _url_for_log(request: Request) -> str:
    # Query strings can carry credentials (some proxies take ``?key=``), so
    # log lines name the origin and path only.
    path, sep, _ = request.target.partition("?")
    return f"{request.origin}{path}{'?...' if sep else ''}"


def _body_parser(lc: CallLifecycle, exchange: Exchange, parse: Parse[Any]) -> Callable[[bytes], Any]:
    """What ``parse()`` of a response handed over unread does with its body."""
    kind = lc.response_kind
    call = lc.call
    status, headers = exchange.status_code, exchange.headers

    def parse_body(body: bytes) -> Any:
        if kind == "binary":
            return body
        if kind == "empty":
            return None
        result = call.parse_response(status, headers, body, parse)
        _attach_request_id(result, headers.get("x-request-id"))
        return result

    return parse_body


def _attach_request_id(result: Any, request_id: str | None) -> None:
    # Only types that declare the attribute (models, pages) get it: a
    # caller's own ``cast`` result or a plain dict is left alone.
    if hasattr(type(result), "_request_id"):
        result._request_id = request_id


class _NotSent(Exception):
    """No connection could be had for a request, so none of it was sent;
    carries the error.  Never escapes the client."""

    def __init__(self, error: APIError) -> None:
        super().__init__(error)
        self.error = error


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
        return f"<RawResponse [{self.status_code}] {self.method} {self.http_request.redacted_url}>"

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


class _ModeView(Namespaces):
    """The client's namespaces in another mode (``client.with_raw_response``)."""

    __slots__ = ("_client", "_mode", "_namespaces")

    def __init__(self, client: Client, mode: Mode) -> None:
        self._client = client
        self._mode: Mode = mode
        self._namespaces = {}

    def _root(self) -> tuple[Transport, Mode]:
        return self._client, self._mode


class Client(Namespaces, Executor):
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

    Proxies, as in the official SDK: with ``trust_env`` (the default) the
    ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``ALL_PROXY`` and ``NO_PROXY``
    variables are honoured, read once here.  ``proxy="http://[user:pw@]host:port"``
    (or ``https://``) sends every request through that proxy whatever the
    environment says; ``proxy=None`` (or ``""``) connects directly.  https
    origins go through a CONNECT tunnel, http ones are forwarded.
    ``proxy_ssl_context`` verifies an ``https://`` proxy (default: the
    system store).  A SOCKS proxy fails the request with
    ``APIConnectionError``; a custom ``connector`` takes no proxy settings
    (``ProxyConnector`` is the one that proxies).

    HTTP/2: over TLS the client offers h2 and http/1.1 (ALPN) and speaks
    what the server picks; one HTTP/2 connection then carries many
    requests at once (up to the server's MAX_CONCURRENT_STREAMS), and
    ``max_connections`` counts connections, not requests.  ``http2=False``
    offers http/1.1 only.  ``h2c=True`` speaks cleartext HTTP/2 with prior
    knowledge to ``http://`` origins (local servers such as vLLM behind
    hypercorn or nginx); it is off by default, as a plain HTTP/1.1 server
    would not understand it.

    ``webhook_secret`` (else ``OPENAI_WEBHOOK_SECRET``) is the secret
    ``client.webhooks.unwrap()`` checks deliveries with; it is never sent
    and never shown.
    """

    # Subclasses that authenticate another way (AzureClient with a token
    # provider) turn off the check for an API key.
    _requires_api_key: ClassVar[bool] = True

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
        random_bytes: Callable[[int], bytes] | None = None,
        jitter: Callable[[], float] | None = None,
        wall_clock: Callable[[], float] | None = None,
        proxy: str | NotGiven | None = NOT_GIVEN,
        trust_env: bool = True,
        proxy_ssl_context: ssl.SSLContext | None = None,
        http2: bool = True,
        h2c: bool = False,
        webhook_secret: str | None = None,
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
            webhook_secret=webhook_secret,
        )
        if config.api_key is None and self._requires_api_key:
            # As the official SDK does: a missing key is a setup mistake,
            # better reported here than as a 401 after a round trip.
            raise OpenAIError(
                "No API key: pass api_key= to the client (or a ClientConfig with one), or set "
                "the OPENAI_API_KEY environment variable"
            )
        self._config = config
        if connector is None:
            connector = make_connector(
                ssl_context, proxy=proxy, trust_env=trust_env, proxy_ssl_context=proxy_ssl_context
            )
        elif ssl_context is not None:
            raise TypeError("pass ssl_context or connector, not both: a connector does its own TLS")
        elif proxy is not NOT_GIVEN or proxy_ssl_context is not None:
            raise TypeError(
                "pass proxy or connector, not both: a connector opens its own streams "
                "(openai_trio.ProxyConnector takes a proxy)"
            )
        if isinstance(connector, TCPConnector):
            connector.http2 = http2
        self._connector = connector
        self._ws_connector: Connector | None = None
        self._pool = ConnectionPool(
            connector,
            max_connections=max_connections,
            protocol_factory=choose_protocol(http2=http2, h2c=h2c),
            may_multiplex=_may_multiplex(http2, h2c),
        )
        # Every source of entropy and wall-clock time the client uses, so
        # that a recorded exchange can be replayed byte for byte.
        self._urandom: Callable[[int], bytes] = os.urandom if random_bytes is None else random_bytes
        self._jitter: Callable[[], float] = random.random if jitter is None else jitter
        self._wall_clock: Callable[[], float] = time.time if wall_clock is None else wall_clock
        self._owns_pool = True
        self._closed = False
        self._namespaces = {}
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
        webhook_secret: str | None = None,
    ) -> Client:
        """A client with some settings changed that shares this client's
        connection pool.

        Closing the copy does not close the pool; closing the original
        closes it for both.
        """
        # type(self): a subclass (AzureClient) gets a copy of its own kind.
        clone = type(self).__new__(type(self))
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
            webhook_secret=webhook_secret,
        )
        clone._pool = self._pool
        clone._connector = self._connector
        clone._ws_connector = self._ws_connector
        clone._urandom = self._urandom
        clone._jitter = self._jitter
        clone._wall_clock = self._wall_clock
        clone._owns_pool = False
        clone._closed = False
        clone._namespaces = {}
        clone._limits = None
        return clone

    def __repr__(self) -> str:
        # getattr: a client whose __init__ failed is still repr()-ed by
        # tracebacks that record locals.
        config = getattr(self, "_config", None)
        return f"<openai_trio.Client base_url={None if config is None else config.base_url!r}>"

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
    def random_bytes(self) -> Callable[[int], bytes]:
        """``n -> n random bytes``: idempotency keys and multipart boundaries."""
        return self._urandom

    @property
    def jitter(self) -> Callable[[], float]:
        """``() -> a float in [0, 1)``: the random part of retry backoff."""
        return self._jitter

    @property
    def wall_clock(self) -> Callable[[], float]:
        """``() -> unix time``: for ``retry-after`` dates."""
        return self._wall_clock

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

    # -- namespaces (generated; see openai_trio/_generated) ----------------

    @property
    def with_raw_response(self) -> Namespaces:
        """``client.with_raw_response.chat.completions.create(...)`` and so
        on: every namespace in its ``with_raw_response`` form."""
        return _ModeView(self, "raw")

    @property
    def with_streaming_response(self) -> Namespaces:
        """``client.with_streaming_response.files.content(...)`` and so on:
        every namespace in its ``with_streaming_response`` form."""
        return _ModeView(self, "streaming")

    # -- WebSockets (hand-written additions to two generated namespaces) ----

    @property
    def realtime(self) -> RealtimeNamespace:
        """``client.realtime``: the generated operations and ``connect()``
        for a Realtime session over a WebSocket."""
        found = self._namespaces.get("realtime")
        if found is None:
            from ._realtime import RealtimeNamespace

            found = self._namespaces["realtime"] = RealtimeNamespace(self, "parsed")
        return found  # type: ignore[return-value]

    @property
    def responses(self) -> ResponsesNamespace:
        """``client.responses``: the generated operations and ``connect()``
        for the Responses API's WebSocket mode."""
        found = self._namespaces.get("responses")
        if found is None:
            from ._realtime import ResponsesNamespace

            found = self._namespaces["responses"] = ResponsesNamespace(self, "parsed")
        return found  # type: ignore[return-value]

    @property
    def webhooks(self) -> Webhooks:
        """``client.webhooks``: ``unwrap()`` and ``verify_signature()`` for
        webhook deliveries, with the client's ``webhook_secret``."""
        found = self._namespaces.get("webhooks")
        if found is None:
            from ._webhooks import Webhooks

            found = self._namespaces["webhooks"] = Webhooks(self)  # type: ignore[assignment]
        return found  # type: ignore[return-value]

    def _websocket_connector(self) -> Connector:
        """The client's connector (same TLS trust, same proxies), offering
        only HTTP/1.1 when it does TLS; WebSockets are never pooled."""
        if self._ws_connector is None:
            from ._websocket import websocket_connector

            self._ws_connector = websocket_connector(self._connector)
        return self._ws_connector

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
            if not in_trio():
                raise trio_required("Client.aclose()")
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

    # -- the SDK's escape hatch: client.get/post/patch/put/delete --------------------

    async def _escape(self, method: str, path: str, **arguments: Any) -> Any:
        from ._escape import escape_call

        kwargs, finish = escape_call(method, random_bytes=self._urandom, **arguments)
        return finish(await self._call(method, path, **kwargs))

    async def get(
        self,
        path: str,
        *,
        cast_to: Any = object,
        query: Mapping[str, object] | None = None,
        options: RequestOptions | Mapping[str, Any] | None = None,
        stream: bool = False,
        stream_cls: Any = None,
        extra_headers: Mapping[str, str | None] | None = None,
        extra_query: Mapping[str, object] | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,  # noqa: ASYNC109
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Any:
        """``GET path`` (relative to ``base_url``) for anything the typed
        namespaces do not cover, as in the official SDK.

        ``cast_to`` says what to return: a model class (built with its
        ``from_dict``), ``dict``/``list``/``object`` (the decoded JSON),
        ``bytes`` or ``str`` (the raw body), ``BinaryResponse``,
        ``RawResponse`` (status, headers and body) or ``None`` (nothing).
        With ``stream=True`` the result is an ``AsyncStream`` whose items
        are ``cast_to`` (or the item type of ``stream_cls=AsyncStream[T]``).
        ``options`` takes a ``RequestOptions`` or the SDK's mapping
        (``headers``, ``params``, ``extra_json``, ``timeout``,
        ``max_retries``, ``idempotency_key``).
        """
        return await self._escape(
            "GET", path, cast_to=cast_to, body=None, files=None, content=None, content_type=None,
            query=query, options=options, stream=stream, stream_cls=stream_cls,
            extra_headers=extra_headers, extra_query=extra_query, extra_body=None,
            timeout=timeout, max_retries=max_retries,
        )

    async def post(
        self,
        path: str,
        *,
        cast_to: Any = object,
        body: Mapping[str, object] | None = None,
        files: Mapping[str, object] | None = None,
        content: bytes | None = None,
        content_type: str | None = None,
        query: Mapping[str, object] | None = None,
        options: RequestOptions | Mapping[str, Any] | None = None,
        stream: bool = False,
        stream_cls: Any = None,
        extra_headers: Mapping[str, str | None] | None = None,
        extra_query: Mapping[str, object] | None = None,
        extra_body: Mapping[str, object] | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,  # noqa: ASYNC109
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Any:
        """``POST path``, like ``get``.  ``body`` is sent as JSON; with
        ``files`` (field name -> bytes, path, file object, async iterable
        or ``(filename, content[, content_type])``) the body's fields and
        the files go as ``multipart/form-data``; ``content`` sends raw
        bytes as ``content_type``."""
        return await self._escape(
            "POST", path, cast_to=cast_to, body=body, files=files, content=content,
            content_type=content_type, query=query, options=options, stream=stream,
            stream_cls=stream_cls, extra_headers=extra_headers, extra_query=extra_query,
            extra_body=extra_body, timeout=timeout, max_retries=max_retries,
        )

    async def put(
        self,
        path: str,
        *,
        cast_to: Any = object,
        body: Mapping[str, object] | None = None,
        files: Mapping[str, object] | None = None,
        content: bytes | None = None,
        content_type: str | None = None,
        query: Mapping[str, object] | None = None,
        options: RequestOptions | Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str | None] | None = None,
        extra_query: Mapping[str, object] | None = None,
        extra_body: Mapping[str, object] | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,  # noqa: ASYNC109
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Any:
        """``PUT path``, like ``post``."""
        return await self._escape(
            "PUT", path, cast_to=cast_to, body=body, files=files, content=content,
            content_type=content_type, query=query, options=options, stream=False,
            stream_cls=None, extra_headers=extra_headers, extra_query=extra_query,
            extra_body=extra_body, timeout=timeout, max_retries=max_retries,
        )

    async def patch(
        self,
        path: str,
        *,
        cast_to: Any = object,
        body: Mapping[str, object] | None = None,
        query: Mapping[str, object] | None = None,
        options: RequestOptions | Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str | None] | None = None,
        extra_query: Mapping[str, object] | None = None,
        extra_body: Mapping[str, object] | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,  # noqa: ASYNC109
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Any:
        """``PATCH path`` with a JSON ``body``, like ``get``."""
        return await self._escape(
            "PATCH", path, cast_to=cast_to, body=body, files=None, content=None, content_type=None,
            query=query, options=options, stream=False, stream_cls=None,
            extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body,
            timeout=timeout, max_retries=max_retries,
        )

    async def delete(
        self,
        path: str,
        *,
        cast_to: Any = object,
        body: Mapping[str, object] | None = None,
        query: Mapping[str, object] | None = None,
        options: RequestOptions | Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str | None] | None = None,
        extra_query: Mapping[str, object] | None = None,
        extra_body: Mapping[str, object] | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,  # noqa: ASYNC109
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Any:
        """``DELETE path`` (with an optional JSON ``body``), like ``get``."""
        return await self._escape(
            "DELETE", path, cast_to=cast_to, body=body, files=None, content=None, content_type=None,
            query=query, options=options, stream=False, stream_cls=None,
            extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body,
            timeout=timeout, max_retries=max_retries,
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
        multipart: MultipartBody | None = None,
        content: bytes | None = None,
        content_type: str | None = None,
        response_kind: str = "json",
        streaming: bool = False,
    ) -> Any:
        """Run one logical call; ``parse=None`` means the response has no
        body worth reading (the result is None).  ``raw=True`` returns a
        ``RawResponse`` around the result.

        ``response_kind`` is ``"json"`` (the result of ``parse``),
        ``"binary"`` (a ``BinaryResponse``) or ``"empty"`` (None); with a
        ``stream_decoder`` the call is streamed.  ``streaming=True`` hands
        the response over unread as a ``StreamedBinaryResponse`` (an event
        stream stays an ``AsyncStream``).  ``multipart`` or ``content``
        (with ``content_type``) replace the JSON ``body``."""
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
            idempotency_key=None if method == "GET" else new_idempotency_key(self._urandom(16)),
            multipart=multipart,
            content=content,
            content_type=content_type,
        )
        if stream_decoder is not None:
            response_kind = "stream"
        elif parse is None and response_kind == "json":
            response_kind = "empty"
        lc = CallLifecycle(
            call,
            response_kind=response_kind,  # type: ignore[arg-type]
            parse=parse,
            stream_decoder=stream_decoder,
            stream_body=streaming and stream_decoder is None,
            max_body_bytes=MAX_BODY_BYTES,
            max_error_body_bytes=MAX_ERROR_BODY_BYTES,
        )
        if parse is None:
            parse = _identity
        timeout = call.timeout
        try:
            started = trio.current_time()
        except RuntimeError:
            # The first trio call of every request: outside trio.run it is
            # where trio's bare "must be called from async context" starts.
            raise trio_required(f"a {method} {path} call") from None
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
                return await self._run(lc, limits, started, raw, parse)
            with trio.move_on_at(deadline):
                return await self._run(lc, limits, started, raw, parse)
            # Only reached when the scope cancelled _run.
            raise APITimeoutError(
                "total", math.inf if timeout.total is None else timeout.total, request=call.request()
            )
        except OpenAIError as exc:
            # The core built the errors of responses clean; this reaches
            # the text that came another way (see scrub_secret).
            scrub_secret(exc, call.secrets)
            raise

    async def _run(
        self,
        lc: CallLifecycle,
        limits: Limits,
        started: float,
        raw_response: bool,
        parse: Parse[Any],
    ) -> Any:
        """Carry out the lifecycle's actions until it is done or failed."""
        call = lc.call
        send = lc.start()
        while True:
            request = send.request
            # Checked first: building the URL for a disabled log line is
            # measurable on small requests.
            verbose = logger.isEnabledFor(logging.INFO)
            attempt_started = 0.0
            if verbose and not send.fresh_connection:
                attempt_started = trio.current_time()
                logger.debug(
                    "Request: %s %s (attempt %d)", request.method, _url_for_log(request), call.retries_taken + 1
                )
            exchange: Exchange | None = None
            try:
                exchange = await self._send(request, limits, send.fresh_connection)
                status = exchange.status_code
                action: Action = lc.response_head(status, exchange.headers)
                if type(action) is ReadBody:
                    body, truncated = await exchange.read_body(action.max_bytes)
            except StaleConnectionError as exc:
                action = lc.transport_error(
                    APIConnectionError(str(exc), request=request),
                    reused=True,
                    connection_closed=True,
                    not_processed=isinstance(exc, UnprocessedStreamError),
                    nothing_sent=exc.nothing_sent,
                    jitter=self._jitter(),
                    elapsed=trio.current_time() - started,
                )
                if isinstance(action, SendRequest):
                    logger.debug("Reused connection to %s was closed; sending again", request.origin)
                    send = action
                    continue
            except (APIError, _NotSent) as failure:
                if exchange is not None:
                    await exchange.release(discard=True)
                error = failure.error if isinstance(failure, _NotSent) else failure
                if error.request is None:
                    error.request = request
                if self._pool.closed:
                    # Closed under us: no later attempt can do better.
                    raise error from error.__cause__
                action = lc.transport_error(
                    error,
                    nothing_sent=error is not failure,
                    jitter=self._jitter(),
                    elapsed=trio.current_time() - started,
                )
            except BaseException:
                if exchange is not None:
                    await exchange.release(discard=True)
                raise
            else:
                if verbose:
                    logger.info(
                        'HTTP Request: %s %s "%d" (%.3fs)',
                        request.method, _url_for_log(request), status, trio.current_time() - attempt_started,
                    )
                if type(action) is ReadBody:
                    try:
                        if 200 <= status < 300:
                            # Success never retries: no clock or jitter needed.
                            action = lc.response_body(body, truncated)
                        else:
                            action = lc.response_body(
                                body,
                                truncated,
                                now=self._wall_clock(),
                                jitter=self._jitter(),
                                elapsed=trio.current_time() - started,
                            )
                    except BaseException:
                        await exchange.release(discard=True)
                        raise
                    if type(action) is Done:
                        await exchange.release()
                        return self._done(lc, action.result, exchange, request, body, raw_response)
                    assert isinstance(action, (Retry, Raise))
                    # The raw body may quote a key the server echoed: the
                    # error made from it is scrubbed, this local is not, and
                    # tracebacks that record locals would show it.
                    del body
                    await exchange.release(discard=not action.keep_connection)
                elif isinstance(action, (StartStream, StreamBody)):
                    return self._hand_over(lc, action, exchange, request, raw_response, parse)
                else:  # pragma: no cover - a head is answered with one of the above
                    await exchange.release(discard=True)
            if isinstance(action, Retry):
                error = action.error
                logger.info(
                    "Retrying %s %s in %.3f seconds after %s",
                    request.method,
                    _url_for_log(request),
                    action.delay,
                    f"status {error.status_code}" if isinstance(error, APIStatusError) else type(error).__name__,
                )
                await trio.sleep(action.delay)
                send = lc.start()
                continue
            assert isinstance(action, Raise)
            error = action.error
            if isinstance(error, APIStatusError):
                logger.debug(
                    "%s %s: giving up after %d retries (%.3fs)",
                    request.method, _url_for_log(request), call.retries_taken, trio.current_time() - started,
                )
            else:
                logger.debug("%s %s failed: %s", request.method, _url_for_log(request), error)
            raise error

    def _done(
        self, lc: CallLifecycle, result: Any, exchange: Exchange, request: Request, body: bytes, raw: bool
    ) -> Any:
        headers = exchange.headers
        if lc.response_kind == "binary":
            result = BinaryResponse(result, status_code=exchange.status_code, headers=headers, request=request)
        else:
            _attach_request_id(result, headers.get("x-request-id"))
        if not raw:
            return result
        return RawResponse(
            status_code=exchange.status_code,
            headers=headers,
            http_request=request,
            content=body,
            parsed=result,
            retries_taken=lc.call.retries_taken,
        )

    def _hand_over(
        self,
        lc: CallLifecycle,
        action: StartStream | StreamBody,
        exchange: Exchange,
        request: Request,
        raw: bool,
        parse: Parse[Any],
    ) -> Any:
        """The open response for the caller to read."""
        secret = lc.call.secrets
        handed: Any
        if isinstance(action, StartStream):
            handed = AsyncStream(exchange, action.decoder, request=request, secret=secret)
        else:
            handed = StreamedBinaryResponse(
                exchange, request=request, secret=secret, parse=_body_parser(lc, exchange, parse)
            )
        if not raw:
            return handed
        return RawResponse(
            status_code=exchange.status_code,
            headers=exchange.headers,
            http_request=request,
            content=b"",
            parsed=handed,
            retries_taken=lc.call.retries_taken,
        )

    async def _send(self, request: Request, limits: Limits, fresh: bool = False) -> Exchange:
        """Send ``request`` and wait for the response head.

        ``StaleConnectionError`` (a reused connection the peer had closed)
        goes to the lifecycle, which decides whether to send again on a
        ``fresh`` connection.
        """
        try:
            conn = await self._pool.acquire(request.origin, limits, fresh=fresh)
        except APIError as exc:
            # No connection, so no byte of the request went out: the
            # lifecycle may send it again whatever its method.
            raise _NotSent(exc) from None
        exchange = Exchange(self._pool, conn, limits)
        try:
            await exchange.start(request)
        except BaseException:
            await exchange.release(discard=True)
            raise
        return exchange
