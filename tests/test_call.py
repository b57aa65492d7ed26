"""Call: request building, validation, retries and response decoding."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_sansio import (
    NOT_GIVEN,
    APIResponseValidationError,
    APIStatusError,
    AuthenticationError,
    Call,
    ClientConfig,
    Headers,
    InternalServerError,
    LocalProtocolError,
    NotFoundError,
    Origin,
    RateLimitError,
    Request,
    RequestOptions,
    Timeout,
    new_idempotency_key,
)

KEY = "sk-test-SECRET-0123456789abcdef"
IDEM = "openai-trio-00000000-0000-4000-8000-000000000000"
NOW = 1_700_000_000.0


def config(**kwargs: Any) -> ClientConfig:
    kwargs.setdefault("api_key", KEY)
    return ClientConfig(**kwargs)


def post(cfg: ClientConfig | None = None, path: str = "/chat/completions", **kwargs: Any) -> Call:
    kwargs.setdefault("idempotency_key", IDEM)
    kwargs.setdefault("body", {"model": "gpt-4o-mini"})
    return Call(cfg or config(), "POST", path, **kwargs)


def headers_of(call: Call) -> dict[str, str]:
    fields = call.request().headers
    names = [n for n, _ in fields]
    assert len(names) == len(set(names)), "duplicate header"
    return dict(fields)


def no_secret(exc: BaseException, secret: str = KEY) -> None:
    for text in (str(exc), repr(exc), repr(exc.args)):
        assert secret not in text
        assert "SECRET" not in text


# -- headers -------------------------------------------------------------------


def test_full_request_for_a_post() -> None:
    cfg = config(organization="org-1", project="proj-1")
    call = post(cfg, body={"model": "m", "n": 2})
    req = call.request()
    assert isinstance(req, Request)
    assert req.method == "POST"
    assert req.origin == Origin("https", "api.openai.com", 443)
    assert req.target == "/v1/chat/completions"
    assert req.body == b'{"model":"m","n":2}'
    assert [n for n, _ in req.headers] == [
        "authorization",
        "user-agent",
        "accept",
        "content-type",
        "openai-organization",
        "openai-project",
        "idempotency-key",
        "x-retry-count",
    ]
    h = dict(req.headers)
    assert h["authorization"] == f"Bearer {KEY}"
    assert re.fullmatch(r"openai-trio/\d+\.\d+\.\d+\S* python/\d+\.\d+\.\d+", h["user-agent"])
    assert h["accept"] == "application/json"
    assert h["content-type"] == "application/json"
    assert h["openai-organization"] == "org-1"
    assert h["openai-project"] == "proj-1"
    assert h["idempotency-key"] == IDEM
    assert h["x-retry-count"] == "0"
    assert KEY not in repr(req)
    assert KEY not in repr(call)


def test_no_host_or_framing_headers_are_added() -> None:
    h = headers_of(post())
    assert "host" not in h
    assert "content-length" not in h
    assert "transfer-encoding" not in h


def test_optional_headers_absent_when_unset() -> None:
    call = Call(ClientConfig(), "GET", "/models")
    h = headers_of(call)
    assert set(h) == {"user-agent", "accept", "x-retry-count"}
    assert call.request().body == b""


def test_stream_asks_for_event_stream() -> None:
    call = post(body={"stream": True}, stream=True)
    assert headers_of(call)["accept"] == "text/event-stream"
    assert call.stream is True


def test_default_headers_override_builtin_ones() -> None:
    cfg = config(default_headers={"User-Agent": "mine/1", "X-Team": "a"})
    h = headers_of(post(cfg))
    assert h["user-agent"] == "mine/1"
    assert h["x-team"] == "a"


def test_extra_headers_override_default_headers() -> None:
    cfg = config(default_headers={"x-team": "a"})
    opts = RequestOptions(extra_headers={"X-Team": "b", "OpenAI-Beta": "assistants=v2"})
    h = headers_of(post(cfg, options=opts))
    assert h["x-team"] == "b"
    assert h["openai-beta"] == "assistants=v2"


@pytest.mark.parametrize("removal", [None, ""])
def test_extra_headers_remove_with_none_or_empty(removal: str | None) -> None:
    cfg = config(default_headers={"x-team": "a"}, organization="org")
    opts = RequestOptions(
        extra_headers={
            "x-team": removal,
            "Authorization": removal,
            "openai-organization": removal,
            "x-never-set": removal,
        }
    )
    h = headers_of(post(cfg, options=opts))
    assert "x-team" not in h
    assert "authorization" not in h
    assert "openai-organization" not in h
    assert "x-never-set" not in h
    assert "user-agent" in h


def test_header_values_lose_surrounding_whitespace() -> None:
    opts = RequestOptions(extra_headers={"x-a": "  v 1\t"})
    assert headers_of(post(options=opts))["x-a"] == "v 1"


def test_latin1_header_values_are_refused() -> None:
    # They would go out as raw high bytes; the official SDK's httpx refuses
    # them too (tests/test_input_checks.py has the end-to-end version).
    opts = RequestOptions(extra_headers={"x-a": "caf\xe9"})
    with pytest.raises(LocalProtocolError, match="'x-a' has a non-ASCII value"):
        post(options=opts)


def test_host_header_may_be_set_by_the_caller() -> None:
    opts = RequestOptions(extra_headers={"Host": "api.example.com"})
    assert headers_of(post(options=opts))["host"] == "api.example.com"


@pytest.mark.parametrize("name", ["content-length", "Transfer-Encoding"])
def test_connection_managed_headers_are_refused(name: str) -> None:
    with pytest.raises(LocalProtocolError, match="set by the connection"):
        post(options=RequestOptions(extra_headers={name: "x"}))
    with pytest.raises(LocalProtocolError, match="set by the connection"):
        post(config(default_headers={name: "x"}))


@pytest.mark.parametrize("name", ["bad name", "x-a\r\n", "", "x:y", "caf\xe9", 7])
def test_invalid_header_names_are_refused(name: Any) -> None:
    with pytest.raises(LocalProtocolError, match="header name"):
        post(options=RequestOptions(extra_headers={name: "v"}))


@pytest.mark.parametrize(
    "value",
    [
        "SECRET\r\nx-injected: 1",
        "SECRET\n",
        "SECRET\rx",
        "SECRET\x00",
        "SECRET\x1b[0m",
        "SECRET\x7f",
        "SECRET\u20ac",
        "SECRET\ud800",
    ],
)
def test_bad_header_values_are_refused_without_echoing_them(value: str) -> None:
    with pytest.raises(LocalProtocolError, match="'x-token'") as info:
        post(options=RequestOptions(extra_headers={"X-Token": value}))
    no_secret(info.value)
    with pytest.raises(LocalProtocolError, match="'x-token'") as info:
        post(config(default_headers={"x-token": value}))
    no_secret(info.value)


def test_non_string_header_value_is_refused() -> None:
    with pytest.raises(LocalProtocolError, match=r"'x-n'.*int"):
        post(options=RequestOptions(extra_headers={"x-n": 5}))  # type: ignore[dict-item]


def test_bad_api_key_is_refused_without_echoing_it() -> None:
    bad = KEY + "\r\nx-evil: 1"
    with pytest.raises(LocalProtocolError, match="authorization") as info:
        post(config(api_key=bad))
    no_secret(info.value)


@pytest.mark.parametrize("field", ["organization", "project"])
def test_bad_organization_or_project_is_refused(field: str) -> None:
    with pytest.raises(LocalProtocolError, match="openai-"):
        post(config(**{field: "org\nx"}))


# -- idempotency and attempts ----------------------------------------------------


def test_idempotency_key_is_required_for_non_get() -> None:
    for method in ("POST", "DELETE", "patch"):
        with pytest.raises(LocalProtocolError, match="idempotency_key"):
            Call(config(), method, "/files/file-1")


def test_get_needs_no_idempotency_key_and_sends_none() -> None:
    call = Call(config(), "GET", "/models", idempotency_key=IDEM)
    assert "idempotency-key" not in headers_of(call)
    assert call.idempotency_key is None


def test_caller_supplied_idempotency_header_wins() -> None:
    opts = RequestOptions(extra_headers={"Idempotency-Key": "mine"})
    call = Call(config(), "POST", "/x", options=opts)
    assert headers_of(call)["idempotency-key"] == "mine"
    assert call.idempotency_key == "mine"
    removed = RequestOptions(extra_headers={"idempotency-key": None})
    call = Call(config(), "POST", "/x", options=removed)
    assert "idempotency-key" not in headers_of(call)
    assert call.idempotency_key is None


def test_bad_idempotency_key_is_refused() -> None:
    with pytest.raises(LocalProtocolError, match="idempotency-key"):
        post(idempotency_key="a\r\nb")


def test_same_key_on_every_attempt_and_retry_count_increments() -> None:
    call = post(options=RequestOptions(max_retries=3))
    seen = []
    while True:
        req = call.request()
        assert call.request() is req  # cheap: cached within an attempt
        seen.append((req.header("idempotency-key"), req.header("x-retry-count")))
        assert req.header("idempotency-key") == IDEM
        d = call.retry_delay(status_code=503, headers=Headers(), now=NOW, jitter=0.0)
        if d is None:
            break
    assert seen == [(IDEM, "0"), (IDEM, "1"), (IDEM, "2"), (IDEM, "3")]
    assert call.retries_taken == 3
    # A refused retry does not start a new attempt.
    assert call.request().header("x-retry-count") == "3"


def test_retry_count_only_header_changes_between_attempts() -> None:
    call = post()
    first = call.request()
    assert call.retry_delay_after_error(jitter=0.0) == 0.5
    second = call.request()
    assert second is not first
    strip = [f for f in first.headers if f[0] != "x-retry-count"]
    assert strip == [f for f in second.headers if f[0] != "x-retry-count"]
    assert (first.body, first.target) == (second.body, second.target)


def test_caller_supplied_retry_count_header_is_left_alone() -> None:
    call = post(options=RequestOptions(extra_headers={"x-retry-count": "7"}))
    call.retry_delay_after_error(jitter=0.0)
    assert call.request().headers.count(("x-retry-count", "7")) == 1
    call = post(options=RequestOptions(extra_headers={"x-retry-count": None}))
    assert call.request().header("x-retry-count") is None
    call = post(config(default_headers={"x-retry-count": "9"}))
    call.retry_delay_after_error(jitter=0.0)
    assert call.request().header("x-retry-count") == "9"


def test_retry_delay_follows_the_policy() -> None:
    call = post()
    assert call.retry_delay(status_code=400, headers=Headers(), now=NOW, jitter=0.0) is None
    assert call.retries_taken == 0
    h = Headers([("retry-after-ms", "250")])
    assert call.retry_delay(status_code=429, headers=h, now=NOW, jitter=0.3) == 0.25
    assert call.retry_delay(status_code=500, headers=Headers(), now=NOW, jitter=0.0) == 1.0
    assert call.retry_delay(status_code=500, headers=Headers(), now=NOW, jitter=0.0) is None
    assert call.retry_delay_after_error(jitter=0.0) is None
    assert call.retries_taken == 2


def test_retry_delay_accepts_a_plain_mapping() -> None:
    call = post()
    assert call.retry_delay(status_code=503, headers={"x-should-retry": "false"}, now=NOW, jitter=0.0) is None


def test_max_retries_and_timeout_from_config_or_options() -> None:
    cfg = config(max_retries=5, timeout=Timeout(read=30.0))
    call = post(cfg)
    assert call.config is cfg
    assert call.max_retries == 5
    assert call.retry_policy.max_retries == 5
    assert call.timeout == Timeout(read=30.0)
    call = post(cfg, options=RequestOptions(max_retries=0, timeout=12.0))
    assert call.max_retries == 0
    assert call.timeout == Timeout.coerce(12.0)
    assert call.retry_delay_after_error(jitter=0.0) is None
    call = post(cfg, options=RequestOptions(timeout=None))
    assert call.timeout == Timeout(connect=None, read=None, write=None, pool=None, total=None)
    t = Timeout(connect=1.0)
    assert post(cfg, options=RequestOptions(timeout=t)).timeout is t


@pytest.mark.parametrize("value", [-1, True, 1.5, "2", None])
def test_invalid_max_retries_option(value: Any) -> None:
    with pytest.raises(LocalProtocolError, match="max_retries"):
        post(options=RequestOptions(max_retries=value))


@pytest.mark.parametrize("value", [-1.0, 0, float("nan"), "10", True])
def test_invalid_timeout_option(value: Any) -> None:
    with pytest.raises(LocalProtocolError, match="timeout"):
        post(options=RequestOptions(timeout=value))


# -- method, path, arguments ---------------------------------------------------


def test_method_is_upper_cased() -> None:
    call = Call(config(), "get", "/models")
    assert call.method == "GET"
    assert call.request().method == "GET"


@pytest.mark.parametrize("method", ["", "GE T", "POST\r\n", "G\x00", 1, None, "GÉT"])
def test_invalid_method(method: Any) -> None:
    with pytest.raises(LocalProtocolError, match="method"):
        Call(config(), method, "/models", idempotency_key=IDEM)


@pytest.mark.parametrize(
    "path",
    ["models", "", "/a b", "/a\r\nb", "/a\nb", "/a\x00", "/a?b=1", "/a#x", "/caf\xe9", "/a\tb", b"/x", None],
)
def test_invalid_path(path: Any) -> None:
    with pytest.raises(LocalProtocolError, match="path"):
        Call(config(), "GET", path)


def test_percent_encoded_path_is_kept() -> None:
    call = Call(config(), "GET", "/files/a%2Fb%20c")
    assert call.target == "/v1/files/a%2Fb%20c"


def test_base_path_prefix_and_origin() -> None:
    cfg = ClientConfig(base_url="http://127.0.0.1:8080/openai/v1/")
    call = Call(cfg, "GET", "/models")
    req = call.request()
    assert req.origin == Origin("http", "127.0.0.1", 8080)
    assert req.target == "/openai/v1/models"
    cfg = ClientConfig(base_url="http://localhost")
    assert Call(cfg, "GET", "/models").target == "/models"


def test_wrong_argument_types() -> None:
    with pytest.raises(LocalProtocolError, match="ClientConfig"):
        Call({"api_key": KEY}, "GET", "/m")  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="options"):
        Call(config(), "GET", "/m", options={"max_retries": 1})  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="stream"):
        Call(config(), "GET", "/m", stream=1)  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="body"):
        post(body=[1, 2])
    with pytest.raises(LocalProtocolError, match="extra_body"):
        post(options=RequestOptions(extra_body=[1]))  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="query"):
        post(query="a=1")
    with pytest.raises(LocalProtocolError, match="extra_query"):
        post(options=RequestOptions(extra_query=[("a", 1)]))  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="extra_headers"):
        post(options=RequestOptions(extra_headers=[("a", "b")]))  # type: ignore[arg-type]


# -- query -----------------------------------------------------------------------


def target(query: Any = None, cfg: ClientConfig | None = None, **opts: Any) -> str:
    call = Call(cfg or config(), "GET", "/files", query=query, options=RequestOptions(**opts))
    return call.request().target


def test_query_scalars() -> None:
    assert target({"limit": 20, "order": "desc", "after": None}) == "/v1/files?limit=20&order=desc"
    assert target({"a": True, "b": False}) == "/v1/files?a=true&b=false"
    assert target({"t": 0.5, "u": 1e-07}) == "/v1/files?t=0.5&u=1e-07"


def test_query_lists_repeat_the_key_and_drop_none() -> None:
    assert target({"include": ["a", None, "b", 3, True], "x": []}) == (
        "/v1/files?include=a&include=b&include=3&include=true"
    )
    assert target({"ids": ("x", "y")}) == "/v1/files?ids=x&ids=y"


def test_query_percent_encoding() -> None:
    assert target({"q": "a b/c&d=e", "k y": "\u00fc"}) == "/v1/files?q=a%20b%2Fc%26d%3De&k%20y=%C3%BC"


def test_empty_query_adds_no_question_mark() -> None:
    assert target({}) == "/v1/files"
    assert target({"a": None}) == "/v1/files"


def test_query_layers_default_then_call_then_extra() -> None:
    cfg = config(default_query={"api-version": "1", "a": "d"})
    assert target({"a": "q", "b": "q"}, cfg, extra_query={"b": "x", "c": 1}) == (
        "/v1/files?api-version=1&a=q&b=x&c=1"
    )
    # None in extra_query removes a parameter.
    assert target({"a": "q"}, cfg, extra_query={"api-version": None, "a": None}) == "/v1/files"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({1: "a"}, "names must be str"),
        ({"a": {"b": 1}}, "'a'.*dict"),
        ({"a": [[1]]}, "'a'.*nested"),
        ({"a": [{"b": 1}]}, "'a'.*dict"),
        ({"a": float("nan")}, "'a'.*finite"),
        ({"a": float("inf")}, "'a'.*finite"),
        ({"a": b"x"}, "'a'.*bytes"),
        ({"a": 10**5000}, "'a'.*too large"),
        ({"a": "\ud800"}, "not valid Unicode"),
        ({"\udfff": "a"}, "not valid Unicode"),
    ],
)
def test_invalid_query(query: dict[Any, Any], message: str) -> None:
    with pytest.raises(LocalProtocolError, match=message):
        target(query)
    with pytest.raises(LocalProtocolError, match=message):
        target(None, extra_query=query)


# -- body --------------------------------------------------------------------------


def test_body_is_compact_utf8_json() -> None:
    call = post(body={"text": "h\u00e9llo \u2603", "n": [1, 2.5, None, True]})
    assert call.request().body == '{"text":"h\u00e9llo \u2603","n":[1,2.5,null,true]}'.encode()


def test_extra_body_merges_at_top_level() -> None:
    call = post(
        body={"model": "m", "opts": {"a": 1, "b": 2}},
        options=RequestOptions(extra_body={"opts": {"c": 3}, "seed": 1}),
    )
    assert json.loads(call.request().body) == {"model": "m", "opts": {"c": 3}, "seed": 1}


def test_extra_body_alone_makes_a_body() -> None:
    call = Call(config(), "GET", "/x", options=RequestOptions(extra_body={"a": 1}))
    assert call.request().body == b'{"a":1}'
    assert headers_of(call)["content-type"] == "application/json"


def test_empty_body_is_still_json() -> None:
    call = post(body={})
    assert call.request().body == b"{}"
    assert headers_of(call)["content-type"] == "application/json"


def test_no_body_no_content_type() -> None:
    call = Call(config(), "DELETE", "/files/f", idempotency_key=IDEM)
    assert call.request().body == b""
    assert "content-type" not in headers_of(call)


def _circular() -> dict[str, Any]:
    d: dict[str, Any] = {}
    d["self"] = d
    return d


def _deep() -> dict[str, Any]:
    inner: Any = []
    for _ in range(100_000):
        inner = [inner]
    return {"deep": inner}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"x": float("nan")}, "NaN or infinity"),
        ({"x": [float("-inf")]}, "NaN or infinity"),
        ({"x": {1, 2}}, "set"),
        ({"x": b"SECRET"}, "bytes"),
        ({"x": object()}, "object"),
        ({(1, 2): "v"}, "keys must be"),
        (_circular(), "circular"),
        (_deep(), "nested too deeply"),
        ({"x": "SECRET\ud800"}, "not valid Unicode"),
    ],
)
def test_invalid_body(body: dict[Any, Any], message: str) -> None:
    with pytest.raises(LocalProtocolError, match=message) as info:
        post(body=body)
    no_secret(info.value)
    with pytest.raises(LocalProtocolError, match=message):
        post(body={}, options=RequestOptions(extra_body=body))


# -- options and helpers ---------------------------------------------------------


def test_request_options_repr_redacts_credentials() -> None:
    opts = RequestOptions(extra_headers={"Authorization": f"Bearer {KEY}", "x-a": "1"})
    text = repr(opts)
    assert KEY not in text
    assert "<redacted>" in text
    assert "'x-a': '1'" in text
    assert "NOT_GIVEN" in text
    assert repr(RequestOptions()).startswith("RequestOptions(extra_headers=None")


def test_not_given_sentinel() -> None:
    assert repr(NOT_GIVEN) == "NOT_GIVEN"
    assert not NOT_GIVEN
    assert RequestOptions().timeout is NOT_GIVEN
    assert RequestOptions().max_retries is NOT_GIVEN


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=16, max_size=16))
def test_idempotency_key_is_a_uuid4(random_bytes: bytes) -> None:
    key = new_idempotency_key(random_bytes)
    prefix, _, rest = key.partition("openai-trio-")
    assert prefix == ""
    expected = uuid.UUID(bytes=random_bytes, version=4)
    assert rest == str(expected)
    assert uuid.UUID(rest).version == 4


def test_idempotency_keys_differ_for_different_bytes() -> None:
    assert new_idempotency_key(bytes(16)) != new_idempotency_key(bytes(15) + b"\x01")
    assert new_idempotency_key(bytearray(16)) == new_idempotency_key(bytes(16))  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [b"", bytes(15), bytes(17), "0" * 16, None])
def test_idempotency_key_needs_16_bytes(value: Any) -> None:
    with pytest.raises(LocalProtocolError, match="16"):
        new_idempotency_key(value)


# -- decoding responses ---------------------------------------------------------


def test_decode_error_json_body() -> None:
    body = json.dumps(
        {"error": {"message": "Rate limited", "type": "requests", "code": "rate_limit", "param": None}}
    ).encode()
    call = post()
    err = call.decode_error(429, Headers([("x-request-id", "req_1")]), body)
    assert isinstance(err, RateLimitError)
    assert err.status_code == 429
    assert err.code == "rate_limit"
    assert err.type == "requests"
    assert err.request_id == "req_1"
    assert err.request is call.request()
    assert str(err) == "Error code: 429 - Rate limited"


def test_decode_error_text_and_empty_bodies() -> None:
    call = post()
    err = call.decode_error(502, Headers(), b"  <html>Bad gateway</html>\n")
    assert isinstance(err, InternalServerError)
    assert err.body == "<html>Bad gateway</html>"
    err = call.decode_error(404, Headers(), b"")
    assert isinstance(err, NotFoundError)
    assert err.body is None
    assert str(err) == "Error code: 404"
    err = call.decode_error(418, Headers(), b"\xff\xfe teapot")
    assert type(err) is APIStatusError
    assert isinstance(err.body, str) and "teapot" in err.body


def test_decode_error_with_plain_mapping_headers() -> None:
    err = post().decode_error(500, {"X-Request-Id": "req_2"}, b"{}")
    assert err.request_id == "req_2"


def test_decode_error_never_contains_the_key() -> None:
    body = json.dumps({"error": {"message": f"Incorrect API key provided: {KEY}."}}).encode()
    err = post().decode_error(401, Headers(), body)
    assert isinstance(err, AuthenticationError)
    no_secret(err)
    assert "<redacted>" in str(err)
    assert KEY not in repr(err.body)
    assert KEY not in repr(err.request)
    err = post().decode_error(400, Headers(), f"bad key {KEY}".encode())
    no_secret(err)
    assert KEY not in repr(err.body)


def test_parse_json() -> None:
    call = post()
    assert call.parse_json(200, Headers(), b'{"id": "x", "n": [1]}') == {"id": "x", "n": [1]}
    assert call.parse_json(200, Headers(), b'\xef\xbb\xbf{"a": 1}') == {"a": 1}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "empty body"),
        (b"   ", "not JSON"),
        (b"<html>oops</html>", "not JSON"),
        (b'{"a": ', "not JSON"),
        (b'"\xff"', "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
    ],
)
def test_parse_json_rejects_non_json(body: bytes, fragment: str) -> None:
    call = post()
    with pytest.raises(APIResponseValidationError, match=fragment) as info:
        call.parse_json(200, Headers([("content-type", "text/html")]), body)
    err = info.value
    assert err.status_code == 200
    assert "text/html" in str(err)
    assert isinstance(err.body, str) and len(err.body) <= 2000
    assert err.request is call.request()


def test_parse_json_truncates_and_scrubs_raw_text() -> None:
    body = (f"key={KEY} " + "x" * 10_000).encode()
    with pytest.raises(APIResponseValidationError) as info:
        post().parse_json(200, Headers(), body)
    err = info.value
    assert isinstance(err.body, str)
    assert err.body.startswith("key=<redacted> xxx")
    assert len(err.body) == 2000
    assert "content-type" not in str(err)
    no_secret(err)


def test_parse_response_success_and_shape_errors() -> None:
    call = post()
    assert call.parse_response(200, Headers(), b'{"id": "c1"}', lambda d: d["id"]) == "c1"
    with pytest.raises(APIResponseValidationError, match="KeyError") as info:
        call.parse_response(200, Headers(), b'{"x": 1}', lambda d: d["id"])
    assert isinstance(info.value.__cause__, KeyError)
    assert info.value.body == {"x": 1}
    with pytest.raises(APIResponseValidationError, match="empty"):
        call.parse_response(200, Headers(), b"", lambda d: d)


@pytest.mark.parametrize("status", [301, 404, 500, 199])
def test_parse_response_raises_for_non_2xx(status: int) -> None:
    with pytest.raises(APIStatusError) as info:
        post().parse_response(status, Headers(), b'{"error": {"message": "no"}}', lambda d: d)
    assert info.value.status_code == status


# -- properties ------------------------------------------------------------------


_token = st.from_regex(r"[A-Za-z][-A-Za-z0-9_]{0,8}", fullmatch=True)
_latin1 = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=20)
_json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)


@settings(max_examples=100, deadline=None)
@given(
    names=st.lists(_token | st.text(max_size=8), max_size=4),
    values=st.lists(st.none() | _latin1 | st.text(max_size=10), min_size=4, max_size=4),
    api_key=st.from_regex(r"sk-[A-Za-z0-9]{4,20}", fullmatch=True) | st.text(max_size=12),
    query=st.dictionaries(
        st.text(max_size=6),
        st.recursive(_json_leaf, lambda inner: st.lists(inner, max_size=3), max_leaves=4),
        max_size=4,
    ),
    body=st.dictionaries(
        st.text(max_size=6),
        st.recursive(
            _json_leaf | st.binary(max_size=2).filter(lambda b: b == b"\x00"),
            lambda inner: st.lists(inner, max_size=3)
            | st.dictionaries(st.text(max_size=3), inner, max_size=2),
            max_leaves=6,
        ),
        max_size=4,
    ),
    method=st.sampled_from(["GET", "POST", "delete"]) | st.text(max_size=6),
    path=st.from_regex(r"/[-a-zA-Z0-9_%/.]{0,10}", fullmatch=True) | st.text(max_size=10).map(lambda s: "/" + s),
)
def test_arbitrary_input_builds_or_raises_local_protocol_error(
    names: list[str],
    values: list[str | None],
    api_key: str,
    query: dict[str, Any],
    body: dict[str, Any],
    method: str,
    path: str,
) -> None:
    extra = dict(zip(names, values, strict=False))
    try:
        cfg = ClientConfig(api_key=api_key or None, default_headers={"x-d": values[0] or "v"})
        call = Call(
            cfg,
            method,
            path,
            body=body,
            query=query,
            options=RequestOptions(extra_headers=extra, extra_query=query),
            idempotency_key=IDEM,
        )
    except LocalProtocolError as exc:
        # Errors may quote what the caller passed as a name, method or path;
        # only a key that appears nowhere else must stay out of the message.
        echoed = (method, path, *names, *map(str, query), *map(str, body))
        if len(api_key) >= 4 and not any(api_key in text for text in echoed):
            assert api_key not in str(exc)
        return
    for _ in range(2):
        req = call.request()
        for name, value in req.headers:
            assert name == name.lower()
            assert re.fullmatch(r"[-!#$%&'*+.^_`|~0-9a-z]+", name)
            assert not re.search(r"[\r\n\x00]", value)
            value.encode("latin-1")
            assert value == value.strip(" \t")
        req.target.encode("ascii")
        assert " " not in req.target and "#" not in req.target
        if req.body:
            json.loads(req.body)
        call.retry_delay_after_error(jitter=0.0)
