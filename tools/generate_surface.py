"""The API surface, generated from the same spec as the models.

``tools/generate_models.py`` calls ``render_surface(generator)`` after it
has placed every schema; this module adds three things to its output:

* each operation's *surface facts*, written into the operation table: the
  official SDK's method path (``beta.threads.runs.submit_tool_outputs``),
  the body kind (JSON, multipart, raw, none), the response kind (JSON model,
  binary, empty), the pagination kind and, for streams, the decoder;
* ``openai_sansio/api.py``: one typed request builder per operation, pure
  functions that any runtime can call to get a ``PreparedOperation``;
* ``openai_trio/_generated/``: the trio namespaces (``client.files``,
  ``client.beta.threads.runs``, ...) whose methods hand a builder's result
  to the client's executor, plus type-checking-only views for
  ``with_raw_response`` and ``with_streaming_response``.

Where the SDK path comes from, in order: ``SDK_PATHS`` below (the few
operations the other rules get wrong), the spec's own ``x-oaiMeta`` Python
examples, then a rule over the HTTP method and path.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from generate_models import Generator, Op

# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------

# operationId -> SDK method path, where neither the spec's examples nor the
# path rule give the official SDK's name.
SDK_PATHS: dict[str, str] = {
    "cancelEvalRun": "evals.runs.cancel",
    "DeleteThreadMethod": "beta.chatkit.threads.delete",
    "createSpeech": "audio.speech.create",
    "createImage": "images.generate",
    "createImageEdit": "images.edit",
    "createImageVariation": "images.create_variation",
    "downloadFile": "files.content",
    "retrieveVectorStoreFileContent": "vector_stores.files.content",
    "listFineTuningEvents": "fine_tuning.jobs.list_events",
    "listFilesInVectorStoreBatch": "vector_stores.file_batches.list_files",
    "addUploadPart": "uploads.parts.create",
    "createUpload": "uploads.create",
    "Getinputtokencounts": "responses.input_tokens.count",
    "beta_Getinputtokencounts": "beta.responses.input_tokens.count",
    "list-project-rate-limits": "admin.organization.projects.rate_limits.list_rate_limits",
    "update-project-rate-limits": "admin.organization.projects.rate_limits.update_rate_limit",
    "usage-costs": "admin.organization.usage.costs",
    "CreateVideoCharacter": "videos.create_character",
    "GetVideoCharacter": "videos.get_character",
    "CreateVideoEdit": "videos.edit",
    "CreateVideoExtend": "videos.extend",
    "RetrieveVideoContent": "videos.download_content",
    "ListThreadItemsMethod": "beta.chatkit.threads.list_items",
    "create-realtime-session": "beta.realtime.sessions.create",
    "create-realtime-transcription-session": "beta.realtime.transcription_sessions.create",
    "createThreadAndRun": "beta.threads.create_and_run",
    "create-realtime-client-secret": "realtime.client_secrets.create",
    "create-realtime-translation-client-secret": "realtime.translations.client_secrets.create",
    "create-realtime-call": "realtime.calls.create",
    "Createcontentprovenancecheck": "content_provenance_checks.create",
    "createTranscription": "audio.transcriptions.create",
    "createTranslation": "audio.translations.create",
    "createVoice": "audio.voices.create",
    "validateGrader": "fine_tuning.alpha.graders.validate",
    "activateOrganizationCertificates": "admin.organization.certificates.activate",
    "deactivateOrganizationCertificates": "admin.organization.certificates.deactivate",
    "activateProjectCertificates": "admin.organization.projects.certificates.activate",
    "deactivateProjectCertificates": "admin.organization.projects.certificates.deactivate",
    "CreateanAPIkeyforaserviceaccount": "admin.organization.projects.service_accounts.api_keys.create",
}
# Path prefixes (first literal segments) and where the SDK puts them.
PREFIXES: dict[str, tuple[str, ...]] = {
    "organization": ("admin", "organization"),
    "projects": ("admin", "organization", "projects"),
    "assistants": ("beta", "assistants"),
    "threads": ("beta", "threads"),
    "chatkit": ("beta", "chatkit"),
}
# A usage report is a method of ``usage``, not a namespace with ``list``.
METHOD_SEGMENTS: tuple[tuple[str, ...], ...] = (("admin", "organization", "usage"),)

# 2xx bodies the spec leaves undeclared or mislabels, by what they really are.
BINARY_OPERATIONS = frozenset({"downloadFile", "RetrieveContainerFileContent"})

# operationId -> stream decoder class of openai_sansio (others: StreamDecoder
# with the operation's own item parser).
STREAM_DECODERS: dict[str, str] = {
    "createChatCompletion": "ChatCompletionStreamDecoder",
    "createCompletion": "CompletionStreamDecoder",
    "createResponse": "ResponseStreamDecoder",
    "getResponse": "ResponseStreamDecoder",
    "beta_createResponse": "ResponseStreamDecoder",
    "beta_getResponse": "ResponseStreamDecoder",
    "createThreadAndRun": "AssistantStreamDecoder",
    "createRun": "AssistantStreamDecoder",
    "submitToolOuputsToRun": "AssistantStreamDecoder",
}

# Conveniences written by hand in openai_trio, opted in here: SDK path of a
# namespace -> (module, mixin class, generated methods it replaces).  The
# mixin becomes the namespace class's first base; a replaced method is left
# out of the generated class so the hand-written one is found.  The mixin
# reaches the client through ``self._transport`` like generated methods do.
# A namespace may take several mixins (a list of such triples), so that
# separate conveniences of one namespace live in separate modules; each
# mixin class must declare ``__slots__ = ()``.
Mixin = tuple[str, str, tuple[str, ...]]
NAMESPACE_MIXINS: dict[str, Mixin | list[Mixin]] = {
    "chat.completions": [
        (".._stream_helpers", "ChatCompletionsStreamMixin", ()),
        (".._tool_runner", "ChatCompletionsToolRunner", ()),
        (".._parsing", "ChatCompletionsParseMixin", ()),
    ],
    "beta.threads": [
        (".._assistant_stream", "BetaThreadsStreamMixin", ()),
        (".._polling", "BetaThreadsPollMixin", ()),
    ],
    "beta.threads.runs": [
        (".._assistant_stream", "BetaThreadsRunsStreamMixin", ()),
        (".._polling", "BetaThreadsRunsPollMixin", ()),
    ],
    "vector_stores.files": [
        (".._polling", "VectorStoresFilesPollMixin", ()),
    ],
    "vector_stores.file_batches": [
        (".._polling", "VectorStoresFileBatchesPollMixin", ()),
    ],
    "batches": [
        (".._polling", "BatchesPollMixin", ()),
        (".._batch_job", "BatchesJobMixin", ()),
    ],
    "responses": [
        (".._stream_helpers", "ResponsesStreamMixin", ()),
        (".._tool_runner", "ResponsesToolRunner", ()),
        (".._parsing", "ResponsesParseMixin", ()),
    ],
}


def _mixins_of(node_path: tuple[str, ...] | list[str]) -> list[Mixin]:
    found = NAMESPACE_MIXINS.get(".".join(node_path))
    if found is None:
        return []
    return [found] if isinstance(found, tuple) else list(found)

# Keyword names every method takes after the operation's own.
OPTION_NAMES = ("extra_headers", "extra_query", "extra_body", "timeout", "max_retries")

# --------------------------------------------------------------------------
# Facts per operation
# --------------------------------------------------------------------------


@dataclass
class Param:
    wire: str
    py: str
    ann: str  # without "| NotGiven"
    required: bool
    where: str  # "path", "query", "body"


@dataclass
class Surface:
    op: Op
    sdk_path: str
    body_kind: str
    response_kind: str
    page_kind: str
    decoder: str | None
    body_params: tuple[str, ...]
    params: list[Param] = field(default_factory=list)
    result_ann: str = "Any"  # the parsed result of a non-stream call
    stream_item_ann: str = "Any"
    item_ann: str = "Any"  # page items
    item_model: str | None = None  # dotted parser path of page items
    streamable: bool = False  # has a ``stream`` body/query parameter


_EXAMPLE_CALL = re.compile(r"client\.([a-z_][a-z0-9_.]*)\(")


def example_path(op_spec: dict[str, Any]) -> str | None:
    """The SDK method the spec's Python example calls, if it names one."""
    examples = (op_spec.get("x-oaiMeta") or {}).get("examples")
    if not examples:
        return None
    text = yaml.safe_dump(examples)
    hits = [h for h in _EXAMPLE_CALL.findall(text) if "." in h and not h.startswith("with_")]
    if not hits:
        return None
    # Examples often list or create something first; the operation's own
    # call comes last.
    last: str = hits[-1]
    return last


