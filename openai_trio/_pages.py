"""Pages of list results, and the paginator list methods return.

``AsyncPage`` is a complete list (``models.list``); ``AsyncCursorPage`` is
one page of a cursor-paginated list, and ``async for`` over it walks every
later page too, fetching each only when the previous one is used up.  No
connection is held between pages.

A list method returns an ``AsyncPaginator``: ``await`` it for the first
page, or ``async for`` over it (no ``await``) for every item of every page.
"""

from __future__ import annotations

from typing import (
    TYPE_CHECKING,
    Any,
    Awaitable,
    Callable,
    Generator,
    Generic,
    Iterator,
    Mapping,
    TypeVar,
)

from openai_sansio import RequestOptions

if TYPE_CHECKING:
    from typing_extensions import Self

    from ._client import Client

__all__ = ["AsyncCursorPage", "AsyncPage", "AsyncPaginator"]

T = TypeVar("T")
P = TypeVar("P", bound="AsyncPage[Any]")


def _page_fields(data: Any, parse_item: Callable[[Any], T]) -> tuple[list[T], Mapping[str, Any]]:
    # Raised errors here are turned into APIResponseValidationError by the call.
    if not isinstance(data, Mapping):
        raise TypeError(f"a list response must be a JSON object, not {type(data).__name__}")
    items = data["data"]
    if not isinstance(items, list):
        raise TypeError("the 'data' field of a list response must be an array")
    return [parse_item(item) for item in items], data


class _ListCall(Generic[T]):
    """What is needed to fetch a page of one list again, with another cursor."""

    __slots__ = ("client", "options", "parse_item", "path", "query")

    def __init__(
        self,
        client: Client,
        path: str,
        query: Mapping[str, object],
        options: RequestOptions,
        parse_item: Callable[[Any], T],
    ) -> None:
        self.client = client
        self.path = path
        self.query = dict(query)
        self.options = options
        self.parse_item = parse_item

    async def fetch(self, cls: type[P], *, raw: bool = False, **query: object) -> Any:
        """A page of type ``cls`` (or, with ``raw``, a ``RawResponse`` of one)."""
        lister = _ListCall(self.client, self.path, {**self.query, **query}, self.options, self.parse_item)

        def parse(data: Any) -> P:
            items, fields = _page_fields(data, lister.parse_item)
            page = cls(items, fields)
            page._next = lister
            return page

        return await self.client._call(
            "GET", lister.path, query=lister.query, options=lister.options, parse=parse, raw=raw
        )


class AsyncPage(Generic[T]):
    """The items of a list response, in ``data``; iterate it directly (or
    with ``async for``).

    ``_request_id`` is the ``x-request-id`` of the response it came from.
    """

    _next: _ListCall[T] | None = None
    _request_id: str | None = None

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
        """Fetch the page at ``path`` with ``query``."""
        page: Self = await _ListCall(client, path, query, options, parse_item).fetch(cls)
        return page


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
        page: Self = await self._next.fetch(type(self), after=cursor)
        return page


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


class AsyncPaginator(Generic[T, P]):
    """What a list method returns: ``await`` it for the first page (a
    ``P``), or ``async for`` over it for every item of every page.

    Nothing is sent, and no coroutine exists, until one of the two starts;
    each ``await`` or ``async for`` sends its own requests.
    """

    __slots__ = ("_fetch",)

    def __init__(self, fetch: Callable[[], Awaitable[P]]) -> None:
        self._fetch = fetch

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    def __await__(self) -> Generator[Any, None, P]:
        return self._fetch().__await__()

    def __aiter__(self) -> _PaginatorWalker[T]:
        return _PaginatorWalker(self._fetch)


class _PaginatorWalker(Generic[T]):
    """``async for`` over a paginator: fetches the first page on first use."""

    def __init__(self, fetch: Callable[[], Awaitable[AsyncPage[Any]]]) -> None:
        self._fetch = fetch
        self._walker: _PageWalker[T] | None = None

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        if self._walker is None:
            self._walker = _PageWalker(await self._fetch())
        return await self._walker.__anext__()
