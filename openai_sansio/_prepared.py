"""A typed call turned into data: what ``openai_sansio.api`` builders return.

A ``PreparedOperation`` names the operation, its formatted path, the query
and body the caller gave (``NOT_GIVEN`` keywords left out) and the per-call
options.  It performs no I/O and holds no client: a runtime turns it into a
``Call`` with its own configuration, runs it, and uses the operation's
``response_kind``, ``page_kind`` and ``stream_decoder`` to shape the result.
"""

from __future__ import annotations

from typing import Any, Callable, Generic, Iterable, Iterator, Mapping, TypeVar

from ._call import NOT_GIVEN, NotGiven, RequestOptions
from ._config import Timeout
from ._errors import LocalProtocolError
from ._operation_base import Operation

__all__ = ["Body", "Headers", "PreparedOperation", "Query", "item_parser", "prepare", "result_parser"]

R = TypeVar("R")

Headers = Mapping[str, "str | None"]
Query = Mapping[str, object]
Body = Mapping[str, object]

_SCALARS = frozenset({str, bytes, int, float, bool, type(None)})
# Deeper than any real request; a self-referencing list would otherwise
# recurse until Python gives up.
_MAX_DEPTH = 200


class _TooDeep(LocalProtocolError):
    """Raised deep inside ``_jsonable``; ``prepare`` replaces it with a
    message naming the body field and whether it holds itself."""


def _jsonable(value: object, depth: int = 0) -> object:
    # Callers pass tuples, generators and read-only mappings where the API
    # wants arrays and objects; json only knows lists and dicts.
    if depth > _MAX_DEPTH:
        raise _TooDeep(
            f"request body nested deeper than {_MAX_DEPTH} levels (or it contains itself)"
        )
    kind = type(value)
    if kind in _SCALARS:
        return value
    scalars = _SCALARS
    # The shapes callers nearly always pass come first: the ABC checks
    # below cost more than the copy.  Leaves are tested inline: a message
    # list is mostly strings.
    if kind is dict:
        return {
            k: v if type(v) in scalars else _jsonable(v, depth + 1)
            for k, v in value.items()  # type: ignore[attr-defined]
        }
    if kind is list:
        return [v if type(v) in scalars else _jsonable(v, depth + 1) for v in value]  # type: ignore[attr-defined]
    if isinstance(value, (str, bytes, int, float, bool)):
        return value
    if isinstance(value, Mapping):
        return {k: _jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, Iterable):
        return [_jsonable(v, depth + 1) for v in value]
    return value


def _contains_itself(root: object) -> bool:
    """Whether a dict, list or tuple inside ``root`` holds one of its own
    ancestors.  Only run once a body has proved too deep, so a cycle and a
    merely deep body get different messages; iterative, so it cannot
    recurse, and it enters each container once (a body sharing one list
    many times over is not walked once per path) and no deeper than
    ``_MAX_DEPTH``."""
    containers = (Mapping, list, tuple)

    def children(value: object) -> Iterator[object]:
        if isinstance(value, Mapping):
            return iter(value.values())
        assert isinstance(value, (list, tuple))
        return iter(value)

    if not isinstance(root, containers):
        return False
    on_path = [id(root)]
    ancestors = {id(root)}
    entered = {id(root)}
    stack = [children(root)]
    end = object()
    while stack:
        child = next(stack[-1], end)
        if child is end:
            stack.pop()
            ancestors.discard(on_path.pop())
            continue
        if type(child) in _SCALARS or not isinstance(child, containers):
            continue
        key = id(child)
        if key in ancestors:
            return True
        if key not in entered and len(stack) <= _MAX_DEPTH:
            entered.add(key)
            on_path.append(key)
            ancestors.add(key)
            stack.append(children(child))
    return False