def rule_path(op: Op, spec: dict[str, Any]) -> str:
    """The SDK path the URL shape suggests."""
    segments = op.path.strip("/").split("/")
    names: list[str] = []
    after_param = False
    for seg in segments:
        if seg.startswith("{"):
            after_param = True
            continue
        names.append(seg)
        after_param = False
    ends_with_param = segments[-1].startswith("{")
    if names and names[0] in PREFIXES:
        names = [*PREFIXES[names[0]], *names[1:]]
    if op.fixed_query:
        names = ["beta", *names]
    siblings = {m for m in spec["paths"].get(op.raw_path, {}) if m in ("get", "post", "delete", "patch", "put")}
    method = op.method.lower()
    is_action = (
        method == "post"
        and not ends_with_param
        and len(segments) >= 2
        and segments[-2].startswith("{")
        and "get" not in siblings
    )
    if is_action:
        return ".".join(names)
    if tuple(names[:-1]) in METHOD_SEGMENTS:
        return ".".join(names)
    if method == "get":
        verb = "retrieve" if ends_with_param or not op.lists else "list"
    elif method == "delete":
        verb = "delete"
    elif method == "post":
        singleton = not ends_with_param and "get" in siblings and not _get_lists(spec, op.raw_path)
        verb = "update" if ends_with_param or singleton else "create"
    else:
        verb = method
    del after_param
    return ".".join([*names, verb])


def _get_lists(spec: dict[str, Any], raw_path: str) -> bool:
    get = spec["paths"].get(raw_path, {}).get("get")
    if get is None:
        return False
    schema = ((get.get("responses", {}).get("200") or {}).get("content", {}).get("application/json") or {}).get(
        "schema"
    )
    return _has_data_array(spec, schema)


