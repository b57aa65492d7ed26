"""One logical API call: the request for each attempt and what to do with
each outcome.

A ``Call`` checks everything it is given when it is created, so a bad
header, path, query value or body fails with ``LocalProtocolError`` before a
single request exists.  After that it hands out the ``Request`` for the
current attempt, decides whether and when to retry, and turns response bodies
into results or typed errors.  It never reads a clock or a random source: the
runtime adapter passes ``now`` and ``jitter`` in.
"""

from __future__ import annotations

import enum
import json
import math
import re
import sys
from typing import Any, Callable, Final, Literal, Mapping, TypeAlias, TypeVar, Union
from urllib.parse import quote, urlencode

import attrs

from ._config import ClientConfig, Timeout
from ._errors import (
    APIResponseValidationError,
    APIStatusError,
    LocalProtocolError,
    make_status_error,
)
from ._header_rules import BAD_VALUE_CHAR, TOKEN
from ._headers import Headers
from ._multipart import MultipartBody
from ._redact import REDACTED, is_credential_name, redact_target, request_secrets, scrub_text
from ._request import Origin, Request, StreamedBody
from ._retry import RetryPolicy
from ._version import __version__

__all__ = ["NOT_GIVEN", "NotGiven", "omit", "Omit", "RequestOptions", "Call", "new_idempotency_key"]

T = TypeVar("T")


class NotGivenType(enum.Enum):
    """Marks a keyword argument the caller left out, as opposed to ``None``
    (which often means "no limit" or "remove")."""

    NOT_GIVEN = "NOT_GIVEN"

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> Literal[False]:
        return False


NOT_GIVEN: Final = NotGivenType.NOT_GIVEN
NotGiven: TypeAlias = Literal[NotGivenType.NOT_GIVEN]
# The official SDK spells "leave this out" both ways; here they are one
# object, so every ``is NOT_GIVEN`` check accepts either.
omit: Final = NOT_GIVEN
Omit: TypeAlias = NotGiven

QueryScalar = Union[str, int, float, bool, None]


def _redacted(mapping: Mapping[Any, object] | None) -> object:
    # Only for reprs: a mapping that is not one is shown as it is.
    if not isinstance(mapping, Mapping):
        return mapping
    return {
        k: REDACTED if isinstance(k, str) and is_credential_name(k) else v for k, v in mapping.items()
    }


@attrs.frozen(repr=False)
class RequestOptions:
    """Per-call adjustments on top of the client configuration.

    ``extra_headers`` override every other header; a value of ``None``,
    ``""`` or ``omit`` removes the header instead.  ``extra_query`` overrides query
    parameters and ``extra_body`` top-level body fields.  ``timeout`` and
    ``max_retries`` replace the client's when given.
    """

    extra_headers: Mapping[str, str | NotGiven | None] | None = None
    extra_query: Mapping[str, object] | None = None
    extra_body: Mapping[str, object] | None = None
    timeout: Timeout | float | NotGiven | None = NOT_GIVEN
    max_retries: int | NotGiven = NOT_GIVEN

    def __repr__(self) -> str:
        return (
            f"RequestOptions(extra_headers={_redacted(self.extra_headers)!r}, "
            f"extra_query={_redacted(self.extra_query)!r}, extra_body={self.extra_body!r}, "
            f"timeout={self.timeout!r}, max_retries={self.max_retries!r})"
        )


_NO_OPTIONS = RequestOptions()


def new_idempotency_key(random_bytes: bytes) -> str:
    """An ``Idempotency-Key`` value made from 16 caller-supplied random bytes
    (for example ``os.urandom(16)``), shaped as a version 4 UUID."""
    if not isinstance(random_bytes, (bytes, bytearray)) or len(random_bytes) != 16:
        raise LocalProtocolError("new_idempotency_key needs exactly 16 random bytes")
    raw = bytearray(random_bytes)
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"openai-trio-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_USER_AGENT = "openai-trio/{} python/{}.{}.{}".format(__version__, *sys.version_info[:3])

