"""The exception hierarchy and make_status_error."""

from __future__ import annotations

import pytest

from openai_sansio import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APIStreamError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    Headers,
    InternalServerError,
    LocalProtocolError,
    NotFoundError,
    OpenAIError,
    Origin,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
    RemoteProtocolError,
    Request,
    StreamDecodeError,
    UnprocessableEntityError,
    make_status_error,
)

KEY = "sk-proj-SECRETSECRET0123456789"


def request_with_key() -> Request:
    return Request(
        "POST",
        Origin("https", "api.openai.com", 443),
        "/v1/chat/completions",
        (("authorization", f"Bearer {KEY}"), ("x-api-key", KEY), ("accept", "application/json")),
        b"{}",
    )


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (502, InternalServerError),
        (503, InternalServerError),
        (504, InternalServerError),
        (599, InternalServerError),
    ],
)
def test_status_maps_to_class(status: int, cls: type[APIStatusError]) -> None:
    err = make_status_error(status, Headers(), None)
    assert type(err) is cls
    assert err.status_code == status
    assert isinstance(err, APIStatusError)
    assert isinstance(err, APIError)


@pytest.mark.parametrize("status", [402, 405, 408, 410, 413, 418, 451, 499, 301])
def test_other_statuses_are_plain_status_errors(status: int) -> None:
    assert type(make_status_error(status, Headers(), None)) is APIStatusError


def test_fields_are_lifted_from_an_openai_error_object() -> None:
    body = {
        "error": {
            "message": "Invalid value for 'temperature'.",
            "type": "invalid_request_error",
            "param": "temperature",
            "code": "invalid_value",
        }
    }
    headers = Headers([("X-Request-ID", "req_abc"), ("content-type", "application/json")])
    err = make_status_error(400, headers, body)
    assert err.message == "Error code: 400 - Invalid value for 'temperature'."
    assert str(err) == err.message
    assert err.code == "invalid_value"
    assert err.param == "temperature"
    assert err.type == "invalid_request_error"
    assert err.request_id == "req_abc"
    assert err.headers is headers
    assert err.body is body


def test_flat_error_objects_and_non_string_codes() -> None:
    err = make_status_error(429, Headers(), {"message": "slow down", "code": 429, "type": None})
    assert str(err) == "Error code: 429 - slow down"
    assert err.code == "429"
    assert err.type is None
    assert err.param is None
    assert err.request_id is None


def test_error_given_as_a_string() -> None:
    err = make_status_error(400, Headers(), {"error": "model not found"})
    assert str(err) == "Error code: 400 - model not found"
    assert err.code is None


def test_mapping_without_message() -> None:
    err = make_status_error(500, Headers(), {"detail": "x"})
    assert str(err) == "Error code: 500"


def test_text_and_missing_bodies() -> None:
    err = make_status_error(502, Headers(), "upstream connect error")
    assert str(err) == "Error code: 502 - upstream connect error"
    assert err.body == "upstream connect error"
    assert err.code is None
    assert str(make_status_error(503, Headers(), "")) == "Error code: 503"
    assert str(make_status_error(503, Headers(), None)) == "Error code: 503"
    assert str(make_status_error(503, Headers(), ["a"])) == "Error code: 503"


def test_request_is_attached_and_never_shows_the_key() -> None:
    req = request_with_key()
    body = {"error": {"message": "Incorrect API key provided: sk-proj-****6789."}}
    err = make_status_error(401, Headers([("www-authenticate", "Bearer")]), body, request=req)
    assert err.request is req
    for text in (str(err), repr(err), repr(err.request), repr(err.args), repr(err.headers)):
        assert KEY not in text
        assert "SECRET" not in text
    assert "<redacted>" in repr(err.request)


@pytest.mark.parametrize(
    "err",
    [
        APIConnectionError(request=request_with_key()),
        APITimeoutError("read", 600.0, request=request_with_key()),
        RemoteProtocolError("bad chunk", request=request_with_key()),
        StreamDecodeError("bad json", data="{", request=request_with_key()),
        APIResponseValidationError("bad shape", body={"a": 1}, status_code=200, request=request_with_key()),
        APIStreamError("server error", body={"error": {"message": "boom"}}, request=request_with_key()),
    ],
)
def test_no_error_repr_shows_the_key(err: APIError) -> None:
    for text in (str(err), repr(err), repr(err.request)):
        assert KEY not in text


def test_hierarchy() -> None:
    assert issubclass(LocalProtocolError, ProtocolError)
    assert issubclass(LocalProtocolError, OpenAIError)
    assert not issubclass(LocalProtocolError, APIError)
    assert issubclass(RemoteProtocolError, ProtocolError)
    assert issubclass(RemoteProtocolError, APIError)
    assert issubclass(StreamDecodeError, RemoteProtocolError)
    assert issubclass(APITimeoutError, APIConnectionError)
    for cls in (APIStatusError, APIConnectionError, APIResponseValidationError, APIStreamError):
        assert issubclass(cls, APIError)
        assert issubclass(cls, OpenAIError)


def test_connection_and_timeout_errors() -> None:
    err = APIConnectionError()
    assert str(err) == "Connection error."
    assert err.request is None and err.body is None
    t = APITimeoutError("connect", 5.0)
    assert (t.limit, t.seconds) == ("connect", 5.0)
    assert str(t) == "Request timed out: connect timeout of 5s exceeded."
    assert str(APITimeoutError("total", 0.25)) == "Request timed out: total timeout of 0.25s exceeded."


def test_stream_and_validation_errors_keep_their_payloads() -> None:
    e = StreamDecodeError("not JSON", data="data: {oops")
    assert e.data == "data: {oops"
    assert e.body is None
    s = APIStreamError("boom", body={"error": {"message": "boom", "code": "server_error"}})
    assert s.received == []
    assert s.code == "server_error"
    items = [1, 2]
    assert APIStreamError("x", body=None, received=items).received is items
    v = APIResponseValidationError("bad", body="<html>")
    assert v.status_code is None
    assert v.body == "<html>"
