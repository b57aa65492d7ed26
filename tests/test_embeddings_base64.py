"""Base64 embeddings: the pure decoder, byte for byte, and the response
hook that turns them into float lists."""

from __future__ import annotations

import base64
import math
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_sansio import (
    NOT_GIVEN,
    decode_base64_embedding,
    decode_embeddings_response,
    embeddings_encoding_format,
    omit,
)

FLOAT32 = st.floats(width=32, allow_nan=False)


def encode(values: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")


def response(*embeddings: object) -> dict[str, Any]:
    return {
        "object": "list",
        "model": "text-embedding-3-small",
        "data": [{"object": "embedding", "index": i, "embedding": e} for i, e in enumerate(embeddings)],
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    }


def test_known_vector() -> None:
    # 1.0, -2.5, 0.0 as little-endian float32, written out by hand.
    raw = b"\x00\x00\x80\x3f" + b"\x00\x00\x20\xc0" + b"\x00\x00\x00\x00"
    assert decode_base64_embedding(base64.b64encode(raw).decode()) == [1.0, -2.5, 0.0]
    assert decode_base64_embedding(base64.b64encode(raw)) == [1.0, -2.5, 0.0]
    assert decode_base64_embedding("") == []


@settings(max_examples=100, deadline=None)
@given(st.lists(FLOAT32, max_size=64))
def test_round_trip(values: list[float]) -> None:
    decoded = decode_base64_embedding(encode(values))
    assert decoded == values
    assert all(type(v) is float for v in decoded)
    assert decode_base64_embedding(encode(values), use_numpy=True) == values


def test_special_values_survive() -> None:
    decoded = decode_base64_embedding(encode([math.inf, -math.inf, -0.0, 1e-45]))
    assert decoded[:2] == [math.inf, -math.inf]
    assert math.copysign(1.0, decoded[2]) == -1.0
    assert decoded[3] > 0
    assert math.isnan(decode_base64_embedding(encode([math.nan]))[0])


def test_numpy_path_without_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "numpy", None)
    assert decode_base64_embedding(encode([0.5, 2.0]), use_numpy=True) == [0.5, 2.0]


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("AACAPw=", "not valid base64"),  # bad padding
        ("AAC APw==", "not valid base64"),  # a character outside the alphabet
        ("AACAPw==AAAA", "not valid base64"),  # data after the padding
        ("AACA\u00e9w==", "not valid base64"),
        ("AAAA", "3 bytes"),  # not a whole float32
        ("AAAAAAA=", "5 bytes"),
    ],
)
def test_malformed(value: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        decode_base64_embedding(value)


def test_not_text() -> None:
    with pytest.raises(ValueError, match="not valid base64"):
        decode_base64_embedding(12)  # type: ignore[arg-type]


def test_request_format() -> None:
    assert embeddings_encoding_format(NOT_GIVEN) == "base64"
    assert embeddings_encoding_format(omit) == "base64"
    assert embeddings_encoding_format(None) == "base64"
    assert embeddings_encoding_format("float") == "float"
    assert embeddings_encoding_format("base64") == "base64"


@pytest.mark.parametrize("requested", [NOT_GIVEN, None])
def test_response_decoded_when_base64_was_asked_on_the_callers_behalf(requested: Any) -> None:
    data = response(encode([1.0, 2.0]), encode([0.25]))
    out = decode_embeddings_response(data, requested)
    assert [item["embedding"] for item in out["data"]] == [[1.0, 2.0], [0.25]]
    assert [item["index"] for item in out["data"]] == [0, 1]
    assert out["usage"] == data["usage"] and out["model"] == data["model"]
    # The input is left as it was.
    assert isinstance(data["data"][0]["embedding"], str)
    assert decode_embeddings_response(data, requested, use_numpy=True) == out


@pytest.mark.parametrize("requested", ["float", "base64"])
def test_response_untouched_when_the_caller_chose(requested: str) -> None:
    data = response(encode([1.0]))
    assert decode_embeddings_response(data, requested) is data


def test_response_already_floats_or_odd_shapes_pass_through() -> None:
    floats = response([1.0, 2.0])
    assert decode_embeddings_response(floats) is floats
    for odd in ({"data": "x"}, {}, [1, 2], "text", None, {"data": [1, None]}):
        assert decode_embeddings_response(odd) is odd
    mixed = response([1.0], encode([3.0]))
    mixed["data"].append("not an item")
    out = decode_embeddings_response(mixed)
    assert out["data"][0]["embedding"] == [1.0]
    assert out["data"][1]["embedding"] == [3.0]
    assert out["data"][2] == "not an item"


def test_response_malformed_names_the_item() -> None:
    with pytest.raises(ValueError, match=r"data\[1\].*3 bytes"):
        decode_embeddings_response(response(encode([1.0]), "AAAA"))



async def test_through_the_client_against_the_fake_server() -> None:
    from openai_sansio.types import CreateEmbeddingResponse
    from openai_trio import Client
    from openai_trio.testing import FakeServer
    from openai_trio.testing._openai import embedding_vector

    def parse(data: Any) -> CreateEmbeddingResponse:
        return CreateEmbeddingResponse.from_dict(decode_embeddings_response(data, NOT_GIVEN))

    async with FakeServer() as server, Client(
        api_key="k", base_url="http://fake.test/v1", connector=server.connect
    ) as client:
        body = {"model": "m", "input": ["a", "b"], "dimensions": 8}
        result = await client.post(
            "/embeddings", body={**body, "encoding_format": embeddings_encoding_format(NOT_GIVEN)}, cast_to=parse
        )
        assert server.last_request.json()["encoding_format"] == "base64"
        floats = await client.post("/embeddings", body={**body, "encoding_format": "float"})
    for got, want, item in zip(result.data, floats["data"], ["a", "b"], strict=True):
        assert len(got.embedding) == 8
        # float32 on the wire: equal to the float list after rounding to it.
        rounded = list(struct.unpack("<8f", struct.pack("<8f", *want["embedding"])))
        assert got.embedding == rounded
        assert rounded == list(struct.unpack("<8f", struct.pack("<8f", *embedding_vector(item, 8))))
