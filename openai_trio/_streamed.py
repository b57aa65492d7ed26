"""``with_streaming_response``: the response handed over before its body
is read.

``StreamedResponseManager`` is what every ``with_streaming_response``
method returns: ``async with`` it to send the request and get the response
once its head arrived; leaving the block releases the connection (returned
to the pool when the body was read to its end, closed otherwise), however
the block ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Awaitable, Callable, Generic, Protocol, TypeVar

from ._binary import StreamedBinaryResponse

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["StreamedResponse", "StreamedResponseManager"]


class _Closeable(Protocol):
    async def aclose(self) -> None: ...


R = TypeVar("R", bound=_Closeable)
T = TypeVar("T")


class StreamedResponseManager(Generic[R]):
    """An async context manager around one unread response."""

    __slots__ = ("_response", "_start")

    def __init__(self, start: Callable[[], Awaitable[R]]) -> None:
        self._start: Callable[[], Awaitable[R]] | None = start
        self._response: R | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    async def __aenter__(self) -> R:
        start = self._start
        if start is None:
            raise RuntimeError("a streaming response can be entered only once")
        self._start = None
        self._response = await start()
        return self._response

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        response, self._response = self._response, None
        if response is not None:
            await response.aclose()


if TYPE_CHECKING:

    class StreamedResponse(StreamedBinaryResponse, Generic[T]):
        """A response handed over unread whose ``parse()`` gives ``T``."""

        async def parse(self) -> T: ...

else:
    # One class at run time; the type parameter only tells a type checker
    # what ``parse()`` returns.
    StreamedResponse = StreamedBinaryResponse