def _deref(spec: dict[str, Any], schema: Any) -> Any:
    schemas = spec["components"]["schemas"]
    while isinstance(schema, dict) and "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _has_data_array(spec: dict[str, Any], schema: Any) -> bool:
    s = _deref(spec, schema)
    if not isinstance(s, dict):
        return False
    data = _deref(spec, (s.get("properties") or {}).get("data"))
    return isinstance(data, dict) and data.get("type") == "array"


def sdk_path_of(op: Op, spec: dict[str, Any]) -> str:
    if op.operation_id in SDK_PATHS:
        return SDK_PATHS[op.operation_id]
    found = example_path(op.spec)
    if found is not None:
        # The beta copies of the Responses operations share the plain
        # operations' examples; the SDK keeps them under ``beta``.
        if op.fixed_query and not found.startswith("beta."):
            found = "beta." + found
        return found
    return rule_path(op, spec)


def body_kind_of(op: Op, spec: dict[str, Any]) -> str:
    types = op.request_types
    if not types:
        return "none"
    multipart = "multipart/form-data" in types
    if multipart and (op.json_body is None or _has_binary(spec, op.multipart_schema)):
        return "multipart"
    if op.json_body is not None:
        return "json"
    return "raw"


def _has_binary(spec: dict[str, Any], schema: Any, depth: int = 0) -> bool:
    s = _deref(spec, schema)
    if not isinstance(s, dict) or depth > 6:
        return False
    if s.get("format") == "binary" or s.get("contentMediaType") == "application/octet-stream":
        return True
    for key in ("oneOf", "anyOf", "allOf"):
        if any(_has_binary(spec, v, depth + 1) for v in s.get(key, [])):
            return True
    if "items" in s and _has_binary(spec, s["items"], depth + 1):
        return True
    return any(_has_binary(spec, v, depth + 1) for v in (s.get("properties") or {}).values())


def response_kind_of(op: Op) -> str:
    if op.operation_id in BINARY_OPERATIONS:
        return "binary"
    types = [t for t in op.response_types if t != "text/event-stream"]
    if "application/json" in types and len(types) == 1:
        return "json"
    if not types and not op.response_types:
        return "empty"
    if not types:
        return "json"  # SSE only: the non-stream form is JSON
    return "binary"


def page_kind_of(op: Op, spec: dict[str, Any]) -> str:
    if op.method != "GET" or not _has_data_array(spec, op.response_schema):
        return "none"
    if "after" in op.query_params:
        return "cursor"
    if "page" in op.query_params:
        return "page"
    return "single"


# --------------------------------------------------------------------------
# Annotations
# --------------------------------------------------------------------------


class Imports:
    """Names a generated module needs, by the module they come from."""

    def __init__(self) -> None:
        self.names: dict[str, set[str]] = {}

    def use(self, name: str, module: str) -> str:
        self.names.setdefault(module, set()).add(name)
        return name


class TypesWriter:
    """What ``Generator.pann`` expects of a writer: ``use(name, module)``
    with modules relative to ``openai_sansio.types``."""

    def __init__(self, imports: Imports) -> None:
        self.imports = imports
        self.module = "<surface>"

    def use(self, name: str, module: str) -> str:
        return self.imports.use(name, f"openai_sansio.types.{module}")


def simple_ann(spec: dict[str, Any], schema: Any, imports: Imports, depth: int = 0) -> str:
    """An annotation for an inline parameter schema (query, path, multipart)."""
    s = _deref(spec, schema)
    if not isinstance(s, dict) or depth > 8:
        return "Any"
    if s.get("format") == "binary" or s.get("contentMediaType") == "application/octet-stream":
        return imports.use("FileTypes", "openai_sansio")
    for key in ("oneOf", "anyOf"):
        if key in s:
            parts: list[str] = []
            for v in s[key]:
                for piece in simple_ann(spec, v, imports, depth + 1).split(" | "):
                    if piece not in parts:
                        parts.append(piece)
            return "Any" if "Any" in parts else " | ".join(parts)
    if "allOf" in s and len(s["allOf"]) == 1:
        return simple_ann(spec, s["allOf"][0], imports, depth + 1)
    if "const" in s and isinstance(s["const"], str):
        return f"Literal[{json.dumps(s['const'])}]"
    if "enum" in s:
        strs = [v for v in s["enum"] if isinstance(v, str)]
        if strs and len(strs) == len([v for v in s["enum"] if v is not None]):
            out = "Literal[" + ", ".join(json.dumps(v) for v in strs) + "] | str"
            return out + (" | None" if None in s["enum"] else "")
    typ = s.get("type")
    nullable = s.get("nullable") is True
    if isinstance(typ, list):
        nullable = nullable or "null" in typ
        kinds = [k for k in typ if k != "null"]
        typ = kinds[0] if len(kinds) == 1 else None
    base = {
        "string": "str",
        "integer": "int",
        "number": "float",
        "boolean": "bool",
    }.get(typ or "")
    if base is None:
        if typ == "array":
            base = f"Sequence[{simple_ann(spec, s.get('items', {}), imports, depth + 1)}]"
        elif typ == "object" or "properties" in s:
            base = "Mapping[str, Any]"
        elif typ == "null":
            return "None"
        else:
            return "Any"
    return f"{base} | None" if nullable else base


