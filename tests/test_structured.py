"""The structured-outputs core: strict schemas per kind of type (pydantic
compared with the official SDK's to_strict_json_schema), parsing into the
types, function tools, and whole completions/responses with refusals and
the finish-reason errors."""

from __future__ import annotations

import dataclasses
import enum
import json
import subprocess
import sys
from typing import Any, Literal, TypedDict

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typing_extensions import NotRequired

from openai_sansio import (
    ContentFilterFinishReasonError,
    FunctionTool,
    LengthFinishReasonError,
    LocalProtocolError,
    ParsedChatCompletion,
    ParsedResponse,
    StructuredOutputError,
    function_tool,
    parse_chat_completion,
    parse_response,
    parse_structured,
    parse_tool_arguments,
    response_format_from,
    strict_json_schema,
    text_format_from,
)
from openai_sansio.types.chat import ChatCompletion
from openai_sansio.types.responses import Response

STRING = {"type": "string"}
NULL = {"type": "null"}


def closed(props: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False, **extra}


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@attrs.define
class Address:
    """A postal address."""

    city: str
    zip_code: str | None = attrs.field(default=None, metadata={"description": "postal code"})


@dataclasses.dataclass
class Person:
    name: str
    age: int
    height: float
    active: bool
    color: Color
    level: Level
    kind: Literal["human", "robot"]
    address: Address
    nicknames: list[str] = dataclasses.field(default_factory=list)


class Movie(TypedDict):
    title: str
    year: int
    rating: NotRequired[float]


@attrs.define
class Tree:
    label: str
    children: list[Tree]
    parent_label: str | None


@attrs.define
class Forest:
    trees: tuple[Tree, ...]


# -- schemas -------------------------------------------------------------------


def test_dataclass_with_every_scalar_enum_literal_and_nested_attrs() -> None:
    schema = strict_json_schema(Person)
    assert schema == closed(
        {
            "name": STRING,
            "age": {"type": "integer"},
            "height": {"type": "number"},
            "active": {"type": "boolean"},
            "color": {"type": "string", "enum": ["red", "blue"]},
            "level": {"type": "integer", "enum": [1, 2]},
            "kind": {"type": "string", "enum": ["human", "robot"]},
            "address": {"$ref": "#/$defs/Address"},
            # A default makes the field nullable: null asks for the default.
            "nicknames": {"anyOf": [{"type": "array", "items": STRING}, NULL]},
        },
        **{
            "$defs": {
                "Address": closed(
                    {"city": STRING, "zip_code": {"anyOf": [STRING, NULL], "description": "postal code"}},
                    description="A postal address.",
                )
            }
        },
    )


def test_typeddict_not_required_key_is_nullable() -> None:
    assert strict_json_schema(Movie) == closed(
        {"title": STRING, "year": {"type": "integer"}, "rating": {"anyOf": [{"type": "number"}, NULL]}}
    )


def test_recursive_types_use_refs() -> None:
    assert strict_json_schema(Tree) == closed(
        {"label": STRING, "children": {"type": "array", "items": {"$ref": "#"}}, "parent_label": {"anyOf": [STRING, NULL]}}
    )
    forest = strict_json_schema(Forest)
    assert forest["properties"]["trees"] == {"type": "array", "items": {"$ref": "#/$defs/Tree"}}
    assert forest["$defs"]["Tree"]["properties"]["children"]["items"] == {"$ref": "#/$defs/Tree"}


