"""Pages of list results, and the paginator list methods return.

Three kinds, as the operation table names them:

* ``AsyncPage``: a complete list in one response (``models.list``);
* ``AsyncCursorPage``: one page of a list paged with ``after`` = the id of
  the last item seen (most lists);
* ``AsyncPageTokenPage``: one page of a list paged with an opaque ``page``
  token the response hands back in ``next_page`` (the usage reports).

``async for`` over a page yields its items and then those of every later
page, each fetched only when the previous one is used up; no connection is
held between pages.  A list method returns an ``AsyncPaginator``: ``await``
it for the first page, or ``async for`` over it (no ``await``) for every
item of every page.

Pages depend on a ``PageFetcher`` (fetch this list again with these query
parameters), not on the client.
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
    Protocol,
    TypeVar,
)

import attrs

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "AsyncCursorPage",
    "AsyncPage",
    "AsyncPageTokenPage",
    "AsyncPaginator",
    "PageFetcher",
    "PageInfo",
]

T = TypeVar("T")
P = TypeVar("P", bound="AsyncPage[Any]")


class PageFetcher(Protocol):
    """Fetches another page of the same list."""

    def fetch(self, params: Mapping[str, object]) -> Awaitable[Any]:
        """The page with the list's query updated by ``params``."""
        ...


@attrs.frozen
class PageInfo:
    """The query parameters that select the next page (``{"after": id}``
    or ``{"page": token}``)."""

    params: Mapping[str, object]


def page_fields(data: Any, parse_item: Callable[[Any], T]) -> tuple[list[T], Mapping[str, Any]]:
    """The parsed items of a list response and the response object itself.

    A wrong shape raises ``TypeError``, which the call reports as
    ``APIResponseValidationError``.
    """
    if not isinstance(data, Mapping):
        raise TypeError(f"a list response must be a JSON object, not {type(data).__name__}")
    items = data.get("data")
    if not isinstance(items, list):
        raise TypeError("the 'data' field of a list response must be an array")
    return [parse_item(item) for item in items], data


class AsyncPage(Generic[T]):
    """The items of a list response, in ``data``; iterate it directly (or
    with ``async for``).

    ``_request_id`` is the ``x-request-id`` of the response it came from.
    """

    _next: PageFetcher | None = None
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

    def next_page_info(self) -> PageInfo | None:
        """What selects the next page, or None when this is the last."""
        return None

    def has_next_page(self) -> bool:
        return self._next is not None and self.next_page_info() is not None

    async def get_next_page(self) -> Self:
        """Fetch the page after this one; ``RuntimeError`` if there is none."""
        info = self.next_page_info()
        if info is None or self._next is None:
            raise RuntimeError("there is no next page; check has_next_page() first")
        page: Self = await self._next.fetch(info.params)
        return page

    # The official SDK's other name for it.
    next_page = get_next_page

    def __aiter__(self) -> _PageWalker[T]:
        return _PageWalker(self)


class AsyncCursorPage(AsyncPage[T]):
    """One page of a list paged with ``after``.

    ``has_more`` says whether the server has more; the next page starts
    after ``last_id`` or, when the response has none, the id of the last
    item.
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

    def next_page_info(self) -> PageInfo | None:
        cursor = self._cursor()
        if not self.has_more or cursor is None:
            return None
        return PageInfo({"after": cursor})


class AsyncPageTokenPage(AsyncPage[T]):
    """One page of a list paged with a ``page`` token (``next_page``)."""

    def __init__(self, data: list[T], raw: Mapping[str, Any]) -> None:
        super().__init__(data, raw)
        self.has_more = raw.get("has_more") is True
        token = raw.get("next_page")
        self.next_page_token: str | None = token if isinstance(token, str) and token else None

    def next_page_info(self) -> PageInfo | None:
        # A server that says "no more" but hands a token (or the reverse)
        # ends the walk: following it could loop.
        if not self.has_more or self.next_page_token is None:
            return None
        return PageInfo({"page": self.next_page_token})


class _PageWalker(Generic[T]):
    """``async for`` over a page and the pages after it."""

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

    def __init__(self, fetch: Callable[[], Awaitable[Any]]) -> None:
        self._fetch = fetch
        self._walker: _PageWalker[T] | None = None

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        if self._walker is None:
            first = await self._fetch()
            if not isinstance(first, AsyncPage):
                # A raw-response paginator: walk the page it wraps.
                first = first.parse()
            self._walker = _PageWalker(first)
        return await self._walker.__anext__()
