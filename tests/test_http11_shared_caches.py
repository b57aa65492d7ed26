"""HTTP11Connection's header caches, shared by every connection: bounded,
correct past their bound, and never holding a credential."""

from __future__ import annotations

import gc

import h11

from openai_sansio import Origin, Request, ResponseReceived, _http11
from openai_sansio._http11 import HTTP11Connection

API = Origin("https", "api.openai.com", 443)
SECRET = "sk-proj-SECRETSECRET0123456789"
# More distinct fields than any cache keeps, so each one is emptied at least once.
MANY = 3 * _http11._CACHE_LIMIT


def _wire(headers: tuple[tuple[str, str], ...]) -> list[tuple[bytes, bytes]]:
    conn = HTTP11Connection()
    conn.send(Request("GET", API, "/v1/models", headers, b""))
    server = h11.Connection(h11.SERVER)
    server.receive_data(conn.data_to_send())
    event = server.next_event()
    assert isinstance(event, h11.Request)
    return list(event.headers.raw_items())


def _received(head: bytes) -> ResponseReceived:
    conn = HTTP11Connection()
    conn.send(Request("GET", API, "/v1/models", (), b""))
    conn.data_to_send()
    conn.receive_data(head)
    event = conn.next_event()
    assert isinstance(event, ResponseReceived)
    return event


def _cached_text() -> list[str]:
    caches: list[object] = [
        _http11._NAMES, _http11._VALUES, _http11._RESPONSE_NAMES, _http11._RESPONSE_VALUES
    ]
    return [repr(cache) for cache in caches]


def test_request_headers_stay_right_past_the_cache_bound() -> None:
    for i in range(MANY):
        # A new name and a new value each time, then a repeat of both.
        headers = ((f"X-Field-{i}", f"value {i}"), ("Accept", "application/json"))
        expected = [
            (b"host", b"api.openai.com"),
            (b"x-field-%d" % i, b"value %d" % i),
            (b"accept", b"application/json"),
        ]
        assert _wire(headers) == expected
        assert len(_http11._NAMES) <= _http11._CACHE_LIMIT
        assert len(_http11._VALUES) <= _http11._CACHE_LIMIT


def test_response_headers_stay_right_past_the_cache_bound() -> None:
    for i in range(MANY):
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Name-%d: a\r\n"
            b"X-Request-Id: req_%d\r\nOpenAI-Version: 2020-10-01\r\n\r\n" % (i, i)
        )
        event = _received(head)
        assert event.headers.fields == (
            ("content-length", "0"),
            (f"x-name-{i}", "a"),
            ("x-request-id", f"req_{i}"),
            ("openai-version", "2020-10-01"),
        )
        assert len(_http11._RESPONSE_NAMES) <= _http11._CACHE_LIMIT
        assert len(_http11._RESPONSE_VALUES) <= _http11._CACHE_LIMIT


def test_repeated_response_values_are_shared_between_responses() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nOpenAI-Version: 2020-10-01\r\n\r\n"
    first = _received(head).headers["openai-version"]
    second = _received(head).headers["openai-version"]
    assert first == second == "2020-10-01"
    assert first is second


def test_credentials_are_not_kept_by_the_caches() -> None:
    headers = (("Authorization", f"Bearer {SECRET}"), ("Idempotency-Key", "stainless-abc"))
    assert (b"authorization", f"Bearer {SECRET}".encode()) in _wire(headers)
    event = _received(
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nSet-Cookie: session=" + SECRET.encode() + b"\r\n\r\n"
    )
    assert event.headers["set-cookie"] == f"session={SECRET}"
    gc.collect()
    for text in _cached_text():
        assert SECRET not in text
        assert "stainless-abc" not in text
