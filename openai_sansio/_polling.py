"""When to ask again: the decisions behind ``create_and_poll`` and friends.

A poller is told what each retrieval returned (the object and the response
headers) and the time, and answers ``PollDone`` (the object reached a state
the helper returns) or ``PollWait(seconds)`` (sleep, then retrieve again).
The runtime does the sleeping and the requests; this module never reads a
clock.

The interval is, in order: ``poll_interval_ms`` when the caller gave one;
else the server's ``openai-poll-after-ms`` hint on that response; else one
second.  ``max_wait_seconds`` bounds the whole wait: no retrieval starts
after the deadline, a sleep is cut short at it, and passing it raises
``PollTimeoutError`` (a ``TimeoutError``, as the official SDK raises).

What counts as finished follows the official SDK, per kind of object:

* ``"run"`` (Assistants runs): ``requires_action``, ``cancelled``,
  ``completed``, ``failed``, ``expired`` or ``incomplete``;
* ``"vector_store_file"``: any status but ``in_progress``;
* ``"vector_store_file_batch"``: no file left in progress
  (``file_counts.in_progress == 0``);
* ``"batch"``: ``completed``, ``failed``, ``expired`` or ``cancelled``.

Differences from the SDK, on purpose: the server's hint is read on every
response (the SDK keeps the first one it saw); a hint that is not a plain
number of milliseconds is ignored rather than raising, and one above ten
minutes is cut to ten minutes; every helper takes ``max_wait_seconds`` (the
SDK has it for vector store files only).
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Final, Literal, Mapping, Union

import attrs

from ._errors import LocalProtocolError, OpenAIError

__all__ = [
    "BATCH_TERMINAL_STATUSES",
    "DEFAULT_POLL_INTERVAL_MS",
    "MAX_POLL_INTERVAL_MS",
    "RUN_TERMINAL_STATUSES",
    "PollDone",
    "PollKind",
    "PollStep",
    "PollTimeoutError",
    "PollWait",
    "Poller",
    "poll_after_ms",
]

DEFAULT_POLL_INTERVAL_MS: Final = 1000
MAX_POLL_INTERVAL_MS: Final = 600_000

RUN_TERMINAL_STATUSES: Final = frozenset(
    {"requires_action", "cancelled", "completed", "failed", "expired", "incomplete"}
)
BATCH_TERMINAL_STATUSES: Final = frozenset({"completed", "failed", "expired", "cancelled"})

PollKind = Literal["run", "vector_store_file", "vector_store_file_batch", "batch"]

_DIGITS = re.compile(r"[0-9]{1,12}")


def _status(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return obj.get("status")
    return getattr(obj, "status", None)


def _files_in_progress(obj: Any) -> Any:
    counts = obj.get("file_counts") if isinstance(obj, Mapping) else getattr(obj, "file_counts", None)
    if isinstance(counts, Mapping):
        return counts.get("in_progress")
    return getattr(counts, "in_progress", None)


def _file_batch_done(obj: Any) -> bool:
    pending = _files_in_progress(obj)
    if isinstance(pending, int) and not isinstance(pending, bool):
        return bool(pending <= 0)
    # No counts to go by: the batch's own status says.
    return bool(_status(obj) != "in_progress")


_DONE: Final[Mapping[str, Callable[[Any], bool]]] = {
    "run": lambda obj: _status(obj) in RUN_TERMINAL_STATUSES,
    "vector_store_file": lambda obj: _status(obj) != "in_progress",
    "vector_store_file_batch": _file_batch_done,
    "batch": lambda obj: _status(obj) in BATCH_TERMINAL_STATUSES,
}


class PollTimeoutError(OpenAIError, TimeoutError):
    """``max_wait_seconds`` passed before the object finished.  ``last`` is
    the object as last retrieved (None if no retrieval was made); the work
    goes on on the server, which a timeout does not cancel."""

    def __init__(self, message: str, *, last: Any = None) -> None:
        super().__init__(message)
        self.last = last


@attrs.frozen
class PollDone:
    """The object reached a state the helper returns."""

    value: Any = attrs.field(repr=False)


@attrs.frozen
class PollWait:
    """Sleep this many seconds, then retrieve again."""

    seconds: float


PollStep = Union[PollDone, PollWait]


def poll_after_ms(headers: Mapping[str, str]) -> int | None:
    """The server's ``openai-poll-after-ms`` hint, or None when it is
    absent or not a plain number of milliseconds; at most
    ``MAX_POLL_INTERVAL_MS``."""
    value = headers.get("openai-poll-after-ms")
    if value is None:
        for name, item in headers.items():
            if isinstance(name, str) and name.lower() == "openai-poll-after-ms":
                value = item
                break
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not _DIGITS.fullmatch(value):
        return None
    return min(int(value), MAX_POLL_INTERVAL_MS)


def _check_interval(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LocalProtocolError(f"poll_interval_ms must be a non-negative int, got {value!r}")
    return value


def _check_max_wait(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise LocalProtocolError(f"max_wait_seconds must be a finite, non-negative number, got {value!r}")
    return float(value)


class Poller:
    """The waiting of one poll loop.

    ``now`` arguments are seconds on any monotonic clock (the runtime's
    own), the same clock throughout.  Call ``before_request(now)`` before
    each retrieval and ``step(obj, headers, now)`` with what it returned.
    """

    __slots__ = ("_deadline", "_done", "_interval_ms", "_kind", "_last", "_what", "polls")

    def __init__(
        self,
        kind: PollKind,
        *,
        now: float,
        poll_interval_ms: int | None = None,
        max_wait_seconds: float | None = None,
        what: str = "the object",
    ) -> None:
        done = _DONE.get(kind)
        if done is None:
            raise LocalProtocolError(f"no poll rule for {kind!r}; one of {sorted(_DONE)}")
        self._kind = kind
        self._done = done
        self._interval_ms = _check_interval(poll_interval_ms)
        wait = _check_max_wait(max_wait_seconds)
        self._deadline = None if wait is None else now + wait
        self._what = what
        self._last: Any = None
        #: Retrievals answered so far.
        self.polls = 0

    def __repr__(self) -> str:
        return f"<Poller {self._kind} polls={self.polls} deadline={self._deadline!r}>"

    @property
    def deadline(self) -> float | None:
        return self._deadline

    def is_done(self, obj: Any) -> bool:
        """Whether ``obj`` is in a state this kind of poll returns."""
        return bool(self._done(obj))

    def _timeout(self) -> PollTimeoutError:
        return PollTimeoutError(f"gave up waiting for {self._what} to finish", last=self._last)

    def before_request(self, now: float) -> None:
        """``PollTimeoutError`` if the deadline has passed (with
        ``max_wait_seconds=0`` no retrieval is ever made)."""
        if self._deadline is not None and self._deadline - now <= 0:
            raise self._timeout()

    def step(self, obj: Any, headers: Mapping[str, str], now: float) -> PollStep:
        """What to do after a retrieval returned ``obj`` with ``headers``."""
        self.polls += 1
        self._last = obj
        if self._done(obj):
            return PollDone(obj)
        interval = self._interval_ms
        if interval is None:
            hint = poll_after_ms(headers)
            interval = DEFAULT_POLL_INTERVAL_MS if hint is None else hint
        seconds = interval / 1000
        if self._deadline is not None:
            remaining = self._deadline - now
            if remaining <= 0:
                raise self._timeout()
            seconds = min(seconds, remaining)
        return PollWait(seconds)
