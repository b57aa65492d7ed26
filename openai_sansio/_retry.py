"""When to try a request again, and how long to wait first.

The rules follow the official OpenAI Python SDK so that a server tuned for
that client sees the same behaviour from this one.  Everything here is a
pure function of its arguments: the current time and the random jitter are
passed in by the runtime adapter.
"""

from __future__ import annotations

import math
from datetime import timezone
from typing import Mapping

import attrs

from ._errors import LocalProtocolError

__all__ = ["RetryPolicy"]

# Retry counts beyond this make no difference to the backoff (it is capped by
# max_delay long before) but would overflow 2.0 ** n.
_EXPONENT_CAP = 1000


def _non_negative_int(_inst: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LocalProtocolError(f"{attribute.name} must be a non-negative int, got {value!r}")


def _non_negative_seconds(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise LocalProtocolError(f"{attribute.name} must be a finite number >= 0, got {value!r}")


@attrs.frozen
class RetryPolicy:
    """Which failures are retried and how long to back off before each retry.

    A failed attempt is retried while fewer than ``max_retries`` retries have
    been taken and the failure is transient: a connection error, or a status
    of 408, 409, 429 or 5xx, unless the server says otherwise with
    ``x-should-retry: true`` or ``false``.

    The wait is the server's ``retry-after-ms`` or ``retry-after`` when that
    is positive and at most ``max_retry_after`` seconds.  A server asking
    for a longer wait gets no retry at all: sleeping that long inside one
    call helps nobody.  Otherwise the wait is ``initial_delay * 2**n``
    (``n`` = retries already taken), capped at ``max_delay`` and shortened
    by up to 25% of random jitter so that clients failing together do not
    come back together.
    """

    max_retries: int = attrs.field(default=2, validator=_non_negative_int)
    initial_delay: float = attrs.field(default=0.5, validator=_non_negative_seconds)
    max_delay: float = attrs.field(default=8.0, validator=_non_negative_seconds)
    max_retry_after: float = attrs.field(default=60.0, validator=_non_negative_seconds)

    def server_delay(self, headers: Mapping[str, str], *, now: float) -> float | None:
        """The wait the server asked for, in seconds, or None if it gave none.

        ``retry-after-ms`` wins over ``retry-after``.  A number that is too
        large to represent comes back as ``inf``; an explicit ``inf`` or
        ``nan`` (meaningless) comes back as None.  The value is not yet
        checked against ``max_retry_after``.
        """
        for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
            raw = headers.get(name)
            if raw is None:
                continue
            try:
                seconds = float(raw)
            except ValueError:
                continue
            if math.isnan(seconds):
                return None
            if math.isinf(seconds):
                # A spelled-out infinity is nonsense and ignored; a numeral
                # that merely overflowed is a (very) long requested wait.
                literal = raw.strip().lower().lstrip("+-")
                if literal in ("inf", "infinity"):
                    return None
                return math.inf if seconds > 0 else -math.inf
            return seconds / scale
        raw = headers.get("retry-after")
        if raw is None:
            return None
        # Imported here, not at the top: email.utils pulls in socket, and
        # importing this package must not load any networking modules.
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(raw)
            if when.tzinfo is None:
                # "-0000" means UTC with no claim about the local zone.
                when = when.replace(tzinfo=timezone.utc)
            stamp = when.timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        return stamp - now

    def should_retry(
        self, status_code: int, headers: Mapping[str, str], *, retries_taken: int, now: float
    ) -> bool:
        """Whether a response with this status and these headers is retried."""
        if retries_taken >= self.max_retries or status_code < 300:
            return False
        requested = self.server_delay(headers, now=now)
        if requested is not None and requested > self.max_retry_after:
            return False
        verdict = headers.get("x-should-retry")
        if verdict == "true":
            return True
        if verdict == "false":
            return False
        return status_code in (408, 409, 429) or status_code >= 500

    def backoff(self, retries_taken: int, *, jitter: float) -> float:
        """The computed wait before retry number ``retries_taken + 1``."""
        _check_jitter(jitter)
        exponent = min(retries_taken, _EXPONENT_CAP)
        base = min(self.initial_delay * 2.0**exponent, self.max_delay)
        return base * (1.0 - 0.25 * jitter)

    def delay_after_response(
        self,
        status_code: int,
        headers: Mapping[str, str],
        *,
        retries_taken: int,
        now: float,
        jitter: float,
    ) -> float | None:
        """Seconds to wait before retrying this response, or None to give up."""
        _check_jitter(jitter)
        if not math.isfinite(now):
            raise LocalProtocolError("now must be a finite unix timestamp")
        if not self.should_retry(status_code, headers, retries_taken=retries_taken, now=now):
            return None
        requested = self.server_delay(headers, now=now)
        if requested is not None and 0 < requested <= self.max_retry_after:
            return requested
        return self.backoff(retries_taken, jitter=jitter)

    def delay_after_error(self, *, retries_taken: int, jitter: float) -> float | None:
        """Seconds to wait before retrying after a connection error or timeout,
        or None when the retries are used up."""
        _check_jitter(jitter)
        if retries_taken >= self.max_retries:
            return None
        return self.backoff(retries_taken, jitter=jitter)


def _check_jitter(jitter: float) -> None:
    # Written so that NaN fails too.
    if not (0.0 <= jitter < 1.0):
        raise LocalProtocolError(f"jitter must be in [0, 1), got {jitter!r}")
