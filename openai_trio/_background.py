"""A background response's event stream that survives a dropped connection.

::

    async with stream_background_response(client, model="gpt-4o-mini", input="...") as events:
        async for event in events:
            ...

The response is created with ``background=True, stream=True``.  When the
connection carrying its events breaks (a reset, a body cut short, a read
timeout), the stream is opened again with
``responses.retrieve(id, stream=True, starting_after=<last sequence
number>)`` and iteration goes on: every event arrives once, in order.  The
decisions (what is new, whether and where to resume) are the core's
``ResponseStreamResumer``; this module only opens and closes streams.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

import trio

from openai_sansio import APIConnectionError, APIError, LocalProtocolError
from openai_sansio._resume import ResponseStreamResumer, StreamNotResumableError

if TYPE_CHECKING:
    from typing_extensions import Self

    from openai_sansio.types import ResponseStreamEvent

    from ._client import Client
    from ._streams import AsyncStream

__all__ = ["BackgroundResponseStream", "StreamNotResumableError", "stream_background_response"]


class BackgroundResponseStream:
    """The events of one background response, resumed across drops; an
    async context manager and async iterator.  ``response_id``,
    ``last_sequence_number`` and ``resumes`` say where it stands."""

    def __init__(
        self,
        client: Client,
        *,
        create: dict[str, Any] | None,
        response_id: str | None,
        starting_after: int | None,
        max_resumes: int,
    ) -> None:
        self._client = client
        self._create = create
        self._resumer = ResponseStreamResumer(
            response_id=response_id, starting_after=starting_after, max_resumes=max_resumes
        )
        self._stream: AsyncStream[ResponseStreamEvent] | None = None
        self._entered = False
        self._closed = False

    def __repr__(self) -> str:
        return f"<BackgroundResponseStream {self._resumer!r}>"

    @property
    def response_id(self) -> str | None:
        return self._resumer.response_id

    @property
    def last_sequence_number(self) -> int:
        return self._resumer.last_sequence_number

    @property
    def resumes(self) -> int:
        return self._resumer.resumes

    async def __aenter__(self) -> Self:
        if self._entered:
            raise LocalProtocolError("a BackgroundResponseStream can be entered only once")
        self._entered = True
        await self._open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> Self:
        return self

    async def _open(self) -> None:
        client = self._client
        if self._create is not None:
            params, self._create = self._create, None
            stream = await client.responses.create(**params, background=True, stream=True)
        else:
            resumer = self._resumer
            assert resumer.response_id is not None
            stream = await client.responses.retrieve(
                resumer.response_id, stream=True, starting_after=resumer.last_sequence_number
            )
        self._stream = stream

    async def __anext__(self) -> ResponseStreamEvent:
        if not self._entered or self._closed:
            raise LocalProtocolError("iterate a BackgroundResponseStream inside its async with block")
        resumer = self._resumer
        while True:
            if resumer.finished:
                await self.aclose()
                raise StopAsyncIteration
            stream = self._stream
            try:
                if stream is None:
                    await self._open()
                    continue
                event = await stream.__anext__()
            except StopAsyncIteration:
                # Ended without a terminal event (a proxy closing politely,
                # say): resumed like a drop.
                await self._drop()
                resumer.resume_from(APIConnectionError("the stream ended before the response was finished"))
                continue
            except APIError as exc:
                await self._drop()
                if stream is None or not resumer.resumable(exc):
                    raise
                # Raises StreamNotResumableError (from exc) when there is no
                # way on; else the next turn opens the stream past the last
                # event seen.
                resumer.resume_from(exc)
                continue
            if resumer.accept(event):
                return event

    async def _drop(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async def aclose(self) -> None:
        """Close the stream being read, if any; idempotent."""
        self._closed = True
        await self._drop()


def stream_background_response(
    client: Client,
    *,
    response_id: str | None = None,
    starting_after: int | None = None,
    max_resumes: int = 5,
    **create: Any,
) -> BackgroundResponseStream:
    """Create a background response and stream its events, resuming after
    drops; or, given ``response_id`` (and optionally ``starting_after``),
    pick up the stream of one created earlier, even in another process.

    ``create`` takes the parameters of ``client.responses.create`` (model,
    input, ...); ``background`` and ``stream`` are set by this helper.
    ``max_resumes`` bounds the resumes in a row that bring no new event;
    past it ``StreamNotResumableError`` is raised from the last failure.
    A break before the response's id arrived cannot be resumed and raises
    the same error.
    """
    for name in ("background", "stream"):
        if name in create and create.pop(name) is not True:
            raise LocalProtocolError(f"stream_background_response always uses {name}=True")
    if response_id is None:
        if starting_after is not None:
            raise LocalProtocolError("starting_after needs the response_id of the stream to resume")
        if not create:
            raise LocalProtocolError("pass the parameters of responses.create, or response_id= to resume")
        return BackgroundResponseStream(
            client, create=create, response_id=None, starting_after=starting_after, max_resumes=max_resumes
        )
    if create:
        raise LocalProtocolError("pass either response_id= or the parameters of responses.create, not both")
    return BackgroundResponseStream(
        client, create=None, response_id=response_id, starting_after=starting_after, max_resumes=max_resumes
    )
