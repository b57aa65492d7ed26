"""Fault plans served by the fake server to the real client, over HTTP/1.1
and HTTP/2 (h2c in memory, h2c and h2 over TLS on loopback)."""

from __future__ import annotations

import itertools
import json
import random
import ssl
from typing import Any

import attrs
import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest
import trio
import trio.testing
import trustme
from hypothesis import given, settings
from hypothesis import strategies as st

import openai_trio
from openai_sansio import StreamResetError
from openai_trio.testing import (
    DEFAULT_FAULTS,
    FAKE_REPLY,
    INTERNAL_ERROR,
    REFUSED_STREAM,
    DelayHead,
    EarlyClose,
    FakeResponse,
    FakeServer,
    Fault,
    FaultPlan,
    GoAway,
    LateTerminator,
    MalformedChunkSize,
    MalformedHeaders,
    MalformedStatusLine,
    OversizedHeaders,
    PartialChunks,
    RateLimited,
    ResetMidBody,
    ResetStream,
    ServerErrors,
    SlowTrickle,
)

KEY = "sk-faults-test"
MESSAGES: Any = [{"role": "user", "content": "Hi"}]
OK = "ok"

# The outcome of one non-streamed call whose first attempt gets the fault
# (max_retries=2), and how many requests reached the server, in memory.  A
# response cut short by a close (orderly or a reset, over either protocol,
# HTTP/2 without a GOAWAY too) is an IncompleteResponseError, a connection
# error, so it is retried (as a counted retry: the calls carry an
# Idempotency-Key); bytes that break HTTP are a RemoteProtocolError, not
# retried.
H1_OUTCOMES: dict[Fault, tuple[object, int]] = {
    DelayHead(0.5): (OK, 1),
    PartialChunks(1): (OK, 1),
    PartialChunks(3): (OK, 1),
    ResetMidBody(16): (OK, 2),
    ResetMidBody(0, abort=False): (OK, 2),
    LateTerminator(0.5): (OK, 1),
    MalformedStatusLine(): (openai_trio.RemoteProtocolError, 1),
    MalformedHeaders(): (openai_trio.RemoteProtocolError, 1),
    MalformedChunkSize(): (openai_trio.RemoteProtocolError, 1),
    EarlyClose(): (OK, 2),
    SlowTrickle(0.01, 5): (OK, 1),
    OversizedHeaders(): (openai_trio.RemoteProtocolError, 1),
    RateLimited(retry_after=0.2): (OK, 2),
    RateLimited(retry_after=None, retry_after_ms=20): (OK, 2),
    ServerErrors((500, 502)): (OK, 3),
    ServerErrors((500, 502, 503)): (openai_trio.InternalServerError, 3),
}
H2_OUTCOMES: dict[Fault, tuple[object, int]] = {
    **{f: o for f, o in H1_OUTCOMES.items() if f.applies_to("2")},
    GoAway("below"): (OK, 2),
    GoAway("above"): (OK, 1),
    GoAway("below", error_code=INTERNAL_ERROR): (OK, 2),
    ResetStream(REFUSED_STREAM): (OK, 2),
    ResetStream(INTERNAL_ERROR): (OK, 2),
    ResetStream(INTERNAL_ERROR, after_bytes=8): (OK, 2),
    ResetStream(REFUSED_STREAM, after_bytes=8): (OK, 2),
}


def client_for(server: FakeServer, *, h2c: bool = False, **options: Any) -> openai_trio.Client:
    settings: dict[str, Any] = {"max_retries": 2, "timeout": 30}
    settings.update(options)
    return openai_trio.Client(
        api_key=KEY, base_url="http://fake.test/v1", connector=server.connect, h2c=h2c, **settings
    )


async def one_call(client: openai_trio.Client) -> object:
    try:
        completion = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    except openai_trio.APIError as exc:
        return type(exc)
    assert completion.choices[0].message.content == FAKE_REPLY
    return OK


def fault_id(fault: Fault) -> str:
    return repr(fault)


@pytest.mark.parametrize("fault", list(H1_OUTCOMES), ids=fault_id)
async def test_each_fault_over_http1(fault: Fault, autojump_clock: trio.testing.MockClock) -> None:
    plan = FaultPlan([fault])
    async with FakeServer(fault_plan=plan) as server, client_for(server) as client:
        outcome = await one_call(client)
        # The connection (or a fresh one) still serves the next call.
        assert await one_call(client) == OK
    expected, receipts = H1_OUTCOMES[fault]
    assert outcome == expected
    assert len(server.requests) == receipts + 1
    assert [a.fault for a in plan.applied][:1] == [fault]
    assert server.handler_errors == []


