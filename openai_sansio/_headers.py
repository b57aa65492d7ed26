"""An immutable, case-insensitive view of HTTP header fields."""

from __future__ import annotations

from typing import Iterator, Mapping, Sequence

__all__ = ["Headers", "SECRET_HEADERS"]

# Header names whose values are credentials.  They are shown as "<redacted>"
# in every repr and log line.
SECRET_HEADERS = frozenset(
    {"authorization", "api-key", "proxy-authorization", "cookie", "set-cookie",
     "x-api-key", "openai-api-key"}
)


class Headers(Mapping[str, str]):
    """Header fields in arrival order, looked up case-insensitively.

    Names are stored lower-cased; values are latin-1 decoded text.  When a
    name repeats, ``[]``/``get`` return the first value and ``get_all`` every
    one.
    """

    __slots__ = ("_fields", "_index")

    _fields: tuple[tuple[str, str], ...]
    _index: dict[str, str]

    def __init__(self, fields: Sequence[tuple[str, str]] = ()) -> None:
        self._set(tuple([(name.lower(), value) for name, value in fields]))

    def _set(self, fields: tuple[tuple[str, str], ...]) -> None:
        self._fields = fields
        # A dict keeps each name where it first appeared; only a repeated
        # name (rare in responses) needs its first value put back.
        index = dict(fields)
        if len(index) != len(fields):
            index = {}
            for name, value in fields:
                index.setdefault(name, value)
        self._index = index

    @classmethod
    def from_raw(cls, raw: Sequence[tuple[bytes, bytes]]) -> Headers:
        """Build from the ``(name, value)`` byte pairs h11 and h2 produce."""
        # Every response carries a few dozen fields: skip the generic
        # constructor's second pass over them.
        headers = cls.__new__(cls)
        headers._set(
            tuple([(n.decode("latin-1").lower(), v.decode("latin-1")) for n, v in raw])
        )
        return headers

    @property
    def fields(self) -> tuple[tuple[str, str], ...]:
        return self._fields

    def raw(self) -> list[tuple[bytes, bytes]]:
        return [(n.encode("latin-1"), v.encode("latin-1")) for n, v in self._fields]

    def get_all(self, name: str) -> list[str]:
        key = name.lower()
        return [v for n, v in self._fields if n == key]

    def __getitem__(self, name: str) -> str:
        return self._index[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._fields == other._fields
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._fields)

    def __repr__(self) -> str:
        shown = [
            (n, "<redacted>" if n in SECRET_HEADERS else v) for n, v in self._fields
        ]
        return f"Headers({shown!r})"