# Visible ASCII except the characters that would end the path early.
_PATH_RE = re.compile(r"/[\x21-\x22\x24-\x3e\x40-\x7e]*")
# A "." or ".." segment, also percent-encoded (servers decode %2E before
# resolving): a server or proxy would resolve it and reach another resource.
_DOT_SEGMENT = re.compile(r"/(?:\.|%2e){1,2}(?=/|$)", re.IGNORECASE)

# The connection frames the body itself; letting a caller set these would let
# it desynchronise the byte stream.  (``host`` may be set: the connection
# only fills it in when it is missing.)
_CONNECTION_HEADERS = frozenset({"content-length", "transfer-encoding"})

# Long enough to show what a misbehaving server sent, short enough for a log.
_SHOWN_BODY_CHARS = 2000


def _header_name(name: object) -> str:
    if not isinstance(name, str) or not TOKEN.fullmatch(name):
        raise LocalProtocolError(f"invalid header name {name!r}")
    lowered = name.lower()
    if lowered in _CONNECTION_HEADERS:
        raise LocalProtocolError(f"header {lowered!r} is set by the connection, not by a call")
    return lowered


def _header_value(name: str, value: object) -> str:
    # Error messages name the header but never echo the value: it may be a
    # credential.
    if not isinstance(value, str):
        raise LocalProtocolError(
            f"header {name!r} must have a str value, not {type(value).__name__}"
        )
    value = value.strip(" \t")
    if BAD_VALUE_CHAR.search(value):
        raise LocalProtocolError(
            f"header {name!r} has a value that cannot be sent: it contains CR, LF, "
            "NUL, another control character or a character outside latin-1"
        )
    # Latin-1 letters would go out as raw high bytes, which servers and
    # proxies read differently (or refuse); the official SDK's HTTP library
    # refuses them too.  isascii is a flag lookup on most strings.
    if not value.isascii():
        raise LocalProtocolError(
            f"header {name!r} has a non-ASCII value; only ASCII may be sent in a header "
            "(percent-encode or base64 the text first)"
        )
    return value


def _query_scalar(key: str, value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:  # more digits than int -> str allows
            raise LocalProtocolError(f"query parameter {key!r} is too large") from None
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LocalProtocolError(f"query parameter {key!r} must be a finite number")
        return repr(value)
    if isinstance(value, str):
        return value
    raise LocalProtocolError(
        f"query parameter {key!r} must be str, int, float, bool, None or a list of them, "
        f"not {type(value).__name__}"
    )


def _query_string(merged: Mapping[object, object]) -> str:
    pairs: list[tuple[str, str]] = []
    for key, value in merged.items():
        if not isinstance(key, str):
            raise LocalProtocolError(f"query parameter names must be str, not {type(key).__name__}")
        if isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, (list, tuple)):
                    raise LocalProtocolError(f"query parameter {key!r} has a nested list")
                text = _query_scalar(key, item)
                if text is not None:
                    pairs.append((key, text))
        else:
            text = _query_scalar(key, value)
            if text is not None:
                pairs.append((key, text))
    try:
        return urlencode(pairs, quote_via=quote)
    except UnicodeEncodeError:
        raise LocalProtocolError("query string contains text that is not valid Unicode") from None


# What json.dumps would build for these options on every call.
_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"), ensure_ascii=False)


def _encode_body(body: Mapping[str, object]) -> bytes:
    try:
        return _ENCODER.encode(body).encode("utf-8")
    except TypeError as exc:
        # json's own messages name a type, never a value.
        raise LocalProtocolError(f"body is not JSON-encodable: {exc}") from None
    except UnicodeEncodeError:
        raise LocalProtocolError("body contains text that is not valid Unicode") from None
    except RecursionError:
        # The C encoder counts its depth against the interpreter's recursion
        # limit and stops cleanly, whatever the depth.
        raise LocalProtocolError(
            "body is not JSON-encodable: it is nested too deeply (about a thousand levels or more)"
        ) from None
    except ValueError as exc:
        # json says "Circular reference detected" for a container that holds
        # itself, and names the float otherwise: tell the two apart.
        if "ircular" in str(exc):
            raise LocalProtocolError(
                "body is not JSON-encodable: it contains itself (a circular reference)"
            ) from None
        raise LocalProtocolError(
            "body is not JSON-encodable: it contains NaN or infinity, which JSON cannot carry"
        ) from None


