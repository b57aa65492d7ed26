"""The API namespaces of ``Client``: ``chat.completions``, ``completions``,
``responses`` (with ``input_items``), ``embeddings`` and ``models``.

Names and keyword arguments follow the official SDK.  A keyword left at
``NOT_GIVEN`` is not sent at all; ``None`` is sent as JSON ``null``.  Every
method also takes ``extra_headers``, ``extra_query``, ``extra_body``,
``timeout`` and ``max_retries`` for that one call.  List methods return
an ``AsyncPaginator`` (``await`` it, or ``async for`` over it), and
``<namespace>.with_raw_response`` is the same namespace with every method
returning a ``RawResponse``.

The generated models are imported on first use, not with this module.
"""

from __future__ import annotations

import importlib
from typing import (
    TYPE_CHECKING,
    Any,
    Awaitable,
    Callable,
    Iterable,
    Literal,
    Mapping,
    Sequence,
    TypeVar,
    overload,
)
from urllib.parse import quote

import openai_sansio
from openai_sansio import NOT_GIVEN, NotGiven, Request, RequestOptions, Timeout

from ._pages import AsyncCursorPage, AsyncPage, AsyncPaginator, _ListCall
from ._streams import AsyncStream

if TYPE_CHECKING:
    from openai_sansio import StreamDecoder
    from openai_sansio.types import (
        ChatCompletion,
        ChatCompletionChunk,
        Completion,
        CreateEmbeddingResponse,
        ItemResource,
        Model,
        ModelDeleted,
        Response,
        ResponseStreamEvent,
    )

    from ._client import Client


__all__ = [
    "Chat",
    "ChatCompletions",
    "Completions",
    "Embeddings",
    "InputItems",
    "Models",
    "Responses",
]

P = TypeVar("P", bound="AsyncPage[Any]")

Headers = Mapping[str, "str | None"]
Query = Mapping[str, object]
Body = Mapping[str, object]


_SCALARS = frozenset({str, bytes, int, float, bool, type(None)})


def _jsonable(value: object) -> object:
    # Callers pass tuples, generators and read-only mappings where the API
    # wants arrays and objects; json only knows lists and dicts.
    kind = type(value)
    if kind in _SCALARS:
        return value
    # The shapes callers nearly always pass, before the ABC checks (which
    # cost more than the copy).
    # Leaves are tested here rather than in a call each: a message list is
    # mostly strings.
    scalars = _SCALARS
    if kind is dict:
        return {
            k: v if type(v) in scalars else _jsonable(v)
            for k, v in value.items()  # type: ignore[attr-defined]
        }
    if kind is list:
        return [v if type(v) in scalars else _jsonable(v) for v in value]  # type: ignore[attr-defined]
    if isinstance(value, (str, bytes, int, float, bool)):
        return value
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, Iterable):
        return [_jsonable(v) for v in value]
    return value


def _body(fields: Mapping[str, object]) -> dict[str, object]:
    # One pass; most arguments given are plain scalars, and only the rest
    # need a walk.
    scalars = _SCALARS
    not_given = NOT_GIVEN
    body: dict[str, object] = {}
    for k, v in fields.items():
        if v is not_given:
            continue
        body[k] = v if type(v) in scalars else _jsonable(v)
    return body


