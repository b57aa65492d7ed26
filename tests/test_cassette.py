"""The cassette format and its matching, in the core (no I/O)."""

from __future__ import annotations

import itertools
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_sansio import (
    CASSETTE_VERSION,
    Cassette,
    CassetteError,
    CassetteFormatError,
    CassetteMiss,
    CassettePlayer,
    ExchangeRecorder,
    LocalProtocolError,
    RecordedExchange,
    RecordedRequest,
    RecordedResponse,
    cassette_exchange_line,
    dumps_cassette,
    loads_cassette,
    match_recording,
    normalise_body,
    scrub_request,
)

SECRET = "sk-canary-0123456789abcdef"


def _json_request(body: object, target: str = "/v1/chat/completions", method: str = "POST") -> RecordedRequest:
    return RecordedRequest(method, target, [("content-type", "application/json")], json.dumps(body).encode())


def _ok(text: str = '{"ok": true}') -> RecordedResponse:
    head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(text)}\r\n\r\n"
    return RecordedResponse((head.encode(), text.encode()))


def _cassette(*requests: RecordedRequest) -> Cassette:
    return Cassette([RecordedExchange(r, _ok(f'{{"n": {i}}}')) for i, r in enumerate(requests)])


# -- the text format -----------------------------------------------------------


def test_round_trip_keeps_everything() -> None:
    exchanges = [
        RecordedExchange(
            RecordedRequest("POST", "/v1/chat/completions?x=1", [("Content-Type", "application/json")], b'{"a": "\xc3\xa9"}'),
            RecordedResponse((b"HTTP/1.1 200 OK\r\n", b"content-length: 2\r\n\r\n", b"ok"), (0.5, 0.0, 0.25)),
        ),
        RecordedExchange(
            RecordedRequest("POST", "/v1/files", [], bytes(range(256))),
            RecordedResponse((b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n", b"\xff\xfe", b"\xe2\x82"), None, True),
        ),
        RecordedExchange(RecordedRequest("GET", "/v1/models", []), RecordedResponse(())),
    ]
    cassette = Cassette(exchanges, {"recorded_with": "tests"})
    text = dumps_cassette(cassette)
    lines = text.splitlines()
    assert len(lines) == 4
    assert json.loads(lines[0]) == {"cassette": CASSETTE_VERSION, "recorded_with": "tests"}
    # Human-readable: text stays text, only the binary pieces are base64.
    assert '"body": "{\\"a\\": \\"é\\"}"' in lines[1]
    assert '{"base64": ' in lines[2]
    assert loads_cassette(text) == cassette
    assert loads_cassette(text.encode()) == cassette
    assert exchanges[0].request.headers == (("content-type", "application/json"),)
    assert "200" in repr(exchanges[0]) and "bytes" in repr(exchanges[1].request)


def utf8(min_size: int = 0, max_size: int = 50) -> st.SearchStrategy[bytes]:
    """UTF-8 text as bytes, drawn as code points: text strategies mixed with
    binary ones make hypothesis compare str with bytes, an error under -bb."""
    point = st.integers(0x20, 0x10FFFF).filter(lambda c: not 0xD800 <= c <= 0xDFFF)
    return st.lists(point, min_size=min_size, max_size=max_size).map(lambda cs: "".join(map(chr, cs)).encode())


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=300) | utf8(max_size=100),
    chunks=st.lists(st.binary(min_size=1, max_size=50) | utf8(min_size=1, max_size=20), max_size=6),
    timed=st.booleans(),
    reset=st.booleans(),
    target=st.text(alphabet="abc/?=&%+-._~0123456789", max_size=30).map(lambda t: "/" + t),
)
def test_round_trip_of_any_bytes(body: bytes, chunks: list[bytes], timed: bool, reset: bool, target: str) -> None:
    delays = tuple(i * 0.125 for i in range(len(chunks))) if timed else None
    exchange = RecordedExchange(
        RecordedRequest("POST", target, [("x-a", "b")], body), RecordedResponse(tuple(chunks), delays, reset)
    )
    line = cassette_exchange_line(exchange)
    assert line.endswith("\n") and line.count("\n") == 1
    loaded = loads_cassette(dumps_cassette(Cassette([exchange, exchange])))
    assert loaded.exchanges == (exchange, exchange)
    assert loaded.exchanges[0].response.chunks == tuple(chunks)


def test_blank_lines_are_skipped_and_line_separators_inside_strings_are_kept() -> None:
    exchange = RecordedExchange(RecordedRequest("POST", "/v1/x", [], "a\u2028b\u0085c".encode()), _ok())
    text = "\n" + dumps_cassette(Cassette([exchange])) + "\n\n"
    assert loads_cassette(text).exchanges == (exchange,)


