"""Edges of the stream accumulators (chat completions, Responses, Assistants
runs): short reprs of the helper events, refusal logprobs, deltas with
parts missing, extra fields merged the SDK's way, typed structured
content, events out of their usual order, malformed shapes refused."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from openai_sansio import (
    AssistantStreamAccumulator,
    AssistantStreamDecoder,
    ChatCompletionAccumulator,
    LocalProtocolError,
    MessageDeltaEvent,
    RemoteProtocolError,
    ResponseAccumulator,
    RunStepDeltaEvent,
)
from openai_sansio.types.chat import ChatCompletionChunk
from openai_sansio.types.responses import parse_response_stream_event

LONG = "x" * 100


@dataclasses.dataclass
class Answer:
    value: int


# -- chat -------------------------------------------------------------------------


def chunk(*choices: dict[str, Any], **extra: Any) -> ChatCompletionChunk:
    out = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
           "choices": list(choices), **extra}
    return ChatCompletionChunk.from_dict(out)


def delta(finish_reason: str | None = None, logprobs: Any = None, index: int = 0, **fields: Any) -> dict[str, Any]:
    return {"index": index, "delta": fields, "logprobs": logprobs, "finish_reason": finish_reason}


def lp(token: str) -> dict[str, Any]:
    return {"token": token, "logprob": -0.1, "bytes": list(token.encode()), "top_logprobs": []}


def feed(acc: ChatCompletionAccumulator, *chunks: ChatCompletionChunk) -> list[Any]:
    out: list[Any] = []
    for c in chunks:
        out += acc.feed(c)
    return [e for e in out if e.type != "chunk"]


def test_chat_event_reprs_are_short_and_name_the_choice() -> None:
    acc = ChatCompletionAccumulator()
    events = feed(
        acc,
        chunk(delta(content=LONG, logprobs={"content": [lp("x")], "refusal": None})),
        chunk(delta(refusal=LONG, logprobs={"content": None, "refusal": [lp("no")]})),
        chunk(delta(logprobs={"content": [], "refusal": [lp("pe")]})),
        chunk(delta(logprobs={"content": None, "refusal": []})),
        chunk(delta(tool_calls=[{"index": 0, "id": "c", "type": "function",
                                 "function": {"name": "f", "arguments": LONG}}])),
        chunk(delta(finish_reason="tool_calls")),
    )
    shown = {e.type: repr(e) for e in events}
    assert shown == {
        "content.delta": f"ContentDeltaEvent(delta={'x' * 40!r}..., choice_index=0)",
        "logprobs.content.delta": "LogprobsContentDeltaEvent(tokens=1, choice_index=0)",
        "refusal.delta": f"RefusalDeltaEvent(delta={'x' * 40!r}..., choice_index=0)",
        "logprobs.refusal.delta": "LogprobsRefusalDeltaEvent(tokens=1, choice_index=0)",
        "content.done": f"ContentDoneEvent(content={'x' * 40!r}..., choice_index=0)",
        "refusal.done": f"RefusalDoneEvent(refusal={'x' * 40!r}..., choice_index=0)",
        "logprobs.content.done": "LogprobsContentDoneEvent(tokens=1, choice_index=0)",
        "logprobs.refusal.done": "LogprobsRefusalDoneEvent(tokens=2, choice_index=0)",
        "tool_calls.function.arguments.delta": (
            f"FunctionToolCallArgumentsDeltaEvent(name='f', index=0, arguments_delta={'x' * 40!r}...)"
        ),
        "tool_calls.function.arguments.done": (
            f"FunctionToolCallArgumentsDoneEvent(name='f', index=0, arguments={'x' * 40!r}...)"
        ),
    }
    # Empty logprob lists cause no event; the snapshots grow.
    refusal_deltas = [e for e in events if e.type == "logprobs.refusal.delta"]
    assert [[t.token for t in e.snapshot] for e in refusal_deltas] == [["no"], ["no", "pe"]]
    logprobs = acc.final_completion().choices[0].logprobs
    assert logprobs is not None
    assert [t.token for t in logprobs.content or []] == ["x"]
    assert [t.token for t in logprobs.refusal or []] == ["no", "pe"]


def test_refusal_logprobs_alone_leave_content_logprobs_null() -> None:
    acc = ChatCompletionAccumulator()
    events = feed(acc, chunk(delta(refusal="No", logprobs={"content": None, "refusal": [lp("No")]})),
                  chunk(delta(finish_reason="stop")))
    assert [e.type for e in events] == ["refusal.delta", "logprobs.refusal.delta", "refusal.done", "logprobs.refusal.done"]
    logprobs = acc.final_completion().choices[0].logprobs
    assert logprobs is not None and logprobs.content is None
    assert [t.token for t in logprobs.refusal or []] == ["No"]


def test_structured_content_done_parses_into_the_type_once() -> None:
    acc = ChatCompletionAccumulator(response_format=Answer)
    events = feed(acc, chunk(delta(content='{"value": ')), chunk(delta(content="4}")), chunk(delta(finish_reason="stop")))
    assert [e.parsed for e in events if e.type == "content.delta"] == [{}, {"value": 4}]
    done = next(e for e in events if e.type == "content.done")
    first = done.parsed
    assert first == Answer(4)
    assert done.parsed is first  # parsed once, then kept


@pytest.mark.parametrize("response_format", [None, "json_object", {"type": "text"}])
def test_unstructured_formats_parse_nothing(response_format: Any) -> None:
    acc = ChatCompletionAccumulator(response_format=response_format)
    events = feed(acc, chunk(delta(content="{}")), chunk(delta(finish_reason="stop")))
    assert [(e.type, e.parsed) for e in events] == [("content.delta", None), ("content.done", None)]


def test_snapshot_is_reused_until_the_next_chunk() -> None:
    acc = ChatCompletionAccumulator()
    feed(acc, chunk(delta(content="a")))
    first = acc.current_completion()
    assert acc.current_completion() is first
    feed(acc, chunk(delta(content="b")))
    again = acc.current_completion()
    assert again is not first and again.choices[0].message.content == "ab"


def test_a_choice_without_a_delta_only_finishes() -> None:
    acc = ChatCompletionAccumulator()
    events = feed(acc, chunk(delta(role="assistant", content="hi")),
                  chunk({"index": 0, "delta": None, "finish_reason": "stop", "logprobs": None}))
    assert [e.type for e in events] == ["content.delta", "content.done"]
    [choice] = acc.final_completion().choices
    assert choice.finish_reason == "stop" and choice.message.content == "hi"


def test_empty_content_has_no_done_event_but_stays_empty_text() -> None:
    acc = ChatCompletionAccumulator()
    events = feed(acc, chunk(delta(role="assistant", content="")), chunk(delta(finish_reason="stop")))
    assert events == []
    assert acc.final_completion().choices[0].message.content == ""


def test_legacy_function_call_name_without_arguments() -> None:
    acc = ChatCompletionAccumulator()
    feed(acc, chunk(delta(function_call={"name": "lookup"})), chunk(delta(function_call={"name": "_all"})),
         chunk(delta(finish_reason="function_call")))
    call = acc.final_completion().choices[0].message.function_call
    assert call is not None and (call.name, call.arguments) == ("lookup_all", "")


def test_tool_call_edges_first_without_index_extra_keys_and_no_function() -> None:
    acc = ChatCompletionAccumulator()
    events = feed(
        acc,
        # No index, no id, nothing open yet: it is the first call.
        chunk(delta(tool_calls=[{"type": "function", "function": {"name": "f", "arguments": '{"a": 1'}}])),
        # Only an id and an extra key: no arguments event.
        chunk(delta(tool_calls=[{"index": 0, "id": "call_1", "extra_content": {"google": {"sig": "s"}}}])),
        chunk(delta(tool_calls=[{"index": 0, "function": {"arguments": "}"}, "extra_content": {"google": {"n": 1}}}])),
        chunk(delta(finish_reason="tool_calls")),
        # A second finish (some servers repeat it) reports nothing again.
        chunk(delta(finish_reason="tool_calls")),
    )
    assert [(e.type, getattr(e, "arguments", None)) for e in events] == [
        ("tool_calls.function.arguments.delta", '{"a": 1'),
        ("tool_calls.function.arguments.delta", '{"a": 1}'),
        ("tool_calls.function.arguments.done", '{"a": 1}'),
    ]
    [call] = acc.final_completion().choices[0].message.tool_calls or []
    assert call.id == "call_1"
    assert call.to_dict()["extra_content"] == {"google": {"sig": "s", "n": 1}}


def test_an_empty_tool_argument_string_decodes_to_none() -> None:
    acc = ChatCompletionAccumulator()
    events = feed(acc, chunk(delta(tool_calls=[{"index": 0, "id": "c", "type": "function", "function": {"name": "f"}}])),
                  chunk(delta(finish_reason="tool_calls")))
    done = events[-1]
    assert done.type == "tool_calls.function.arguments.done" and done.arguments == ""
    assert done.parsed_arguments is None


def test_unknown_message_keys_merge_like_the_sdk() -> None:
    acc = ChatCompletionAccumulator()
    feed(
        acc,
        chunk(delta(content="", audio={"id": "au_1", "data": "AAA", "expires_at": 1}, citations=["a"], score=1)),
        chunk(delta(audio={"data": "BBB", "expires_at": 2}, citations=["b"], score=0.5)),
        chunk(delta(score="high", finish_reason="stop")),
    )
    message = acc.final_completion().choices[0].message
    # Strings grow, lists extend, objects merge key by key; anything else is replaced.
    assert message.audio is not None and (message.audio.id, message.audio.data, message.audio.expires_at) == (
        "au_1", "AAABBB", 2,
    )
    assert message.extra == {"citations": ["a", "b"], "score": "high"}


# -- Responses -------------------------------------------------------------------------

RESPONSE = {"id": "resp_1", "object": "response", "created_at": 1, "status": "in_progress", "model": "gpt-4o",
            "output": [], "tools": [], "parallel_tool_calls": True, "tool_choice": "auto"}


def ev(kind: str, **fields: Any) -> Any:
    return parse_response_stream_event({"type": kind, "sequence_number": 0, **fields})


def created() -> Any:
    return ev("response.created", response=RESPONSE)


def completed(**changes: Any) -> Any:
    return ev("response.completed", response={**RESPONSE, "status": "completed", **changes})


def message_added(index: int = 0) -> Any:
    return ev("response.output_item.added", output_index=index,
              item={"type": "message", "id": "msg_1", "role": "assistant", "status": "in_progress", "content": []})


def text_delta(text: str, content_index: int = 0) -> Any:
    return ev("response.output_text.delta", item_id="msg_1", output_index=0, content_index=content_index,
              delta=text, logprobs=[])


def test_response_event_reprs_are_short() -> None:
    acc = ResponseAccumulator()
    out = [acc.feed(e)[0] for e in (
        created(), message_added(), text_delta(LONG),
        ev("response.output_text.done", item_id="msg_1", output_index=0, content_index=0, text=LONG, logprobs=[]),
        ev("response.output_item.added", output_index=1,
           item={"type": "function_call", "id": "fc_1", "call_id": "c", "name": "f", "arguments": ""}),
        ev("response.function_call_arguments.delta", item_id="fc_1", output_index=1, delta=LONG),
        completed(),
    )]
    cut = repr("x" * 40) + "..."
    assert [repr(e) for e in out[2:4]] == [
        f"ResponseTextDeltaEvent(delta={cut}, sequence_number=0)",
        f"ResponseTextDoneEvent(text={cut}, sequence_number=0)",
    ]
    assert repr(out[5]) == f"ResponseFunctionCallArgumentsDeltaEvent(delta={cut}, sequence_number=0)"
    assert repr(out[6]) == "ResponseCompletedEvent(id='resp_1')"
    assert repr(acc) == "<ResponseAccumulator events=7 items=2>"
    assert LONG not in repr(out[2]) + repr(out[3]) + repr(out[5])


def test_response_text_parses_into_the_type() -> None:
    acc = ResponseAccumulator(text_format=Answer)
    acc.feed(created())
    acc.feed(message_added())
    done: Any
    [done] = acc.feed(ev("response.output_text.done", item_id="msg_1", output_index=0, content_index=0,
                         text='{"value": 2}', logprobs=[]))
    assert done.parsed == Answer(2)


@pytest.mark.parametrize("text_format", ["json_schema", {"format": "json_schema"}, {"format": {"type": "text"}}])
def test_response_unstructured_formats_parse_nothing(text_format: Any) -> None:
    acc = ResponseAccumulator(text_format=text_format)
    out: list[Any] = [acc.feed(e)[0] for e in (created(), message_added(), text_delta("{}"))]
    assert out[2].parsed is None and out[2].snapshot == "{}"


def test_response_snapshot_of_a_call_in_progress_and_reuse() -> None:
    acc = ResponseAccumulator()
    acc.feed(created())
    # The item arrives with arguments already begun: the deltas continue them.
    acc.feed(ev("response.output_item.added", output_index=0,
                item={"type": "function_call", "id": "fc_1", "call_id": "c", "name": "f", "arguments": '{"a"'}))
    arg: Any
    [arg] = acc.feed(ev("response.function_call_arguments.delta", item_id="fc_1", output_index=0, delta=": 1}"))
    assert arg.snapshot == '{"a": 1}' and arg.parsed_arguments == {"a": 1}
    snap: Any = acc.current_response()
    assert snap.output[0].arguments == '{"a": 1}'
    assert acc.current_response() is snap


def test_response_events_out_of_the_usual_order() -> None:
    acc = ResponseAccumulator()
    acc.feed(created())
    acc.feed(message_added())
    acc.feed(text_delta("Hi", content_index=1))  # no content_part.added before it
    annotation = {"type": "url_citation", "url": "https://example.invalid", "title": "t", "start_index": 0,
                  "end_index": 2}
    acc.feed(ev("response.output_text.annotation.added", item_id="msg_1", output_index=0, content_index=0,
                annotation_index=0, annotation=annotation))
    # A done item nobody announced is taken as it is.
    acc.feed(ev("response.output_item.done", output_index=1,
                item={"type": "reasoning", "id": "rs_1", "summary": []}))
    finished: Any
    [finished] = acc.feed(completed(output=[]))
    final = finished.response
    message, reasoning = final.output
    assert [part.to_dict() for part in message.content] == [
        {"type": "output_text", "text": "", "annotations": [annotation]},
        {"type": "output_text", "annotations": [], "text": "Hi"},
    ]
    assert final.output_text == "Hi"
    assert reasoning.type == "reasoning" and final.status == "completed"


def test_response_events_ahead_of_response_created_accumulate() -> None:
    acc = ResponseAccumulator()
    acc.feed(message_added())
    acc.feed(text_delta("Hi"))
    snap = acc.current_response()
    # No content_part.added came: the part is implied, so output_text has it.
    assert snap.to_dict()["output"][0]["content"] == [{"type": "output_text", "annotations": [], "text": "Hi"}]
    assert snap.id is None and snap.output_text == "Hi"
    # The response.created that follows fills the placeholder (it had no id).
    acc.feed(created())
    acc.feed(text_delta(" there"))
    final = acc.feed(completed(output=[]))[0]
    assert final.response.id == "resp_1" and final.response.output_text == "Hi there"
    with pytest.raises(RemoteProtocolError, match="id changed"):
        acc.feed(completed(id="resp_other"))


def test_implied_parts_of_refusals_and_reasoning() -> None:
    acc = ResponseAccumulator()
    acc.feed(created())
    acc.feed(message_added())
    acc.feed(ev("response.refusal.delta", item_id="msg_1", output_index=0, content_index=1, delta="No."))
    acc.feed(ev("response.output_item.added", output_index=1,
                item={"type": "reasoning", "id": "rs_1", "summary": []}))
    acc.feed(ev("response.reasoning_summary_text.delta", item_id="rs_1", output_index=1, summary_index=0,
                delta="Think"))
    acc.feed(ev("response.reasoning_text.delta", item_id="rs_1", output_index=1, content_index=0, delta="Deep"))
    output = acc.current_response().to_dict()["output"]
    assert output[0]["content"] == [{"type": "refusal", "refusal": "No."}]
    assert output[1]["summary"] == [{"type": "summary_text", "text": "Think"}]
    assert output[1]["content"] == [{"type": "reasoning_text", "text": "Deep"}]


def test_response_events_that_say_too_little_pass_through() -> None:
    acc = ResponseAccumulator()
    untyped = parse_response_stream_event({"note": "no type"})
    assert acc.feed(untyped) == [untyped]
    empty = ev("response.created", response=None)
    assert acc.feed(empty) == [empty]
    with pytest.raises(LocalProtocolError):
        acc.current_response()
    acc.feed(created())
    acc.feed(message_added())
    no_part = ev("response.content_part.added", item_id="msg_1", output_index=0, content_index=0)
    no_delta = ev("response.output_text.delta", item_id="msg_1", output_index=0, content_index=0)
    assert acc.feed(no_part) == [no_part] and acc.feed(no_delta) == [no_delta]
    current: Any = acc.current_response()
    assert current.output[0].content == []


@pytest.mark.parametrize(
    "event",
    [
        {"type": "response.output_item.added", "output_index": 0},
        {"type": "response.output_item.added", "item": {"type": "message"}},
        {"type": "response.output_item.done", "output_index": 0},
        {"type": "response.output_item.done", "output_index": "0", "item": {"type": "message"}},
    ],
)
def test_response_items_without_an_index_or_item_are_refused(event: dict[str, Any]) -> None:
    acc = ResponseAccumulator()
    acc.feed(created())
    with pytest.raises(RemoteProtocolError, match="without an index or item"):
        acc.feed(parse_response_stream_event({"sequence_number": 1, **event}))


def test_response_text_is_bounded() -> None:
    with pytest.raises(LocalProtocolError):
        ResponseAccumulator(max_chars=-1)
    acc = ResponseAccumulator(max_chars=3)
    acc.feed(created())
    acc.feed(message_added())
    acc.feed(text_delta("abc"))
    with pytest.raises(RemoteProtocolError, match="3 characters"):
        acc.feed(text_delta("d"))


# -- Assistants runs -----------------------------------------------------------------------

MESSAGE = {"id": "msg_1", "object": "thread.message", "thread_id": "thread_1", "role": "assistant",
           "status": "in_progress", "content": []}


def step(step_id: str, status: str = "in_progress") -> dict[str, Any]:
    return {"id": step_id, "object": "thread.run.step", "type": "tool_calls", "status": status,
            "step_details": {"type": "tool_calls", "tool_calls": []}}


def decoded(*events: tuple[str, Any]) -> list[Any]:
    body = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()
    decoder = AssistantStreamDecoder()
    return [*decoder.feed(body), *decoder.close()]


def run_events(*events: tuple[str, Any]) -> tuple[AssistantStreamAccumulator, list[Any]]:
    acc = AssistantStreamAccumulator()
    out: list[Any] = []
    for item in decoded(*events):
        out += acc.feed(item)
    return acc, out


def mdelta(delta: Any) -> dict[str, Any]:
    return {"id": "msg_1", "object": "thread.message.delta", "delta": delta}


def test_a_first_delta_with_indexed_annotations_and_plain_lists() -> None:
    cite = {"index": 0, "type": "file_path", "text": "[p]", "file_path": {"file_id": "file_1"},
            "start_index": 0, "end_index": 3}
    acc, _ = run_events(
        ("thread.message.created", {**MESSAGE, "attachments": [{"file_id": "file_a", "tools": []}]}),
        ("thread.message.delta", mdelta({"content": [{"index": 0, "type": "text",
                                                       "text": {"value": "[p]", "annotations": [cite]}}]})),
        # A list without indexes (here from a compatible server) is extended.
        ("thread.message.in_progress", {**MESSAGE, "content": None}),
    )
    message: Any = acc.message_snapshot("msg_1")
    (text,) = message.content
    assert text.text.value == "[p]"
    assert [a.file_path.file_id for a in text.text.annotations] == ["file_1"]
    assert "index" not in text.text.annotations[0].to_dict()


def test_plain_list_entries_gain_indexed_ones_and_lists_extend() -> None:
    acc, _ = run_events(
        ("thread.message.created", {**MESSAGE, "metadata": {"tags": ["a"]},
                                    "content": [{"type": "text", "text": {"value": "x", "annotations": []}}]}),
        ("thread.message.delta", mdelta({"metadata": {"tags": ["b"]},
                                         "content": [{"index": 0, "text": {"value": "y"}},
                                                     {"index": 1, "type": "refusal", "refusal": "no"}]})),
    )
    message: Any = acc.message_snapshot("msg_1")
    assert message.metadata == {"tags": ["a", "b"]}
    assert [c.type for c in message.content] == ["text", "refusal"]
    assert message.content[0].text.value == "xy" and message.content[1].refusal == "no"


def test_indexed_entries_next_to_plain_values() -> None:
    # Plain values in a list that gains indexed entries stay where they were.
    acc, _ = run_events(
        ("thread.message.created", {**MESSAGE, "metadata": {"log": ["first"]}}),
        ("thread.message.delta", mdelta({"metadata": {"log": [{"index": 1, "text": "second"}]}})),
    )
    message: Any = acc.message_snapshot("msg_1")
    assert message.metadata == {"log": ["first", {"text": "second"}]}


def test_a_delta_mixing_indexed_objects_and_other_values_is_refused() -> None:
    # metadata is free-form, so the typed decoding lets such a list through.
    items = decoded(("thread.message.delta", mdelta({"metadata": {"log": [{"index": 0}, "loose"]}})))
    with pytest.raises(RemoteProtocolError, match="mixes indexed objects"):
        AssistantStreamAccumulator().feed(items[0])


def test_deltas_without_a_delta_and_unnamed_events_pass_through() -> None:
    acc = AssistantStreamAccumulator()
    [message_delta] = acc.feed(decoded(("thread.message.delta", {"id": "msg_1", "delta": None}))[0])
    assert isinstance(message_delta, MessageDeltaEvent)
    assert message_delta.snapshot.content == []
    [step_delta] = acc.feed(decoded(("thread.run.step.delta", {"id": "step_9", "delta": None}))[0])
    assert isinstance(step_delta, RunStepDeltaEvent) and step_delta.snapshot.id == "step_9"
    assert repr(step_delta) == "RunStepDeltaEvent(step_id='step_9')"
    assert acc.current_run_step_snapshot is not None
    (plain,) = decoded(("thread.future", "just text"))
    assert acc.feed(plain) == [plain] and acc.current_event is plain


def test_run_steps_done_out_of_turn() -> None:
    acc, _ = run_events(
        ("thread.run.step.created", step("step_1")),
        ("thread.run.step.created", step("step_2")),
        # step_1 finishes while step_2 is the one in progress: step_2 stays current.
        ("thread.run.step.completed", step("step_1", "completed")),
    )
    current = acc.current_run_step_snapshot
    assert current is not None and current.id == "step_2"
    assert acc.run_step_snapshot("step_1").status == "completed"
    # A step first seen in its done event is kept whole.
    (late,) = decoded(("thread.run.step.failed", step("step_3", "failed")))
    acc.feed(late)
    assert acc.run_step_snapshot("step_3") is late.data
    assert [s.id for s in acc.run_steps()] == ["step_1", "step_2", "step_3"]
