"""tools/generate_models.py: committed output is current, and the rules hold."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from openai_sansio import APIResponseValidationError, LocalProtocolError

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT.parent / "shared" / "openapi" / "openapi.yaml"


def _load_generator() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("_generate_models", ROOT / "tools" / "generate_models.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["_generate_models"] = module
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


# -- the committed output ------------------------------------------------------------


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    if not SPEC.exists():
        pytest.skip("OpenAPI spec not available")
    return gen.generate(gen.load_spec(SPEC))  # type: ignore[no-any-return]


def test_committed_output_is_current(generated: dict[str, str]) -> None:
    stale = []
    for rel, text in generated.items():
        path = ROOT / rel
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(rel)
    assert not stale, f"regenerate with tools/generate_models.py: {stale}"
    committed = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "openai_sansio" / "types").glob("*.py")
        if p.read_text(encoding="utf-8").startswith(gen.HEADER)
    }
    assert committed == {rel for rel in generated if rel.startswith("openai_sansio/types/")}


def test_generated_files_carry_the_header(generated: dict[str, str]) -> None:
    assert all(text.startswith(gen.HEADER) for text in generated.values())
    assert "openai_sansio/_operations.py" in generated
    assert "openai_sansio/types/_base.py" not in generated


def test_no_description_text_is_copied(generated: dict[str, str]) -> None:
    # A few distinctive sentences of the spec's descriptions.
    for phrase in (
        "The contents of the chunk message.",
        "A unique identifier for the chat completion.",
        "The reason the model stopped generating tokens.",
    ):
        assert not any(phrase in text for text in generated.values()), phrase


# -- the rules, on a small spec ----------------------------------------------------------

MINI: dict[str, Any] = {
    "openapi": "3.1.0",
    "paths": {
        "/things/{thing_id}": {
            "get": {
                "operationId": "getThing",
                "tags": ["Things"],
                "parameters": [
                    {"in": "path", "name": "thing_id", "required": True, "schema": {"type": "string"}},
                    {"in": "query", "name": "expand", "schema": {"type": "boolean"}},
                ],
                "responses": {
                    "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}
                },
            },
        },
        "/things?beta=true": {
            "post": {
                "operationId": "beta_createThing",
                "tags": ["Things"],
                "requestBody": {
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreateThing"}}}
                },
                "responses": {
                    "200": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Thing"}},
                            "text/event-stream": {"schema": {"$ref": "#/components/schemas/ThingEvent"}},
                        }
                    }
                },
            }
        },
    },
    "components": {
        "schemas": {
            "Thing": {
                "allOf": [
                    {"$ref": "#/components/schemas/Base"},
                    {
                        "type": "object",
                        "description": "DO NOT COPY THIS DESCRIPTION",
                        "properties": {
                            "from": {"type": "string"},
                            "self-harm": {"type": "boolean"},
                            "kind": {"type": "string", "enum": ["a", "b"]},
                            "parts": {"type": "array", "items": {"$ref": "#/components/schemas/Part"}},
                            "by_name": {
                                "type": "object",
                                "additionalProperties": {"$ref": "#/components/schemas/Leaf"},
                            },
                            "maybe": {"anyOf": [{"$ref": "#/components/schemas/Leaf"}, {"type": "null"}]},
                            "value": {
                                "anyOf": [
                                    {"type": "string"},
                                    {"type": "array", "items": {"$ref": "#/components/schemas/Leaf"}},
                                ]
                            },
                            "shape": {
                                "oneOf": [
                                    {"$ref": "#/components/schemas/Circle"},
                                    {"$ref": "#/components/schemas/Square"},
                                ]
                            },
                        },
                        "required": ["parts", "kind"],
                    },
                ]
            },
            "Base": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
            "Part": {
                "oneOf": [
                    {"$ref": "#/components/schemas/TextPart"},
                    {"$ref": "#/components/schemas/ImagePart"},
                ],
                "discriminator": {"propertyName": "type"},
            },
            "TextPart": {
                "type": "object",
                "properties": {"type": {"type": "string", "enum": ["text"]}, "text": {"type": "string"}},
                "required": ["type", "text"],
            },
            "ImagePart": {
                "type": "object",
                "properties": {"type": {"const": "image"}, "url": {"type": "string"}},
                "required": ["type"],
            },
            "Leaf": {"type": "object", "properties": {"n": {"type": "integer"}}},
            "Circle": {"type": "object", "properties": {"radius": {"type": "number"}}, "required": ["radius"]},
            "Square": {"type": "object", "properties": {"side": {"type": "number"}}, "required": ["side"]},
            "ThingEvent": {
                "anyOf": [
                    {"$ref": "#/components/schemas/ThingCreated"},
                    {"$ref": "#/components/schemas/ThingDone"},
                ]
            },
            "ThingCreated": {
                "type": "object",
                "properties": {"type": {"type": "string", "enum": ["thing.created"]}, "thing": {"$ref": "#/components/schemas/Thing"}},
            },
            "ThingDone": {
                "type": "object",
                "properties": {"type": {"type": "string", "enum": ["thing.done"]}},
            },
            "CreateThing": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "size": {"type": "integer", "minimum": 1, "maximum": 10},
                    "ratio": {"anyOf": [{"type": "number", "minimum": 0, "maximum": 1}, {"type": "null"}]},
                    "parts": {"type": "array", "items": {"$ref": "#/components/schemas/Part"}},
                    "from": {"type": "string"},
                },
                "required": ["name"],
            },
        }
    },
}


@pytest.fixture(scope="module")
def mini() -> dict[str, str]:
    return gen.generate(MINI)  # type: ignore[no-any-return]


def _exec(text: str, name: str, package: str = "openai_sansio.types") -> types.ModuleType:
    """Run a generated module as if it lived in ``package``."""
    module = types.ModuleType(f"{package}._mini_{name}")
    module.__package__ = package
    exec(compile(text, f"<generated {name}>", "exec"), module.__dict__)
    return module


def test_mini_files(mini: dict[str, str]) -> None:
    assert sorted(mini) == [
        "openai_sansio/_operations.py",
        "openai_sansio/api.py",
        "openai_sansio/types/__init__.py",
        "openai_sansio/types/things.py",
        "openai_sansio/types/things_beta.py",
        "openai_sansio/types/things_beta_params.py",
        "openai_trio/_generated/__init__.py",
        "openai_trio/_generated/beta.py",
        "openai_trio/_generated/things.py",
    ]
    assert not any("DO NOT COPY" in text for text in mini.values())


def test_mini_models(mini: dict[str, str]) -> None:
    m = _exec(mini["openai_sansio/types/things.py"], "things")
    assert "Generated from schema `Thing`." in m.Thing.__doc__
    payload = {
        "id": "t1",
        "from": "me",
        "self-harm": False,
        "kind": "c",
        "parts": [{"type": "text", "text": "hi"}, {"type": "image", "url": "u"}, {"type": "video"}],
        "by_name": {"x": {"n": 1}},
        "maybe": None,
        "value": [{"n": 2}],
        "shape": {"side": 3},
        "extra_field": 1,
    }
    t = m.Thing.from_dict(payload)
    assert (t.id, t.from_, t.self_harm, t.kind) == ("t1", "me", False, "c")
    assert [type(p).__name__ for p in t.parts] == ["TextPart", "ImagePart", "UnknownObject"]
    assert t.by_name["x"].n == 1
    assert t.maybe is None
    assert t.value[0].n == 2
    assert type(t.shape).__name__ == "Square"
    assert t.extra == {"extra_field": 1}
    assert t.to_dict() == payload
    t2 = m.Thing.from_dict({"id": "t2", "kind": "a", "parts": [], "value": "plain", "shape": {"radius": 1}, "maybe": {"n": 4}})
    assert t2.value == "plain"
    assert type(t2.shape).__name__ == "Circle"
    assert t2.maybe.n == 4
    assert t2.from_ is None
    built = m.Thing(id="t3", kind="a", parts=[], from_="x", self_harm=True)
    assert built.to_dict() == {"id": "t3", "kind": "a", "parts": [], "from": "x", "self-harm": True}
    with pytest.raises(TypeError):
        m.parse_part("text")
    with pytest.raises(AttributeError):
        m.Thing.from_dict({"parts": [], "by_name": [1]})


def test_mini_unknown_shape_of_undiscriminated_union(mini: dict[str, str]) -> None:
    m = _exec(mini["openai_sansio/types/things.py"], "things")
    t = m.Thing.from_dict({"parts": [], "shape": {"triangle": 1}})
    # Neither required key is present: the last candidate takes it, keeping everything.
    assert t.shape.to_dict() == {"triangle": 1}


def test_mini_stream_events(mini: dict[str, str]) -> None:
    things = _exec(mini["openai_sansio/types/things.py"], "things")
    sys.modules["openai_sansio.types.things"] = things
    try:
        beta = _exec(mini["openai_sansio/types/things_beta.py"], "things_beta")
    finally:
        del sys.modules["openai_sansio.types.things"]
    created = beta.parse_thing_event({"type": "thing.created", "thing": {"parts": []}})
    assert type(created).__name__ == "ThingCreated"
    assert created.thing.parts == []
    assert type(beta.parse_thing_event({"type": "thing.other"})).__name__ == "UnknownObject"


def test_mini_params(mini: dict[str, str]) -> None:
    text = mini["openai_sansio/types/things_beta_params.py"]
    assert "class CreateThingParam(_CreateThingParamRequired, _CreateThingParamOptional):" in text
    assert "PartParam: TypeAlias" in text
    m = _exec(text, "things_beta_params")
    assert m.CreateThingParam.__required_keys__ == {"name"}
    assert m.CreateThingParam.__optional_keys__ == {"size", "ratio", "parts", "from"}
    assert m.TextPartParam.__annotations__


def test_mini_operations(mini: dict[str, str]) -> None:
    m = _exec(mini["openai_sansio/_operations.py"], "ops", "openai_sansio")
    assert sorted(m.OPERATIONS) == ["beta_createThing", "getThing"]
    get = m.OPERATIONS["getThing"]
    assert (get.path_params, get.query_params, get.has_json_body, get.streams) == (("thing_id",), ("expand",), False, False)
    assert get.response_model == "openai_sansio.types.things.Thing"
    assert get.format_path(thing_id="a b") == "/things/a%20b"
    create = m.OPERATIONS["beta_createThing"]
    assert (create.path, create.fixed_query, create.streams) == ("/things", (("beta", "true"),), True)
    assert create.stream_model == "openai_sansio.types.things_beta.parse_thing_event"
    m.validate_request("beta_createThing", {"name": "x", "size": 10, "ratio": None, "parts": []})
    with pytest.raises(LocalProtocolError, match="Missing required parameter `name`"):
        m.validate_request("beta_createThing", {})
    with pytest.raises(LocalProtocolError, match="`size` of beta_createThing must be <= 10"):
        m.validate_request("beta_createThing", {"name": "x", "size": 11})
    with pytest.raises(LocalProtocolError, match="`ratio` of beta_createThing must be >= 0"):
        m.validate_request("beta_createThing", {"name": "x", "ratio": -0.1})
    with pytest.raises(LocalProtocolError, match="`parts` of beta_createThing must be an array, not dict"):
        m.validate_request("beta_createThing", {"name": "x", "parts": {}})


def test_mini_validation_error_wrapping(mini: dict[str, str]) -> None:
    from openai_sansio.types import parse_model

    m = _exec(mini["openai_sansio/types/things.py"], "things")
    with pytest.raises(APIResponseValidationError):
        parse_model(m.Thing, {"parts": 5})


def test_main_writes_and_prunes(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(MINI, sort_keys=False), encoding="utf-8")
    out = tmp_path / "out"
    types_dir = out / "openai_sansio" / "types"
    types_dir.mkdir(parents=True)
    (types_dir / "gone.py").write_text(gen.HEADER + "x = 1\n", encoding="utf-8")
    (types_dir / "_base.py").write_text("# hand-written\n", encoding="utf-8")
    assert gen.main(["--spec", str(spec_file), "--out", str(out)]) == 0
    assert not (types_dir / "gone.py").exists()
    assert (types_dir / "_base.py").read_text(encoding="utf-8") == "# hand-written\n"
    assert (types_dir / "things.py").read_text(encoding="utf-8") == gen.generate(MINI)["openai_sansio/types/things.py"]
    assert (out / "openai_sansio" / "_operations.py").exists()


@pytest.mark.parametrize(
    ("wire", "expected"),
    [("from", "from_"), ("self-harm", "self_harm"), ("2fa", "f_2fa"), ("", "f_"), ("-", "f_"), ("extra", "extra_"), ("to_dict", "to_dict_"), ("str", "str_"), ("_x", "x_")],
)
def test_py_names(wire: str, expected: str) -> None:
    assert gen.py_name(wire, set()) == expected
    assert gen.py_name(wire, {expected}) == expected + "_"


# -- components of the same shape ------------------------------------------------------


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props}


def _op(op_id: str, schema: str) -> dict[str, Any]:
    return {
        "operationId": op_id,
        "tags": ["Things"],
        "responses": {"200": {"content": {"application/json": {"schema": _ref(schema)}}}},
    }


COPIES: dict[str, Any] = {
    "openapi": "3.1.0",
    "paths": {
        "/bundles": {"get": _op("getBundle", "Bundle")},
        "/bundles?beta=true": {"get": _op("beta_getBundle", "BetaBundle")},
        "/leaves?beta=true": {"get": _op("beta_getLeaf", "BetaLeaf")},
    },
    "components": {
        "schemas": {
            "Bundle": _obj(
                leaf=_ref("Leaf"), tree=_ref("Tree"), node=_ref("Node"), shape=_ref("Shape"),
                other=_ref("Other"), color=_ref("ColorA"), tint=_ref("ColorB"),
            ),
            "BetaBundle": _obj(
                leaf=_ref("BetaLeaf"), tree=_ref("BetaTree"), node=_ref("BetaNode"), shape=_ref("BetaShape"),
                other=_ref("Other"), color=_ref("ColorA"), tint=_ref("BetaColorB"),
            ),
            # The same but for documentation: one class.
            "Leaf": {**_obj(n={"type": "integer"}, inner=_obj(k={"type": "string"})), "description": "a"},
            "BetaLeaf": {**_obj(n={"type": "integer", "title": "N"}, inner=_obj(k={"type": "string"})), "description": "b"},
            # Recursive copies are copies too.
            "Tree": _obj(children={"type": "array", "items": _ref("Tree")}),
            "BetaTree": _obj(children={"type": "array", "items": _ref("BetaTree")}),
            # One more field: a class of its own.
            "Node": _obj(n={"type": "integer"}),
            "BetaNode": _obj(n={"type": "integer"}, agent={"type": "string"}),
            "Shape": {"oneOf": [_ref("Circle"), _ref("Square")]},
            "BetaShape": {"oneOf": [_ref("Circle"), _ref("Square")]},
            "Circle": {**_obj(radius={"type": "number"}), "required": ["radius"]},
            "Square": {**_obj(side={"type": "number"}), "required": ["side"]},
            # The shape of Leaf under another name: a model keeps its own class.
            "Other": _obj(n={"type": "integer"}, inner=_obj(k={"type": "string"})),
            # Annotations would name the kept one: look-alikes stay apart.
            "ColorA": {"type": "string", "enum": ["red", "green"]},
            "ColorB": {"type": "string", "enum": ["red", "green"]},
            "BetaColorB": {"type": "string", "enum": ["red", "green"], "description": "copy"},
        }
    },
}


@pytest.fixture(scope="module")
def copies() -> dict[str, types.ModuleType]:
    files = gen.generate(COPIES)
    things = _exec(files["openai_sansio/types/things.py"], "things")
    sys.modules["openai_sansio.types.things"] = things
    try:
        beta = _exec(files["openai_sansio/types/things_beta.py"], "things_beta")
    finally:
        del sys.modules["openai_sansio.types.things"]
    ops = _exec(files["openai_sansio/_operations.py"], "ops", "openai_sansio")
    return {"things": things, "beta": beta, "ops": ops}


def test_beta_copies_become_aliases(copies: dict[str, types.ModuleType]) -> None:
    things, beta = copies["things"], copies["beta"]
    assert beta.BetaLeaf is things.Leaf
    assert beta.BetaLeafInner is things.LeafInner
    assert beta.BetaTree is things.Tree
    assert beta.parse_beta_shape is things.parse_shape
    assert {"BetaLeaf", "BetaLeafInner", "BetaTree", "BetaShape", "parse_beta_shape"} <= set(beta.__all__)
    # A real difference keeps a class, and so does everything that holds it.
    assert beta.BetaNode is not things.Node
    assert beta.BetaBundle is not things.Bundle
    b = beta.BetaBundle.from_dict(
        {"leaf": {"n": 1, "inner": {"k": "x"}}, "tree": {"children": [{"children": []}]},
         "node": {"n": 2, "agent": "a"}, "shape": {"side": 1}}
    )
    assert type(b.leaf) is things.Leaf
    assert b.leaf.inner.k == "x"
    assert type(b.tree.children[0]) is things.Tree
    assert b.node.agent == "a"
    assert type(b.shape).__name__ == "Square"


def test_look_alikes_of_other_names(copies: dict[str, types.ModuleType]) -> None:
    things, beta = copies["things"], copies["beta"]
    # A model answers to its name in reprs, and annotations name their type.
    assert things.Other is not things.Leaf
    assert type(things.Bundle.from_dict({"other": {"n": 1}}).other).__name__ == "Other"
    assert things.ColorB == things.ColorA == 'Literal["red", "green"] | str'
    assert things.Bundle.__annotations__["tint"] == "ColorB | None"
    # A Beta* copy of an enum is an alias of its original.
    assert beta.BetaColorB == "ColorB"
    assert beta.BetaBundle.__annotations__["tint"] == "ColorB | None"


def test_operations_point_at_the_kept_class(copies: dict[str, types.ModuleType]) -> None:
    ops = copies["ops"]
    assert ops.get_operation("beta_getLeaf").response_model == "openai_sansio.types.things.Leaf"
    assert ops.get_operation("beta_getBundle").response_model == "openai_sansio.types.things_beta.BetaBundle"


def test_shape_classes() -> None:
    schemas = {
        "A": {**_obj(x={"type": "string"}, y=_ref("A")), "example": {"x": "1"}},
        "B": _obj(x={"type": "string", "description": "doc"}, y=_ref("B")),
        "C": _obj(y=_ref("C"), x={"type": "string"}),  # property order differs
        "D": _obj(x={"type": "string"}, y=_ref("D"), description={"type": "string"}),
        "E": _obj(x={"type": "string"}, y=_ref("E")),
    }
    same = {n: 0 for n in schemas}
    classes = gen.shape_classes(schemas, same)
    assert classes["A"] == classes["B"] == classes["E"]
    assert len({classes["A"], classes["C"], classes["D"]}) == 3
    # The starting partition is only ever refined.
    split = gen.shape_classes(schemas, {**same, "E": 1})
    assert split["A"] == split["B"] != split["E"]


def test_import_members_sort_like_ruff() -> None:
    names = {"ProgrammaticX", "ProgramOutput", "Item10", "Item2", "item", "ITEMS"}
    assert gen.import_lines("m", names) == [
        "from .m import ITEMS, Item2, Item10, ProgrammaticX, ProgramOutput, item"
    ]


def test_namespace_mixins_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    surface = sys.modules["generate_surface"]
    monkeypatch.setitem(surface.NAMESPACE_MIXINS, "things", (".._things_extras", "ThingsExtras", ("retrieve",)))
    text = gen.generate(MINI)["openai_trio/_generated/things.py"]
    assert "from .._things_extras import ThingsExtras\n" in text
    assert "class Things(ThingsExtras, Namespace):" in text
    runtime = text.split("class Things(ThingsExtras, Namespace):", 1)[1]
    # The hand-written method replaces the generated one; the typed views keep it.
    assert "def retrieve(" not in runtime
    assert text.count("def retrieve(") == 2
    compile(text, "things.py", "exec")
    plain = gen.generate(MINI)
    monkeypatch.undo()
    assert gen.generate(MINI)["openai_trio/_generated/things.py"] != plain["openai_trio/_generated/things.py"]


def test_namespace_takes_several_mixins(monkeypatch: pytest.MonkeyPatch) -> None:
    surface = sys.modules["generate_surface"]
    mixins = [(".._things_parse", "ThingsParse", ()), (".._things_stream", "ThingsStream", ("retrieve",))]
    monkeypatch.setitem(surface.NAMESPACE_MIXINS, "things", mixins)
    text = gen.generate(MINI)["openai_trio/_generated/things.py"]
    assert "from .._things_parse import ThingsParse\n" in text
    assert "from .._things_stream import ThingsStream\n" in text
    assert "class Things(ThingsParse, ThingsStream, Namespace):" in text
    runtime = text.split("class Things(ThingsParse, ThingsStream, Namespace):", 1)[1]
    assert "def retrieve(" not in runtime
    compile(text, "things.py", "exec")


def test_surface_of_mini(mini: dict[str, str]) -> None:
    ops = _exec(mini["openai_sansio/_operations.py"], "operations", "openai_sansio")
    retrieve = ops.OPERATIONS["getThing"]
    assert (retrieve.sdk_path, retrieve.body_kind, retrieve.response_kind, retrieve.page_kind) == (
        "things.retrieve", "none", "json", "none"
    )
    create = ops.OPERATIONS["beta_createThing"]
    assert create.sdk_path == "beta.things.create"
    assert create.body_kind == "json"
    assert create.body_params == ("name", "size", "ratio", "parts", "from")
    builders = mini["openai_sansio/api.py"]
    # ``from`` is a keyword in Python: the parameter is ``from_``, sent as ``from``.
    assert 'from_: str | NotGiven = NOT_GIVEN,' in builders
    assert '"from": from_' in builders
    assert "def beta_things_create(" in builders and "def things_retrieve(" in builders
