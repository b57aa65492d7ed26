"""Runtime support shared by every generated model module.

Hand-written (the rest of this package is generated).  Models are plain
slotted attrs classes whose ``from_dict`` is straight-line code emitted by
``tools/generate_models.py``; this module only holds what is common to all
of them: the base class that remembers the decoded payload, the fallback
model for union members we do not know, and ``parse_model`` which turns
shape errors into ``APIResponseValidationError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping, TypeVar, overload

import attrs

from .._errors import APIResponseValidationError

__all__ = ["BaseModel", "OutputTextMixin", "UnknownObject", "parse_model", "rebuild_model"]

_M = TypeVar("_M", bound="BaseModel")
_T = TypeVar("_T")

# Attributes of every model that hold bookkeeping, not payload.
_PRIVATE = frozenset({"_raw", "_request_id"})

# Wire names known to each model class, computed on first use of ``extra``.
_known_keys: dict[type, frozenset[str]] = {}
_field_names: dict[type, tuple[str, ...]] = {}


# Generated subclasses pass ``eq=False, repr=False``: attrs would otherwise
# compile a fresh ``__eq__`` and ``__repr__`` per class at import time, which
# doubles the cost of importing a module of a few hundred models.  The
# reflective versions below are only used off the hot path.
@attrs.define(slots=True, kw_only=True, eq=False, repr=False)
class BaseModel:
    """Base of every generated response model.

    ``_raw`` holds the mapping the object was built from, so fields this
    version of the spec does not describe (``reasoning_content`` from vLLM,
    ``timings`` from llama.cpp, ...) are never lost.  ``_request_id`` is the
    ``x-request-id`` of the response the client parsed the object from (the
    official SDK's name), on the top-level result only.  Neither takes part
    in equality, the repr or ``to_dict()``.
    """

    _raw: Mapping[str, Any] | None = attrs.field(
        default=None, eq=False, repr=False, alias="_raw"
    )
    # Not an __init__ argument: only the client sets it, after parsing.
    _request_id: str | None = attrs.field(default=None, init=False, eq=False, repr=False)

    # Python attribute name -> wire name, only where the two differ.
    _renames: ClassVar[Mapping[str, str]] = {}
    # Fields holding credentials (a new API key's value, a client secret).
    _secrets: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def _wire_keys(cls) -> frozenset[str]:
        known = _known_keys.get(cls)
        if known is None:
            renames = cls._renames
            known = frozenset(
                renames.get(f.name, f.name) for f in attrs.fields(cls) if f.name not in _PRIVATE
            )
            _known_keys[cls] = known
        return known

    @classmethod
    def _field_names(cls) -> tuple[str, ...]:
        names = _field_names.get(cls)
        if names is None:
            names = tuple(f.name for f in attrs.fields(cls) if f.name not in _PRIVATE)
            _field_names[cls] = names
        return names

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self._field_names())

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __repr__(self) -> str:
        secrets = self._secrets
        args = ", ".join(
            f"{n}=<redacted>"
            if n in secrets and getattr(self, n) is not None
            else f"{n}={getattr(self, n)!r}"
            for n in self._field_names()
        )
        return f"{type(self).__qualname__}({args})"

    @property
    def extra(self) -> dict[str, Any]:
        """Keys of the received payload that this model has no field for."""
        raw = self._raw
        if not raw:
            return {}
        known = self._wire_keys()
        return {k: v for k, v in raw.items() if k not in known}

    def to_dict(self) -> dict[str, Any]:
        """The wire-shaped dict: what was received, or what the fields say.

        For a received object this is a shallow copy of the payload, unknown
        keys included.  For one built by hand, unset (``None``) fields are
        left out.
        """
        if self._raw is not None:
            return dict(self._raw)
        renames = self._renames
        out: dict[str, Any] = {}
        for f in attrs.fields(type(self)):
            if f.name in _PRIVATE:
                continue
            value = getattr(self, f.name)
            if value is None:
                continue
            out[renames.get(f.name, f.name)] = _to_wire(value)
        return out


class OutputTextMixin:
    """Adds ``output_text`` to the Responses API ``Response`` models.

    Listed as an extra base by ``tools/generate_models.py``, which then
    leaves out the spec's ``output_text`` property: the API does not send
    it, the official SDKs compute it, and so does this.
    """

    __slots__ = ()

    if TYPE_CHECKING:
        output: Any

    @property
    def output_text(self) -> str:
        """The text of every ``output_text`` part of every ``message`` item,
        joined in order; ``""`` when there is none."""
        parts: list[str] = []
        # Getattr throughout: leniently parsed payloads may leave out any of
        # these, and unknown items come back as ``UnknownObject``.
        for item in self.output or ():
            if getattr(item, "type", None) != "message":
                continue
            for content in getattr(item, "content", None) or ():
                if getattr(content, "type", None) == "output_text":
                    text = getattr(content, "text", None)
                    if isinstance(text, str):
                        parts.append(text)
        return "".join(parts)


def _to_wire(value: object) -> object:
    if isinstance(value, BaseModel):
        return value.to_dict()
    if isinstance(value, list):
        return [_to_wire(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_wire(v) for k, v in value.items()}
    return value


@attrs.define(slots=True, kw_only=True, eq=False, repr=False)
class UnknownObject(BaseModel):
    """A union member whose discriminator this version does not know.

    Kept instead of raising, so a newer server (or a compatible one with its
    own event types) never breaks a stream.  Everything received is in
    ``to_dict()``; ``type`` is lifted out because it is what callers switch on.
    """

    type: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UnknownObject:
        t = data.get("type")
        return cls(type=t if isinstance(t, str) else None, _raw=data)

    @property
    def extra(self) -> dict[str, Any]:
        raw = self._raw
        if not raw:
            return {}
        return {k: v for k, v in raw.items() if k != "type"}

    def __eq__(self, other: object) -> bool:
        # Everything but ``type`` lives in the payload, so it has to count here.
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, UnknownObject)
        return self.type == other.type and self._raw == other._raw


def rebuild_model(cls: type[_M], built: BaseModel) -> _M:
    """``built`` (a generated model filled in by its ``from_dict``) made
    again through ``cls.__init__``: what ``from_dict`` gives a subclass, so
    that the subclass's own fields and checks apply."""
    return cls(
        **{f.alias: getattr(built, f.name) for f in attrs.fields(type(built)) if f.init}
    )


# What straight-line ``from_dict`` code raises on a payload of the wrong shape
# (RecursionError: absurdly deep nesting of a recursive schema).
_SHAPE_ERRORS = (TypeError, AttributeError, KeyError, ValueError, IndexError, RecursionError)


@overload
def parse_model(model: type[_M], data: object) -> _M: ...
@overload
def parse_model(model: Callable[[Any], _T], data: object) -> _T: ...
def parse_model(model: Any, data: object) -> Any:
    """Build ``model`` (a model class or a generated union parser) from ``data``.

    Any shape mismatch (``"choices": 5``, a string where an object belongs, a
    body that is not an object at all) becomes ``APIResponseValidationError``
    with the original exception as its cause.  Missing fields are not errors:
    they read as ``None``.
    """
    parse: Callable[[Any], Any] = getattr(model, "from_dict", model)
    try:
        return parse(data)
    except _SHAPE_ERRORS as exc:
        name = getattr(model, "__name__", repr(model))
        raise APIResponseValidationError(
            f"Data does not match {name}: {type(exc).__name__}: {exc}", body=data
        ) from exc
