"""Valid requests for every operation of the spec, made from its schemas.

Used by the conformance test (``test_conformance.py``) to call each
operation once against Prism.  The values are small: only required
properties and parameters, arrays at their ``minItems``.  Each schema
offers candidates in order (``const``, ``default``, ``example`` and
``examples``, ``enum`` values, then a value built from ``type``,
``format`` and bounds, through ``allOf``/``oneOf``/``anyOf``), and the
first that validates against the whole schema (JSON Schema 2020-12, what
Prism checks) is taken, so a ``oneOf`` gets a value that matches exactly
one branch.

The schemas are those of the spec Prism serves (``tools/prism_spec.py``),
where ``nullable`` is already said the JSON Schema way.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from pathlib import Path
from typing import Any, Iterator

import attrs
import jsonschema
import yaml

ROOT = Path(__file__).resolve().parent.parent
SPEC_PATH = ROOT.parent / "shared" / "openapi" / "openapi.yaml"

_METHODS = ("get", "put", "post", "delete", "patch")
# A required-property chain deeper than this is taken as a cycle.
_MAX_DEPTH = 30
# Strings for the formats the spec uses; Prism checks formats.
_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "uri": "https://example.com/a",
    "url": "https://example.com/a",
    "email": "user@example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "byte": "AAAA",
    "binary": "binary-content",
}


def prism_spec_module() -> Any:
    """``tools/prism_spec.py``, imported by path (``tools`` is no package)."""
    spec = importlib.util.spec_from_file_location("prism_spec", ROOT / "tools" / "prism_spec.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.lru_cache(maxsize=1)
def raw_spec() -> dict[str, Any]:
    """The spec as written (shared between callers: do not change it)."""
    with SPEC_PATH.open(encoding="utf-8") as f:
        spec: dict[str, Any] = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return spec


@functools.lru_cache(maxsize=1)
def derived_spec() -> dict[str, Any]:
    """The spec as Prism serves it (paths still as written, without ``/v1``)."""
    raw = raw_spec()
    served: dict[str, Any] = prism_spec_module().derive(raw)
    # Back to the spec's own path keys: the test finds operations by those.
    beta: str = prism_spec_module().BETA_PREFIX
    prefix: str = prism_spec_module().base_path(raw)
    paths = {}
    for key, item in served["paths"].items():
        if key.startswith(beta + prefix):
            paths[key[len(beta + prefix) :] + "?beta=true"] = item
        else:
            paths[key[len(prefix) :]] = item
    served["paths"] = paths
    # Round-trip so YAML's dates become the strings Prism sees.
    result: dict[str, Any] = json.loads(json.dumps(served, default=str))
    return result


class Unsatisfiable(Exception):
    """No candidate value validates against a schema."""


@attrs.frozen
class RequestExample:
    """One valid call: parameters by name and the body, if any."""

    operation_id: str
    method: str
    path: str
    path_params: dict[str, str]
    query: dict[str, Any]
    body_type: str | None
    body: Any
    body_schema: dict[str, Any] | None
    # Multipart fields whose schema is a file (``format: binary``).
    file_fields: tuple[str, ...] = ()


class Examples:
    """Makes values for the schemas of one spec."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self._components = spec.get("components", {})

    # -- schemas ---------------------------------------------------------------

    def resolve(self, schema: Any) -> dict[str, Any]:
        """Follow ``$ref``; siblings of a ``$ref`` join it as an ``allOf``."""
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema:
            ref = schema["$ref"]
            target = self._pointer(ref)
            rest = {k: v for k, v in schema.items() if k not in ("$ref", "description")}
            if rest:
                return {"allOf": [target, rest]}
            schema = target
            seen += 1
            if seen > 50:
                raise Unsatisfiable(f"$ref loop at {ref}")
        if schema is True or schema is None:
            return {}
        if not isinstance(schema, dict):
            raise Unsatisfiable(f"not a schema: {schema!r}")
        return schema

    def _pointer(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            raise Unsatisfiable(f"non-local $ref {ref}")
        node: Any = self.spec
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def is_valid(self, value: Any, schema: dict[str, Any]) -> bool:
        root = dict(schema)
        root["components"] = self._components
        validator = jsonschema.Draft202012Validator(
            root, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )
        return bool(validator.is_valid(value))

    # -- values ----------------------------------------------------------------

    def value(self, schema: Any, depth: int = 0) -> Any:
        """The first candidate for ``schema`` that validates against it."""
        full = self.resolve(schema)
        tried = 0
        for candidate in self._candidates(full, depth):
            tried += 1
            if self.is_valid(candidate, full):
                return candidate
            if tried > 200:
                break
        raise Unsatisfiable(f"no valid value among {tried} candidates for {_short(full)}")

    def _first(self, schema: Any, depth: int) -> Iterator[Any]:
        """``value`` as a zero-or-one item iterator, for candidate lists."""
        try:
            yield self.value(schema, depth)
        except Unsatisfiable:
            return

    def _candidates(self, schema: dict[str, Any], depth: int) -> Iterator[Any]:
        if depth > _MAX_DEPTH:
            return
        if "const" in schema:
            yield schema["const"]
        if "default" in schema:
            yield schema["default"]
        if "example" in schema:
            yield schema["example"]
        yield from schema.get("examples") or ()
        enum = schema.get("enum")
        if enum is not None:
            yield from (v for v in enum if v is not None)
            yield from (v for v in enum if v is None)
            return
        if "allOf" in schema:
            yield from self._candidates(self._merge_all_of(schema), depth)
            return
        for key in ("oneOf", "anyOf"):
            if key in schema:
                rest = {k: v for k, v in schema.items() if k not in (key, "discriminator")}
                for branch in schema[key]:
                    branch = self.resolve(branch)
                    if rest:
                        branch = self._merge_all_of({"allOf": [rest, branch]})
                    yield from self._first_candidates(branch, depth)
                return
        kinds = schema.get("type")
        if kinds is None:
            if "properties" in schema or "required" in schema:
                kinds = ["object"]
            elif "items" in schema:
                kinds = ["array"]
            else:
                kinds = ["string", "object"]
        if isinstance(kinds, str):
            kinds = [kinds]
        for kind in sorted(kinds, key=lambda k: k == "null"):
            yield from self._of_type(kind, schema, depth)

    def _first_candidates(self, branch: dict[str, Any], depth: int) -> Iterator[Any]:
        # A branch's own first valid value, then its other candidates: the
        # branch's first value may match two branches of a ``oneOf``.
        yielded = 0
        for candidate in self._candidates(branch, depth + 1):
            if self.is_valid(candidate, branch):
                yield candidate
                yielded += 1
                if yielded >= 5:
                    return

    def _merge_all_of(self, schema: dict[str, Any]) -> dict[str, Any]:
        """One schema with the keywords of every ``allOf`` branch (nested too).

        Only for making candidates: the result is still validated against
        the original schema.
        """
        merged: dict[str, Any] = {}
        parts = [{k: v for k, v in schema.items() if k != "allOf"}]
        parts.extend(self.resolve(b) for b in schema.get("allOf", ()))
        for part in parts:
            if "allOf" in part:
                part = self._merge_all_of(part)
            for key, value in part.items():
                if key == "properties":
                    props = dict(merged.get("properties", {}))
                    props.update(value)
                    merged["properties"] = props
                elif key == "required":
                    merged["required"] = sorted({*merged.get("required", ()), *value})
                elif key == "type" and "type" in merged:
                    mine, theirs = _type_set(merged["type"]), _type_set(value)
                    merged["type"] = sorted(mine & theirs or mine)
                elif key not in merged:
                    merged[key] = value
        return merged

    def _of_type(self, kind: str, schema: dict[str, Any], depth: int) -> Iterator[Any]:
        if kind == "null":
            yield None
        elif kind == "boolean":
            yield False
            yield True
        elif kind in ("integer", "number"):
            yield from _numbers(schema, kind == "integer")
        elif kind == "string":
            yield from _strings(schema)
        elif kind == "array":
            yield from self._arrays(schema, depth)
        elif kind == "object":
            yield from self._objects(schema, depth)

    def _arrays(self, schema: dict[str, Any], depth: int) -> Iterator[Any]:
        low = int(schema.get("minItems", 0))
        items = schema.get("items", {})
        if low == 0:
            yield []
        for item in self._first(items, depth + 1):
            yield [item] * max(low, 1)
            return

    def _objects(self, schema: dict[str, Any], depth: int) -> Iterator[Any]:
        props = schema.get("properties", {})
        out: dict[str, Any] = {}
        for name in schema.get("required", ()):
            sub = props.get(name)
            if sub is None:
                extra = schema.get("additionalProperties", {})
                sub = extra if isinstance(extra, dict) else {}
            try:
                out[name] = self.value(sub, depth + 1)
            except Unsatisfiable:
                return
        yield out

    # -- operations --------------------------------------------------------------

    def operations(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(method, path key, operation) for every operation, spec order."""
        for path, item in self.spec["paths"].items():
            for method in _METHODS:
                if method in item:
                    yield method.upper(), path, item[method]

    def request(
        self, method: str, path: str, op: dict[str, Any], content_type: str | None = None
    ) -> RequestExample:
        """A valid call of one operation, its body of ``content_type`` (by
        default JSON when the operation takes it)."""
        path_params: dict[str, str] = {}
        query: dict[str, Any] = {}
        for param in op.get("parameters", ()):
            param = self.resolve(param)
            where = param["in"]
            if where == "path":
                path_params[param["name"]] = self._path_value(param)
            elif where == "query" and param.get("required") and param["name"] != "beta":
                query[param["name"]] = self.value(param.get("schema", {}))
        body_type: str | None = None
        body: Any = None
        body_schema: dict[str, Any] | None = None
        files: tuple[str, ...] = ()
        content = (op.get("requestBody") or {}).get("content") or {}
        if content:
            body_type = content_type
            if body_type is None:
                body_type = "application/json" if "application/json" in content else next(iter(content))
            body_schema = self.resolve(content[body_type].get("schema", {}))
            if body_type == "multipart/form-data":
                body_schema = self._merge_all_of(body_schema)
                body, files = self._form(body_schema)
            elif body_type == "application/json":
                body = self.value(body_schema)
            else:
                # A raw body (application/sdp): a minimal SDP line.
                body = "v=0\r\n"
        return RequestExample(
            op["operationId"], method, path, path_params, query, body_type, body, body_schema, files
        )

    def invalid_body(self, example: RequestExample) -> tuple[dict[str, Any], str, str]:
        """A body the operation must reject, what is wrong with it, and the
        field at fault.

        A required property left out when there is one; otherwise a
        property set to a value its schema refuses; otherwise a property the
        schema does not allow.  Checked locally to be invalid.
        """
        schema = example.body_schema
        body = example.body
        if schema is None or not isinstance(body, dict):
            raise Unsatisfiable(f"{example.operation_id} has no object body")
        merged = self._merge_all_of(schema)
        for name in merged.get("required", ()):
            bad = {k: v for k, v in body.items() if k != name}
            if not self.is_valid(bad, schema):
                return bad, f"required `{name}` left out", name
        for name, sub in merged.get("properties", {}).items():
            sub = self.resolve(sub)
            for wrong in ([[["nested"]]], {"unexpected": [1]}, 12345, "not-valid", True):
                bad = {**body, name: wrong}
                if not self.is_valid(bad, schema):
                    return bad, f"`{name}` set to {json.dumps(wrong)}", name
        name = "not_a_field_of_this_body"
        bad = {**body, name: 1}
        if not self.is_valid(bad, schema):
            return bad, "an unknown property", name
        raise Unsatisfiable(f"{example.operation_id}: every body tried is valid")

    def _form(self, schema: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
        """Required fields of a ``multipart/form-data`` body, and which are files.

        A form has no empty list and no nested object a server reads back
        as such, so a field that may be a file is one (a ``oneOf`` of an
        object reference and a file, say), and a list gets one item.  A file
        is ``_FORMATS["binary"]`` here (a string, so the body validates as
        JSON); the caller sends it as file content.
        """
        body: dict[str, Any] = {}
        files: list[str] = []
        props = schema.get("properties", {})
        for name in schema.get("required", ()):
            sub = self.resolve(props.get(name, {}))
            branches = [self.resolve(b) for b in sub.get("oneOf", sub.get("anyOf", [sub]))]
            file_branch = next((b for b in branches if _is_file(b)), None)
            list_branch = next((b for b in branches if b.get("type") == "array"), None)
            if file_branch is not None:
                body[name] = _FORMATS["binary"]
                files.append(name)
            elif list_branch is not None and _is_file(self.resolve(list_branch.get("items", {}))):
                body[name] = [_FORMATS["binary"]]
                files.append(name)
            elif list_branch is not None:
                body[name] = [self.value(list_branch.get("items", {}))]
            else:
                body[name] = self.value(sub)
        return body, tuple(files)

    def _path_value(self, param: dict[str, Any]) -> str:
        schema = self.resolve(param.get("schema", {}))
        for candidate in (param.get("example"), schema.get("example")):
            if isinstance(candidate, str) and candidate:
                return candidate
        value = self.value(schema)
        return value if isinstance(value, str) and value and value != "binary-content" else "abc123"


def _type_set(kinds: str | list[str]) -> set[str]:
    return {kinds} if isinstance(kinds, str) else set(kinds)


def _is_file(schema: dict[str, Any]) -> bool:
    return schema.get("format") == "binary" or "contentMediaType" in schema


def _numbers(schema: dict[str, Any], integer: bool) -> Iterator[float]:
    low = schema.get("minimum")
    high = schema.get("maximum")
    xlow = schema.get("exclusiveMinimum")
    xhigh = schema.get("exclusiveMaximum")
    step = 1 if integer else 0.5
    if xlow is not None:
        low = xlow + step if low is None else max(low, xlow + step)
    if xhigh is not None:
        high = xhigh - step if high is None else min(high, xhigh - step)
    # 0.5 last: a number that is not an integer, for a ``oneOf`` that
    # tells the two apart.
    for value in (low, high, 0, 1, 0.5):
        if value is None:
            continue
        if (low is None or value >= low) and (high is None or value <= high):
            yield int(value) if integer else value


def _strings(schema: dict[str, Any]) -> Iterator[str]:
    fmt = schema.get("format")
    if fmt in _FORMATS:
        yield _FORMATS[fmt]
    pattern = schema.get("pattern")
    if pattern is not None:
        yield from _pattern_strings(pattern)
    low = int(schema.get("minLength", 0))
    high = schema.get("maxLength")
    text = "abc"
    if len(text) < low:
        text = "a" * low
    if high is not None and len(text) > high:
        text = "a" * max(int(high), low)
    yield text


def _pattern_strings(pattern: str) -> Iterator[str]:
    """Guesses for a ``pattern`` the spec does not exemplify.

    Only simple anchored patterns are handled: a literal prefix followed by
    a character class (``^file-[A-Za-z0-9]+$``) and the like.
    """
    literal = re.match(r"\^?([A-Za-z0-9_\-:./]*)", pattern)
    prefix = literal.group(1) if literal else ""
    for tail in ("abc", "a1", "1", "A", "", "abc-1", "2024-01-01"):
        yield prefix + tail


def _short(schema: dict[str, Any]) -> str:
    text = json.dumps({k: v for k, v in schema.items() if k != "description"}, default=str)
    return text if len(text) < 300 else text[:300] + "..."