def _other_body(
    body: Mapping[str, object] | None,
    extra_body: Mapping[str, object] | None,
    multipart: object,
    content: object,
    content_type: object,
) -> tuple[bytes | StreamedBody, str]:
    """A multipart or raw body and its content type, checked."""
    if body is not None:
        raise LocalProtocolError("pass one of body=, multipart= or content=, not several")
    if multipart is not None:
        if content is not None or content_type is not None:
            raise LocalProtocolError("pass multipart= or content=, not both")
        if not isinstance(multipart, MultipartBody):
            raise LocalProtocolError(
                f"multipart must be a MultipartBody (see encode_multipart), not {type(multipart).__name__}"
            )
        if extra_body:
            multipart = multipart.with_fields(extra_body)
        return multipart.as_streamed_body(), multipart.content_type
    if not isinstance(content, (bytes, bytearray, memoryview)):
        what = "missing" if content is None else f"a {type(content).__name__}"
        raise LocalProtocolError(f"content must be bytes when content_type is given, not {what}")
    if content_type is None:
        content_type = "application/octet-stream"
    elif not isinstance(content_type, str):
        raise LocalProtocolError(f"content_type must be a str, not {type(content_type).__name__}")
    if extra_body:
        raise LocalProtocolError("extra_body cannot be merged into a raw content= body")
    return bytes(content), content_type


def _check_mapping(what: str, value: object) -> Mapping[Any, Any] | None:
    # A dict (the usual case) is answered before the slower ABC check.
    if value is not None and type(value) is not dict and not isinstance(value, Mapping):
        raise LocalProtocolError(f"{what} must be a mapping or None, not {type(value).__name__}")
    return value


class _ConfigParts:
    """What every call made with one ``ClientConfig`` shares, worked out on
    the first call: a client makes many calls with the same config."""

    __slots__ = ("_checked", "_fields", "base_path", "config", "origin", "policy")

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.origin: Origin = config.origin
        self.base_path = config.base_path
        # Immutable, so every call that keeps the config's max_retries shares it.
        self.policy = RetryPolicy(max_retries=config.max_retries)
        # (stream, has body) -> the header fields before per-call changes,
        # and the same as checked (name, value) pairs.
        self._fields: dict[tuple[bool, bool], dict[str, str]] = {}
        self._checked: dict[tuple[bool, bool], tuple[tuple[str, str], ...]] = {}

    def fields(self, stream: bool, has_body: bool) -> dict[str, str]:
        """The config's header fields for such a call; the caller must not
        change the dict it gets."""
        key = (stream, has_body)
        fields = self._fields.get(key)
        if fields is None:
            config = self.config
            fields = {}
            if config.api_key:
                if config.api_key_header == "authorization":
                    fields["authorization"] = "Bearer " + config.api_key
                else:
                    fields[config.api_key_header] = config.api_key
            fields["user-agent"] = _USER_AGENT
            fields["accept"] = "text/event-stream" if stream else "application/json"
            if has_body:
                fields["content-type"] = "application/json"
            if config.organization:
                fields["openai-organization"] = config.organization
            if config.project:
                fields["openai-project"] = config.project
            for name, value in config.default_headers:
                fields[_header_name(name)] = value
            self._fields[key] = fields
        return fields

    def checked(self, stream: bool, has_body: bool) -> tuple[tuple[str, str], ...]:
        """``fields`` as checked ``(name, value)`` pairs."""
        key = (stream, has_body)
        checked = self._checked.get(key)
        if checked is None:
            checked = tuple(
                (name, _header_value(name, value))
                for name, value in self.fields(stream, has_body).items()
            )
            self._checked[key] = checked
        return checked


# The parts of the configs in use, by id (each entry holds its config, so an
# id is never reused while its entry exists).  Cleared when full.
_CONFIG_PARTS: dict[int, _ConfigParts] = {}
_CONFIG_PARTS_LIMIT = 32


def _config_parts(config: ClientConfig) -> _ConfigParts:
    parts = _CONFIG_PARTS.get(id(config))
    if parts is None or parts.config is not config:
        parts = _ConfigParts(config)
        if len(_CONFIG_PARTS) >= _CONFIG_PARTS_LIMIT:
            _CONFIG_PARTS.clear()
        _CONFIG_PARTS[id(config)] = parts
    return parts


