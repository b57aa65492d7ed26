"""Running a ``PreparedOperation``: the one place the generated surface
meets the client.

``Executor.execute`` reads the operation's kinds from the table and calls
the client's ``_call`` with the right body encoding, parser, stream decoder
and response kind; list operations get a paginator.  Nothing here is
specific to one operation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping

from openai_sansio import OPERATIONS, PreparedOperation, Request
from openai_sansio._prepared import item_parser

from ._pages import AsyncCursorPage, AsyncPage, AsyncPageTokenPage, AsyncPaginator, page_fields
from ._streamed import StreamedResponseManager

if TYPE_CHECKING:
    from ._namespace import Mode

__all__ = ["Executor"]

_PAGES: dict[str, type[AsyncPage[Any]]] = {
    "cursor": AsyncCursorPage,
    "page": AsyncPageTokenPage,
    "single": AsyncPage,
}


# Operations whose call needs nothing but a JSON body (or none) and parses
# a JSON model: the fast path of ``execute``.
_PLAIN = frozenset(
    op.operation_id
    for op in OPERATIONS.values()
    if op.body_kind in ("json", "none") and op.response_kind == "json" and op.page_kind == "none"
)


class _ListFetcher:
    """Fetches pages of one list call; pages hold it to fetch the next."""

    __slots__ = ("_client", "_page", "_parse_item", "_prepared", "_raw")

    def __init__(
        self, client: Executor, prepared: PreparedOperation[Any], page: type[AsyncPage[Any]], raw: bool
    ) -> None:
        self._client = client
        self._prepared = prepared
        self._page = page
        self._parse_item = item_parser(prepared.operation)
        self._raw = raw

    def first(self) -> Awaitable[Any]:
        return self._get(self._prepared.query, raw=self._raw)

    def fetch(self, params: Mapping[str, object]) -> Awaitable[Any]:
        return self._get({**(self._prepared.query or {}), **params}, raw=False)

    def page_parser(self) -> Callable[[Any], AsyncPage[Any]]:
        """Turns a list response into a page that can fetch the next one."""
        page_cls = self._page
        parse_item = self._parse_item

        def parse(data: Any) -> AsyncPage[Any]:
            items, fields = page_fields(data, parse_item)
            page = page_cls(items, fields)
            page._next = self
            return page

        return parse

    def _get(self, query: Mapping[str, object] | None, *, raw: bool) -> Awaitable[Any]:
        parse = self.page_parser()
        prepared = self._prepared
        return self._client._call(
            prepared.operation.method,
            prepared.path,
            query=query,
            options=prepared.options,
            parse=parse,
            raw=raw,
        )


class Executor:
    """Mixed into ``Client``: the ``Transport`` of the generated namespaces."""

    __slots__ = ()

    if TYPE_CHECKING:
        _call: Callable[..., Awaitable[Any]]
        _urandom: Callable[[int], bytes]

    def execute(self, prepared: PreparedOperation[Any], mode: Mode) -> Any:
        """Run ``prepared`` as its operation's kinds say (see ``Transport``)."""
        op = prepared.operation
        parse: Callable[[Any], Any] | None
        if mode == "parsed" and op.operation_id in _PLAIN and not prepared.stream and prepared.transform is None:
            # The common call (a JSON body or none, a JSON model back),
            # without building keyword dicts: it is on every request's path.
            return self._call(
                op.method,
                prepared.path,
                body=prepared.body,
                query=prepared.query,
                options=prepared.options,
                parse=prepared.result_parser(),
            )
        if op.page_kind != "none":
            fetcher = _ListFetcher(self, prepared, _PAGES[op.page_kind], mode == "raw")
            if mode != "streaming":
                return AsyncPaginator(fetcher.first)
            # Streamed, a list still parses into its page.
            parse = fetcher.page_parser()
        else:
            parse = prepared.result_parser()
        if op.body_kind == "json" or op.body_kind == "none":
            kwargs: dict[str, Any] = {"body": prepared.body}
        else:
            kwargs = prepared.body_arguments(self._urandom(16) if op.body_kind == "multipart" else None)
        if op.response_kind != "json":
            kwargs["response_kind"] = op.response_kind
        stream_decoder: Callable[[Request], Any] | None = None
        if prepared.stream:
            stream_decoder = op.make_stream_decoder
        if mode == "streaming":
            return StreamedResponseManager(
                lambda: self._call(
                    op.method, prepared.path, query=prepared.query,
                    options=prepared.options, parse=parse, stream_decoder=stream_decoder,
                    streaming=True, **kwargs,
                )
            )
        return self._call(
            op.method,
            prepared.path,
            query=prepared.query,
            options=prepared.options,
            parse=parse,
            stream_decoder=stream_decoder,
            raw=mode == "raw",
            **kwargs,
        )
