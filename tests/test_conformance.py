"""Every operation of the spec against Prism, the spec's own mock server.

Two passes over ``OPERATIONS``:

- valid: each operation called once through its typed method
  (``client.<sdk_path>(**keywords)``) with a request made from the spec's
  schemas (``spec_examples``); Prism checks the request against the spec
  (a 422 if it does not conform) and answers with a response made from the
  spec, which must decode into the typed result: a model, a page of models,
  binary content, or ``None`` for an empty body.
- invalid: each operation that takes a body is sent one the spec refuses
  (a required field left out, or a field of the wrong type) through the raw
  ``client.request`` path, which does no local checks (a form, through the
  typed method with the field left at ``NOT_GIVEN``), and must raise the
  typed ``APIStatusError`` subclass for Prism's 4xx, whose list of problems
  names the field.

Streaming operations are called without ``stream=True``: Prism cannot
write an event stream (it answers ``text/event-stream`` with a 500,
"Cannot serialise complex objects as text"), so the streamed forms are
tested against the fake server elsewhere, not here.

Prism runs where ``PRISM_URL`` points; ``tools/test.sh`` starts one through
``tools/prism.sh``.  Without it these tests fail (never skip): deselect
them with ``-m "not conformance"`` to run the rest without Prism.  The
counts are printed at the end of the run and written to
``CONFORMANCE_REPORT`` (default ``.prism/conformance.json``).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import keyword
import os
from pathlib import Path
from typing import Any, Iterator

import attrs
import pytest
import spec_examples

import openai_trio
from openai_sansio._operations import OPERATIONS, Operation

pytestmark = pytest.mark.timeout(60)

# Seconds each request may take: Prism answers in well under one, even on a
# busy machine; a hung server must fail the test, not stall the run.
REQUEST_TIMEOUT = 15.0

REPORT_PATH = Path(
    os.environ.get("CONFORMANCE_REPORT")
    or Path(__file__).resolve().parent.parent / ".prism" / "conformance.json"
)

# Operations Prism cannot serve as the spec says, and why.  Each is an
# expected failure (strict: one that starts passing fails the run, so the
# table stays true).
PRISM_CANNOT_SERVE: dict[str, str] = {}

# Filled by the tests, read by ``summary`` (the terminal summary hook in
# conftest.py) and written to REPORT_PATH.
RESULTS: dict[str, dict[str, str]] = {"valid": {}, "invalid": {}}

# The first test that could not reach Prism (connection refused, timed out).
_PRISM_GONE: list[str] = []

_EXAMPLES = spec_examples.Examples(spec_examples.derived_spec())
_SPEC_OPS = {op["operationId"]: (method, path, op) for method, path, op in _EXAMPLES.operations()}
_BODY_OPS = sorted(oid for oid, op in OPERATIONS.items() if op.body_kind != "none")


def _content_type(op: Operation) -> str | None:
    if op.body_kind == "json":
        return "application/json"
    if op.body_kind == "multipart":
        return "multipart/form-data"
    if op.body_kind == "raw":
        return next(t for t in op.content_types if t not in ("application/json", "multipart/form-data"))
    return None


def _example(operation_id: str) -> spec_examples.RequestExample:
    method, path, spec_op = _SPEC_OPS[operation_id]
    return _EXAMPLES.request(method, path, spec_op, _content_type(OPERATIONS[operation_id]))


def prism_url() -> str:
    url = os.environ.get("PRISM_URL")
    if not url:
        pytest.fail(
            "PRISM_URL is not set: these tests call a Prism mock server. "
            "`bash tools/test.sh` starts one (through tools/prism.sh), as does "
            "`bash tools/prism.sh python -m pytest tests/test_conformance.py`; "
            "or deselect them with -m 'not conformance'.",
            pytrace=False,
        )
    return url.rstrip("/")


def _client(operation_id: str) -> openai_trio.Client:
    # The ``?beta=true`` copies are served under their own prefix (see
    # tools/prism_spec.py); the client still adds the query itself.
    beta = OPERATIONS[operation_id].fixed_query != ()
    prefix = "/_beta/v1" if beta else "/v1"
    return openai_trio.Client(
        base_url=prism_url() + prefix, api_key="sk-test", max_retries=0, timeout=REQUEST_TIMEOUT
    )


def _keyword(name: str) -> str:
    return name + "_" if keyword.iskeyword(name) else name


def _file_value(value: Any) -> Any:
    content = value.encode() if isinstance(value, str) else b"binary-content"
    return ("example.bin", content, "application/octet-stream")


def _typed_keywords(example: spec_examples.RequestExample) -> dict[str, Any]:
    """The typed method's keywords: path, query and body fields by name."""
    kwargs: dict[str, Any] = {}
    for name, param in example.path_params.items():
        kwargs[_keyword(name)] = param
    for name, value in example.query.items():
        kwargs[_keyword(name)] = value
    if isinstance(example.body, dict):
        for name, field in example.body.items():
            if name in example.file_fields:
                field = [_file_value(v) for v in field] if isinstance(field, list) else _file_value(field)
            kwargs[_keyword(name)] = field
    return kwargs


