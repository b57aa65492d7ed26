"""ChatCompletionAccumulator and ResponseAccumulator fed recorded streams:
whole, through the SSE decoder at every split point, with the shapes real
and compatible servers send."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_sansio import (
    INCOMPLETE,
    AmbiguousToolCallError,
    ChatCompletionAccumulator,
    ChatCompletionStreamDecoder,
    ChunkEvent,
    ContentFilterFinishReasonError,
    LengthFinishReasonError,
    LocalProtocolError,
    ParsedChatCompletion,
    ParsedResponse,
    PartialJSONError,
    RemoteProtocolError,
    ResponseAccumulator,
    ResponseStreamDecoder,
    StructuredOutputError,
    function_tool,
)
from openai_sansio.types.chat import ChatCompletionChunk
from openai_sansio.types.responses import parse_response_stream_event


def chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    out = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o", "choices": choices}
    out.update(extra)
    return out


def delta(index: int = 0, finish_reason: str | None = None, logprobs: Any = None, **fields: Any) -> dict[str, Any]:
    return {"index": index, "delta": fields, "logprobs": logprobs, "finish_reason": finish_reason}


def lp(token: str) -> dict[str, Any]:
    return {"token": token, "logprob": -0.5, "bytes": list(token.encode()), "top_logprobs": []}


USAGE = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}

TEXT_STREAM = [
    chunk([delta(role="assistant", content="", refusal=None, logprobs={"content": [], "refusal": None})], system_fingerprint=None, usage=None),
    chunk([delta(content="Hel", logprobs={"content": [lp("Hel")], "refusal": None})], usage=None),
    chunk([delta(content="lo", logprobs={"content": [lp("lo")], "refusal": None})], system_fingerprint="fp_1", usage=None),
    chunk([delta(finish_reason="stop")], system_fingerprint="fp_1", usage=None),
    chunk([], system_fingerprint="fp_1", usage=USAGE),
]

INTERLEAVED_TOOLS = [
    chunk([delta(role="assistant", content=None)]),
    chunk([delta(tool_calls=[{"index": 0, "id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": ""}}])]),
    chunk([delta(tool_calls=[{"index": 0, "function": {"arguments": '{"city": "Par'}}])]),
    chunk([delta(tool_calls=[{"index": 1, "id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": '{"tz": '}}])]),
    chunk([delta(tool_calls=[{"index": 0, "function": {"arguments": 'is"}'}}])]),
    chunk([delta(tool_calls=[{"index": 1, "function": {"arguments": '"CET"}'}}])]),
    chunk([delta(finish_reason="tool_calls")]),
]

REFUSAL_STREAM = [
    chunk([delta(role="assistant", content=None, refusal="")]),
    chunk([delta(refusal="I can't ")]),
    chunk([delta(refusal="help with that.")]),
    chunk([delta(finish_reason="stop")]),
]


def feed_all(acc: ChatCompletionAccumulator, payloads: list[dict[str, Any]]) -> list[Any]:
    events: list[Any] = []
    for payload in payloads:
        events += acc.feed(ChatCompletionChunk.from_dict(payload))
    return events


def types(events: list[Any]) -> list[str]:
    return [e.type for e in events if e.type != "chunk"]


def test_text_logprobs_usage_fingerprint() -> None:
    acc = ChatCompletionAccumulator()
    events = feed_all(acc, TEXT_STREAM)
    assert types(events) == [
        "content.delta", "logprobs.content.delta",
        "content.delta", "logprobs.content.delta",
        "content.done", "logprobs.content.done",
    ]
    deltas = [e for e in events if e.type == "content.delta"]
    assert [(e.delta, e.snapshot) for e in deltas] == [("Hel", "Hel"), ("lo", "Hello")]
    assert deltas[0].parsed is None
    lp_deltas = [e for e in events if e.type == "logprobs.content.delta"]
    assert [t.token for t in lp_deltas[0].snapshot] == ["Hel"]
    assert [t.token for t in lp_deltas[1].snapshot] == ["Hel", "lo"]
    done = next(e for e in events if e.type == "logprobs.content.done")
    assert [t.token for t in done.content] == ["Hel", "lo"]
    final = acc.final_completion()
    assert final.object == "chat.completion"
    assert final.id == "chatcmpl-1"
    assert final.system_fingerprint == "fp_1"
    assert final.usage is not None and final.usage.total_tokens == 8
    [choice] = final.choices
    assert choice.message.content == "Hello"
    assert choice.message.refusal is None
    assert choice.message.role == "assistant"
    assert choice.finish_reason == "stop"
    assert choice.logprobs is not None and [t.token for t in choice.logprobs.content or []] == ["Hel", "lo"]
    assert "obfuscation" not in final.to_dict()


def test_usage_is_taken_once_and_kept() -> None:
    acc = ChatCompletionAccumulator()
    feed_all(acc, [*TEXT_STREAM, chunk([], usage=None)])
    usage = acc.final_completion().usage
    assert usage is not None and usage.total_tokens == 8


def test_interleaved_tool_calls() -> None:
    acc = ChatCompletionAccumulator()
    events = feed_all(acc, INTERLEAVED_TOOLS)
    final = acc.final_completion()
    calls = final.choices[0].message.tool_calls or []
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        ("call_a", "get_weather", '{"city": "Paris"}'),
        ("call_b", "get_time", '{"tz": "CET"}'),
    ]
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.choices[0].message.content is None
    arg_deltas = [e for e in events if e.type == "tool_calls.function.arguments.delta"]
    assert [(e.index, e.arguments) for e in arg_deltas][:3] == [
        (0, ""), (0, '{"city": "Par'), (1, '{"tz": '),
    ]
    assert arg_deltas[1].parsed_arguments == {"city": "Par"}
    assert arg_deltas[2].parsed_arguments == {}
    dones = [e for e in events if e.type == "tool_calls.function.arguments.done"]
    # The last done of each call holds its whole arguments.
    last = {e.index: e for e in dones}
    assert last[0].parsed_arguments == {"city": "Paris"}
    assert last[1].parsed_arguments == {"tz": "CET"}
    assert last[0].name == "get_weather"


def test_sequential_tool_calls_are_done_once_each_in_order() -> None:
    stream = [
        chunk([delta(tool_calls=[{"index": 0, "id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}])]),
        chunk([delta(tool_calls=[{"index": 1, "id": "b", "type": "function", "function": {"name": "g", "arguments": "[1]"}}])]),
        chunk([delta(finish_reason="tool_calls")]),
    ]
    events = feed_all(ChatCompletionAccumulator(), stream)
    dones = [(e.index, e.parsed_arguments) for e in events if e.type == "tool_calls.function.arguments.done"]
    assert dones == [(0, {}), (1, [1])]


def test_missing_index_merged_when_unambiguous() -> None:
    stream = [
        chunk([delta(tool_calls=[{"id": "call_x", "type": "function", "function": {"name": "f", "arguments": '{"a"'}}])]),
        chunk([delta(tool_calls=[{"function": {"arguments": ": 1}"}}])]),
        # A new id without an index starts the next call.
        chunk([delta(tool_calls=[{"id": "call_y", "type": "function", "function": {"name": "g", "arguments": "{}"}}])]),
        # A known id continues its own call.
        chunk([delta(tool_calls=[{"id": "call_x", "function": {"arguments": ""}}])]),
        chunk([delta(finish_reason="tool_calls")]),
    ]
    acc = ChatCompletionAccumulator()
    feed_all(acc, stream)
    calls = acc.final_completion().choices[0].message.tool_calls or []
    assert [(c.id, c.function.arguments) for c in calls] == [("call_x", '{"a": 1}'), ("call_y", "{}")]


def test_missing_index_ambiguous_is_typed_error() -> None:
    stream = [
        chunk([delta(tool_calls=[{"index": 0, "id": "a", "type": "function", "function": {"name": "f", "arguments": ""}}])]),
        chunk([delta(tool_calls=[{"index": 1, "id": "b", "type": "function", "function": {"name": "g", "arguments": ""}}])]),
        chunk([delta(tool_calls=[{"function": {"arguments": "{}"}}])]),
    ]
    acc = ChatCompletionAccumulator()
    with pytest.raises(AmbiguousToolCallError) as info:
        feed_all(acc, stream)
    assert isinstance(info.value, RemoteProtocolError)
    with pytest.raises(RemoteProtocolError):
        feed_all(ChatCompletionAccumulator(), [chunk([delta(tool_calls=[{"index": "0"}])])])


def test_refusal() -> None:
    acc = ChatCompletionAccumulator(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {}}})
    events = feed_all(acc, REFUSAL_STREAM)
    assert types(events) == ["refusal.delta", "refusal.delta", "refusal.done"]
    assert events[-1].refusal == "I can't help with that."
    refusal_deltas = [e for e in events if e.type == "refusal.delta"]
    assert refusal_deltas[-1].snapshot == "I can't help with that."
    message = acc.final_completion().choices[0].message
    assert message.refusal == "I can't help with that."
    assert message.content is None


def test_structured_content_parsed_as_it_streams() -> None:
    pieces = ['{"name": "Ad', 'a", "age', '": 36, "tags": ["x"', "]}"]
    stream = [chunk([delta(role="assistant", content="")])]
    stream += [chunk([delta(content=p)]) for p in pieces]
    stream += [chunk([delta(finish_reason="stop")])]
    acc = ChatCompletionAccumulator(response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": {}}})
    events = feed_all(acc, stream)
    parsed = [e.parsed for e in events if e.type == "content.delta"]
    assert parsed == [
        {"name": "Ad"},
        {"name": "Ada"},
        {"name": "Ada", "age": 36, "tags": ["x"]},
        {"name": "Ada", "age": 36, "tags": ["x"]},
    ]
    done = next(e for e in events if e.type == "content.done")
    assert done.parsed == {"name": "Ada", "age": 36, "tags": ["x"]}


def test_bad_structured_content_is_typed_error_when_read() -> None:
    acc = ChatCompletionAccumulator(response_format={"type": "json_object"})
    events = feed_all(acc, [chunk([delta(content="not json")]), chunk([delta(finish_reason="stop")])])
    with pytest.raises(PartialJSONError):
        _ = next(e for e in events if e.type == "content.delta").parsed
    done = next(e for e in events if e.type == "content.done")
    with pytest.raises(PartialJSONError):
        _ = done.parsed
    # The stream itself went on: the completion is whole.
    assert acc.final_completion().choices[0].message.content == "not json"
    first = ChatCompletionAccumulator(response_format={"type": "json_object"})
    assert feed_all(first, [chunk([delta(content=" ")])])[1].parsed is INCOMPLETE


def test_several_choices() -> None:
    stream = [
        chunk([delta(0, role="assistant", content="")]),
        chunk([delta(1, role="assistant", content="")]),
        chunk([delta(0, content="a")]),
        chunk([delta(1, content="b")]),
        chunk([delta(1, finish_reason="length")]),
        chunk([delta(0, finish_reason="stop")]),
    ]
    acc = ChatCompletionAccumulator()
    events = feed_all(acc, stream)
    final = acc.final_completion()
    assert [(c.index, c.message.content, c.finish_reason) for c in final.choices] == [(0, "a", "stop"), (1, "b", "length")]
    assert [(e.choice_index, e.content) for e in events if e.type == "content.done"] == [(1, "b"), (0, "a")]


def test_snapshot_on_chunk_event_and_errors() -> None:
    acc = ChatCompletionAccumulator()
    with pytest.raises(LocalProtocolError):
        acc.final_completion()
    events = acc.feed(ChatCompletionChunk.from_dict(TEXT_STREAM[1]))
    first = events[0]
    assert isinstance(first, ChunkEvent)
    assert first.snapshot.choices[0].message.content == "Hel"
    assert "Hel" not in repr(events[0])
    # Azure's content filter notes are not chunks: no event.
    note = dict(TEXT_STREAM[1], object="", choices=[])
    assert acc.feed(ChatCompletionChunk.from_dict(note)) == []
    with pytest.raises(LocalProtocolError):
        ChatCompletionAccumulator(max_chars=-1)


def test_text_is_bounded() -> None:
    acc = ChatCompletionAccumulator(max_chars=5)
    with pytest.raises(RemoteProtocolError, match="5 characters"):
        feed_all(acc, [chunk([delta(content="abc")]), chunk([delta(content="def")])])


def test_legacy_function_call_and_unknown_message_keys() -> None:
    stream = [
        chunk([delta(role="assistant", function_call={"name": "f", "arguments": '{"a"'})]),
        chunk([delta(function_call={"arguments": ": 1}"}, reasoning_content="think")]),
        chunk([delta(reasoning_content="ing", finish_reason="function_call")]),
    ]
    acc = ChatCompletionAccumulator()
    feed_all(acc, stream)
    message = acc.final_completion().choices[0].message
    assert message.function_call is not None and message.function_call.arguments == '{"a": 1}'
    assert message.extra == {"reasoning_content": "thinking"}


def sse(payloads: list[dict[str, Any]]) -> bytes:
    return b"".join(b"data: " + json.dumps(p).encode() + b"\n\n" for p in payloads) + b"data: [DONE]\n\n"


def run_chat(body: bytes, cuts: list[int]) -> tuple[list[str], dict[str, Any]]:
    decoder = ChatCompletionStreamDecoder()
    acc = ChatCompletionAccumulator()
    events: list[Any] = []
    last = 0
    for cut in [*sorted(cuts), len(body)]:
        for item in decoder.feed(body[last:cut]):
            events += acc.feed(item)
        last = cut
    for item in decoder.close():
        events += acc.feed(item)
    return [e.type for e in events], acc.final_completion().to_dict()


@pytest.mark.parametrize("stream", [TEXT_STREAM, INTERLEAVED_TOOLS, REFUSAL_STREAM], ids=["text", "tools", "refusal"])
def test_chat_byte_by_byte_equals_whole(stream: list[dict[str, Any]]) -> None:
    body = sse(stream)
    assert run_chat(body, list(range(len(body)))) == run_chat(body, [])


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([TEXT_STREAM, INTERLEAVED_TOOLS, REFUSAL_STREAM]), st.data())
def test_chat_any_split_equals_whole(stream: list[dict[str, Any]], data: st.DataObject) -> None:
    body = sse(stream)
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=12))
    assert run_chat(body, cuts) == run_chat(body, [])


# -- Responses ---------------------------------------------------------------


def response_obj(status: str, output: list[Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": "resp_1", "object": "response", "created_at": 1, "status": status, "model": "gpt-4o", "tools": [], "parallel_tool_calls": True, "tool_choice": "auto", "error": None, "incomplete_details": None, "instructions": None, "metadata": {}, "temperature": 1.0, "top_p": 1.0}
    if output is not None:
        out["output"] = output
    return out


MESSAGE_DONE = {"type": "message", "id": "msg_1", "status": "completed", "role": "assistant", "content": [{"type": "output_text", "text": '{"a": 1}', "annotations": [], "logprobs": []}]}
CALL_DONE = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": '{"x": [1, 2]}', "status": "completed"}


def response_events(final_output: list[Any] | None) -> list[dict[str, Any]]:
    seq = iter(range(100))
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}

    def ev(kind: str, **fields: Any) -> dict[str, Any]:
        return {"type": kind, "sequence_number": next(seq), **fields}

    return [
        ev("response.created", response=response_obj("in_progress", [])),
        ev("response.output_item.added", output_index=0, item=dict(MESSAGE_DONE, status="in_progress", content=[])),
        ev("response.content_part.added", part={"type": "output_text", "text": "", "annotations": []}, **where),
        ev("response.output_text.delta", delta='{"a"', logprobs=[], **where),
        ev("response.output_text.delta", delta=": 1}", logprobs=[], **where),
        ev("response.output_text.done", text='{"a": 1}', logprobs=[], **where),
        ev("response.output_item.added", output_index=1, item=dict(CALL_DONE, arguments="", status="in_progress")),
        ev("response.function_call_arguments.delta", item_id="fc_1", output_index=1, delta='{"x": [1'),
        ev("response.function_call_arguments.delta", item_id="fc_1", output_index=1, delta=", 2]}"),
        ev("response.function_call_arguments.done", item_id="fc_1", output_index=1, arguments=CALL_DONE["arguments"]),
        ev("response.output_item.done", output_index=1, item=CALL_DONE),
        ev("response.content_part.done", part=MESSAGE_DONE["content"][0], **where),
        ev("response.output_item.done", output_index=0, item=MESSAGE_DONE),
        ev("response.completed", response=response_obj("completed", final_output)),
    ]


def feed_responses(acc: ResponseAccumulator, payloads: list[dict[str, Any]]) -> list[Any]:
    out: list[Any] = []
    for p in payloads:
        out += acc.feed(parse_response_stream_event(p))
    return out


@pytest.mark.parametrize("final_output", [None, [], [MESSAGE_DONE, CALL_DONE]])
def test_response_rebuilt(final_output: list[Any] | None) -> None:
    acc = ResponseAccumulator(text_format={"format": {"type": "json_schema", "name": "x", "schema": {}}})
    events = feed_responses(acc, response_events(final_output))
    text_deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert [(e.delta, e.snapshot, e.parsed) for e in text_deltas] == [('{"a"', '{"a"', {}), (": 1}", '{"a": 1}', {"a": 1})]
    arg_deltas = [e for e in events if e.type == "response.function_call_arguments.delta"]
    assert [e.snapshot for e in arg_deltas] == ['{"x": [1', '{"x": [1, 2]}']
    assert arg_deltas[0].parsed_arguments == {"x": []}
    done = next(e for e in events if e.type == "response.output_text.done")
    assert done.parsed == {"a": 1} and done.text == '{"a": 1}'
    completed = events[-1]
    assert completed.type == "response.completed"
    final = acc.final_response()
    assert completed.response is final
    assert final.status == "completed"
    assert final.output_text == '{"a": 1}'
    assert [item.type for item in final.output] == ["message", "function_call"]
    assert final.output[1].arguments == '{"x": [1, 2]}'


def test_response_current_snapshot_mid_stream() -> None:
    acc = ResponseAccumulator()
    with pytest.raises(LocalProtocolError):
        acc.current_response()
    feed_responses(acc, response_events(None)[:5])
    snap = acc.current_response()
    assert snap.output_text == '{"a": 1}'
    assert not acc.done
    with pytest.raises(LocalProtocolError):
        acc.final_response()


def test_response_incomplete_and_failed_are_final() -> None:
    events = response_events(None)
    events[-1] = dict(events[-1], type="response.incomplete", response=response_obj("incomplete", None))
    acc = ResponseAccumulator()
    out = feed_responses(acc, events)
    assert out[-1].type == "response.incomplete"
    assert acc.final_response().status == "incomplete"
    assert acc.final_response().output_text == '{"a": 1}'


def test_response_delta_before_item_is_remote_error() -> None:
    acc = ResponseAccumulator()
    events = response_events(None)
    with pytest.raises(RemoteProtocolError):
        feed_responses(acc, [events[0], events[3]])
    changed = dict(events[1], type="response.in_progress", response=dict(response_obj("in_progress", []), id="resp_2"))
    acc = ResponseAccumulator()
    with pytest.raises(RemoteProtocolError, match="id changed"):
        feed_responses(acc, [events[0], changed])


def test_response_refusal_and_reasoning_deltas() -> None:
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    payloads = [
        {"type": "response.created", "sequence_number": 0, "response": response_obj("in_progress", [])},
        {"type": "response.output_item.added", "sequence_number": 1, "output_index": 0, "item": dict(MESSAGE_DONE, content=[])},
        {"type": "response.content_part.added", "sequence_number": 2, "part": {"type": "refusal", "refusal": ""}, **where},
        {"type": "response.refusal.delta", "sequence_number": 3, "delta": "No", **where},
        {"type": "response.refusal.delta", "sequence_number": 4, "delta": " way", **where},
        {"type": "response.output_item.added", "sequence_number": 5, "output_index": 1, "item": {"type": "reasoning", "id": "rs_1", "summary": []}},
        {"type": "response.reasoning_summary_part.added", "sequence_number": 6, "item_id": "rs_1", "output_index": 1, "summary_index": 0, "part": {"type": "summary_text", "text": ""}},
        {"type": "response.reasoning_summary_text.delta", "sequence_number": 7, "item_id": "rs_1", "output_index": 1, "summary_index": 0, "delta": "Thinking"},
    ]
    acc = ResponseAccumulator()
    feed_responses(acc, payloads)
    snap = acc.current_response().to_dict()["output"]
    assert snap[0]["content"] == [{"type": "refusal", "refusal": "No way"}]
    assert snap[1]["summary"] == [{"type": "summary_text", "text": "Thinking"}]


def run_responses(body: bytes, cuts: list[int]) -> tuple[list[str], dict[str, Any]]:
    decoder = ResponseStreamDecoder()
    acc = ResponseAccumulator()
    types_seen: list[str] = []
    last = 0
    for cut in [*sorted(cuts), len(body)]:
        for item in decoder.feed(body[last:cut]):
            types_seen += [e.type for e in acc.feed(item)]
        last = cut
    for item in decoder.close():
        types_seen += [e.type for e in acc.feed(item)]
    return types_seen, acc.final_response().to_dict()


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_responses_any_split_equals_whole(data: st.DataObject) -> None:
    payloads = response_events(None)
    body = b"".join(f"event: {p['type']}\ndata: {json.dumps(p)}\n\n".encode() for p in payloads)
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=12))
    assert run_responses(body, cuts) == run_responses(body, [])
    assert run_responses(body, list(range(0, len(body), 7))) == run_responses(body, [])


# -- structured outputs and parsed tool calls ---------------------------------


@attrs.define
class Point:
    x: int
    y: int = 0


@attrs.define
class Cell:
    a: int


def get_weather(city: str) -> str:
    return city


STRICT_WEATHER = function_tool(get_weather)
LOOSE_TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}

TYPED_STREAM = [
    chunk([delta(role="assistant", content="")]),
    chunk([delta(content='{"x": 3, ')]),
    chunk([delta(content='"y": null}')]),
    chunk([delta(finish_reason="stop")]),
]


def test_typed_content_and_final() -> None:
    acc = ChatCompletionAccumulator(response_format=Point)
    events = feed_all(acc, TYPED_STREAM)
    assert [e.parsed for e in events if e.type == "content.delta"] == [{"x": 3}, {"x": 3, "y": None}]
    (done,) = [e for e in events if e.type == "content.done"]
    # null stands for the default, as parse() reads it.
    assert done.parsed == Point(3, 0) and done.parsed is done.parsed
    final = acc.final_completion()
    assert isinstance(final, ParsedChatCompletion) and final.choices[0].message.parsed == Point(3, 0)
    assert acc.final_completion() is final
    assert final.to_dict()["choices"][0]["message"]["content"] == '{"x": 3, "y": null}'


def test_typed_content_that_does_not_fit() -> None:
    acc = ChatCompletionAccumulator(response_format=Point)
    events = feed_all(acc, [chunk([delta(content='{"x": "3"}')]), chunk([delta(finish_reason="stop")])])
    done = next(e for e in events if e.type == "content.done")
    with pytest.raises(StructuredOutputError, match=r"\$\.x"):
        _ = done.parsed
    with pytest.raises(StructuredOutputError):
        acc.final_completion()


def test_refusal_with_content_parses_to_none() -> None:
    acc = ChatCompletionAccumulator(response_format=Point)
    events = feed_all(acc, [chunk([delta(refusal="no", content='{"x": 1}')]), chunk([delta(finish_reason="stop")])])
    assert next(e for e in events if e.type == "content.done").parsed is None
    assert acc.final_completion().choices[0].message.parsed is None


def test_tool_arguments_follow_the_request_tools() -> None:
    acc = ChatCompletionAccumulator(tools=[STRICT_WEATHER, LOOSE_TIME])
    events = feed_all(acc, INTERLEAVED_TOOLS)
    # As in the SDK: a strict tool's arguments parse, a loose one's do not.
    deltas = [(e.name, e.parsed_arguments) for e in events if e.type == "tool_calls.function.arguments.delta"]
    assert ("get_weather", {"city": "Par"}) in deltas
    assert all(parsed is None for name, parsed in deltas if name == "get_time")
    # Interleaved: each call is reported done when left, the last report
    # holding all of it; parsed only when read, so the early ones cost nothing.
    last = {e.name: e for e in events if e.type == "tool_calls.function.arguments.done"}
    assert {name: e.parsed_arguments for name, e in last.items()} == {"get_weather": {"city": "Paris"}, "get_time": None}
    calls = acc.final_completion().choices[0].message.tool_calls or []
    assert [c.function.parsed_arguments for c in calls] == [{"city": "Paris"}, None]


def test_tool_arguments_into_a_type() -> None:
    stream = [
        chunk([delta(role="assistant", tool_calls=[{"index": 0, "id": "call_1", "type": "function", "function": {"name": "Cell", "arguments": '{"a"'}}])]),
        chunk([delta(tool_calls=[{"index": 0, "function": {"arguments": ": 2}"}}])]),
        chunk([delta(finish_reason="tool_calls")]),
    ]
    acc = ChatCompletionAccumulator(tools=[function_tool(Cell, api="responses")])
    events = feed_all(acc, stream)
    (done,) = [e for e in events if e.type == "tool_calls.function.arguments.done"]
    assert done.parsed_arguments == Cell(2) and done.parsed_arguments is done.parsed_arguments
    call = (acc.final_completion().choices[0].message.tool_calls or [])[0]
    assert call.function.parsed_arguments == Cell(2)
    bad = ChatCompletionAccumulator(tools=[function_tool(Cell)])
    events = feed_all(bad, [dict(stream[0], choices=[dict(stream[0]["choices"][0], delta={"tool_calls": [{"index": 0, "id": "c", "type": "function", "function": {"name": "Cell", "arguments": '{"a": []}'}}]})]), stream[2]])
    with pytest.raises(StructuredOutputError):
        _ = next(e for e in events if e.type == "tool_calls.function.arguments.done").parsed_arguments


@pytest.mark.parametrize(
    ("finish_reason", "error"),
    [("length", LengthFinishReasonError), ("content_filter", ContentFilterFinishReasonError)],
)
@pytest.mark.parametrize(
    "setup",
    [{"response_format": Point}, {"tools": [STRICT_WEATHER]}, {"tools": [{"type": "function", "function": {"name": "f", "strict": True}}]}],
    ids=["type", "function-tool", "strict-mapping"],
)
def test_finish_reason_errors_at_the_chunk(finish_reason: str, error: type[Exception], setup: dict[str, Any]) -> None:
    acc = ChatCompletionAccumulator(**setup)
    feed_all(acc, [chunk([delta(role="assistant", content='{"x": ')])])
    with pytest.raises(error) as info:
        acc.feed(ChatCompletionChunk.from_dict(chunk([delta(content="1", finish_reason=finish_reason)])))
    completion = info.value.completion  # type: ignore[attr-defined]
    assert completion.choices[0].message.content == '{"x": 1'
    with pytest.raises(error):
        acc.final_completion()
    # Even the very first chunk.
    with pytest.raises(error):
        ChatCompletionAccumulator(**setup).feed(ChatCompletionChunk.from_dict(chunk([delta(content="{", finish_reason=finish_reason)])))


@pytest.mark.parametrize("setup", [{}, {"response_format": {"type": "json_object"}}, {"tools": [LOOSE_TIME]}])
def test_no_finish_reason_errors_with_nothing_to_parse(setup: dict[str, Any]) -> None:
    acc = ChatCompletionAccumulator(**setup)
    feed_all(acc, [chunk([delta(content="{")]), chunk([delta(finish_reason="length")]), chunk([delta(1, finish_reason="content_filter")])])
    final = acc.final_completion()
    assert isinstance(final, ParsedChatCompletion)
    assert [c.finish_reason for c in final.choices] == ["length", "content_filter"]


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_typed_any_split_equals_whole(data: st.DataObject) -> None:
    def run(body: bytes, cuts: list[int]) -> tuple[Any, ...]:
        decoder = ChatCompletionStreamDecoder()
        acc = ChatCompletionAccumulator(response_format=Point)
        events: list[Any] = []
        last = 0
        for cut in [*sorted(cuts), len(body)]:
            for item in decoder.feed(body[last:cut]):
                events += acc.feed(item)
            last = cut
        for item in decoder.close():
            events += acc.feed(item)
        done = [e.parsed for e in events if e.type == "content.done"]
        return types(events), done, acc.final_completion().choices[0].message.parsed

    body = sse(TYPED_STREAM)
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=12))
    whole = run(body, [])
    assert whole[1:] == ([Point(3, 0)], Point(3, 0))
    assert run(body, cuts) == whole
    assert run(body, list(range(len(body)))) == whole


@attrs.define
class A:
    a: int


def test_response_typed_text_and_final() -> None:
    acc = ResponseAccumulator(text_format=A, tools=[function_tool(get_weather, api="chat"), {"type": "function", "name": "f", "strict": True, "parameters": {}}])
    events = feed_responses(acc, response_events(None))
    done = next(e for e in events if e.type == "response.output_text.done")
    assert done.parsed == A(1)
    final = acc.final_response()
    assert isinstance(final, ParsedResponse)
    assert final.output_parsed == A(1)
    assert events[-1].response is final
    call = next(item for item in final.output if item.type == "function_call")
    assert call.parsed_arguments == {"x": [1, 2]}


def test_response_commentary_phase_is_not_parsed() -> None:
    events = response_events(None)
    events[1] = dict(events[1], item=dict(events[1]["item"], phase="commentary"))
    acc = ResponseAccumulator(text_format=A)
    out = feed_responses(acc, events)
    assert next(e for e in out if e.type == "response.output_text.done").parsed is None


def test_response_incomplete_is_not_parsed() -> None:
    events = response_events(None)
    events[-1] = dict(events[-1], type="response.incomplete", response=response_obj("incomplete", None))
    acc = ResponseAccumulator(text_format=A, tools=[{"type": "function", "name": "f", "strict": True}])
    feed_responses(acc, events)
    final = acc.final_response()
    assert isinstance(final, ParsedResponse) and final.output_parsed is None
    call = next(item for item in final.output if item.type == "function_call")
    assert call.parsed_arguments is None
