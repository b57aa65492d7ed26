"""Opening transport streams through HTTP proxies.

``ProxyConnector`` is a ``TCPConnector`` that picks a proxy for each origin
(an explicit one, or the environment's by ``openai_sansio.select_proxy``)
and then:

* for an ``https`` origin, asks the proxy for a ``CONNECT`` tunnel
  (``openai_sansio.TunnelConnection``) and runs TLS to the origin inside it,
  with the same context and ALPN list as a direct connection;
* for an ``http`` origin, returns the stream to the proxy wrapped in a
  ``ForwardingStream``, for which the pool builds an ``HTTP11Connection``
  that sends absolute-form targets and ``Proxy-Authorization``; except for
  WebSockets (``for_websockets()``), which tunnel ``ws://`` too, with no
  TLS inside the tunnel.

An ``https://`` proxy URL gets TLS to the proxy first (its own context,
offering only HTTP/1.1: CONNECT and forwarding are HTTP/1.1 exchanges,
whatever ``ALPN_PROTOCOLS`` offers origins).  SOCKS proxies are refused when a connection is
opened, with an ``APIConnectionError`` that says what to do instead.

The pool keys connections by origin alone.  For one client the proxy is a
fixed function of the origin (the environment is read once), so that is the
same as keying by (proxy, origin).
"""

from __future__ import annotations

import os
import ssl
from typing import Mapping

import trio

from openai_sansio import (
    NOT_GIVEN,
    APIConnectionError,
    LocalProtocolError,
    NotGiven,
    Origin,
    Proxy,
    ProxyError,
    TunnelConnection,
    TunnelEstablished,
    select_proxy,
)
from openai_sansio._proxy import parse_proxy_url

from ._logging import logger
from ._tls import TCPConnector, tls_failure_message

__all__ = ["ForwardingStream", "ProxyConnector", "PROXY_VARIABLES", "proxy_environ"]

# The variables select_proxy reads, in the two spellings it accepts;
# REQUEST_METHOD tells it a CGI environment is in effect.
PROXY_VARIABLES = (
    *(name for base in ("https_proxy", "http_proxy", "all_proxy", "no_proxy") for name in (base, base.upper())),
    "REQUEST_METHOD",
)

# A CONNECT answer is a short head; one read almost always holds it.
_READ_SIZE = 16 * 1024