def test_every_object_is_closed_and_fully_required() -> None:
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object":
                assert node["additionalProperties"] is False
                assert node["required"] == list(node["properties"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for tp in (Person, Movie, Tree, Forest, Address):
        walk(strict_json_schema(tp))


@attrs.define
class WithDict:
    scores: dict[str, int]


@attrs.define
class WithAny:
    payload: Any


@dataclasses.dataclass
class WithPair:
    pair: tuple[int, str]


@pytest.mark.parametrize(
    ("tp", "field"), [(WithDict, "WithDict.scores"), (WithAny, "WithAny.payload"), (WithPair, "WithPair.pair")]
)
def test_unsupported_shapes_name_the_field(tp: type, field: str) -> None:
    with pytest.raises(LocalProtocolError, match=field):
        strict_json_schema(tp)


def test_non_object_roots_are_refused_for_formats_and_tools() -> None:
    assert strict_json_schema(list[Color]) == {"type": "array", "items": {"type": "string", "enum": ["red", "blue"]}}
    with pytest.raises(LocalProtocolError, match="not an object type"):
        response_format_from(list[int])
    with pytest.raises(LocalProtocolError, match="not an object type"):
        function_tool(Color)


def test_response_and_text_formats() -> None:
    schema = strict_json_schema(Address)
    assert response_format_from(Address) == {
        "type": "json_schema",
        "json_schema": {"name": "Address", "schema": schema, "strict": True},
    }
    assert text_format_from(Address, name="addr") == {
        "type": "json_schema", "name": "addr", "schema": schema, "strict": True,
    }
    raw = {"type": "json_object"}
    assert response_format_from(raw) == raw
    with pytest.raises(LocalProtocolError, match="name"):
        response_format_from(Address, name="has spaces")


def test_pydantic_matches_the_official_sdk() -> None:
    pydantic = pytest.importorskip("pydantic")
    from openai.lib._pydantic import to_strict_json_schema

    class Step(pydantic.BaseModel):  # type: ignore[misc,name-defined]
        """One step."""

        explanation: str = pydantic.Field(description="why")
        output: str | None = None

    class Maths(pydantic.BaseModel):  # type: ignore[misc,name-defined]
        steps: list[Step]
        final_answer: str
        color: Color = Color.RED

    assert strict_json_schema(Maths) == to_strict_json_schema(Maths)
    assert response_format_from(Maths)["json_schema"]["schema"] == to_strict_json_schema(Maths)
    parsed = parse_structured(Maths, '{"steps": [{"explanation": "e", "output": null}], "final_answer": "4", "color": "blue"}')
    assert isinstance(parsed, Maths) and parsed.steps[0].explanation == "e" and parsed.color is Color.BLUE
    with pytest.raises(StructuredOutputError) as info:
        parse_structured(Maths, {"steps": [{"explanation": 5}], "final_answer": "4"})
    assert info.value.path == "$.steps[0].explanation"

    # Built at run time: a local class's string annotation could not name Step.
    Holder = attrs.make_class("Holder", {"step": attrs.field(type=Step)})
    held = strict_json_schema(Holder)
    assert held["properties"]["step"] == {"$ref": "#/$defs/Step"}
    assert held["$defs"]["Step"] == to_strict_json_schema(Step)
    assert parse_structured(Holder, {"step": {"explanation": "x", "output": None}}).step.explanation == "x"


def test_pydantic_is_never_imported_by_the_core() -> None:
    code = (
        "import dataclasses, sys, openai_sansio\n"
        "@dataclasses.dataclass\nclass A:\n    x: int\n"
        "openai_sansio.strict_json_schema(A); openai_sansio.parse_structured(A, '{\"x\": 1}')\n"
        "print('pydantic' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30)
    assert out.stdout.strip() == "False"


# -- parsing ---------------------------------------------------------------------

PERSON_JSON = {
    "name": "Ada", "age": 36, "height": 1.65, "active": True, "color": "blue", "level": 2,
    "kind": "human", "address": {"city": "London", "zip_code": None}, "nicknames": None,
}


def test_parse_builds_instances_and_uses_defaults_for_null() -> None:
    person = parse_structured(Person, json.dumps(PERSON_JSON))
    assert person == Person("Ada", 36, 1.65, True, Color.BLUE, Level.HIGH, "human", Address("London"), [])
    assert parse_structured(Person, json.dumps(PERSON_JSON).encode()) == person
    assert parse_structured(Movie, {"title": "M", "year": 1999, "rating": None}) == {"title": "M", "year": 1999}
    tree = parse_structured(Tree, {"label": "a", "parent_label": None, "children": [{"label": "b", "parent_label": "a", "children": []}]})
    assert tree.children[0] == Tree("b", [], "a")
    forest = parse_structured(Forest, {"trees": [{"label": "a", "parent_label": None, "children": []}]})
    assert isinstance(forest.trees, tuple)


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"age": "36"}, "$.age"),
        ({"age": True}, "$.age"),
        ({"color": "green"}, "$.color"),
        ({"level": "2"}, "$.level"),
        ({"kind": "cat"}, "$.kind"),
        ({"address": {"zip_code": None}}, "$.address.city"),
        ({"address": []}, "$.address"),
        ({"nicknames": ["a", 1]}, "$.nicknames[1]"),
        ({"name": None}, "$.name"),
    ],
)
def test_mismatch_is_a_typed_error_with_its_path(change: dict[str, Any], path: str) -> None:
    with pytest.raises(StructuredOutputError) as info:
        parse_structured(Person, {**PERSON_JSON, **change})
    assert info.value.path == path
    assert path in str(info.value)


