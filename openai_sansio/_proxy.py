"""Which proxy a request goes through: a pure function of the origin and the
environment.

Precedence, for an origin with scheme ``s`` (``http`` or ``https``):

1. ``no_proxy`` (else ``NO_PROXY``) lists hosts reached directly;
2. ``s_proxy`` (else ``S_PROXY``): ``https_proxy`` for https origins,
   ``http_proxy`` for http ones;
3. ``all_proxy`` (else ``ALL_PROXY``).

The lower-case name wins over the upper-case one, as curl and most HTTP
libraries read them.  Under CGI (``REQUEST_METHOD`` set), ``HTTP_PROXY``
comes from the request's ``Proxy:`` header, so it is ignored there; the
lower-case ``http_proxy`` still counts.  An empty value means unset.

``no_proxy`` entries are separated by commas or spaces.  ``*`` alone
turns proxies off for every origin.  A host name entry matches itself and
its subdomains (a leading ``.`` is optional), case-insensitively; an entry
with ``:port`` matches only that port; an IP address entry (IPv6 with or
without brackets) matches that address; a CIDR range (``10.0.0.0/8``,
``fd00::/8``) matches addresses in it.  Host names are never resolved:
ranges apply to origins given as IP literals only.
"""

from __future__ import annotations

import base64
import ipaddress
from typing import Mapping
from urllib.parse import unquote, urlsplit

import attrs

from ._errors import LocalProtocolError
from ._request import Origin

__all__ = ["Proxy", "select_proxy"]

_DEFAULT_PORTS = {"http": 80, "https": 443, "socks4": 1080, "socks4a": 1080, "socks5": 1080, "socks5h": 1080}


@attrs.frozen(repr=False)
class Proxy:
    """A proxy to send requests through.

    ``origin`` is where to connect (its scheme is the proxy's own:
    ``http``, ``https`` or a ``socks*`` one, which the runtime may refuse).
    ``username`` and ``password`` come from the URL's userinfo; they are
    sent as ``Proxy-Authorization`` and never shown by the repr.
    """

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = attrs.field(default=None, eq=False)

    @property
    def origin(self) -> Origin:
        return Origin("https" if self.scheme == "https" else "http", self.host, self.port)

    @property
    def is_socks(self) -> bool:
        return self.scheme.startswith("socks")

    @property
    def url(self) -> str:
        """The proxy's URL without its credentials (safe to log)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def authorization(self) -> str | None:
        """The ``Proxy-Authorization`` value (Basic), or None without a
        username."""
        if self.username is None:
            return None
        raw = f"{self.username}:{self.password or ''}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def __repr__(self) -> str:
        creds = ", credentials=<redacted>" if self.username is not None else ""
        return f"Proxy({self.url!r}{creds})"


def _env(environ: Mapping[str, str], name: str, *, cgi: bool) -> str | None:
    value = environ.get(name.lower())
    if value is None or not value.strip():
        if cgi and name == "HTTP_PROXY":
            # httpoxy: under CGI this is the client's "Proxy:" request header.
            return None
        value = environ.get(name.upper())
    if value is None or not value.strip():
        return None
    return value.strip()


def parse_proxy_url(value: str) -> Proxy:
    """A ``Proxy`` from a proxy URL (``host:port`` alone means http).

    Raises ``LocalProtocolError`` for a URL that is not one; the message
    never repeats the URL, which may carry a password.
    """
    text = value.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise LocalProtocolError("a proxy URL in the environment has an invalid host or port") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise LocalProtocolError(f"proxy scheme {scheme!r} is not supported (use http, https or socks5)")
    host = (parts.hostname or "").rstrip(".")
    if not host or port == 0 or any(c in host for c in " \t\r\n/\\"):
        raise LocalProtocolError("a proxy URL in the environment has no valid host")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return Proxy(scheme, host, port or _DEFAULT_PORTS[scheme], username, password)


def _host_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").partition("%")[0])
    except ValueError:
        return None


def _entry_matches(entry: str, host: str, ip: object, port: int) -> bool:
    # Entries come from str.split(): never empty, never padded.
    entry = entry.lower()
    if entry == "*":
        return True
    # A port, unless the entry is a bare IPv6 address (its colons are not one).
    want_port: int | None = None
    if entry.startswith("["):
        inside, _, rest = entry[1:].partition("]")
        if rest.startswith(":") and rest[1:].isdigit():
            want_port = int(rest[1:])
        entry = inside
    elif entry.count(":") == 1:
        name, _, digits = entry.partition(":")
        if not digits.isdigit():
            return False
        entry, want_port = name, int(digits)
    if want_port is not None and want_port != port:
        return False
    if "/" in entry:
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return False
        return ip is not None and ip in network
    entry_ip = _host_ip(entry)
    if entry_ip is not None:
        return ip is not None and ip == entry_ip
    name = entry.lstrip(".").rstrip(".")
    if not name:
        return False
    return host == name or host.endswith("." + name)


def bypasses_proxy(origin: Origin, no_proxy: str) -> bool:
    """Whether ``no_proxy`` (a ``NO_PROXY`` value) lists ``origin``."""
    host = origin.host.lower().rstrip(".")
    ip = _host_ip(host)
    entries = no_proxy.replace(",", " ").split()
    return any(_entry_matches(entry, host, ip, origin.port) for entry in entries)


def select_proxy(origin: Origin, environ: Mapping[str, str]) -> Proxy | None:
    """The proxy for ``origin`` by ``environ`` (for example ``os.environ``),
    or None to connect directly.  See the module docstring for the rules."""
    cgi = "REQUEST_METHOD" in environ
    no_proxy = _env(environ, "NO_PROXY", cgi=cgi)
    if no_proxy is not None and bypasses_proxy(origin, no_proxy):
        return None
    value = _env(environ, f"{origin.scheme.upper()}_PROXY", cgi=cgi) or _env(environ, "ALL_PROXY", cgi=cgi)
    if value is None:
        return None
    return parse_proxy_url(value)
