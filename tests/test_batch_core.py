"""The core's Batch API files: input lines built and checked, output and
error lines read back (whole, byte by byte and at random split points)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_sansio import (
    BATCH_ENDPOINTS,
    BadRequestError,
    BatchInputEncoder,
    BatchLineError,
    BatchOutputError,
    BatchRequest,
    BatchRequestError,
    JsonLinesDecoder,
    LocalProtocolError,
    RateLimitError,
    encode_batch_input,
    missing_result,
    parse_batch_result,
)
from openai_sansio.types import ChatCompletion, CreateEmbeddingResponse

CHAT = "/v1/chat/completions"


def chat(custom_id: str, **extra: Any) -> BatchRequest:
    return BatchRequest(custom_id, {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], **extra})


def test_lines_and_chunks() -> None:
    encoder = BatchInputEncoder(CHAT)
    requests = [chat(f"r{i}") for i in range(300)]
    chunks = list(encode_batch_input(requests, encoder=encoder, chunk_size=1000))
    assert len(chunks) > 10
    assert all(len(c) < 1000 + 200 for c in chunks)
    lines = b"".join(chunks).splitlines()
    assert len(lines) == 300 == encoder.count
    assert encoder.custom_ids == [f"r{i}" for i in range(300)]
    assert encoder.size == sum(len(c) for c in chunks)
    first = json.loads(lines[0])
    assert first == {"custom_id": "r0", "method": "POST", "url": CHAT, "body": dict(requests[0].body)}


def test_request_shapes_and_endpoint_from_the_first_url() -> None:
    out = b"".join(encode_batch_input([
        {"custom_id": "a", "method": "POST", "url": "/v1/embeddings", "body": {"model": "m", "input": "x"}},
        ("b", {"model": "m", "input": ["y", "z"]}),
        BatchRequest("c", {"model": "m", "input": "w"}, url="/v1/embeddings"),
    ]))
    assert [json.loads(x)["url"] for x in out.splitlines()] == ["/v1/embeddings"] * 3
    # Text outside ASCII stays UTF-8, not escaped.
    line = BatchInputEncoder("/v1/moderations").encode(("é", {"input": "naïve"}))
    assert "naïve".encode() in line


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (chat("a"), "custom_id 'a'): this custom_id was used by an earlier line"),
        (("b", {"model": "m"}), "Missing required parameter `messages` for createChatCompletion"),
        (chat("c", temprature=1), "unknown parameter `temprature` for createChatCompletion"),
        (chat("d", temperature=3), "Parameter `temperature` of createChatCompletion must be <= 2"),
        (chat("e", stream=True), "a batch request cannot stream"),
        (chat("f", temperature=float("nan")), "must be a finite number"),
        (chat("g", metadata={1, 2}), "Parameter `metadata` of createChatCompletion must be"),
        (BatchRequest("h", {}, url="/v1/embeddings"), "differs from the batch's endpoint '/v1/chat/completions'"),
        (BatchRequest("i", {}, method="GET"), "every request with POST, not 'GET'"),
        ({"custom_id": "j", "body": {}, "headers": {}}, "Line 2: unknown field 'headers'"),
        (("", {}), "Line 2: custom_id must be a non-empty string"),
        (("x" * 600, {}), "custom_id is longer than 512"),
        (("k", "not a body"), "body must be a mapping, not str"),
        ("just text", "expected a BatchRequest, a mapping or a (custom_id, body) pair, not str"),
        (chat("l", user=object()), "Parameter `user` of createChatCompletion must be a string"),
        (chat("m", prediction={"x": object()}), "the body cannot be sent as JSON"),
    ],
)
def test_bad_lines_name_their_line(request_: Any, message: str) -> None:
    encoder = BatchInputEncoder(CHAT)
    encoder.encode(chat("a"))
    with pytest.raises(BatchLineError) as caught:
        encoder.encode(request_)
    assert message in str(caught.value)
    assert str(caught.value).startswith("Line 2")
    assert caught.value.line == 2
    # A refused line leaves nothing behind: the next one is line 2 again.
    assert encoder.count == 1 and encoder.custom_ids == ["a"]
    assert encoder.encode(chat("z")).startswith(b'{"custom_id":"z"')


def test_the_generator_stops_at_the_bad_line_before_yielding_it() -> None:
    chunks = encode_batch_input([chat("a"), chat("b"), chat("a")], endpoint=CHAT, chunk_size=1)
    assert next(chunks).startswith(b'{"custom_id":"a"')
    assert next(chunks).startswith(b'{"custom_id":"b"')
    with pytest.raises(BatchLineError, match=r"Line 3 .custom_id 'a'"):
        next(chunks)


def test_endpoints_and_limits() -> None:
    with pytest.raises(LocalProtocolError, match="does not run '/v1/audio/speech'"):
        BatchInputEncoder("/v1/audio/speech")
    with pytest.raises(BatchLineError, match=r"Line 1 .custom_id 'a'.: The Batch API does not run '/chat/completions'"):
        list(encode_batch_input([BatchRequest("a", {}, url="/chat/completions")]))
    with pytest.raises(BatchLineError, match="no endpoint"):
        list(encode_batch_input([("a", {})]))
    with pytest.raises(LocalProtocolError, match="at least one request"):
        list(encode_batch_input([], endpoint=CHAT))
    encoder = BatchInputEncoder(CHAT, max_requests=2)
    with pytest.raises(BatchLineError, match=r"Line 3 .* at most 2 requests"):
        list(encode_batch_input([chat("a"), chat("b"), chat("c")], encoder=encoder))
    with pytest.raises(BatchLineError, match=r"Line 2 .*exceed 200 bytes"):
        list(encode_batch_input([chat("a"), chat("b")], encoder=BatchInputEncoder(CHAT, max_bytes=200)))
    # A compatible server's extra parameter goes through when not strict.
    assert b'"top_k":3' in BatchInputEncoder(CHAT, strict=False).encode(chat("a", top_k=3))
    # Image edits take JSON in a batch: their JSON rules apply.
    edits = BatchInputEncoder("/v1/images/edits")
    edits.encode(("a", {"prompt": "p", "images": [{"image_url": "https://x/y.png"}]}))
    with pytest.raises(BatchLineError, match="Missing required parameter `images`"):
        edits.encode(("b", {"prompt": "p"}))
    assert set(BATCH_ENDPOINTS) >= {"/v1/responses", CHAT, "/v1/embeddings"}


def test_reprs_are_short() -> None:
    request = chat("a", messages=[{"role": "user", "content": "secret " * 1000}])
    assert len(repr(request)) < 80
    assert "secret" not in repr(request)
    assert repr(BatchInputEncoder(CHAT)) == "<BatchInputEncoder /v1/chat/completions lines=0 bytes=0>"


# -- reading ------------------------------------------------------------------

OUTPUT = (
    b'{"id":"batch_req_1","custom_id":"a","response":{"status_code":200,"request_id":"req_1",'
    b'"body":{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[]}},"error":null}\n'
    b"\n"
    b'{"id":"batch_req_2","custom_id":"b","response":{"status_code":400,"request_id":"req_2",'
    b'"body":{"error":{"message":"bad n","type":"invalid_request_error","param":"n"}}},"error":null}\r\n'
    b'{"id":"batch_req_3","custom_id":"c","response":null,"error":{"code":"batch_expired","message":"too late"}}'
)


def decode(pieces: list[bytes], **kwargs: Any) -> list[tuple[int, Any]]:
    decoder = JsonLinesDecoder(**kwargs)
    lines = [line for piece in pieces for line in decoder.feed(piece)]
    lines += decoder.close()
    return [(line.number, line.value) for line in lines]


EXPECTED = decode([OUTPUT])


def test_decoder_whole_and_byte_by_byte() -> None:
    assert [n for n, _ in EXPECTED] == [1, 3, 4]
    assert decode([OUTPUT[i : i + 1] for i in range(len(OUTPUT))]) == EXPECTED


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(OUTPUT)), max_size=12))
def test_decoder_at_random_splits(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(OUTPUT)]
    assert decode([OUTPUT[a:b] for a, b in itertools.pairwise(points)]) == EXPECTED


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"a":1}\nnot json\n', "Line 2 of the batch output file: not valid JSON"),
        (b'{"a":1}\n\n\xff\xfe\n', "Line 3 of the batch output file: not UTF-8"),
        (b'{"a":"' + b"x" * 200 + b'"}\n', "Line 1 of the batch output file: longer than 100 bytes"),
        (b'{"a":1}\n' + b"x" * 150, "Line 2 of the batch output file: longer than 100 bytes"),
        (b'{"a":', "Line 1 of the batch output file: not valid JSON"),
    ],
)
def test_decoder_refuses_bad_lines(data: bytes, message: str) -> None:
    with pytest.raises(BatchOutputError, match=message):
        decode([data[i : i + 7] for i in range(0, len(data), 7)], max_line_bytes=100)


def test_a_long_line_is_refused_before_its_end_arrives() -> None:
    decoder = JsonLinesDecoder(max_line_bytes=1000, file="error")
    for _ in range(10):
        decoder.feed(b"x" * 99)
    with pytest.raises(BatchOutputError, match="Line 1 of the batch error file") as caught:
        decoder.feed(b"x" * 99)
    assert (caught.value.line, caught.value.file) == (1, "error")


def test_results_are_typed() -> None:
    decoder = JsonLinesDecoder()
    lines = decoder.feed(OUTPUT) + decoder.close()
    ok, refused, expired = (parse_batch_result(line, endpoint=CHAT) for line in lines)
    assert ok.ok and ok.status_code == 200 and ok.request_id == "req_1" and ok.id == "batch_req_1"
    assert isinstance(ok.response, ChatCompletion)
    assert ok.response.id == "c1" and ok.response._request_id == "req_1"
    assert ok.unwrap() is ok.response
    assert not refused.ok and isinstance(refused.error, BadRequestError)
    assert refused.error.request_id == "req_2" and refused.error.param == "n"
    assert refused.response is None
    with pytest.raises(BadRequestError, match="bad n"):
        refused.unwrap()
    assert isinstance(expired.error, BatchRequestError)
    assert (expired.error.code, expired.error.custom_id) == ("batch_expired", "c")
    assert str(expired.error) == "c: batch_expired: too late"
    assert repr(refused) == "BatchResult(custom_id='b', status_code=400, BadRequestError)"
    # Without the endpoint the body stays as decoded.
    assert parse_batch_result(lines[0]).response["object"] == "chat.completion"


def test_other_result_shapes() -> None:
    def one(value: Any, endpoint: str | None = None) -> Any:
        (line,) = JsonLinesDecoder().feed(json.dumps(value).encode() + b"\n")
        return parse_batch_result(line, endpoint=endpoint)

    limited = one({"custom_id": "x", "response": {"status_code": 429, "body": {"error": {"message": "slow"}}}})
    assert isinstance(limited.error, RateLimitError) and limited.request_id is None
    embedded = one({"custom_id": "e", "response": {"status_code": 200, "body": {
        "object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.5]}], "model": "m",
        "usage": {"prompt_tokens": 1, "total_tokens": 1}}}}, "/v1/embeddings")
    assert isinstance(embedded.response, CreateEmbeddingResponse)
    for bad, message in [
        ([1], "not a JSON object"),
        ({"response": None}, "no custom_id"),
        ({"custom_id": "x"}, "neither a response nor an error"),
        ({"custom_id": "x", "response": 5}, "response is not an object"),
        ({"custom_id": "x", "response": {"status_code": "200"}}, "status_code '200' is not an HTTP status"),
        ({"custom_id": "x", "response": {"status_code": 200, "body": {"choices": 5}}}, "does not fit"),
    ]:
        with pytest.raises(BatchOutputError, match=message):
            one(bad, CHAT)
    for status, code in [("cancelled", "batch_cancelled"), ("expired", "batch_expired"), ("completed", "missing_result")]:
        result = missing_result("q", status)
        assert isinstance(result.error, BatchRequestError) and result.error.code == code


def test_the_input_is_read_only_as_far_as_the_chunk_needs() -> None:
    taken = 0

    def endless() -> Any:
        nonlocal taken
        while True:
            taken += 1
            yield chat(f"r{taken}")

    chunks = encode_batch_input(endless(), endpoint=CHAT, chunk_size=10_000)
    first = next(chunks)
    assert 10_000 <= len(first) < 10_200
    assert taken == first.count(b"\n")
    next(chunks)
    assert taken == 2 * first.count(b"\n")