def py_keyword(wire: str, taken: set[str]) -> str:
    # ``project_ids[]`` (an array in the query) is ``project_ids`` in Python.
    name = wire[:-2] if wire.endswith("[]") else wire
    name = re.sub(r"[^0-9a-zA-Z_]", "_", name)
    if not name or name[0].isdigit():
        name = "_" + name
    if keyword.iskeyword(name) or name in OPTION_NAMES or name in ("self", "stream_cls", "cast_to"):
        name += "_"
    while name in taken:
        name += "_"
    taken.add(name)
    return name


def build_surface(gen: Generator, spec: dict[str, Any]) -> list[Surface]:
    surfaces: list[Surface] = []
    for op in gen.ops:
        kind = body_kind_of(op, spec)
        imports = Imports()  # discarded: annotations are rebuilt per module
        surfaces.append(describe(gen, spec, op, kind, imports))
    check_unique(surfaces)
    return surfaces


def describe(gen: Generator, spec: dict[str, Any], op: Op, body_kind: str, imports: Imports) -> Surface:
    """Everything the writers need of ``op``; annotations name their imports
    in ``imports``."""
    writer = TypesWriter(imports)
    taken: set[str] = set()
    params: list[Param] = []
    # The last path parameter is positional, as in the official SDK; the
    # others are keywords.
    for name in op.path_params:
        params.append(Param(name, py_keyword(name, taken), "str", True, "path"))
    for p in op.query_param_specs:
        wire = p["name"]
        params.append(
            Param(wire, py_keyword(wire, taken), simple_ann(spec, p.get("schema"), imports), bool(p.get("required")), "query")
        )
    body_names: list[str] = []
    if body_kind == "json":
        body_params = json_body_params(gen, op, writer, spec, imports)
    elif body_kind == "multipart":
        body_params = multipart_params(spec, op.multipart_schema, imports)
    elif body_kind == "raw":
        body_params = [("content", "bytes", True)]
    else:
        body_params = []
    for wire, ann, required in body_params:
        params.append(Param(wire, py_keyword(wire, taken), ann, required, "body"))
        body_names.append(wire)
    streamable = any(p.wire == "stream" and p.where in ("body", "query") for p in params)
    surface = Surface(
        op=op,
        sdk_path=sdk_path_of(op, spec),
        body_kind=body_kind,
        response_kind=response_kind_of(op),
        page_kind=page_kind_of(op, spec),
        decoder=(STREAM_DECODERS.get(op.operation_id, "StreamDecoder") if op.streams else None),
        body_params=tuple(body_names),
        params=params,
        streamable=streamable and op.streams,
    )
    surface.result_ann = model_ann(gen, op.response_schema, imports)
    if surface.response_kind == "empty":
        surface.result_ann = "None"
    surface.stream_item_ann = model_ann(gen, op.stream_schema, imports)
    if surface.page_kind != "none":
        surface.item_ann, surface.item_model = page_item(gen, op.response_schema, imports)
    return surface


def page_item(gen: Generator, schema: Any, imports: Imports) -> tuple[str, str | None]:
    """The annotation and dotted parser path of the items in ``data`` of a
    list response, read from the generated model of the page."""
    models = sys.modules[type(gen).__module__]
    if not isinstance(schema, dict) or "$ref" not in schema:
        return "Any", None
    page = gen.ir.resolve(models.Ref(schema["$ref"].rsplit("/", 1)[1]))
    if not isinstance(page, models.Model):
        return "Any", None
    field_type = next((f.type for f in page.fields if f.wire == "data"), None)
    arr = gen.ir.resolve(field_type)
    if isinstance(arr, models.Opt):
        arr = gen.ir.resolve(arr.inner)
    if not isinstance(arr, models.Arr):
        return "Any", None
    item = arr.item
    if isinstance(item, models.Ref):
        ref = {"$ref": f"#/components/schemas/{item.name}"}
        return model_ann(gen, ref, imports), gen.model_path(ref)
    if isinstance(item, models.Model):
        module = f"openai_sansio.types.{gen.module_of(item, False)}"
        return imports.use(item.name, module), f"{module}.{item.name}"
    if isinstance(item, models.Union) and id(item) in gen.parsers:
        module = f"openai_sansio.types.{gen.module_of(item, False)}"
        return "Any", f"{module}.{gen.parsers[id(item)]}"
    return "Any", None


def model_ann(gen: Generator, schema: Any, imports: Imports) -> str:
    """The response-side type a schema parses into, or Any."""
    path = gen.model_path(schema)
    if path is None:
        return "Any"
    module, _, name = path.rpartition(".")
    if name.startswith("parse_"):
        # A union parser: its type alias is the component's class name.
        ref = schema["$ref"].rsplit("/", 1)[1]
        d = gen.ir.defs[ref]
        name = d.name
    return imports.use(name, module)


def json_body_params(
    gen: Generator, op: Op, writer: TypesWriter, spec: dict[str, Any], imports: Imports
) -> list[tuple[str, str, bool]]:
    # The generator may run as __main__: take its classes from the module
    # that defined ``gen``, not from a second import of it.
    models = sys.modules[type(gen).__module__]
    Model, Ref = models.Model, models.Ref

    body = op.json_body
    model = gen.ir.resolve(Ref(body["$ref"].rsplit("/", 1)[1])) if isinstance(body, dict) and "$ref" in body else None
    out: list[tuple[str, str, bool]] = []
    if isinstance(model, Model):
        for f in model.fields:
            out.append((f.wire, iterable_arrays(models, gen.pann(f.type, writer)), f.required))
        return out
    parts = gen.ir.object_parts(body)
    if parts is None:
        return [("body", "Mapping[str, Any]", True)]
    props, required = parts
    return [(wire, simple_ann(spec, sub, imports), wire in required) for wire, sub in props.items()]