@pytest.mark.parametrize("fault", list(H2_OUTCOMES), ids=fault_id)
async def test_each_fault_over_h2c(fault: Fault, autojump_clock: trio.testing.MockClock) -> None:
    plan = FaultPlan([fault])
    async with FakeServer(fault_plan=plan) as server, client_for(server, h2c=True) as client:
        outcome = await one_call(client)
        assert await one_call(client) == OK
    expected, receipts = H2_OUTCOMES[fault]
    assert outcome == expected
    assert len(server.requests) == receipts + 1
    assert all(r.http_version == "2" for r in server.requests)
    assert plan.applied[0].fault == fault
    assert server.handler_errors == []


@pytest.mark.parametrize("fault", [MalformedStatusLine(), GoAway(), ResetStream()], ids=fault_id)
async def test_a_fault_for_the_other_protocol_is_skipped_and_logged(
    fault: Fault, autojump_clock: trio.testing.MockClock
) -> None:
    plan = FaultPlan([fault])
    h2c = not fault.applies_to("2")
    async with FakeServer(fault_plan=plan) as server, client_for(server, h2c=h2c) as client:
        assert await one_call(client) == OK
    (applied,) = plan.applied
    assert applied.fault is None and applied.skipped == fault
    assert plan.counts == {}


@pytest.mark.parametrize("h2c", [False, True], ids=["http1", "h2c"])
@pytest.mark.parametrize(
    ("fault", "h1_error", "h2_error"),
    [
        (ResetMidBody(40), openai_trio.RemoteProtocolError, openai_trio.RemoteProtocolError),
        (ResetStream(INTERNAL_ERROR, after_bytes=40), None, StreamResetError),
        (PartialChunks(2), None, None),
        (SlowTrickle(0.01, 7), None, None),
        (LateTerminator(1.0), None, None),
    ],
    ids=["reset-mid-body", "rst-mid-body", "partial", "trickle", "late-end"],
)
async def test_faults_in_a_streamed_answer(
    fault: Fault,
    h1_error: type[Exception] | None,
    h2_error: type[Exception] | None,
    h2c: bool,
    autojump_clock: trio.testing.MockClock,
) -> None:
    expected = h2_error if h2c else h1_error
    if not fault.applies_to("2" if h2c else "1.1"):
        expected = None
    async with FakeServer(fault_plan=FaultPlan([fault])) as server, client_for(server, h2c=h2c) as client:
        pieces: list[str] = []
        try:
            stream = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
            async with stream:
                async for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        pieces.append(chunk.choices[0].delta.content)
        except openai_trio.APIError as exc:
            assert expected is not None and isinstance(exc, expected), exc
        else:
            assert expected is None
            assert "".join(pieces) == FAKE_REPLY
        assert await one_call(client) == OK


async def test_a_5xx_sequence_follows_one_call_among_others(autojump_clock: trio.testing.MockClock) -> None:
    plan = FaultPlan(routes={"POST /v1/chat/completions": [ServerErrors((500, 503))]})
    async with FakeServer(fault_plan=plan) as server, client_for(server) as client:
        assert await one_call(client) == OK
        assert await one_call(client) == OK
    statuses = [a.fault.statuses if isinstance(a.fault, ServerErrors) else None for a in plan.applied]
    assert statuses == [(500, 503), (503,), None, None]
    keys = [r.headers["idempotency-key"] for r in server.requests]
    assert keys[0] == keys[1] == keys[2] != keys[3]
    assert [r.headers.get("x-retry-count") for r in server.requests] == ["0", "1", "2", "0"]


async def test_routes_win_over_the_script(autojump_clock: trio.testing.MockClock) -> None:
    plan = FaultPlan(
        [EarlyClose(), None, MalformedStatusLine()],
        routes={"GET /v1/models/{model}": RateLimited(retry_after_ms=5, retry_after=None)},
    )
    async with FakeServer(fault_plan=plan) as server, client_for(server, max_retries=0) as client:
        with pytest.raises(openai_trio.RateLimitError):
            await client.models.retrieve("gpt-4o")
        # The script counts every request: this one is the second.
        assert await one_call(client) == OK
        with pytest.raises(openai_trio.RemoteProtocolError):
            await one_call_raising(client)
    assert [a.fault.kind if a.fault else None for a in plan.applied] == ["RateLimited", None, "MalformedStatusLine"]
    assert plan.counts == {"RateLimited": 1, "MalformedStatusLine": 1}


async def one_call_raising(client: openai_trio.Client) -> None:
    await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)


async def run_random(seed: int, h2c: bool) -> tuple[list[object], list[str | None]]:
    plan = FaultPlan.random(seed=seed, rate=0.5)
    # The plan keys its draws on the idempotency key: make those repeatable.
    keys = random.Random(0)
    async with (
        FakeServer(fault_plan=plan) as server,
        client_for(server, h2c=h2c, max_retries=1, random_bytes=keys.randbytes) as client,
    ):
        outcomes = [await one_call(client) for _ in range(30)]
    return outcomes, [a.fault.kind if a.fault else None for a in plan.applied]


