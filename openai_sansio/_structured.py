"""Structured outputs: Python types as strict JSON schemas, and the model's
JSON turned back into those types.

``strict_json_schema`` describes attrs classes, dataclasses, TypedDicts,
pydantic models (only when pydantic is already imported by the caller's
code: this module never imports it), enums, ``Literal``, unions with
``None``, lists, tuples of one item type, nested and recursive types, and
``str``/``int``/``float``/``bool``, following the API's strict mode: every
object closed (``additionalProperties: false``), every property listed in
``required``; a field with a default becomes nullable, and ``null`` then
means "use the default".  Shapes strict mode cannot say (a ``dict`` with
arbitrary keys, ``Any``, a tuple of fixed length) raise ``LocalProtocolError``
naming the field.

``parse_structured`` validates decoded JSON (or JSON text) against a type and
builds the object; a mismatch is ``StructuredOutputError`` with the path of
the offending value.  ``function_tool`` makes a strict function tool from a
type or a function's signature; ``parse_tool_arguments`` reads a call's
arguments back.  ``parse_chat_completion`` and ``parse_response`` apply all
of this to a whole completion or response (see ``_parsed`` for the models).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import functools
import inspect
import json
import re
import sys
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import attrs
import typing_extensions

from ._errors import (
    ContentFilterFinishReasonError,
    LengthFinishReasonError,
    LocalProtocolError,
    StructuredOutputError,
)

if TYPE_CHECKING:
    from ._parsed import ParsedChatCompletion, ParsedResponse
    from .types.chat import ChatCompletion
    from .types.responses import Response

__all__ = [
    "FunctionTool",
    "function_tool",
    "parameters_schema",
    "parse_chat_completion",
    "parse_response",
    "parse_structured",
    "parse_tool_arguments",
    "response_format_from",
    "strict_json_schema",
    "text_format_from",
]

T = TypeVar("T")
Api = Literal["chat", "responses"]

_NONE_TYPE = type(None)
_NULL: dict[str, Any] = {"type": "null"}
_PRIMITIVES: dict[Any, str] = {str: "string", bool: "boolean", int: "integer", float: "number"}
_SEQUENCES = frozenset(
    {list, tuple, set, frozenset, collections.abc.Sequence, collections.abc.MutableSequence,
     collections.abc.Set, collections.abc.MutableSet, collections.abc.Collection, collections.abc.Iterable}
)
_MAPPINGS = frozenset({dict, collections.abc.Mapping, collections.abc.MutableMapping})
_NAME_OK = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


# -- what a type is made of ---------------------------------------------------


@attrs.frozen
class _Field:
    key: str  # the JSON property
    arg: str  # the keyword the constructor (or function) takes
    tp: Any
    has_default: bool
    description: str | None


def _pydantic_model(tp: Any) -> Any:
    """pydantic's ``BaseModel`` when ``tp`` is a pydantic model, else None.
    Looked up in ``sys.modules`` so that pydantic is never imported here."""
    pydantic = sys.modules.get("pydantic")
    if pydantic is None or not isinstance(tp, type):
        return None
    base = getattr(pydantic, "BaseModel", None)
    if isinstance(base, type) and issubclass(tp, base):
        return base
    return None


def _is_object_type(tp: Any) -> bool:
    return isinstance(tp, type) and (
        attrs.has(tp)
        or dataclasses.is_dataclass(tp)
        or typing_extensions.is_typeddict(tp)
        or _pydantic_model(tp) is not None
    )


def _hints(owner: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(owner, include_extras=True)
    except Exception as exc:  # NameError for a forward reference, and kin
        raise LocalProtocolError(
            f"cannot resolve the annotations of {_name_of(owner)}: {exc}"
        ) from exc


def _meta_description(metadata: Mapping[Any, Any] | None) -> str | None:
    found = (metadata or {}).get("description")
    return found if isinstance(found, str) else None


@functools.lru_cache(maxsize=512)
def _fields_of(cls: type) -> tuple[_Field, ...]:
    """The fields of an attrs class, dataclass or TypedDict."""
    hints = _hints(cls)
    out: list[_Field] = []
    if attrs.has(cls):
        for f in attrs.fields(cls):
            if not f.init:
                continue
            tp = hints.get(f.name, f.type)
            if tp is None:
                raise LocalProtocolError(f"{cls.__name__}.{f.name} has no type annotation")
            out.append(_Field(f.name, f.alias or f.name, tp, f.default is not attrs.NOTHING,
                              _meta_description(f.metadata)))
    elif dataclasses.is_dataclass(cls):
        for df in dataclasses.fields(cls):
            if not df.init:
                continue
            has_default = (df.default is not dataclasses.MISSING
                           or df.default_factory is not dataclasses.MISSING)
            out.append(_Field(df.name, df.name, hints.get(df.name, df.type), has_default,
                              _meta_description(df.metadata)))
    else:  # TypedDict
        optional: frozenset[str] = getattr(cls, "__optional_keys__", frozenset())
        total = getattr(cls, "__total__", True)
        for key, tp in hints.items():
            # Under string annotations the class's own key sets can miss a
            # NotRequired[...]; the resolved hint still carries it.
            marker = typing.get_origin(tp)
            if marker in _NOT_REQUIRED:
                is_optional = True
            elif marker in _REQUIRED:
                is_optional = False
            else:
                is_optional = key in optional or not total
            out.append(_Field(key, key, tp, is_optional, None))
    return tuple(out)


@functools.lru_cache(maxsize=512)
def _parameters_of(function: Callable[..., Any]) -> tuple[_Field, ...]:
    """A function's keyword-callable parameters as fields."""
    hints = _hints(function)
    out: list[_Field] = []
    for p in inspect.signature(function).parameters.values():
        if p.kind is p.VAR_KEYWORD:
            continue  # takes whatever is passed; the schema lists the named ones
        if p.kind in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY):
            raise LocalProtocolError(
                f"{_name_of(function)}: parameter {p.name!r} cannot be passed by keyword, "
                "so a tool call cannot fill it"
            )
        if p.name not in hints:
            raise LocalProtocolError(f"{_name_of(function)}: parameter {p.name!r} has no type annotation")
        out.append(_Field(p.name, p.name, hints[p.name], p.default is not p.empty, None))
    return tuple(out)