def _too_deep(field: object, value: object) -> LocalProtocolError:
    shown = field if isinstance(field, str) else type(field).__name__
    if _contains_itself(value):
        return LocalProtocolError(
            f"body field {shown!r} contains itself (a circular reference), which JSON cannot encode"
        )
    return LocalProtocolError(
        f"body field {shown!r} is nested more than {_MAX_DEPTH} levels deep; "
        "no API request needs that many"
    )


class PreparedOperation(Generic[R]):
    """One typed call, ready for a runtime; ``R`` is its parsed result.

    ``body`` is the JSON object for ``body_kind == "json"``, the form
    fields (file values untouched) for ``"multipart"``, and ``{"content":
    bytes}`` for ``"raw"``.  ``stream`` is whether the caller asked for an
    event stream (``stream=True``).
    """

    __slots__ = ("body", "operation", "options", "path", "query", "stream", "transform")

    def __init__(
        self,
        operation: Operation,
        path: str,
        query: dict[str, object] | None,
        body: dict[str, object] | None,
        options: RequestOptions,
        stream: bool,
    ) -> None:
        self.operation = operation
        self.path = path
        self.query = query
        self.body = body
        self.options = options
        self.stream = stream
        # Applied to the decoded JSON before the model parses it (see
        # ``_ADJUSTMENTS``); None for nearly every call.
        self.transform: Callable[[Any], Any] | None = None

    def body_arguments(self, multipart_random: bytes | None = None) -> dict[str, Any]:
        """The body as ``Call`` takes it: ``{"body": json}``, ``{"multipart":
        form}`` (its boundary from the 16 ``multipart_random`` bytes) or
        ``{"content": bytes, "content_type": type}``."""
        op = self.operation
        body = self.body
        if op.body_kind == "multipart":
            if multipart_random is None:
                raise LocalProtocolError(
                    f"{op.operation_id} sends a form: pass multipart_random (16 random bytes) for its boundary"
                )
            from ._multipart import encode_multipart

            return {"multipart": encode_multipart(body or {}, random_bytes=multipart_random)}
        if op.body_kind == "raw":
            return {
                "content": (body or {}).get("content", b""),
                "content_type": op.content_types[0] if op.content_types else None,
            }
        return {"body": body}

    def result_parser(self) -> Callable[[Any], Any] | None:
        """What turns the decoded JSON of a 2xx into the result: the
        operation's model (shape errors become ``APIResponseValidationError``),
        the JSON itself when the spec names no model, None for an empty
        response.  Binary responses do not use it."""
        op = self.operation
        found = _PARSERS.get(op.operation_id)
        parse = (found if found is not None else _parsers(op))[0]
        transform = self.transform
        if transform is None or parse is None:
            return parse

        def parse_transformed(data: Any, parse: Callable[[Any], Any] = parse) -> Any:
            return parse(transform(data))

        return parse_transformed

    def __repr__(self) -> str:
        # The body may be large and the query may hold anything: name the
        # call only.
        op = self.operation
        return f"<PreparedOperation {op.operation_id}: {op.method} {self.path}>"


_NO_OPTIONS = RequestOptions()


def _identity(data: Any) -> Any:
    return data


# operationId -> (result parser, page item parser); resolved on first use so
# a model module is imported only when its operation is called.
_PARSERS: dict[str, tuple[Callable[[Any], Any] | None, Callable[[Any], Any]]] = {}