@pytest.mark.parametrize("h2c", [False, True], ids=["http1", "h2c"])
async def test_a_random_plan_is_deterministic_for_a_seed(h2c: bool, autojump_clock: trio.testing.MockClock) -> None:
    first = await run_random(7, h2c)
    assert first == await run_random(7, h2c)
    assert first != await run_random(8, h2c)
    outcomes, kinds = first
    assert OK in outcomes and any(o != OK for o in outcomes)
    assert all(o == OK or issubclass(o, openai_trio.APIError) for o in outcomes)  # type: ignore[arg-type]
    # Only faults of the connection's protocol were served.
    wrong = {"GoAway", "ResetStream"} if not h2c else {"MalformedStatusLine", "MalformedHeaders", "MalformedChunkSize"}
    assert not wrong & set(filter(None, kinds))


def test_a_random_plan_keyed_by_call_ignores_arrival_order() -> None:
    def request(call: str, attempt: int) -> Any:
        from openai_sansio import Headers
        from openai_trio.testing import ReceivedRequest

        return ReceivedRequest("POST", "/v1/x", Headers([("x-id", call), ("x-try", str(attempt))]), b"")

    calls = [f"c{i}" for i in range(200)]
    forward = FaultPlan.random(seed=3, rate=0.4, call_key="x-id")
    backward = FaultPlan.random(seed=3, rate=0.4, call_key="x-id")
    one = {c: forward.choose(request(c, 0)) for c in calls}
    other = {c: backward.choose(request(c, 0)) for c in reversed(calls)}
    assert one == other
    assert 40 < sum(f is not None for f in one.values()) < 120
    weighted = FaultPlan.random(seed=3, rate=1.0, kinds={EarlyClose(): 1, DelayHead(): 0})
    assert {weighted.choose(request(c, 0)) for c in calls} == {EarlyClose()}


def test_plans_refuse_what_they_cannot_serve() -> None:
    with pytest.raises(TypeError):
        FaultPlan(["not a fault"])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        FaultPlan(routes={"/v1/models": EarlyClose()})
    with pytest.raises(ValueError):
        FaultPlan.random(seed=1, rate=1.5)
    with pytest.raises(ValueError):
        FaultPlan.random(seed=1, kinds=[])
    with pytest.raises(ValueError):
        ServerErrors((404,))
    with pytest.raises(ValueError):
        PartialChunks(0)
    with pytest.raises(ValueError):
        GoAway("sideways")  # type: ignore[arg-type]
    assert "FaultPlan random" in repr(FaultPlan.random(seed=1))
    assert len({f.kind for f in DEFAULT_FAULTS}) == 14


def test_the_log_is_bounded() -> None:
    from openai_sansio import Headers
    from openai_trio.testing import ReceivedRequest

    plan = FaultPlan.random(seed=1, rate=1.0, kinds=[EarlyClose()], log_limit=10)
    for i in range(100):
        plan.choose(ReceivedRequest("GET", "/v1/models", Headers([("idempotency-key", str(i))]), b""))
    assert len(plan.applied) == 10 and plan.applied[-1].index == 99
    assert plan.received == 100 and plan.counts == {"EarlyClose": 100}


# -- HTTP/2 serving -----------------------------------------------------------


async def test_h2c_serves_concurrent_calls_and_streams_on_one_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with FakeServer() as server, client_for(server, h2c=True) as client:
        results: list[object] = []

        async def call(i: int) -> None:
            if i % 2:
                stream = await client.chat.completions.create(
                    model="gpt-4o-mini", messages=MESSAGES, stream=True
                )
                text = ""
                async with stream:
                    async for chunk in stream:
                        if chunk.choices and chunk.choices[0].delta.content:
                            text += chunk.choices[0].delta.content
                results.append(text == FAKE_REPLY)
            else:
                results.append(await one_call(client) == OK)

        async with trio.open_nursery() as nursery:
            for i in range(20):
                nursery.start_soon(call, i)
    assert results == [True] * 20
    assert server.connections_opened == 1
    assert {r.http_version for r in server.requests} == {"2"}


