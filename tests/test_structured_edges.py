"""Edges of structured outputs: the less common type constructs in schemas
and in parsing (Annotated, NewType, Required in a partial TypedDict,
Literal with None, bare containers, sets and mappings, fields left out of
the constructor), what is refused and how it is named, pydantic models
nested in other types, and the parts of completions and responses that
are passed through unparsed."""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import json
import typing
from typing import Annotated, Any, Literal, NewType, TypedDict

import attrs
import pydantic
import pytest
import trio
from typing_extensions import Required

from openai_sansio import (
    FunctionTool,
    LocalProtocolError,
    StructuredOutputError,
    function_tool,
    parse_chat_completion,
    parse_response,
    parse_structured,
    parse_tool_arguments,
    strict_json_schema,
    text_format_from,
)
from openai_sansio.types.chat import ChatCompletion
from openai_sansio.types.responses import Response
from openai_trio import Client, Tool
from openai_trio.testing import FakeServer

STRING = {"type": "string"}
INTEGER = {"type": "integer"}
NULL = {"type": "null"}


def closed(props: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False, **extra}


# -- schema: type constructs -------------------------------------------------------------

UserId = NewType("UserId", int)


@dataclasses.dataclass
class Wrapped:
    user: UserId
    label: Annotated[str, "shown to people"]
    nothing: None
    maybe: Literal["yes", None]
    only_null: Literal[None]
    either: int | str
    mixed: Literal[1, "one"]
    cache: list[str] = dataclasses.field(init=False, default_factory=list)


def test_wrappers_literals_and_unions_in_the_schema() -> None:
    assert strict_json_schema(Wrapped) == closed({
        "user": INTEGER,
        "label": STRING,
        "nothing": NULL,
        "maybe": {"anyOf": [{"type": "string", "enum": ["yes"]}, NULL]},
        "only_null": NULL,
        "either": {"anyOf": [INTEGER, STRING]},
        # Values of two kinds: the enum alone says it, with no one "type".
        "mixed": {"enum": [1, "one"]},
    })


def test_wrappers_literals_and_unions_parse() -> None:
    data = {"user": 7.0, "label": "x", "nothing": None, "maybe": None, "only_null": None, "either": "s",
            "mixed": "one", "cache": ["ignored"]}
    built = parse_structured(Wrapped, data)
    assert built == Wrapped(UserId(7), "x", None, None, None, "s", "one")
    assert type(built.user) is int and built.cache == []
    assert parse_structured(Wrapped, {**data, "maybe": "yes", "either": 3}).either == 3


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ({"nothing": 1}, "$.nothing", "expected null, got an integer"),
        ({"either": 1.5}, "$.either", "a number fits none of the union's types"),
        ({"user": 7.5}, "$.user", "expected an integer, got a number"),
        ({"maybe": "no"}, "$.maybe", "'no' is not one of"),
        ({"mixed": 1.0}, "$.mixed", "is not one of"),
    ],
)
def test_wrapped_mismatches_name_the_path(change: dict[str, Any], path: str, message: str) -> None:
    data = {"user": 7, "label": "x", "nothing": None, "maybe": None, "only_null": None, "either": "s", "mixed": 1}
    with pytest.raises(StructuredOutputError) as info:
        parse_structured(Wrapped, {**data, **change})
    assert info.value.path == path
    assert message in str(info.value)


class Partial(TypedDict, total=False):
    must: Required[str]
    may: int


def test_required_key_in_a_partial_typeddict() -> None:
    assert strict_json_schema(Partial) == closed({"must": STRING, "may": {"anyOf": [INTEGER, NULL]}})
    assert parse_structured(Partial, {"must": "a", "may": None}) == {"must": "a"}
    assert parse_structured(Partial, {"must": "a", "may": 2}) == {"must": "a", "may": 2}
    with pytest.raises(StructuredOutputError) as info:
        parse_structured(Partial, {"may": 2})
    assert info.value.path == "$.must" and "missing" in str(info.value)


@attrs.define
class Counted:
    name: str
    seen: int = attrs.field(init=False, default=0)


