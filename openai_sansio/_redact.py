"""Which request values are credentials, and keeping them out of text.

The rule, applied by every repr and error the core builds:

* A header or query parameter is a *credential* when its name, lower-cased
  and with ``_`` read as ``-``, contains ``auth``, ``key``, ``token``,
  ``secret``, ``password``, ``passwd``, ``credential``, ``signature`` or
  ``cookie``, or is ``sig`` or ``code``; ``idempotency-key`` is the one
  exception (it is a request id, and useful when reading logs).
* Reprs show a credential's value as ``<redacted>`` (``Request``,
  ``RequestOptions``, ``Call``; ``Headers`` hides the fixed
  ``SECRET_HEADERS``, since response headers such as
  ``x-ratelimit-remaining-tokens`` match the words above).
* The *secrets* of a request are the values of its credential headers (and
  the token after an ``Authorization`` scheme such as ``Bearer``), the
  values of its credential query parameters, and the client's ``api_key``.
  Any text an error carries (message, body, the response's header values)
  has each secret of eight characters or more replaced by ``<redacted>``:
  servers echo keys back ("Incorrect API key provided: ...").
* Bytes that carry credentials on their way to the wire are
  ``RedactedBytes``, whose repr shows only their length, so a traceback
  that records its frames' locals does not record the request head.
"""

from __future__ import annotations

from typing import Iterable, Sequence, TypeVar
from urllib.parse import unquote_plus

__all__ = [
    "REDACTED",
    "RedactedBytes",
    "drop_frames",
    "is_credential_name",
    "redact_target",
    "request_secrets",
    "scrub_text",
    "scrub_value",
]

REDACTED = "<redacted>"

_WORDS = ("auth", "key", "token", "secret", "password", "passwd", "credential", "signature", "cookie")
_NAMES = frozenset({"sig", "code"})
_NOT_CREDENTIALS = frozenset({"idempotency-key"})
# Shorter values are still hidden by name, but not searched for in text:
# replacing every "1" in a message would make it unreadable.
MIN_SECRET_LENGTH = 8
# JSON from a server can nest deeper than is sensible to walk; past this a
# value is dropped rather than searched.
_MAX_DEPTH = 32

E = TypeVar("E", bound=BaseException)

_verdicts: dict[str, bool] = {}
_VERDICTS_LIMIT = 512


def is_credential_name(name: str) -> bool:
    """Whether a header or query parameter of this name carries a
    credential (see the module docstring for the rule)."""
    verdict = _verdicts.get(name)
    if verdict is None:
        plain = name.lower().replace("_", "-")
        verdict = plain not in _NOT_CREDENTIALS and (
            plain in _NAMES or any(word in plain for word in _WORDS)
        )
        if len(_verdicts) >= _VERDICTS_LIMIT:
            _verdicts.clear()
        _verdicts[name] = verdict
    return verdict


class RedactedBytes(bytes):
    """Bytes for the wire that carry credentials (a request head): they
    behave as ``bytes`` but ``repr()`` and ``str()`` show only the length."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<{len(self)} bytes of request data>"

    __str__ = __repr__


def _header_secrets(name: str, value: str, found: list[str]) -> None:
    found.append(value)
    scheme, _, token = value.partition(" ")
    if token and scheme.isalpha():
        found.append(token.strip())


def _query_pairs(query: str) -> Iterable[tuple[str, str, str]]:
    """``(raw piece, decoded name, decoded value)`` for each query piece."""
    for piece in query.split("&"):
        name, _, value = piece.partition("=")
        yield piece, unquote_plus(name), unquote_plus(value)


def request_secrets(
    headers: Iterable[tuple[str, str]], target: str = "", extra: Iterable[str | None] = ()
) -> tuple[str, ...]:
    """The secrets of a request with these headers and target, plus
    ``extra`` ones: long enough to search for, longest first (so a secret
    that contains another is replaced whole)."""
    found: list[str] = [s for s in extra if s]
    for name, value in headers:
        if value and is_credential_name(name):
            _header_secrets(name, value, found)
    _, sep, query = target.partition("?")
    if sep:
        for piece, name, value in _query_pairs(query):
            if value and is_credential_name(name):
                found.append(value)
                found.append(piece.partition("=")[2])
    return tuple(sorted({s for s in found if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True))


def scrub_text(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every one of ``secrets`` replaced by ``<redacted>``."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def scrub_value(value: object, secrets: Sequence[str], depth: int = 0) -> object:
    """``value`` (decoded JSON, or text) with the secrets replaced in every
    string it holds; containers are rebuilt, anything else is kept."""
    if not secrets:
        return value
    if isinstance(value, str):
        return scrub_text(value, secrets)
    if depth >= _MAX_DEPTH and isinstance(value, (dict, list, tuple)):
        return REDACTED
    if isinstance(value, dict):
        return {scrub_value(k, secrets, depth + 1): scrub_value(v, secrets, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_value(v, secrets, depth + 1) for v in value]
    if isinstance(value, tuple):
        return tuple(scrub_value(v, secrets, depth + 1) for v in value)
    return value


def redact_target(target: str, secrets: Sequence[str] = ()) -> str:
    """A request target fit to show: credential query values replaced by
    ``<redacted>``, and any of ``secrets`` elsewhere in it too."""
    path, sep, query = target.partition("?")
    path = scrub_text(path, secrets)
    if not sep:
        return path
    pieces = []
    for piece, name, _value in _query_pairs(query):
        if is_credential_name(name) and "=" in piece:
            pieces.append(f"{piece.partition('=')[0]}={REDACTED}")
        else:
            pieces.append(scrub_text(piece, secrets))
    return f"{path}?{'&'.join(pieces)}"


def drop_frames(exc: E) -> E:
    """``exc`` with the frames it was raised through forgotten, and those
    of the exceptions chained under it.

    For errors made from response content while it was being parsed: the
    parsing frames (ours, json's, a model's) hold the raw bytes and text in
    their locals, which a traceback that records locals would show, key
    echoes and all.  The message and fields say what went wrong; raising
    the error again starts its traceback afresh.
    """
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        link.__traceback__ = None
        link = link.__cause__ if link.__cause__ is not None else link.__context__
    return exc