def proxy_environ(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The proxy variables of ``environ`` (``os.environ`` by default), copied:
    a client reads its environment once, when it is built."""
    env = os.environ if environ is None else environ
    return {name: env[name] for name in PROXY_VARIABLES if name in env}


def _has_proxy(environ: Mapping[str, str]) -> bool:
    return any(
        value.strip() for name, value in environ.items() if name.lower() != "no_proxy" and name != "REQUEST_METHOD"
    )


def default_proxy_ssl_context() -> ssl.SSLContext:
    """A verifying context for TLS to an ``https://`` proxy.  CONNECT and
    forwarding are spoken in HTTP/1.1, so that is all it offers, whatever a
    direct connection offers."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    return context


class _StreamWrapper(trio.abc.Stream):
    """A stream that passes everything on to ``transport_stream``."""

    def __init__(self, transport_stream: trio.abc.Stream) -> None:
        self.transport_stream = transport_stream

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.transport_stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.transport_stream.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.transport_stream.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.transport_stream.aclose()


class _PrefixedStream(_StreamWrapper):
    """Hands out ``prefix`` (what the proxy sent past its CONNECT answer)
    before reading the transport: those bytes belong to the next layer."""

    def __init__(self, transport_stream: trio.abc.Stream, prefix: bytes) -> None:
        super().__init__(transport_stream)
        self._prefix = prefix

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        prefix = self._prefix
        if not prefix:
            return await self.transport_stream.receive_some(max_bytes)
        # A checkpoint, as every receive_some must be.
        await trio.lowlevel.checkpoint()
        size = len(prefix) if max_bytes is None else max_bytes
        self._prefix = prefix[size:]
        return prefix[:size]


class ForwardingStream(_StreamWrapper):
    """A stream to a forwarding proxy for plain-HTTP requests;
    ``forward_proxy`` is the proxy (the pool frames requests for it)."""

    def __init__(self, transport_stream: trio.abc.Stream, forward_proxy: Proxy) -> None:
        super().__init__(transport_stream)
        self.forward_proxy = forward_proxy

    def __repr__(self) -> str:
        return f"<ForwardingStream via {self.forward_proxy.url}>"


class ProxyConnector(TCPConnector):
    """A ``TCPConnector`` that goes through HTTP(S) proxies.

    ``proxy`` is a proxy URL (``http://[user:password@]host:port`` or
    ``https://...``) used for every origin; ``None`` or ``""`` connects
    directly; left out, the proxy comes from ``environ`` (``os.environ`` by
    default, read here once): ``HTTPS_PROXY`` / ``HTTP_PROXY`` /
    ``ALL_PROXY`` and ``NO_PROXY``, as ``openai_sansio.select_proxy`` reads
    them.  ``ssl_context`` is for TLS to origins (as for ``TCPConnector``),
    ``proxy_ssl_context`` for TLS to an ``https://`` proxy.

    A proxy URL given here that is not one raises ``ValueError`` now; one
    from the environment fails the connections it applies to with
    ``LocalProtocolError``.  A SOCKS proxy fails them with
    ``APIConnectionError``.  Credentials never appear in reprs, logs or
    error messages.
    """

    def __init__(
        self,
        ssl_context: ssl.SSLContext | None = None,
        *,
        proxy: str | NotGiven | None = NOT_GIVEN,
        environ: Mapping[str, str] | None = None,
        proxy_ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(ssl_context)
        if proxy_ssl_context is not None and not isinstance(proxy_ssl_context, ssl.SSLContext):
            raise TypeError(
                f"proxy_ssl_context must be an ssl.SSLContext, not {type(proxy_ssl_context).__name__}"
            )
        self._proxy_ssl_context = proxy_ssl_context
        self._explicit: Proxy | None = None
        self._environ: dict[str, str] | None = None
        if proxy is NOT_GIVEN:
            self._environ = proxy_environ(environ)
        elif proxy is not None and not isinstance(proxy, str):
            raise TypeError(f"proxy must be a URL string or None, not {type(proxy).__name__}")
        elif proxy and proxy.strip():
            try:
                self._explicit = parse_proxy_url(proxy)
            except LocalProtocolError as exc:
                # The core's wording is for the environment; this one was
                # passed in.  Neither ever quotes the URL.
                detail = str(exc).replace("a proxy URL in the environment has ", "")
                raise ValueError(f"proxy= is not a usable proxy URL: {detail}") from None
        # The proxy for each origin seen, so the environment's rules run
        # once per origin rather than once per connection.
        self._selected: dict[Origin, Proxy | None] = {}

    #: Tunnel ``http`` origins too (CONNECT, no TLS inside) instead of
    #: forwarding: a WebSocket upgrade must reach the origin itself, and
    #: forwarding proxies do not pass one on.
    tunnel_http = False

    def for_websockets(self) -> ProxyConnector:
        """A copy (same proxies, same trust, offering only HTTP/1.1) that
        tunnels every origin, ``ws://`` ones included."""
        clone = self.http11_only()
        assert isinstance(clone, ProxyConnector)
        clone.tunnel_http = True
        return clone

    def __repr__(self) -> str:
        if self._explicit is not None:
            return f"<ProxyConnector proxy={self._explicit.url}>"
        if self._environ is not None:
            return "<ProxyConnector proxy=from the environment>"
        return "<ProxyConnector proxy=None>"

    @property
    def proxy_ssl_context(self) -> ssl.SSLContext:
        if self._proxy_ssl_context is None:
            self._proxy_ssl_context = default_proxy_ssl_context()
        return self._proxy_ssl_context

    def proxy_for(self, origin: Origin) -> Proxy | None:
        """The proxy connections to ``origin`` go through (None: direct)."""
        try:
            return self._selected[origin]
        except KeyError:
            pass
        # select_proxy raises LocalProtocolError for a variable that is not
        # a URL; nothing is cached then, so each attempt says so afresh.
        proxy = self._explicit if self._environ is None else select_proxy(origin, self._environ)
        self._selected[origin] = proxy
        return proxy

    async def __call__(self, origin: Origin) -> trio.abc.Stream:
        proxy = self.proxy_for(origin)
        if proxy is None:
            return await super().__call__(origin)
        if proxy.is_socks:
            source = "proxy=" if self._environ is None else "the environment (ALL_PROXY, HTTPS_PROXY, HTTP_PROXY)"
            # A ProxyError, so it is not retried: every attempt would fail alike.
            raise ProxyError(
                f"SOCKS proxies are not supported: {source} names {proxy.url} for {origin}. "
                "Use an http:// or https:// proxy, list the host in NO_PROXY, or pass proxy=None "
                "(or trust_env=False) to connect directly",
                status_code=0,
            )
        # The URL without its credentials.
        logger.debug("Connecting to %s through the proxy %s", origin, proxy.url)
        stream = await self._open_proxy(proxy)
        try:
            if origin.scheme == "https" or self.tunnel_http:
                return await self._tunnel(origin, proxy, stream)
            return ForwardingStream(stream, proxy)
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise

    async def _open_proxy(self, proxy: Proxy) -> trio.abc.Stream:
        """TCP to the proxy, with TLS for an ``https://`` one."""
        try:
            tcp = await super().__call__(Origin("http", proxy.host, proxy.port))
        except OSError as exc:
            raise APIConnectionError(f"Could not connect to the proxy {proxy.url}: {exc!r}") from exc
        if proxy.scheme != "https":
            return tcp
        try:
            tls = await _start_tls(tcp, self.proxy_ssl_context, proxy.host)
            chosen = tls.selected_alpn_protocol()
            if chosen not in (None, "http/1.1"):
                raise APIConnectionError(
                    f"the proxy {proxy.url} chose {chosen!r} in ALPN; it is spoken to in HTTP/1.1 only"
                )
        except BaseException as exc:
            await trio.aclose_forcefully(tcp)
            if isinstance(exc, (OSError, trio.BrokenResourceError)):
                detail = tls_failure_message(exc, proxy.host, proxy.port, option="proxy_ssl_context")
                raise APIConnectionError(f"TLS to the proxy {proxy.url} failed: {detail or repr(exc)}") from exc
            raise
        return tls

    async def _tunnel(self, origin: Origin, proxy: Proxy, stream: trio.abc.Stream) -> trio.abc.Stream:
        """CONNECT to ``origin`` through ``stream``, then TLS to an ``https`` origin."""
        tunnel = TunnelConnection(origin, proxy)
        tunnel.send()
        try:
            await stream.send_all(tunnel.data_to_send())
            while True:
                event = tunnel.next_event()
                if isinstance(event, TunnelEstablished):
                    break
                data = await stream.receive_some(_READ_SIZE)
                if not data:
                    raise APIConnectionError(
                        f"the proxy {proxy.url} closed the connection before answering CONNECT"
                    )
                tunnel.receive_data(bytes(data))
        except (OSError, trio.BrokenResourceError) as exc:
            raise APIConnectionError(f"the connection to the proxy {proxy.url} failed during CONNECT: {exc!r}") from exc
        inner = stream if not event.trailing else _PrefixedStream(stream, event.trailing)
        if origin.scheme != "https":
            return inner
        # Failures here are the origin's TLS: the pool reports them as a
        # connection error to the origin.
        return await _start_tls(inner, self.ssl_context, origin.host)


async def _start_tls(stream: trio.abc.Stream, context: ssl.SSLContext, host: str) -> trio.SSLStream[trio.abc.Stream]:
    try:
        tls = trio.SSLStream(stream, context, server_hostname=host, https_compatible=True)
    except ValueError as exc:
        # A name TLS cannot put in SNI: a connection failure, not a crash.
        raise OSError(f"cannot start TLS for host {host!r}: {exc}") from exc
    await tls.do_handshake()
    return tls


def make_connector(
    ssl_context: ssl.SSLContext | None,
    *,
    proxy: str | NotGiven | None,
    trust_env: bool,
    proxy_ssl_context: ssl.SSLContext | None,
) -> TCPConnector:
    """The connector a client builds for itself: a plain ``TCPConnector``
    unless some proxy may apply (so a client without proxies pays nothing)."""
    if proxy is NOT_GIVEN:
        environ = proxy_environ() if trust_env else {}
        if not _has_proxy(environ):
            return TCPConnector(ssl_context)
        return ProxyConnector(ssl_context, environ=environ, proxy_ssl_context=proxy_ssl_context)
    if proxy is None or (isinstance(proxy, str) and not proxy.strip()):
        return TCPConnector(ssl_context)
    return ProxyConnector(ssl_context, proxy=proxy, proxy_ssl_context=proxy_ssl_context)
