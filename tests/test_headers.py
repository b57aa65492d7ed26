from __future__ import annotations

from openai_sansio import Headers, Origin, Request


def test_lookup_is_case_insensitive_and_first_value_wins() -> None:
    headers = Headers([("X-Request-ID", "req_1"), ("Set-Cookie", "a=1"), ("set-cookie", "b=2")])
    assert headers["x-request-id"] == "req_1"
    assert headers.get("X-REQUEST-ID") == "req_1"
    assert headers["set-cookie"] == "a=1"
    assert headers.get_all("SET-COOKIE") == ["a=1", "b=2"]
    assert headers.get_all("missing") == []
    assert "Set-Cookie" in headers
    assert 42 not in headers
    assert list(headers) == ["x-request-id", "set-cookie"]
    assert len(headers) == 2
    assert headers.fields[0] == ("x-request-id", "req_1")


def test_raw_round_trip_keeps_latin1_bytes() -> None:
    raw = [(b"Content-Type", b"text/plain"), (b"x-odd", b"caf\xe9")]
    headers = Headers.from_raw(raw)
    assert headers["x-odd"] == "caf\xe9"
    assert headers.raw() == [(b"content-type", b"text/plain"), (b"x-odd", b"caf\xe9")]


def test_equality_and_hash_follow_the_fields() -> None:
    a = Headers([("A", "1")])
    b = Headers([("a", "1")])
    assert a == b
    assert hash(a) == hash(b)
    assert a != Headers([("a", "2")])
    assert (a == {"a": "1"}) is False
    assert {a: 1}[b] == 1


def test_reprs_redact_credentials() -> None:
    secret = "sk-verysecretvalue"
    headers = Headers([("Authorization", f"Bearer {secret}"), ("api-key", secret), ("x-ok", "shown")])
    text = repr(headers)
    assert secret not in text
    assert "shown" in text
    assert text.count("<redacted>") == 2
    request = Request(
        "POST",
        Origin("https", "api.example.test", 443),
        "/v1/chat/completions",
        (("authorization", f"Bearer {secret}"),),
        b"{}",
    )
    assert secret not in repr(request)
    assert request.header("Authorization") == f"Bearer {secret}"
    assert request.header("missing") is None
    assert request.url == "https://api.example.test:443/v1/chat/completions"
    assert str(Origin("http", "::1", 8080)) == "http://[::1]:8080"


def test_event_reprs_stay_short() -> None:
    from openai_sansio import NEED_DATA, DataReceived

    assert repr(NEED_DATA) == "NEED_DATA"
    small = DataReceived(1, b"data: x\n\n")
    assert "data: x" in repr(small) and "len=9" in repr(small)
    big = DataReceived(3, b"y" * 10_000)
    text = repr(big)
    assert len(text) < 120
    assert "len=10000" in text and "..." in text
