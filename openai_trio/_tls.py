"""Opening transport streams: TCP, and TLS verified against the system store.

Verification is never turned off implicitly: without an explicit
``ssl.SSLContext`` the context comes from ``ssl.create_default_context()``,
which checks the certificate chain and the host name and honours
``SSL_CERT_FILE`` / ``SSL_CERT_DIR``.
"""

from __future__ import annotations

import ssl

import trio

from openai_sansio import Origin

__all__ = ["ALPN_PROTOCOLS", "TCPConnector", "default_ssl_context"]

# HTTP/2 ("h2") goes first in this list once the pool can speak it.
ALPN_PROTOCOLS = ["http/1.1"]


def default_ssl_context() -> ssl.SSLContext:
    """A verifying client context from the system trust store, offering the
    ALPN protocols this client speaks."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(ALPN_PROTOCOLS)
    return context


def _sole_cancelled(exc: BaseException) -> trio.Cancelled | None:
    """The first ``trio.Cancelled`` in the exception group ``exc`` if that
    is all the group holds, else None (duck-typed: ``BaseExceptionGroup``
    is not a builtin before Python 3.11)."""
    inner = getattr(exc, "exceptions", None)
    if not isinstance(inner, tuple) or not inner:
        return None
    first: trio.Cancelled | None = None
    for item in inner:
        found = item if isinstance(item, trio.Cancelled) else _sole_cancelled(item)
        if found is None:
            return None
        if first is None:
            first = found
    return first


class TCPConnector:
    """Opens a TCP connection to an origin, wrapped in TLS for ``https``.

    The TLS context is made on first use, so a client that only ever talks
    plain HTTP (or uses another connector) never loads the trust store.
    """

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            raise TypeError(f"ssl_context must be an ssl.SSLContext, not {type(ssl_context).__name__}")
        self._ssl_context = ssl_context

    @property
    def ssl_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = default_ssl_context()
        return self._ssl_context

    async def __call__(self, origin: Origin) -> trio.abc.Stream:
        try:
            tcp = await trio.open_tcp_stream(origin.host, origin.port)
        except BaseException as exc:
            # Cancelled while connecting, trio's happy-eyeballs nursery hands
            # back its Cancelled wrapped in a group; callers of this client
            # see trio's own Cancelled in every other phase, so here too.
            # Anything else goes on exactly as raised.
            cancelled = _sole_cancelled(exc)
            if cancelled is None:
                raise
            raise cancelled from None
        if origin.scheme != "https":
            return tcp
        # From here on the socket is ours to close if anything goes wrong,
        # including the TLS object refusing the host name.
        try:
            try:
                tls = trio.SSLStream(
                    tcp, self.ssl_context, server_hostname=origin.host, https_compatible=True
                )
            except ValueError as exc:
                # A name the TLS layer cannot put in SNI (idna limits): a
                # connection failure like any other, not a crash.
                raise OSError(f"cannot start TLS for host {origin.host!r}: {exc}") from exc
            await tls.do_handshake()
        except BaseException:
            await trio.aclose_forcefully(tcp)
            raise
        return tls
