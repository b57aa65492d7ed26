"""Background Responses streams resumed after a drop with starting_after
(issue 8): every event exactly once, whatever event the connection broke at."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import attrs
import pytest
import trio

import openai_trio
from openai_sansio import (
    APIConnectionError,
    APIStreamError,
    LocalProtocolError,
    RemoteProtocolError,
    ResponseStreamResumer,
    StreamNotResumableError,
)
from openai_trio import Client, stream_background_response
from openai_trio.testing import (
    FAKE_REPLY,
    FakeOpenAI,
    FakeResponse,
    FakeServer,
    ReceivedRequest,
    format_sse,
)

# Answer transform per request: (request, what FakeOpenAI answered, index of
# the request) -> what the server sends.
Shape = Callable[[ReceivedRequest, FakeResponse, int], FakeResponse]


@attrs.define
class Setup:
    server: FakeServer
    client: Client
    fake: FakeOpenAI

    def gets(self) -> list[ReceivedRequest]:
        return [r for r in self.server.requests if r.method == "GET"]


@asynccontextmanager
async def setup(shape: Shape | None = None, **client_options: Any) -> AsyncIterator[Setup]:
    fake = FakeOpenAI()
    seen = 0

    def handler(request: ReceivedRequest) -> FakeResponse:
        nonlocal seen
        answer = fake(request)
        index, seen = seen, seen + 1
        return answer if shape is None else shape(request, answer, index)

    async with FakeServer(handler=handler) as server, Client(
        api_key="sk-test", base_url="http://fake.test/v1", connector=server.connect, **client_options
    ) as client:
        with trio.fail_after(30):
            yield Setup(server, client, fake)


def cut(after: int, *, clean: bool = False) -> Callable[[FakeResponse], FakeResponse]:
    """The response broken after ``after`` events: the connection closed
    mid-body, or (``clean``) the body simply ending there."""

    def apply(answer: FakeResponse) -> FakeResponse:
        if clean:
            return attrs.evolve(answer, body=answer.body[:after])
        return attrs.evolve(answer, close_after=after)

    return apply


async def collect(events: openai_trio.BackgroundResponseStream) -> list[Any]:
    return [event async for event in events]


def text_of(events: list[Any]) -> str:
    return "".join(e.delta for e in events if e.type == "response.output_text.delta")


async def full_event_count() -> int:
    async with setup() as s, stream_background_response(s.client, model="gpt-4o-mini", input="hi") as events:
        return len(await collect(events))


async def test_an_unbroken_stream_needs_no_resume() -> None:
    async with setup() as s:
        async with stream_background_response(s.client, model="gpt-4o-mini", input="hi") as events:
            got = await collect(events)
        assert [e.sequence_number for e in got] == list(range(len(got)))
        assert got[-1].type == "response.completed"
        assert text_of(got) == FAKE_REPLY
        assert events.resumes == 0 and events.response_id == got[0].response.id
        body = s.server.requests[0].json()
        assert body["background"] is True and body["stream"] is True


@pytest.mark.parametrize("clean", [False, True], ids=["reset", "clean-end"])
async def test_a_drop_at_every_event_yields_every_event_exactly_once(clean: bool) -> None:
    total = await full_event_count()
    assert total > 10
    for after in range(1, total):
        def shape(request: ReceivedRequest, answer: FakeResponse, index: int, after: int = after) -> FakeResponse:
            return cut(after, clean=clean)(answer) if index == 0 else answer

        async with setup(shape) as s:
            async with stream_background_response(s.client, model="gpt-4o-mini", input="hi") as events:
                got = await collect(events)
            assert [e.sequence_number for e in got] == list(range(total)), after
            assert text_of(got) == FAKE_REPLY
            assert events.resumes == 1
            (resumed,) = s.gets()
            assert resumed.query["stream"] == ["true"]
            assert resumed.query["starting_after"] == [str(after - 1)]


async def test_drops_in_the_resumed_streams_too() -> None:
    total = await full_event_count()

    def shape(request: ReceivedRequest, answer: FakeResponse, index: int) -> FakeResponse:
        # The create stream breaks after 3 events, then each resume after 4.
        return cut(3 if index == 0 else 4)(answer)

    async with setup(shape) as s:
        async with stream_background_response(s.client, model="gpt-4o-mini", input="hi") as events:
            got = await collect(events)
        assert [e.sequence_number for e in got] == list(range(total))
        assert events.resumes == len(s.gets()) == -(-(total - 3) // 4)
        assert [g.query["starting_after"] for g in s.gets()][:3] == [["2"], ["6"], ["10"]]


async def test_repeated_events_from_a_careless_server_are_dropped() -> None:
    total = await full_event_count()
    whole: dict[str, FakeResponse] = {}

    def shape(request: ReceivedRequest, answer: FakeResponse, index: int) -> FakeResponse:
        if index == 0:
            whole["stream"] = answer
            return cut(5)(answer)
        # Ignores starting_after: sends everything from the start again.
        return whole["stream"]

    async with setup(shape) as s:
        async with stream_background_response(s.client, model="gpt-4o-mini", input="hi") as events:
            got = await collect(events)
        assert [e.sequence_number for e in got] == list(range(total))


async def test_a_drop_before_the_response_id_cannot_be_resumed() -> None:
    def shape(request: ReceivedRequest, answer: FakeResponse, index: int) -> FakeResponse:
        return cut(0)(answer)

    async with setup(shape) as s:
        with pytest.raises(StreamNotResumableError, match="before its id arrived") as caught:
            async with stream_background_response(s.client, model="gpt-4o-mini", input="hi") as events:
                await collect(events)
        assert isinstance(caught.value.__cause__, RemoteProtocolError)
        assert s.gets() == []
        assert s.client.pool_stats().in_use == 0


async def test_a_server_that_keeps_dropping_is_given_up_on() -> None:
    def shape(request: ReceivedRequest, answer: FakeResponse, index: int) -> FakeResponse:
        return cut(2 if index == 0 else 0)(answer)

    async with setup(shape) as s:
        with pytest.raises(StreamNotResumableError, match="max_resumes=3"):
            async with stream_background_response(s.client, model="gpt-4o-mini", input="hi", max_resumes=3) as events:
                async for _ in events:
                    pass
        assert len(s.gets()) == 3
        assert events.last_sequence_number == 1


async def test_resuming_by_id_from_another_client() -> None:
    total = await full_event_count()

    def shape(request: ReceivedRequest, answer: FakeResponse, index: int) -> FakeResponse:
        return cut(6)(answer) if index == 0 else answer

    async with setup(shape) as s:
        stream = await s.client.responses.create(model="gpt-4o-mini", input="hi", background=True, stream=True)
        first: list[Any] = []
        with pytest.raises(RemoteProtocolError):
            async with stream:
                async for event in stream:
                    first.append(event)
        response_id = first[0].response.id
        last = first[-1].sequence_number
        # Another client (another process, say) picks it up.
        other = Client(api_key="sk-test", base_url="http://fake.test/v1", connector=s.server.connect)
        async with other, stream_background_response(other, response_id=response_id, starting_after=last) as events:
            rest = await collect(events)
        assert [e.sequence_number for e in first + rest] == list(range(total))
        assert text_of(first + rest) == FAKE_REPLY


async def test_an_error_event_is_an_answer_not_a_drop() -> None:
    def shape(request: ReceivedRequest, answer: FakeResponse, index: int) -> FakeResponse:
        error = format_sse(
            {"type": "error", "sequence_number": 2, "code": "server_error", "message": "boom", "param": None},
            event="error",
        ).encode()
        return attrs.evolve(answer, body=(*answer.body[:2], error))

    async with setup(shape) as s:
        with pytest.raises(APIStreamError):
            async with stream_background_response(s.client, model="gpt-4o-mini", input="hi") as events:
                await collect(events)
        assert s.gets() == []


async def test_cancelled_while_iterating_releases_the_connection() -> None:
    async with setup() as s:
        with trio.move_on_after(0) as scope:
            async with stream_background_response(s.client, model="gpt-4o-mini", input="hi") as events:
                async for _ in events:
                    await trio.sleep(1)
        assert scope.cancelled_caught
        stats = s.client.pool_stats()
        assert (stats.in_use, stats.waiting, stats.connecting) == (0, 0, 0)


async def test_misuse_is_refused_before_anything_is_sent() -> None:
    async with setup() as s:
        client = s.client
        with pytest.raises(LocalProtocolError, match="stream=True"):
            stream_background_response(client, model="m", input="hi", stream=False)
        with pytest.raises(LocalProtocolError, match="background=True"):
            stream_background_response(client, model="m", input="hi", background=False)
        with pytest.raises(LocalProtocolError, match=r"parameters of responses\.create"):
            stream_background_response(client)
        with pytest.raises(LocalProtocolError, match="not both"):
            stream_background_response(client, response_id="resp_1", model="m")
        with pytest.raises(LocalProtocolError, match="needs the response_id"):
            stream_background_response(client, model="m", input="hi", starting_after=3)
        events = stream_background_response(client, model="m", input="hi")
        with pytest.raises(LocalProtocolError, match="inside its async with"):
            await events.__anext__()
        assert s.server.requests == []
        assert "no id yet" in repr(events)


# -- the core's part ---------------------------------------------------------------


@attrs.frozen
class Ev:
    type: str
    sequence_number: int
    response: Any = None


@attrs.frozen
class Resp:
    id: str


def test_resumer_tracks_id_position_and_end() -> None:
    resumer = ResponseStreamResumer()
    assert resumer.accept(Ev("response.created", 0, Resp("resp_1")))
    assert resumer.response_id == "resp_1"
    assert resumer.accept(Ev("response.output_text.delta", 1))
    assert not resumer.accept(Ev("response.output_text.delta", 1))
    assert resumer.resume_from(APIConnectionError("x")) == 1
    assert resumer.resumes == 1
    assert resumer.accept(Ev("response.completed", 2, Resp("resp_1")))
    assert resumer.finished
    with pytest.raises(LocalProtocolError, match="already ended"):
        resumer.resume_from(APIConnectionError("x"))
    assert "finished" in repr(resumer)


def test_resumer_progress_resets_the_budget() -> None:
    resumer = ResponseStreamResumer(response_id="resp_1", starting_after=4, max_resumes=1)
    assert resumer.resume_from(APIConnectionError("x")) == 4
    with pytest.raises(StreamNotResumableError):
        resumer.resume_from(APIConnectionError("x"))
    resumer = ResponseStreamResumer(response_id="resp_1", max_resumes=1)
    for sequence in range(5):
        resumer.resume_from(APIConnectionError("x"))
        assert resumer.accept(Ev("d", sequence))
    assert resumer.resumes == 5
    assert resumer.resumable(RemoteProtocolError("cut")) and resumer.resumable(APIConnectionError("x"))
    assert not resumer.resumable(APIStreamError("boom", body=None))


@pytest.mark.parametrize(
    "kwargs",
    [{"response_id": ""}, {"starting_after": -2}, {"starting_after": True}, {"max_resumes": -1}, {"max_resumes": 1.5}],
)
def test_resumer_refuses_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(LocalProtocolError):
        ResponseStreamResumer(**kwargs)