def iterable_arrays(models: Any, ann: str) -> str:
    """A JSON body array as ``Iterable[...]`` (as the official SDK types it):
    the builder copies any iterable into a list, so a generator will do."""
    pieces = models.split_union(ann)
    return " | ".join("Iterable[" + p[len("Sequence["):] if p.startswith("Sequence[") else p for p in pieces)


def multipart_params(spec: dict[str, Any], schema: Any, imports: Imports) -> list[tuple[str, str, bool]]:
    s = _deref(spec, schema)
    props: dict[str, Any] = {}
    required: list[str] = []
    stack = [s]
    while stack:
        cur = _deref(spec, stack.pop())
        if not isinstance(cur, dict):
            continue
        props.update(cur.get("properties") or {})
        required += cur.get("required", [])
        stack += cur.get("allOf", [])
    return [(wire, simple_ann(spec, sub, imports), wire in required) for wire, sub in props.items()]


def check_unique(surfaces: list[Surface]) -> None:
    seen: dict[str, str] = {}
    prefixes = {s.sdk_path.rpartition(".")[0] for s in surfaces}
    for s in surfaces:
        other = seen.setdefault(s.sdk_path, s.op.operation_id)
        if other != s.op.operation_id:
            raise SystemExit(f"{other} and {s.op.operation_id} both map to {s.sdk_path}")
        if s.sdk_path in prefixes:
            raise SystemExit(f"{s.sdk_path} ({s.op.operation_id}) is both a method and a namespace")


# --------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------

HEADER = "# Generated by tools/generate_models.py from the OpenAI OpenAPI spec; do not edit.\n"


def builder_name(sdk_path: str) -> str:
    return sdk_path.replace(".", "_")


def _top_level_union(ann: str) -> list[str]:
    """``"A | list[B | C] | None"`` -> ``["A", "list[B | C]", "None"]``."""
    pieces: list[str] = []
    depth = 0
    start = 0
    for i, ch in enumerate(ann):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "|" and depth == 0:
            pieces.append(ann[start:i].strip())
            start = i + 1
    pieces.append(ann[start:].strip())
    return pieces


def _ann_with_default(p: Param) -> str:
    if p.required or p.ann == "Any":
        return p.ann
    pieces = _top_level_union(p.ann)
    kept = [piece for piece in pieces if piece != "None"]
    # ``None`` once, last (it is sent as JSON null); NotGiven before it.
    return " | ".join([*kept, "NotGiven", *(["None"] if len(kept) < len(pieces) else [])])


def signature_lines(s: Surface, *, indent: str, stream_ann: str | None = None, self_arg: bool) -> list[str]:
    """The parameter list of a builder or method, one parameter a line."""
    lines: list[str] = []
    if self_arg:
        lines.append(f"{indent}self,")
    path_params = [p for p in s.params if p.where == "path"]
    positional = path_params[-1] if path_params else None
    if positional is not None:
        lines.append(f"{indent}{positional.py}: str,")
    lines.append(f"{indent}*,")
    ordered = [p for p in s.params if p is not positional]
    ordered = [p for p in ordered if p.required] + [p for p in ordered if not p.required]
    for p in ordered:
        if p.wire == "stream" and stream_ann is not None:
            lines.append(f"{indent}{p.py}: {stream_ann},")
            continue
        if p.required:
            lines.append(f"{indent}{p.py}: {p.ann},")
        else:
            lines.append(f"{indent}{p.py}: {_ann_with_default(p)} = NOT_GIVEN,")
    lines += [
        f"{indent}extra_headers: Headers | None = None,",
        f"{indent}extra_query: Query | None = None,",
        f"{indent}extra_body: Body | None = None,",
        f"{indent}timeout: Timeout | float | NotGiven | None = NOT_GIVEN,",
        f"{indent}max_retries: int | NotGiven = NOT_GIVEN,",
    ]
    return lines


def _dict_literal(params: list[Param]) -> str:
    if not params:
        return "None"
    return "{" + ", ".join(f"{json.dumps(p.wire)}: {p.py}" for p in params) + "}"


def render_operation_facts(s: Surface) -> list[str]:
    """Keyword lines the operation table adds for ``s``."""
    out = [
        f"sdk_path={json.dumps(s.sdk_path)}",
        f"body_kind={json.dumps(s.body_kind)}",
        f"response_kind={json.dumps(s.response_kind)}",
        f"page_kind={json.dumps(s.page_kind)}",
    ]
    if s.body_params:
        out.append("body_params=(" + "".join(f"{json.dumps(n)}, " for n in s.body_params).rstrip(" ") + ")")
    if s.decoder is not None:
        out.append(f"stream_decoder={json.dumps(s.decoder)}")
    if s.item_model is not None:
        out.append(f"item_model={json.dumps(s.item_model)}")
    accept = accept_of(s)
    if accept is not None:
        out.append(f"accept={json.dumps(accept)}")
    return out


