"""Resuming the event stream of a background response after a drop.

A response created with ``background=True, stream=True`` keeps running on
the server when the connection carrying its events breaks, and its events
stay retrievable: ``GET /responses/{id}?stream=true&starting_after=N``
sends those after sequence number N.  ``ResponseStreamResumer`` holds the
decisions of that dance for any runtime: which events are new, whether a
failure can be resumed from, and from where.  It does no I/O; the trio
helper (``openai_trio.stream_background_response``) and the other drivers
carry out what it says.
"""

from __future__ import annotations

from typing import Any, Final

from ._errors import APIConnectionError, APIError, LocalProtocolError, RemoteProtocolError

__all__ = ["TERMINAL_RESPONSE_EVENTS", "ResponseStreamResumer", "StreamNotResumableError"]

# Event types after which a response stream has nothing more to say.
TERMINAL_RESPONSE_EVENTS: Final = frozenset(
    {"response.completed", "response.failed", "response.incomplete", "error"}
)


class StreamNotResumableError(APIConnectionError):
    """The stream of a background response broke and cannot be resumed:
    it broke before the response's id arrived, or it kept breaking without
    a new event.  The failure that ended it is the ``__cause__``."""


class ResponseStreamResumer:
    """The state of one background response's stream across resumes.

    ``accept(event)`` for each decoded event: True when it is new and
    should reach the caller (events at or below the last sequence number
    seen are repeats from a resume).  When reading fails,
    ``resume_from(error)`` returns the ``starting_after`` for the next
    ``GET /responses/{id}?stream=true`` (the id is ``response_id``), or
    raises ``StreamNotResumableError``.  ``max_resumes`` bounds the resumes
    in a row that bring no new event.
    """

    __slots__ = ("_last", "_max_resumes", "_since_progress", "finished", "response_id", "resumes")

    def __init__(self, *, response_id: str | None = None, starting_after: int | None = None, max_resumes: int = 5) -> None:
        if response_id is not None and (not isinstance(response_id, str) or not response_id):
            raise LocalProtocolError("response_id must be a non-empty str")
        if starting_after is not None and (
            not isinstance(starting_after, int) or isinstance(starting_after, bool) or starting_after < -1
        ):
            raise LocalProtocolError("starting_after must be an int of at least -1")
        if not isinstance(max_resumes, int) or isinstance(max_resumes, bool) or max_resumes < 0:
            raise LocalProtocolError("max_resumes must be a non-negative int")
        self.response_id = response_id
        self._last = -1 if starting_after is None else starting_after
        self._max_resumes = max_resumes
        self._since_progress = 0
        self.resumes = 0
        self.finished = False

    @property
    def last_sequence_number(self) -> int:
        """The highest sequence number handed out (-1 before any)."""
        return self._last

    def __repr__(self) -> str:
        state = "finished" if self.finished else f"after {self._last}"
        return f"<ResponseStreamResumer {self.response_id or '(no id yet)'} {state}, {self.resumes} resumes>"

    def accept(self, event: Any) -> bool:
        """Whether ``event`` (a decoded stream event) is new."""
        sequence = getattr(event, "sequence_number", None)
        if self.response_id is None:
            response = getattr(event, "response", None)
            found = getattr(response, "id", None)
            if isinstance(found, str) and found:
                self.response_id = found
        kind = getattr(event, "type", None)
        if isinstance(sequence, int) and not isinstance(sequence, bool):
            if sequence <= self._last:
                return False
            self._last = sequence
        self._since_progress = 0
        if kind in TERMINAL_RESPONSE_EVENTS:
            self.finished = True
        return True

    def resumable(self, error: BaseException) -> bool:
        """Whether ``error``, raised while reading, is a broken connection
        (or a body cut short) rather than an answer."""
        return isinstance(error, (APIConnectionError, RemoteProtocolError))

    def resume_from(self, error: APIError) -> int:
        """The ``starting_after`` to resume with after ``error``; raises
        ``StreamNotResumableError`` (from ``error``) when there is no way on."""
        if self.finished:
            raise LocalProtocolError("the stream already ended; there is nothing to resume")
        if self.response_id is None:
            raise StreamNotResumableError(
                "the stream of a background response broke before its id arrived, so it cannot be resumed",
                request=error.request,
            ) from error
        if self._since_progress >= self._max_resumes:
            raise StreamNotResumableError(
                f"the stream of background response {self.response_id} broke {self._since_progress + 1} "
                f"times in a row without a new event; giving up (max_resumes={self._max_resumes})",
                request=error.request,
            ) from error
        self._since_progress += 1
        self.resumes += 1
        return self._last
