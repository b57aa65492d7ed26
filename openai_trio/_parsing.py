"""``client.chat.completions.parse()`` and ``client.responses.parse()``.

Both send the generated ``create`` with the type turned into its strict
JSON schema, then hand the result to the core's ``parse_chat_completion`` /
``parse_response``: the request lifecycle is the generated method's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

from openai_sansio import NOT_GIVEN, LocalProtocolError
from openai_sansio._structured import (
    FunctionTool,
    check_parse_tools,
    parse_chat_completion,
    parse_response,
    response_format_from,
    text_format_from,
)

if TYPE_CHECKING:
    from openai_sansio._parsed import ParsedChatCompletion, ParsedResponse

    from ._namespace import Namespace

__all__ = ["ChatCompletionsParseMixin", "ResponsesParseMixin"]

T = TypeVar("T")


def _given(value: Any) -> bool:
    return value is not NOT_GIVEN and value is not None


class ChatCompletionsParseMixin:
    """``client.chat.completions.parse(...)``."""

    __slots__ = ()

    @overload
    async def parse(
        self, *, response_format: type[T], tools: Iterable[Any] = ..., **params: Any
    ) -> ParsedChatCompletion[T]: ...
    @overload
    async def parse(
        self, *, response_format: Mapping[str, Any] = ..., tools: Iterable[Any] = ..., **params: Any
    ) -> ParsedChatCompletion[None]: ...
    async def parse(
        self, *, response_format: Any = NOT_GIVEN, tools: Any = NOT_GIVEN, **params: Any
    ) -> ParsedChatCompletion[Any]:
        """A chat completion with its content parsed into ``response_format``.

        Takes what ``create`` takes except ``stream``.  ``response_format``
        is a type (sent as its strict JSON schema; each message's
        ``parsed`` is an instance of it, None on a refusal) or a mapping
        sent as it is.  ``tools`` must be strict function tools (see
        ``function_tool``); each call's ``function.parsed_arguments`` is
        filled in.  A choice cut off at the token limit raises
        ``LengthFinishReasonError``, one stopped by the content filter
        ``ContentFilterFinishReasonError``; content that does not fit the
        type ``StructuredOutputError``.
        """
        if "stream" in params:
            raise LocalProtocolError("parse() does not stream; use stream() for that")
        tool_list: list[Any] = []
        if _given(tools):
            tool_list = check_parse_tools(tools, "chat")
            params["tools"] = tool_list
        if _given(response_format):
            params["response_format"] = response_format_from(response_format)
        namespace: Namespace = self  # type: ignore[assignment]
        completion = await namespace._view("parsed").create(**params)  # type: ignore[attr-defined]
        return parse_chat_completion(
            completion,
            response_format=response_format if _given(response_format) else None,
            tools=tool_list,
        )


class ResponsesParseMixin:
    """``client.responses.parse(...)``."""

    __slots__ = ()

    @overload
    async def parse(
        self, *, text_format: type[T], tools: Iterable[Any] = ..., **params: Any
    ) -> ParsedResponse[T]: ...
    @overload
    async def parse(
        self, *, text_format: None = ..., tools: Iterable[Any] = ..., **params: Any
    ) -> ParsedResponse[None]: ...
    async def parse(
        self, *, text_format: Any = None, tools: Any = NOT_GIVEN, **params: Any
    ) -> ParsedResponse[Any]:
        """A response with its final text parsed into ``text_format``.

        Takes what ``create`` takes except ``stream``; ``text_format`` (a
        type) goes out as ``text.format`` (other ``text`` settings such as
        ``verbosity`` are kept), and ``output_parsed`` is the instance.
        Calls of strict function tools in ``tools`` get ``parsed_arguments``
        (an instance of the type for a ``function_tool``); other tools pass
        through, as in the official SDK.
        """
        if "stream" in params:
            raise LocalProtocolError("parse() does not stream; use stream() for that")
        tool_list: list[Any] = []
        if _given(tools):
            tool_list = _responses_tools(tools)
            params["tools"] = tool_list
        if text_format is not None:
            text = params.get("text", NOT_GIVEN)
            if _given(text) and not isinstance(text, Mapping):
                raise LocalProtocolError("text must be a mapping")
            if _given(text) and "format" in text:
                raise LocalProtocolError("pass text_format or text.format, not both")
            params["text"] = {**(text if _given(text) else {}), "format": text_format_from(text_format)}
        namespace: Namespace = self  # type: ignore[assignment]
        response = await namespace._view("parsed").create(**params)  # type: ignore[attr-defined]
        return parse_response(response, text_format=text_format, tools=tool_list)


def _responses_tools(tools: Iterable[Any]) -> list[Any]:
    # As the official SDK: function tools made by function_tool (in either
    # shape) go out in the Responses shape; every other tool passes through,
    # and a non-strict function tool's calls are just not parsed.
    return [t.for_api("responses") if isinstance(t, FunctionTool) else t for t in tools]
