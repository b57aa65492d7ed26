"""What a caller is told when the client runs outside trio.

Every call reads ``trio.current_time()`` first; outside ``trio.run`` that
raises trio's bare "must be called from async context".  The client catches
exactly that RuntimeError (a try costs nothing when nothing is raised) and
raises ``TrioRequiredError`` instead, which says what went wrong and where
the alternatives are.
"""

from __future__ import annotations

import trio

__all__ = ["TrioRequiredError", "in_trio", "trio_required"]


class TrioRequiredError(RuntimeError):
    """An ``openai_trio`` client was used outside ``trio.run`` (under
    asyncio, or by driving its coroutine by hand).

    A ``RuntimeError`` rather than a ``LocalProtocolError``: the request
    itself is fine; it is the event loop that is wrong.
    """


def in_trio() -> bool:
    """Whether this code runs inside ``trio.run``."""
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return False
    return True


def _running_library() -> str | None:
    # Only on the error path: sniffio comes with trio and says which async
    # library (if any) runs this thread.
    try:
        import sniffio

        return sniffio.current_async_library()
    except Exception:
        return None


def trio_required(what: str) -> TrioRequiredError:
    """The error for ``what`` (``"client.models.list()"``-style wording)
    attempted outside trio."""
    library = _running_library()
    where = f"under {library}" if library is not None else "outside trio.run"
    return TrioRequiredError(
        f"openai_trio needs to run under trio, but {what} was awaited {where}. "
        "Start it with trio.run(main) (or a trio test runner such as pytest-trio). "
        "For asyncio or blocking code, drive the sans-IO core openai_sansio directly, "
        "as examples/asyncio_chat.py and examples/blocking_chat.py in the repository do."
    )
