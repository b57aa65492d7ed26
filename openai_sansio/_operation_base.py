"""The runtime behind the generated operation table.

``_operations.py`` is written by ``tools/generate_models.py`` and holds only
data: ``OPERATIONS`` (operationId -> ``Operation``) and ``_BODY_RULES``
(operationId -> what ``validate_request`` checks), bound together by an
``OperationTable``.  The behaviour lives here, as ordinary tested code, so
regenerating never touches it and a table built from another spec (the
generator's tests) gets its own lookups.

``validate_request`` checks a JSON body against the few rules a client can
enforce before sending: required fields, top-level JSON types and numeric
bounds.  Six spec paths carry a ``?beta=true`` query; their ``path`` is the
bare path and the query is kept in ``fixed_query`` for the caller to merge.
"""

from __future__ import annotations

import importlib
import math
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping, Tuple, Union
from urllib.parse import quote, urlencode

import attrs

from ._errors import LocalProtocolError

if TYPE_CHECKING:
    from ._request import Request

__all__ = [
    "BodyKind",
    "BodyRules",
    "FieldRule",
    "Operation",
    "OperationTable",
    "PageKind",
    "ResponseKind",
    "check_body",
]

# (name, JSON kinds bit set or 0 for any, minimum, maximum, exclusive minimum)
FieldRule = Tuple[str, int, Union[float, None], Union[float, None], Union[float, None]]
# (required names, rules of the fields that have any)
BodyRules = Tuple[Tuple[str, ...], Tuple[FieldRule, ...]]

# Bits of a FieldRule's kinds; the generator writes the same values.
_STR, _INT, _NUM, _BOOL, _ARR, _OBJ, _NULL = 1, 2, 4, 8, 16, 32, 64
_KIND_NAMES = (
    (_STR, "a string"),
    (_INT, "an integer"),
    (_NUM, "a number"),
    (_BOOL, "a boolean"),
    (_ARR, "an array"),
    (_OBJ, "an object"),
    (_NULL, "null"),
)


BodyKind = Literal["none", "json", "multipart", "raw"]
ResponseKind = Literal["json", "binary", "empty"]
PageKind = Literal["none", "cursor", "page", "single"]


@attrs.frozen(kw_only=True)
class Operation:
    """One API operation.  ``path`` has ``{name}`` placeholders.

    What a typed surface needs besides the HTTP shape: ``sdk_path`` is the
    official SDK's method for it (``"beta.threads.runs.submit_tool_outputs"``);
    ``body_kind`` says how the body goes on the wire (``"json"``,
    ``"multipart"`` form data, ``"raw"`` bytes, ``"none"``); ``body_params``
    names its top-level fields; ``response_kind`` says what a 2xx carries (a
    JSON model, ``"binary"`` content, or nothing); ``page_kind`` how a list
    pages: ``"cursor"`` (``after`` = the last item's id), ``"page"`` (a
    ``page`` token from ``next_page``), ``"single"`` (one page holds all) or
    ``"none"`` (not a list); ``item_model`` the parser of page items;
    ``stream_decoder`` the ``openai_sansio`` decoder class of a streamed 2xx;
    ``accept`` the ``Accept`` header of a binary operation, when it is not
    ``application/json``.
    """

    operation_id: str
    method: str
    path: str
    path_params: tuple[str, ...] = ()
    query_params: tuple[str, ...] = ()
    has_json_body: bool = False
    content_types: tuple[str, ...] = ()
    response_content_types: tuple[str, ...] = ()
    streams: bool = False
    response_model: str | None = None
    stream_model: str | None = None
    fixed_query: tuple[tuple[str, str], ...] = ()
    tag: str | None = None
    sdk_path: str = ""
    body_kind: BodyKind = "none"
    response_kind: ResponseKind = "json"
    page_kind: PageKind = "none"
    body_params: tuple[str, ...] = ()
    stream_decoder: str | None = None
    item_model: str | None = None
    accept: str | None = None

    def format_path(self, **params: object) -> str:
        """The path with each parameter percent-encoded as one segment."""
        for name in params:
            if name not in self.path_params:
                raise LocalProtocolError(
                    f"Unexpected path parameter `{name}` for {self.operation_id}"
                )
        return self.path_for(tuple(params.get(name) for name in self.path_params))

    def path_for(self, values: tuple[object, ...]) -> str:
        """The path with ``values`` (in ``path_params`` order) substituted,
        each percent-encoded as one segment.

        An empty value, a non-string, or ``.``/``..`` (which a server or
        proxy would resolve as a dot segment, reaching another resource) is
        refused with ``LocalProtocolError``.
        """
        if not values and not self.path_params:
            return self.path
        if len(values) != len(self.path_params):
            raise LocalProtocolError(
                f"{self.operation_id} takes {len(self.path_params)} path values, not {len(values)}"
            )
        encoded: dict[str, str] = {}
        for name, value in zip(self.path_params, values, strict=True):
            if not isinstance(value, str) or not value or value in (".", ".."):
                raise LocalProtocolError(
                    f"Expected a non-empty value for `{name}` (not '.' or '..') but received {value!r}"
                )
            encoded[name] = quote(value, safe="")
        return self.path.format_map(encoded)

    def target(self, **params: object) -> str:
        """``format_path`` plus the operation's fixed query (``?beta=true``).

        Callers adding their own query parameters should use ``format_path``
        and merge ``fixed_query`` themselves.
        """
        path = self.format_path(**params)
        if not self.fixed_query:
            return path
        return path + "?" + urlencode(self.fixed_query)

    def response_parser(self, *, stream: bool = False) -> Callable[[Any], Any] | None:
        """The ``from_dict`` (or union parser) for the 200 body or stream items.

        Imports the model module on first use; ``None`` when the spec names
        no JSON model.
        """
        return _resolve(self.stream_model if stream else self.response_model)

    def item_parser(self) -> Callable[[Any], Any] | None:
        """The parser of one page item of a list operation, if the spec names one."""
        return _resolve(self.item_model)

    def make_stream_decoder(self, request: Request | None = None) -> Any:
        """A fresh ``StreamDecoder`` (of the class ``stream_decoder`` names)
        for one streamed response of this operation."""
        from . import _streaming

        if self.stream_decoder is None:
            raise LocalProtocolError(f"{self.operation_id} does not stream")
        cls = getattr(_streaming, self.stream_decoder)
        parse = self.response_parser(stream=True)
        if cls is _streaming.StreamDecoder:
            return cls(dict if parse is None else parse, request=request)
        if parse is None or self.stream_decoder != "ResponseStreamDecoder":
            return cls(request=request)
        return cls(parse=parse, request=request)


