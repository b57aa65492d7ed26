"""Opening transport streams: TCP, and TLS verified against the system store.

Verification is never turned off implicitly: without an explicit
``ssl.SSLContext`` the context comes from ``ssl.create_default_context()``,
which checks the certificate chain and the host name and honours
``SSL_CERT_FILE`` / ``SSL_CERT_DIR``.
"""

from __future__ import annotations

import copy
import ssl

import trio

from openai_sansio import Origin

__all__ = [
    "ALPN_PROTOCOLS", "HTTP11_ALPN", "KEEPALIVE_IDLE", "TCPConnector", "default_ssl_context",
    "tls_failure_message", "tune_socket",
]

# What TLS offers the server, preferred first; the pool speaks whichever
# the server picks.  With http2=False only HTTP/1.1 is offered.
ALPN_PROTOCOLS = ["h2", "http/1.1"]
HTTP11_ALPN = ["http/1.1"]


def default_ssl_context(http2: bool = True) -> ssl.SSLContext:
    """A verifying client context from the system trust store, offering the
    ALPN protocols this client speaks."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(ALPN_PROTOCOLS if http2 else HTTP11_ALPN)
    return context


# What OpenSSL reports when the bytes that came back were not TLS records:
# typically a plain-HTTP server answering the ClientHello with "HTTP/1.1 400".
_NOT_TLS_REASONS = frozenset(
    {"WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE", "HTTP_REQUEST"}
)
# X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH.
_NAME_MISMATCH_CODES = frozenset({62, 64})


def _ssl_error_in(exc: BaseException) -> ssl.SSLError | None:
    # trio raises BrokenResourceError from the ssl error; other connectors
    # may wrap once more.  A few links are plenty and a loop cannot trap us.
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def tls_failure_message(exc: BaseException, host: str, port: int, *, option: str = "ssl_context") -> str | None:
    """What to tell the caller when ``exc`` (from opening a connection to
    ``host``:``port``) is a TLS failure this module can explain: a
    certificate that did not verify, or a server that does not speak TLS.
    ``option`` is the client argument that takes a custom context.  None
    for anything else."""
    error = _ssl_error_in(exc)
    if error is None:
        return None
    if isinstance(error, ssl.SSLCertVerificationError):
        reason = error.verify_message or error.reason or "no reason given"
        if error.verify_code in _NAME_MISMATCH_CODES:
            advice = (
                "Check the host name in the URL: the certificate was issued for another name"
            )
        else:
            advice = (
                f"If the server's certificate comes from a private or corporate CA, pass "
                f"{option}=ssl.create_default_context(cafile=...) with that CA to the client, "
                "or set SSL_CERT_FILE to a CA bundle that includes it"
            )
        return f"the TLS certificate of {host} could not be verified ({reason}). {advice}."
    if error.reason in _NOT_TLS_REASONS:
        return (
            f"the server at {host}:{port} did not speak TLS (ssl: {error.reason}); "
            "is the URL meant to be http://?"
        )
    if isinstance(error, ssl.SSLEOFError):
        return (
            f"the server at {host}:{port} closed the connection during the TLS handshake "
            f"(ssl: {error.reason}); if it does not speak TLS, is the URL meant to be http://?"
        )
    return None


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


# An idle connection is probed after this many seconds, then every
# _KEEPALIVE_INTERVAL, and given up after _KEEPALIVE_COUNT silent probes: a
# peer (or a NAT on the way) that vanished is noticed in about two minutes
# rather than the kernel's default of over two hours.
KEEPALIVE_IDLE = 60
_KEEPALIVE_INTERVAL = 10
_KEEPALIVE_COUNT = 6


def tune_socket(stream: trio.SocketStream) -> None:
    """TCP keepalive on (idle probe after ``KEEPALIVE_IDLE`` seconds) and
    Nagle off, where the platform has the options; never fails."""
    sock = stream.socket
    tcp = trio.socket.IPPROTO_TCP
    options = [
        (trio.socket.SOL_SOCKET, trio.socket.SO_KEEPALIVE, 1),
        (tcp, trio.socket.TCP_NODELAY, 1),
    ]
    # Linux names the idle time TCP_KEEPIDLE, macOS TCP_KEEPALIVE.
    idle = getattr(trio.socket, "TCP_KEEPIDLE", None) or getattr(trio.socket, "TCP_KEEPALIVE", None)
    for name, value in ((idle, KEEPALIVE_IDLE),
                        (getattr(trio.socket, "TCP_KEEPINTVL", None), _KEEPALIVE_INTERVAL),
                        (getattr(trio.socket, "TCP_KEEPCNT", None), _KEEPALIVE_COUNT)):
        if name is not None:
            options.append((tcp, name, value))
    for level, option, value in options:
        try:
            sock.setsockopt(level, option, value)
        except OSError:  # pragma: no cover - a platform without the option
            pass


class TCPConnector:
    """Opens a TCP connection to an origin, wrapped in TLS for ``https``.

    The TLS context is made on first use, so a client that only ever talks
    plain HTTP (or uses another connector) never loads the trust store.  A
    context passed in gets its ALPN protocols set to what this client
    speaks (h2 and http/1.1, or http/1.1 alone with ``http2=False``): the
    pool must understand whatever the server picks.
    """

    def __init__(self, ssl_context: ssl.SSLContext | None = None, *, http2: bool = True) -> None:
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            raise TypeError(f"ssl_context must be an ssl.SSLContext, not {type(ssl_context).__name__}")
        self._ssl_context = ssl_context
        self._alpn_set = False
        # Set once a context passed in is shared with a connector that
        # offers other protocols (see http11_only): ALPN is then set again
        # on every use, just before the TLS object copies it.
        self._shared_alpn = False
        self.http2 = http2

    @property
    def ssl_context(self) -> ssl.SSLContext:
        context = self._ssl_context
        if context is None:
            context = self._ssl_context = default_ssl_context(self.http2)
            self._own_context = True
        elif not self._alpn_set or self._shared_alpn:
            context.set_alpn_protocols(ALPN_PROTOCOLS if self.http2 else HTTP11_ALPN)
        self._alpn_set = True
        return context

    _own_context = False

    def http11_only(self) -> TCPConnector:
        """A copy (same proxies, same trust) that offers only HTTP/1.1 in
        ALPN: a WebSocket upgrade is an HTTP/1.1 exchange, and a server
        offered h2 would pick it.

        A context this connector made for itself is not shared: the copy
        makes its own.  A context passed in is shared; both connectors then
        set its ALPN list each time they start TLS, which is safe because
        the TLS object copies the list when it is made, with no checkpoint
        in between.
        """
        clone = copy.copy(self)
        clone.http2 = False
        clone._alpn_set = False
        if self._own_context or self._ssl_context is None:
            clone._ssl_context = None
            clone._own_context = False
        else:
            self._shared_alpn = clone._shared_alpn = True
        return clone

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
        tune_socket(tcp)
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
