"""Recording real traffic from the fake server, then replaying it with no server."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import attrs
import pytest
import trio

import openai_trio
from openai_sansio import (
    AuthenticationError,
    BadRequestError,
    Cassette,
    CassetteError,
    CassetteMiss,
    CassettePlayer,
    Origin,
    RemoteProtocolError,
    loads_cassette,
)
from openai_trio import TCPConnector
from openai_trio.testing import (
    FakeResponse,
    FakeServer,
    Recorder,
    record_connector,
    replay_connector,
)

KEY = "sk-canary-record-7f3a9c1e"
MESSAGES = [{"role": "user", "content": "Say hi"}]


class _SpyStream(trio.abc.Stream):
    def __init__(self, inner: trio.abc.Stream, reads: list[bytes]) -> None:
        self.inner = inner
        self.reads = reads

    async def send_all(self, data: Any) -> None:
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        data = bytes(await self.inner.receive_some(max_bytes))
        if data:
            self.reads.append(data)
        return data

    async def aclose(self) -> None:
        await self.inner.aclose()


class Spy:
    """A connector that notes every non-empty read its streams return."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.reads: list[bytes] = []

    async def __call__(self, origin: Origin) -> trio.abc.Stream:
        return _SpyStream(await self.inner(origin), self.reads)


async def _ids(client: openai_trio.Client, times: int) -> list[list[str]]:
    return [await _list_ids(client) for _ in range(times)]


async def _list_ids(client: openai_trio.Client) -> list[str]:
    return [m.id async for m in client.models.list()]


async def _session(client: openai_trio.Client, upload: pathlib.Path) -> list[Any]:
    """The calls recorded and replayed: a JSON call, a stream, an error, an upload."""
    results: list[Any] = []
    completion = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, user="run-1")
    results.append(completion)
    stream = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    results.append([chunk async for chunk in stream])
    with pytest.raises(BadRequestError) as info:
        await client.models.retrieve("no-such-model-here")
    results.append((info.value.status_code, str(info.value)))
    created = await client.files.create(file=upload, purpose="batch")
    results.append((created.filename, created.bytes))
    content = await client.files.content(created.id)
    results.append(content.content)
    return results


async def _record(tmp_path: pathlib.Path, **kwargs: Any) -> tuple[pathlib.Path, list[Any], Recorder, list[bytes]]:
    path = tmp_path / "cassettes" / "session.jsonl"
    upload = tmp_path / "batch.jsonl"
    upload.write_bytes(b'{"custom_id": 1}\n' * 500)
    async with FakeServer() as server:
        server.route("GET", "/v1/models/no-such-model-here", FakeResponse.error(400, "No such model", code="model_not_found"))
        await server.serve_tcp("127.0.0.1")
        recorder = record_connector(TCPConnector(), path, **kwargs)
        spy = Spy(recorder)
        async with openai_trio.Client(api_key=KEY, base_url=server.base_url, connector=spy, max_retries=0) as client:
            results = await _session(client, upload)
        base_url = server.base_url
    assert len(server.requests) == 5
    (tmp_path / "base_url").write_text(base_url)
    return path, results, recorder, spy.reads


async def test_record_then_replay_without_a_server(tmp_path: pathlib.Path) -> None:
    path, recorded, recorder, live_reads = await _record(tmp_path)
    text = path.read_text(encoding="utf-8")
    assert KEY not in text
    cassette = loads_cassette(text)
    assert cassette == recorder.cassette
    file_id = json.loads(cassette.exchanges[3].response.data.partition(b"\r\n\r\n")[2])["id"]
    assert [(e.request.method, e.request.path) for e in cassette.exchanges] == [
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/chat/completions"),
        ("GET", "/v1/models/no-such-model-here"),
        ("POST", "/v1/files"),
        ("GET", f"/v1/files/{file_id}/content"),
    ]
    assert [e.response.status_code for e in cassette.exchanges] == [200, 200, 400, 200, 200]
    # The recorded chunks are exactly what the client read, boundaries and all.
    assert [c for e in cassette.exchanges for c in e.response.chunks] == live_reads
    assert all(e.response.delays is None for e in cassette.exchanges)
    assert dict(cassette.exchanges[0].request.headers)["authorization"] == "<redacted>"

    # Replayed with no server listening (the port is closed now), another key.
    base_url = (tmp_path / "base_url").read_text()
    replayer = replay_connector(path, volatile=["user"])
    spy = Spy(replayer)
    upload = tmp_path / "batch.jsonl"
    async with openai_trio.Client(api_key="sk-other", base_url=base_url, connector=spy, max_retries=0) as client:
        replayed = await _session(client, upload)
    assert replayed == recorded
    assert spy.reads == live_reads
    assert replayer.player.unplayed == []
    assert "played=5" in repr(replayer)