def accept_of(s: Surface) -> str | None:
    """The ``Accept`` header of a binary operation that declares its media
    types (a server may refuse ``application/json`` with a 406 there)."""
    if s.response_kind != "binary":
        return None
    types = [t for t in s.op.response_types if t != "text/event-stream"]
    if not any(t != "application/json" for t in types):
        return None
    return ", ".join(types)


_TYPING_NAMES = (
    "TYPE_CHECKING", "Any", "Awaitable", "Iterable", "Literal", "Mapping", "Sequence", "overload"
)


def typing_line(body: str) -> str:
    """``from typing import ...`` with only the names ``body`` uses."""
    used = [n for n in _TYPING_NAMES if n == "TYPE_CHECKING" or re.search(rf"\b{n}\b", body)]
    return f"from typing import {', '.join(used)}"


def member_key(name: str) -> tuple[int, str, str]:
    # isort's order by type: CONSTANTS, Classes, then functions and modules.
    kind = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
    return (kind, name.lower(), name)


def from_lines(module: str, names: set[str] | list[str], indent: str = "", used_in: str | None = None) -> list[str]:
    """One ``from module import ...`` (wrapped as isort would); with
    ``used_in``, only the names that text mentions."""
    if used_in is not None:
        names = [n for n in names if re.search(rf"\b{n}\b", used_in)]
        if not names:
            return []
    ordered = sorted(set(names), key=member_key)
    line = f"{indent}from {module} import {', '.join(ordered)}"
    if len(line) <= 100:
        return [line]
    return [f"{indent}from {module} import ("] + [f"{indent}    {n}," for n in ordered] + [f"{indent})"]


def import_block(imports: Imports, *, skip: set[str]) -> list[str]:
    lines: list[str] = []
    for module in sorted(imports.names):
        if module in skip:
            continue
        names = sorted(imports.names[module])
        if len(", ".join(names)) + len(module) < 80:
            lines.append(f"    from {module} import {', '.join(names)}")
        else:
            lines.append(f"    from {module} import (")
            lines += [f"        {n}," for n in names]
            lines.append("    )")
    return lines


def render_builders(gen: Generator, spec: dict[str, Any], surfaces: list[Surface]) -> str:
    imports = Imports()
    body: list[str] = []
    names: list[str] = []
    for s0 in surfaces:
        s = describe(gen, spec, s0.op, s0.body_kind, imports)
        name = builder_name(s.sdk_path)
        names.append(name)
        result = s.result_ann
        if s.page_kind != "none":
            result = "Any"
        ret = "Any" if s.streamable else result
        body += ["", "", f"def {name}("]
        body += signature_lines(s, indent="    ", self_arg=False)
        body.append(f") -> PreparedOperation[{ret}]:")
        body.append(f'    """Prepare `{s.op.operation_id}` ({s.op.method} {s.op.path})."""')
        call = prepare_call(s, "    ")
        body += ["    return " + call[0].lstrip(), *call[1:-1], "    )"]
    body_text = "\n".join(body)
    tc = Imports()
    tc.use("Timeout", "._config")
    for module, found in imports.names.items():
        for n in found:
            if module == "openai_sansio":
                tc.use(n, ".")
            else:
                tc.use(n, "." + module[len("openai_sansio."):])
    head = [
        HEADER.rstrip("\n"),
        '"""Typed request builders: one function per API operation.',
        "",
        "Each returns a ``PreparedOperation``: the operation, its formatted path,",
        "query and body, ready for any runtime to run (``openai_trio`` does it",
        "for its namespaces; see ``docs/sansio.md`` for a driver of your own).",
        "Names are the official SDK's method paths with dots as underscores:",
        "``files_create``, ``beta_threads_runs_submit_tool_outputs``.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        typing_line(body_text),
        "",
        "from ._call import NOT_GIVEN, NotGiven",
        "from ._operations import OPERATIONS",
        "from ._prepared import Body, Headers, PreparedOperation, Query, prepare",
        "",
        "if TYPE_CHECKING:",
    ]
    for module in sorted(tc.names, key=_relative_key):
        head += from_lines(module, tc.names[module], "    ", used_in=body_text)
    head += ["", "__all__ = ["]
    head += [f"    {json.dumps(n)}," for n in sorted(names)]
    head += ["]"]
    return "\n".join(head) + "\n" + body_text + "\n"


def _relative_key(module: str) -> tuple[int, str]:
    # Relative imports, furthest first; then by module path.
    dots = len(module) - len(module.lstrip("."))
    return (-dots, module.lstrip("."))


# -- trio namespaces ------------------------------------------------------


@dataclass
class Node:
    path: tuple[str, ...]
    children: dict[str, Node] = field(default_factory=dict)
    methods: dict[str, Surface] = field(default_factory=dict)

    @property
    def class_name(self) -> str:
        return "".join(part.title().replace("_", "") for part in self.path) or "Root"


def build_tree(surfaces: list[Surface]) -> Node:
    root = Node(())
    for s in surfaces:
        parts = s.sdk_path.split(".")
        node = root
        for i, part in enumerate(parts[:-1]):
            node = node.children.setdefault(part, Node(tuple(parts[: i + 1])))
        node.methods[parts[-1]] = s
    return root