def test_attrs_field_outside_the_constructor_is_left_out() -> None:
    assert strict_json_schema(Counted) == closed({"name": STRING})
    built = parse_structured(Counted, {"name": "n", "seen": 5})
    assert built.name == "n" and built.seen == 0


@dataclasses.dataclass
class Forward:
    other: Missing  # type: ignore[name-defined]  # noqa: F821


@attrs.define
class Untyped:
    a = attrs.field()  # type: ignore[var-annotated]


@dataclasses.dataclass
class BareList:
    items: list  # type: ignore[type-arg]


class Shape(enum.Enum):
    POINT = (0, 0)


@dataclasses.dataclass
class WithShape:
    shape: Shape


@pytest.mark.parametrize(
    ("tp", "message"),
    [
        (Forward, "cannot resolve the annotations of Forward"),
        (Untyped, "Untyped.a has no type annotation"),
        (BareList, r"BareList\.items: list cannot .*give the item type"),
        (WithShape, r"WithShape\.shape: enum value \(0, 0\) is not a string"),
    ],
)
def test_unsupported_declarations_are_named(tp: type, message: str) -> None:
    with pytest.raises(LocalProtocolError, match=message):
        strict_json_schema(tp)


# Two different classes that share a name: the second gets a numbered $defs entry.
ItemA = attrs.make_class("Item", {"a": attrs.field(type=int)})
ItemB = attrs.make_class("Item", {"b": attrs.field(type=str)})
Pair = attrs.make_class("Pair", {"first": attrs.field(type=ItemA), "second": attrs.field(type=ItemB)})


def test_same_named_classes_get_distinct_defs() -> None:
    schema = strict_json_schema(Pair)
    assert schema["properties"] == {"first": {"$ref": "#/$defs/Item"}, "second": {"$ref": "#/$defs/Item2"}}
    assert schema["$defs"] == {"Item": closed({"a": INTEGER}), "Item2": closed({"b": STRING})}
    built: Any = parse_structured(Pair, {"first": {"a": 1}, "second": {"b": "x"}})
    assert isinstance(built.first, ItemA) and isinstance(built.second, ItemB)


def test_text_format_from_a_mapping_is_a_copy() -> None:
    raw = {"type": "text"}
    made = text_format_from(raw)
    assert made == raw and made is not raw


# -- parsing: containers and constructors ---------------------------------------------------


def test_any_and_object_take_the_value_as_is() -> None:
    value: Any = {"a": [1, None]}
    assert parse_structured(Any, value) is value
    assert parse_structured(object, json.dumps(value)) == value


def test_sets_tuples_and_mappings_are_built() -> None:
    assert parse_structured(collections.abc.Set[int], [1, 2, 2]) == {1, 2}
    assert parse_structured(collections.abc.MutableSet[str], ["a"]) == {"a"}
    assert parse_structured(frozenset[int], [3]) == frozenset({3})
    assert parse_structured(tuple[int, ...], [1, 2]) == (1, 2)
    assert parse_structured(collections.abc.Sequence[int], [1]) == [1]
    assert parse_structured(list, [1, "a"]) == [1, "a"]
    assert parse_structured(dict[str, int], {"a": 1}) == {"a": 1}
    assert parse_structured(dict, {"a": [1]}) == {"a": [1]}
    with pytest.raises(StructuredOutputError) as info:
        parse_structured(dict[str, int], {"a": 1, "b": "x"})
    assert info.value.path == "$.b"
    with pytest.raises(StructuredOutputError) as info:
        parse_structured(collections.abc.Mapping[str, int], [1])
    assert info.value.path == "$" and "expected an object, got an array" in str(info.value)
    with pytest.raises(StructuredOutputError) as info:
        parse_structured(float, "\"x\"")
    assert "expected a number, got a string" in str(info.value)


def test_a_union_reports_the_deepest_mismatch() -> None:
    # The list branch got furthest, so its inner path is the one reported.
    with pytest.raises(StructuredOutputError) as info:
        parse_structured(list[int] | None, [1, "x"])
    assert info.value.path == "$[1]" and "expected an integer, got a string" in str(info.value)
    with pytest.raises(StructuredOutputError) as info:
        parse_structured(int | None, '"x"')
    assert info.value.path == "$" and "fits none" in str(info.value)


