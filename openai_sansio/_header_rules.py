"""What may go into a request's method, target and header fields, for both
HTTP/1.1 and HTTP/2.

Calls check headers when they are built (``_call.py``), multipart parts check
their own part headers, and each connection checks again what it puts on the
wire: all of them use the patterns and functions here, so the two protocols
cannot drift apart on what a valid field is.  Messages name the header but
never quote its value, which may be a credential.
"""

from __future__ import annotations

import re

from ._errors import LocalProtocolError
from ._request import Origin

__all__ = [
    "TOKEN",
    "TARGET",
    "BAD_VALUE_CHAR",
    "HOST",
    "DEFAULT_PORTS",
    "HTTP11_REFUSED",
    "HTTP2_REFUSED",
    "check_request_line",
    "check_name",
    "check_value",
    "encode_value",
    "authority",
]

# RFC 9110 token characters: methods and field names.
TOKEN = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
# A target is sent as is: printable ASCII only, so percent-encoding is the
# caller's job and nothing can split the request line.
TARGET = re.compile(r"/[\x21-\x7e]*")
# Field values: HTAB, visible ASCII, SP and obs-text.  Everything else is a
# control character (the CR/LF/NUL of header injection among them) or text
# latin-1 cannot carry.
BAD_VALUE_CHAR = re.compile(r"[^\t\x20-\x7e\x80-\xff]")
# reg-name, IPv4 and IPv6 characters; "@", "/", "?", "#" and brackets would
# change what the Host header (or :authority) means.
HOST = re.compile(r"[A-Za-z0-9\-._~%!$&'()*+,;=:]+")
DEFAULT_PORTS = {"http": 80, "https": 443}

# The connection frames the body and owns the protocol; these would fight it.
HTTP11_REFUSED = {
    "transfer-encoding": "the connection frames the body itself",
    "upgrade": "protocol upgrades are not supported",
}
# HTTP/2 has no connection-specific fields (RFC 9113 8.2.2): a peer must
# treat a request carrying one as malformed.  "te" is allowed only as
# "trailers", checked where it is sent.
HTTP2_REFUSED = {
    **HTTP11_REFUSED,
    "connection": "HTTP/2 has no connection-specific header fields",
    "keep-alive": "HTTP/2 has no connection-specific header fields",
    "proxy-connection": "HTTP/2 has no connection-specific header fields",
}


def check_request_line(method: str, target: str) -> None:
    """``LocalProtocolError`` unless ``method`` is a token other than
    CONNECT and ``target`` an origin-form path of printable ASCII."""
    if not TOKEN.fullmatch(method):
        raise LocalProtocolError(f"invalid HTTP method {method[:40]!r}")
    if method.upper() == "CONNECT":
        raise LocalProtocolError("CONNECT requests are not supported")
    # The target may hold a credential in its query string, so the message
    # never quotes it.
    if not TARGET.fullmatch(target):
        raise LocalProtocolError(
            "invalid request target: it must start with '/' and contain "
            "only printable ASCII (no spaces or control characters)"
        )


def check_name(name: str) -> tuple[str, bytes]:
    """The lower-cased name and its wire form; ``LocalProtocolError`` when
    ``name`` is not a token."""
    if not TOKEN.fullmatch(name):
        raise LocalProtocolError(f"invalid header name {name[:40]!r}")
    lname = name.lower()
    return lname, lname.encode("ascii")


def check_value(name: str, value: str) -> str:
    """``value`` without surrounding spaces and tabs (they are not part of a
    field value); ``LocalProtocolError`` naming ``name`` when it holds a
    character no field value may carry."""
    value = value.strip(" \t")
    bad = BAD_VALUE_CHAR.search(value)
    if bad is not None:
        what = "a character outside latin-1" if ord(bad.group()) > 0xFF else "a control character"
        raise LocalProtocolError(f"header {name!r} has a value containing {what}")
    return value


def encode_value(name: str, value: str) -> bytes:
    """``check_value``, encoded for the wire."""
    return check_value(name, value).encode("latin-1")


def authority(origin: Origin) -> bytes:
    """The Host header (HTTP/1.1) or ``:authority`` (HTTP/2) for ``origin``:
    the port only when it is not the scheme's default, IPv6 in brackets."""
    if not HOST.fullmatch(origin.host):
        raise LocalProtocolError(f"invalid host {origin.host[:80]!r}")
    host = f"[{origin.host}]" if ":" in origin.host else origin.host
    if DEFAULT_PORTS.get(origin.scheme) != origin.port:
        host = f"{host}:{origin.port}"
    return host.encode("ascii")