def _walk(node: Node) -> list[Node]:
    out = [node]
    for child in node.children.values():
        out += _walk(child)
    return out


def method_lines(s: Surface, mode: str, *, stub: bool) -> list[str]:
    """One namespace method (or its overloads) for ``mode`` ("parsed", "raw"
    or "streaming"); ``stub`` writes signatures only (the typed views).

    Methods are plain functions returning what the executor gives back (a
    coroutine to await, a paginator, or an async context manager): the
    request is prepared, and caller mistakes raised, at the call itself.
    """
    name = s.sdk_path.rpartition(".")[2]
    result = _result_ann(s, mode, stream=False)
    out: list[str] = []
    if s.streamable:
        streamed = _result_ann(s, mode, stream=True)
        both = _result_ann(s, mode, stream=None)
        for stream_ann, ret in (
            ("Literal[False] | NotGiven = NOT_GIVEN", result),
            ("Literal[True]", streamed),
            ("bool", both),
        ):
            out += ["", "    @overload", f"    def {name}("]
            out += signature_lines(s, indent="        ", stream_ann=stream_ann, self_arg=True)
            out += [f"    ) -> {ret}: ..."]
        if stub:
            return [*out, "", f"    def {name}(self, *args: Any, **kwargs: Any) -> Any: ..."]
        out += ["", f"    def {name}("]
        out += signature_lines(s, indent="        ", stream_ann="bool | NotGiven = NOT_GIVEN", self_arg=True)
        out += [f"    ) -> {both}:"]
    else:
        out += ["", f"    def {name}("]
        out += signature_lines(s, indent="        ", self_arg=True)
        if stub:
            out += [f"    ) -> {result}: ..."]
            return out
        out += [f"    ) -> {result}:"]
    out.append(f'        """`{s.op.method} {s.op.path}` (`{s.op.operation_id}`)."""')
    # The same ``prepare`` call as the builder in ``openai_sansio.api``,
    # made here directly: forwarding dozens of keywords through the
    # builder would cost every call a few microseconds.
    out += [
        "        return self._transport.execute(  # type: ignore[no-any-return]",
        *prepare_call(s, "            "),
        "            self._mode,",
        "        )",
    ]
    return out


def prepare_call(s: Surface, indent: str) -> list[str]:
    """``prepare(...)`` for ``s``, as the builders and methods both write it."""
    path = [p for p in s.params if p.where == "path"]
    query = [p for p in s.params if p.where == "query"]
    body = [p for p in s.params if p.where == "body"]
    path_arg = "(" + "".join(f"{p.py}, " for p in path).rstrip(" ") + ")" if path else "()"
    return [
        f"{indent}prepare(",
        f"{indent}    OPERATIONS[{json.dumps(s.op.operation_id)}],",
        f"{indent}    {path_arg},",
        f"{indent}    {_dict_literal(query)},",
        f"{indent}    {_dict_literal(body)},",
        f"{indent}    extra_headers, extra_query, extra_body, timeout, max_retries,",
        f"{indent}),",
    ]


def _parsed_ann(s: Surface, stream: bool | None) -> str:
    if stream is None:
        return f"{_parsed_ann(s, False)} | {_parsed_ann(s, True)}"
    if stream:
        return f"AsyncStream[{s.stream_item_ann}]"
    if s.page_kind != "none":
        return f"{PAGE_CLASSES[s.page_kind]}[{s.item_ann}]"
    if s.response_kind == "binary":
        return "BinaryResponse"
    return s.result_ann


PAGE_CLASSES = {"cursor": "AsyncCursorPage", "page": "AsyncPageTokenPage", "single": "AsyncPage"}


def _result_ann(s: Surface, mode: str, *, stream: bool | None) -> str:
    parsed = _parsed_ann(s, stream)
    if mode == "parsed":
        if s.page_kind != "none" and stream is False:
            return f"AsyncPaginator[{s.item_ann}, {parsed}]"
        return f"Awaitable[{parsed}]"
    if mode == "raw":
        return f"Awaitable[RawResponse[{parsed}]]"
    if s.response_kind == "binary" and not stream:
        return "StreamedResponseManager[StreamedBinaryResponse]"
    return f"StreamedResponseManager[StreamedResponse[{parsed}]]"


def render_namespace_module(gen: Generator, spec: dict[str, Any], top: Node) -> str:
    imports = Imports()
    nodes = _walk(top)
    # Annotations are rebuilt here so their imports land in this module.
    for node in nodes:
        for key, s in list(node.methods.items()):
            node.methods[key] = _redescribe(gen, spec, s, imports)
    body: list[str] = []
    for node in reversed(nodes):
        body += _render_node(node)
    body_text = "\n".join(body)
    local = Imports()
    for name, module in (
        ("BinaryResponse", ".._binary"),
        ("StreamedBinaryResponse", ".._binary"),
        ("RawResponse", ".._client"),
        ("AsyncCursorPage", ".._pages"),
        ("AsyncPage", ".._pages"),
        ("AsyncPageTokenPage", ".._pages"),
        ("AsyncPaginator", ".._pages"),
        ("StreamedResponse", ".._streamed"),
        ("StreamedResponseManager", ".._streamed"),
        ("AsyncStream", ".._streams"),
    ):
        if re.search(rf"\b{name}\b", body_text):
            local.use(name, module)
    imports.use("Timeout", "openai_sansio")
    imports.use("Body", "openai_sansio._prepared")
    imports.use("Headers", "openai_sansio._prepared")
    imports.use("Query", "openai_sansio._prepared")
    head = [
        HEADER.rstrip("\n"),
        f'"""``client.{".".join(top.path)}`` and the namespaces under it."""',
        "",
        "from __future__ import annotations",
        "",
        typing_line(body_text),
        "",
        "from openai_sansio import NOT_GIVEN, OPERATIONS, NotGiven, prepare",
        "",
        *_mixin_imports(nodes),
        "",
        "if TYPE_CHECKING:",
    ]
    for module in sorted(imports.names, key=_absolute_key):
        head += from_lines(module, imports.names[module], "    ", used_in=body_text)
    head.append("")
    for module in sorted(local.names, key=_relative_key):
        head += from_lines(module, local.names[module], "    ")
    head += ["", f"__all__ = [{json.dumps(top.class_name)}]"]
    return "\n".join(head) + "\n" + body_text + "\n"


