"""The results of ``parse``: the generated completion and response models
with the parsed values added, under the official SDK's names.

Each class is a subclass of the model it extends, so code written for a
``ChatCompletion`` or a ``Response`` takes these too.  ``to_dict()`` is
still the payload as received (the parsed values are not part of it).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import attrs

from .types.chat import (
    ChatCompletion,
    ChatCompletionMessage,
    ChatCompletionMessageToolCall,
    ChatCompletionMessageToolCallFunction,
    Choice,
)
from .types.responses import FunctionToolCall, OutputMessage, OutputTextContent, Response

__all__ = [
    "ParsedChatCompletion",
    "ParsedChatCompletionMessage",
    "ParsedChoice",
    "ParsedFunction",
    "ParsedFunctionToolCall",
    "ParsedResponse",
    "ParsedResponseFunctionToolCall",
    "ParsedResponseOutputMessage",
    "ParsedResponseOutputText",
]

T = TypeVar("T")


@attrs.define(slots=True, kw_only=True, eq=False, repr=False)
class ParsedFunction(ChatCompletionMessageToolCallFunction):
    """A function call with ``parsed_arguments``: an instance of the tool's
    type (or the dict of its function's keyword arguments) for a
    ``FunctionTool``, the decoded JSON for another strict tool, else None."""

    parsed_arguments: Any = None


@attrs.define(slots=True, kw_only=True, eq=False, repr=False)
class ParsedFunctionToolCall(ChatCompletionMessageToolCall):
    function: ParsedFunction


@attrs.define(slots=True, kw_only=True, eq=False, repr=False)
class ParsedChatCompletionMessage(ChatCompletionMessage, Generic[T]):
    """A message with ``parsed``: the content built into the requested
    type; None when the model refused (see ``refusal``) or sent no content."""

    parsed: T | None = None
    tool_calls: list[Any] | None = None


@attrs.define(slots=True, kw_only=True, eq=False, repr=False)
class ParsedChoice(Choice, Generic[T]):
    message: ParsedChatCompletionMessage[T]


@attrs.define(slots=True, kw_only=True, eq=False, repr=False)
class ParsedChatCompletion(ChatCompletion, Generic[T]):
    """What ``client.chat.completions.parse`` returns."""

    choices: list[ParsedChoice[T]]  # type: ignore[assignment]


@attrs.define(slots=True, kw_only=True, eq=False, repr=False)
class ParsedResponseOutputText(OutputTextContent, Generic[T]):
    parsed: T | None = None


@attrs.define(slots=True, kw_only=True, eq=False, repr=False)
class ParsedResponseOutputMessage(OutputMessage, Generic[T]):
    content: list[Any]


@attrs.define(slots=True, kw_only=True, eq=False, repr=False)
class ParsedResponseFunctionToolCall(FunctionToolCall):
    """A function call item with ``parsed_arguments`` (as ``ParsedFunction``)."""

    parsed_arguments: Any = None


@attrs.define(slots=True, kw_only=True, eq=False, repr=False)
class ParsedResponse(Response, Generic[T]):
    """What ``client.responses.parse`` returns.  ``output`` holds the
    parsed message and function call items among the others."""

    output: list[Any]

    @property
    def output_parsed(self) -> T | None:
        """The parsed value of the first ``output_text`` part that has one."""
        for item in self.output or ():
            if isinstance(item, ParsedResponseOutputMessage):
                for part in item.content or ():
                    if isinstance(part, ParsedResponseOutputText) and part.parsed is not None:
                        found: T = part.parsed
                        return found
        return None