_NOT_REQUIRED = frozenset(
    x for x in (typing_extensions.NotRequired, getattr(typing, "NotRequired", None)) if x is not None
)
_REQUIRED = frozenset(
    x for x in (typing_extensions.Required, getattr(typing, "Required", None)) if x is not None
)


def _unwrap(tp: Any) -> Any:
    """``tp`` without ``Annotated``, ``Required``/``NotRequired``/``ReadOnly``
    and ``NewType`` wrappers."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = tp.__origin__
        elif origin in (typing_extensions.Required, typing_extensions.NotRequired,
                        getattr(typing, "Required", None), getattr(typing, "NotRequired", None),
                        getattr(typing_extensions, "ReadOnly", None)):
            tp = typing.get_args(tp)[0]
        elif isinstance(tp, typing.NewType):
            tp = tp.__supertype__
        else:
            return tp


def _is_union(origin: Any) -> bool:
    return origin is typing.Union or origin is types.UnionType


def _accepts_none(tp: Any) -> bool:
    tp = _unwrap(tp)
    if tp is None or tp is _NONE_TYPE or tp is typing.Any:
        return True
    origin = typing.get_origin(tp)
    if _is_union(origin):
        return any(_accepts_none(a) for a in typing.get_args(tp))
    if origin is typing.Literal:
        return None in typing.get_args(tp)
    return False


def _name_of(tp: Any) -> str:
    name = getattr(tp, "__qualname__", None) or getattr(tp, "__name__", None)
    return name if isinstance(name, str) else repr(tp)


def _doc_of(cls: type) -> str | None:
    doc = cls.__dict__.get("__doc__")
    if not isinstance(doc, str) or not doc.strip():
        return None
    if dataclasses.is_dataclass(cls) and doc.startswith(f"{cls.__name__}("):
        return None  # the signature dataclasses writes when there is no docstring
    return inspect.cleandoc(doc)


# -- schema -------------------------------------------------------------------


class _SchemaBuilder:
    def __init__(self, root: Any) -> None:
        self.root = root
        self.defs: dict[str, dict[str, Any]] = {}
        self.def_names: dict[Any, str] = {}

    def build(self, where: str) -> dict[str, Any]:
        root = self.root
        if _pydantic_model(root) is not None:
            return _pydantic_strict_schema(root)
        if _is_object_type(root) and not isinstance(root, enum.EnumMeta):
            schema = self.object_schema(root, _fields_of(root), _doc_of(root))
        else:
            schema = self.schema(root, where)
        if self.defs:
            schema["$defs"] = self.defs
        return schema

    def schema(self, tp: Any, where: str) -> dict[str, Any]:
        tp = _unwrap(tp)
        if tp is None or tp is _NONE_TYPE:
            return dict(_NULL)
        if tp in _PRIMITIVES:
            return {"type": _PRIMITIVES[tp]}
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return _enum_schema([m.value for m in tp], where)
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is typing.Literal:
            values = [a.value if isinstance(a, enum.Enum) else a for a in args]
            if None in values:
                rest = [v for v in values if v is not None]
                return {"anyOf": [_enum_schema(rest, where), dict(_NULL)]} if rest else dict(_NULL)
            return _enum_schema(values, where)
        if _is_union(origin):
            branches = [a for a in args if a is not _NONE_TYPE]
            out = [self.schema(a, where) for a in branches]
            if len(branches) < len(args):
                out.append(dict(_NULL))
            return out[0] if len(out) == 1 else {"anyOf": out}
        if origin in _SEQUENCES or tp in _SEQUENCES:
            if origin is tuple:
                if len(args) == 2 and args[1] is Ellipsis:
                    return {"type": "array", "items": self.schema(args[0], f"{where}[]")}
                raise _unsupported(where, tp, "a tuple of fixed length has no strict-mode schema; "
                                   "use tuple[X, ...] or a class with named fields")
            if len(args) != 1:
                raise _unsupported(where, tp, "give the item type, e.g. list[str]")
            return {"type": "array", "items": self.schema(args[0], f"{where}[]")}
        if origin in _MAPPINGS or tp in _MAPPINGS:
            raise _unsupported(where, tp, "strict mode allows no objects with arbitrary keys; "
                               "use a class with named fields, or a list of key/value objects")
        if _is_object_type(tp):
            return self.ref(tp)
        raise _unsupported(where, tp, "supported: attrs classes, dataclasses, TypedDicts, pydantic "
                           "models, enums, Literal, unions, lists, str, int, float, bool, None")

    def ref(self, tp: type) -> dict[str, Any]:
        if tp is self.root:
            return {"$ref": "#"}
        name = self.def_names.get(tp)
        if name is None:
            if _pydantic_model(tp) is not None:
                return self.pydantic_ref(tp)
            name = self.def_name(tp.__name__)
            # Named before it is built, so a type that contains itself finds its $ref.
            self.def_names[tp] = name
            self.defs[name] = {}
            self.defs[name] = self.object_schema(tp, _fields_of(tp), _doc_of(tp))
        return {"$ref": f"#/$defs/{name}"}

    def def_name(self, base: str) -> str:
        name, n = base, 1
        while name in self.defs:
            n += 1
            name = f"{base}{n}"
        return name

    def pydantic_ref(self, tp: type) -> dict[str, Any]:
        # pydantic writes the model's schema with its own $defs; they join
        # ours, under their names (a clash of different schemas is refused).
        schema = _pydantic_strict_schema(tp)
        for name, sub in schema.pop("$defs", {}).items():
            self.merge_def(name, sub, tp)
        name = tp.__name__
        self.merge_def(name, schema, tp)
        self.def_names[tp] = name
        return {"$ref": f"#/$defs/{name}"}

    def merge_def(self, name: str, schema: dict[str, Any], tp: type) -> None:
        existing = self.defs.get(name)
        if existing is not None and existing != schema:
            raise LocalProtocolError(
                f"two different types are named {name!r} in the schema of {_name_of(self.root)} "
                f"(one from the pydantic model {_name_of(tp)}); rename one"
            )
        self.defs[name] = schema

    def object_schema(self, owner: Any, fields: tuple[_Field, ...], doc: str | None) -> dict[str, Any]:
        props: dict[str, Any] = {}
        owner_name = _name_of(owner)
        for f in fields:
            sub = self.schema(f.tp, f"{owner_name}.{f.key}")
            if f.has_default and not _accepts_none(f.tp):
                sub = {"anyOf": [sub, dict(_NULL)]}
            if f.description and "$ref" not in sub:
                sub["description"] = f.description
            props[f.key] = sub
        schema: dict[str, Any] = {
            "type": "object",
            "properties": props,
            "required": list(props),
            "additionalProperties": False,
        }
        if doc:
            schema["description"] = doc
        return schema


def _enum_schema(values: list[Any], where: str) -> dict[str, Any]:
    kinds = set()
    for v in values:
        kind = _PRIMITIVES.get(type(v))
        if kind is None:
            raise LocalProtocolError(f"{where}: enum value {v!r} is not a string, number or boolean")
        kinds.add(kind)
    schema: dict[str, Any] = {"enum": list(values)}
    if len(kinds) == 1:
        schema = {"type": kinds.pop(), **schema}
    return schema


def _unsupported(where: str, tp: Any, hint: str) -> LocalProtocolError:
    shown = tp.__name__ if isinstance(tp, type) else repr(tp).replace("typing.", "")
    return LocalProtocolError(f"{where}: {shown} cannot be a structured output field ({hint})")


def _pydantic_strict_schema(model: type) -> dict[str, Any]:
    schema: dict[str, Any] = model.model_json_schema()  # type: ignore[attr-defined]
    _make_strict(schema, schema)
    return schema


def _make_strict(node: Any, root: dict[str, Any]) -> Any:
    """A JSON schema (pydantic's) brought to strict mode in place, as the
    official SDK does it: objects closed, every property required, a lone
    ``allOf`` unwrapped, ``default: null`` dropped, and a ``$ref`` that has
    sibling keys inlined (strict mode allows no siblings next to ``$ref``)."""
    if not isinstance(node, dict):
        return node
    for key in ("$defs", "definitions"):
        defs = node.get(key)
        if isinstance(defs, dict):
            for sub in defs.values():
                _make_strict(sub, root)
    if node.get("type") == "object" and "additionalProperties" not in node:
        node["additionalProperties"] = False
    props = node.get("properties")
    if isinstance(props, dict):
        node["required"] = list(props)
        node["properties"] = {k: _make_strict(v, root) for k, v in props.items()}
    if isinstance(node.get("items"), dict):
        node["items"] = _make_strict(node["items"], root)
    if isinstance(node.get("anyOf"), list):
        node["anyOf"] = [_make_strict(v, root) for v in node["anyOf"]]
    all_of = node.get("allOf")
    if isinstance(all_of, list):
        if len(all_of) == 1:
            node.update(_make_strict(all_of[0], root))
            node.pop("allOf")
        else:
            node["allOf"] = [_make_strict(v, root) for v in all_of]
    if "default" in node and node["default"] is None:
        del node["default"]
    ref = node.get("$ref")
    if isinstance(ref, str) and len(node) > 1:
        target = _resolve_ref(root, ref)
        node.update({**target, **node})
        del node["$ref"]
        return _make_strict(node, root)
    return node


def _resolve_ref(root: dict[str, Any], ref: str) -> dict[str, Any]:
    if not ref.startswith("#/"):
        raise LocalProtocolError(f"cannot follow $ref {ref!r}: only local references are supported")
    found: Any = root
    for part in ref[2:].split("/"):
        found = found.get(part) if isinstance(found, dict) else None
    if not isinstance(found, dict):
        raise LocalProtocolError(f"$ref {ref!r} does not point at a schema")
    return found


def strict_json_schema(tp: Any) -> dict[str, Any]:
    """The strict-mode JSON schema of ``tp`` (a new dict each call).

    Named object types other than ``tp`` itself go into ``$defs`` and are
    referenced with ``$ref`` (``tp`` referring to itself is ``{"$ref": "#"}``).
    Pydantic models get pydantic's own schema made strict, as the official
    SDK's ``to_strict_json_schema`` does.
    """
    return _SchemaBuilder(tp).build(_name_of(tp))


def parameters_schema(function: Callable[..., Any], *, strict: bool = True) -> dict[str, Any]:
    """The JSON schema of ``function``'s keyword parameters, for a function
    tool.  Strict: every parameter required, those with a default nullable
    (``null`` leaves the default).  Not strict: only the parameters without
    a default are required, and none is made nullable."""
    if isinstance(function, type):
        return _root_object_schema(function, "parameters")
    fields = _parameters_of(function)
    builder = _SchemaBuilder(None)
    if strict:
        schema = builder.object_schema(function, fields, None)
    else:
        props = {f.key: builder.schema(f.tp, f"{_name_of(function)}.{f.key}") for f in fields}
        schema = {"type": "object", "properties": props,
                  "required": [f.key for f in fields if not f.has_default],
                  "additionalProperties": False}
    if builder.defs:
        schema["$defs"] = builder.defs
    return schema


def _root_object_schema(tp: Any, what: str) -> dict[str, Any]:
    if not _is_object_type(tp):
        raise LocalProtocolError(
            f"{what}: {_name_of(tp)} is not an object type; the root of a structured output or of a "
            "tool's parameters must be an attrs class, dataclass, TypedDict or pydantic model"
        )
    return strict_json_schema(tp)


def _format_name(tp: Any, name: str | None) -> str:
    name = tp.__name__ if name is None else name
    if not _NAME_OK.match(name):
        raise LocalProtocolError(f"name {name!r} must be 1-64 letters, digits, underscores or dashes")
    return name


def response_format_from(tp: Any, *, name: str | None = None) -> dict[str, Any]:
    """The chat ``response_format`` asking for ``tp`` as a strict JSON schema.
    A mapping is taken to be a ``response_format`` already and returned as is."""
    if isinstance(tp, Mapping):
        return dict(tp)
    return {
        "type": "json_schema",
        "json_schema": {
            "name": _format_name(tp, name),
            "schema": _root_object_schema(tp, "response_format"),
            "strict": True,
        },
    }


def text_format_from(tp: Any, *, name: str | None = None) -> dict[str, Any]:
    """The Responses ``text.format`` asking for ``tp`` (flat, unlike chat's)."""
    if isinstance(tp, Mapping):
        return dict(tp)
    return {
        "type": "json_schema",
        "name": _format_name(tp, name),
        "schema": _root_object_schema(tp, "text_format"),
        "strict": True,
    }


# -- parsing ------------------------------------------------------------------


class _Mismatch(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {str: "a string", bool: "a boolean", int: "an integer", float: "a number",
            list: "an array", dict: "an object"}.get(type(value), type(value).__name__)


def _convert(tp: Any, value: Any, path: str) -> Any:
    tp = _unwrap(tp)
    if tp is typing.Any or tp is object:
        return value
    if tp is None or tp is _NONE_TYPE:
        if value is not None:
            raise _Mismatch(path, f"expected null, got {_kind(value)}")
        return None
    if tp is str or tp is bool:
        if type(value) is not tp:
            raise _Mismatch(path, f"expected {_kind(tp())}, got {_kind(value)}")
        return value
    if tp is int:
        if type(value) is int:
            return value
        if type(value) is float and value.is_integer():
            return int(value)
        raise _Mismatch(path, f"expected an integer, got {_kind(value)}")
    if tp is float:
        if type(value) in (int, float):
            return float(value)
        raise _Mismatch(path, f"expected a number, got {_kind(value)}")
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        for member in tp:
            if member.value == value and type(member.value) is type(value):
                return member
        raise _Mismatch(path, f"{value!r} is not one of {[m.value for m in tp]!r}")
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Literal:
        for option in args:
            wire = option.value if isinstance(option, enum.Enum) else option
            if wire == value and type(wire) is type(value):
                return option
        raise _Mismatch(path, f"{value!r} is not one of {list(args)!r}")
    if _is_union(origin):
        if value is None and _NONE_TYPE in args:
            return None
        problems = []
        for branch in args:
            if branch is _NONE_TYPE:
                continue
            try:
                return _convert(branch, value, path)
            except _Mismatch as exc:
                problems.append(exc)
        deepest = max(problems, key=lambda p: len(p.path))
        if deepest.path != path:
            raise deepest
        raise _Mismatch(path, f"{_kind(value)} fits none of the union's types")
    if origin in _SEQUENCES or tp in _SEQUENCES:
        if not isinstance(value, list):
            raise _Mismatch(path, f"expected an array, got {_kind(value)}")
        item = args[0] if args else typing.Any
        items = [_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
        container = origin or tp
        if container in (tuple, set, frozenset):
            return container(items)
        if container in (collections.abc.Set, collections.abc.MutableSet):
            return set(items)
        return items
    if origin in _MAPPINGS or tp in _MAPPINGS:
        if not isinstance(value, dict):
            raise _Mismatch(path, f"expected an object, got {_kind(value)}")
        kt, vt = args if len(args) == 2 else (typing.Any, typing.Any)
        return {_convert(kt, k, path): _convert(vt, v, f"{path}.{k}") for k, v in value.items()}
    if _pydantic_model(tp) is not None:
        return _convert_pydantic(tp, value, path)
    if _is_object_type(tp):
        if not isinstance(value, dict):
            raise _Mismatch(path, f"expected an object for {tp.__name__}, got {_kind(value)}")
        kwargs = _convert_fields(_fields_of(tp), value, path)
        if typing_extensions.is_typeddict(tp):
            return kwargs
        try:
            return tp(**kwargs)
        except (TypeError, ValueError) as exc:
            raise _Mismatch(path, f"{tp.__name__} refused the value: {exc}") from exc
    raise _Mismatch(path, f"cannot build {_name_of(tp)}")


def _convert_fields(fields: tuple[_Field, ...], value: dict[str, Any], path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields:
        where = f"{path}.{f.key}"
        if f.key not in value:
            if f.has_default:
                continue
            raise _Mismatch(where, "missing")
        raw = value[f.key]
        if raw is None and f.has_default and not _accepts_none(f.tp):
            continue  # null stands for "the default"
        out[f.arg] = _convert(f.tp, raw, where)
    return out


def _convert_pydantic(tp: Any, value: Any, path: str) -> Any:
    pydantic = sys.modules["pydantic"]
    try:
        return tp.model_validate(value)
    except pydantic.ValidationError as exc:
        errors = exc.errors()
        loc = errors[0].get("loc", ()) if errors else ()
        where = path + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
        raise _Mismatch(where, f"{tp.__name__}: {errors[0].get('msg') if errors else exc}") from exc


def _decode(data: Any) -> Any:
    if isinstance(data, (bytes, bytearray, memoryview)):
        data = bytes(data).decode("utf-8", errors="replace")
    if isinstance(data, str):
        try:
            return json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise StructuredOutputError(f"not valid JSON: {exc}", body=data) from None
    return data


def _build(convert: Callable[[], T], data: Any, what: str) -> T:
    try:
        return convert()
    except _Mismatch as exc:
        raise StructuredOutputError(
            f"{what} does not fit: {exc.path}: {exc.message}", path=exc.path, body=data
        ) from exc.__cause__
    except RecursionError:
        raise StructuredOutputError(f"{what} is nested too deeply", body=data) from None


@overload
def parse_structured(tp: type[T], data: Any) -> T: ...
@overload
def parse_structured(tp: Any, data: Any) -> Any: ...
def parse_structured(tp: Any, data: Any) -> Any:
    """``data`` (decoded JSON, or JSON text as ``str``/``bytes``) validated
    against ``tp`` and built into it: class instances, enum members, lists
    and tuples.  A property missing or ``null`` where the field has a
    default gets the default; unknown properties are ignored.  Raises
    ``StructuredOutputError`` when it does not fit."""
    value = _decode(data)
    return _build(lambda: _convert(tp, value, "$"), data, _name_of(tp))


# -- function tools -----------------------------------------------------------


class FunctionTool(dict[str, Any]):
    """A strict function tool definition: the dict sent in ``tools``, which
    also remembers what its arguments parse into (``target``: a type, or a
    function whose keyword arguments they are).  ``api`` is the shape:
    chat's (``{"type": "function", "function": {...}}``) or the Responses
    API's (flat)."""

    __slots__ = ("api", "target")

    def __init__(self, definition: Mapping[str, Any], *, target: Any, api: Api) -> None:
        super().__init__(definition)
        self.target = target
        self.api: Api = api

    @property
    def name(self) -> str:
        fields = self["function"] if self.api == "chat" else self
        return str(fields["name"])

    def for_api(self, api: Api) -> FunctionTool:
        """This tool in the shape ``api`` takes (itself when it already is)."""
        if api == self.api:
            return self
        if api == "responses":
            return FunctionTool({"type": "function", **self["function"]}, target=self.target, api=api)
        fields = {k: v for k, v in self.items() if k != "type"}
        return FunctionTool({"type": "function", "function": fields}, target=self.target, api=api)

    def parse_arguments(self, arguments: str | Mapping[str, Any]) -> Any:
        """The call's arguments as ``target`` (see ``parse_tool_arguments``)."""
        return parse_tool_arguments(self.target, arguments)


def function_tool(
    target: Any,
    *,
    name: str | None = None,
    description: str | None = None,
    api: Api = "chat",
) -> FunctionTool:
    """A strict function tool whose parameters are ``target``: an object type
    (attrs class, dataclass, TypedDict, pydantic model; named after the
    class, described by its docstring) or a function (its keyword
    parameters; named after it, described by its docstring).  ``api`` picks
    chat's shape or the Responses API's."""
    if api not in ("chat", "responses"):
        raise LocalProtocolError(f"api must be 'chat' or 'responses', not {api!r}")
    if isinstance(target, type):
        parameters = _root_object_schema(target, "function_tool")
        doc = _doc_of(target) if description is None else description
    elif callable(target):
        parameters = parameters_schema(target)
        doc = inspect.getdoc(target) if description is None else description
    else:
        raise LocalProtocolError(f"function_tool takes a type or a function, not {type(target).__name__}")
    fields: dict[str, Any] = {"name": _format_name(target, name), "parameters": parameters, "strict": True}
    if doc:
        fields["description"] = doc
    definition = {"type": "function", "function": fields} if api == "chat" else {"type": "function", **fields}
    return FunctionTool(definition, target=target, api=api)


def parse_tool_arguments(target: Any, arguments: str | Mapping[str, Any]) -> Any:
    """A tool call's ``arguments`` (the JSON text, or decoded) built into
    ``target``: an instance of a type, or for a function the dict of its
    keyword arguments (a ``null`` for a parameter with a default leaves it
    out, so the default applies).  ``StructuredOutputError`` when they do
    not fit."""
    if isinstance(target, FunctionTool):
        target = target.target
    value = _decode(arguments)
    if isinstance(target, type):
        return _build(lambda: _convert(target, value, "$"), arguments, f"arguments of {_name_of(target)}")

    def convert() -> Any:
        if not isinstance(value, dict):
            raise _Mismatch("$", f"expected an object, got {_kind(value)}")
        return _convert_fields(_parameters_of(target), value, "$")

    return _build(convert, arguments, f"arguments of {_name_of(target)}")


# -- whole completions and responses ------------------------------------------


def check_parse_tools(tools: Iterable[Any] | None, api: Api) -> list[Any]:
    """The request's ``tools`` for a ``parse`` call, as the official SDK
    checks them: function tools only, each strict (else ``LocalProtocolError``
    before anything is sent).  ``FunctionTool`` s come back in ``api``'s shape."""
    out: list[Any] = []
    for tool in tools or ():
        if isinstance(tool, FunctionTool):
            out.append(tool.for_api(api))
            continue
        if not isinstance(tool, Mapping) or tool.get("type") != "function":
            kind = tool.get("type") if isinstance(tool, Mapping) else type(tool).__name__
            raise LocalProtocolError(f"only function tools can be parsed; got a {kind!r} tool")
        fields = tool.get("function") if api == "chat" else tool
        if not isinstance(fields, Mapping) or fields.get("strict") is not True:
            tool_name = fields.get("name") if isinstance(fields, Mapping) else None
            raise LocalProtocolError(
                f"tool {tool_name!r} is not strict; only strict function tools can be parsed "
                "(see function_tool)"
            )
        out.append(tool)
    return out


def _chat_tool(tools: Iterable[Any], name: str) -> Any:
    for tool in tools:
        if isinstance(tool, Mapping) and tool.get("type") == "function":
            fields = tool.get("function")
            if isinstance(fields, Mapping) and fields.get("name") == name:
                return tool
    return None


def _tool_arguments(tool: Any, fields: Mapping[str, Any] | None, arguments: Any) -> Any:
    if tool is None:
        return None
    if isinstance(tool, FunctionTool):
        return tool.parse_arguments(arguments)
    if fields is None or fields.get("strict") is not True:
        return None
    value = _decode(arguments)
    return value


def _derive(cls: type[T], obj: Any, **changes: Any) -> T:
    # A generated model copied into its parsed subclass, field by field.
    kwargs = {f.alias: getattr(obj, f.name) for f in attrs.fields(type(obj)) if f.init}
    kwargs.update(changes)
    made = cls(**kwargs)
    object.__setattr__(made, "_request_id", getattr(obj, "_request_id", None))
    return made


def parse_chat_completion(
    completion: ChatCompletion,
    *,
    response_format: Any = None,
    tools: Iterable[Any] | None = None,
    finish_reason_errors: bool = True,
) -> ParsedChatCompletion[Any]:
    """``completion`` with each message's ``parsed`` (when
    ``response_format`` is a type, the message has content and no refusal)
    and each function call's ``parsed_arguments`` (for a ``FunctionTool``
    an instance of its target, for another strict tool the decoded JSON,
    else None).  A choice that stopped at the token limit or at the content
    filter raises ``LengthFinishReasonError`` / ``ContentFilterFinishReasonError``
    unless ``finish_reason_errors`` is false (a stream that asked for
    nothing to be parsed may end that way without it being an error)."""
    from ._parsed import (
        ParsedChatCompletion,
        ParsedChatCompletionMessage,
        ParsedChoice,
        ParsedFunction,
        ParsedFunctionToolCall,
    )
    from .types.chat import ChatCompletionMessageToolCall

    tool_list = list(tools or ())
    rich = response_format is not None and not isinstance(response_format, Mapping)
    choices = []
    for choice in completion.choices or ():
        if finish_reason_errors and choice.finish_reason == "length":
            raise LengthFinishReasonError(completion=completion)
        if finish_reason_errors and choice.finish_reason == "content_filter":
            raise ContentFilterFinishReasonError(completion=completion)
        message = choice.message
        calls: list[Any] | None = None
        if message.tool_calls:
            calls = []
            for call in message.tool_calls:
                if not isinstance(call, ChatCompletionMessageToolCall) or call.function is None:
                    calls.append(call)
                    continue
                tool = _chat_tool(tool_list, call.function.name)
                fields = tool.get("function") if tool is not None else None
                parsed_args = _tool_arguments(tool, fields, call.function.arguments)
                function = _derive(ParsedFunction, call.function, parsed_arguments=parsed_args)
                calls.append(_derive(ParsedFunctionToolCall, call, function=function))
        parsed = None
        if rich and message.content and not message.refusal:
            parsed = parse_structured(response_format, message.content)
        new_message = _derive(ParsedChatCompletionMessage, message, parsed=parsed, tool_calls=calls)
        choices.append(_derive(ParsedChoice, choice, message=new_message))
    return _derive(ParsedChatCompletion, completion, choices=choices)


def _responses_tool(tools: Iterable[Any], name: str, namespace: str | None) -> Any:
    tool_list = list(tools)
    if namespace is not None and namespace != name:
        for tool in tool_list:
            if isinstance(tool, Mapping) and tool.get("type") == "namespace" and tool.get("name") == namespace:
                return _responses_tool(tool.get("tools") or (), name, None)
        return None
    for tool in tool_list:
        if isinstance(tool, Mapping) and tool.get("type") == "function" and tool.get("name") == name:
            return tool
    return None


def parse_response(
    response: Response,
    *,
    text_format: Any = None,
    tools: Iterable[Any] | None = None,
) -> ParsedResponse[Any]:
    """``response`` with ``parsed`` on each ``output_text`` part of the final
    answer (when ``text_format`` is a type; a message whose ``phase`` is set
    to something other than ``final_answer`` is not parsed) and
    ``parsed_arguments`` on each function call, as ``parse_chat_completion``
    does; ``output_parsed`` is the first parsed value."""
    from ._parsed import (
        ParsedResponse,
        ParsedResponseFunctionToolCall,
        ParsedResponseOutputMessage,
        ParsedResponseOutputText,
    )
    from .types.responses import FunctionToolCall, OutputMessage, OutputTextContent

    tool_list = list(tools or ())
    rich = text_format is not None and not isinstance(text_format, Mapping)
    output: list[Any] = []
    for item in response.output or ():
        if isinstance(item, OutputMessage):
            final = item.phase is None or item.phase == "final_answer"
            content = []
            for part in item.content or ():
                if isinstance(part, OutputTextContent):
                    parsed = parse_structured(text_format, part.text) if rich and final else None
                    part = _derive(ParsedResponseOutputText, part, parsed=parsed)
                content.append(part)
            output.append(_derive(ParsedResponseOutputMessage, item, content=content))
        elif isinstance(item, FunctionToolCall):
            tool = _responses_tool(tool_list, item.name, item.namespace)
            parsed_args = _tool_arguments(tool, tool, item.arguments)
            output.append(_derive(ParsedResponseFunctionToolCall, item, parsed_arguments=parsed_args))
        else:
            output.append(item)
    return _derive(ParsedResponse, response, output=output)