def _idempotency_field(
    method: str, key: str | None, chosen: set[str] | frozenset[str]
) -> str | None:
    """The Idempotency-Key value the call adds, if any."""
    if method == "GET" or "idempotency-key" in chosen:
        return None
    if key is None:
        raise LocalProtocolError(
            f"a {method} call needs an idempotency_key, so that retries are safe; "
            "use new_idempotency_key(os.urandom(16))"
        )
    return key


_NOTHING: frozenset[str] = frozenset()
_KNOWN_METHODS = frozenset({"GET", "POST", "DELETE", "PUT", "PATCH"})


class Call:
    """One logical API call, possibly over several attempts.

    ``path`` is relative to the configured base URL and already has its
    path parameters substituted (and percent-encoded).  Every call that is
    not a GET needs an ``idempotency_key`` (see ``new_idempotency_key``); it
    is sent unchanged on every attempt so the server can recognise retries.

    Typical use by a runtime adapter::

        while True:
            request = call.request()
            ...send it, read status and headers...
            if 200 <= status < 300:
                return call.parse_response(status, headers, body, parse)
            delay = call.retry_delay(status_code=status, headers=headers,
                                     now=time.time(), jitter=random.random())
            if delay is None:
                raise call.decode_error(status, headers, body)
            ...sleep delay...
    """

    __slots__ = (
        "_body",
        "_config",
        "_fixed_headers",
        "_idempotency_key",
        "_method",
        "_origin",
        "_policy",
        "_replayable",
        "_request",
        "_retries_taken",
        "_send_retry_count",
        "_stream",
        "_target",
        "_timeout",
    )

    def __init__(
        self,
        config: ClientConfig,
        method: str,
        path: str,
        *,
        body: Mapping[str, object] | None = None,
        query: Mapping[str, object] | None = None,
        stream: bool = False,
        options: RequestOptions | None = None,
        idempotency_key: str | None = None,
        multipart: MultipartBody | None = None,
        content: bytes | None = None,
        content_type: str | None = None,
    ) -> None:
        if not isinstance(config, ClientConfig):
            raise LocalProtocolError(f"config must be a ClientConfig, not {type(config).__name__}")
        if options is None:
            options = _NO_OPTIONS
        elif not isinstance(options, RequestOptions):
            raise LocalProtocolError(
                f"options must be RequestOptions or None, not {type(options).__name__}"
            )
        if not isinstance(method, str) or (
            method not in _KNOWN_METHODS and not TOKEN.fullmatch(method)
        ):
            raise LocalProtocolError(f"invalid HTTP method {method!r}")
        method = method.upper()
        if not isinstance(path, str) or not _PATH_RE.fullmatch(path):
            raise LocalProtocolError(
                f"invalid path {path!r}: it must start with '/' and contain only visible "
                "ASCII without '?' or '#' (percent-encode path parameters; pass query "
                "parameters as query=)"
            )
        if ("/." in path or "%" in path) and _DOT_SEGMENT.search(path):
            raise LocalProtocolError(
                f"invalid path {path!r}: a '.' or '..' segment would be resolved by the "
                "server or a proxy and reach another resource"
            )
        if not isinstance(stream, bool):
            raise LocalProtocolError(f"stream must be a bool, not {type(stream).__name__}")

        parts = _config_parts(config)
        max_retries = options.max_retries
        if max_retries is NOT_GIVEN:
            self._policy = parts.policy
        elif isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise LocalProtocolError(f"max_retries must be a non-negative int, got {max_retries!r}")
        else:
            self._policy = RetryPolicy(max_retries=max_retries)
        timeout = options.timeout
        self._timeout = config.timeout if timeout is NOT_GIVEN else Timeout.coerce(timeout)

        # Query: client defaults, then the call's own, then the per-call extras.
        query = _check_mapping("query", query)
        extra_query = _check_mapping("extra_query", options.extra_query)
        target = parts.base_path + path
        if query or extra_query or config.default_query:
            merged_query: dict[object, object] = dict(config.default_query)
            merged_query.update(query or {})
            merged_query.update(extra_query or {})
            query_string = _query_string(merged_query)
            if query_string:
                target += "?" + query_string

        body = _check_mapping("body", body)
        extra_body = _check_mapping("extra_body", options.extra_body)
        encoded: bytes | None = None
        # A multipart or raw body, and the content type it is sent with.
        other_body: bytes | StreamedBody | None = None
        other_type: str | None = None
        if multipart is not None or content is not None or content_type is not None:
            other_body, other_type = _other_body(body, extra_body, multipart, content, content_type)
        elif extra_body is None and type(body) is dict:
            encoded = _encode_body(body)
        elif body is not None or extra_body is not None:
            merged_body: dict[Any, Any] = dict(body or {})
            merged_body.update(extra_body or {})
            encoded = _encode_body(merged_body)

        base = parts.fields(stream, encoded is not None)
        extra_headers = _check_mapping("extra_headers", options.extra_headers)
        if other_type is None and not extra_headers and (method == "GET" or "idempotency-key" not in base):
            # The usual call: the config's fields as they are, plus a key.
            key = _idempotency_field(method, idempotency_key, _NOTHING)
            if key is None:
                self._fixed_headers = parts.checked(stream, encoded is not None)
                self._idempotency_key = base.get("idempotency-key")
            else:
                self._fixed_headers = (
                    *parts.checked(stream, encoded is not None),
                    ("idempotency-key", _header_value("idempotency-key", key)),
                )
                self._idempotency_key = key
            self._send_retry_count = "x-retry-count" not in base
        else:
            fields = dict(base)
            if other_type is not None:
                fields["content-type"] = other_type
            # Names the caller set or removed explicitly; we do not fill those in.
            chosen: set[str] = set()
            for name, value in (extra_headers or {}).items():
                key = _header_name(name)
                chosen.add(key)
                if value is None or value == "" or value is NOT_GIVEN:
                    fields.pop(key, None)
                else:
                    fields[key] = value
            key = _idempotency_field(method, idempotency_key, chosen)
            if key is not None:
                fields["idempotency-key"] = key

            self._fixed_headers = tuple(
                (name, _header_value(name, value)) for name, value in fields.items()
            )
            self._send_retry_count = "x-retry-count" not in chosen and "x-retry-count" not in fields
            self._idempotency_key = fields.get("idempotency-key")
        self._config = config
        self._method = method
        self._origin: Origin = parts.origin
        self._target = target
        self._body: bytes | StreamedBody = (
            encoded if encoded is not None else b"" if other_body is None else other_body
        )
        self._replayable = not isinstance(other_body, StreamedBody) or other_body.replayable
        self._stream = stream
        self._retries_taken = 0
        self._request: Request | None = None

    # -- what was decided up front -------------------------------------------

    @property
    def config(self) -> ClientConfig:
        return self._config

    @property
    def method(self) -> str:
        return self._method

    @property
    def target(self) -> str:
        """Path and query string, as sent on the request line."""
        return self._target

    @property
    def stream(self) -> bool:
        return self._stream

    @property
    def idempotency_key(self) -> str | None:
        """The key sent on every attempt, or None (GET, or removed by the caller)."""
        return self._idempotency_key

    @property
    def max_retries(self) -> int:
        return self._policy.max_retries

    @property
    def timeout(self) -> Timeout:
        return self._timeout

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._policy

    @property
    def replayable(self) -> bool:
        """False when the body has a source that can be read only once (an
        async iterable, a file that cannot seek): such a call is never
        retried, since part of it may already have been consumed."""
        return self._replayable

    @property
    def retries_taken(self) -> int:
        """How many retries have been granted so far (0 on the first attempt)."""
        return self._retries_taken

    # -- per attempt ----------------------------------------------------------

    def request(self) -> Request:
        """The request to send for the current attempt."""
        request = self._request
        if request is None:
            headers = self._fixed_headers
            if self._send_retry_count:
                headers = (*headers, ("x-retry-count", str(self._retries_taken)))
            request = Request(self._method, self._origin, self._target, headers, self._body)
            self._request = request
        return request

    def retry_delay(
        self, *, status_code: int, headers: Mapping[str, str], now: float, jitter: float
    ) -> float | None:
        """Seconds to wait before retrying after an error response, or None
        to give up.  A non-None answer starts the next attempt.

        ``headers`` should be a ``Headers`` (looked up case-insensitively),
        ``now`` the current unix time (for a ``retry-after`` date) and
        ``jitter`` a uniform random number in [0, 1).
        """
        if not self._replayable:
            return None
        delay = self._policy.delay_after_response(
            status_code, headers, retries_taken=self._retries_taken, now=now, jitter=jitter
        )
        if delay is not None:
            self._next_attempt()
        return delay

    def retry_delay_after_error(self, *, jitter: float) -> float | None:
        """Like ``retry_delay``, after a connection error or a timeout."""
        if not self._replayable:
            return None
        delay = self._policy.delay_after_error(retries_taken=self._retries_taken, jitter=jitter)
        if delay is not None:
            self._next_attempt()
        return delay

    def _next_attempt(self) -> None:
        self._retries_taken += 1
        self._request = None

    # -- outcomes -------------------------------------------------------------

    @property
    def secrets(self) -> tuple[str, ...]:
        """The credentials this call sends (the configuration's and those
        of its own headers and query), longest first: what its errors must
        not repeat."""
        request = self.request()
        return request_secrets(request.headers, request.target, self._config.secrets)

    def _scrub(self, text: str) -> str:
        # Servers have been known to echo the credential back in an error.
        return scrub_text(text, self.secrets)

    def decode_error(
        self, status_code: int, headers: Mapping[str, str], body: bytes
    ) -> APIStatusError:
        """The typed exception for an error response (to be raised by the
        caller), with every credential of the call scrubbed from its text
        and the response's header values."""
        secrets = self.secrets
        text = scrub_text(body.decode("utf-8", errors="replace"), secrets).strip()
        decoded: object = None
        if text:
            try:
                decoded = json.loads(text)
            except (ValueError, RecursionError):
                decoded = text
        if not isinstance(headers, Headers):
            headers = Headers(list(headers.items()))
        if any(secret in value for _name, value in headers.fields for secret in secrets):
            headers = Headers([(name, scrub_text(value, secrets)) for name, value in headers.fields])
        return make_status_error(status_code, headers, decoded, request=self.request(), text=text)

    def parse_json(self, status_code: int, headers: Mapping[str, str], body: bytes) -> Any:
        """Decode a response body that must be JSON.

        Anything else (empty, not UTF-8, not JSON) raises
        ``APIResponseValidationError`` carrying the start of the raw text.
        """
        try:
            return json.loads(body.decode("utf-8-sig"))
        except (ValueError, RecursionError):
            pass
        shown = self._scrub(body[: _SHOWN_BODY_CHARS * 4].decode("utf-8", errors="replace"))
        shown = shown[:_SHOWN_BODY_CHARS]
        content_type = headers.get("content-type")
        what = "an empty body" if not body else f"{len(body)} bytes that are not JSON"
        if content_type is not None:
            what += f" (content-type {content_type!r})"
        raise APIResponseValidationError(
            f"Expected a JSON body in the {status_code} response, got {what}",
            body=shown,
            status_code=status_code,
            request=self.request(),
        )

    def parse_response(
        self,
        status_code: int,
        headers: Mapping[str, str],
        body: bytes,
        parse: Callable[[Any], T],
    ) -> T:
        """The typed result of a complete response, or raise its error.

        ``parse`` turns decoded JSON into the result (e.g. a model's
        ``from_dict``); if it chokes on the shape, that is reported as
        ``APIResponseValidationError``.
        """
        if not 200 <= status_code < 300:
            raise self.decode_error(status_code, headers, body)
        decoded = self.parse_json(status_code, headers, body)
        try:
            return parse(decoded)
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
            raise APIResponseValidationError(
                f"The {status_code} response does not have the expected shape: "
                f"{type(exc).__name__}",
                body=decoded,
                status_code=status_code,
                request=self.request(),
            ) from exc

    def __repr__(self) -> str:
        return (
            f"<Call {self._method} {redact_target(self._target)!r} stream={self._stream} "
            f"retries_taken={self._retries_taken}/{self.max_retries}>"
        )