def _query(fields: Mapping[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in fields.items():
        if v is NOT_GIVEN:
            continue
        out[k] = list(v) if isinstance(v, (list, tuple)) else v
    return out


def _options(
    *,
    extra_headers: Headers | None,
    extra_query: Query | None,
    extra_body: Body | None,
    timeout: Timeout | float | NotGiven | None,
    max_retries: int | NotGiven,
) -> RequestOptions:
    if (
        extra_headers is None
        and extra_query is None
        and extra_body is None
        and timeout is NOT_GIVEN
        and max_retries is NOT_GIVEN
    ):
        # Immutable, so every plain call can share it.
        return _NO_OPTIONS
    return RequestOptions(
        extra_headers=extra_headers,
        extra_query=extra_query,
        extra_body=extra_body,
        timeout=timeout,
        max_retries=max_retries,
    )


_NO_OPTIONS = RequestOptions()


def _segment(value: str, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"Expected a non-empty value for `{what}` but received {value!r}")
    return quote(value, safe="")


_PARSERS: dict[str, Callable[[Any], Any]] = {}


def _model(name: str) -> Callable[[Any], Any]:
    """A parser for the generated model ``name``, resolved on first call."""
    parser = _PARSERS.get(name)
    if parser is not None:
        return parser
    resolved: list[Any] = []

    def parse(data: Any) -> Any:
        if not resolved:
            types = importlib.import_module("openai_sansio.types")
            resolved.extend((types.parse_model, getattr(types, name)))
        parse_model, cls = resolved
        return parse_model(cls, data)

    _PARSERS[name] = parse
    return parse


def _decoder(name: str, parser: str | None = None) -> Callable[[Request], StreamDecoder[Any]]:
    """A factory for the stream decoder ``name``; ``parser`` names a
    generated union parser for its items instead of the decoder's default."""

    def make(request: Request) -> StreamDecoder[Any]:
        cls = getattr(openai_sansio, name)
        if parser is None:
            decoder: StreamDecoder[Any] = cls(request=request)
        else:
            types = importlib.import_module("openai_sansio.types")
            decoder = cls(parse=getattr(types, parser), request=request)
        return decoder

    return make


class _Resource:
    def __init__(self, client: Client, *, raw: bool = False) -> None:
        self._client = client
        self._raw = raw
        self._raw_view: Any = None

    @property
    def with_raw_response(self) -> Any:
        """This namespace again, with every method returning a
        ``RawResponse`` (status, headers, request, ``parse()``) instead of
        the parsed result.  List methods return a paginator to ``await``."""
        view = self._raw_view
        if view is None:
            view = self._raw_view = self if self._raw else type(self)(self._client, raw=True)
        return view

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Body | None = None,
        query: Query | None = None,
        options: RequestOptions,
        parse: Callable[[Any], Any] | None,
        stream_decoder: Callable[[Request], StreamDecoder[Any]] | None = None,
    ) -> Awaitable[Any]:
        # Hands back the client's coroutine itself: one frame less per call.
        return self._client._call(
            method,
            path,
            body=body,
            query=query,
            options=options,
            parse=parse,
            stream_decoder=stream_decoder,
            raw=self._raw,
        )

    def _list(
        self,
        page: type[P],
        path: str,
        query: Query,
        options: RequestOptions,
        parse_item: Callable[[Any], Any],
    ) -> AsyncPaginator[Any, P]:
        lister = _ListCall(self._client, path, query, options, parse_item)
        raw = self._raw

        def fetch() -> Awaitable[P]:
            result: Awaitable[P] = lister.fetch(page, raw=raw)
            return result

        return AsyncPaginator(fetch)


class ChatCompletions(_Resource):
    """``client.chat.completions``."""

    @overload
    async def create(
        self,
        *,
        messages: Iterable[Mapping[str, Any]],
        model: str,
        audio: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        frequency_penalty: float | NotGiven | None = NOT_GIVEN,
        function_call: str | Mapping[str, Any] | NotGiven = NOT_GIVEN,
        functions: Iterable[Mapping[str, Any]] | NotGiven = NOT_GIVEN,
        logit_bias: Mapping[str, int] | NotGiven | None = NOT_GIVEN,
        logprobs: bool | NotGiven | None = NOT_GIVEN,
        max_completion_tokens: int | NotGiven | None = NOT_GIVEN,
        max_tokens: int | NotGiven | None = NOT_GIVEN,
        metadata: Mapping[str, str] | NotGiven | None = NOT_GIVEN,
        modalities: Sequence[str] | NotGiven | None = NOT_GIVEN,
        moderation: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        n: int | NotGiven | None = NOT_GIVEN,
        parallel_tool_calls: bool | NotGiven | None = NOT_GIVEN,
        prediction: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        presence_penalty: float | NotGiven | None = NOT_GIVEN,
        prompt_cache_key: str | NotGiven = NOT_GIVEN,
        prompt_cache_options: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        prompt_cache_retention: str | NotGiven | None = NOT_GIVEN,
        reasoning_effort: str | NotGiven | None = NOT_GIVEN,
        response_format: Mapping[str, Any] | NotGiven = NOT_GIVEN,
        safety_identifier: str | NotGiven = NOT_GIVEN,
        seed: int | NotGiven | None = NOT_GIVEN,
        service_tier: str | NotGiven | None = NOT_GIVEN,
        stop: str | Sequence[str] | NotGiven | None = NOT_GIVEN,
        store: bool | NotGiven | None = NOT_GIVEN,
        stream_options: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        temperature: float | NotGiven | None = NOT_GIVEN,
        tool_choice: str | Mapping[str, Any] | NotGiven = NOT_GIVEN,
        tools: Iterable[Mapping[str, Any]] | NotGiven = NOT_GIVEN,
        top_logprobs: int | NotGiven | None = NOT_GIVEN,
        top_p: float | NotGiven | None = NOT_GIVEN,
        user: str | NotGiven = NOT_GIVEN,
        verbosity: str | NotGiven | None = NOT_GIVEN,
        web_search_options: Mapping[str, Any] | NotGiven = NOT_GIVEN,
        stream: Literal[False] | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> ChatCompletion: ...

    @overload
    async def create(
        self,
        *,
        messages: Iterable[Mapping[str, Any]],
        model: str,
        audio: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        frequency_penalty: float | NotGiven | None = NOT_GIVEN,
        function_call: str | Mapping[str, Any] | NotGiven = NOT_GIVEN,
        functions: Iterable[Mapping[str, Any]] | NotGiven = NOT_GIVEN,
        logit_bias: Mapping[str, int] | NotGiven | None = NOT_GIVEN,
        logprobs: bool | NotGiven | None = NOT_GIVEN,
        max_completion_tokens: int | NotGiven | None = NOT_GIVEN,
        max_tokens: int | NotGiven | None = NOT_GIVEN,
        metadata: Mapping[str, str] | NotGiven | None = NOT_GIVEN,
        modalities: Sequence[str] | NotGiven | None = NOT_GIVEN,
        moderation: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        n: int | NotGiven | None = NOT_GIVEN,
        parallel_tool_calls: bool | NotGiven | None = NOT_GIVEN,
        prediction: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        presence_penalty: float | NotGiven | None = NOT_GIVEN,
        prompt_cache_key: str | NotGiven = NOT_GIVEN,
        prompt_cache_options: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        prompt_cache_retention: str | NotGiven | None = NOT_GIVEN,
        reasoning_effort: str | NotGiven | None = NOT_GIVEN,
        response_format: Mapping[str, Any] | NotGiven = NOT_GIVEN,
        safety_identifier: str | NotGiven = NOT_GIVEN,
        seed: int | NotGiven | None = NOT_GIVEN,
        service_tier: str | NotGiven | None = NOT_GIVEN,
        stop: str | Sequence[str] | NotGiven | None = NOT_GIVEN,
        store: bool | NotGiven | None = NOT_GIVEN,
        stream_options: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        temperature: float | NotGiven | None = NOT_GIVEN,
        tool_choice: str | Mapping[str, Any] | NotGiven = NOT_GIVEN,
        tools: Iterable[Mapping[str, Any]] | NotGiven = NOT_GIVEN,
        top_logprobs: int | NotGiven | None = NOT_GIVEN,
        top_p: float | NotGiven | None = NOT_GIVEN,
        user: str | NotGiven = NOT_GIVEN,
        verbosity: str | NotGiven | None = NOT_GIVEN,
        web_search_options: Mapping[str, Any] | NotGiven = NOT_GIVEN,
        stream: Literal[True],
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> AsyncStream[ChatCompletionChunk]: ...

    @overload
    async def create(
        self,
        *,
        messages: Iterable[Mapping[str, Any]],
        model: str,
        audio: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        frequency_penalty: float | NotGiven | None = NOT_GIVEN,
        function_call: str | Mapping[str, Any] | NotGiven = NOT_GIVEN,
        functions: Iterable[Mapping[str, Any]] | NotGiven = NOT_GIVEN,
        logit_bias: Mapping[str, int] | NotGiven | None = NOT_GIVEN,
        logprobs: bool | NotGiven | None = NOT_GIVEN,
        max_completion_tokens: int | NotGiven | None = NOT_GIVEN,
        max_tokens: int | NotGiven | None = NOT_GIVEN,
        metadata: Mapping[str, str] | NotGiven | None = NOT_GIVEN,
        modalities: Sequence[str] | NotGiven | None = NOT_GIVEN,
        moderation: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        n: int | NotGiven | None = NOT_GIVEN,
        parallel_tool_calls: bool | NotGiven | None = NOT_GIVEN,
        prediction: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        presence_penalty: float | NotGiven | None = NOT_GIVEN,
        prompt_cache_key: str | NotGiven = NOT_GIVEN,
        prompt_cache_options: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        prompt_cache_retention: str | NotGiven | None = NOT_GIVEN,
        reasoning_effort: str | NotGiven | None = NOT_GIVEN,
        response_format: Mapping[str, Any] | NotGiven = NOT_GIVEN,
        safety_identifier: str | NotGiven = NOT_GIVEN,
        seed: int | NotGiven | None = NOT_GIVEN,
        service_tier: str | NotGiven | None = NOT_GIVEN,
        stop: str | Sequence[str] | NotGiven | None = NOT_GIVEN,
        store: bool | NotGiven | None = NOT_GIVEN,
        stream_options: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        temperature: float | NotGiven | None = NOT_GIVEN,
        tool_choice: str | Mapping[str, Any] | NotGiven = NOT_GIVEN,
        tools: Iterable[Mapping[str, Any]] | NotGiven = NOT_GIVEN,
        top_logprobs: int | NotGiven | None = NOT_GIVEN,
        top_p: float | NotGiven | None = NOT_GIVEN,
        user: str | NotGiven = NOT_GIVEN,
        verbosity: str | NotGiven | None = NOT_GIVEN,
        web_search_options: Mapping[str, Any] | NotGiven = NOT_GIVEN,
        stream: bool | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> ChatCompletion | AsyncStream[ChatCompletionChunk]: ...

    async def create(
        self,
        *,
        messages: Iterable[Mapping[str, Any]],
        model: str,
        audio: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        frequency_penalty: float | NotGiven | None = NOT_GIVEN,
        function_call: str | Mapping[str, Any] | NotGiven = NOT_GIVEN,
        functions: Iterable[Mapping[str, Any]] | NotGiven = NOT_GIVEN,
        logit_bias: Mapping[str, int] | NotGiven | None = NOT_GIVEN,
        logprobs: bool | NotGiven | None = NOT_GIVEN,
        max_completion_tokens: int | NotGiven | None = NOT_GIVEN,
        max_tokens: int | NotGiven | None = NOT_GIVEN,
        metadata: Mapping[str, str] | NotGiven | None = NOT_GIVEN,
        modalities: Sequence[str] | NotGiven | None = NOT_GIVEN,
        moderation: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        n: int | NotGiven | None = NOT_GIVEN,
        parallel_tool_calls: bool | NotGiven | None = NOT_GIVEN,
        prediction: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        presence_penalty: float | NotGiven | None = NOT_GIVEN,
        prompt_cache_key: str | NotGiven = NOT_GIVEN,
        prompt_cache_options: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        prompt_cache_retention: str | NotGiven | None = NOT_GIVEN,
        reasoning_effort: str | NotGiven | None = NOT_GIVEN,
        response_format: Mapping[str, Any] | NotGiven = NOT_GIVEN,
        safety_identifier: str | NotGiven = NOT_GIVEN,
        seed: int | NotGiven | None = NOT_GIVEN,
        service_tier: str | NotGiven | None = NOT_GIVEN,
        stop: str | Sequence[str] | NotGiven | None = NOT_GIVEN,
        store: bool | NotGiven | None = NOT_GIVEN,
        stream_options: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        temperature: float | NotGiven | None = NOT_GIVEN,
        tool_choice: str | Mapping[str, Any] | NotGiven = NOT_GIVEN,
        tools: Iterable[Mapping[str, Any]] | NotGiven = NOT_GIVEN,
        top_logprobs: int | NotGiven | None = NOT_GIVEN,
        top_p: float | NotGiven | None = NOT_GIVEN,
        user: str | NotGiven = NOT_GIVEN,
        verbosity: str | NotGiven | None = NOT_GIVEN,
        web_search_options: Mapping[str, Any] | NotGiven = NOT_GIVEN,
        stream: bool | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> ChatCompletion | AsyncStream[ChatCompletionChunk]:
        """Create a chat completion; with ``stream=True`` an ``AsyncStream`` of
        ``ChatCompletionChunk`` (use it with ``async with``)."""
        body = _body(
            {
                "messages": messages,
                "model": model,
                "audio": audio,
                "frequency_penalty": frequency_penalty,
                "function_call": function_call,
                "functions": functions,
                "logit_bias": logit_bias,
                "logprobs": logprobs,
                "max_completion_tokens": max_completion_tokens,
                "max_tokens": max_tokens,
                "metadata": metadata,
                "modalities": modalities,
                "moderation": moderation,
                "n": n,
                "parallel_tool_calls": parallel_tool_calls,
                "prediction": prediction,
                "presence_penalty": presence_penalty,
                "prompt_cache_key": prompt_cache_key,
                "prompt_cache_options": prompt_cache_options,
                "prompt_cache_retention": prompt_cache_retention,
                "reasoning_effort": reasoning_effort,
                "response_format": response_format,
                "safety_identifier": safety_identifier,
                "seed": seed,
                "service_tier": service_tier,
                "stop": stop,
                "store": store,
                "stream_options": stream_options,
                "temperature": temperature,
                "tool_choice": tool_choice,
                "tools": tools,
                "top_logprobs": top_logprobs,
                "top_p": top_p,
                "user": user,
                "verbosity": verbosity,
                "web_search_options": web_search_options,
                "stream": stream,
            }
        )
        result: ChatCompletion | AsyncStream[ChatCompletionChunk] = await self._call(
            "POST",
            "/chat/completions",
            body=body,
            options=_options(
                extra_headers=extra_headers,
                extra_query=extra_query,
                extra_body=extra_body,
                timeout=timeout,
                max_retries=max_retries,
            ),
            parse=_model("ChatCompletion"),
            stream_decoder=_decoder("ChatCompletionStreamDecoder") if stream is True else None,
        )
        return result


class Chat(_Resource):
    """``client.chat``."""

    def __init__(self, client: Client, *, raw: bool = False) -> None:
        super().__init__(client, raw=raw)
        self.completions = ChatCompletions(client, raw=raw)


class Completions(_Resource):
    """``client.completions`` (the legacy text completions endpoint)."""

    @overload
    async def create(
        self,
        *,
        model: str,
        prompt: str | Sequence[str] | Sequence[int] | Sequence[Sequence[int]] | None,
        best_of: int | NotGiven | None = NOT_GIVEN,
        echo: bool | NotGiven | None = NOT_GIVEN,
        frequency_penalty: float | NotGiven | None = NOT_GIVEN,
        logit_bias: Mapping[str, int] | NotGiven | None = NOT_GIVEN,
        logprobs: int | NotGiven | None = NOT_GIVEN,
        max_tokens: int | NotGiven | None = NOT_GIVEN,
        n: int | NotGiven | None = NOT_GIVEN,
        presence_penalty: float | NotGiven | None = NOT_GIVEN,
        seed: int | NotGiven | None = NOT_GIVEN,
        stop: str | Sequence[str] | NotGiven | None = NOT_GIVEN,
        stream_options: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        suffix: str | NotGiven | None = NOT_GIVEN,
        temperature: float | NotGiven | None = NOT_GIVEN,
        top_p: float | NotGiven | None = NOT_GIVEN,
        user: str | NotGiven = NOT_GIVEN,
        stream: Literal[False] | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Completion: ...

    @overload
    async def create(
        self,
        *,
        model: str,
        prompt: str | Sequence[str] | Sequence[int] | Sequence[Sequence[int]] | None,
        best_of: int | NotGiven | None = NOT_GIVEN,
        echo: bool | NotGiven | None = NOT_GIVEN,
        frequency_penalty: float | NotGiven | None = NOT_GIVEN,
        logit_bias: Mapping[str, int] | NotGiven | None = NOT_GIVEN,
        logprobs: int | NotGiven | None = NOT_GIVEN,
        max_tokens: int | NotGiven | None = NOT_GIVEN,
        n: int | NotGiven | None = NOT_GIVEN,
        presence_penalty: float | NotGiven | None = NOT_GIVEN,
        seed: int | NotGiven | None = NOT_GIVEN,
        stop: str | Sequence[str] | NotGiven | None = NOT_GIVEN,
        stream_options: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        suffix: str | NotGiven | None = NOT_GIVEN,
        temperature: float | NotGiven | None = NOT_GIVEN,
        top_p: float | NotGiven | None = NOT_GIVEN,
        user: str | NotGiven = NOT_GIVEN,
        stream: Literal[True],
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> AsyncStream[Completion]: ...

    @overload
    async def create(
        self,
        *,
        model: str,
        prompt: str | Sequence[str] | Sequence[int] | Sequence[Sequence[int]] | None,
        best_of: int | NotGiven | None = NOT_GIVEN,
        echo: bool | NotGiven | None = NOT_GIVEN,
        frequency_penalty: float | NotGiven | None = NOT_GIVEN,
        logit_bias: Mapping[str, int] | NotGiven | None = NOT_GIVEN,
        logprobs: int | NotGiven | None = NOT_GIVEN,
        max_tokens: int | NotGiven | None = NOT_GIVEN,
        n: int | NotGiven | None = NOT_GIVEN,
        presence_penalty: float | NotGiven | None = NOT_GIVEN,
        seed: int | NotGiven | None = NOT_GIVEN,
        stop: str | Sequence[str] | NotGiven | None = NOT_GIVEN,
        stream_options: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        suffix: str | NotGiven | None = NOT_GIVEN,
        temperature: float | NotGiven | None = NOT_GIVEN,
        top_p: float | NotGiven | None = NOT_GIVEN,
        user: str | NotGiven = NOT_GIVEN,
        stream: bool | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Completion | AsyncStream[Completion]: ...

    async def create(
        self,
        *,
        model: str,
        prompt: str | Sequence[str] | Sequence[int] | Sequence[Sequence[int]] | None,
        best_of: int | NotGiven | None = NOT_GIVEN,
        echo: bool | NotGiven | None = NOT_GIVEN,
        frequency_penalty: float | NotGiven | None = NOT_GIVEN,
        logit_bias: Mapping[str, int] | NotGiven | None = NOT_GIVEN,
        logprobs: int | NotGiven | None = NOT_GIVEN,
        max_tokens: int | NotGiven | None = NOT_GIVEN,
        n: int | NotGiven | None = NOT_GIVEN,
        presence_penalty: float | NotGiven | None = NOT_GIVEN,
        seed: int | NotGiven | None = NOT_GIVEN,
        stop: str | Sequence[str] | NotGiven | None = NOT_GIVEN,
        stream_options: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        suffix: str | NotGiven | None = NOT_GIVEN,
        temperature: float | NotGiven | None = NOT_GIVEN,
        top_p: float | NotGiven | None = NOT_GIVEN,
        user: str | NotGiven = NOT_GIVEN,
        stream: bool | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Completion | AsyncStream[Completion]:
        """Create a (legacy) text completion; with ``stream=True`` an
        ``AsyncStream`` of ``Completion`` pieces."""
        body = _body(
            {
                "model": model,
                "prompt": prompt,
                "best_of": best_of,
                "echo": echo,
                "frequency_penalty": frequency_penalty,
                "logit_bias": logit_bias,
                "logprobs": logprobs,
                "max_tokens": max_tokens,
                "n": n,
                "presence_penalty": presence_penalty,
                "seed": seed,
                "stop": stop,
                "stream_options": stream_options,
                "suffix": suffix,
                "temperature": temperature,
                "top_p": top_p,
                "user": user,
                "stream": stream,
            }
        )
        result: Completion | AsyncStream[Completion] = await self._call(
            "POST",
            "/completions",
            body=body,
            options=_options(
                extra_headers=extra_headers,
                extra_query=extra_query,
                extra_body=extra_body,
                timeout=timeout,
                max_retries=max_retries,
            ),
            parse=_model("Completion"),
            stream_decoder=_decoder("CompletionStreamDecoder") if stream is True else None,
        )
        return result


class Responses(_Resource):
    """``client.responses``."""

    def __init__(self, client: Client, *, raw: bool = False) -> None:
        super().__init__(client, raw=raw)
        self.input_items = InputItems(client, raw=raw)

    @overload
    async def create(
        self,
        *,
        background: bool | NotGiven | None = NOT_GIVEN,
        context_management: Iterable[Mapping[str, Any]] | NotGiven | None = NOT_GIVEN,
        conversation: str | Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        include: Sequence[str] | NotGiven | None = NOT_GIVEN,
        input: str | Iterable[Any] | NotGiven = NOT_GIVEN,
        instructions: str | NotGiven | None = NOT_GIVEN,
        max_output_tokens: int | NotGiven | None = NOT_GIVEN,
        max_tool_calls: int | NotGiven | None = NOT_GIVEN,
        metadata: Mapping[str, str] | NotGiven | None = NOT_GIVEN,
        model: str | NotGiven = NOT_GIVEN,
        moderation: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        parallel_tool_calls: bool | NotGiven | None = NOT_GIVEN,
        previous_response_id: str | NotGiven | None = NOT_GIVEN,
        prompt: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        prompt_cache_key: str | NotGiven = NOT_GIVEN,
        prompt_cache_options: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        prompt_cache_retention: str | NotGiven | None = NOT_GIVEN,
        reasoning: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        safety_identifier: str | NotGiven = NOT_GIVEN,
        service_tier: str | NotGiven | None = NOT_GIVEN,
        store: bool | NotGiven | None = NOT_GIVEN,
        stream_options: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        temperature: float | NotGiven | None = NOT_GIVEN,
        text: Mapping[str, Any] | NotGiven = NOT_GIVEN,
        tool_choice: str | Mapping[str, Any] | NotGiven = NOT_GIVEN,
        tools: Iterable[Mapping[str, Any]] | NotGiven = NOT_GIVEN,
        top_logprobs: int | NotGiven | None = NOT_GIVEN,
        top_p: float | NotGiven | None = NOT_GIVEN,
        truncation: str | NotGiven | None = NOT_GIVEN,
        user: str | NotGiven = NOT_GIVEN,
        stream: Literal[False] | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Response: ...

    @overload
    async def create(
        self,
        *,
        background: bool | NotGiven | None = NOT_GIVEN,
        context_management: Iterable[Mapping[str, Any]] | NotGiven | None = NOT_GIVEN,
        conversation: str | Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        include: Sequence[str] | NotGiven | None = NOT_GIVEN,
        input: str | Iterable[Any] | NotGiven = NOT_GIVEN,
        instructions: str | NotGiven | None = NOT_GIVEN,
        max_output_tokens: int | NotGiven | None = NOT_GIVEN,
        max_tool_calls: int | NotGiven | None = NOT_GIVEN,
        metadata: Mapping[str, str] | NotGiven | None = NOT_GIVEN,
        model: str | NotGiven = NOT_GIVEN,
        moderation: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        parallel_tool_calls: bool | NotGiven | None = NOT_GIVEN,
        previous_response_id: str | NotGiven | None = NOT_GIVEN,
        prompt: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        prompt_cache_key: str | NotGiven = NOT_GIVEN,
        prompt_cache_options: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        prompt_cache_retention: str | NotGiven | None = NOT_GIVEN,
        reasoning: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        safety_identifier: str | NotGiven = NOT_GIVEN,
        service_tier: str | NotGiven | None = NOT_GIVEN,
        store: bool | NotGiven | None = NOT_GIVEN,
        stream_options: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        temperature: float | NotGiven | None = NOT_GIVEN,
        text: Mapping[str, Any] | NotGiven = NOT_GIVEN,
        tool_choice: str | Mapping[str, Any] | NotGiven = NOT_GIVEN,
        tools: Iterable[Mapping[str, Any]] | NotGiven = NOT_GIVEN,
        top_logprobs: int | NotGiven | None = NOT_GIVEN,
        top_p: float | NotGiven | None = NOT_GIVEN,
        truncation: str | NotGiven | None = NOT_GIVEN,
        user: str | NotGiven = NOT_GIVEN,
        stream: Literal[True],
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> AsyncStream[ResponseStreamEvent]: ...

    @overload
    async def create(
        self,
        *,
        background: bool | NotGiven | None = NOT_GIVEN,
        context_management: Iterable[Mapping[str, Any]] | NotGiven | None = NOT_GIVEN,
        conversation: str | Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        include: Sequence[str] | NotGiven | None = NOT_GIVEN,
        input: str | Iterable[Any] | NotGiven = NOT_GIVEN,
        instructions: str | NotGiven | None = NOT_GIVEN,
        max_output_tokens: int | NotGiven | None = NOT_GIVEN,
        max_tool_calls: int | NotGiven | None = NOT_GIVEN,
        metadata: Mapping[str, str] | NotGiven | None = NOT_GIVEN,
        model: str | NotGiven = NOT_GIVEN,
        moderation: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        parallel_tool_calls: bool | NotGiven | None = NOT_GIVEN,
        previous_response_id: str | NotGiven | None = NOT_GIVEN,
        prompt: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        prompt_cache_key: str | NotGiven = NOT_GIVEN,
        prompt_cache_options: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        prompt_cache_retention: str | NotGiven | None = NOT_GIVEN,
        reasoning: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        safety_identifier: str | NotGiven = NOT_GIVEN,
        service_tier: str | NotGiven | None = NOT_GIVEN,
        store: bool | NotGiven | None = NOT_GIVEN,
        stream_options: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        temperature: float | NotGiven | None = NOT_GIVEN,
        text: Mapping[str, Any] | NotGiven = NOT_GIVEN,
        tool_choice: str | Mapping[str, Any] | NotGiven = NOT_GIVEN,
        tools: Iterable[Mapping[str, Any]] | NotGiven = NOT_GIVEN,
        top_logprobs: int | NotGiven | None = NOT_GIVEN,
        top_p: float | NotGiven | None = NOT_GIVEN,
        truncation: str | NotGiven | None = NOT_GIVEN,
        user: str | NotGiven = NOT_GIVEN,
        stream: bool | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Response | AsyncStream[ResponseStreamEvent]: ...

    async def create(
        self,
        *,
        background: bool | NotGiven | None = NOT_GIVEN,
        context_management: Iterable[Mapping[str, Any]] | NotGiven | None = NOT_GIVEN,
        conversation: str | Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        include: Sequence[str] | NotGiven | None = NOT_GIVEN,
        input: str | Iterable[Any] | NotGiven = NOT_GIVEN,
        instructions: str | NotGiven | None = NOT_GIVEN,
        max_output_tokens: int | NotGiven | None = NOT_GIVEN,
        max_tool_calls: int | NotGiven | None = NOT_GIVEN,
        metadata: Mapping[str, str] | NotGiven | None = NOT_GIVEN,
        model: str | NotGiven = NOT_GIVEN,
        moderation: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        parallel_tool_calls: bool | NotGiven | None = NOT_GIVEN,
        previous_response_id: str | NotGiven | None = NOT_GIVEN,
        prompt: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        prompt_cache_key: str | NotGiven = NOT_GIVEN,
        prompt_cache_options: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        prompt_cache_retention: str | NotGiven | None = NOT_GIVEN,
        reasoning: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        safety_identifier: str | NotGiven = NOT_GIVEN,
        service_tier: str | NotGiven | None = NOT_GIVEN,
        store: bool | NotGiven | None = NOT_GIVEN,
        stream_options: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        temperature: float | NotGiven | None = NOT_GIVEN,
        text: Mapping[str, Any] | NotGiven = NOT_GIVEN,
        tool_choice: str | Mapping[str, Any] | NotGiven = NOT_GIVEN,
        tools: Iterable[Mapping[str, Any]] | NotGiven = NOT_GIVEN,
        top_logprobs: int | NotGiven | None = NOT_GIVEN,
        top_p: float | NotGiven | None = NOT_GIVEN,
        truncation: str | NotGiven | None = NOT_GIVEN,
        user: str | NotGiven = NOT_GIVEN,
        stream: bool | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Response | AsyncStream[ResponseStreamEvent]:
        """Create a model response; with ``stream=True`` an ``AsyncStream`` of
        Responses stream events."""
        body = _body(
            {
                "background": background,
                "context_management": context_management,
                "conversation": conversation,
                "include": include,
                "input": input,
                "instructions": instructions,
                "max_output_tokens": max_output_tokens,
                "max_tool_calls": max_tool_calls,
                "metadata": metadata,
                "model": model,
                "moderation": moderation,
                "parallel_tool_calls": parallel_tool_calls,
                "previous_response_id": previous_response_id,
                "prompt": prompt,
                "prompt_cache_key": prompt_cache_key,
                "prompt_cache_options": prompt_cache_options,
                "prompt_cache_retention": prompt_cache_retention,
                "reasoning": reasoning,
                "safety_identifier": safety_identifier,
                "service_tier": service_tier,
                "store": store,
                "stream_options": stream_options,
                "temperature": temperature,
                "text": text,
                "tool_choice": tool_choice,
                "tools": tools,
                "top_logprobs": top_logprobs,
                "top_p": top_p,
                "truncation": truncation,
                "user": user,
                "stream": stream,
            }
        )
        result: Response | AsyncStream[ResponseStreamEvent] = await self._call(
            "POST",
            "/responses",
            body=body,
            options=_options(
                extra_headers=extra_headers,
                extra_query=extra_query,
                extra_body=extra_body,
                timeout=timeout,
                max_retries=max_retries,
            ),
            parse=_model("Response"),
            stream_decoder=_decoder("ResponseStreamDecoder", "parse_response_stream_event") if stream is True else None,
        )
        return result

    @overload
    async def retrieve(
        self,
        response_id: str,
        *,
        include: Sequence[str] | NotGiven = NOT_GIVEN,
        include_obfuscation: bool | NotGiven = NOT_GIVEN,
        starting_after: int | NotGiven = NOT_GIVEN,
        stream: Literal[False] | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Response: ...

    @overload
    async def retrieve(
        self,
        response_id: str,
        *,
        include: Sequence[str] | NotGiven = NOT_GIVEN,
        include_obfuscation: bool | NotGiven = NOT_GIVEN,
        starting_after: int | NotGiven = NOT_GIVEN,
        stream: Literal[True],
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> AsyncStream[ResponseStreamEvent]: ...

    async def retrieve(
        self,
        response_id: str,
        *,
        include: Sequence[str] | NotGiven = NOT_GIVEN,
        include_obfuscation: bool | NotGiven = NOT_GIVEN,
        starting_after: int | NotGiven = NOT_GIVEN,
        stream: bool | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Response | AsyncStream[ResponseStreamEvent]:
        """Fetch a stored response; with ``stream=True`` replay its events."""
        query = _query(
            {
                "include": include,
                "include_obfuscation": include_obfuscation,
                "starting_after": starting_after,
                "stream": stream,
            }
        )
        result: Response | AsyncStream[ResponseStreamEvent] = await self._call(
            "GET",
            f"/responses/{_segment(response_id, 'response_id')}",
            query=query,
            options=_options(
                extra_headers=extra_headers,
                extra_query=extra_query,
                extra_body=extra_body,
                timeout=timeout,
                max_retries=max_retries,
            ),
            parse=_model("Response"),
            stream_decoder=_decoder("ResponseStreamDecoder", "parse_response_stream_event") if stream is True else None,
        )
        return result

    async def delete(
        self,
        response_id: str,
        *,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> None:
        """Delete a stored response (the API answers with no body)."""
        # Returned for the ``with_raw_response`` form; None otherwise.
        result: None = await self._call(
            "DELETE",
            f"/responses/{_segment(response_id, 'response_id')}",
            options=_options(
                extra_headers=extra_headers,
                extra_query=extra_query,
                extra_body=extra_body,
                timeout=timeout,
                max_retries=max_retries,
            ),
            parse=None,
        )
        return result

    async def cancel(
        self,
        response_id: str,
        *,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Response:
        """Cancel a background response."""
        result: Response = await self._call(
            "POST",
            f"/responses/{_segment(response_id, 'response_id')}/cancel",
            options=_options(
                extra_headers=extra_headers,
                extra_query=extra_query,
                extra_body=extra_body,
                timeout=timeout,
                max_retries=max_retries,
            ),
            parse=_model("Response"),
        )
        return result


class InputItems(_Resource):
    """``client.responses.input_items``."""

    def list(
        self,
        response_id: str,
        *,
        after: str | NotGiven = NOT_GIVEN,
        include: Sequence[str] | NotGiven = NOT_GIVEN,
        limit: int | NotGiven = NOT_GIVEN,
        order: Literal["asc", "desc"] | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> AsyncPaginator[ItemResource, AsyncCursorPage[ItemResource]]:
        """A response's input items: ``await`` for one page, or ``async for``
        (no ``await``) over every item of every page."""
        path = f"/responses/{_segment(response_id, 'response_id')}/input_items"
        options = _options(
            extra_headers=extra_headers,
            extra_query=extra_query,
            extra_body=extra_body,
            timeout=timeout,
            max_retries=max_retries,
        )
        query = _query({"after": after, "include": include, "limit": limit, "order": order})
        return self._list(AsyncCursorPage, path, query, options, _item_parser())


def _item_parser() -> Callable[[Any], Any]:
    def parse(data: Any) -> Any:
        types = importlib.import_module("openai_sansio.types")
        return types.parse_item_resource(data)

    return parse


class Embeddings(_Resource):
    """``client.embeddings``."""

    async def create(
        self,
        *,
        input: str | Sequence[str] | Sequence[int] | Sequence[Sequence[int]],
        model: str,
        dimensions: int | NotGiven = NOT_GIVEN,
        encoding_format: Literal["float", "base64"] | NotGiven = NOT_GIVEN,
        user: str | NotGiven = NOT_GIVEN,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> CreateEmbeddingResponse:
        """Embed text or token arrays."""
        body = _body(
            {
                "input": input,
                "model": model,
                "dimensions": dimensions,
                "encoding_format": encoding_format,
                "user": user,
            }
        )
        result: CreateEmbeddingResponse = await self._call(
            "POST",
            "/embeddings",
            body=body,
            options=_options(
                extra_headers=extra_headers,
                extra_query=extra_query,
                extra_body=extra_body,
                timeout=timeout,
                max_retries=max_retries,
            ),
            parse=_model("CreateEmbeddingResponse"),
        )
        return result


class Models(_Resource):
    """``client.models``."""

    def list(
        self,
        *,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> AsyncPaginator[Model, AsyncPage[Model]]:
        """Every model available (the API returns them in one page):
        ``await`` for the page, or ``async for`` over the models."""
        options = _options(
            extra_headers=extra_headers,
            extra_query=extra_query,
            extra_body=extra_body,
            timeout=timeout,
            max_retries=max_retries,
        )
        return self._list(AsyncPage, "/models", {}, options, _model("Model"))

    async def retrieve(
        self,
        model: str,
        *,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Model:
        """One model by id."""
        result: Model = await self._call(
            "GET",
            f"/models/{_segment(model, 'model')}",
            options=_options(
                extra_headers=extra_headers,
                extra_query=extra_query,
                extra_body=extra_body,
                timeout=timeout,
                max_retries=max_retries,
            ),
            parse=_model("Model"),
        )
        return result

    async def delete(
        self,
        model: str,
        *,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> ModelDeleted:
        """Delete a fine-tuned model you own."""
        result: ModelDeleted = await self._call(
            "DELETE",
            f"/models/{_segment(model, 'model')}",
            options=_options(
                extra_headers=extra_headers,
                extra_query=extra_query,
                extra_body=extra_body,
                timeout=timeout,
                max_retries=max_retries,
            ),
            parse=_model("ModelDeleted"),
        )
        return result
