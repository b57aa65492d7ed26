"""Call with a multipart or a raw body instead of JSON."""

from __future__ import annotations

from typing import Any, AsyncIterator

import pytest

from openai_sansio import (
    Call,
    ClientConfig,
    Headers,
    HTTP11Connection,
    LocalProtocolError,
    MultipartBody,
    RequestOptions,
    StreamedBody,
    encode_multipart,
)
from openai_trio.testing import parse_multipart

KEY = "sk-test-SECRET-0123456789abcdef"
IDEM = "openai-trio-00000000-0000-4000-8000-000000000000"
RANDOM = bytes(range(16))
NOW = 1_700_000_000.0


def config(**kwargs: Any) -> ClientConfig:
    kwargs.setdefault("api_key", KEY)
    return ClientConfig(**kwargs)


def call(**kwargs: Any) -> Call:
    kwargs.setdefault("idempotency_key", IDEM)
    return Call(config(), "POST", "/files", **kwargs)


def form(fields: dict[str, Any]) -> MultipartBody:
    return encode_multipart(fields, random_bytes=RANDOM)


def wire_body(c: Call) -> bytes:
    body = c.request().body
    assert isinstance(body, StreamedBody)
    out = b""
    for piece in body.parts():
        assert isinstance(piece, bytes)
        out += piece
    return out


def test_multipart_body_sets_its_content_type_and_no_json() -> None:
    body = form({"purpose": "batch", "file": ("in.jsonl", b"{}\n")})
    c = call(multipart=body)
    req = c.request()
    headers = dict(req.headers)
    assert headers["content-type"] == body.content_type
    assert list(headers.values()).count("application/json") == 1  # only accept
    assert headers["accept"] == "application/json"
    assert headers["idempotency-key"] == IDEM
    assert isinstance(req.body, StreamedBody)
    assert req.body.length == body.length
    assert c.replayable
    parts = parse_multipart(headers["content-type"], wire_body(c))
    assert [(p.name, p.data) for p in parts] == [("purpose", b"batch"), ("file", b"{}\n")]


def test_multipart_request_goes_over_http11_with_content_length() -> None:
    c = call(multipart=form({"a": "1"}))
    conn = HTTP11Connection()
    req = c.request()
    conn.send(req)
    wire = conn.data_to_send()
    assert isinstance(req.body, StreamedBody)
    assert f"content-length: {req.body.length}\r\n".encode() in wire
    assert b"content-type: multipart/form-data; boundary=000102030405060708090a0b0c0d0e0f\r\n" in wire


def test_extra_body_merges_into_multipart_fields() -> None:
    c = call(multipart=form({"purpose": "batch", "file": b"x"}),
             options=RequestOptions(extra_body={"purpose": "assistants", "expires_after": {"anchor": "created_at"}}))
    parts = parse_multipart(dict(c.request().headers)["content-type"], wire_body(c))
    assert [(p.name, p.data) for p in parts] == [
        ("purpose", b"assistants"), ("file", b"x"), ("expires_after[anchor]", b"created_at")
    ]


def test_extra_headers_can_still_replace_the_content_type() -> None:
    c = call(multipart=form({}), options=RequestOptions(extra_headers={"Content-Type": "multipart/mixed; boundary=z"}))
    assert dict(c.request().headers)["content-type"] == "multipart/mixed; boundary=z"


def test_raw_content_with_its_content_type() -> None:
    sdp = b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\n"
    c = call(content=sdp, content_type="application/sdp")
    req = c.request()
    headers = dict(req.headers)
    assert headers["content-type"] == "application/sdp"
    assert req.body == sdp
    assert c.replayable
    conn = HTTP11Connection()
    conn.send(req)
    assert conn.data_to_send().endswith(b"\r\n\r\n" + sdp)


def test_raw_content_defaults_to_octet_stream_and_takes_buffers() -> None:
    c = call(content=bytearray(b"\x00\x01"))
    assert dict(c.request().headers)["content-type"] == "application/octet-stream"
    assert c.request().body == b"\x00\x01"
    c = call(content=memoryview(b"ab"), content_type="audio/wav")
    assert c.request().body == b"ab"


def test_json_calls_are_unchanged() -> None:
    c = call(body={"a": 1})
    headers = dict(c.request().headers)
    assert headers["content-type"] == "application/json"
    assert c.request().body == b'{"a":1}'
    assert c.replayable


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"body": {"a": 1}, "multipart": form({})}, "not several"),
        ({"body": {"a": 1}, "content": b"x"}, "not several"),
        ({"multipart": form({}), "content": b"x"}, "not both"),
        ({"multipart": form({}), "content_type": "a/b"}, "not both"),
        ({"multipart": {"a": "1"}}, "must be a MultipartBody"),
        ({"content_type": "application/sdp"}, "content must be bytes.*missing"),
        ({"content": "text"}, "content must be bytes.*a str"),
        ({"content": b"x", "content_type": 3}, "content_type must be a str"),
        ({"content": b"x", "content_type": "a/b\r\nx-evil: 1"}, "content-type"),
        ({"content": b"x", "options": RequestOptions(extra_body={"a": 1})}, "extra_body cannot be merged"),
    ],
)
def test_bad_combinations(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(LocalProtocolError, match=match):
        call(**kwargs)


def test_an_empty_extra_body_is_fine_with_raw_content() -> None:
    assert call(content=b"x", options=RequestOptions(extra_body={})).request().body == b"x"


async def _once() -> AsyncIterator[bytes]:  # pragma: no cover - never iterated here
    yield b"x"


def test_a_body_read_once_is_never_retried() -> None:
    c = call(multipart=form({"file": _once()}))
    assert not c.replayable
    body = c.request().body
    assert isinstance(body, StreamedBody) and not body.replayable and body.length is None
    assert c.retry_delay(status_code=500, headers=Headers(), now=NOW, jitter=0.5) is None
    assert c.retry_delay_after_error(jitter=0.5) is None
    assert c.retries_taken == 0
    # The same failure with a replayable body is retried.
    again = call(multipart=form({"file": b"x"}))
    assert again.retry_delay(status_code=500, headers=Headers(), now=NOW, jitter=0.5) is not None
    assert again.retry_delay_after_error(jitter=0.5) is not None
    assert again.retries_taken == 2
    # A retry of a multipart call sends the same body (same boundary).
    assert wire_body(again) == wire_body(call(multipart=form({"file": b"x"})))
