"""The runtime behind the generated namespaces (``openai_trio/_generated``).

A namespace holds a ``Transport`` (what runs a ``PreparedOperation``) and a
mode: ``"parsed"`` (the typed result), ``"raw"`` (a ``RawResponse`` around
it) or ``"streaming"`` (an async context manager around the unread
response).  Namespaces know nothing of ``Client``: anything with an
``execute`` method will do, so a test, a recorder or another client type can
stand behind the same surface.  Children and views are made on first use
and kept.
"""

from __future__ import annotations

import importlib
from typing import Any, Literal, Protocol, TypeVar

from openai_sansio import PreparedOperation

__all__ = ["Mode", "Namespace", "NamespaceRoot", "Transport"]

Mode = Literal["parsed", "raw", "streaming"]
N = TypeVar("N", bound="Namespace")


class Transport(Protocol):
    """What the generated methods call."""

    def execute(self, prepared: PreparedOperation[Any], mode: Mode) -> Any:
        """Run ``prepared``: an awaitable for "parsed" and "raw" (a paginator
        for list operations), an async context manager for "streaming"."""
        ...


class Namespace:
    """Base of every generated namespace class."""

    __slots__ = ("_cache", "_mode", "_transport")

    def __init__(self, transport: Transport, mode: Mode = "parsed") -> None:
        self._transport = transport
        self._mode: Mode = mode
        self._cache: dict[str, Namespace] = {}

    def __repr__(self) -> str:
        mode = "" if self._mode == "parsed" else f" ({self._mode})"
        return f"<{type(self).__name__}{mode}>"

    def _child(self, name: str, cls: type[N]) -> N:
        found = self._cache.get(name)
        if found is None:
            found = self._cache[name] = cls(self._transport, self._mode)
        return found  # type: ignore[return-value]

    def _view(self, mode: Mode) -> Namespace:
        if mode == self._mode:
            return self
        key = "\0" + mode
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = type(self)(self._transport, mode)
        return found


class NamespaceRoot:
    """Gives a transport its top-level namespaces (``client.files`` ...),
    importing each generated module the first time it is used."""

    __slots__ = ()

    _namespaces: dict[str, Namespace]

    def _root(self) -> tuple[Transport, Mode]:
        """The transport behind these namespaces, and their mode."""
        return self, "parsed"  # type: ignore[return-value]

    def _top(self, name: str, cls_name: str) -> Namespace:
        cache = self._namespaces
        found = cache.get(name)
        if found is None:
            module = importlib.import_module(f"openai_trio._generated.{name}")
            transport, mode = self._root()
            found = cache[name] = getattr(module, cls_name)(transport, mode)
        return found
