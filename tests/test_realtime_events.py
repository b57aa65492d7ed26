"""WebSocket events (Realtime API, Responses WebSocket mode): the generated models,
the tables by ``type`` and the core's decoders.

The spec is read at test time (as tests/test_generator.py does): every event
of its unions is decoded, from an object built from its schema and from the
spec's own example, so a variant the generator drops fails here.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_sansio import APIResponseValidationError, LocalProtocolError, StreamDecodeError
from openai_sansio._realtime_events import (
    UnknownRealtimeEvent,
    decode_realtime_server_event,
    decode_realtime_server_message,
    decode_responses_ws_server_event,
    decode_responses_ws_server_message,
    realtime_server_event_types,
    responses_ws_server_event_types,
    validate_realtime_client_event,
    validate_responses_ws_client_event,
)
from openai_sansio.types import BaseModel

ROOT = Path(__file__).resolve().parent.parent
SPEC_PATH = ROOT.parent / "shared" / "openapi" / "openapi.yaml"


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    if not SPEC_PATH.exists():
        pytest.skip("OpenAPI spec not available")
    import yaml

    with SPEC_PATH.open("rb") as f:
        spec = yaml.load(f, Loader=yaml.CSafeLoader)
    found: dict[str, Any] = spec["components"]["schemas"]
    return found


# -- reading the spec ----------------------------------------------------------------


def deref(schemas: dict[str, Any], schema: Any) -> Any:
    while isinstance(schema, dict) and "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def props_of(schemas: dict[str, Any], schema: Any) -> tuple[dict[str, Any], list[str]]:
    """Properties and required names of an object, allOf parts merged."""
    schema = deref(schemas, schema)
    props: dict[str, Any] = {}
    required: list[str] = []
    for part in schema.get("allOf", ()):
        p, r = props_of(schemas, part)
        props.update(p)
        required += r
    props.update(schema.get("properties", {}))
    required += schema.get("required", [])
    return props, required


def event_type(schemas: dict[str, Any], variant: Any) -> str:
    props, _ = props_of(schemas, variant)
    tag = deref(schemas, props["type"])
    values = [tag["const"]] if "const" in tag else tag["enum"]
    assert len(values) == 1
    return str(values[0])


def variants(schemas: dict[str, Any], union: str) -> list[Any]:
    members: list[Any] = schemas[union]["anyOf"]
    return members


def variant_name(variant: Any) -> str:
    """The class name the generator gives a member: its component, or its title."""
    if "$ref" in variant:
        return str(variant["$ref"].rsplit("/", 1)[1])
    return str(variant["title"])


def minimal(schemas: dict[str, Any], schema: Any, depth: int = 0) -> Any:
    """A small value that the schema accepts: required properties only."""
    schema = deref(schemas, schema)
    if not isinstance(schema, dict):
        return None
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return next(v for v in schema["enum"] if v is not None)
    for key in ("anyOf", "oneOf"):
        if key in schema and "properties" not in schema:
            real = [v for v in schema[key] if deref(schemas, v).get("type") != "null"]
            return minimal(schemas, real[0], depth + 1)
    typ = schema.get("type")
    if isinstance(typ, list):
        typ = next(t for t in typ if t != "null")
    if "allOf" in schema or "properties" in schema or typ == "object":
        if depth > 8:
            return {}
        props, required = props_of(schemas, schema)
        return {k: minimal(schemas, props[k], depth + 1) for k in required if k in props}
    if typ == "array":
        return [] if depth > 8 else [minimal(schemas, schema.get("items", {}), depth + 1)]
    return {"string": "s", "integer": 7, "number": 0.5, "boolean": True}.get(typ or "", "s")


def example_of(schemas: dict[str, Any], variant: Any) -> dict[str, Any] | None:
    """The spec's example of a member, read leniently (a few have trailing commas)."""
    text = (deref(schemas, variant).get("x-oaiMeta") or {}).get("example")
    if not isinstance(text, str):
        return None
    text = re.sub(r",(\s*[}\]])", r"\1", text)
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def as_wire(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.to_dict()
    if isinstance(value, list):
        return [as_wire(v) for v in value]
    return value


def check_fields(event: Any, obj: dict[str, Any], *, undocumented: bool = False) -> None:
    """Every key sent comes back on its field, nested models included; with
    ``undocumented``, keys the schema lacks may come back in ``extra``."""
    renames = {wire: py for py, wire in getattr(type(event), "_renames", {}).items()}
    for wire, value in obj.items():
        py = renames.get(wire, wire)
        if undocumented and not hasattr(event, py):
            assert event.extra[wire] == value
            continue
        assert hasattr(event, py), (type(event).__name__, wire)
        assert as_wire(getattr(event, py)) == value, (type(event).__name__, wire)
    assert event.to_dict() == obj


# -- counts ---------------------------------------------------------------------------


def test_counts_follow_the_spec(schemas: dict[str, Any]) -> None:
    from openai_sansio.types import (
        REALTIME_CLIENT_EVENTS,
        REALTIME_SERVER_EVENTS,
        RESPONSES_WS_CLIENT_EVENTS,
        RESPONSES_WS_SERVER_EVENTS,
    )

    for union, table, count in (
        ("RealtimeClientEvent", REALTIME_CLIENT_EVENTS, 11),
        ("RealtimeServerEvent", REALTIME_SERVER_EVENTS, 46),
        ("ResponsesClientEvent", RESPONSES_WS_CLIENT_EVENTS, None),
        ("ResponsesServerEvent", RESPONSES_WS_SERVER_EVENTS, None),
    ):
        members = variants(schemas, union)
        types = {event_type(schemas, v) for v in members}
        assert len(types) == len(members), union  # one type per member
        assert set(table) == types, union
        if count is not None:
            assert len(members) == count, union
    assert realtime_server_event_types() is REALTIME_SERVER_EVENTS
    assert responses_ws_server_event_types() is RESPONSES_WS_SERVER_EVENTS
    assert "error" in RESPONSES_WS_SERVER_EVENTS


def test_client_tables_list_the_required_keys(schemas: dict[str, Any]) -> None:
    from openai_sansio.types import REALTIME_CLIENT_EVENTS, RESPONSES_WS_CLIENT_EVENTS

    for union, table in (
        ("RealtimeClientEvent", REALTIME_CLIENT_EVENTS),
        ("ResponsesClientEvent", RESPONSES_WS_CLIENT_EVENTS),
    ):
        for v in variants(schemas, union):
            _, required = props_of(schemas, v)
            assert set(table[event_type(schemas, v)]) == set(required)


def test_union_aliases_and_params_are_exported() -> None:
    import openai_sansio.types as types

    for name in (
        "RealtimeServerEvent",
        "RealtimeClientEventParam",
        "RealtimeClientEventSessionUpdateParam",
        "RealtimeServerEventResponseAudioDelta",
        "ResponsesServerEvent",
        "ResponsesClientEventParam",
        "ResponsesClientEventResponseCreateParam",
        "ResponseAudioWsDelta",
        "ResponseWsError",
        "parse_realtime_server_event",
        "parse_responses_server_event",
    ):
        assert getattr(types, name) is not None, name
    assert types.ResponseAudioWsDelta.__module__ == "openai_sansio.types.responses_ws"
    assert types.RealtimeServerEventError.__module__ == "openai_sansio.types.realtime_events"


# -- Realtime server events -------------------------------------------------------------


def test_every_realtime_server_event_decodes(schemas: dict[str, Any]) -> None:
    table = realtime_server_event_types()
    seen = set()
    for v in variants(schemas, "RealtimeServerEvent"):
        kind = event_type(schemas, v)
        obj = minimal(schemas, v)
        assert obj["type"] == kind
        event = decode_realtime_server_event(obj)
        assert type(event) is table[kind]
        assert type(event).__name__ == variant_name(v)
        assert event.type == kind
        check_fields(event, obj)
        seen.add(kind)
    assert len(seen) == 46


def test_spec_examples_decode(schemas: dict[str, Any]) -> None:
    table = realtime_server_event_types()
    decoded = 0
    for v in variants(schemas, "RealtimeServerEvent"):
        obj = example_of(schemas, v)
        if obj is None:
            continue
        # One example spells its type with a stray space; the shape is what counts here.
        obj["type"] = kind = event_type(schemas, v)
        event = decode_realtime_server_message(json.dumps(obj).encode())
        assert type(event) is table[kind]
        # Examples show a few keys the schemas do not describe (yet).
        check_fields(event, obj, undocumented=True)
        decoded += 1
    assert decoded == 46


def test_nested_unions_are_typed() -> None:
    from openai_sansio.types import RealtimeServerEventConversationItemCreated

    event = decode_realtime_server_event(
        {
            "type": "conversation.item.created",
            "event_id": "ev_1",
            "previous_item_id": None,
            "item": {
                "type": "message",
                "role": "user",
                "id": "item_1",
                "content": [{"type": "input_text", "text": "hi"}],
            },
        }
    )
    assert isinstance(event, RealtimeServerEventConversationItemCreated)
    assert type(event.item).__name__ == "RealtimeConversationItemMessageUser"


def test_unknown_type_is_a_typed_unknown() -> None:
    payload = {"type": "session.telepathy", "event_id": "ev_9", "secret_sauce": "sk-do-not-show"}
    event = decode_realtime_server_event(payload)
    assert isinstance(event, UnknownRealtimeEvent)
    assert event.type == "session.telepathy"
    assert event.data == payload
    assert event.event_id == "ev_9"
    assert event.stream_id is None
    assert "sk-do-not-show" not in repr(event)
    assert "secret_sauce" in repr(event)


@pytest.mark.parametrize("payload", [{}, {"type": 5, "x": 1}, {"type": None}])
def test_missing_type_is_unknown(payload: dict[str, Any]) -> None:
    event = decode_realtime_server_event(payload)
    assert isinstance(event, UnknownRealtimeEvent)
    assert event.type is None
    assert event.data == payload


def test_known_type_of_the_wrong_shape_raises() -> None:
    with pytest.raises(APIResponseValidationError) as info:
        decode_realtime_server_event({"type": "conversation.item.created", "item": "sk-secret-x"})
    assert "conversation.item.created" in str(info.value)
    assert "sk-secret-x" not in str(info.value)


@pytest.mark.parametrize("message", [b"[1, 2]", "3", b'"text"', "null"])
def test_message_that_is_not_an_object(message: str | bytes) -> None:
    with pytest.raises(StreamDecodeError):
        decode_realtime_server_message(message)


@pytest.mark.parametrize("message", [b"{not json sk-abc", "", b"\xff\xfe\x00", "[" * 100_000])
def test_message_that_is_not_json(message: str | bytes) -> None:
    with pytest.raises(StreamDecodeError) as info:
        decode_realtime_server_message(message)
    assert "sk-abc" not in str(info.value)
    assert isinstance(info.value.data, str)


def test_message_forms() -> None:
    from openai_sansio.types import RealtimeServerEventInputAudioBufferCleared

    text = '{"type": "input_audio_buffer.cleared", "event_id": "ev_2"}'
    for form in (text, text.encode(), bytearray(text.encode()), memoryview(text.encode())):
        event = decode_realtime_server_message(form)
        assert isinstance(event, RealtimeServerEventInputAudioBufferCleared)
        assert event.event_id == "ev_2"


def test_error_event_is_returned_not_raised() -> None:
    from openai_sansio.types import RealtimeServerEventError

    event = decode_realtime_server_event(
        {
            "type": "error",
            "event_id": "ev_3",
            "error": {"type": "invalid_request_error", "message": "bad", "code": "x", "event_id": "c1"},
        }
    )
    assert isinstance(event, RealtimeServerEventError)
    assert event.error.message == "bad"
    assert event.error.event_id == "c1"


# -- Responses WebSocket server events -----------------------------------------------------


def test_every_responses_ws_server_event_decodes_with_its_lane(schemas: dict[str, Any]) -> None:
    table = responses_ws_server_event_types()
    members = variants(schemas, "ResponsesServerEvent")
    for v in members:
        kind = event_type(schemas, v)
        obj = {**minimal(schemas, v), "stream_id": "agent_1"}
        event = decode_responses_ws_server_event(obj)
        assert type(event) is table[kind]
        assert type(event).__name__ == variant_name(v)
        assert event.stream_id == "agent_1"
        check_fields(event, obj)
    assert len(table) == len(members)


def test_responses_ws_error_event() -> None:
    from openai_sansio.types import ResponseWsError

    event = decode_responses_ws_server_message(
        json.dumps(
            {
                "type": "error",
                "status": 400,
                "stream_id": "agent_1",
                "error": {"type": "invalid_request_error", "code": "limit", "message": "m", "param": "stream_id"},
            }
        )
    )
    assert isinstance(event, ResponseWsError)
    assert event.status == 400
    assert event.stream_id == "agent_1"
    assert event.error.code == "limit"
    assert event.error.param == "stream_id"


def test_responses_ws_events_carry_typed_payloads() -> None:
    from openai_sansio.types import Response, ResponseTextWsDelta, ResponseWsCompleted

    delta = decode_responses_ws_server_event(
        {
            "type": "response.output_text.delta",
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": "Hel",
            "sequence_number": 4,
            "logprobs": [],
        }
    )
    assert isinstance(delta, ResponseTextWsDelta)
    assert delta.delta == "Hel"
    assert delta.stream_id is None
    done = decode_responses_ws_server_event(
        {
            "type": "response.completed",
            "sequence_number": 9,
            "stream_id": "a.b-c_d",
            "response": {"id": "resp_1", "object": "response", "output": [], "status": "completed"},
        }
    )
    assert isinstance(done, ResponseWsCompleted)
    assert isinstance(done.response, Response)
    assert done.response.id == "resp_1"
    assert done.stream_id == "a.b-c_d"


def test_responses_ws_unknown_keeps_its_lane() -> None:
    event = decode_responses_ws_server_event({"type": "response.new_thing", "stream_id": "agent_2"})
    assert isinstance(event, UnknownRealtimeEvent)
    assert event.stream_id == "agent_2"


# -- client events ---------------------------------------------------------------------------


def test_every_realtime_client_event_validates(schemas: dict[str, Any]) -> None:
    for v in variants(schemas, "RealtimeClientEvent"):
        obj = minimal(schemas, v)
        validate_realtime_client_event(obj)
        for key in obj:
            if key != "type":
                with pytest.raises(LocalProtocolError, match=key):
                    validate_realtime_client_event({k: x for k, x in obj.items() if k != key})


def test_client_event_typed_dicts_accept_plain_dicts() -> None:
    from openai_sansio.types import RealtimeClientEventParam, ResponsesClientEventParam

    update: RealtimeClientEventParam = {"type": "session.update", "session": {"type": "realtime"}}
    create: ResponsesClientEventParam = {"type": "response.create", "model": "m", "input": "hi"}
    validate_realtime_client_event(update)
    validate_responses_ws_client_event(create)


@pytest.mark.parametrize("bad", [[("type", "x")], {"event_id": "e"}, {"type": ""}, {"type": 3}])
def test_client_event_misuse(bad: Any) -> None:
    with pytest.raises(LocalProtocolError):
        validate_realtime_client_event(bad)


def test_unknown_client_types_pass() -> None:
    validate_realtime_client_event({"type": "session.something_new"})
    validate_responses_ws_client_event({"type": "response.something_new"})


@pytest.mark.parametrize("stream_id", ["", "a" * 257, "has space", "sk-\n", 5])
def test_responses_ws_client_stream_id(stream_id: Any) -> None:
    with pytest.raises(LocalProtocolError) as info:
        validate_responses_ws_client_event({"type": "response.create", "stream_id": stream_id})
    assert "sk-" not in str(info.value)
    validate_responses_ws_client_event({"type": "response.create", "stream_id": "a" * 256})


def test_responses_ws_client_no_background() -> None:
    with pytest.raises(LocalProtocolError):
        validate_responses_ws_client_event({"type": "response.create", "background": True})
    validate_responses_ws_client_event({"type": "response.create", "background": False})


# -- robustness --------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(sorted(realtime_server_event_types()) + sorted(responses_ws_server_event_types())),
    body=st.dictionaries(st.sampled_from(["item", "response", "session", "error", "delta", "part", "usage",
                                          "content_index", "rate_limits", "stream_id", "x"]), _json, max_size=5),
)
def test_any_payload_decodes_or_fails_typed(kind: str, body: dict[str, Any]) -> None:
    obj = {**body, "type": kind}
    for decode in (decode_realtime_server_event, decode_responses_ws_server_event):
        try:
            event = decode(obj)
        except APIResponseValidationError:
            continue
        assert isinstance(event, (BaseModel, UnknownRealtimeEvent))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64) | st.text(max_size=64))
def test_any_message_decodes_or_fails_typed(message: bytes | str) -> None:
    try:
        event = decode_realtime_server_message(message)
    except (StreamDecodeError, APIResponseValidationError):
        return
    assert isinstance(event, (BaseModel, UnknownRealtimeEvent))


# -- import cost -------------------------------------------------------------------------------

_LAZY_CHECK = """
import sys
import openai_sansio
import openai_sansio._realtime_events as rt
loaded = lambda: sorted(m for m in sys.modules if m.startswith("openai_sansio.types."))
assert loaded() == [], loaded()
rt.decode_realtime_server_event({"type": "input_audio_buffer.cleared"})
assert "openai_sansio.types.realtime_events" in sys.modules
assert "openai_sansio.types.responses_ws" not in sys.modules, loaded()
assert "openai_sansio.types.realtime_events_params" not in sys.modules, loaded()
"""


def test_generated_modules_load_on_first_use() -> None:
    subprocess.run([sys.executable, "-c", _LAZY_CHECK], check=True, timeout=50, cwd=ROOT)