def test_bad_json_is_a_typed_error() -> None:
    for bad in ('{"name": ', "not json", "[" * 100_000):
        with pytest.raises(StructuredOutputError):
            parse_structured(Person, bad)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=20))
def test_any_json_value_parses_or_raises_the_typed_error(value: Any) -> None:
    for tp in (Person, Movie, Tree, Forest):
        try:
            parse_structured(tp, value)
        except StructuredOutputError:
            pass


# -- function tools -----------------------------------------------------------------


def get_weather(city: str, days: int = 1, unit: Literal["c", "f"] | None = None) -> str:
    """The forecast for a city."""
    return city


def test_function_tool_from_a_signature() -> None:
    tool = function_tool(get_weather)
    assert isinstance(tool, FunctionTool) and tool.name == "get_weather"
    assert tool == {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The forecast for a city.",
            "strict": True,
            "parameters": closed({
                "city": STRING,
                "days": {"anyOf": [{"type": "integer"}, NULL]},
                "unit": {"anyOf": [{"type": "string", "enum": ["c", "f"]}, NULL]},
            }),
        },
    }
    assert tool.parse_arguments('{"city": "Oslo", "days": null, "unit": null}') == {"city": "Oslo", "unit": None}
    with pytest.raises(StructuredOutputError, match=r"\$\.city"):
        tool.parse_arguments('{"days": 2, "unit": "c"}')
    responses_tool = tool.for_api("responses")
    assert responses_tool == {"type": "function", **tool["function"]}
    assert responses_tool.for_api("chat") == tool


def test_function_tool_from_a_type() -> None:
    tool = function_tool(Address, name="lookup", api="responses")
    assert tool == {
        "type": "function", "name": "lookup", "description": "A postal address.",
        "parameters": strict_json_schema(Address), "strict": True,
    }
    assert parse_tool_arguments(tool, '{"city": "Rome", "zip_code": "00100"}') == Address("Rome", "00100")
    assert parse_tool_arguments(Address, {"city": "Rome", "zip_code": None}) == Address("Rome")


def test_function_tool_refuses_what_a_call_cannot_fill() -> None:
    def positional(a: int, /) -> None: ...
    def unannotated(a) -> None: ...  # type: ignore[no-untyped-def]

    with pytest.raises(LocalProtocolError, match="keyword"):
        function_tool(positional)
    with pytest.raises(LocalProtocolError, match="annotation"):
        function_tool(unannotated)
    with pytest.raises(LocalProtocolError):
        function_tool(42)


# -- completions and responses ---------------------------------------------------------


