"""Tests for the stream decoders (body bytes of a 200 event stream -> items)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, Callable

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import openai_sansio
from openai_sansio import (
    APIResponseValidationError,
    APIStreamError,
    ChatCompletionStreamDecoder,
    CompletionStreamDecoder,
    LocalProtocolError,
    OpenAIError,
    Origin,
    RemoteProtocolError,
    Request,
    ResponseStreamDecoder,
    ServerSentEvent,
    StreamDecodeError,
    StreamDecoder,
    UnknownStreamEvent,
)

Factory = Callable[[], StreamDecoder[Any]]

ALLOWED_ERRORS = (RemoteProtocolError, APIStreamError, APIResponseValidationError)


def chat() -> StreamDecoder[Any]:
    return ChatCompletionStreamDecoder(parse=dict)


def completion() -> StreamDecoder[Any]:
    return CompletionStreamDecoder(parse=dict)


def responses() -> StreamDecoder[Any]:
    return ResponseStreamDecoder(parse=dict)


def data(obj: object) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def chunk(n: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": f"tok{n}"}}],
    }


def rev(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "sequence_number": 0, **fields}


@attrs.frozen
class Outcome:
    items: list[Any]
    error: type[BaseException] | None
    message: str | None
    done: bool


def run(factory: Factory, chunks: list[bytes]) -> Outcome:
    """Feed the chunks, then close; collect every item including ``received``."""
    dec = factory()
    items: list[Any] = []
    try:
        for piece in chunks:
            items += dec.feed(piece)
        items += dec.close()
    except APIStreamError as exc:
        return Outcome(items + exc.received, type(exc), exc.message, dec.done)
    except OpenAIError as exc:
        return Outcome(items, type(exc), str(exc), dec.done)
    return Outcome(items, None, None, dec.done)


def split(body: bytes, points: list[int]) -> list[bytes]:
    cuts = sorted({p % (len(body) + 1) for p in points})
    pieces = []
    start = 0
    for cut in cuts:
        pieces.append(body[start:cut])
        start = cut
    pieces.append(body[start:])
    return pieces


def run_all_ways(factory: Factory, body: bytes) -> Outcome:
    """Whole, byte by byte and in two halves must agree; return the outcome."""
    whole = run(factory, [body])
    bytewise = run(factory, [body[i : i + 1] for i in range(len(body))])
    halves = run(factory, [body[: len(body) // 2], body[len(body) // 2 :]])
    assert bytewise == whole
    assert halves == whole
    return whole


# -- the normal path ---------------------------------------------------------


def test_chat_stream_items_and_done() -> None:
    body = data(chunk(0)) + data(chunk(1)) + b"data: [DONE]\n\n"
    out = run_all_ways(chat, body)
    assert out == Outcome([chunk(0), chunk(1)], None, None, True)


@pytest.mark.parametrize("done", [b"data: [DONE]\n\n", b"data:[DONE]\n\n", b"data:[DONE]\r\n\r\n"])
def test_done_with_or_without_space(done: bytes) -> None:
    dec = chat()
    assert dec.feed(data(chunk(0))) == [chunk(0)]
    assert [dec.done] == [False]
    assert dec.feed(done) == []
    assert dec.done
    assert dec.close() == []
    assert dec.done


def test_done_in_the_middle_of_a_feed_drops_the_rest() -> None:
    body = data(chunk(0)) + b"data: [DONE]\n\n" + data(chunk(1)) + b"data: not json\n\n"
    out = run_all_ways(chat, body)
    assert out == Outcome([chunk(0)], None, None, True)


def test_after_done_bytes_are_dropped_without_decoding() -> None:
    dec = chat()
    dec.feed(b"data: [DONE]\n\n")
    # Garbage that would fail any decoding stage is simply counted.
    assert dec.feed(b"data: {nope\n\n" + b"\xff" * 100) == []
    assert dec.feed(b'data: {"error": "late"}\n\n') == []
    assert dec.done
    assert dec.close() == []


def test_after_done_the_bytes_are_bounded() -> None:
    dec = ChatCompletionStreamDecoder(parse=dict, max_trailing_bytes=10)
    dec.feed(b"data: [DONE]\n\n")
    assert dec.feed(b"x" * 6) == []
    assert dec.feed(b"x" * 4) == []  # exactly at the bound is fine
    with pytest.raises(RemoteProtocolError, match="after the end"):
        dec.feed(b"x")
    with pytest.raises(RemoteProtocolError, match="already failed"):
        dec.feed(b"")
    with pytest.raises(RemoteProtocolError, match="already failed"):
        dec.close()


def test_keepalive_comments_and_empty_data_are_ignored() -> None:
    body = (
        b": keep-alive\n\n"
        + b":\n\n"
        + data(chunk(0))
        + b"data:\n\n"
        + b"data: \n\n"
        + b"event: error\ndata:\n\n"
        + b"id: 7\n\n"
        + data(chunk(1))
        + b"data: [DONE]\n\n"
    )
    out = run_all_ways(chat, body)
    assert out == Outcome([chunk(0), chunk(1)], None, None, True)


def test_multiline_data_and_crlf() -> None:
    body = b'data: {"a":\r\ndata: 1}\r\n\r\ndata: [DONE]\r\n\r\n'
    assert run_all_ways(chat, body) == Outcome([{"a": 1}], None, None, True)


def test_stream_without_done_ends_at_close() -> None:
    # Some compatible servers never send [DONE]; the last event may even lack
    # its blank line.
    body = data(chunk(0)) + b'data: {"b": 2}'
    assert run_all_ways(chat, body) == Outcome([chunk(0), {"b": 2}], None, None, False)


def test_completion_decoder_is_the_same_protocol() -> None:
    body = data({"id": "cmpl-1", "choices": [{"text": "hi"}]}) + b"data: [DONE]\n\n"
    out = run_all_ways(completion, body)
    assert out == Outcome([{"id": "cmpl-1", "choices": [{"text": "hi"}]}], None, None, True)


def test_error_null_is_not_an_error() -> None:
    body = data({"id": "x", "error": None})
    assert run_all_ways(chat, body).items == [{"id": "x", "error": None}]


def test_custom_parse_callable() -> None:
    dec = ChatCompletionStreamDecoder(parse=lambda obj: obj["choices"][0]["delta"]["content"])
    assert dec.feed(data(chunk(0)) + data(chunk(1))) == ["tok0", "tok1"]


# -- errors the server reports in the stream ---------------------------------


def test_data_error_object() -> None:
    err = {"message": "boom", "type": "server_error", "code": "overloaded", "param": "p"}
    dec = chat()
    with pytest.raises(APIStreamError) as info:
        dec.feed(data({"error": err}))
    exc = info.value
    assert exc.message == "boom"
    assert str(exc) == "boom"
    assert exc.body == {"error": err}
    assert (exc.code, exc.param, exc.type) == ("overloaded", "p", "server_error")
    assert exc.received == []


def test_data_error_string() -> None:
    with pytest.raises(APIStreamError) as info:
        chat().feed(data({"error": "rate limited", "code": 429}))
    assert info.value.message == "rate limited"
    assert info.value.code == "429"
    assert info.value.body == {"error": "rate limited", "code": 429}


def test_data_error_without_message_gets_a_generic_one() -> None:
    with pytest.raises(APIStreamError) as info:
        chat().feed(data({"error": {"code": "x"}}))
    assert "error" in info.value.message
    assert info.value.code == "x"


def test_event_error_nested() -> None:
    body = b'event: error\ndata: {"error": {"message": "nested", "code": "c"}}\n\n'
    out = run_all_ways(chat, body)
    assert out == Outcome([], APIStreamError, "nested", False)


def test_event_error_top_level() -> None:
    body = b'event: error\ndata: {"message": "flat", "code": "server_error"}\n\n'
    dec = chat()
    with pytest.raises(APIStreamError) as info:
        dec.feed(body)
    assert info.value.message == "flat"
    assert info.value.code == "server_error"


def test_event_error_with_plain_text() -> None:
    with pytest.raises(APIStreamError) as info:
        chat().feed(b"event: error\ndata: upstream went away\n\n")
    assert info.value.message == "upstream went away"
    assert info.value.body == "upstream went away"


def test_event_error_with_json_string_and_number() -> None:
    with pytest.raises(APIStreamError) as info:
        chat().feed(b'event: error\ndata: "quoted"\n\n')
    assert info.value.message == "quoted"
    with pytest.raises(APIStreamError) as info:
        chat().feed(b"event: error\ndata: 42\n\n")
    assert info.value.body == 42
    assert info.value.code is None


def test_received_holds_items_of_the_same_feed() -> None:
    dec = chat()
    assert dec.feed(data(chunk(0))) == [chunk(0)]
    body = data(chunk(1)) + data(chunk(2)) + data({"error": {"message": "m"}}) + data(chunk(3))
    with pytest.raises(APIStreamError) as info:
        dec.feed(body)
    assert info.value.received == [chunk(1), chunk(2)]


def test_error_state_after_stream_error() -> None:
    dec = chat()
    with pytest.raises(APIStreamError) as info:
        dec.feed(data({"error": "x"}))
    with pytest.raises(RemoteProtocolError, match="already failed") as again:
        dec.feed(data(chunk(0)))
    assert not isinstance(again.value, LocalProtocolError)
    assert again.value.__cause__ is info.value
    with pytest.raises(RemoteProtocolError, match="already failed"):
        dec.close()


def test_errors_carry_the_request() -> None:
    request = Request("POST", Origin("https", "api.example", 443), "/v1/chat/completions", ())
    dec = ChatCompletionStreamDecoder(parse=dict, request=request)
    with pytest.raises(APIStreamError) as info:
        dec.feed(data({"error": "x"}))
    assert info.value.request is request
    with pytest.raises(RemoteProtocolError) as again:
        dec.feed(b"")
    assert again.value.request is request


# -- payloads we cannot decode -----------------------------------------------


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"not json", "not valid JSON"),
        (b'{"a": 1', "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'"text"', "not a JSON object"),
        (b"null", "not a JSON object"),
        (b"[" * 100_000, "not valid JSON"),  # recursion limit of the json module
    ],
)
def test_undecodable_payload(payload: bytes, why: str) -> None:
    body = b"data: " + payload + b"\n\n"
    for factory in (chat, responses):
        dec = factory()
        with pytest.raises(StreamDecodeError, match=why) as info:
            dec.feed(body)
        assert info.value.data == payload.decode()
        with pytest.raises(RemoteProtocolError, match="already failed"):
            dec.feed(data(chunk(0)))


def test_decode_error_message_is_short() -> None:
    with pytest.raises(StreamDecodeError) as info:
        chat().feed(b"data: " + b"x" * 10_000 + b"\n\n")
    assert len(info.value.message) < 300
    assert len(info.value.data) == 10_000


def test_items_before_a_decode_error_are_returned_first() -> None:
    dec = chat()
    body = data(chunk(0)) + data(chunk(1)) + b"data: {broken\n\n" + data(chunk(2))
    assert dec.feed(body) == [chunk(0), chunk(1)]
    with pytest.raises(StreamDecodeError) as info:
        dec.feed(b"")
    assert info.value.data == "{broken"
    with pytest.raises(RemoteProtocolError, match="already failed") as again:
        dec.feed(b"")
    assert again.value.__cause__ is info.value


def test_held_back_error_is_raised_by_close() -> None:
    dec = chat()
    assert dec.feed(data(chunk(0)) + b"data: [1]\n\n") == [chunk(0)]
    with pytest.raises(StreamDecodeError):
        dec.close()
    with pytest.raises(RemoteProtocolError, match="already failed"):
        dec.close()


class Strict:
    """A model-ish parser that insists on an ``id`` string."""

    @staticmethod
    def parse(obj: dict[str, Any]) -> str:
        value = obj["id"]
        if not isinstance(value, str):
            raise APIResponseValidationError(f"id must be a string, got {value!r}")
        return value


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        (b'{"no_id": 1}', "KeyError"),
        (b'{"id": 5}', "id must be a string"),
    ],
)
def test_model_building_failure(payload: bytes, detail: str) -> None:
    dec = ChatCompletionStreamDecoder(parse=Strict.parse)
    with pytest.raises(APIResponseValidationError, match=detail) as info:
        dec.feed(b"data: " + payload + b"\n\n")
    assert info.value.body == payload.decode()
    assert info.value.status_code == 200
    assert info.value.__cause__ is not None
    assert not isinstance(info.value, APIStreamError)


@pytest.mark.parametrize("exc", [TypeError, AttributeError, ValueError, IndexError])
def test_parser_exceptions_become_validation_errors(exc: type[Exception]) -> None:
    def parse(obj: dict[str, Any]) -> None:
        raise exc("bad shape")

    dec = ChatCompletionStreamDecoder(parse=parse)
    with pytest.raises(APIResponseValidationError, match="bad shape"):
        dec.feed(data({"id": "x"}))


def test_items_before_a_validation_error_are_returned_first() -> None:
    dec = ChatCompletionStreamDecoder(parse=Strict.parse)
    assert dec.feed(data({"id": "a"}) + data({"id": 1}) + data({"id": "c"})) == ["a"]
    with pytest.raises(APIResponseValidationError):
        dec.feed(data({"id": "d"}))


def test_sse_errors_fail_the_decoder() -> None:
    dec = ChatCompletionStreamDecoder(parse=dict, max_event_size=64)
    with pytest.raises(RemoteProtocolError, match="max_event_size"):
        dec.feed(b"data: " + b"x" * 100 + b"\n\n")
    with pytest.raises(RemoteProtocolError, match="already failed"):
        dec.feed(data(chunk(0)))


# -- the Responses API -------------------------------------------------------


def test_responses_stream_ends_at_completed() -> None:
    events = [
        rev("response.created", response={"id": "r"}),
        rev("response.output_text.delta", delta="Hi"),
        rev("response.completed", response={"id": "r", "status": "completed"}),
    ]
    body = b"".join(b"event: " + e["type"].encode() + b"\n" + data(e) for e in events)
    body += data(rev("response.output_text.delta", delta="late"))
    out = run_all_ways(responses, body)
    assert out == Outcome(events, None, None, True)


@pytest.mark.parametrize("terminal", ["response.failed", "response.incomplete"])
def test_responses_failed_and_incomplete_are_items(terminal: str) -> None:
    final = rev(terminal, response={"id": "r", "error": {"message": "model broke"}})
    body = data(rev("response.in_progress")) + data(final) + b"data: not json\n\n"
    out = run_all_ways(responses, body)
    assert out == Outcome([rev("response.in_progress"), final], None, None, True)


def test_responses_accepts_done() -> None:
    body = data(rev("response.created")) + b"data: [DONE]\n\n" + data(rev("error"))
    assert run_all_ways(responses, body) == Outcome([rev("response.created")], None, None, True)


def test_responses_error_event() -> None:
    err = {"type": "error", "code": "server_error", "message": "oops", "param": None}
    dec = responses()
    with pytest.raises(APIStreamError) as info:
        dec.feed(data(rev("response.created")) + b"event: error\n" + data(err))
    assert info.value.message == "oops"
    assert info.value.code == "server_error"
    assert info.value.received == [rev("response.created")]
    # Without the ``event:`` line the type alone is enough.
    with pytest.raises(APIStreamError) as info:
        responses().feed(data(err))
    assert info.value.body == err


def test_responses_error_key_and_event_error() -> None:
    with pytest.raises(APIStreamError, match="plain"):
        responses().feed(data({"error": {"message": "plain"}}))
    with pytest.raises(APIStreamError, match="top"):
        responses().feed(b'event: error\ndata: {"message": "top"}\n\n')


def picky(obj: dict[str, Any]) -> tuple[str, int]:
    """Stands in for a generated union that rejects what it does not know."""
    kind = obj["type"]
    if kind not in ("response.created", "response.completed"):
        raise ValueError(f"unknown event type {kind!r}")
    return (kind, obj["sequence_number"])


def test_responses_unknown_event_type() -> None:
    future = rev("response.teleport.started", where="mars")
    body = data(rev("response.created")) + data(future) + data(rev("response.completed"))
    dec = ResponseStreamDecoder(parse=picky)
    items = dec.feed(body)
    assert items == [
        ("response.created", 0),
        UnknownStreamEvent("response.teleport.started", future),
        ("response.completed", 0),
    ]
    assert dec.done


@pytest.mark.parametrize(
    "payload",
    [
        rev("response.output_text.delta"),  # known type, rejected: malformed
        {"sequence_number": 0},  # no type at all
        {"type": 7},  # a type that is not a string
        {"type": ["response.completed"]},  # unhashable type
    ],
)
def test_responses_malformed_event(payload: dict[str, Any]) -> None:
    dec = ResponseStreamDecoder(parse=picky)
    assert dec.feed(data(rev("response.created"))) == [("response.created", 0)]
    with pytest.raises(APIResponseValidationError):
        dec.feed(data(payload))
    assert not dec.done


def test_responses_malformed_after_items_is_held_back() -> None:
    dec = ResponseStreamDecoder(parse=picky)
    body = data(rev("response.created")) + data(rev("response.output_text.delta"))
    assert dec.feed(body) == [("response.created", 0)]
    with pytest.raises(APIResponseValidationError):
        dec.close()


def test_responses_non_string_type_with_raw_parse() -> None:
    assert responses().feed(data({"type": 7})) == [{"type": 7}]


# -- lifecycle and arguments -------------------------------------------------


def test_feed_after_close_is_caller_misuse() -> None:
    dec = chat()
    assert dec.feed(data(chunk(0))) == [chunk(0)]
    assert dec.close() == []
    assert dec.close() == []
    with pytest.raises(LocalProtocolError):
        dec.feed(b"")


def test_close_after_done_then_feed_is_misuse() -> None:
    dec = chat()
    dec.feed(b"data: [DONE]\n\n")
    assert dec.close() == []
    assert dec.done
    with pytest.raises(LocalProtocolError):
        dec.feed(b"")


def test_argument_checks() -> None:
    with pytest.raises(LocalProtocolError):
        ChatCompletionStreamDecoder(parse=dict, max_trailing_bytes=-1)
    with pytest.raises(LocalProtocolError):
        ChatCompletionStreamDecoder(parse=dict, sse=FakeSSE([], []), max_event_size=10)


class FakeSSE:
    """An event source with canned answers, for close() paths the real SSE
    decoder cannot reach."""

    def __init__(
        self, feeds: list[ServerSentEvent], closing: list[ServerSentEvent] | Exception
    ) -> None:
        self._feeds = feeds
        self._closing = closing

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        return self._feeds

    def close(self) -> list[ServerSentEvent]:
        if isinstance(self._closing, Exception):
            raise self._closing
        return self._closing


def test_close_raises_held_back_error_with_the_items_lost_to_it() -> None:
    closing = [ServerSentEvent(data='{"a": 1}'), ServerSentEvent(data="oops")]
    dec = ChatCompletionStreamDecoder(parse=dict, sse=FakeSSE([], closing))
    with pytest.raises(StreamDecodeError):
        dec.close()
    with pytest.raises(RemoteProtocolError, match="already failed"):
        dec.close()


def test_close_failing_in_sse_fails_the_decoder() -> None:
    dec = ChatCompletionStreamDecoder(parse=dict, sse=FakeSSE([], RemoteProtocolError("truncated")))
    with pytest.raises(RemoteProtocolError, match="truncated"):
        dec.close()
    with pytest.raises(RemoteProtocolError, match="already failed"):
        dec.feed(b"")


def test_models_are_imported_only_by_a_default_decoder() -> None:
    code = (
        "import sys, openai_sansio\n"
        "def loaded():\n"
        "    return sorted(m for m in sys.modules if m.startswith('openai_sansio.types'))\n"
        "assert loaded() == [], loaded()\n"
        "openai_sansio.ChatCompletionStreamDecoder(parse=dict).feed(b'data: {}\\n\\n')\n"
        "assert loaded() == [], loaded()\n"
        "openai_sansio.ChatCompletionStreamDecoder()\n"
        "assert 'openai_sansio.types.chat' in loaded(), loaded()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- with the generated models -----------------------------------------------

CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "m",
    "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}],
    "x_vendor": {"kept": True},
}


def test_default_chat_items_are_models() -> None:
    from openai_sansio.types import ChatCompletionChunk

    body = data(CHUNK) + data(CHUNK) + b"data: [DONE]\n\n"
    out = run_all_ways(ChatCompletionStreamDecoder, body)
    assert out.done and out.error is None
    assert len(out.items) == 2
    item = out.items[0]
    assert isinstance(item, ChatCompletionChunk)
    assert item.choices[0].delta.content == "hi"
    assert item.to_dict() == CHUNK  # unknown fields survive


def test_default_completion_items_are_models() -> None:
    from openai_sansio.types import Completion

    payload = {"id": "c", "object": "text_completion", "created": 1, "model": "m"}
    payload["choices"] = [{"text": "hi", "index": 0, "finish_reason": None, "logprobs": None}]
    dec = CompletionStreamDecoder()
    (item,) = dec.feed(data(payload))
    assert isinstance(item, Completion)
    assert item.choices[0].text == "hi"


@pytest.mark.parametrize("choices", [5, [5], [{"index": 0, "delta": 3}]])
def test_default_chat_rejects_wrong_shapes(choices: object) -> None:
    dec = ChatCompletionStreamDecoder()
    with pytest.raises(APIResponseValidationError) as info:
        dec.feed(data({**CHUNK, "choices": choices}))
    assert info.value.body == json.dumps({**CHUNK, "choices": choices})


def test_default_responses_items_are_models() -> None:
    from openai_sansio import types

    delta = rev("response.output_text.delta", item_id="i", output_index=0)
    delta.update(content_index=0, delta="Hi", logprobs=[])
    future = rev("response.teleport.started", where="mars")
    done = rev("response.completed", response={"id": "r", "object": "response"})
    body = data(delta) + data(future) + data(done)
    out = run_all_ways(ResponseStreamDecoder, body)
    assert out.done and out.error is None
    first, unknown, last = out.items
    assert isinstance(first, types.ResponseTextDeltaEvent)
    assert first.delta == "Hi"
    assert isinstance(unknown, (types.UnknownObject, UnknownStreamEvent))
    assert unknown.type == "response.teleport.started"
    assert isinstance(last, types.ResponseCompletedEvent)


def test_public_names() -> None:
    for name in (
        "StreamDecoder",
        "ChatCompletionStreamDecoder",
        "CompletionStreamDecoder",
        "ResponseStreamDecoder",
        "UnknownStreamEvent",
    ):
        assert name in openai_sansio.__all__
        assert getattr(openai_sansio, name).__module__ == "openai_sansio._streaming"
    assert issubclass(ResponseStreamDecoder, StreamDecoder)


# -- properties --------------------------------------------------------------

_PIECES = [
    data(chunk(1)),
    data(chunk(2)),
    b": ping\n\n",
    b"data:\n\n",
    b'data: {"a":\ndata: 2}\r\n\r\n',
    b"data: [DONE]\n\n",
    b"data:[DONE]\n\n",
    data({"error": {"message": "e1", "code": "c"}}),
    data({"error": "e2"}),
    b'event: error\ndata: {"message": "e3"}\n\n',
    b"event: error\ndata: e4\n\n",
    b"data: {bad\n\n",
    b"data: [3]\n\n",
    data(rev("response.output_text.delta", delta="d")),
    data(rev("response.completed")),
    data(rev("response.failed")),
    data(rev("error", message="e5")),
    data(rev("response.brand_new")),
    b"event: response.created\n" + data(rev("response.created")),
    b"retry: 10\nid: 1\n\n",
]


@settings(max_examples=150, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(_PIECES), max_size=8),
    tail=st.binary(max_size=12),
    points=st.lists(st.integers(min_value=0), max_size=6),
    which=st.sampled_from(["chat", "completion", "responses", "picky"]),
)
def test_splitting_never_changes_the_outcome(
    pieces: list[bytes], tail: bytes, points: list[int], which: str
) -> None:
    factories: dict[str, Factory] = {
        "chat": chat,
        "completion": completion,
        "responses": responses,
        "picky": lambda: ResponseStreamDecoder(parse=picky),
    }
    factory = factories[which]
    body = b"".join(pieces) + tail
    expected = run_all_ways(factory, body)
    assert run(factory, split(body, points)) == expected
    if expected.error is not None:
        assert issubclass(expected.error, ALLOWED_ERRORS)


@settings(max_examples=150, deadline=None)
@given(
    body=st.binary(max_size=200)
    | st.lists(
        st.sampled_from([b"data:", b"data: ", b"event: error\n", b"{", b"}", b"[DONE]", b"\n"])
        | st.binary(max_size=5),
        max_size=20,
    ).map(b"".join),
    points=st.lists(st.integers(min_value=0), max_size=8),
)
def test_arbitrary_bytes_give_items_or_typed_errors(body: bytes, points: list[int]) -> None:
    for factory in (chat, responses, lambda: ResponseStreamDecoder(parse=picky)):
        out = run(factory, split(body, points))
        if out.error is not None:
            assert issubclass(out.error, ALLOWED_ERRORS), out
        assert run(factory, [body]) == out


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["type", "choices", "delta", "index", "content", "response", "error"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)
_payloads = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["response.completed", "response.output_text.delta", "x.y"])
        | _json_values,
        "id": _json_values,
        "choices": _json_values,
        "usage": _json_values,
        "response": _json_values,
        "delta": _json_values,
        "error": _json_values,
    },
)


@settings(max_examples=150, deadline=None)
@given(payloads=st.lists(_payloads | _json_values, min_size=1, max_size=4))
def test_generated_models_on_random_json_give_items_or_typed_errors(payloads: list[Any]) -> None:
    body = b"".join(data(p) for p in payloads)
    for factory in (ChatCompletionStreamDecoder, CompletionStreamDecoder, ResponseStreamDecoder):
        out = run(factory, [body])
        if out.error is not None:
            assert issubclass(out.error, ALLOWED_ERRORS), out
        assert run(factory, [body[:7], body[7:]]) == out
