"""HTTP CONNECT through a proxy, sans-IO.

``TunnelConnection`` carries one ``CONNECT host:port`` over h11, the way
wsproto carries its handshake: ``send()`` queues the request (with
``Proxy-Authorization`` when the proxy has credentials), ``receive_data()``
takes the proxy's bytes (``b""`` is end of file), and ``next_event()``
returns ``NEED_DATA`` until the answer is complete, then
``TunnelEstablished`` whose ``trailing`` bytes already belong to the next
layer (TLS to the origin, or HTTP).  A refusal raises ``ProxyError`` with
the proxy's status; bytes that are not HTTP raise ``RemoteProtocolError``.
"""

from __future__ import annotations

import attrs
import h11

from ._errors import APIConnectionError, LocalProtocolError, RemoteProtocolError
from ._events import NEED_DATA, Sentinel
from ._proxy import Proxy
from ._redact import RedactedBytes
from ._request import Origin

__all__ = ["ProxyError", "TunnelConnection", "TunnelEstablished"]


class ProxyError(APIConnectionError):
    """The proxy refused the tunnel; ``status_code`` is its answer (407:
    it wants other credentials), or 0 when no proxy of that kind can be used
    (a SOCKS proxy).  Not retried: another attempt would get the same
    answer."""

    def __init__(self, message: str, *, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


@attrs.frozen(repr=False)
class TunnelEstablished:
    """The tunnel is open; ``trailing`` is what the proxy sent past its answer."""

    status_code: int
    trailing: bytes = b""

    def __repr__(self) -> str:
        return f"TunnelEstablished(status_code={self.status_code}, trailing=<{len(self.trailing)} bytes>)"


def _authority(origin: Origin) -> str:
    host = f"[{origin.host}]" if ":" in origin.host else origin.host
    return f"{host}:{origin.port}"


class TunnelConnection:
    """One ``CONNECT`` to ``target`` through ``proxy``."""

    def __init__(self, target: Origin, proxy: Proxy, *, max_head_size: int = 64 * 1024) -> None:
        if not isinstance(target, Origin) or not isinstance(proxy, Proxy):
            raise LocalProtocolError("TunnelConnection needs an Origin and a Proxy")
        if proxy.is_socks:
            raise LocalProtocolError(f"{proxy.scheme} proxies do not take CONNECT; only http(s) proxies do")
        self.target = target
        self.proxy = proxy
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=max_head_size)
        self._sent = False
        self._done = False
        self._out = b""

    def __repr__(self) -> str:
        return f"<TunnelConnection to {_authority(self.target)} via {self.proxy.url}>"

    def send(self) -> None:
        """Queue the ``CONNECT`` request."""
        if self._sent:
            raise LocalProtocolError("the CONNECT request was already sent")
        authority = _authority(self.target).encode("ascii", "strict")
        headers = [(b"host", authority)]
        auth = self.proxy.authorization()
        if auth is not None:
            headers.append((b"proxy-authorization", auth.encode("ascii")))
        try:
            # The head carries the proxy's credential: a short repr.
            self._out = RedactedBytes(
                self._h11.send(h11.Request(method=b"CONNECT", target=authority, headers=headers))
                + (self._h11.send(h11.EndOfMessage()) or b"")
            )
        except h11.LocalProtocolError:
            # The message may quote a header: the credential stays out of it.
            raise LocalProtocolError(f"cannot ask the proxy for {_authority(self.target)}") from None
        self._sent = True

    def data_to_send(self) -> bytes:
        out, self._out = self._out, b""
        return out

    def receive_data(self, data: bytes) -> None:
        if self._done:
            raise LocalProtocolError("the tunnel is established: its bytes belong to the next layer")
        self._h11.receive_data(data)

    def next_event(self) -> TunnelEstablished | Sentinel:
        """``NEED_DATA`` or the established tunnel (once); raises on refusal."""
        if not self._sent:
            raise LocalProtocolError("send() the CONNECT request first")
        if self._done:
            raise LocalProtocolError("the tunnel was already established")
        try:
            event = self._h11.next_event()
        except h11.RemoteProtocolError as exc:
            raise RemoteProtocolError(f"the proxy's answer is not HTTP: {exc}") from None
        if event is h11.NEED_DATA:
            return NEED_DATA
        if isinstance(event, h11.ConnectionClosed):  # pragma: no cover - h11 raises first
            raise RemoteProtocolError("the proxy closed the connection before answering CONNECT")
        if isinstance(event, h11.InformationalResponse):
            return self.next_event()
        assert isinstance(event, h11.Response)
        if not 200 <= event.status_code < 300:
            reason = event.reason.decode("latin-1", "replace")[:100]
            raise ProxyError(
                f"the proxy refused to tunnel to {_authority(self.target)}: {event.status_code} {reason}",
                status_code=event.status_code,
            )
        self._done = True
        trailing, _closed = self._h11.trailing_data
        return TunnelEstablished(event.status_code, bytes(trailing))
