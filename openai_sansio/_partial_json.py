"""Parse the JSON a model is still writing.

A structured output or a tool call's arguments arrive as text deltas;
``parse_partial_json(text)`` gives the value the text so far describes:
objects and arrays left open are closed, a string cut short is kept as far
as it goes, and a key without its value (or a number or literal that may
still grow) is left out.  Every value reported for a prefix is therefore a
prefix-compatible part of the final value: keys only get added, arrays only
grow, the last string only gets longer.

When nothing can be said yet (empty or blank text, a lone ``-``, a top-level
number that may have more digits) the result is ``INCOMPLETE``.  Text that
can never become JSON raises ``PartialJSONError``.

One pass over the text, no recursion (nesting is an explicit stack,
bounded by ``max_depth``), and regular expressions without backtracking
traps, so the time is linear in the length of the text whatever it holds.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from ._errors import OpenAIError

__all__ = ["INCOMPLETE", "DEFAULT_MAX_DEPTH", "PartialJSONError", "parse_partial_json"]

DEFAULT_MAX_DEPTH: Final = 512


class PartialJSONError(OpenAIError, ValueError):
    """The text is not the beginning of any JSON text (or nests too deep).

    ``position`` is the offset of the first character that cannot belong.
    """

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at offset {position}")
        self.position = position


class _Incomplete:
    __slots__ = ()

    def __repr__(self) -> str:
        return "INCOMPLETE"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "INCOMPLETE"


#: What ``parse_partial_json`` returns while the text says nothing yet.
INCOMPLETE: Final = _Incomplete()

_WS = re.compile(r"[ \t\n\r]*")
# A whole number token; a match that runs to the end of the text may grow.
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
# What a number cut short can look like at the very end of the text.
_NUMBER_PREFIX = re.compile(r"-?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)?(?:[eE][+-]?[0-9]*)?)?\Z")
# The body of a string, and an escape cut short at the end of the text.
# Each alternative starts with a different character, so matching never
# backtracks.
_STRING_BODY = re.compile(r'(?:[^"\\\x00-\x1f]+|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*')
_CUT_ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{0,3})?\Z")
_LITERALS: Final = {"true": True, "false": False, "null": None}

_scanstring = json.decoder.scanstring  # type: ignore[attr-defined]

# Parser states (what the next token may be).
_VALUE = 0  # a value
_KEY_OR_END = 1  # just after "{": a key or "}"
_KEY = 2  # after "," in an object: a key
_COLON = 3  # after a key
_VALUE_OR_END = 4  # just after "[": a value or "]"
_AFTER = 5  # after a value: "," or the container's close, or the end


def parse_partial_json(text: str, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """The value the beginning of a JSON text describes, or ``INCOMPLETE``.

    A complete JSON text gives what ``json.loads`` gives (except that a
    top-level number is ``INCOMPLETE``, as more digits could follow).
    """
    n = len(text)
    pos = _WS.match(text, 0).end()  # type: ignore[union-attr]
    root: Any = INCOMPLETE
    # Open containers, innermost last; for an object, the key waiting for
    # its value sits in ``keys`` at the same depth.
    stack: list[Any] = []
    keys: list[str | None] = []
    state = _VALUE
    while pos < n:
        ch = text[pos]
        if state == _AFTER:
            if not stack:
                raise PartialJSONError("unexpected text after the JSON value", pos)
            top = stack[-1]
            if ch == ",":
                state = _KEY if type(top) is dict else _VALUE
                pos += 1
            elif ch == ("}" if type(top) is dict else "]"):
                stack.pop()
                keys.pop()
                pos += 1
            else:
                raise PartialJSONError("expected ',' or the end of the container", pos)
        elif state == _COLON:
            if ch != ":":
                raise PartialJSONError("expected ':' after an object key", pos)
            state = _VALUE
            pos += 1
        elif state in (_KEY, _KEY_OR_END):
            if ch == "}" and state == _KEY_OR_END:
                stack.pop()
                keys.pop()
                state = _AFTER
                pos += 1
            elif ch == '"':
                value, pos, whole = _string(text, pos)
                if not whole:
                    break
                keys[-1] = value
                state = _COLON
            else:
                raise PartialJSONError("expected an object key", pos)
        else:
            if ch == "]" and state == _VALUE_OR_END:
                stack.pop()
                keys.pop()
                state = _AFTER
                pos += 1
            elif ch == "{" or ch == "[":
                if len(stack) >= max_depth:
                    raise PartialJSONError(f"nesting deeper than {max_depth}", pos)
                container: Any = {} if ch == "{" else []
                root = _attach(root, stack, keys, container)
                stack.append(container)
                keys.append(None)
                state = _KEY_OR_END if ch == "{" else _VALUE_OR_END
                pos += 1
            elif ch == '"':
                value, pos, whole = _string(text, pos)
                root = _attach(root, stack, keys, value)
                if not whole:
                    break
                state = _AFTER
            elif ch == "-" or "0" <= ch <= "9":
                if _NUMBER_PREFIX.match(text, pos) is not None:
                    # It runs to the end of the text, so it may still grow.
                    break
                found = _NUMBER.match(text, pos)
                if found is None:
                    raise PartialJSONError("malformed number", pos)
                end = found.end()
                token = found.group()
                number: Any = int(token) if token.lstrip("-").isdigit() else float(token)
                root = _attach(root, stack, keys, number)
                pos = end
                state = _AFTER
            elif ch in "tfn":
                word = "true" if ch == "t" else "false" if ch == "f" else "null"
                piece = text[pos : pos + len(word)]
                if piece == word:
                    root = _attach(root, stack, keys, _LITERALS[word])
                    pos += len(word)
                    state = _AFTER
                elif word.startswith(piece) and pos + len(piece) == n:
                    break
                else:
                    raise PartialJSONError("malformed literal", pos)
            else:
                raise PartialJSONError("expected a JSON value", pos)
        pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
    return root


def _attach(root: Any, stack: list[Any], keys: list[str | None], value: Any) -> Any:
    if not stack:
        return value
    top = stack[-1]
    if type(top) is dict:
        key = keys[-1]
        assert key is not None
        top[key] = value
        keys[-1] = None
    else:
        top.append(value)
    return root


def _string(text: str, pos: int) -> tuple[str, int, bool]:
    """The string starting at ``text[pos] == '"'``: its value, where it
    ends, and whether its closing quote arrived."""
    body = _STRING_BODY.match(text, pos + 1)
    assert body is not None  # the pattern matches the empty string
    end = body.end()
    n = len(text)
    if end < n and text[end] == '"':
        value, after = _scanstring(text, pos + 1, True)
        return value, after, True
    if end == n or _CUT_ESCAPE.match(text, end) is not None:
        value = _scanstring(text[pos:end] + '"', 1, True)[0]
        if value and "\ud800" <= value[-1] <= "\udbff":
            # Half of a surrogate pair: the other half is still to come,
            # and the pair decodes to one character that this is not.
            value = value[:-1]
        return value, n, False
    raise PartialJSONError("invalid character in a string", end)