def positive(instance: Any, attribute: Any, value: int) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be positive")


@attrs.define
class Quantity:
    amount: int = attrs.field(validator=positive)


def test_a_constructor_that_refuses_the_value_is_a_typed_error() -> None:
    assert parse_structured(Quantity, {"amount": 2}) == Quantity(2)
    with pytest.raises(StructuredOutputError) as info:
        parse_structured(list[Quantity], [{"amount": 1}, {"amount": 0}])
    assert info.value.path == "$[1]"
    assert "Quantity refused the value: amount must be positive" in str(info.value)


def test_an_unbuildable_type_is_a_typed_error() -> None:
    with pytest.raises(StructuredOutputError, match="cannot build"):
        parse_structured(bytes, "\"x\"")


@attrs.define
class Node:
    child: Node | None


def test_input_nested_deeper_than_the_stack_is_a_typed_error() -> None:
    value: Any = None
    for _ in range(5000):
        value = {"child": value}
    with pytest.raises(StructuredOutputError, match="nested too deeply"):
        parse_structured(Node, value)
    assert parse_structured(Node, {"child": {"child": None}}) == Node(Node(None))


# -- function tools -----------------------------------------------------------------------


@dataclasses.dataclass
class Place:
    city: str


def book(place: Place, nights: int = 1, **extra: Any) -> str:
    """Book a room."""
    return place.city


def test_function_tool_of_a_function_with_nested_types_and_kwargs() -> None:
    tool = function_tool(book)
    params = tool["function"]["parameters"]
    # **extra takes whatever is passed; only the named parameters are listed.
    assert params == closed(
        {"place": {"$ref": "#/$defs/Place"}, "nights": {"anyOf": [INTEGER, NULL]}},
        **{"$defs": {"Place": closed({"city": STRING})}},
    )
    assert tool.parse_arguments('{"place": {"city": "Rome"}, "nights": null, "pets": 2}') == {"place": Place("Rome")}
    with pytest.raises(StructuredOutputError) as info:
        parse_tool_arguments(book, "[1]")
    assert info.value.path == "$" and "expected an object, got an array" in str(info.value)


def test_function_tool_refuses_an_unknown_api() -> None:
    with pytest.raises(LocalProtocolError, match="api must be"):
        function_tool(book, api="assistants")  # type: ignore[arg-type]


def test_a_non_strict_tool_schema_requires_only_parameters_without_defaults() -> None:
    loose = Tool(book, strict=False)
    assert loose.parameters == {
        "type": "object",
        "properties": {"place": {"$ref": "#/$defs/Place"}, "nights": INTEGER},
        "required": ["place"],
        "additionalProperties": False,
        "$defs": {"Place": closed({"city": STRING})},
    }
    assert loose.definition("chat")["function"]["strict"] is False


def test_a_tool_over_a_class_is_refused_with_what_to_write() -> None:
    # Calling the class would only build it; the runner runs functions.
    with pytest.raises(LocalProtocolError, match="def run\\(arguments: Place\\)"):
        Tool(Place)


# -- pydantic ---------------------------------------------------------------------------


class Leaf(pydantic.BaseModel):
    value: int


class Branch(pydantic.BaseModel):
    leaf: Leaf
    note: Annotated[Leaf, pydantic.Field(description="a note")]


@attrs.define
class Garden:
    branch: Branch
    other: Branch


def test_a_pydantic_model_inside_an_attrs_class_brings_its_defs() -> None:
    from openai.lib._pydantic import to_strict_json_schema

    schema = strict_json_schema(Garden)
    assert schema["properties"] == {"branch": {"$ref": "#/$defs/Branch"}, "other": {"$ref": "#/$defs/Branch"}}
    branch = to_strict_json_schema(Branch)
    leaf = branch.pop("$defs")["Leaf"]
    assert schema["$defs"] == {"Leaf": leaf, "Branch": branch}
    # The $ref with a description beside it is inlined, as strict mode wants.
    assert "$ref" not in branch["properties"]["note"] and branch["properties"]["note"]["description"] == "a note"
    built = parse_structured(Garden, {"branch": {"leaf": {"value": 1}, "note": {"value": 2}},
                                      "other": {"leaf": {"value": 3}, "note": {"value": 4}}})
    assert built.other.note.value == 4