@pytest.mark.parametrize("version", [0, 2, 99, -1])
def test_unknown_versions_are_refused(version: int) -> None:
    with pytest.raises(CassetteFormatError, match=f"unsupported cassette version {version}") as info:
        loads_cassette(json.dumps({"cassette": version}) + "\n")
    assert info.value.line == 1


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("", 1, "empty"),
        ("\n\n", 3, "empty"),
        ('{"cassette": "1"}', 1, "integer"),
        ('{"cassette": true}', 1, "integer"),
        ('{"request": {}}', 1, "header"),
        ("[1, 2]", 1, "object"),
        ('{"cassette": 1}\nnot json', 2, "not JSON"),
        ('{"cassette": 1}\n{"request": {"method": "GET", "target": "/", "headers": []}}', 2, "lacks response"),
        ('{"cassette": 1}\n\n{"request": 1, "response": {"chunks": []}}', 3, "request must be an object"),
        ('{"cassette": 1}\n{"request": {"method": "G T", "target": "/", "headers": []}, "response": {"chunks": []}}', 2, "method"),
        ('{"cassette": 1}\n{"request": {"method": "GET", "target": "x", "headers": []}, "response": {"chunks": []}}', 2, "target"),
        ('{"cassette": 1}\n{"request": {"method": "GET", "target": "/", "headers": [["a"]]}, "response": {"chunks": []}}', 2, "headers[0]"),
        ('{"cassette": 1}\n{"request": {"method": "GET", "target": "/", "headers": [], "body": 3}, "response": {"chunks": []}}', 2, "request.body"),
        ('{"cassette": 1}\n{"request": {"method": "GET", "target": "/", "headers": []}, "response": {"chunks": [{"base64": "!!"}]}}', 2, "base64"),
        ('{"cassette": 1}\n{"request": {"method": "GET", "target": "/", "headers": []}, "response": {"chunks": ["a"], "delays": []}}', 2, "delays"),
        ('{"cassette": 1}\n{"request": {"method": "GET", "target": "/", "headers": []}, "response": {"chunks": ["a"], "delays": [-1]}}', 2, "non-negative"),
        ('{"cassette": 1}\n{"request": {"method": "GET", "target": "/", "headers": []}, "response": {"chunks": [], "reset": 1}}', 2, "reset"),
        ('{"cassette": 1}\n{"request": {"method": "GET", "target": "/", "headers": []}, "response": {"chunks": [], "extra": 1}}', 2, "unknown field"),
        ('{"cassette": 1}\n{"request": {"method": "GET", "target": "/", "headers": [], "body": "\\ud800"}, "response": {"chunks": []}}', 2, "surrogate"),
        ('{"cassette": 1}\n' + "[" * 100_000, 2, ""),
    ],
)
def test_malformed_lines_name_their_line(text: str, line: int, words: str) -> None:
    with pytest.raises(CassetteFormatError, match=f"^cassette line {line}: .*{re.escape(words)}") as info:
        loads_cassette(text)
    assert info.value.line == line
    assert isinstance(info.value, CassetteError)


def test_bytes_that_are_not_utf8_name_their_line() -> None:
    with pytest.raises(CassetteFormatError, match="line 2: not UTF-8"):
        loads_cassette(b'{"cassette": 1}\n\xff\n')


# Text and bytes are drawn by separate tests: one strategy mixing them makes
# hypothesis compare str with bytes, an error under -bb.
@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_a_cassette_or_a_format_error(text: str) -> None:
    try:
        loads_cassette('{"cassette": 1}\n' + text)
    except CassetteFormatError as exc:
        assert exc.line >= 1


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_are_a_cassette_or_a_format_error(data: bytes) -> None:
    try:
        loads_cassette(b'{"cassette": 1}\n' + data)
    except CassetteFormatError as exc:
        assert exc.line >= 1


# -- matching ----------------------------------------------------------------------


def test_matching_ignores_key_order_spacing_and_volatile_fields() -> None:
    recorded = _json_request({"model": "m", "user": "u-1", "metadata": {"request_id": "a", "keep": 1}})
    live = RecordedRequest(
        "POST",
        "/v1/chat/completions",
        [],
        b'{"metadata":{"keep":1,"request_id":"b"},   "user":"u-2","model":"m"}',
    )
    exchanges = _cassette(recorded).exchanges
    assert match_recording(live, exchanges) is None
    assert match_recording(live, exchanges, volatile=["user"]) is None
    assert match_recording(live, exchanges, volatile=["user", "metadata.request_id"]) == 0
    assert normalise_body(live, ["user", "metadata.request_id"]) == {"model": "m", "metadata": {"keep": 1}}


