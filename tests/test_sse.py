"""Tests for the event-stream decoder (``openai_sansio.SSEDecoder``).

Every byte-level input goes through ``expect()``, which feeds it whole, one
byte at a time and in a few fixed pieces, and demands the same events each
way.  Hypothesis adds arbitrary split points and compares everything against
a small reference interpreter written straight from the WHATWG rules over
text decoded in one go.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_sansio import (
    DEFAULT_MAX_EVENT_SIZE,
    LocalProtocolError,
    RemoteProtocolError,
    ServerSentEvent,
    SSEDecoder,
)

E = ServerSentEvent


# --- helpers ------------------------------------------------------------------


def run(
    chunks: Iterable[bytes], *, close: bool = True, max_event_size: int | None = None
) -> list[ServerSentEvent]:
    decoder = SSEDecoder() if max_event_size is None else SSEDecoder(max_event_size=max_event_size)
    events: list[ServerSentEvent] = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    if close:
        events += decoder.close()
    return events


def bytewise(stream: bytes) -> list[bytes]:
    return [stream[i : i + 1] for i in range(len(stream))]


def split_at(stream: bytes, points: Iterable[int]) -> list[bytes]:
    cuts = sorted({p for p in points if 0 < p < len(stream)})
    edges = [0, *cuts, len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(edges)]


def splittings(stream: bytes) -> list[list[bytes]]:
    return [
        [stream],
        bytewise(stream),
        split_at(stream, range(0, len(stream), 3)),
        split_at(stream, range(0, len(stream), 7)),
        [b"", *bytewise(stream)[:2], b"", stream[2:], b""],
    ]


def expect(stream: bytes, expected: Sequence[ServerSentEvent], *, close: bool = True) -> None:
    for chunks in splittings(stream):
        assert run(chunks, close=close) == list(expected), chunks


def final_state(stream: bytes, *, close: bool = True) -> list[tuple[str | None, int | None]]:
    """(last_event_id, retry) after the stream, for each way of splitting it."""
    states = []
    for chunks in splittings(stream):
        decoder = SSEDecoder()
        for chunk in chunks:
            decoder.feed(chunk)
        if close:
            decoder.close()
        states.append((decoder.last_event_id, decoder.retry))
    return states


def reference(stream: bytes) -> list[ServerSentEvent]:
    """The WHATWG interpretation of a whole stream, plus our close() leniency."""
    text = stream.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    *lines, last = re.split(r"\r\n|\r|\n", text)
    if last:
        lines.append(last)
    lines.append("")
    events: list[ServerSentEvent] = []
    data = ""
    event: str | None = None
    id_buffer: str | None = None
    block_retry: int | None = None
    for line in lines:
        if not line:
            if data:
                events.append(E(event, data[:-1], id_buffer, block_retry))
            data, event, block_retry = "", None, None
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data += value + "\n"
        elif name == "event":
            event = value
        elif name == "id" and "\0" not in value:
            id_buffer = value
        elif name == "retry" and value and all(c in "0123456789" for c in value):
            digits = value.lstrip("0") or "0"
            block_retry = int(digits) if len(digits) <= 18 else block_retry
    return events


# --- the basic shapes ---------------------------------------------------------


def test_single_event_with_lf() -> None:
    expect(b'data: {"a": 1}\n\n', [E(None, '{"a": 1}')])


def test_several_events() -> None:
    expect(b"data: 1\n\ndata: 2\n\ndata: 3\n\n", [E(None, "1"), E(None, "2"), E(None, "3")])


def test_nothing_in_nothing_out() -> None:
    expect(b"", [])
    assert SSEDecoder().feed(b"") == []


def test_event_is_returned_by_the_feed_that_completes_it() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\n") == []
    assert decoder.feed(b"\n") == [E(None, "x")]
    assert decoder.feed(b"data: y\n\ndata: z") == [E(None, "y")]
    assert decoder.close() == [E(None, "z")]


def test_whole_event_feeds_honour_earlier_state() -> None:
    # One-event chunks take a shortcut; it must see what earlier feeds set.
    decoder = SSEDecoder()
    assert decoder.feed(b"event: e\nid: 1\nretry: 5\n") == []
    assert decoder.feed(b"data: x\n\n") == [E("e", "x", "1", 5)]
    assert decoder.last_event_id == "1"
    assert decoder.feed(b"data: y\n\n") == [E(None, "y", "1")]
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"data: b\n\n") == [E(None, "a\nb", "1")]
    assert decoder.feed(b"da") == []
    assert decoder.feed(b"data: c\n\n") == []
    assert decoder.feed(b"data: \n\n") == [E(None, "", "1")]
    assert decoder.feed(b"data: 1\r\n\n") == [E(None, "1", "1")]
    assert decoder.feed(b"data: 1\n\n\n") == [E(None, "1", "1")]
    assert decoder.feed(b"data: 1\rdata: 2\n\n") == [E(None, "1\n2", "1")]
    assert decoder.feed(b"data: 1\ndata: 2\n\n") == [E(None, "1\n2", "1")]
    assert decoder.feed(b"data: \xff\n\n") == [E(None, "\ufffd", "1")]


def test_bytes_like_input_is_accepted() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(bytearray(b"data: a\n\n")) == [E(None, "a")]  # type: ignore[arg-type]
    assert decoder.feed(memoryview(b"data: b\r\n\r\n")) == [E(None, "b")]  # type: ignore[arg-type]


# --- line ends ----------------------------------------------------------------


def test_crlf_line_ends() -> None:
    expect(b"data: a\r\ndata: b\r\n\r\n", [E(None, "a\nb")])


def test_cr_line_ends() -> None:
    expect(b"data: a\rdata: b\r\rdata: c\r\r", [E(None, "a\nb"), E(None, "c")])


def test_mixed_line_ends() -> None:
    expect(b"data: a\rdata: b\ndata: c\r\n\n\r\ndata: d\n\r", [E(None, "a\nb\nc"), E(None, "d")])


def test_crlf_split_across_feeds_is_one_line_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    # The LF completes the CRLF; only the second line end is a blank line.
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"data: b\r") == []
    assert decoder.feed(b"\n\r") == [E(None, "a\nb")]


def test_cr_then_other_byte_across_feeds() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\r") == [E(None, "a")]
    assert decoder.feed(b"data: b\r") == []
    assert decoder.feed(b"") == []  # an empty feed decides nothing
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\n") == [E(None, "b")]


def test_lf_lf_after_cr_is_a_blank_line() -> None:
    expect(b"data: a\r\n\n", [E(None, "a")])
    expect(b"data: a\n\r\n", [E(None, "a")])


def test_blank_line_dispatches_without_waiting_for_more() -> None:
    # A final CR might be the start of a CRLF, but it already ends the line.
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r\r") == [E(None, "a")]


def test_cr_is_never_part_of_a_value() -> None:
    expect(b"data: a\rb\n\n", [E(None, "a")])


# --- byte-order mark ----------------------------------------------------------


def test_leading_bom_is_stripped() -> None:
    expect(b"\xef\xbb\xbfdata: a\n\n", [E(None, "a")])


def test_bom_split_across_feeds() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"\xef") == []
    assert decoder.feed(b"\xbb") == []
    assert decoder.feed(b"\xbfdata: a\n\n") == [E(None, "a")]


def test_only_one_bom_is_stripped() -> None:
    # The second BOM makes the field name "\ufeffdata", an unknown field.
    expect(b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\ndata: b\n\n", [E(None, "b")])


def test_bom_after_stream_start_is_kept() -> None:
    expect(b"data: \xef\xbb\xbfa\n\n", [E(None, "\ufeffa")])
    expect(b"\n\xef\xbb\xbfdata: a\n\ndata: b\n\n", [E(None, "b")])


def test_partial_bom_is_invalid_utf8_not_a_bom() -> None:
    expect(b"\xef\xbbdata: a\n\n", [])
    expect(b"\xef\xbb:\ndata: a\n\n", [E(None, "a")])


def test_partial_bom_at_end_of_stream() -> None:
    expect(b"\xef\xbb", [])
    expect(b"\xef", [])
    decoder = SSEDecoder()
    assert decoder.feed(b"\xef\xbb") == []
    assert decoder.close() == []


# --- fields -------------------------------------------------------------------


def test_comment_lines_are_ignored() -> None:
    expect(b": keep-alive\n:\ndata: a\n: inside\ndata: b\n\n", [E(None, "a\nb")])


def test_comment_only_block_is_not_dispatched() -> None:
    expect(b": ping\n\n: ping\n\n", [])


def test_line_without_colon_is_a_field_with_empty_value() -> None:
    expect(b"data\n\n", [E(None, "")])
    expect(b"event\ndata: x\n\n", [E("", "x")])
    expect(b"id\ndata: x\n\n", [E(None, "x", "")])


def test_exactly_one_space_after_colon_is_stripped() -> None:
    expect(b"data:a\n\n", [E(None, "a")])
    expect(b"data: a\n\n", [E(None, "a")])
    expect(b"data:  a\n\n", [E(None, " a")])
    expect(b"data:\ta\n\n", [E(None, "\ta")])
    expect(b"data: a \n\n", [E(None, "a ")])


def test_only_the_first_colon_splits() -> None:
    expect(b"data: a: b:c\n\n", [E(None, "a: b:c")])
    expect(b"data:: x\n\n", [E(None, ": x")])


def test_field_names_are_exact() -> None:
    expect(b"data : a\nData: b\nDATA: c\n data: d\ndata: e\n\n", [E(None, "e")])


def test_data_lines_are_joined_with_lf() -> None:
    expect(b"data: a\ndata: b\ndata: c\n\n", [E(None, "a\nb\nc")])


def test_only_the_final_lf_is_stripped() -> None:
    expect(b"data\ndata\n\n", [E(None, "\n")])
    expect(b"data:\ndata: x\ndata:\n\n", [E(None, "\nx\n")])


def test_empty_data_line_still_dispatches() -> None:
    expect(b"data:\n\n", [E(None, "")])
    expect(b"data: \n\n", [E(None, "")])


def test_unknown_fields_are_ignored() -> None:
    expect(b"foo: bar\nbaz\ndata: a\nretryx: 5\nids: 7\n\n", [E(None, "a")])


def test_block_without_data_is_not_dispatched() -> None:
    expect(b"event: ping\n\n", [])
    expect(b"event: ping\nid: 1\nretry: 5\n\n", [])


def test_event_type_is_set_per_block() -> None:
    expect(
        b"event: add\ndata: 1\n\ndata: 2\n\n",
        [E("add", "1"), E(None, "2")],
    )


def test_event_type_resets_even_without_dispatch() -> None:
    expect(b"event: lost\n\ndata: x\n\n", [E(None, "x")])


def test_last_event_field_wins() -> None:
    expect(b"event: a\nevent: b\ndata: x\n\n", [E("b", "x")])


def test_event_none_versus_empty() -> None:
    expect(b"data: x\n\n", [E(None, "x")])
    expect(b"event:\ndata: x\n\n", [E("", "x")])


# --- id -----------------------------------------------------------------------


def test_id_persists_across_events() -> None:
    expect(
        b"id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\n",
        [E(None, "a", "1"), E(None, "b", "1"), E(None, "c", "2")],
    )
    assert final_state(b"id: 1\ndata: a\n\ndata: b\n\n") == [("1", None)] * 5


def test_id_is_none_until_set() -> None:
    decoder = SSEDecoder()
    assert decoder.last_event_id is None
    assert decoder.feed(b"data: a\n\n") == [E(None, "a", None)]
    assert decoder.last_event_id is None


def test_empty_id_resets_to_empty_string() -> None:
    expect(b"id: 1\ndata: a\n\nid:\ndata: b\n\n", [E(None, "a", "1"), E(None, "b", "")])
    assert final_state(b"id: 1\n\nid\n\n") == [("", None)] * 5


def test_id_containing_nul_is_ignored() -> None:
    expect(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n", [E(None, "a", "1"), E(None, "b", "1")])
    assert final_state(b"id: \x00\n\n") == [(None, None)] * 5


def test_id_of_block_without_data_updates_last_event_id() -> None:
    assert final_state(b"id: 7\n\n", close=False) == [("7", None)] * 5
    expect(b"id: 7\n\ndata: x\n\n", [E(None, "x", "7")])


def test_last_event_id_changes_only_when_a_block_ends() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"id: 1\n\nid: 2\ndata: x\n")
    # Still mid-block: a reconnect now would resume after event 1.
    assert decoder.last_event_id == "1"
    assert decoder.feed(b"\n") == [E(None, "x", "2")]
    assert decoder.last_event_id == "2"


def test_id_is_taken_from_anywhere_in_the_block() -> None:
    expect(b"data: x\nid: 9\n\n", [E(None, "x", "9")])


def test_id_is_decoded_as_utf8() -> None:
    expect("id: \u00e9\u20ac\ndata: x\n\n".encode(), [E(None, "x", "\u00e9\u20ac")])
    expect(b"id: \xff\ndata: x\n\n", [E(None, "x", "\ufffd")])


# --- retry --------------------------------------------------------------------


def test_retry_sets_stream_and_event_retry() -> None:
    expect(b"retry: 3000\ndata: a\n\n", [E(None, "a", None, 3000)])
    assert final_state(b"retry: 3000\ndata: a\n\n") == [(None, 3000)] * 5


def test_event_retry_is_only_from_its_own_block() -> None:
    expect(
        b"retry: 10\ndata: a\n\ndata: b\n\nretry: 20\n\ndata: c\n\n",
        [E(None, "a", None, 10), E(None, "b"), E(None, "c")],
    )
    assert final_state(b"retry: 10\ndata: a\n\nretry: 20\n\n") == [(None, 20)] * 5


@pytest.mark.parametrize(
    "value",
    [b"", b" ", b"10 ", b"  10", b"+5", b"-1", b"1.5", b"1e3", b"0x10", b"ten", b"\xd9\xa1"],
)
def test_invalid_retry_is_ignored(value: bytes) -> None:
    stream = b"retry: 5\n\nretry:" + value + b"\ndata: a\n\n"
    expect(stream, [E(None, "a")])
    assert final_state(stream) == [(None, 5)] * 5


def test_retry_with_space_before_digits_after_the_stripped_one() -> None:
    expect(b"retry:  5\ndata: a\n\n", [E(None, "a")])


def test_retry_leading_zeros_and_zero() -> None:
    expect(
        b"retry: 0\ndata: a\n\nretry: 000120\ndata: b\n\n",
        [E(None, "a", None, 0), E(None, "b", None, 120)],
    )
    expect(b"retry: 0000\ndata: a\n\n", [E(None, "a", None, 0)])


def test_absurdly_long_retry_is_ignored() -> None:
    # More digits than int() accepts by default must not escape as ValueError.
    huge = b"9" * 5000
    expect(b"retry: 7\n\nretry: " + huge + b"\ndata: a\n\n", [E(None, "a")])
    assert final_state(b"retry: 7\n\nretry: " + huge + b"\n\n") == [(None, 7)] * 5
    padded = b"0" * 5000 + b"42"
    expect(b"retry: " + padded + b"\ndata: a\n\n", [E(None, "a", None, 42)])
    expect(b"retry: " + b"9" * 18 + b"\ndata: a\n\n", [E(None, "a", None, 10**18 - 1)])


def test_retry_is_none_until_set() -> None:
    assert SSEDecoder().retry is None


# --- text decoding ------------------------------------------------------------


def test_utf8_split_across_feeds() -> None:
    stream = "data: h\u00e9llo \u20ac \U0001f600\n\n".encode()
    expect(stream, [E(None, "h\u00e9llo \u20ac \U0001f600")])
    for cut in range(len(stream)):
        assert run([stream[:cut], stream[cut:]]) == [E(None, "h\u00e9llo \u20ac \U0001f600")]


def test_invalid_utf8_becomes_replacement_characters() -> None:
    stream = b"data: a\xffb\xc3\n\n"
    expect(stream, [E(None, "a\ufffdb\ufffd")])
    assert run([stream]) == reference(stream)


def test_truncated_sequence_before_line_end() -> None:
    expect(b"data: \xe2\x82\ndata: \xe2\x82\xac\n\n", [E(None, "\ufffd\n\u20ac")])


def test_surrogate_encoding_is_rejected() -> None:
    stream = b"data: \xed\xa0\x80\n\n"
    expect(stream, [E(None, "\ufffd\ufffd\ufffd")])


def test_event_name_decoded() -> None:
    expect("event: \u00fcber\ndata: x\n\n".encode(), [E("\u00fcber", "x")])


def test_invalid_utf8_in_field_name_is_unknown_field() -> None:
    expect(b"dat\xe1: x\ndata: y\n\n", [E(None, "y")])


# --- end of stream ------------------------------------------------------------


def test_close_dispatches_unterminated_event() -> None:
    expect(b"data: a", [E(None, "a")])
    expect(b"data: a\n", [E(None, "a")])
    expect(b"data: a\r", [E(None, "a")])
    expect(b"data: a\ndata: b", [E(None, "a\nb")])
    expect(b"id: 3\nevent: e\nretry: 4\ndata", [E("e", "", "3", 4)])


def test_without_close_an_unterminated_event_stays_pending() -> None:
    expect(b"data: a\n", [], close=False)
    expect(b"data: a", [], close=False)


def test_close_without_pending_data_dispatches_nothing() -> None:
    expect(b"data: a\n\n", [E(None, "a")])
    expect(b"data: a\n\nevent: x\nid: 2", [E(None, "a")])
    expect(b": comment", [])
    # The block the body ended in still counts as ended for last_event_id.
    assert final_state(b"data: a\n\nid: 2") == [("2", None)] * 5


def test_close_is_idempotent() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: a")
    assert decoder.close() == [E(None, "a")]
    assert decoder.close() == []


def test_feed_after_close_is_a_local_error() -> None:
    decoder = SSEDecoder()
    decoder.close()
    with pytest.raises(LocalProtocolError):
        decoder.feed(b"data: a\n\n")
    with pytest.raises(LocalProtocolError):
        decoder.feed(b"")


# --- size limit ---------------------------------------------------------------


def test_default_limit_is_large_enough_for_streamed_images() -> None:
    assert DEFAULT_MAX_EVENT_SIZE == 32 * 1024 * 1024
    assert DEFAULT_MAX_EVENT_SIZE >= 16 * 1024 * 1024
    decoder = SSEDecoder()
    assert decoder.max_event_size == DEFAULT_MAX_EVENT_SIZE
    image = b"QUJD" * (5 * 1024 * 1024)  # 20 MiB of base64 in one event
    events: list[ServerSentEvent] = []
    for i in range(0, len(image), 1 << 20):
        events += decoder.feed((b"data: " if i == 0 else b"") + image[i : i + (1 << 20)])
    events += decoder.feed(b"\n\n")
    assert len(events) == 1
    assert len(events[0].data) == len(image)


def test_event_at_the_limit_is_accepted() -> None:
    # The data buffer counts each value plus its line feed; a line counts whole.
    for chunks in splittings(b"data:0123456789\n\n"):
        assert run(chunks, max_event_size=15) == [E(None, "0123456789")]
    for chunks in splittings(b"data: 012345678\n\n"):
        assert run(chunks, max_event_size=15) == [E(None, "012345678")]
    for chunks in splittings(b"data:01234\ndata:0123\n\n"):
        assert run(chunks, max_event_size=15) == [E(None, "01234\n0123")]


@pytest.mark.parametrize(
    "stream",
    [
        b"data:0123456789A\n\n",  # one line too long
        b"data: 0123456789\n\n",  # the same as a whole one-line event
        b"data:01234\ndata:01234\n\n",  # second line plus the data before it
        b"data:0123456789A",  # unterminated, even without close()
        b": 0123456789ABCDEF\n\n",  # comments count too
        b"event:0123456789A\ndata\n\n",
    ],
)
def test_exceeding_the_limit_raises(stream: bytes) -> None:
    for chunks in splittings(stream):
        decoder = SSEDecoder(max_event_size=15)
        with pytest.raises(RemoteProtocolError, match="max_event_size"):
            for chunk in chunks:
                decoder.feed(chunk)
            decoder.close()


def test_unterminated_line_is_bounded_before_its_end_arrives() -> None:
    decoder = SSEDecoder(max_event_size=1000)
    decoder.feed(b"data: ")
    with pytest.raises(RemoteProtocolError):
        for _ in range(2000):
            decoder.feed(b"x")
    # It was caught as soon as the line passed the limit, not at its end.
    assert _ < 1000


def test_limit_counts_per_event() -> None:
    stream = b"data:0123456789\n\n" * 50
    assert run([stream], max_event_size=15) == [E(None, "0123456789")] * 50
    assert run(bytewise(stream), max_event_size=15) == [E(None, "0123456789")] * 50


def test_failed_decoder_stays_failed() -> None:
    decoder = SSEDecoder(max_event_size=10)
    with pytest.raises(RemoteProtocolError):
        decoder.feed(b"data: 0123456789")
    with pytest.raises(RemoteProtocolError):
        decoder.feed(b"\n\n")
    assert decoder.close() == []


@pytest.mark.parametrize("bad", [0, -1, 1.5, "10", True])
def test_bad_max_event_size_is_refused(bad: object) -> None:
    with pytest.raises(LocalProtocolError):
        SSEDecoder(max_event_size=bad)  # type: ignore[arg-type]


# --- the event object ---------------------------------------------------------


def test_event_is_frozen_and_comparable() -> None:
    event = E("a", "b", "c", 1)
    assert event == ServerSentEvent(event="a", data="b", id="c", retry=1)
    assert hash(event) == hash(E("a", "b", "c", 1))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.data = "x"  # type: ignore[misc]
    assert ServerSentEvent() == E(None, "", None, None)


def test_repr_is_short_for_huge_data() -> None:
    event = E("image", "A" * 10_000_000, "x" * 1000, 5)
    text = repr(event)
    assert len(text) < 300
    assert "len=10000000" in text
    assert "len=1000" in text
    assert "'image'" in text and "retry=5" in text


def test_repr_of_small_event_is_complete() -> None:
    assert repr(E(None, "hi", None, None)) == (
        "ServerSentEvent(event=None, data='hi', id=None, retry=None)"
    )


# --- linear time --------------------------------------------------------------


def test_one_mebibyte_event_fed_byte_by_byte() -> None:
    # A decoder that rescanned its pending bytes on every feed would need
    # ~5e11 byte steps here and hit the timeout; ours does ~1e6.
    payload = b"x" * (1 << 20)
    decoder = SSEDecoder()
    feed = decoder.feed
    events: list[ServerSentEvent] = []
    for byte in bytewise(b"data: " + payload + b"\r\n\r\n"):
        events += feed(byte)
    assert len(events) == 1
    assert len(events[0].data) == len(payload)


def test_many_tiny_lines_in_one_feed() -> None:
    stream = b"data: x\n" * 100_000 + b"\n"
    events = run([stream])
    assert len(events) == 1
    assert events[0].data == "\n".join(["x"] * 100_000)


# --- properties ---------------------------------------------------------------

TOKENS = [
    b"data",
    b"data:",
    b"data: ",
    b"event:",
    b"event: ",
    b"id:",
    b"id: ",
    b"retry:",
    b"retry: ",
    b":",
    b" ",
    b"x",
    b"7",
    b"\n",
    b"\n",
    b"\r",
    b"\r\n",
    b"\x00",
    b"\xef\xbb\xbf",
    b"\xef",
    b"\xbb",
    b"\xc3",
    b"\xa9",
    b"\xe2\x82",
    b"\xac",
    b"\xf0\x9f\x98\x80",
    b"\xff",
]

sse_streams = st.lists(st.sampled_from(TOKENS), max_size=40).map(b"".join)
any_streams = st.one_of(sse_streams, st.binary(max_size=80))


@settings(max_examples=200, deadline=None)
@given(stream=any_streams, data=st.data())
def test_matches_reference_at_any_split(stream: bytes, data: st.DataObject) -> None:
    points = data.draw(st.lists(st.integers(0, len(stream)), max_size=8))
    expected = reference(stream)
    assert run([stream]) == expected
    assert run(bytewise(stream)) == expected
    assert run(split_at(stream, points)) == expected


@settings(max_examples=150, deadline=None)
@given(
    stream=any_streams,
    limit=st.integers(1, 24),
    data=st.data(),
)
def test_arbitrary_bytes_give_events_or_remote_protocol_error(
    stream: bytes, limit: int, data: st.DataObject
) -> None:
    points = data.draw(st.lists(st.integers(0, len(stream)), max_size=8))
    outcomes: list[list[ServerSentEvent] | None] = []
    for chunks in ([stream], bytewise(stream), split_at(stream, points)):
        try:
            outcomes.append(run(chunks, max_event_size=limit))
        except RemoteProtocolError:
            outcomes.append(None)
    # Whether the limit trips depends on the stream alone, never on splits.
    assert outcomes[0] == outcomes[1] == outcomes[2]
    if outcomes[0] is not None:
        assert outcomes[0] == reference(stream)


@settings(max_examples=100, deadline=None)
@given(stream=sse_streams, data=st.data())
def test_state_is_independent_of_splits(stream: bytes, data: st.DataObject) -> None:
    points = data.draw(st.lists(st.integers(0, len(stream)), max_size=8))
    states = set()
    for chunks in ([stream], bytewise(stream), split_at(stream, points)):
        decoder = SSEDecoder()
        for chunk in chunks:
            decoder.feed(chunk)
        states.add((decoder.last_event_id, decoder.retry))
    assert len(states) == 1