def _method(client: openai_trio.Client, op: Operation) -> Any:
    target: Any = client
    for part in op.sdk_path.split("."):
        target = getattr(target, part)
    return target


async def _check_result(op: Operation, result: Any) -> str:
    """What the typed result is, or AssertionError if it is not typed."""
    if op.response_kind == "empty":
        assert result is None, f"an empty 2xx should give None, got {result!r}"
        return "None"
    if op.response_kind == "binary":
        content = result.read()
        if inspect.isawaitable(content):
            content = await content
        assert isinstance(content, bytes), f"binary content should read as bytes, got {content!r}"
        return f"{type(result).__name__} ({len(content)} bytes)"
    if op.page_kind != "none":
        items = list(result.data)
        assert all(attrs.has(type(item)) for item in items), f"untyped page items: {items!r}"
        return f"{type(result).__name__} of {len(items)}"
    assert attrs.has(type(result)), f"expected a model, got {type(result).__name__}: {result!r}"
    return type(result).__name__


def _params(ids: list[str]) -> list[Any]:
    out = []
    for oid in ids:
        reason = PRISM_CANNOT_SERVE.get(oid)
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
        out.append(pytest.param(oid, id=oid, marks=marks))
    return out


@pytest.mark.conformance
@pytest.mark.parametrize("operation_id", _params(list(OPERATIONS)))
async def test_valid_request(operation_id: str) -> None:
    with _recorded("valid", operation_id) as note:
        op = OPERATIONS[operation_id]
        example = _example(operation_id)
        async with _client(operation_id) as client:
            call = _method(client, op)(**_typed_keywords(example))
            # List methods return a paginator, awaited for its first page.
            result = await call if inspect.isawaitable(call) else call
            note.append(await _check_result(op, result))


@pytest.mark.conformance
@pytest.mark.parametrize("operation_id", _params(_BODY_OPS))
async def test_invalid_body(operation_id: str) -> None:
    with _recorded("invalid", operation_id) as note:
        op = OPERATIONS[operation_id]
        example = _example(operation_id)
        bad, why, field = _EXAMPLES.invalid_body(example)
        note.append(why)
        query = {**example.query, **dict(op.fixed_query)}
        # A form cannot carry a wrongly typed field (a nested list, say): an
        # operation with no required field to leave out is sent its bad body
        # as JSON, when it takes JSON too.
        form = op.body_kind == "multipart" and (
            why.startswith("required") or "application/json" not in op.content_types
        )
        async with _client(operation_id) as client:
            with pytest.raises(openai_trio.APIStatusError) as info:
                if form:
                    # No raw multipart path: the typed method, with the
                    # missing field NOT_GIVEN (which the builder drops
                    # without checking, like any unset keyword).
                    kwargs = _typed_keywords(attrs.evolve(example, body=bad))
                    for name in example.body:
                        kwargs.setdefault(_keyword(name), openai_trio.NOT_GIVEN)
                    await _method(client, op)(**kwargs)
                else:
                    await client.request(
                        op.method, op.format_path(**example.path_params), body=bad, query=query or None
                    )
        status = info.value.status_code
        assert status in (400, 422), f"expected Prism's 400 or 422, got {status}: {info.value}"
        expected = openai_trio.BadRequestError if status == 400 else openai_trio.UnprocessableEntityError
        assert type(info.value) is expected
        note.append(type(info.value).__name__)
        if status == 422:
            # Prism's own 422 lists what it found wrong: the field we broke
            # (not, say, a malformed form). A 400 is the spec's example.
            found = info.value.response.json()["validation"]
            assert field in json.dumps(found), f"Prism refused the body for another reason: {found}"