# An attrs class named like the pydantic model's nested Leaf, but different.
FakeLeaf = attrs.make_class("Leaf", {"name": attrs.field(type=str)})
Clash = attrs.make_class("Clash", {"first": attrs.field(type=FakeLeaf), "second": attrs.field(type=Branch)})
ClashLater = attrs.make_class("ClashLater", {"first": attrs.field(type=Branch), "second": attrs.field(type=FakeLeaf)})


def test_a_name_clash_with_a_pydantic_def() -> None:
    with pytest.raises(LocalProtocolError, match=r"two different types are named 'Leaf'.*Branch"):
        strict_json_schema(Clash)
    # The other way round the attrs class takes the next free name.
    schema = strict_json_schema(ClashLater)
    assert schema["properties"]["second"] == {"$ref": "#/$defs/Leaf2"}
    assert schema["$defs"]["Leaf2"] == closed({"name": STRING})


class Tuned(pydantic.BaseModel):
    low: int = pydantic.Field(json_schema_extra={"allOf": [{"minimum": 0}]})
    high: int = pydantic.Field(json_schema_extra={"allOf": [{"minimum": 0}, {"maximum": 9}]})


def test_pydantic_schema_extras_are_made_strict_like_the_sdk() -> None:
    from openai.lib._pydantic import to_strict_json_schema

    schema = strict_json_schema(Tuned)
    assert schema == to_strict_json_schema(Tuned)
    # A lone allOf is unwrapped into its parent; two are kept.
    assert schema["properties"]["low"] == {"title": "Low", "type": "integer", "minimum": 0}
    assert schema["properties"]["high"]["allOf"] == [{"minimum": 0}, {"maximum": 9}]


def add_bool_schema(schema: dict[str, Any]) -> None:
    schema["properties"]["flag"] = {"anyOf": [True, {"type": "boolean"}]}