async def test_a_miss_fails_the_call_with_the_closest_recording(tmp_path: pathlib.Path) -> None:
    path, _, _, _ = await _record(tmp_path)
    base_url = (tmp_path / "base_url").read_text()
    async with openai_trio.Client(
        api_key=KEY, base_url=base_url, connector=replay_connector(path), max_retries=2
    ) as client:
        with pytest.raises(CassetteMiss) as info:
            await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, user="run-1")
    miss = info.value
    assert (miss.method, miss.target, miss.closest) == ("POST", "/v1/chat/completions", 0)
    assert miss.differences == ("body model: 'gpt-4o' here, 'gpt-4o-mini' recorded",)
    assert KEY not in str(miss)
    # Without volatile=["user"], a changed "user" misses too.
    async with openai_trio.Client(api_key=KEY, base_url=base_url, connector=replay_connector(path)) as client:
        with pytest.raises(CassetteMiss, match="body user: 'run-2' here, 'run-1' recorded"):
            await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, user="run-2")


async def test_repeat_requests_get_successive_recordings_unless_reused() -> None:
    async with FakeServer() as server:
        server.enqueue(FakeResponse.json({"object": "list", "data": [{"id": "a", "object": "model", "created": 0, "owned_by": "x"}]}))
        server.enqueue(FakeResponse.json({"object": "list", "data": [{"id": "b", "object": "model", "created": 0, "owned_by": "x"}]}))
        recorder = Recorder(server.connect)
        async with openai_trio.Client(api_key=KEY, base_url="http://fake.test/v1", connector=recorder) as client:
            assert await _ids(client, 2) == [["a"], ["b"]]
    cassette = recorder.cassette
    assert len(cassette) == 2 and "exchanges=2" in repr(recorder)
    async with openai_trio.Client(api_key=KEY, base_url="http://fake.test/v1", connector=replay_connector(cassette)) as client:
        assert await _ids(client, 2) == [["a"], ["b"]]
        with pytest.raises(CassetteMiss, match="used already"):
            await client.models.list()
    reuse = replay_connector(cassette, allow_reuse=True)
    async with openai_trio.Client(api_key=KEY, base_url="http://fake.test/v1", connector=reuse) as client:
        assert await _ids(client, 3) == [["a"], ["a"], ["a"]]


async def test_timings_are_replayed_on_trios_clock(autojump_clock: Any) -> None:
    async with FakeServer() as server:
        server.enqueue(FakeResponse.sse([{"choices": [{"index": 0, "delta": {"content": w}}]} for w in "abc"], delay=0.001))
        recorder = Recorder(server.connect, record_timings=True)
        async with openai_trio.Client(api_key=KEY, base_url="http://fake.test/v1", connector=recorder) as client:
            stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            assert [c.choices[0].delta.content async for c in stream] == ["a", "b", "c"]
    (exchange,) = recorder.cassette.exchanges
    assert exchange.response.delays is not None and len(exchange.response.delays) == len(exchange.response.chunks)
    # Stretch the recorded delays so the virtual clock shows them plainly.
    slow = attrs.evolve(
        exchange.response, delays=tuple(10.0 for _ in exchange.response.chunks)
    )
    cassette = Cassette([attrs.evolve(exchange, response=slow)])
    for timings in (True, False):
        connector = replay_connector(cassette, timings=timings)
        async with openai_trio.Client(api_key=KEY, base_url="http://fake.test/v1", connector=connector, timeout=60) as client:
            started = trio.current_time()
            stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            arrivals = [trio.current_time() - started async for _ in stream]
            # Each chunk the client read came its recorded delay later (the
            # last one, the chunked terminator, may be left unread).
            if timings:
                assert arrivals[0] >= 20.0 and arrivals[-1] >= 30.0
            else:
                assert arrivals[-1] < 10.0