def _parsers(op: Operation) -> tuple[Callable[[Any], Any] | None, Callable[[Any], Any]]:
    found = _PARSERS.get(op.operation_id)
    if found is not None:
        return found
    from .types import parse_model

    def checked(model: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
        if model is None:
            return _identity

        def parse(data: Any) -> Any:
            return parse_model(model, data)

        return parse

    result = None if op.response_kind == "empty" else checked(op.response_parser())
    found = _PARSERS[op.operation_id] = (result, checked(op.item_parser()))
    return found


def result_parser(operation: Operation) -> Callable[[Any], Any] | None:
    """The parser of ``operation``'s 2xx JSON (None: an empty response)."""
    return _parsers(operation)[0]


def item_parser(operation: Operation) -> Callable[[Any], Any]:
    """The parser of one page item of a list ``operation`` (the JSON itself
    when the spec names no model)."""
    return _parsers(operation)[1]


def prepare(
    operation: Operation,
    path_values: tuple[object, ...],
    query: Mapping[str, object] | None,
    body: Mapping[str, object] | None,
    extra_headers: Headers | None,
    extra_query: Query | None,
    extra_body: Body | None,
    timeout: Timeout | float | NotGiven | None,
    max_retries: int | NotGiven,
) -> PreparedOperation[Any]:
    """Build a ``PreparedOperation``: substitute the path, drop keywords left
    at ``NOT_GIVEN`` and (for JSON) copy containers into lists and dicts.

    The generated builders call this; it raises ``LocalProtocolError`` for a
    bad path value or an unencodable body before anything is sent.
    """
    path = operation.path_for(path_values)
    not_given = NOT_GIVEN
    query_out: dict[str, object] | None = None
    if query:
        query_out = {}
        for k, v in query.items():
            if v is not_given:
                continue
            query_out[k] = list(v) if isinstance(v, (list, tuple)) else v
    if operation.fixed_query:
        query_out = {**dict(operation.fixed_query), **(query_out or {})}
    body_out: dict[str, object] | None = None
    if body is not None:
        body_out = {}
        if operation.body_kind == "json":
            scalars = _SCALARS
            for k, v in body.items():
                if v is not_given:
                    continue
                if type(v) in scalars:
                    body_out[k] = v
                    continue
                try:
                    body_out[k] = _jsonable(v)
                except _TooDeep:
                    raise _too_deep(k, v) from None
                except RecursionError:
                    # The caller's own stack was already deep when it made
                    # the call, so even a body within the limit ran out.
                    raise LocalProtocolError(
                        f"body field {k!r} is nested too deeply to copy with the "
                        "Python stack that is left (raise sys.setrecursionlimit)"
                    ) from None
        else:
            for k, v in body.items():
                if v is not_given:
                    continue
                body_out[k] = v
    if operation.accept is not None:
        # A caller's own Accept (or its removal) still wins.
        extra_headers = {"accept": operation.accept, **(extra_headers or {})}
    if (
        extra_headers is None
        and extra_query is None
        and extra_body is None
        and timeout is not_given
        and max_retries is not_given
    ):
        # Immutable, so every plain call shares it.
        options = _NO_OPTIONS
    else:
        options = RequestOptions(
            extra_headers=extra_headers,
            extra_query=extra_query,
            extra_body=extra_body,
            timeout=timeout,
            max_retries=max_retries,
        )
    stream = (body_out is not None and body_out.get("stream") is True) or (
        query_out is not None and query_out.get("stream") is True
    )
    prepared: PreparedOperation[Any] = PreparedOperation(operation, path, query_out, body_out, options, stream)
    adjust = _ADJUSTMENTS.get(operation.operation_id)
    if adjust is not None:
        adjust(prepared)
    return prepared


def _embeddings_as_base64(prepared: PreparedOperation[Any]) -> None:
    # As the official SDK does: ask for base64 when the caller chose no
    # format (a quarter of the bytes of JSON floats) and decode it back, so
    # the caller still gets lists of floats.
    from ._embeddings import decode_embeddings_response, embeddings_encoding_format

    body = prepared.body
    if body is None:
        return
    requested = body.get("encoding_format", NOT_GIVEN)
    body["encoding_format"] = embeddings_encoding_format(requested)  # type: ignore[arg-type]

    def transform(data: Any) -> Any:
        return decode_embeddings_response(data, requested)  # type: ignore[arg-type]

    prepared.transform = transform


# operationId -> what to change in a prepared call: the few places where the
# official SDK does more than send what it was given.
_ADJUSTMENTS: dict[str, Callable[[PreparedOperation[Any]], None]] = {
    "createEmbedding": _embeddings_as_base64,
}
