"""parse_partial_json: every prefix of a JSON text gives a value consistent
with the whole, or INCOMPLETE; anything else is a PartialJSONError."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_sansio import INCOMPLETE, PartialJSONError, parse_partial_json

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5)
    | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=20,
)


def consistent(partial: Any, final: Any) -> bool:
    """``partial`` could be what a prefix of ``final``'s text describes."""
    if partial is INCOMPLETE:
        return True
    if isinstance(final, dict):
        return isinstance(partial, dict) and all(
            k in final and consistent(v, final[k]) for k, v in partial.items()
        )
    if isinstance(final, list):
        return (
            isinstance(partial, list)
            and len(partial) <= len(final)
            and all(consistent(p, f) for p, f in zip(partial, final, strict=False))
        )
    if isinstance(final, str):
        return isinstance(partial, str) and final.startswith(partial)
    if isinstance(final, float) and isinstance(partial, float):
        return partial == final or (math.isnan(partial) and math.isnan(final))
    return type(partial) is type(final) and partial == final


def check_prefixes(text: str, final: Any) -> None:
    for cut in range(len(text) + 1):
        got = parse_partial_json(text[:cut])
        assert consistent(got, final), (text[:cut], got)
    whole = parse_partial_json(text)
    if not isinstance(final, (int, float)) or isinstance(final, bool):
        assert whole == final
    else:
        assert whole is INCOMPLETE or whole == final


@settings(max_examples=150, deadline=None)
@given(json_values, st.booleans(), st.sampled_from([None, 1]))
def test_every_prefix_is_consistent(value: Any, ascii_only: bool, indent: int | None) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only, indent=indent)
    check_prefixes(text, json.loads(text))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='{}[]",:0123456789.eE+-tfnrulase \\u\n', max_size=30))
def test_arbitrary_text_is_value_incomplete_or_typed_error(text: str) -> None:
    try:
        parse_partial_json(text)
    except PartialJSONError as exc:
        assert 0 <= exc.position <= len(text)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_any_text_never_raises_untyped(text: str) -> None:
    try:
        parse_partial_json(text)
    except PartialJSONError:
        pass


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", INCOMPLETE),
        ("   ", INCOMPLETE),
        ("-", INCOMPLETE),
        ("12", INCOMPLETE),
        ("{", {}),
        ('{"na', {}),
        ('{"name"', {}),
        ('{"name": ', {}),
        ('{"name": "Ad', {"name": "Ad"}),
        ('{"name": "Ada", "tags": ["x", "y', {"name": "Ada", "tags": ["x", "y"]}),
        ('{"n": 12', {}),
        ('{"n": 12,', {"n": 12}),
        ('{"n": 1.', {}),
        ('{"n": 1e', {}),
        ('[tr', []),
        ('[true, fals', [True]),
        ('[null]', [None]),
        ('"line\\', "line"),
        ('"\\u00e', ""),
        ('"\\ud83d', ""),
        ('"\\ud83d\\ude00', "\U0001f600"),
        ('{"a": {"b": [{"c": "d', {"a": {"b": [{"c": "d"}]}}),
    ],
)
def test_examples(text: str, expected: Any) -> None:
    assert parse_partial_json(text) == expected


@pytest.mark.parametrize(
    "text",
    ["}", "]", "{]", "[}", '{"a" 1', '{1: 2}', "[1 2]", "[01]", "[1.]", "[-x]", "[nul]", "truex",
     '{"a":1}}', '"\x01"', '"\\x"', "[,]", "{,}", '{"a":1,}', "@"],
)
def test_never_json(text: str) -> None:
    with pytest.raises(PartialJSONError):
        parse_partial_json(text)


def test_depth_is_bounded() -> None:
    assert parse_partial_json("[" * 10, max_depth=10) == [[[[[[[[[[]]]]]]]]]]
    with pytest.raises(PartialJSONError, match="nesting deeper than 10"):
        parse_partial_json("[" * 11, max_depth=10)
    with pytest.raises(PartialJSONError):
        parse_partial_json("[" * 100_000)


def test_big_inputs_take_one_pass() -> None:
    # Shapes that make naive parsers quadratic (or recursive) still finish
    # well inside the test's time bound.
    long_string = '"' + 'ab\\"' * 200_000
    assert parse_partial_json(long_string) == 'ab"' * 200_000
    wide = "[" + "1," * 200_000
    assert len(parse_partial_json(wide)) == 200_000
    many_keys = "{" + ",".join(f'"k{i}": "{i}"' for i in range(50_000))
    assert len(parse_partial_json(many_keys)) == 50_000
    digits = "[" + "9" * 100_000
    assert parse_partial_json(digits) == []