async def test_a_recorded_reset_is_replayed_as_a_transport_failure() -> None:
    async with FakeServer() as server:
        server.enqueue(FakeResponse.raw([b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial"]))
        recorder = Recorder(server.connect)
        async with openai_trio.Client(api_key=KEY, base_url="http://fake.test/v1", connector=recorder, max_retries=0) as client:
            with pytest.raises(RemoteProtocolError):
                await client.models.list()
    cassette = recorder.cassette
    (exchange,) = cassette.exchanges
    assert exchange.response.data.endswith(b"partial")
    reset = Cassette([attrs.evolve(exchange, response=attrs.evolve(exchange.response, reset=True))])
    for replayed, error in ((cassette, RemoteProtocolError), (reset, openai_trio.APIConnectionError)):
        async with openai_trio.Client(
            api_key=KEY, base_url="http://fake.test/v1", connector=replay_connector(replayed), max_retries=0
        ) as client:
            with pytest.raises(error):
                await client.models.list()


async def test_new_episodes_records_what_the_cassette_lacks(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "episodes.jsonl"
    async with FakeServer() as server:
        recorder = Recorder(server.connect, path)
        async with openai_trio.Client(api_key=KEY, base_url="http://fake.test/v1", connector=recorder) as client:
            await client.models.retrieve("gpt-4o-mini")
        replayer = replay_connector(path, mode="new_episodes", inner=server.connect)
        assert replayer.recorder is not None
        async with openai_trio.Client(api_key=KEY, base_url="http://fake.test/v1", connector=replayer) as client:
            assert (await client.models.retrieve("gpt-4o-mini")).id == "gpt-4o-mini"
            assert (await client.models.retrieve("gpt-4o")).id == "gpt-4o"
            assert (await client.models.retrieve("gpt-4o-mini")).id == "gpt-4o-mini"
    assert len(server.requests) == 3
    cassette = loads_cassette(path.read_text(encoding="utf-8"))
    assert [e.request.path for e in cassette.exchanges] == [
        "/v1/models/gpt-4o-mini", "/v1/models/gpt-4o", "/v1/models/gpt-4o-mini"
    ]
    assert KEY not in path.read_text(encoding="utf-8")
    async with openai_trio.Client(api_key=KEY, base_url="http://fake.test/v1", connector=replay_connector(path)) as client:
        assert (await client.models.retrieve("gpt-4o")).id == "gpt-4o"


async def test_a_missing_cassette_says_so(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "absent.jsonl"
    async with openai_trio.Client(api_key=KEY, base_url="http://fake.test/v1", connector=replay_connector(path)) as client:
        with pytest.raises(CassetteMiss, match=r"the cassette is empty \(no cassette at .*absent\.jsonl\)"):
            await client.models.list()


async def test_http2_and_forwarding_proxies_cannot_be_recorded() -> None:
    async with FakeServer() as server:
        recorder = Recorder(server.connect)
        async with openai_trio.Client(
            api_key=KEY, base_url="http://fake.test/v1", connector=recorder, h2c=True, max_retries=0
        ) as client:
            with pytest.raises(CassetteError, match="HTTP/2"):
                await client.models.list()
    tcp = TCPConnector()
    Recorder(tcp)
    assert tcp.http2 is False


def test_bad_arguments_are_refused(tmp_path: pathlib.Path) -> None:
    with pytest.raises(TypeError, match="connector"):
        Recorder("not a connector")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="path or a Cassette"):
        Recorder(TCPConnector(), 42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mode must be"):
        replay_connector(Cassette(), mode="record")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="inner="):
        replay_connector(Cassette(), mode="new_episodes")
    with pytest.raises(TypeError, match="CassettePlayer"):
        replay_connector(42)  # type: ignore[arg-type]
    player = CassettePlayer(Cassette())
    assert replay_connector(player).player is player
    (tmp_path / "bad.jsonl").write_text('{"cassette": 9}\n')
    with pytest.raises(CassetteError, match="line 1"):
        replay_connector(tmp_path / "bad.jsonl")


async def test_the_api_key_never_reaches_the_cassette_from_query_or_body(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "query.jsonl"
    async with FakeServer() as server:
        server.enqueue(FakeResponse.error(401, "bad key", headers={"x-echo": KEY}))
        recorder = record_connector(server.connect, path, secrets=[KEY])
        async with openai_trio.Client(
            api_key=KEY, base_url="http://fake.test/v1", connector=recorder, max_retries=0,
            default_query={"api-key": KEY, "k": KEY},
        ) as client:
            with pytest.raises(AuthenticationError):
                await client.chat.completions.create(model="m", messages=[{"role": "user", "content": KEY}])
    text = path.read_text(encoding="utf-8")
    assert KEY not in text
    (exchange,) = loads_cassette(text).exchanges
    assert "api-key=%3Credacted%3E" in exchange.request.target
