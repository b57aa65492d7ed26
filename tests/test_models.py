"""Generated models: realistic payloads in, typed objects out, nothing lost."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_sansio import APIResponseValidationError, LocalProtocolError
from openai_sansio import _operations as ops
from openai_sansio.types import UnknownObject, parse_model
from openai_sansio.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionList,
    ChatCompletionMessage,
    Choice,
    ChoiceDelta,
    ChoiceDeltaToolCall,
    ChunkChoice,
)
from openai_sansio.types.completions import Completion
from openai_sansio.types.embeddings import CreateEmbeddingResponse, Embedding
from openai_sansio.types.models import Model, ModelDeleted, ModelList
from openai_sansio.types.moderations import CreateModerationResponseResultCategories
from openai_sansio.types.responses import (
    FunctionToolCall,
    OutputMessage,
    OutputTextContent,
    ReasoningItem,
    Response,
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseErrorEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseOutputItemAddedEvent,
    ResponseTextDeltaEvent,
    parse_response_stream_event,
)
from openai_sansio.types.shared import CompletionUsage

# -- payloads ---------------------------------------------------------------

CHAT_COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
    "object": "chat.completion",
    "created": 1741569952,
    "model": "gpt-4.1-2025-04-14",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "tool_calls": [
                    {
                        "id": "call_abc",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    },
                    {"id": "call_def", "type": "custom", "custom": {"name": "sql", "input": "SELECT 1"}},
                ],
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        },
        {
            "index": 1,
            "message": {"role": "assistant", "content": "Sunny.", "refusal": None},
            "logprobs": {
                "content": [
                    {
                        "token": "Sunny",
                        "logprob": -0.01,
                        "bytes": [83, 117, 110, 110, 121],
                        "top_logprobs": [{"token": "Sunny", "logprob": -0.01, "bytes": None}],
                    }
                ],
                "refusal": None,
            },
            "finish_reason": "stop",
        },
    ],
    "usage": {
        "prompt_tokens": 19,
        "completion_tokens": 10,
        "total_tokens": 29,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
    "service_tier": "default",
    "system_fingerprint": "fp_50cad350e4",
}

FIRST_CHUNK = {
    "id": "chatcmpl-123",
    "object": "chat.completion.chunk",
    "created": 1694268190,
    "model": "gpt-4o-mini",
    "system_fingerprint": "fp_44709d6fcb",
    "choices": [
        {"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}
    ],
}

TOOL_CALL_CHUNKS = [
    {
        "id": "chatcmpl-9",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "delta": {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": ""},
                        }
                    ]
                },
                "finish_reason": None,
            }
        ],
    },
    {
        "id": "chatcmpl-9",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]},
                "finish_reason": None,
            }
        ],
    },
    {
        "id": "chatcmpl-9",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}],
    },
]

LOGPROBS_CHUNK = {
    "id": "chatcmpl-5",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "gpt-4o",
    "choices": [
        {
            "index": 0,
            "delta": {"content": "Hi"},
            "logprobs": {
                "content": [{"token": "Hi", "logprob": -0.2, "bytes": [72, 105], "top_logprobs": []}],
                "refusal": None,
            },
            "finish_reason": None,
        }
    ],
}

USAGE_CHUNK = {
    "id": "chatcmpl-5",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "gpt-4o",
    "choices": [],
    "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
}

# What vLLM / llama.cpp send: fields the spec does not know about.
VLLM_CHUNK = {
    "id": "chatcmpl-x",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "Qwen/Qwen3-8B",
    "choices": [
        {
            "index": 0,
            "delta": {"reasoning_content": "Let me think", "content": None},
            "logprobs": None,
            "finish_reason": None,
            "stop_reason": None,
        }
    ],
    "timings": {"prompt_n": 5, "predicted_per_second": 41.5},
}

RESPONSE: dict[str, Any] = {
    "id": "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b",
    "object": "response",
    "created_at": 1741476542,
    "status": "completed",
    "completed_at": 1741476543,
    "error": None,
    "incomplete_details": None,
    "instructions": None,
    "max_output_tokens": None,
    "model": "gpt-4.1-2025-04-14",
    "output": [
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [{"type": "summary_text", "text": "Thinking about weather."}],
        },
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
            "status": "completed",
        },
        {
            "type": "message",
            "id": "msg_1",
            "status": "completed",
            "role": "assistant",
            "content": [
                {
                    "type": "output_text",
                    "text": "It is sunny in Paris.",
                    "annotations": [],
                    "logprobs": [],
                }
            ],
        },
        {"type": "brand_new_item", "id": "x_1", "payload": {"a": 1}},
    ],
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "reasoning": {"effort": None, "summary": None},
    "store": True,
    "temperature": 1.0,
    "text": {"format": {"type": "text"}},
    "tool_choice": "auto",
    "tools": [
        {
            "type": "function",
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {}},
            "strict": True,
        }
    ],
    "top_p": 1.0,
    "truncation": "disabled",
    "usage": {
        "input_tokens": 36,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 87,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 123,
    },
    "user": None,
    "metadata": {},
}


def _chunk(**fields: Any) -> dict[str, Any]:
    chunk = copy.deepcopy(FIRST_CHUNK)
    chunk.update(fields)
    return chunk


# -- chat ---------------------------------------------------------------------


def test_chat_completion_round_trip() -> None:
    c = parse_model(ChatCompletion, CHAT_COMPLETION)
    assert isinstance(c, ChatCompletion)
    assert c.id == "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"
    first, second = c.choices
    assert isinstance(first, Choice)
    assert isinstance(first.message, ChatCompletionMessage)
    assert first.finish_reason == "tool_calls"
    calls = first.message.tool_calls
    assert calls is not None
    assert [type(t).__name__ for t in calls] == [
        "ChatCompletionMessageToolCall",
        "ChatCompletionMessageCustomToolCall",
    ]
    assert calls[0].function.arguments == '{"city":"Paris"}'  # type: ignore[union-attr]
    assert second.message.content == "Sunny."
    assert second.logprobs is not None
    assert second.logprobs.content is not None
    assert second.logprobs.content[0].bytes == [83, 117, 110, 110, 121]
    assert second.logprobs.content[0].top_logprobs[0].bytes is None
    assert isinstance(c.usage, CompletionUsage)
    assert c.usage.completion_tokens_details is not None
    assert c.usage.completion_tokens_details.reasoning_tokens == 0
    assert c.to_dict() == CHAT_COMPLETION
    assert json.loads(json.dumps(c.to_dict())) == CHAT_COMPLETION
    assert c.extra == {}


def test_chat_completion_list() -> None:
    page = {
        "object": "list",
        "data": [CHAT_COMPLETION],
        "first_id": "a",
        "last_id": "a",
        "has_more": False,
    }
    lst = parse_model(ChatCompletionList, page)
    assert lst.data[0].choices[1].message.content == "Sunny."
    assert lst.has_more is False


def test_chunk_plain_attribute_access() -> None:
    chunk = ChatCompletionChunk.from_dict(FIRST_CHUNK)
    assert isinstance(chunk.choices[0], ChunkChoice)
    assert isinstance(chunk.choices[0].delta, ChoiceDelta)
    assert chunk.choices[0].delta.content == ""
    assert chunk.choices[0].delta.role == "assistant"
    assert chunk.choices[0].finish_reason is None
    assert chunk.usage is None
    assert chunk.to_dict() == FIRST_CHUNK


def test_chunk_tool_call_deltas() -> None:
    chunks = [ChatCompletionChunk.from_dict(c) for c in TOOL_CALL_CHUNKS]
    first = chunks[0].choices[0].delta.tool_calls
    assert first is not None
    assert isinstance(first[0], ChoiceDeltaToolCall)
    assert (first[0].index, first[0].id, first[0].type) == (0, "call_1", "function")
    assert first[0].function is not None
    assert first[0].function.name == "get_weather"
    second = chunks[1].choices[0].delta.tool_calls
    assert second is not None
    assert second[0].id is None
    assert second[0].function is not None
    assert second[0].function.name is None
    assert second[0].function.arguments == '{"ci'
    last = chunks[2].choices[0]
    assert last.delta.tool_calls is None
    assert last.finish_reason == "tool_calls"
    assert [c.to_dict() for c in chunks] == TOOL_CALL_CHUNKS


def test_chunk_logprobs_and_usage_only_final_chunk() -> None:
    chunk = ChatCompletionChunk.from_dict(LOGPROBS_CHUNK)
    logprobs = chunk.choices[0].logprobs
    assert logprobs is not None
    assert logprobs.content is not None
    assert logprobs.content[0].logprob == -0.2
    assert logprobs.refusal is None
    final = ChatCompletionChunk.from_dict(USAGE_CHUNK)
    assert final.choices == []
    assert final.usage == CompletionUsage(prompt_tokens=5, completion_tokens=7, total_tokens=12)


def test_unknown_enum_values_are_kept() -> None:
    chunk = ChatCompletionChunk.from_dict(
        _chunk(
            choices=[{"index": 0, "delta": {"role": "narrator"}, "finish_reason": "eos_token"}],
            service_tier="turbo",
        )
    )
    assert chunk.choices[0].finish_reason == "eos_token"
    assert chunk.choices[0].delta.role == "narrator"
    assert chunk.service_tier == "turbo"


def test_extra_fields_from_compatible_servers() -> None:
    chunk = ChatCompletionChunk.from_dict(VLLM_CHUNK)
    assert chunk.extra == {"timings": {"prompt_n": 5, "predicted_per_second": 41.5}}
    assert chunk.choices[0].extra == {"stop_reason": None}
    assert chunk.choices[0].delta.extra == {"reasoning_content": "Let me think"}
    assert chunk.choices[0].delta.content is None
    assert chunk.to_dict() == VLLM_CHUNK
    assert chunk.to_dict()["choices"][0]["delta"]["reasoning_content"] == "Let me think"


def test_raw_is_not_part_of_eq_or_repr() -> None:
    a = ChatCompletionChunk.from_dict(VLLM_CHUNK)
    stripped = copy.deepcopy(VLLM_CHUNK)
    del stripped["timings"]
    b = ChatCompletionChunk.from_dict(stripped)
    assert a == b
    assert (a != b) is False
    assert "timings" not in repr(a)
    assert repr(a).startswith("ChatCompletionChunk(id='chatcmpl-x', choices=[ChunkChoice(")
    c = ChatCompletionChunk.from_dict(_chunk(id="other"))
    assert a != c
    assert (a == 1) is False
    with pytest.raises(TypeError):
        hash(a)


def test_missing_optional_fields_become_none() -> None:
    chunk = ChatCompletionChunk.from_dict(
        {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": []}
    )
    assert chunk.system_fingerprint is None
    assert chunk.usage is None
    assert chunk.service_tier is None
    # Compatible servers sometimes leave out a required field; that is not an error.
    sparse = ChatCompletionChunk.from_dict({"choices": [{"delta": {"content": "x"}}]})
    assert sparse.id is None
    assert sparse.choices[0].index is None
    assert sparse.choices[0].delta.content == "x"


def test_models_are_attrs_slotted_classes() -> None:
    assert attrs.has(ChatCompletionChunk)
    names = [f.name for f in attrs.fields(ChatCompletionChunk)]
    assert names[0] == "_raw"
    assert "choices" in names
    chunk = ChatCompletionChunk.from_dict(FIRST_CHUNK)
    with pytest.raises(AttributeError):
        chunk.not_a_field = 1  # type: ignore[attr-defined]


def test_hand_built_models_serialise_with_wire_names() -> None:
    delta = ChoiceDelta(content="hi", role="assistant")
    chunk = ChatCompletionChunk(
        id="c1",
        object="chat.completion.chunk",
        created=5,
        model="m",
        choices=[ChunkChoice(index=0, delta=delta, finish_reason=None)],
    )
    assert chunk.extra == {}
    assert chunk.to_dict() == {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 5,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": "hi", "role": "assistant"}}],
    }
    assert ChatCompletionChunk.from_dict(chunk.to_dict()) == chunk
    cats = CreateModerationResponseResultCategories(
        hate=False,
        hate_threatening=True,
        harassment=False,
        harassment_threatening=False,
        illicit=False,
        illicit_violent=None,
        self_harm=False,
        self_harm_intent=False,
        self_harm_instructions=False,
        sexual=False,
        sexual_minors=False,
        violence=False,
        violence_graphic=False,
    )
    wire = cats.to_dict()
    assert wire["hate/threatening"] is True
    assert wire["self-harm"] is False
    assert "illicit/violent" not in wire
    parsed = CreateModerationResponseResultCategories.from_dict(wire)
    assert parsed.hate_threatening is True
    assert parsed.extra == {}
    assert UnknownObject(type="x").to_dict() == {"type": "x"}


def test_to_dict_of_hand_built_nested_containers() -> None:
    page = ModelList(object="list", data=[Model(id="m", created=1, object="model", owned_by="me")])
    assert page.to_dict() == {
        "object": "list",
        "data": [{"id": "m", "created": 1, "object": "model", "owned_by": "me"}],
    }


def test_legacy_completion() -> None:
    payload = {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 1,
        "model": "gpt-3.5-turbo-instruct",
        "choices": [
            {
                "text": "Hello",
                "index": 0,
                "logprobs": {
                    "tokens": ["Hel", "lo"],
                    "token_logprobs": [-0.1, -0.2],
                    "top_logprobs": [{"Hel": -0.1}, {"lo": -0.2}],
                    "text_offset": [0, 3],
                },
                "finish_reason": "length",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    }
    c = parse_model(Completion, payload)
    assert c.choices[0].text == "Hello"
    assert c.choices[0].logprobs is not None
    assert c.choices[0].logprobs.tokens == ["Hel", "lo"]
    assert isinstance(c.usage, CompletionUsage)
    assert c.to_dict() == payload


# -- responses ------------------------------------------------------------------


def test_response_with_several_output_items() -> None:
    r = parse_model(Response, RESPONSE)
    assert isinstance(r, Response)
    kinds = [type(o) for o in r.output]
    assert kinds == [ReasoningItem, FunctionToolCall, OutputMessage, UnknownObject]
    reasoning, call, message, unknown = r.output
    assert isinstance(reasoning, ReasoningItem)
    assert reasoning.summary[0].text == "Thinking about weather."
    assert isinstance(call, FunctionToolCall)
    assert call.arguments == '{"city":"Paris"}'
    assert isinstance(message, OutputMessage)
    text = message.content[0]
    assert isinstance(text, OutputTextContent)
    assert text.text == "It is sunny in Paris."
    assert isinstance(unknown, UnknownObject)
    assert unknown.type == "brand_new_item"
    assert unknown.extra == {"id": "x_1", "payload": {"a": 1}}
    assert unknown.to_dict() == RESPONSE["output"][3]
    assert r.usage is not None
    assert r.usage.output_tokens_details.reasoning_tokens == 0
    assert r.tool_choice == "auto"
    assert r.to_dict() == RESPONSE


STREAM_EVENTS: list[tuple[dict[str, Any], type]] = [
    (
        {"type": "response.created", "sequence_number": 0, "response": RESPONSE},
        ResponseCreatedEvent,
    ),
    (
        {
            "type": "response.output_item.added",
            "sequence_number": 1,
            "output_index": 0,
            "item": {"type": "message", "id": "msg_1", "status": "in_progress", "role": "assistant", "content": []},
        },
        ResponseOutputItemAddedEvent,
    ),
    (
        {
            "type": "response.output_text.delta",
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": "Hel",
            "sequence_number": 2,
            "logprobs": [],
            "obfuscation": "Zx9",
        },
        ResponseTextDeltaEvent,
    ),
    (
        {
            "type": "response.function_call_arguments.delta",
            "item_id": "fc_1",
            "output_index": 1,
            "delta": '{"ci',
            "sequence_number": 3,
        },
        ResponseFunctionCallArgumentsDeltaEvent,
    ),
    (
        {"type": "error", "code": "server_error", "message": "boom", "param": None, "sequence_number": 4},
        ResponseErrorEvent,
    ),
    (
        {"type": "response.completed", "sequence_number": 5, "response": RESPONSE},
        ResponseCompletedEvent,
    ),
]


@pytest.mark.parametrize(("payload", "cls"), STREAM_EVENTS)
def test_response_stream_events(payload: dict[str, Any], cls: type) -> None:
    event = parse_model(parse_response_stream_event, payload)
    assert type(event) is cls
    assert event.type == payload["type"]
    assert event.to_dict() == payload


def test_stream_event_details() -> None:
    delta = parse_response_stream_event(STREAM_EVENTS[2][0])
    assert isinstance(delta, ResponseTextDeltaEvent)
    assert delta.delta == "Hel"
    assert delta.extra == {"obfuscation": "Zx9"}
    added = parse_response_stream_event(STREAM_EVENTS[1][0])
    assert isinstance(added, ResponseOutputItemAddedEvent)
    assert isinstance(added.item, OutputMessage)
    done = parse_response_stream_event(STREAM_EVENTS[5][0])
    assert isinstance(done, ResponseCompletedEvent)
    assert isinstance(done.response, Response)
    assert done.response.output[2].type == "message"


def test_unknown_stream_event_type_is_kept() -> None:
    payload = {"type": "response.holographic.delta", "sequence_number": 9, "hologram": [1, 2]}
    event = parse_response_stream_event(payload)
    assert isinstance(event, UnknownObject)
    assert event.type == "response.holographic.delta"
    assert event.to_dict() == payload
    assert event.extra == {"sequence_number": 9, "hologram": [1, 2]}
    no_type = parse_response_stream_event({"sequence_number": 1})
    assert isinstance(no_type, UnknownObject)
    assert no_type.type is None
    odd_type = parse_response_stream_event({"type": 7})
    assert isinstance(odd_type, UnknownObject)
    assert odd_type.type is None
    assert UnknownObject().extra == {}
    same = parse_response_stream_event(dict(payload))
    other = parse_response_stream_event({**payload, "hologram": [3]})
    assert event == same
    assert event != other
    assert event != UnknownObject(type="response.holographic.delta")


# -- embeddings and models ------------------------------------------------------------


def test_embeddings() -> None:
    payload = {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [0.0023, -0.0093, 0.015]},
            {"object": "embedding", "index": 1, "embedding": "AAAAAA=="},
        ],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 8, "total_tokens": 8},
    }
    r = parse_model(CreateEmbeddingResponse, payload)
    assert isinstance(r.data[0], Embedding)
    assert r.data[0].embedding == [0.0023, -0.0093, 0.015]
    # base64 encoding_format: kept as sent, no conversion attempted.
    assert r.data[1].embedding == "AAAAAA=="
    assert r.usage.prompt_tokens == 8
    assert r.to_dict() == payload


def test_models_list_retrieve_delete() -> None:
    payload = {
        "object": "list",
        "data": [
            {"id": "gpt-4o", "object": "model", "created": 1686935002, "owned_by": "openai"},
            {"id": "llama-3", "object": "model", "created": 0, "owned_by": "llamacpp", "meta": {"n_ctx": 8192}},
        ],
    }
    page = parse_model(ModelList, payload)
    assert [m.id for m in page.data] == ["gpt-4o", "llama-3"]
    assert page.data[1].extra == {"meta": {"n_ctx": 8192}}
    assert page.to_dict() == payload
    one = parse_model(Model, payload["data"][0])
    assert one == page.data[0]
    deleted = parse_model(ModelDeleted, {"id": "ft:x", "object": "model", "deleted": True})
    assert deleted.deleted is True


# -- shape errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        _chunk(choices=5),
        _chunk(choices=["x"]),
        _chunk(choices=[{"index": 0, "delta": "text"}]),
        _chunk(choices=[{"index": 0, "delta": {"tool_calls": 3}}]),
        _chunk(usage=[1, 2]),
        [FIRST_CHUNK],
        "not json object",
        None,
    ],
)
def test_wrong_types_raise_validation_error(payload: Any) -> None:
    with pytest.raises(APIResponseValidationError) as info:
        parse_model(ChatCompletionChunk, payload)
    assert isinstance(info.value.__cause__, (TypeError, AttributeError))
    assert info.value.body is payload
    assert "ChatCompletionChunk" in str(info.value)


@pytest.mark.parametrize(
    "payload",
    [5, "response.created", {"type": "response.completed", "response": 5}, {"type": "error", "code": None, "x": 1}],
)
def test_wrong_event_shapes(payload: Any) -> None:
    if isinstance(payload, dict) and payload.get("type") == "error":
        # Missing fields are tolerated; only wrong types fail.
        assert isinstance(parse_model(parse_response_stream_event, payload), ResponseErrorEvent)
        return
    with pytest.raises(APIResponseValidationError) as info:
        parse_model(parse_response_stream_event, payload)
    assert "parse_response_stream_event" in str(info.value)


def test_wrong_output_item_shape() -> None:
    bad = copy.deepcopy(RESPONSE)
    bad["output"] = [{"type": "message", "content": 5}]
    with pytest.raises(APIResponseValidationError):
        parse_model(Response, bad)
    bad["output"] = ["message"]
    with pytest.raises(APIResponseValidationError):
        parse_model(Response, bad)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    path=st.sampled_from(
        [
            ("choices",),
            ("choices", 0),
            ("choices", 0, "delta"),
            ("choices", 0, "delta", "tool_calls"),
            ("choices", 0, "logprobs"),
            ("usage",),
            ("id",),
        ]
    ),
    value=_json,
)
def test_any_substituted_value_parses_or_raises_validation_error(path: tuple[Any, ...], value: Any) -> None:
    payload = copy.deepcopy(LOGPROBS_CHUNK)
    target: Any = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    try:
        chunk = parse_model(ChatCompletionChunk, payload)
    except APIResponseValidationError:
        return
    assert chunk.to_dict() == payload


# -- packaging -------------------------------------------------------------------------


def test_import_openai_sansio_does_not_import_types() -> None:
    code = (
        "import sys, openai_sansio; "
        "print(sorted(m for m in sys.modules if m.startswith('openai_sansio.types')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_types_package_is_lazy() -> None:
    code = (
        "import sys, openai_sansio.types as t; before = sorted(m for m in sys.modules if m.startswith('openai_sansio.types.')); "
        "t.ChatCompletionChunk; after = sorted(m for m in sys.modules if m.startswith('openai_sansio.types.')); "
        "print(before, after)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after = out.stdout.strip().split("] [")
    assert before == "["
    assert "openai_sansio.types.chat" in after
    assert "openai_sansio.types.responses" not in after


def test_types_getattr_and_dir() -> None:
    import openai_sansio.types as t

    assert t.ChatCompletionChunk is ChatCompletionChunk
    assert t.ResponseTextDeltaEvent is ResponseTextDeltaEvent
    assert t.parse_model is parse_model
    assert "ChatCompletion" in dir(t)
    assert "CompletionCreateParams" in t.__all__
    with pytest.raises(AttributeError, match="NoSuchModel"):
        t.NoSuchModel  # noqa: B018


def test_request_typeddicts() -> None:
    from openai_sansio.types.chat_params import (
        ChatCompletionToolParam,
        ChatCompletionUserMessageParam,
        CompletionCreateParams,
        ResponseFormatJsonSchemaParam,
    )
    from openai_sansio.types.responses_params import ResponseCreateParams
    from openai_sansio.types.shared_params import ChatCompletionStreamOptionsParam

    body: CompletionCreateParams = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "hi"}],
        "stream_options": {"include_usage": True},
    }
    assert "messages" in CompletionCreateParams.__annotations__
    assert "stream_options" in CompletionCreateParams.__annotations__
    for td in (
        ChatCompletionToolParam,
        ChatCompletionUserMessageParam,
        ResponseFormatJsonSchemaParam,
        ResponseCreateParams,
        ChatCompletionStreamOptionsParam,
    ):
        assert td.__annotations__
    ops.validate_request("createChatCompletion", body)


# -- operations table ---------------------------------------------------------------------


def test_operations_table_counts() -> None:
    assert len(ops.OPERATIONS) == 288
    assert all(key == op.operation_id for key, op in ops.OPERATIONS.items())
    methods = {op.method for op in ops.OPERATIONS.values()}
    assert methods <= {"GET", "POST", "DELETE", "PUT", "PATCH"}
    assert sum(op.has_json_body for op in ops.OPERATIONS.values()) == 100
    assert sum(op.streams for op in ops.OPERATIONS.values()) == 13
    for op in ops.OPERATIONS.values():
        assert op.path.startswith("/")
        assert "?" not in op.path
        placeholders = [p.split("}")[0] for p in op.path.split("{")[1:]]
        assert placeholders == list(op.path_params), op.operation_id


def test_beta_query_paths() -> None:
    beta = {k: op for k, op in ops.OPERATIONS.items() if op.fixed_query}
    assert len(beta) == 7
    assert all(op.fixed_query == (("beta", "true"),) for op in beta.values())
    create = ops.get_operation("beta_createResponse")
    assert (create.method, create.path) == ("POST", "/responses")
    assert create.streams
    assert create.target() == "/responses?beta=true"
    get = ops.get_operation("beta_getResponse")
    assert get.target(response_id="r/1") == "/responses/r%2F1?beta=true"
    assert ops.get_operation("getResponse").target(response_id="r") == "/responses/r"


def test_core_operations() -> None:
    chat = ops.get_operation("createChatCompletion")
    assert (chat.method, chat.path, chat.streams, chat.has_json_body) == (
        "POST",
        "/chat/completions",
        True,
        True,
    )
    assert chat.content_types == ("application/json",)
    assert chat.response_content_types == ("application/json", "text/event-stream")
    assert chat.response_model == "openai_sansio.types.chat.ChatCompletion"
    assert chat.stream_model == "openai_sansio.types.chat.ChatCompletionChunk"
    assert chat.response_parser() == ChatCompletion.from_dict
    assert chat.response_parser(stream=True) == ChatCompletionChunk.from_dict
    resp = ops.get_operation("createResponse")
    assert resp.response_parser(stream=True) is parse_response_stream_event
    assert ops.get_operation("getResponse").streams
    assert "stream" in ops.get_operation("getResponse").query_params
    emb = ops.get_operation("createEmbedding")
    assert not emb.streams
    assert emb.response_parser() == CreateEmbeddingResponse.from_dict
    assert emb.response_parser(stream=True) is None
    assert ops.get_operation("deleteModel").response_parser() == ModelDeleted.from_dict
    assert ops.get_operation("listModels").response_parser() == ModelList.from_dict
    assert ops.get_operation("deleteResponse").response_model is None
    legacy = ops.get_operation("createCompletion")
    assert legacy.response_content_types == ("application/json",)
    assert legacy.response_parser(stream=True) == Completion.from_dict


def test_every_model_path_names_a_generated_definition() -> None:
    root = Path(ops.__file__).parent.parent
    for op in ops.OPERATIONS.values():
        for target in (op.response_model, op.stream_model):
            if target is None:
                continue
            module, _, name = target.rpartition(".")
            source = (root / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8")
            assert f"class {name}(" in source or f"def {name}(" in source, target


def test_format_path() -> None:
    op = ops.get_operation("getResponse")
    assert op.format_path(response_id="resp_1") == "/responses/resp_1"
    assert op.format_path(response_id="a/b c?d") == "/responses/a%2Fb%20c%3Fd"
    # Dot segments would be resolved by servers and proxies: refused.
    for dots in (".", ".."):
        with pytest.raises(LocalProtocolError, match=re.escape("not '.' or '..'")):
            op.format_path(response_id=dots)
    assert op.format_path(response_id="...") == "/responses/..."
    multi = ops.get_operation("RetrieveContainerFile")
    assert multi.format_path(container_id="c 1", file_id="f/2") == "/containers/c%201/files/f%2F2"
    assert ops.get_operation("listModels").format_path() == "/models"


@pytest.mark.parametrize("bad", ["", None, 5, b"resp"])
def test_format_path_rejects_empty_or_non_str(bad: Any) -> None:
    op = ops.get_operation("getResponse")
    with pytest.raises(LocalProtocolError, match=r"Expected a non-empty value for `response_id`"):
        op.format_path(response_id=bad)


def test_format_path_rejects_missing_and_unexpected() -> None:
    op = ops.get_operation("getResponse")
    with pytest.raises(LocalProtocolError, match="`response_id`"):
        op.format_path()
    with pytest.raises(LocalProtocolError, match="Unexpected path parameter `thread_id`"):
        op.format_path(response_id="r", thread_id="t")


def test_unknown_operation() -> None:
    with pytest.raises(LocalProtocolError, match="Unknown operation 'nope'"):
        ops.get_operation("nope")
    with pytest.raises(LocalProtocolError):
        ops.validate_request("nope", {})


# -- request validation ---------------------------------------------------------------------

CHAT_BODY: dict[str, Any] = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def test_validate_accepts_good_bodies() -> None:
    ops.validate_request("createChatCompletion", CHAT_BODY)
    ops.validate_request(
        "createChatCompletion",
        {
            **CHAT_BODY,
            "temperature": 0,
            "top_p": 1.0,
            "n": 2,
            "max_tokens": 5.0,
            "stop": ["\n"],
            "stream": True,
            "stream_options": {"include_usage": True},
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": "auto",
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
            "logit_bias": None,
            "top_k": 40,  # vLLM extension: unknown keys pass
        },
    )
    ops.validate_request("createChatCompletion", {**CHAT_BODY, "stop": "END", "seed": -1})
    ops.validate_request("createEmbedding", {"model": "m", "input": ["a", "b"], "dimensions": 3})
    ops.validate_request("createEmbedding", {"model": "m", "input": (1, 2)})
    ops.validate_request("createResponse", {"model": "gpt-4o", "input": "hi"})
    ops.validate_request("listModels", {})  # no body rules at all


@pytest.mark.parametrize(
    ("operation_id", "body", "message"),
    [
        ("createChatCompletion", {"model": "gpt-4o"}, "Missing required parameter `messages`"),
        ("createChatCompletion", {"messages": []}, "Missing required parameter `model`"),
        ("createChatCompletion", {**CHAT_BODY, "messages": "hi"}, "`messages` of createChatCompletion must be an array, not str"),
        ("createChatCompletion", {**CHAT_BODY, "temperature": 2.5}, "`temperature` of createChatCompletion must be <= 2"),
        ("createChatCompletion", {**CHAT_BODY, "temperature": "hot"}, "`temperature` of createChatCompletion must be a number or null"),
        ("createChatCompletion", {**CHAT_BODY, "temperature": float("nan")}, "must be a finite number"),
        ("createChatCompletion", {**CHAT_BODY, "n": 0}, "`n` of createChatCompletion must be >= 1, got 0"),
        ("createChatCompletion", {**CHAT_BODY, "n": True}, "`n` of createChatCompletion must be an integer or null, not bool"),
        ("createChatCompletion", {**CHAT_BODY, "max_tokens": 5.5}, "`max_tokens`"),
        ("createChatCompletion", {**CHAT_BODY, "stream": "yes"}, "`stream` of createChatCompletion must be a boolean or null"),
        ("createChatCompletion", {**CHAT_BODY, "stop": 5}, "`stop` of createChatCompletion must be a string or an array or null"),
        ("createChatCompletion", {**CHAT_BODY, "stream_options": [1]}, "`stream_options` of createChatCompletion must be an object or null"),
        ("createChatCompletion", {**CHAT_BODY, "model": object()}, "`model` of createChatCompletion must be a string, not object"),
        ("createChatCompletion", {**CHAT_BODY, "frequency_penalty": -3}, "must be >= -2"),
        ("createCompletion", {"model": "m", "prompt": "p", "temperature": -0.5}, "`temperature` of createCompletion must be >= 0"),
        ("createEmbedding", {"model": "m", "input": "x", "dimensions": 0}, "`dimensions` of createEmbedding must be >= 1"),
        ("createEmbedding", {"model": "m", "input": {"a": 1}}, "`input`"),
    ],
)
def test_validate_rejects(operation_id: str, body: dict[str, Any], message: str) -> None:
    with pytest.raises(LocalProtocolError) as info:
        ops.validate_request(operation_id, body)
    assert message in str(info.value)


def test_validate_rejects_non_mapping_body() -> None:
    with pytest.raises(LocalProtocolError, match="must be a mapping, not list"):
        ops.validate_request("createChatCompletion", [CHAT_BODY])  # type: ignore[arg-type]


def test_validate_exclusive_minimum(monkeypatch: pytest.MonkeyPatch) -> None:
    # No top-level body field of the current spec has one; the rule shape does.
    monkeypatch.setitem(ops._BODY_RULES, "createEmbedding", ((), (("dimensions", 2, None, None, 0),)))
    ops.validate_request("createEmbedding", {"dimensions": 1})
    with pytest.raises(LocalProtocolError, match="must be > 0, got 0"):
        ops.validate_request("createEmbedding", {"dimensions": 0})


def test_input_items_list_dispatches_messages_by_role() -> None:
    from openai_sansio.types.responses import InputMessageResource, ResponseItemList

    page = {
        "object": "list",
        "data": [
            {"id": "msg_1", "type": "message", "role": "user", "status": "completed",
             "content": [{"type": "input_text", "text": "hi"}]},
            {"id": "msg_2", "type": "message", "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": "hello", "annotations": []}]},
            {"id": "fc_1", "type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
            {"id": "msg_3", "type": "message", "role": "narrator", "content": []},
        ],
        "first_id": "msg_1",
        "last_id": "fc_1",
        "has_more": False,
    }
    items = parse_model(ResponseItemList, page).data
    assert [type(i).__name__ for i in items] == [
        "InputMessageResource",
        "OutputMessage",
        "FunctionToolCallResource",
        "InputMessageResource",
    ]
    assert isinstance(items[0], InputMessageResource)
    assert items[0].content[0].text == "hi"  # type: ignore[union-attr]
    assert items[3].to_dict() == page["data"][3]
    assert ops.get_operation("listInputItems").response_parser() == ResponseItemList.from_dict


def test_beta_copies_are_the_plain_classes() -> None:
    from openai_sansio.types import (
        responses,
        responses_beta,
        responses_beta_params,
        responses_params,
    )

    # Beta* schemas identical to the plain ones are the same objects ...
    assert responses_beta.BetaReasoning is responses.Reasoning
    assert responses_beta.BetaTokenCountsResource is responses.TokenCountsResource
    assert responses_beta.parse_beta_tool is responses.parse_tool
    assert responses_beta_params.BetaReasoningParam is responses_params.ReasoningParam
    counts = ops.get_operation("beta_Getinputtokencounts").response_parser()
    assert counts == responses.TokenCountsResource.from_dict
    # ... while those that really differ (output items carry the agent) are not.
    assert responses_beta.BetaResponse is not Response
    payload = {
        "id": "resp_1",
        "object": "response",
        "output": [{"type": "reasoning", "id": "rs_1", "summary": [], "agent": {"name": "a"}}],
        "reasoning": {"effort": "low"},
    }
    beta = parse_model(responses_beta.BetaResponse, payload)
    item = beta.output[0]
    assert isinstance(item, responses_beta.BetaReasoningItem)
    assert item.agent is not None
    assert type(beta.reasoning) is responses.Reasoning
    assert beta.to_dict() == payload


def test_public_lookups_read_the_generated_table() -> None:
    import openai_sansio

    assert openai_sansio.get_operation("createResponse") is ops.OPERATIONS["createResponse"]
    assert openai_sansio.OPERATIONS is ops.OPERATIONS
    with pytest.raises(LocalProtocolError, match="Missing required parameter `model`"):
        openai_sansio.validate_request("createEmbedding", {"input": "x"})


def test_resumed_response_stream_parser() -> None:
    # GET /responses/{id}?stream=true declares only JSON in the spec, yet streams.
    get = ops.get_operation("getResponse")
    assert get.response_parser() == Response.from_dict
    assert get.response_parser(stream=True) is parse_response_stream_event


def test_credentials_are_masked_in_repr() -> None:
    from openai_sansio.types.admin_api_keys import AdminApiKeyCreateResponse
    from openai_sansio.types.chatkit import ChatSessionResource

    key = "sk-admin-SECRETSECRETSECRET"
    created = AdminApiKeyCreateResponse.from_dict(
        {
            "object": "organization.admin_api_key",
            "id": "key_1",
            "name": "ci",
            "redacted_value": "sk-admin...RET",
            "value": key,
            "created_at": 1,
            "owner": {"type": "user", "id": "u"},
        }
    )
    assert created.value == key
    assert key not in repr(created)
    assert "value=<redacted>" in repr(created)
    assert "redacted_value='sk-admin...RET'" in repr(created)
    assert created.to_dict()["value"] == key
    unset = AdminApiKeyCreateResponse.from_dict({"id": "key_2"})
    assert "value=None" in repr(unset)
    assert "client_secret" in ChatSessionResource._secrets


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


_RESPONSE_PATHS = _paths(RESPONSE)


@settings(max_examples=150, deadline=None)
@given(index=st.integers(0, len(_RESPONSE_PATHS) - 1), value=_json)
def test_any_mutated_response_event_parses_or_raises_validation_error(index: int, value: Any) -> None:
    event = {"type": "response.completed", "sequence_number": 1, "response": copy.deepcopy(RESPONSE)}
    target: Any = event["response"]
    path = _RESPONSE_PATHS[index]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    try:
        parsed = parse_model(parse_response_stream_event, event)
    except APIResponseValidationError:
        return
    assert parsed.to_dict() == event