@contextlib.contextmanager
def _recorded(kind: str, operation_id: str) -> Iterator[list[str]]:
    """Record the test's outcome for the counts; ``note`` collects what it saw."""
    note: list[str] = []
    if _PRISM_GONE:
        # Each of the remaining tests would wait out its timeout against a
        # server that no longer answers: fail them at once instead.
        RESULTS[kind][operation_id] = "failed: not run, Prism stopped answering"
        pytest.fail(f"not run: Prism stopped answering in {_PRISM_GONE[0]}", pytrace=False)
    try:
        yield note
    except BaseException as exc:
        if isinstance(exc, openai_trio.APIConnectionError):
            _PRISM_GONE.append(operation_id)
        text = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        if isinstance(exc, openai_trio.APIStatusError):
            # Prism says what it found wrong with the request.
            text += " " + exc.response.text[:500]
        RESULTS[kind][operation_id] = "failed: " + "; ".join([*note, text])
        raise
    RESULTS[kind][operation_id] = "passed: " + "; ".join(note)


def summary() -> list[str]:
    """The counts, for the terminal summary; also written to REPORT_PATH."""
    lines = []
    totals = {"valid": len(OPERATIONS), "invalid": len(_BODY_OPS)}
    report: dict[str, Any] = {}
    for kind, results in RESULTS.items():
        if not results:
            continue
        passed = sorted(k for k, v in results.items() if v.startswith("passed"))
        failed = sorted(k for k in results if k not in passed)
        lines.append(
            f"conformance {kind} pass: {len(passed)}/{totals[kind]} passed"
            f" ({len(results)} run, {len(failed)} failed)"
        )
        report[kind] = {
            "total": totals[kind],
            "run": len(results),
            "passed": len(passed),
            "failed": {k: PRISM_CANNOT_SERVE.get(k, results[k]) for k in failed},
            "outcomes": dict(sorted(results.items())),
        }
    if report:
        REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
        REPORT_PATH.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        lines.append(f"conformance counts written to {REPORT_PATH}")
    return lines


def test_examples_validate_locally() -> None:
    """Every generated request body validates against its schema here too
    (so a Prism 422 in the valid pass points at the client, not at the
    example), and every invalid body is refused."""
    for oid, op in OPERATIONS.items():
        example = _example(oid)
        if example.body_schema is None or example.body_type not in ("application/json", "multipart/form-data"):
            continue
        assert _EXAMPLES.is_valid(example.body, example.body_schema), oid
        if op.body_kind != "none":
            bad, _, _ = _EXAMPLES.invalid_body(example)
            assert not _EXAMPLES.is_valid(bad, example.body_schema), oid