def test_volatile_paths_reach_into_lists() -> None:
    a = _json_request({"messages": [{"role": "user", "content": "x", "id": 1}, {"role": "user", "id": 2}]})
    b = _json_request({"messages": [{"role": "user", "content": "x", "id": 7}, {"role": "user", "id": 8}]})
    assert match_recording(b, _cassette(a).exchanges, volatile=["messages.*.id"]) == 0
    assert match_recording(b, _cassette(a).exchanges, volatile=["messages.0.id"]) is None
    assert normalise_body(b, ["messages.1", "nothing.here", "messages.9.id"]) == {
        "messages": [{"role": "user", "content": "x", "id": 7}]
    }


def test_json_values_of_different_types_do_not_match() -> None:
    recorded = _json_request({"n": 1})
    assert match_recording(_json_request({"n": True}), _cassette(recorded).exchanges) is None
    assert match_recording(_json_request({"n": 1.0}), _cassette(recorded).exchanges) is None
    assert match_recording(_json_request({"n": 1}), _cassette(recorded).exchanges) == 0


def test_method_target_and_named_headers_must_match() -> None:
    recorded = RecordedRequest("GET", "/v1/models?limit=2", [("openai-beta", "assistants=v2")])
    exchanges = _cassette(recorded).exchanges
    assert match_recording(RecordedRequest("GET", "/v1/models?limit=2", []), exchanges) == 0
    assert match_recording(RecordedRequest("GET", "/v1/models?limit=3", []), exchanges) is None
    assert match_recording(RecordedRequest("HEAD", "/v1/models?limit=2", []), exchanges) is None
    assert match_recording(RecordedRequest("GET", "/v1/models?limit=2", []), exchanges, match_headers=["OpenAI-Beta"]) is None


def test_multipart_bodies_match_across_boundaries() -> None:
    def upload(boundary: str) -> RecordedRequest:
        body = f'--{boundary}\r\ncontent-disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--{boundary}--\r\n'
        return RecordedRequest("POST", "/v1/files", [("content-type", f"multipart/form-data; boundary={boundary}")], body.encode())

    assert match_recording(upload("b-222"), _cassette(upload("a-111")).exchanges) == 0


def test_repeated_requests_get_successive_recordings_then_miss() -> None:
    request = _json_request({"model": "m"})
    player = CassettePlayer(_cassette(request, request))
    first, second = player.find(request), player.find(request)
    assert (first.response.chunks[1], second.response.chunks[1]) == (b'{"n": 0}', b'{"n": 1}')
    assert player.played == [0, 1] and player.unplayed == []
    with pytest.raises(CassetteMiss, match="used already"):
        player.find(request)
    reusing = CassettePlayer(_cassette(request), allow_reuse=True)
    assert reusing.find(request) is reusing.find(request)
    assert "played=2" in repr(reusing)