def _mixin_imports(nodes: list[Node]) -> list[str]:
    found = Imports()
    found.use("Namespace", ".._namespace")
    for node in nodes:
        for mixin in _mixins_of(node.path):
            found.use(mixin[1], mixin[0])
    lines: list[str] = []
    for module in sorted(found.names, key=_relative_key):
        lines += from_lines(module, found.names[module])
    return lines


def _absolute_key(module: str) -> list[str]:
    return module.split(".")


def _redescribe(gen: Generator, spec: dict[str, Any], s: Surface, imports: Imports) -> Surface:
    return describe(gen, spec, s.op, s.body_kind, imports)


def _render_node(node: Node) -> list[str]:
    out: list[str] = []
    cls = node.class_name
    mixins = _mixins_of(node.path)
    bases = ", ".join([*(mixin[1] for mixin in mixins), "Namespace"])
    replaced = {name for mixin in mixins for name in mixin[2]}
    for mode, suffix in (("raw", "WithRawResponse"), ("streaming", "WithStreamingResponse")):
        out += ["", "", "if TYPE_CHECKING:", "", f"    class {cls}{suffix}(Namespace):"]
        out.append(f'        """``{".".join(node.path)}``, every method {_MODE_TEXT[mode]}."""')
        for child, sub in node.children.items():
            out += ["", "        @property", f"        def {child}(self) -> {sub.class_name}{suffix}: ..."]
        for s in node.methods.values():
            out += ["    " + line if line else line for line in method_lines(s, mode, stub=True)]
    out += ["", "", f"class {cls}({bases}):", f'    """``client.{".".join(node.path)}``."""', ""]
    out.append("    __slots__ = ()")
    for child, sub in node.children.items():
        out += [
            "",
            "    @property",
            f"    def {child}(self) -> {sub.class_name}:",
            f"        return self._child({json.dumps(child)}, {sub.class_name})",
        ]
    out += [
        "",
        "    @property",
        f"    def with_raw_response(self) -> {cls}WithRawResponse:",
        "        \"\"\"This namespace with every method returning a ``RawResponse``.\"\"\"",
        '        return self._view("raw")  # type: ignore[return-value]',
        "",
        "    @property",
        f"    def with_streaming_response(self) -> {cls}WithStreamingResponse:",
        "        \"\"\"This namespace with every method returning an async context",
        "        manager around the unread response.\"\"\"",
        '        return self._view("streaming")  # type: ignore[return-value]',
    ]
    for name, s in node.methods.items():
        if name not in replaced:
            out += method_lines(s, "parsed", stub=False)
    return out


_MODE_TEXT = {
    "raw": "returning a ``RawResponse``",
    "streaming": "returning an async context manager around the unread response",
}


def render_namespaces(gen: Generator, spec: dict[str, Any], surfaces: list[Surface]) -> dict[str, str]:
    root = build_tree(surfaces)
    files: dict[str, str] = {}
    tops = sorted(root.children)
    for name in tops:
        files[f"openai_trio/_generated/{name}.py"] = render_namespace_module(gen, spec, root.children[name])
    if root.methods:
        raise SystemExit(f"operations at the top level: {sorted(root.methods)}")
    init = [
        HEADER.rstrip("\n"),
        '"""The client\'s top-level namespaces, each module imported on first use."""',
        "",
        "from __future__ import annotations",
        "",
        "from typing import TYPE_CHECKING",
        "",
        "from .._namespace import NamespaceRoot",
        "",
        "if TYPE_CHECKING:",
    ]
    for name in tops:
        init.append(f"    from .{name} import {root.children[name].class_name}")
    init += ["", '__all__ = ["Namespaces", "TOP_LEVEL"]', "", f"TOP_LEVEL = ({', '.join(json.dumps(t) for t in tops)},)"]
    init += ["", "", "class Namespaces(NamespaceRoot):", '    """Every top-level namespace of the API, as properties."""', ""]
    init.append("    __slots__ = ()")
    for name in tops:
        cls = root.children[name].class_name
        init += [
            "",
            "    @property",
            f"    def {name}(self) -> {cls}:",
            f"        return self._top({json.dumps(name)}, {json.dumps(cls)})  # type: ignore[return-value]",
        ]
    files["openai_trio/_generated/__init__.py"] = "\n".join(init) + "\n"
    return files
