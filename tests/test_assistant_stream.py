"""AssistantStreamDecoder and AssistantStreamAccumulator on recorded run
streams: fed whole, byte by byte and at hypothesis split points; message and
run step snapshots rebuilt from their deltas; errors, unknown events, bounds."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_sansio import (
    APIStreamError,
    AssistantStreamAccumulator,
    AssistantStreamDecoder,
    LocalProtocolError,
    MessageDeltaEvent,
    RemoteProtocolError,
    RunStepDeltaEvent,
    StreamDecodeError,
    UnknownAssistantStreamEvent,
)
from openai_sansio.types import assistants

RUN = {"id": "run_1", "object": "thread.run", "thread_id": "thread_1", "assistant_id": "asst_1", "status": "queued"}
MESSAGE = {"id": "msg_1", "object": "thread.message", "thread_id": "thread_1", "role": "assistant",
           "status": "in_progress", "content": []}
TOOL_STEP = {"id": "step_2", "object": "thread.run.step", "run_id": "run_1", "type": "tool_calls",
             "status": "in_progress", "step_details": {"type": "tool_calls", "tool_calls": []}}
CITE = {"index": 0, "type": "file_citation", "text": "[1]", "file_citation": {"file_id": "file_9"},
        "start_index": 5, "end_index": 8}


def mdelta(*content: dict[str, Any], role: str | None = None) -> dict[str, Any]:
    delta: dict[str, Any] = {"content": list(content)}
    if role is not None:
        delta["role"] = role
    return {"id": "msg_1", "object": "thread.message.delta", "delta": delta}


def sdelta(*calls: dict[str, Any]) -> dict[str, Any]:
    return {"id": "step_2", "object": "thread.run.step.delta",
            "delta": {"step_details": {"type": "tool_calls", "tool_calls": list(calls)}}}


STREAM: list[tuple[str, Any]] = [
    ("thread.created", {"id": "thread_1", "object": "thread", "metadata": {}}),
    ("thread.run.created", RUN),
    ("thread.run.queued", RUN),
    ("thread.run.in_progress", dict(RUN, status="in_progress")),
    ("thread.run.step.created", {"id": "step_1", "object": "thread.run.step", "type": "message_creation",
                                 "status": "in_progress",
                                 "step_details": {"type": "message_creation", "message_creation": {"message_id": "msg_1"}}}),
    ("thread.message.created", MESSAGE),
    ("thread.message.in_progress", MESSAGE),
    ("thread.message.delta", mdelta({"index": 0, "type": "text", "text": {"value": "Hello", "annotations": []}}, role="assistant")),
    ("thread.message.delta", mdelta({"index": 0, "type": "text", "text": {"value": " see [1]", "annotations": [CITE]}})),
    ("thread.message.delta", mdelta({"index": 0, "type": "text", "text": {"value": " ok"}},
                                    {"index": 1, "type": "image_file", "image_file": {"file_id": "file_img"}})),
    ("thread.message.delta", mdelta({"index": 1, "type": "image_file", "image_file": {"detail": "low"}})),
    ("thread.run.step.completed", {"id": "step_1", "object": "thread.run.step", "type": "message_creation",
                                   "status": "completed",
                                   "step_details": {"type": "message_creation", "message_creation": {"message_id": "msg_1"}}}),
    ("thread.run.step.created", TOOL_STEP),
    ("thread.run.step.delta", sdelta({"index": 0, "id": "call_ci", "type": "code_interpreter",
                                      "code_interpreter": {"input": "print(", "outputs": []}})),
    ("thread.run.step.delta", sdelta({"index": 0, "type": "code_interpreter", "code_interpreter": {"input": "1+1)"}})),
    ("thread.run.step.delta", sdelta({"index": 0, "type": "code_interpreter",
                                      "code_interpreter": {"outputs": [{"index": 0, "type": "logs", "logs": "2\n"}]}})),
    ("thread.run.step.delta", sdelta({"index": 1, "id": "call_fs", "type": "file_search", "file_search": {}})),
    ("thread.run.step.delta", sdelta({"index": 2, "id": "call_fn", "type": "function",
                                      "function": {"name": "get_weather", "arguments": "", "output": None}})),
    ("thread.run.step.delta", sdelta({"index": 2, "type": "function", "function": {"arguments": '{"city": '}})),
    ("thread.run.step.delta", sdelta({"index": 2, "type": "function", "function": {"arguments": '"Paris"}'}})),
    ("thread.run.step.brand_new", {"id": "step_2", "hint": 1}),
    ("thread.run.requires_action", dict(RUN, status="requires_action", required_action={
        "type": "submit_tool_outputs",
        "submit_tool_outputs": {"tool_calls": [{"id": "call_fn", "type": "function",
                                                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}})),
]


def encode(events: list[tuple[str, Any]], *, done: bool = True) -> bytes:
    out = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)
    if done:
        out += "event: done\ndata: [DONE]\n\n"
    return out.encode()


BODY = encode(STREAM)


def summary(items: list[Any]) -> list[tuple[str, Any]]:
    return [(item.event, item.data if isinstance(item, UnknownAssistantStreamEvent) else item.data.to_dict())
            for item in items]


def decode(pieces: list[bytes]) -> tuple[list[Any], AssistantStreamDecoder[Any]]:
    decoder = AssistantStreamDecoder()
    items: list[Any] = []
    for piece in pieces:
        items += decoder.feed(piece)
    items += decoder.close()
    return items, decoder


def test_decoder_types_each_event_by_its_name() -> None:
    items, decoder = decode([BODY])
    assert decoder.done
    assert [i.event for i in items] == [name for name, _ in STREAM]
    assert isinstance(items[0], assistants.ThreadStreamEvent)
    assert isinstance(items[1], assistants.ThreadRunCreated)
    assert isinstance(items[3].data, assistants.RunObject) and items[3].data.status == "in_progress"
    assert isinstance(items[7], assistants.ThreadMessageDelta)
    assert isinstance(items[7].data, assistants.MessageDeltaObject)
    first_delta: Any = items[7].data
    assert first_delta.delta.content[0].text.value == "Hello"
    assert isinstance(items[13], assistants.ThreadRunStepDelta)
    unknown = items[20]
    assert isinstance(unknown, UnknownAssistantStreamEvent)
    assert unknown.data == {"id": "step_2", "hint": 1}
    assert "hint" not in repr(unknown)
    assert summary(items) == [(n, d) for n, d in STREAM]


def test_decoder_byte_by_byte() -> None:
    items, _ = decode([BODY[i : i + 1] for i in range(len(BODY))])
    assert summary(items) == summary(decode([BODY])[0])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(BODY)), max_size=12))
def test_decoder_at_any_split_points(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    pieces = [BODY[a:b] for a, b in zip([0, *points], [*points, len(BODY)], strict=True)]
    items, decoder = decode(pieces)
    assert decoder.done
    assert summary(items) == [(n, d) for n, d in STREAM]


def test_done_ends_the_stream_and_later_bytes_are_dropped() -> None:
    decoder = AssistantStreamDecoder()
    items = decoder.feed(encode(STREAM[:2]) + b"event: thread.run.completed\ndata: {}\n\n")
    assert [i.event for i in items] == ["thread.created", "thread.run.created"]
    assert decoder.done
    assert decoder.close() == []
    # A bare [DONE] payload ends it as well.
    other = AssistantStreamDecoder()
    assert other.feed(b"data: [DONE]\n\n") == [] and other.done


def test_error_event_raises_with_what_came_before() -> None:
    decoder = AssistantStreamDecoder()
    body = encode(STREAM[:2], done=False) + b'event: error\ndata: {"message": "The server had an error", "type": "server_error"}\n\n'
    with pytest.raises(APIStreamError) as caught:
        decoder.feed(body)
    assert str(caught.value.message) == "The server had an error"
    assert [i.event for i in caught.value.received] == ["thread.created", "thread.run.created"]
    with pytest.raises(RemoteProtocolError):
        decoder.feed(b"event: thread.run.created\ndata: {}\n\n")
    with pytest.raises(APIStreamError):
        AssistantStreamDecoder().feed(b"event: error\ndata: not json\n\n")
    # Without a name, an {"error": ...} payload is an error too.
    with pytest.raises(APIStreamError):
        AssistantStreamDecoder().feed(b'data: {"error": {"message": "quota"}}\n\n')


def test_unknown_names_and_bad_payloads() -> None:
    decoder = AssistantStreamDecoder()
    items = decoder.feed(b"event: thread.future\ndata: plain text\n\ndata: {\"a\": 1}\n\n")
    assert [(i.event, i.data) for i in items] == [("thread.future", "plain text"), ("message", {"a": 1})]
    with pytest.raises(StreamDecodeError):
        AssistantStreamDecoder().feed(b"event: thread.run.created\ndata: {nope\n\n")
    with pytest.raises(StreamDecodeError):
        AssistantStreamDecoder().feed(b"event: thread.run.created\ndata: [1, 2]\n\n")
    # Items decoded ahead of a bad payload are returned first.
    held = AssistantStreamDecoder()
    first = held.feed(encode(STREAM[:1], done=False) + b"event: thread.run.created\ndata: {nope\n\n")
    assert [i.event for i in first] == ["thread.created"]
    with pytest.raises(StreamDecodeError):
        held.close()


def test_the_operations_use_it() -> None:
    from openai_sansio import OPERATIONS

    for op in ("createRun", "createThreadAndRun", "submitToolOuputsToRun"):
        assert isinstance(OPERATIONS[op].make_stream_decoder(), AssistantStreamDecoder)


# -- the accumulator -----------------------------------------------------------


def accumulate(items: list[Any]) -> tuple[AssistantStreamAccumulator, list[Any]]:
    acc = AssistantStreamAccumulator()
    out: list[Any] = []
    for item in items:
        out += acc.feed(item)
    return acc, out


def test_accumulator_builds_message_and_step_snapshots() -> None:
    items, _ = decode([BODY])
    acc, out = accumulate(items)
    assert acc.done
    kinds = [type(e) for e in out]
    assert kinds.count(MessageDeltaEvent) == 4 and kinds.count(RunStepDeltaEvent) == 7
    message: Any = acc.message_snapshot("msg_1")
    assert message.role == "assistant"
    text, image = message.content
    assert text.type == "text" and text.text.value == "Hello see [1] ok"
    (cite,) = text.text.annotations
    assert cite.file_citation.file_id == "file_9" and cite.start_index == 5 and cite.text == "[1]"
    assert image.type == "image_file"
    assert image.image_file.file_id == "file_img" and image.image_file.detail == "low"
    assert "index" not in image.to_dict()
    step: Any = acc.run_step_snapshot("step_2")
    code, search, function = step.step_details.tool_calls
    assert code.id == "call_ci" and code.code_interpreter.input == "print(1+1)"
    assert code.code_interpreter.outputs[0].logs == "2\n"
    assert search.type == "file_search" and search.id == "call_fs"
    assert function.function.name == "get_weather"
    assert json.loads(function.function.arguments) == {"city": "Paris"}
    assert acc.current_run_step_snapshot is not None and acc.current_run_step_snapshot.id == "step_2"
    run = acc.final_run()
    assert run.status == "requires_action"
    assert acc.current_run is run
    assert [m.id for m in acc.messages()] == ["msg_1"]
    assert [s.id for s in acc.run_steps()] == ["step_1", "step_2"]
    assert isinstance(acc.current_event, UnknownAssistantStreamEvent) is False
    assert "msg_1" not in repr(acc)


def test_delta_event_fields_and_snapshot_timing() -> None:
    items, _ = decode([BODY])
    acc = AssistantStreamAccumulator()
    seen: list[str] = []
    for item in items:
        (event,) = acc.feed(item)
        if isinstance(event, MessageDeltaEvent):
            assert event.event == "thread.message.delta"
            assert event.data is item.data
            snapshot: Any = event.snapshot
            seen.append(snapshot.content[0].text.value)
        if isinstance(event, RunStepDeltaEvent):
            step_delta: Any = event.data
            assert step_delta.delta.step_details.type == "tool_calls"
            assert event.snapshot.id == "step_2"
    assert seen == ["Hello", "Hello see [1]", "Hello see [1] ok", "Hello see [1] ok"]
    assert repr(MessageDeltaEvent(items[7], _accumulator=acc, _message_id="msg_1")) == "MessageDeltaEvent(message_id='msg_1')"


def test_completed_objects_replace_what_was_built() -> None:
    whole = dict(MESSAGE, status="completed",
                 content=[{"type": "text", "text": {"value": "Final words", "annotations": []}}])
    items, _ = decode([encode([
        ("thread.message.created", MESSAGE),
        ("thread.message.delta", mdelta({"index": 0, "type": "text", "text": {"value": "Fin"}})),
        ("thread.message.completed", whole),
        ("thread.run.step.created", TOOL_STEP),
        ("thread.run.step.delta", sdelta({"index": 0, "id": "c", "type": "function", "function": {"arguments": "{"}})),
        ("thread.run.step.completed", dict(TOOL_STEP, status="completed")),
        ("thread.run.completed", dict(RUN, status="completed")),
    ])])
    acc, _ = accumulate(items)
    message: Any
    (message,) = acc.messages()
    assert message.status == "completed" and message.content[0].text.value == "Final words"
    assert acc.run_step_snapshot("step_2").status == "completed"
    assert acc.current_run_step_snapshot is None
    assert acc.final_run().status == "completed" and acc.done


def test_in_progress_keeps_the_built_content() -> None:
    items, _ = decode([encode([
        ("thread.message.created", MESSAGE),
        ("thread.message.delta", mdelta({"index": 0, "type": "text", "text": {"value": "kept"}})),
        ("thread.message.in_progress", dict(MESSAGE, status="in_progress", metadata={"k": "v"})),
    ])])
    acc, _ = accumulate(items)
    message: Any = acc.message_snapshot("msg_1")
    assert message.content[0].text.value == "kept"
    assert message.metadata == {"k": "v"} and message.status == "in_progress"


def test_delta_without_its_created_event() -> None:
    items, _ = decode([encode([("thread.message.delta", mdelta({"index": 0, "type": "text", "text": {"value": "x"}}))])])
    acc, _ = accumulate(items)
    current: Any = acc.current_message_snapshot
    assert current.content[0].text.value == "x"


def test_accumulator_refuses_bad_deltas_and_bounds() -> None:
    items, _ = decode([encode([("thread.message.created", MESSAGE)])])
    bad_index = decode([encode([("thread.message.delta", mdelta({"index": -1, "type": "text"}))])])[0]
    acc, _ = accumulate(items)
    with pytest.raises(RemoteProtocolError):
        acc.feed(bad_index[0])
    small = AssistantStreamAccumulator(max_chars=100)
    small.feed(items[0])
    long = decode([encode([("thread.message.delta", mdelta({"index": 0, "type": "text", "text": {"value": "x" * 200}}))])])[0]
    with pytest.raises(RemoteProtocolError):
        small.feed(long[0])
    nested: Any = {"index": 0, "type": "text"}
    for _ in range(40):
        nested = {"deeper": nested}
    deep = decode([encode([("thread.message.delta", mdelta({"index": 0, "type": "text", "text": nested}))])])[0]
    with pytest.raises(RemoteProtocolError):
        AssistantStreamAccumulator().feed(deep[0])
    no_id = decode([encode([("thread.message.created", {"object": "thread.message"})])])[0]
    with pytest.raises(RemoteProtocolError):
        AssistantStreamAccumulator().feed(no_id[0])
    with pytest.raises(LocalProtocolError):
        AssistantStreamAccumulator(max_chars=-1)


def test_accumulator_before_anything() -> None:
    acc = AssistantStreamAccumulator()
    assert acc.current_run is None and acc.current_message_snapshot is None
    assert acc.messages() == [] and acc.run_steps() == [] and not acc.done
    with pytest.raises(LocalProtocolError):
        acc.final_run()
    with pytest.raises(LocalProtocolError):
        acc.message_snapshot("msg_x")
    with pytest.raises(LocalProtocolError):
        acc.run_step_snapshot("step_x")


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(BODY)), max_size=8))
def test_accumulated_state_is_the_same_at_any_split(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    pieces = [BODY[a:b] for a, b in zip([0, *points], [*points, len(BODY)], strict=True)]
    acc, _ = accumulate(decode(pieces)[0])
    message: Any = acc.message_snapshot("msg_1")
    step: Any = acc.run_step_snapshot("step_2")
    assert message.content[0].text.value == "Hello see [1] ok"
    assert step.step_details.tool_calls[2].function.arguments == '{"city": "Paris"}'


def test_only_growing_fields_are_appended() -> None:
    items, _ = decode([encode([
        ("thread.message.created", MESSAGE),
        ("thread.message.delta", mdelta({"index": 0, "type": "text", "text": {"value": "a"}}, role="assistant")),
        ("thread.message.delta", mdelta({"index": 0, "type": "text", "text": {"value": "b"}}, role="assistant")),
        ("thread.run.step.created", TOOL_STEP),
        ("thread.run.step.delta", sdelta({"index": 0, "id": "c", "type": "function", "function": {"name": "f", "arguments": "{"}})),
        ("thread.run.step.delta", sdelta({"index": 0, "type": "function", "function": {"name": "f", "arguments": "}"}})),
    ])])
    acc, _ = accumulate(items)
    message: Any = acc.message_snapshot("msg_1")
    assert message.role == "assistant" and message.content[0].text.value == "ab"
    step: Any = acc.run_step_snapshot("step_2")
    call = step.step_details.tool_calls[0]
    assert call.function.name == "f" and call.function.arguments == "{}"