def test_a_miss_names_the_request_and_the_nearest_body() -> None:
    exchanges = _cassette(
        _json_request({"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello"}]}),
        _json_request({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}),
        RecordedRequest("GET", "/v1/models", []),
    ).exchanges
    live = _json_request({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hey"}]})
    with pytest.raises(CassetteMiss) as info:
        CassettePlayer(Cassette(exchanges)).find(live)
    miss = info.value
    assert miss.method == "POST" and miss.target == "/v1/chat/completions" and miss.closest == 1
    assert miss.differences == ("body messages.0.content: 'Hey' here, 'Hi' recorded",)
    assert str(miss).startswith("no recording matches POST /v1/chat/completions; closest is #1 POST /v1/chat/completions")


def test_a_miss_with_no_such_path_names_the_nearest_path() -> None:
    exchanges = _cassette(RecordedRequest("GET", "/v1/models", []), RecordedRequest("GET", "/v1/files/file-abc", [])).exchanges
    with pytest.raises(CassetteMiss) as info:
        CassettePlayer(Cassette(exchanges)).find(RecordedRequest("DELETE", "/v1/files/file-abd", []))
    assert info.value.closest == 1
    assert info.value.differences == (
        "method: DELETE here, GET recorded",
        "target: /v1/files/file-abd here, /v1/files/file-abc recorded",
    )
    with pytest.raises(CassetteMiss, match="the cassette is empty") as empty:
        CassettePlayer(Cassette()).find(RecordedRequest("GET", "/v1/models", []))
    assert empty.value.closest is None


def test_a_miss_on_binary_bodies_and_headers_says_what_differs() -> None:
    recorded = RecordedRequest("POST", "/v1/audio", [("x-mode", "a")], b"\x00\x01\x02")
    player = CassettePlayer(_cassette(recorded), match_headers=["x-mode"])
    with pytest.raises(CassetteMiss) as info:
        player.find(RecordedRequest("POST", "/v1/audio", [("x-mode", "b")], b"\x00\x01\x03"))
    assert info.value.differences == (
        "body: 3 bytes here, 3 bytes recorded",
        "header x-mode: 'b' here, 'a' recorded",
    )


def test_a_miss_never_shows_credentials() -> None:
    recorded = RecordedRequest("GET", "/v1/models?api-key=REC", [("authorization", "Bearer x")])
    player = CassettePlayer(_cassette(recorded), secrets=[SECRET])
    live = RecordedRequest(
        "POST", f"/v1/models?api-key={SECRET}&q={SECRET}", [("authorization", f"Bearer {SECRET}")], SECRET.encode()
    )
    with pytest.raises(CassetteMiss) as info:
        player.find(live)
    assert SECRET not in str(info.value) and SECRET not in repr(info.value.args)
    assert "api-key=%3Credacted%3E" in info.value.target


def test_player_refuses_bad_arguments() -> None:
    with pytest.raises(TypeError):
        CassettePlayer("x.jsonl")  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="list of names"):
        CassettePlayer(Cassette(), volatile="user")


# -- scrubbing -------------------------------------------------------------------------


def test_credential_headers_and_query_values_are_scrubbed() -> None:
    request = RecordedRequest(
        "POST",
        f"/v1/chat?api-key=k1&key=k2&plain=ok&other={SECRET}&mixed=a{SECRET}b",
        [
            ("Authorization", f"Bearer {SECRET}"),
            ("api-key", "azure-key"),
            ("Proxy-Authorization", "Basic dXNlcjpwdw=="),
            ("Cookie", "session=abc"),
            ("x-echo", f"{SECRET}"),
            ("x-fine", "visible"),
        ],
        f'{{"note": "{SECRET}"}}'.encode(),
    )
    scrubbed = scrub_request(request)
    text = repr(scrubbed.headers) + scrubbed.target + scrubbed.body.decode()
    for secret in (SECRET, "k1", "k2", "azure-key", "dXNlcjpwdw==", "abc"):
        assert secret not in text
    assert dict(scrubbed.headers)["x-fine"] == "visible"
    assert "plain=ok" in scrubbed.target
    # A secret passed in is scrubbed wherever it appears, headers or not.
    quiet = scrub_request(RecordedRequest("GET", "/v1/x?token2=azure-key", [("x-k", "azure-key")]), ["azure-key"])
    assert "azure-key" not in quiet.target + repr(quiet.headers)


def _exchange_bytes(secret: str = SECRET) -> tuple[bytes, bytes]:
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
    request = (
        f"POST /v1/chat/completions?api-key={secret} HTTP/1.1\r\nhost: api.test\r\n"
        f"authorization: Bearer {secret}\r\ncookie: a=b\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode() + body
    text = f'{{"echo": "{secret}"}}'
    response = (
        f"HTTP/1.1 401 Unauthorized\r\nset-cookie: __cf_bm=token-value; path=/\r\nx-echo: {secret}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(text)}\r\n\r\n{text}"
    ).encode()
    return request, response


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


@settings(max_examples=100, deadline=None)
@given(request_cuts=st.lists(st.integers(0, 10_000), max_size=8), response_cuts=st.lists(st.integers(0, 10_000), max_size=8))
def test_recorder_scrubs_and_keeps_chunk_boundaries(request_cuts: list[int], response_cuts: list[int]) -> None:
    request, response = _exchange_bytes()
    for request_pieces, response_pieces in (
        ([request], [response]),
        ([request[i : i + 1] for i in range(len(request))], [response[i : i + 1] for i in range(len(response))]),
        (_split(request, request_cuts), _split(response, response_cuts)),
    ):
        recorder = ExchangeRecorder(timings=True)
        done: list[RecordedExchange] = []
        now = 10.0
        for piece in request_pieces:
            done += recorder.request_data(piece, now)
        for piece in response_pieces:
            now += 0.5
            done += recorder.response_data(piece, now)
        (exchange,) = done
        assert recorder.close() == []
        line = cassette_exchange_line(exchange)
        assert SECRET not in line and "token-value" not in line and "a=b" not in line
        got = exchange.response
        assert [len(c) for c in got.chunks] == [len(p) for p in response_pieces]
        assert got.delays == (0.5,) * len(response_pieces)
        assert got.status_code == 401
        assert exchange.request.method == "POST" and exchange.request.path == "/v1/chat/completions"
        assert json.loads(exchange.request.body)["messages"][0]["content"] == "hi"


def test_recorder_ends_exchanges_at_eof_reset_close_and_next_request() -> None:
    request, _ = _exchange_bytes()
    streaming = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n"
    recorder = ExchangeRecorder()
    assert recorder.response_data(b"stray", 0.0) == []  # answers nothing: dropped
    assert recorder.request_data(request, 0.0) == []
    assert recorder.response_data(streaming, 0.0) == []
    (left,) = recorder.request_data(request, 1.0)  # the client moved on: the first one ends
    assert left.response.chunks == (streaming,) and left.response.delays is None
    assert recorder.response_data(b"HTTP/1.1 200 OK\r\n", 1.0) == []
    (reset,) = recorder.transport_failed(2.0)
    assert reset.response.reset
    assert recorder.transport_failed(2.0) == [] and recorder.close() == []
    recorder.request_data(request, 3.0)
    (closed,) = recorder.response_data(b"", 3.0)
    assert closed.response.chunks == ()
    recorder.request_data(request, 4.0)
    recorder.response_data(b"HTTP/1.1 200 OK\r\nbroken header\r\n\r\n", 4.0)
    (malformed,) = recorder.close()
    assert malformed.response.status_code == 200


def test_recorder_and_player_refuse_http2_and_garbage() -> None:
    with pytest.raises(CassetteError, match="HTTP/2"):
        ExchangeRecorder().request_data(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0.0)
    conn = CassettePlayer(Cassette()).connection()
    with pytest.raises(CassetteError, match=r"not an HTTP/1\.1 request"):
        conn.receive_data(b"\x00\x01 garbage\r\n\r\n")
    with pytest.raises(CassetteError, match="already failed"):
        conn.receive_data(b"GET / HTTP/1.1\r\n")


def test_recorder_bounds_what_it_keeps() -> None:
    recorder = ExchangeRecorder(max_bytes=100)
    with pytest.raises(CassetteError, match="over 100 bytes"):
        recorder.request_data(b"POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 200\r\n\r\n" + b"x" * 200, 0.0)
    recorder = ExchangeRecorder(max_bytes=100)
    recorder.request_data(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n", 0.0)
    with pytest.raises(CassetteError, match="response over 100 bytes"):
        recorder.response_data(b"x" * 101, 0.0)


@settings(max_examples=100, deadline=None)
@given(cuts=st.lists(st.integers(0, 10_000), max_size=8))
def test_replay_connection_serves_the_recorded_chunks(cuts: list[int]) -> None:
    request, response = _exchange_bytes("k")
    recorder = ExchangeRecorder(timings=True)
    recorder.request_data(request, 0.0)
    pieces = _split(response, [7, 40, 41, 100])
    done: list[RecordedExchange] = []
    for i, piece in enumerate(pieces):
        done += recorder.response_data(piece, float(i))
    player = CassettePlayer(Cassette(done))
    for feed in ([request], [request[i : i + 1] for i in range(len(request))], _split(request, cuts)):
        conn = CassettePlayer(Cassette(done)).connection()
        for piece in feed[:-1]:
            conn.receive_data(piece)
            assert conn.next_chunk() is None
        conn.receive_data(feed[-1])
        served = []
        while (chunk := conn.next_chunk()) is not None:
            served.append(chunk)
        assert [c.data for c in served] == list(done[0].response.chunks)
        assert [c.delay for c in served] == [0.0, 1.0, 1.0, 1.0, 1.0]
        assert "ReplayChunk" in repr(served[0])
    assert player.unplayed == [0]


def test_replay_connection_ends_with_a_reset_and_keeps_a_missed_request() -> None:
    request, _ = _exchange_bytes("k")
    recorder = ExchangeRecorder()
    recorder.request_data(request, 0.0)
    recorder.response_data(b"HTTP/1.1 200 OK\r\n", 0.0)
    (exchange,) = recorder.transport_failed(0.0)
    conn = CassettePlayer(Cassette([exchange])).connection()
    conn.receive_data(request)
    assert conn.next_chunk() is not None
    last = conn.next_chunk()
    assert last is not None and last.reset and "reset" in repr(last)
    missed = b"GET /v1/other HTTP/1.1\r\nhost: a\r\n\r\n"
    with pytest.raises(CassetteMiss):
        conn.receive_data(missed)
    assert conn.take_unanswered() == missed