def test_prism_spec_derivation() -> None:
    """The derived spec keeps every operation and says ``nullable`` the way
    Prism reads it."""
    spec = spec_examples.derived_spec()
    ids = [op["operationId"] for _, _, op in spec_examples.Examples(spec).operations()]
    assert sorted(ids) == sorted(OPERATIONS)
    assert _keywords_found(spec, "nullable") == 0
    assert _keywords_found(spec_examples.raw_spec(), "nullable") > 100
    module = spec_examples.prism_spec_module()
    header: dict[str, Any] = {
        "name": "openai-beta",
        "in": "header",
        "schema": {"type": "array", "items": {"type": "string", "enum": ["x=1"]}},
    }
    body: dict[str, Any] = {
        "properties": {
            "n": {"nullable": True, "$ref": "#/c"},
            "s": {"type": "string", "nullable": True},
            "e": {"type": "string", "enum": ["a"], "nullable": True},
        },
        # Examples are data: left as they are.
        "example": {"nullable": True},
    }
    framed = {"Transfer-Encoding": {"schema": {"type": "string"}}}
    located = {"Location": {"schema": {"type": "string"}}, "content-length": {"schema": {"type": "integer"}}}
    derived = module.derive(
        {
            "openapi": "3.1.0",
            "servers": [{"url": "https://example.com/v1"}],
            "paths": {
                "/a?beta=true": {"get": {"parameters": [header]}},
                "/b": {
                    "post": {
                        "requestBody": {"content": {"application/json": {"schema": body}}},
                        "responses": {"200": {"headers": framed}, "201": {"headers": located}},
                    }
                },
            },
        }
    )
    assert "servers" not in derived
    assert derived["paths"] == {
        "/_beta/v1/a": {
            "get": {
                "parameters": [
                    {
                        "name": "openai-beta",
                        "in": "header",
                        "schema": {"type": "string", "pattern": "^(?:x=1)(?:, ?(?:x=1))*$"},
                    },
                    {"name": "beta", "in": "query", "required": True, "schema": {"type": "string", "enum": ["true"]}},
                ]
            }
        },
        "/v1/b": {
            "post": {
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "properties": {
                                    "n": {"anyOf": [{"$ref": "#/c"}, {"type": "null"}]},
                                    "s": {"type": ["string", "null"]},
                                    "e": {"type": ["string", "null"], "enum": ["a", None]},
                                },
                                "example": {"nullable": True},
                            }
                        }
                    }
                },
                "responses": {"200": {}, "201": {"headers": {"Location": {"schema": {"type": "string"}}}}},
            }
        },
    }
    # derive() builds a new spec, leaving its input as it was.
    assert header["schema"]["type"] == "array"
    assert "nullable" in body["properties"]["s"]


def _keywords_found(node: Any, name: str, in_names: bool = False) -> int:
    """How many schemas use keyword ``name`` (not counting data or names)."""
    if isinstance(node, list):
        return sum(_keywords_found(item, name) for item in node)
    if not isinstance(node, dict):
        return 0
    found = 0 if in_names else int(name in node)
    for key, value in node.items():
        if in_names:
            found += _keywords_found(value, name)
        elif key not in ("example", "examples", "default", "enum", "const"):
            names = key in ("properties", "patternProperties", "schemas", "paths", "responses")
            found += _keywords_found(value, name, names)
    return found


def test_prism_url_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRISM_URL", raising=False)
    with pytest.raises(pytest.fail.Exception, match="PRISM_URL is not set"):
        prism_url()



def _small(schema: dict[str, Any], **components: Any) -> Any:
    examples = spec_examples.Examples({"paths": {}, "components": {"schemas": components}})
    return examples.value(schema)


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        # An example is taken when it validates, skipped when it does not.
        ({"type": "string", "example": "hello"}, "hello"),
        ({"type": "integer", "example": "ten", "minimum": 3}, 3),
        ({"type": "number", "exclusiveMinimum": 0, "maximum": 1}, 0.5),
        ({"type": "integer", "exclusiveMaximum": 0}, -1),
        ({"type": "string", "minLength": 5}, "aaaaa"),
        ({"type": "string", "format": "date-time"}, "2024-01-01T00:00:00Z"),
        ({"type": "string", "pattern": "^file-[A-Za-z0-9]+$"}, "file-abc"),
        ({"enum": [None, "b"]}, "b"),
        ({"type": ["null", "boolean"]}, False),
        ({"type": "array", "items": {"const": 7}, "minItems": 2}, [7, 7]),
        # 0 and 1 match both branches of the oneOf (an integer is a
        # number too): only a fraction matches exactly one.
        ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, 0.5),
        (
            {"allOf": [{"$ref": "#/components/schemas/A"}, {"required": ["b"], "properties": {"b": {"const": 2}}}]},
            {"a": 1, "b": 2},
        ),
        ({"anyOf": [{"$ref": "#/components/schemas/A"}, {"type": "null"}]}, {"a": 1}),
    ],
)
def test_example_generator(schema: dict[str, Any], expected: Any) -> None:
    a = {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer", "minimum": 1}}}
    assert _small(schema, A=a) == expected


def test_example_generator_says_when_it_cannot() -> None:
    with pytest.raises(spec_examples.Unsatisfiable):
        _small({"type": "string", "pattern": "^[0-9]{40}$"})
    with pytest.raises(spec_examples.Unsatisfiable):
        _small({"allOf": [{"type": "string"}, {"type": "integer"}]})
