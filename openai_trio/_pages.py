"""Pages of list results.

``AsyncPage`` is a complete list (``models.list``); ``AsyncCursorPage`` is
one page of a cursor-paginated list, and ``async for`` over it walks every
later page too, fetching each only when the previous one is used up.  No
connection is held between pages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Generic, Iterator, Mapping, TypeVar

from openai_sansio import RequestOptions

if TYPE_CHECKING:
    from typing_extensions import Self

    from ._client import Client

__all__ = ["AsyncCursorPage", "AsyncPage"]

T = TypeVar("T")


def _page_fields(data: Any, parse_item: Callable[[Any], T]) -> tuple[list[T], Mapping[str, Any]]:
    # Raised errors here are turned into APIResponseValidationError by the call.
    if not isinstance(data, Mapping):
        raise TypeError(f"a list response must be a JSON object, not {type(data).__name__}")
    items = data["data"]
    if not isinstance(items, list):
        raise TypeError("the 'data' field of a list response must be an array")
    return [parse_item(item) for item in items], data


class AsyncPage(Generic[T]):
    """The items of a list response, in ``data``; iterate it directly (or
    with ``async for``)."""

    def __init__(self, data: list[T], raw: Mapping[str, Any]) -> None:
        self.data = data
        self.raw = raw
        obj = raw.get("object")
        self.object: str | None = obj if isinstance(obj, str) else None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {len(self.data)} items>"

    def __iter__(self) -> Iterator[T]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> T:
        return self.data[index]

    def has_next_page(self) -> bool:
        return False

    async def get_next_page(self) -> Self:
        raise RuntimeError("there is no next page; check has_next_page() first")

    def __aiter__(self) -> _PageWalker[T]:
        return _PageWalker(self)

    @classmethod
    async def fetch(
        cls,
        client: Client,
        path: str,
        query: Mapping[str, object],
        options: RequestOptions,
        parse_item: Callable[[Any], T],
    ) -> Self:
        def parse(data: Any) -> tuple[list[T], Mapping[str, Any]]:
            return _page_fields(data, parse_item)

        items, raw = await client._call("GET", path, query=query, options=options, parse=parse)
        page = cls(items, raw)
        page._next = (client, path, dict(query), options, parse_item)
        return page

    _next: tuple[Client, str, dict[str, object], RequestOptions, Callable[[Any], T]] | None = None


class AsyncCursorPage(AsyncPage[T]):
    """One page of a cursor-paginated list.

    ``has_more`` says whether the server has more; ``get_next_page()``
    fetches the next one (passing ``after`` = the last item's id), and
    ``async for item in page`` yields the items of this page and then of
    every later page.
    """

    def __init__(self, data: list[T], raw: Mapping[str, Any]) -> None:
        super().__init__(data, raw)
        self.has_more = raw.get("has_more") is True
        first, last = raw.get("first_id"), raw.get("last_id")
        self.first_id: str | None = first if isinstance(first, str) else None
        self.last_id: str | None = last if isinstance(last, str) else None

    def _cursor(self) -> str | None:
        if self.last_id is not None:
            return self.last_id
        if self.data:
            last = self.data[-1]
            ident = last.get("id") if isinstance(last, Mapping) else getattr(last, "id", None)
            if isinstance(ident, str):
                return ident
        return None

    def has_next_page(self) -> bool:
        return self.has_more and self._next is not None and self._cursor() is not None

    async def get_next_page(self) -> Self:
        cursor = self._cursor()
        if not self.has_next_page() or cursor is None or self._next is None:
            raise RuntimeError("there is no next page; check has_next_page() first")
        client, path, query, options, parse_item = self._next
        query = {**query, "after": cursor}
        return await type(self).fetch(client, path, query, options, parse_item)


class _PageWalker(Generic[T]):
    """``async for`` over a page and, for cursor pages, the pages after it."""

    def __init__(self, page: AsyncPage[T]) -> None:
        self._page = page
        self._index = 0

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        while self._index >= len(self._page.data):
            if not self._page.has_next_page():
                raise StopAsyncIteration
            self._page = await self._page.get_next_page()
            self._index = 0
        item = self._page.data[self._index]
        self._index += 1
        return item
