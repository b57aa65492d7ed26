"""Derive the copy of the OpenAPI spec that Prism serves in CI.

Usage: ``python tools/prism_spec.py OUT.json [SPEC]``; ``SPEC`` defaults to
``../shared/openapi/openapi.yaml`` beside the checkout (found from this
file, not from the working directory).

Prism mocks the spec as it is written, so a few things are changed for it
and nothing else:

- Paths get the base path of the spec's first ``servers`` URL (``/v1``):
  Prism routes on the path alone and the client sends ``/v1/...``.
- Six path keys end in ``?beta=true``.  Prism matches path keys literally
  and never looks at the query, so these copies would never be reached and
  calls to them would be checked against the non-beta schemas (which differ:
  ``BetaCreateResponse``, ``BetaResponse``, ...).  They are moved under their
  own prefix, ``BETA_PREFIX`` + ``/v1`` + bare path, and get ``beta`` as a
  required query parameter whose only value is ``true``: a client pointed at
  that prefix reaches the beta schemas, and Prism rejects the call if the
  client forgot the query.
- The spec is OpenAPI 3.1, whose schemas are JSON Schema 2020-12: it has no
  ``nullable`` keyword, and Prism ignores it.  ``nullable: true`` next to a
  ``type`` becomes ``type: [..., "null"]``; without a ``type`` (beside
  ``$ref``, ``allOf``, ``oneOf``, ...) the schema becomes
  ``anyOf: [<the schema>, {type: "null"}]``.  Left as it is, Prism cannot
  compile those schemas and lets every body that uses them through
  unchecked.
- A header parameter whose schema is an array (``openai-beta``, on the beta
  copies) becomes a string with a pattern for the comma-separated list:
  Prism 5.16 crashes, taking the whole mock server down, when such an
  optional header is absent from a request.
- Response headers that frame the message (``Transfer-Encoding`` on the
  speech response) are dropped: Prism would send the declared header with
  a made-up value ("string") beside its own Content-Length, which no HTTP
  client can read.
- ``x-oaiMeta`` and the other vendor extensions are dropped: Prism does not
  read them and the file loads faster.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = ROOT.parent / "shared" / "openapi" / "openapi.yaml"

# Where the ``?beta=true`` copies are served; the conformance test points a
# client at ``PRISM_URL + BETA_PREFIX + "/v1"`` for them.
BETA_PREFIX = "/_beta"

_FRAMING_HEADERS = frozenset(("transfer-encoding", "content-length", "connection"))
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Their values are data (an example may well hold ``nullable`` or ``x-``
# keys), copied as they are.
_DATA_KEYS = frozenset(("example", "examples", "default", "enum", "const"))


def base_path(spec: dict[str, Any]) -> str:
    """The path of the first server URL, without a trailing slash."""
    servers = spec.get("servers") or [{"url": "/"}]
    url: str = servers[0]["url"]
    return urlsplit(url).path.rstrip("/")


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """One schema with ``nullable`` said the JSON Schema 2020-12 way."""
    flag = schema.pop("nullable", None)
    if flag is not True:
        return schema
    kind = schema.get("type")
    if kind is None:
        return {"anyOf": [schema, {"type": "null"}]}
    kinds = kind if isinstance(kind, list) else [kind]
    if "null" not in kinds:
        schema["type"] = [*kinds, "null"]
    if "enum" in schema and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]
    return schema


def _clean(node: Any, *, in_properties: bool = False) -> Any:
    """Rewrite ``nullable`` everywhere and drop the vendor extensions.

    ``in_properties`` marks a mapping whose keys are names (a property may be
    called ``nullable`` or ``x-foo``), not keywords.
    """
    if isinstance(node, list):
        return [_clean(item) for item in node]
    if not isinstance(node, dict):
        return node
    if in_properties:
        return {key: _clean(value) for key, value in node.items()}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DATA_KEYS:
            out[key] = value
            continue
        if key.startswith("x-"):
            continue
        # Keys under these are names chosen by the spec, not keywords.
        names = key in ("properties", "patternProperties", "schemas", "paths", "responses")
        out[key] = _clean(value, in_properties=names)
    return _nullable(out)


# Escaped for an ECMAScript pattern in unicode mode, which (unlike Python's
# ``re.escape``) refuses escapes of characters that are not special.
_JS_SPECIAL = re.compile(r"[\\^$.|?*+()\[\]{}/]")


def _list_header(param: dict[str, Any]) -> None:
    """An array-typed header parameter, said as a pattern on the string."""
    schema = param.get("schema") or {}
    if param.get("in") != "header" or schema.get("type") != "array":
        return
    values = schema.get("items", {}).get("enum")
    if values:
        item = "(?:" + "|".join(_JS_SPECIAL.sub(r"\\\g<0>", str(v)) for v in values) + ")"
        new = {"type": "string", "pattern": f"^{item}(?:, ?{item})*$"}
    else:
        new = {"type": "string"}
    param["schema"] = new
    param.pop("style", None)
    param.pop("explode", None)


def _drop_framing_headers(response: dict[str, Any]) -> None:
    headers = response.get("headers")
    if not headers:
        return
    for name in list(headers):
        if name.lower() in _FRAMING_HEADERS:
            del headers[name]
    if not headers:
        del response["headers"]


def derive(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec Prism serves (a new dict; ``spec`` is left as it was)."""
    prefix = base_path(spec)
    # _clean builds new containers all the way down (data under
    # _DATA_KEYS is shared, never changed).
    spec = _clean(spec)
    paths: dict[str, Any] = {}
    for key, item in spec["paths"].items():
        for method in _METHODS:
            op = item.get(method) or {}
            for param in op.get("parameters", ()):
                _list_header(param)
            for response in op.get("responses", {}).values():
                _drop_framing_headers(response)
        path, sep, query = key.partition("?")
        if not sep:
            paths[prefix + path] = item
            continue
        if query != "beta=true":
            raise SystemExit(f"unexpected query in path key {key!r}")
        for method in _METHODS:
            op = item.get(method)
            if op is not None:
                op.setdefault("parameters", []).append(
                    {
                        "name": "beta",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "enum": ["true"]},
                    }
                )
        paths[BETA_PREFIX + prefix + path] = item
    spec["paths"] = paths
    for response in spec.get("components", {}).get("responses", {}).values():
        _drop_framing_headers(response)
    spec.pop("servers", None)
    return spec


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__.splitlines()[2], file=sys.stderr)
        return 2
    source = Path(argv[2]) if len(argv) == 3 else DEFAULT_SPEC
    with source.open(encoding="utf-8") as f:
        spec = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    # YAML reads unquoted dates in examples as dates; JSON has only strings.
    Path(argv[1]).write_text(json.dumps(derive(spec), default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
