"""CallLifecycle: the actions a runtime is told to take for each event."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openai_sansio import (
    MAX_BODY_BYTES,
    MAX_ERROR_BODY_BYTES,
    OPERATIONS,
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APITimeoutError,
    AuthenticationError,
    Call,
    CallLifecycle,
    ChatCompletionStreamDecoder,
    ClientConfig,
    Done,
    Headers,
    InternalServerError,
    LocalProtocolError,
    PreparedOperation,
    Raise,
    ReadBody,
    RemoteProtocolError,
    Request,
    RequestOptions,
    Retry,
    SendRequest,
    StartStream,
    StreamBody,
    StreamDecoder,
    Timeout,
    UnexpectedContentTypeError,
    api,
    lifecycle_for,
)

KEY = "sk-test-SECRET-0123456789abcdef"
IDEM = "openai-trio-00000000-0000-4000-8000-000000000000"
NOW = 1_700_000_000.0
JSON_HEADERS = Headers([("content-type", "application/json")])
SSE_HEADERS = Headers([("content-type", "text/event-stream; charset=utf-8")])


def make_call(*, stream: bool = False, max_retries: int = 2, total: float | None = None) -> Call:
    config = ClientConfig(
        api_key=KEY, max_retries=max_retries, timeout=Timeout(read=60.0, total=total)
    )
    return Call(
        config, "POST", "/chat/completions", body={"model": "m"}, stream=stream, idempotency_key=IDEM
    )


def decoder(request: Request) -> StreamDecoder[Any]:
    return ChatCompletionStreamDecoder(request=request)


def lifecycle(kind: str = "json", **kwargs: Any) -> CallLifecycle:
    stream = kind == "stream"
    call = make_call(
        stream=stream, max_retries=kwargs.pop("max_retries", 2), total=kwargs.pop("total", None)
    )
    if stream:
        kwargs.setdefault("stream_decoder", decoder)
    return CallLifecycle(call, response_kind=kind, **kwargs)  # type: ignore[arg-type]


def body_of(lc: CallLifecycle, body: bytes, truncated: bool = False, elapsed: float = 0.0) -> Any:
    return lc.response_body(body, truncated, now=NOW, jitter=0.0, elapsed=elapsed)


def fail(lc: CallLifecycle, error: APIError, **kwargs: Any) -> Any:
    kwargs.setdefault("jitter", 0.0)
    kwargs.setdefault("elapsed", 0.0)
    return lc.transport_error(error, **kwargs)


def error_body(status: int, message: str = "boom") -> bytes:
    return json.dumps({"error": {"message": message, "type": "x", "code": None}}).encode()


# -- success ------------------------------------------------------------------


def test_json_success_parses_and_keeps_the_connection() -> None:
    lc = lifecycle(parse=lambda d: ("parsed", d["id"]))
    send = lc.start()
    assert isinstance(send, SendRequest)
    assert send.fresh_connection is False
    assert send.request.header("x-retry-count") == "0"
    assert lc.response_head(200, JSON_HEADERS) == ReadBody(MAX_BODY_BYTES)
    done = body_of(lc, b'{"id": "x"}')
    assert done == Done(("parsed", "x"), keep_connection=True)
    assert lc.finished


def test_json_without_parse_returns_the_decoded_body() -> None:
    lc = lifecycle()
    lc.start()
    lc.response_head(201, JSON_HEADERS)
    assert body_of(lc, b'[1, 2]') == Done([1, 2])


def test_json_that_is_not_json_raises_and_drops_the_connection() -> None:
    lc = lifecycle()
    lc.start()
    lc.response_head(200, Headers([("content-type", "text/html")]))
    action = body_of(lc, b"<html>proxy</html>")
    assert isinstance(action, Raise)
    assert isinstance(action.error, APIResponseValidationError)
    assert action.keep_connection is False
    assert "text/html" in str(action.error)


def test_a_parse_that_crashes_otherwise_propagates() -> None:
    def parse(_data: Any) -> Any:
        raise ZeroDivisionError

    lc = lifecycle(parse=parse)
    lc.start()
    lc.response_head(200, JSON_HEADERS)
    with pytest.raises(ZeroDivisionError):
        body_of(lc, b"{}")
    assert lc.finished


@pytest.mark.parametrize("kind", ["json", "binary"])
def test_success_body_past_the_cap_is_refused(kind: str) -> None:
    lc = lifecycle(kind)
    lc.start()
    assert lc.response_head(200, JSON_HEADERS) == ReadBody(MAX_BODY_BYTES)
    action = body_of(lc, b"x" * 10, truncated=True)
    assert isinstance(action, Raise)
    assert isinstance(action.error, APIResponseValidationError)
    assert str(MAX_BODY_BYTES) in str(action.error)
    assert action.error.status_code == 200
    assert action.error.request is not None
    assert action.keep_connection is False


def test_binary_is_returned_as_bytes() -> None:
    lc = lifecycle("binary")
    lc.start()
    lc.response_head(200, Headers([("content-type", "application/octet-stream")]))
    assert body_of(lc, b"\x00\xffraw") == Done(b"\x00\xffraw")


def test_binary_streamed_is_handed_over_unread() -> None:
    lc = lifecycle("binary", stream_body=True)
    lc.start()
    assert lc.response_head(200, Headers()) == StreamBody()
    assert lc.finished
    with pytest.raises(LocalProtocolError):
        body_of(lc, b"")


@pytest.mark.parametrize("kind", ["json", "empty"])
def test_other_kinds_can_be_handed_over_unread(kind: str) -> None:
    lc = lifecycle(kind, stream_body=True)
    lc.start()
    assert lc.response_head(200, JSON_HEADERS) == StreamBody()


def test_binary_streamed_error_status_is_still_read_and_retried() -> None:
    lc = lifecycle("binary", stream_body=True)
    lc.start()
    assert lc.response_head(503, JSON_HEADERS) == ReadBody(MAX_ERROR_BODY_BYTES)
    assert isinstance(body_of(lc, error_body(503)), Retry)


@pytest.mark.parametrize("body", [b"", b"{}", b"ignored text"])
def test_empty_kind_succeeds_with_none_whatever_the_body(body: bytes) -> None:
    lc = lifecycle("empty")
    lc.start()
    assert lc.response_head(200, Headers()) == ReadBody(MAX_ERROR_BODY_BYTES)
    assert body_of(lc, body) == Done(None, keep_connection=True)


def test_empty_kind_with_a_huge_body_succeeds_but_closes() -> None:
    lc = lifecycle("empty")
    lc.start()
    lc.response_head(204, Headers())
    assert body_of(lc, b"x", truncated=True) == Done(None, keep_connection=False)


# -- streams --------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["text/event-stream", "TEXT/Event-Stream", " text/event-stream ; charset=utf-8"]
)
def test_stream_with_event_stream_type_starts_the_decoder(content_type: str) -> None:
    seen: list[Request] = []

    def factory(request: Request) -> StreamDecoder[Any]:
        seen.append(request)
        return decoder(request)

    lc = lifecycle("stream", stream_decoder=factory)
    send = lc.start()
    action = lc.response_head(200, Headers([("content-type", content_type)]))
    assert isinstance(action, StartStream)
    assert isinstance(action.decoder, ChatCompletionStreamDecoder)
    assert seen == [send.request]
    assert lc.finished


@pytest.mark.parametrize("content_type", ["application/json", None, "text/event-streamx", "text/plain"])
def test_stream_with_another_type_raises_naming_it(content_type: str | None) -> None:
    lc = lifecycle("stream")
    lc.start()
    headers = Headers([] if content_type is None else [("content-type", content_type)])
    assert lc.response_head(200, headers) == ReadBody(MAX_ERROR_BODY_BYTES)
    action = body_of(lc, b'{"echo": "' + KEY.encode() + b'"}')
    assert isinstance(action, Raise)
    error = action.error
    assert isinstance(error, UnexpectedContentTypeError)
    assert isinstance(error, APIResponseValidationError)
    assert error.content_type == content_type
    assert (repr(content_type) if content_type else "no content-type") in str(error)
    assert KEY not in str(error.body) and "<redacted>" in str(error.body)
    assert error.status_code == 200
    assert action.keep_connection is False
    assert lc.finished


def test_stream_with_another_type_and_a_huge_body_closes() -> None:
    lc = lifecycle("stream")
    lc.start()
    lc.response_head(200, JSON_HEADERS)
    action = body_of(lc, b"x" * 100, truncated=True)
    assert isinstance(action, Raise) and action.keep_connection is False


def test_stream_error_status_is_decoded() -> None:
    lc = lifecycle("stream", max_retries=0)
    lc.start()
    assert lc.response_head(401, SSE_HEADERS) == ReadBody(MAX_ERROR_BODY_BYTES)
    action = body_of(lc, error_body(401, "nope"))
    assert isinstance(action, Raise)
    assert isinstance(action.error, AuthenticationError)


# -- error statuses and retries ----------------------------------------------------


def test_retryable_status_retries_then_gives_up() -> None:
    lc = lifecycle(max_retries=1)
    first = lc.start()
    lc.response_head(500, JSON_HEADERS)
    retry = body_of(lc, error_body(500))
    assert isinstance(retry, Retry)
    assert retry.delay == pytest.approx(0.5)
    assert retry.keep_connection is True
    assert isinstance(retry.error, InternalServerError)
    # The error carries the request that failed, not the next one.
    assert retry.error.request is first.request
    second = lc.start()
    assert second.request.header("x-retry-count") == "1"
    assert second.request.header("idempotency-key") == IDEM
    lc.response_head(500, JSON_HEADERS)
    final = body_of(lc, error_body(500))
    assert isinstance(final, Raise)
    assert final.keep_connection is True
    assert final.error.request is second.request
    assert lc.finished


def test_not_retryable_status_raises_at_once() -> None:
    lc = lifecycle()
    lc.start()
    lc.response_head(401, JSON_HEADERS)
    action = body_of(lc, error_body(401))
    assert isinstance(action, Raise)
    assert isinstance(action.error, AuthenticationError)


def test_truncated_error_body_drops_the_connection() -> None:
    lc = lifecycle()
    lc.start()
    lc.response_head(500, JSON_HEADERS)
    action = body_of(lc, b'{"error": {"mess', truncated=True)
    assert isinstance(action, Retry) and action.keep_connection is False


def test_retry_after_date_uses_the_given_wall_clock() -> None:
    lc = lifecycle()
    lc.start()
    lc.response_head(429, Headers([("retry-after", "Tue, 14 Nov 2023 22:13:23 GMT")]))
    action = body_of(lc, b"")
    assert isinstance(action, Retry)
    assert action.delay == pytest.approx(3.0)


def test_no_retry_when_the_sleep_would_pass_the_total_deadline() -> None:
    lc = lifecycle(total=10.0)
    lc.start()
    lc.response_head(503, Headers([("retry-after", "2")]))
    assert isinstance(body_of(lc, b"", elapsed=7.9), Retry)
    lc.start()
    lc.response_head(503, Headers([("retry-after", "2")]))
    action = body_of(lc, b"", elapsed=8.0)
    assert isinstance(action, Raise)
    assert action.keep_connection is True


@given(
    status=st.integers(min_value=300, max_value=599),
    elapsed=st.floats(min_value=0.0, max_value=20.0),
    jitter=st.floats(min_value=0.0, max_value=0.999),
)
def test_error_statuses_follow_the_policy_and_deadline(status: int, elapsed: float, jitter: float) -> None:
    lc = lifecycle(total=10.0)
    lc.start()
    assert lc.response_head(status, JSON_HEADERS) == ReadBody(MAX_ERROR_BODY_BYTES)
    action = lc.response_body(error_body(status), now=NOW, jitter=jitter, elapsed=elapsed)
    retryable = status in (408, 409, 429) or status >= 500
    backoff = 0.5 * (1 - 0.25 * jitter)
    if retryable and elapsed + backoff < 10.0:
        assert isinstance(action, Retry)
        assert action.delay == pytest.approx(backoff)
        assert not lc.finished
    else:
        assert isinstance(action, Raise)
        assert action.error.status_code == status  # type: ignore[attr-defined]
        assert lc.finished
    assert action.keep_connection is True


@given(status=st.integers(min_value=200, max_value=299), kind=st.sampled_from(["json", "binary", "empty"]))
def test_every_2xx_is_success(status: int, kind: str) -> None:
    lc = lifecycle(kind)
    lc.start()
    lc.response_head(status, JSON_HEADERS)
    action = body_of(lc, b"{}")
    assert isinstance(action, Done)


# -- transport failures -------------------------------------------------------------


def test_connection_error_is_retried_then_raised() -> None:
    lc = lifecycle(max_retries=1)
    lc.start()
    error = APIConnectionError("reset")
    retry = fail(lc, error)
    assert isinstance(retry, Retry)
    assert retry.error is error and retry.keep_connection is False
    assert error.request is not None
    send = lc.start()
    assert send.request.header("x-retry-count") == "1"
    final = fail(lc, APIConnectionError("reset again"))
    assert isinstance(final, Raise)


def test_error_mid_body_is_retried() -> None:
    lc = lifecycle()
    lc.start()
    lc.response_head(200, JSON_HEADERS)
    assert isinstance(fail(lc, APITimeoutError("read", 1.0)), Retry)


def test_total_timeout_is_never_retried() -> None:
    lc = lifecycle()
    lc.start()
    action = fail(lc, APITimeoutError("total", 5.0))
    assert isinstance(action, Raise)


def test_connection_error_not_retried_past_the_deadline() -> None:
    lc = lifecycle(total=1.0)
    lc.start()
    assert isinstance(fail(lc, APIConnectionError(), elapsed=0.6), Raise)


def test_protocol_error_is_raised_unless_the_peer_closed() -> None:
    lc = lifecycle()
    lc.start()
    assert isinstance(fail(lc, RemoteProtocolError("garbage")), Raise)
    lc = lifecycle()
    lc.start()
    # A peer hanging up in the middle of the head is a transport failure.
    assert isinstance(fail(lc, RemoteProtocolError("closed early"), connection_closed=True), Retry)


def plain_call(method: str, *, max_retries: int = 2) -> Call:
    """A call with no Idempotency-Key: a GET, or one whose caller removed it."""
    config = ClientConfig(api_key=KEY, max_retries=max_retries)
    if method == "GET":
        return Call(config, method, "/models/m")
    body = None if method in ("HEAD", "OPTIONS") else {"model": "m"}
    options = RequestOptions(extra_headers={"Idempotency-Key": None})
    return Call(config, method, "/models/m", body=body, options=options)


def test_reused_connection_closed_before_the_request_was_written_is_sent_again_free() -> None:
    lc = lifecycle(max_retries=0)
    first = lc.start()
    stale = {"reused": True, "connection_closed": True, "nothing_sent": True}
    again = fail(lc, APIConnectionError("closed"), **stale)
    assert again == SendRequest(first.request, fresh_connection=True)
    # Sent again as the same attempt.
    assert again.request.header("x-retry-count") == "0"
    assert lc.call.retries_taken == 0
    # Once per attempt: the fresh connection failing too is a real error
    # (and max_retries=0 allows no retry).
    assert isinstance(fail(lc, APIConnectionError("closed"), **stale), Raise)


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_a_safe_method_on_a_stale_connection_is_sent_again_free(method: str) -> None:
    lc = CallLifecycle(plain_call(method, max_retries=0))
    first = lc.start()
    again = fail(lc, APIConnectionError("closed"), reused=True, connection_closed=True)
    assert again == SendRequest(first.request, fresh_connection=True)
    assert lc.call.retries_taken == 0


def test_a_written_post_on_a_stale_connection_spends_a_retry() -> None:
    # The server may have read it and acted before closing: it goes out
    # again only because it carries an Idempotency-Key, as a counted retry,
    # at once and on a fresh connection.
    lc = lifecycle(max_retries=1)
    lc.start()
    retry = fail(lc, APIConnectionError("closed"), reused=True, connection_closed=True)
    assert retry == Retry(0.0, retry.error)
    second = lc.start()
    assert second.fresh_connection
    assert second.request.header("x-retry-count") == "1"
    assert second.request.header("idempotency-key") == IDEM
    # The budget is spent: the same again is the caller's error.
    assert isinstance(fail(lc, APIConnectionError("closed"), reused=True, connection_closed=True), Raise)


def test_a_written_post_on_a_stale_connection_with_no_retries_left_is_not_sent_again() -> None:
    lc = lifecycle(max_retries=0)
    lc.start()
    action = fail(lc, APIConnectionError("closed"), reused=True, connection_closed=True)
    assert isinstance(action, Raise)


@pytest.mark.parametrize(
    "flags",
    [
        {"reused": True, "connection_closed": True},
        {"connection_closed": True},
        {"response_started": True},
        {},
    ],
)
def test_a_post_without_an_idempotency_key_is_never_sent_twice(flags: dict[str, bool]) -> None:
    # The caller removed the key: nothing lets the server recognise a copy.
    lc = CallLifecycle(plain_call("POST", max_retries=5))
    lc.start()
    assert lc.call.idempotency_key is None
    assert isinstance(fail(lc, APIConnectionError("x"), **flags), Raise)
    assert lc.call.retries_taken == 0


def test_a_post_without_an_idempotency_key_that_was_never_written_may_go_again() -> None:
    lc = CallLifecycle(plain_call("POST", max_retries=1))
    first = lc.start()
    again = fail(lc, APIConnectionError("closed"), reused=True, connection_closed=True, nothing_sent=True)
    assert again == SendRequest(first.request, fresh_connection=True)
    # A connect failure (nothing written) is retried by the policy.
    retry = fail(lc, APIConnectionError("refused"), nothing_sent=True)
    assert isinstance(retry, Retry) and retry.delay > 0


def test_a_get_is_retried_after_any_connection_error() -> None:
    lc = CallLifecycle(plain_call("GET", max_retries=1))
    lc.start()
    assert isinstance(fail(lc, APIConnectionError("x"), response_started=True), Retry)


@pytest.mark.parametrize(
    "flags",
    [
        {"reused": False, "connection_closed": True},
        {"reused": True, "connection_closed": False},
        {"reused": True, "connection_closed": True, "response_started": True},
    ],
)
def test_not_stale_unless_reused_closed_and_silent(flags: dict[str, bool]) -> None:
    lc = lifecycle(max_retries=0)
    lc.start()
    assert isinstance(fail(lc, APIConnectionError("x"), **flags), Raise)


def test_not_stale_once_a_head_arrived() -> None:
    lc = lifecycle(max_retries=0)
    lc.start()
    lc.response_head(200, JSON_HEADERS)
    action = fail(lc, APIConnectionError("x"), reused=True, connection_closed=True)
    assert isinstance(action, Raise)


# -- misuse -----------------------------------------------------------------------


def test_events_out_of_order_are_refused() -> None:
    lc = lifecycle()
    with pytest.raises(LocalProtocolError, match="ready to send"):
        lc.response_head(200, JSON_HEADERS)
    with pytest.raises(LocalProtocolError):
        fail(lc, APIConnectionError())
    lc.start()
    with pytest.raises(LocalProtocolError, match="waiting for a response head"):
        lc.start()
    with pytest.raises(LocalProtocolError):
        body_of(lc, b"")
    lc.response_head(200, JSON_HEADERS)
    with pytest.raises(LocalProtocolError, match="reading a body"):
        lc.response_head(200, JSON_HEADERS)
    body_of(lc, b"{}")
    with pytest.raises(LocalProtocolError, match="finished"):
        lc.start()
    assert "finished" in repr(lc)


@pytest.mark.parametrize(
    ("kind", "stream", "kwargs"),
    [
        ("xml", False, {}),
        ("stream", False, {"stream_decoder": decoder}),
        ("json", True, {}),
        ("stream", True, {}),
        ("json", False, {"stream_decoder": decoder}),
        ("stream", True, {"stream_decoder": decoder, "stream_body": True}),
    ],
)
def test_bad_construction(kind: str, stream: bool, kwargs: dict[str, Any]) -> None:
    with pytest.raises(LocalProtocolError):
        CallLifecycle(make_call(stream=stream), response_kind=kind, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        CallLifecycle(object())  # type: ignore[arg-type]


def test_properties() -> None:
    call = make_call()
    lc = CallLifecycle(call, response_kind="empty")
    assert lc.call is call
    assert lc.response_kind == "empty"
    assert not lc.finished
    assert "ready to send" in repr(lc)


def test_caps_can_be_lowered() -> None:
    lc = CallLifecycle(make_call(), max_body_bytes=10, max_error_body_bytes=5)
    lc.start()
    assert lc.response_head(200, JSON_HEADERS) == ReadBody(10)
    action = body_of(lc, b"0123456789", truncated=True)
    assert isinstance(action, Raise) and "larger than 10 bytes" in str(action.error)
    lc = CallLifecycle(make_call(), max_body_bytes=10, max_error_body_bytes=5)
    lc.start()
    assert lc.response_head(400, JSON_HEADERS) == ReadBody(5)
    for bad in (-1, True, 1.5):
        with pytest.raises(LocalProtocolError):
            CallLifecycle(make_call(), max_body_bytes=bad)  # type: ignore[arg-type]


# -- lifecycle_for ----------------------------------------------------------------


def test_lifecycle_for_a_multipart_upload() -> None:
    config = ClientConfig(api_key=KEY)
    prepared = api.files_create(file=("a.txt", b"hello", "text/plain"), purpose="batch")
    with pytest.raises(LocalProtocolError, match="multipart_random"):
        lifecycle_for(config, prepared, idempotency_key=IDEM)
    lc = lifecycle_for(config, prepared, idempotency_key=IDEM, multipart_random=bytes(range(16)))
    assert lc.response_kind == "json"
    request = lc.start().request
    assert request.header("content-type") == f"multipart/form-data; boundary={bytes(range(16)).hex()}"
    assert request.header("idempotency-key") == IDEM
    lc.response_head(200, JSON_HEADERS)
    created = {"id": "file-1", "object": "file", "bytes": 5, "created_at": 1, "filename": "a.txt",
               "purpose": "batch", "status": "processed"}
    done = body_of(lc, json.dumps(created).encode())
    assert isinstance(done, Done)
    assert type(done.result).__name__ == "OpenAIFile"
    assert done.result.filename == "a.txt"


def test_lifecycle_for_binary_empty_and_stream() -> None:
    config = ClientConfig(api_key=KEY)
    content = lifecycle_for(config, api.files_content("file-1"))
    assert content.response_kind == "binary"
    assert content.start().request.target == "/v1/files/file-1/content"
    streamed = lifecycle_for(config, api.files_content("file-1"), stream_body=True)
    streamed.start()
    assert streamed.response_head(200, Headers()) == StreamBody()
    deleted = lifecycle_for(config, api.containers_delete("c-1"), idempotency_key=IDEM)
    assert deleted.response_kind == "empty"
    chat = lifecycle_for(
        config,
        api.chat_completions_create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True),
        idempotency_key=IDEM,
    )
    assert chat.response_kind == "stream"
    chat.start()
    action = chat.response_head(200, SSE_HEADERS)
    assert isinstance(action, StartStream)
    assert isinstance(action.decoder, ChatCompletionStreamDecoder)


def test_lifecycle_for_a_raw_body() -> None:
    # No operation of the current spec sends raw bytes; the kind is still handled.
    op = attrs.evolve(
        OPERATIONS["create-realtime-call"], body_kind="raw", content_types=("application/sdp",)
    )
    prepared = PreparedOperation(op, "/realtime/calls", None, {"content": b"v=0"}, RequestOptions(), False)
    lc = lifecycle_for(ClientConfig(api_key=KEY), prepared, idempotency_key=IDEM)
    request = lc.start().request
    assert request.header("content-type") == "application/sdp"
    assert request.body == b"v=0"


@given(
    media=st.sampled_from(["text/event-stream", "application/json", "text/plain", "text/event-streams"]),
    upper=st.booleans(),
    params=st.sampled_from(["", "; charset=utf-8", " ;x=1"]),
    pad=st.sampled_from(["", " ", "\t"]),
)
def test_only_the_event_stream_media_type_streams(media: str, upper: bool, params: str, pad: str) -> None:
    content_type = pad + (media.upper() if upper else media) + params
    lc = lifecycle("stream")
    lc.start()
    action = lc.response_head(200, Headers([("content-type", content_type)]))
    assert isinstance(action, StartStream) is (media == "text/event-stream")


def test_success_needs_no_clock_but_an_error_status_does() -> None:
    lc = lifecycle()
    lc.start()
    lc.response_head(200, JSON_HEADERS)
    done = lc.response_body(b'{"ok": true}')
    assert isinstance(done, Done) and done.result == {"ok": True}

    lc = lifecycle()
    lc.start()
    lc.response_head(500, JSON_HEADERS)
    with pytest.raises(LocalProtocolError, match="needs now=, jitter= and elapsed="):
        lc.response_body(b"{}")