def _resolve(target: str | None) -> Callable[[Any], Any] | None:
    if target is None:
        return None
    module, _, name = target.rpartition(".")
    obj = getattr(importlib.import_module(module), name)
    parser: Callable[[Any], Any] = getattr(obj, "from_dict", obj)
    return parser


def _kind_ok(value: object, kinds: int) -> bool:
    if isinstance(value, str):
        return bool(kinds & _STR)
    if isinstance(value, bool):
        return bool(kinds & _BOOL)
    if isinstance(value, int):
        return bool(kinds & (_INT | _NUM))
    if isinstance(value, float):
        return bool(kinds & _NUM) or (bool(kinds & _INT) and value.is_integer())
    if isinstance(value, (list, tuple)):
        return bool(kinds & _ARR)
    if isinstance(value, Mapping):
        return bool(kinds & _OBJ)
    return False


def _describe(kinds: int) -> str:
    names = [text for bit, text in _KIND_NAMES if kinds & bit]
    return " or ".join(names)


class OperationTable:
    """Lookups over one generated table; ``_operations`` exports its methods.

    Both mappings are used as given, not copied, so the module-level dicts
    stay the single source a test may patch.
    """

    __slots__ = ("_body_rules", "_operations")

    def __init__(
        self, operations: Mapping[str, Operation], body_rules: Mapping[str, BodyRules]
    ) -> None:
        self._operations = operations
        self._body_rules = body_rules

    def get_operation(self, operation_id: str) -> Operation:
        """``OPERATIONS[operation_id]``, with ``LocalProtocolError`` if unknown."""
        try:
            return self._operations[operation_id]
        except KeyError:
            raise LocalProtocolError(f"Unknown operation {operation_id!r}") from None

    def validate_request(self, operation_id: str, body: Mapping[str, Any]) -> None:
        """Reject a JSON body the server would certainly refuse.

        Checks required fields, the JSON type of each top-level field and
        numeric bounds the spec states.  ``None`` values are let through (many
        servers treat ``null`` as "not given") and unknown keys are allowed,
        since compatible servers take extra parameters.  Raises
        ``LocalProtocolError`` naming the parameter.
        """
        op = self.get_operation(operation_id)
        if not isinstance(body, Mapping):
            raise LocalProtocolError(
                f"The body of {operation_id} must be a mapping, not {type(body).__name__}"
            )
        rules = self._body_rules.get(op.operation_id)
        if rules is not None:
            check_body(operation_id, body, rules)


def check_body(operation_id: str, body: Mapping[str, Any], rules: BodyRules) -> None:
    """Apply one operation's ``rules`` to ``body``; ``operation_id`` names it in errors."""
    required, fields = rules
    for name in required:
        if name not in body:
            raise LocalProtocolError(f"Missing required parameter `{name}` for {operation_id}")
    for name, kinds, minimum, maximum, above in fields:
        value = body.get(name)
        if value is None:
            continue
        if kinds and not _kind_ok(value, kinds):
            raise LocalProtocolError(
                f"Parameter `{name}` of {operation_id} must be {_describe(kinds)},"
                f" not {type(value).__name__}"
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            # JSON has no NaN or infinity; json.dumps would emit invalid JSON.
            raise LocalProtocolError(
                f"Parameter `{name}` of {operation_id} must be a finite number, got {value!r}"
            )
        if minimum is not None and value < minimum:
            raise LocalProtocolError(
                f"Parameter `{name}` of {operation_id} must be >= {minimum:g}, got {value!r}"
            )
        if maximum is not None and value > maximum:
            raise LocalProtocolError(
                f"Parameter `{name}` of {operation_id} must be <= {maximum:g}, got {value!r}"
            )
        if above is not None and value <= above:
            raise LocalProtocolError(
                f"Parameter `{name}` of {operation_id} must be > {above:g}, got {value!r}"
            )