def completion(message: dict[str, Any], finish_reason: str = "stop") -> ChatCompletion:
    return ChatCompletion.from_dict({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": finish_reason, "message": {"role": "assistant", **message}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    })


def test_parse_chat_completion_content_and_tool_calls() -> None:
    weather = function_tool(get_weather)
    loose = {"type": "function", "function": {"name": "loose", "parameters": {"type": "object"}}}
    strict_dict = {"type": "function", "function": {"name": "raw", "strict": True, "parameters": closed({})}}
    calls = [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo", "days": 2, "unit": "c"}'}},
        {"id": "c2", "type": "function", "function": {"name": "loose", "arguments": "{}"}},
        {"id": "c3", "type": "function", "function": {"name": "raw", "arguments": '{"a": 1}'}},
        {"id": "c4", "type": "function", "function": {"name": "unknown", "arguments": "{}"}},
    ]
    done = parse_chat_completion(
        completion({"content": json.dumps({"city": "Oslo", "zip_code": None}), "tool_calls": calls}),
        response_format=Address, tools=[weather, loose, strict_dict],
    )
    assert isinstance(done, ParsedChatCompletion) and isinstance(done, ChatCompletion)
    message = done.choices[0].message
    assert message.parsed == Address("Oslo")
    assert message.content is not None and message.tool_calls is not None
    assert [c.function.parsed_arguments for c in message.tool_calls] == [
        {"city": "Oslo", "days": 2, "unit": "c"}, None, {"a": 1}, None,
    ]
    assert done.usage is not None and done.usage.total_tokens == 3
    assert done.to_dict()["id"] == "chatcmpl-1"


def test_refusal_leaves_parsed_none() -> None:
    done = parse_chat_completion(completion({"content": None, "refusal": "No."}), response_format=Address)
    assert done.choices[0].message.parsed is None
    assert done.choices[0].message.refusal == "No."


def test_mapping_format_is_not_parsed() -> None:
    done = parse_chat_completion(completion({"content": "{}"}), response_format={"type": "json_object"})
    assert done.choices[0].message.parsed is None


def test_finish_reason_errors() -> None:
    cut = completion({"content": '{"city": "Os'}, "length")
    with pytest.raises(LengthFinishReasonError) as length:
        parse_chat_completion(cut, response_format=Address)
    assert length.value.completion is cut and "total_tokens=3" in str(length.value)
    filtered = completion({"content": None}, "content_filter")
    with pytest.raises(ContentFilterFinishReasonError) as info:
        parse_chat_completion(filtered, response_format=Address)
    assert info.value.completion is filtered


def test_bad_content_is_a_typed_error() -> None:
    with pytest.raises(StructuredOutputError):
        parse_chat_completion(completion({"content": "Sure! Here it is"}), response_format=Address)
    with pytest.raises(StructuredOutputError):
        bad_args = [{"id": "c", "type": "function", "function": {"name": "get_weather", "arguments": "{"}}]
        parse_chat_completion(completion({"content": None, "tool_calls": bad_args}), tools=[function_tool(get_weather)])


def response(output: list[dict[str, Any]]) -> Response:
    return Response.from_dict({
        "id": "resp_1", "object": "response", "created_at": 1, "model": "gpt-4o", "output": output,
        "tools": [], "tool_choice": "auto", "parallel_tool_calls": True, "status": "completed",
    })


def message_item(text: str, phase: str | None = None) -> dict[str, Any]:
    item = {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]}
    if phase is not None:
        item["phase"] = phase
    return item


def test_parse_response_text_and_function_calls() -> None:
    call = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather",
            "arguments": '{"city": "Oslo", "days": null, "unit": null}', "status": "completed"}
    done = parse_response(
        response([message_item('{"city": "Oslo", "zip_code": "0150"}'), call]),
        text_format=Address, tools=[function_tool(get_weather, api="responses")],
    )
    assert isinstance(done, ParsedResponse) and isinstance(done, Response)
    assert done.output_parsed == Address("Oslo", "0150")
    # null for a defaulted parameter leaves the default; for an Optional one it is None.
    assert done.output[1].parsed_arguments == {"city": "Oslo", "unit": None}
    assert done.output_text == '{"city": "Oslo", "zip_code": "0150"}'


def test_parse_response_skips_commentary_phases() -> None:
    done = parse_response(response([message_item("thinking...", phase="commentary")]), text_format=Address)
    assert done.output_parsed is None
    with pytest.raises(StructuredOutputError):
        parse_response(response([message_item("thinking...")]), text_format=Address)