class WithBoolSchema(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(json_schema_extra=add_bool_schema)

    x: int


def test_boolean_subschemas_are_left_as_they_are() -> None:
    # JSON Schema allows true/false as schemas (the official SDK raises on
    # them); they have nothing to close or require.
    schema = strict_json_schema(WithBoolSchema)
    assert schema["properties"]["flag"] == {"anyOf": [True, {"type": "boolean"}]}
    assert schema["required"] == ["x", "flag"]


class RemoteRef(pydantic.BaseModel):
    x: int = pydantic.Field(json_schema_extra={"$ref": "https://example.invalid/schema.json"})


class DanglingRef(pydantic.BaseModel):
    x: int

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        # pydantic itself checks the refs it writes; a model that writes its
        # own schema is the only way to a dangling one.
        return {"type": "object", "properties": {"x": {"$ref": "#/$defs/Nowhere", "description": "d"}}}


def test_refs_that_cannot_be_followed_are_refused() -> None:
    with pytest.raises(LocalProtocolError, match="only local references"):
        strict_json_schema(RemoteRef)
    with pytest.raises(LocalProtocolError, match="does not point at a schema"):
        strict_json_schema(DanglingRef)


# -- whole completions and responses -------------------------------------------------------


def get_weather(city: str) -> str:
    return city


def completion(message: dict[str, Any]) -> ChatCompletion:
    return ChatCompletion.from_dict({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", **message}}],
    })


def test_custom_tool_calls_pass_through_and_tools_are_matched_by_name() -> None:
    calls = [
        {"id": "c1", "type": "custom", "custom": {"name": "grep", "input": "x"}},
        {"id": "c2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}},
    ]
    tools = [{"type": "custom", "custom": {"name": "grep"}}, "not a tool",
             {"type": "function", "function": {"name": "other", "strict": True}}, function_tool(get_weather)]
    done = parse_chat_completion(completion({"content": None, "tool_calls": calls}), tools=tools)
    custom, weather = done.choices[0].message.tool_calls or []
    assert custom.type == "custom" and not hasattr(custom, "function")
    assert weather.function.parsed_arguments == {"city": "Oslo"}


def response(output: list[dict[str, Any]]) -> Response:
    return Response.from_dict({
        "id": "resp_1", "object": "response", "created_at": 1, "model": "gpt-4o", "output": output,
        "tools": [], "tool_choice": "auto", "parallel_tool_calls": True, "status": "completed",
    })


def call(name: str, namespace: str | None = None) -> dict[str, Any]:
    item = {"type": "function_call", "id": f"fc_{name}", "call_id": f"call_{name}", "name": name,
            "arguments": '{"city": "Oslo"}', "status": "completed"}
    if namespace is not None:
        item["namespace"] = namespace
    return item


def strict_fn(name: str) -> dict[str, Any]:
    return {"type": "function", "name": name, "strict": True, "parameters": closed({"city": STRING})}


def test_parse_response_namespaces_refusals_and_other_items() -> None:
    reasoning = {"type": "reasoning", "id": "rs_1", "summary": []}
    message = {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
               "content": [{"type": "refusal", "refusal": "No."}]}
    tools = [
        {"type": "web_search"},
        {"type": "namespace", "name": "other", "tools": [strict_fn("lookup")]},
        {"type": "namespace", "name": "geo", "tools": [strict_fn("skip"), strict_fn("lookup")]},
        strict_fn("top"),
        strict_fn("geo"),
    ]
    done = parse_response(
        response([reasoning, message, call("lookup", "geo"), call("lookup", "nowhere"), call("missing"),
                  call("top"), call("geo", "geo")]),
        text_format=Place, tools=tools,
    )
    kept, refused, in_ns, no_ns, unknown, top, same_name = done.output
    assert kept.type == "reasoning"
    assert refused.content[0].type == "refusal" and done.output_parsed is None
    assert in_ns.parsed_arguments == {"city": "Oslo"}
    assert no_ns.parsed_arguments is None and unknown.parsed_arguments is None
    assert top.parsed_arguments == {"city": "Oslo"}
    # A namespace named like its function: the top-level tool of that name.
    assert same_name.parsed_arguments == {"city": "Oslo"}


# -- through the client -------------------------------------------------------------------

KEY = "sk-test-structured-edges"


def run(test: Any) -> Any:
    async def main() -> Any:
        async with (
            FakeServer() as server,
            Client(api_key=KEY, base_url="http://fake.test/v1", connector=server.connect, max_retries=0) as client,
        ):
            return await test(server, client)

    return trio.run(main)


def test_chat_parse_keeps_a_strict_dict_tool() -> None:
    raw = {"type": "function", "function": {"name": "get_weather", "strict": True,
                                            "parameters": closed({"city": STRING})}}

    async def test(server: FakeServer, client: Client) -> None:
        done = await client.chat.completions.parse(
            model="gpt-4o", messages=[{"role": "user", "content": "Weather?"}], tools=[raw], tool_choice="required"
        )
        assert json.loads(server.requests[-1].body)["tools"] == [raw]
        calls = done.choices[0].message.tool_calls or []
        assert [c.function.parsed_arguments for c in calls] == [{"city": "example"}]

    run(test)


def test_responses_parse_misuse_is_refused_before_any_byte() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        with pytest.raises(LocalProtocolError, match="does not stream"):
            await client.responses.parse(model="gpt-4o", input="x", stream=True)
        with pytest.raises(LocalProtocolError, match="text must be a mapping"):
            await client.responses.parse(model="gpt-4o", input="x", text_format=Place, text="verbose")
        assert server.requests == []

    run(test)


def test_function_tool_is_a_dict_subclass_that_keeps_its_target() -> None:
    tool = function_tool(Place, api="responses")
    assert isinstance(tool, FunctionTool) and isinstance(tool, dict)
    assert tool.name == "Place" and tool.target is Place
    assert tool.for_api("chat").for_api("responses") == tool
    assert typing.get_type_hints(Place) == {"city": str}
