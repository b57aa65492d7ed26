"""Client configuration: immutable, safe to print."""

from __future__ import annotations

import enum
import os
from typing import Any, Final, Literal, Mapping, Union
from urllib.parse import quote, urlsplit

import attrs

from ._errors import LocalProtocolError
from ._header_rules import TOKEN, check_value
from ._headers import SECRET_HEADERS
from ._redact import request_secrets
from ._request import Origin

__all__ = ["ClientConfig", "Timeout", "DEFAULT_BASE_URL"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"


def _check_limit(_inst: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not value > 0:
        raise LocalProtocolError(f"timeout {attribute.name} must be positive or None, got {value!r}")


class _Unset(enum.Enum):
    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


_UNSET: Final = _Unset.UNSET
_Limit = Union[float, None, Literal[_Unset.UNSET]]

# The official SDK's default: ten minutes for everything but connecting.
_DEFAULT_LIMIT = 600.0
_DEFAULT_CONNECT = 5.0


@attrs.frozen(init=False)
class Timeout:
    """Time limits in seconds; ``None`` means no limit.

    ``connect`` bounds opening a connection (TCP and TLS), ``read`` the gap
    between two received pieces of data, ``write`` one send, ``pool``
    waiting for a free connection.  ``total`` (off unless asked for) bounds
    one logical call including all its retries, its backoff sleeps and
    reading a stream to its end.

    As with ``httpx.Timeout``, a positional number (or None) sets the four
    per-operation limits at once and keywords then override single ones:
    ``Timeout(600, connect=5)``.  Without it, a limit not named keeps its
    default (connect 5 s, the others 600 s).
    """

    connect: float | None = attrs.field(validator=_check_limit)
    read: float | None = attrs.field(validator=_check_limit)
    write: float | None = attrs.field(validator=_check_limit)
    pool: float | None = attrs.field(validator=_check_limit)
    total: float | None = attrs.field(validator=_check_limit)

    def __init__(
        self,
        timeout: Timeout | float | Literal[_Unset.UNSET] | None = _UNSET,
        *,
        connect: _Limit = _UNSET,
        read: _Limit = _UNSET,
        write: _Limit = _UNSET,
        pool: _Limit = _UNSET,
        total: float | None = None,
    ) -> None:
        if isinstance(timeout, Timeout):
            base = (timeout.connect, timeout.read, timeout.write, timeout.pool)
            total = timeout.total if total is None else total
        elif timeout is _UNSET:
            base = (_DEFAULT_CONNECT, _DEFAULT_LIMIT, _DEFAULT_LIMIT, _DEFAULT_LIMIT)
        else:
            seconds = _seconds(timeout)
            base = (seconds, seconds, seconds, seconds)
        c, r, w, p = (
            b if v is _UNSET else _seconds(v)
            for b, v in zip(base, (connect, read, write, pool), strict=True)
        )
        self.__attrs_init__(connect=c, read=r, write=w, pool=p, total=_seconds(total))

    @classmethod
    def coerce(cls, value: Timeout | float | None) -> Timeout:
        """Accept a ``Timeout``, a number or None.

        A number is the limit for each of connect, read, write and pool, as
        in the official SDK: never a deadline for the whole call, so a long
        stream that keeps sending is never cut.  None removes every limit.
        """
        if isinstance(value, Timeout):
            return value
        return cls(value)


def _seconds(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LocalProtocolError(f"timeout must be a Timeout, a number or None, not {type(value).__name__}")
    return float(value)


def _coerce_timeout(value: Timeout | float | None) -> Timeout:
    return Timeout.coerce(value)


def _base_url(value: str) -> str:
    if not isinstance(value, str):
        raise LocalProtocolError("base_url must be a string")
    # Checked before anything echoes the URL: it may carry credentials.
    if not all("\x21" <= c <= "\x7e" for c in value):
        raise LocalProtocolError(
            "base_url must be visible ASCII (no whitespace or control characters; "
            "use punycode and percent-encoding for anything else)"
        )
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise LocalProtocolError("base_url has an invalid host or port") from None
    if "@" in parts.netloc:
        raise LocalProtocolError("base_url must not carry credentials; pass api_key instead")
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        # Shown without its query string and fragment, which may hold a key.
        shown = f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.scheme else parts.path
        cut = "?..." if parts.query or parts.fragment else ""
        raise LocalProtocolError(f"base_url must be an absolute http(s) URL, got {shown[:200]!r}{cut}")
    if parts.query or parts.fragment:
        raise LocalProtocolError("base_url must not carry a query string or fragment; use default_query")
    return value.rstrip("/")


def _freeze_mapping(
    value: Mapping[str, str] | tuple[tuple[str, str], ...] | None,
) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    items = value.items() if isinstance(value, Mapping) else value
    return tuple((str(k), str(v)) for k, v in items)


def _freeze_headers(
    value: Mapping[str, str] | tuple[tuple[str, str], ...] | None,
) -> tuple[tuple[str, str], ...]:
    # Checked here, when the client is built: a value that is not text, or
    # one no header can carry, is the caller's mistake, and no request should
    # be attempted with it.  Messages name the header, never the value (an
    # Azure "api-key" often travels in default_headers).
    if value is None:
        return ()
    items = value.items() if isinstance(value, Mapping) else value
    frozen = []
    for name, item in items:
        if not isinstance(name, str) or not TOKEN.fullmatch(name):
            shown = name[:40] if isinstance(name, str) else type(name).__name__
            raise LocalProtocolError(f"default_headers: invalid header name {shown!r}")
        if not isinstance(item, str):
            raise LocalProtocolError(
                f"default_headers: header {name!r} must have a str value, not {type(item).__name__}"
            )
        if not item.isascii():
            raise LocalProtocolError(
                f"default_headers: header {name!r} has a non-ASCII value; encode it first "
                "(servers read header bytes as latin-1 at best)"
            )
        frozen.append((name, check_value(name, item)))
    return tuple(frozen)


@attrs.frozen(repr=False)
class ClientConfig:
    """Everything a client needs to know before making a call.

    The API key is kept out of ``repr``/``str`` and out of every error.
    """

    api_key: str | None = attrs.field(default=None)
    base_url: str = attrs.field(default=DEFAULT_BASE_URL, converter=_base_url)
    organization: str | None = None
    project: str | None = None
    default_headers: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_freeze_headers)
    default_query: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_freeze_mapping)
    max_retries: int = 2
    timeout: Timeout = attrs.field(factory=Timeout, converter=_coerce_timeout)
    # Where the key goes: "authorization" sends "Bearer <key>"; any other
    # name (Azure's "api-key") sends the key as it is.
    api_key_header: str = "authorization"
    # The secret webhook deliveries are signed with (``client.webhooks``);
    # never sent, never shown.
    webhook_secret: str | None = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise LocalProtocolError(f"max_retries must be a non-negative int, got {self.max_retries!r}")
        if self.api_key is not None and not isinstance(self.api_key, str):
            raise LocalProtocolError("api_key must be a string")
        if self.webhook_secret is not None and not isinstance(self.webhook_secret, str):
            raise LocalProtocolError("webhook_secret must be a string")
        if self.api_key_header not in SECRET_HEADERS:
            # Only these are redacted in every repr and log line.
            raise LocalProtocolError(
                f"api_key_header must be one of {sorted(SECRET_HEADERS)}, got {self.api_key_header!r}"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> ClientConfig:
        """Read ``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``OPENAI_ORG_ID``,
        ``OPENAI_PROJECT_ID`` and ``OPENAI_WEBHOOK_SECRET``; keyword arguments
        that are not None win."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {
            "api_key": env.get("OPENAI_API_KEY") or None,
            "base_url": env.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL,
            "organization": env.get("OPENAI_ORG_ID") or None,
            "project": env.get("OPENAI_PROJECT_ID") or None,
            "webhook_secret": env.get("OPENAI_WEBHOOK_SECRET") or None,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    @property
    def secrets(self) -> tuple[str, ...]:
        """The credentials this configuration sends: the API key and the
        values of credential-named ``default_headers`` and ``default_query``
        entries (the rule is in ``openai_sansio._redact``), longest first."""
        query = "&".join(f"{quote(k)}={quote(v)}" for k, v in self.default_query)
        # The webhook secret is never sent, but redacting it too costs
        # nothing should it ever reach a header or a log line.
        return request_secrets(self.default_headers, "?" + query, (self.api_key, self.webhook_secret))

    @property
    def origin(self) -> Origin:
        parts = urlsplit(self.base_url)
        assert parts.hostname is not None
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return Origin(parts.scheme, parts.hostname, port)

    @property
    def base_path(self) -> str:
        """The path part of ``base_url`` without a trailing slash (may be "")."""
        return urlsplit(self.base_url).path.rstrip("/")

    def __repr__(self) -> str:
        if not hasattr(self, "timeout"):
            # Half built (a field was refused): a traceback that records
            # locals still calls repr() on it.
            return "<ClientConfig, not built>"
        key = "None" if self.api_key is None else "'<redacted>'"
        return (
            f"ClientConfig(api_key={key}, base_url={self.base_url!r}, "
            f"organization={self.organization!r}, project={self.project!r}, "
            f"max_retries={self.max_retries!r}, timeout={self.timeout!r})"
        )

    __str__ = __repr__