class RawH2:
    """A bare h2 client over a memory stream, to watch the server's frames."""

    def __init__(self, stream: trio.abc.Stream, window: int = 65535) -> None:
        self.stream = stream
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.conn.local_settings = h2.settings.Settings(
            client=True, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window}
        )
        self.window = window
        self.data_frames: list[int] = []

    async def start(self, split: list[int] | None = None) -> None:
        self.conn.initiate_connection()
        data = self.conn.data_to_send()
        cuts = [0, *sorted(c for c in (split or []) if 0 < c < len(data)), len(data)]
        for a, b in itertools.pairwise(cuts):
            await self.stream.send_all(data[a:b])

    async def get(self, path: str) -> tuple[dict[bytes, bytes], bytes]:
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(
            sid,
            [(b":method", b"GET"), (b":path", path.encode()), (b":scheme", b"http"), (b":authority", b"fake.test")],
            end_stream=True,
        )
        await self.stream.send_all(self.conn.data_to_send())
        head: dict[bytes, bytes] = {}
        body = bytearray()
        while True:
            data = await self.stream.receive_some(65536)
            assert data, "the server closed the connection"
            for event in self.conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    head = dict(event.headers or [])
                elif isinstance(event, h2.events.DataReceived):
                    assert event.flow_controlled_length is not None
                    self.data_frames.append(event.flow_controlled_length)
                    body += event.data or b""
                    # Handed back only once read, so the server must wait.
                    self.conn.acknowledge_received_data(event.flow_controlled_length, sid)
                elif isinstance(event, h2.events.StreamEnded):
                    await self.stream.send_all(self.conn.data_to_send())
                    return head, bytes(body)
            await self.stream.send_all(self.conn.data_to_send())


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=60), max_size=8))
def test_the_preface_is_recognised_however_it_is_split(split: list[int]) -> None:
    async def main() -> None:
        with trio.fail_after(10):
            async with FakeServer() as server:
                raw = RawH2(await server.connect())
                await raw.start(split or list(range(1, 30)))
                head, body = await raw.get("/v1/models/gpt-4o")
        assert head[b":status"] == b"200"
        assert json.loads(body)["id"] == "gpt-4o"

    trio.run(main)


async def test_http2_bodies_are_sent_as_the_window_allows(autojump_clock: trio.testing.MockClock) -> None:
    big = b"x" * 300_000
    async with FakeServer() as server:
        server.route("GET", "/v1/big", FakeResponse(body=(big,), content_type="application/octet-stream"))
        raw = RawH2(await server.connect(), window=1000)
        await raw.start()
        head, body = await raw.get("/v1/big")
    assert head[b":status"] == b"200" and head[b"content-length"] == b"300000"
    assert body == big
    assert max(raw.data_frames) <= 16384
    assert b"connection" not in head and b"transfer-encoding" not in head


async def test_h2c_and_h2_over_tls_on_loopback() -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    plan = FaultPlan([ResetStream(REFUSED_STREAM), None, GoAway("below")])
    with trio.fail_after(20):
        async with FakeServer(fault_plan=plan) as plain, FakeServer() as tls:
            await plain.serve_tcp()
            await tls.serve_tcp(ssl_context=server_context)
            assert tls.base_url.startswith("https://127.0.0.1:")
            async with openai_trio.Client(api_key=KEY, base_url=plain.base_url, h2c=True, max_retries=0) as client:
                for _ in range(3):
                    model = await client.models.retrieve("gpt-4o")
                    assert model.id == "gpt-4o"
            async with openai_trio.Client(api_key=KEY, base_url=tls.base_url, ssl_context=client_context) as client:
                assert await one_call(client) == OK
                async with openai_trio.Client(
                    api_key=KEY, base_url=tls.base_url, ssl_context=client_context, http2=False
                ) as h1:
                    assert await one_call(h1) == OK
    # Refused and left out of a GOAWAY: each went again, at no retry's cost.
    assert len(plain.requests) == 5
    assert [r.http_version for r in tls.requests] == ["2", "1.1"]
    assert plain.connections_opened == 2


async def test_reset_mid_body_on_loopback_is_a_tcp_reset() -> None:
    plan = FaultPlan([ResetMidBody(16), None, ResetMidBody(16, abort=False), None])
    with trio.fail_after(20):
        async with FakeServer(fault_plan=plan) as server:
            await server.serve_tcp()
            async with openai_trio.Client(api_key=KEY, base_url=server.base_url, max_retries=1) as client:
                # A reset is a connection error: retried, and the retry succeeds.
                assert await one_call(client) == OK
                # So is an orderly close mid-body (a truncated answer).
                assert await one_call(client) == OK
                # Without retries it is seen as what it is.
                plan = FaultPlan([ResetMidBody(16, abort=False)])
                server.fault_plan = plan
                assert await one_call(client.with_options(max_retries=0)) == openai_trio.IncompleteResponseError
    assert len(server.requests) == 5


def test_faults_are_frozen_values() -> None:
    fault = ResetMidBody(after_bytes=3)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        fault.after_bytes = 4  # type: ignore[misc]
    assert fault == ResetMidBody(3) and hash(fault) == hash(ResetMidBody(3))
    assert ResetStream(REFUSED_STREAM).unprocessed and not ResetStream(REFUSED_STREAM, after_bytes=0).unprocessed
    assert GoAway("below").unprocessed and not GoAway("above").unprocessed
