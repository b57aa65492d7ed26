"""multipart/form-data encoding in the core: exact bytes, every value kind,
bad input, and a round trip through independent parsers."""

from __future__ import annotations

import email.parser
import email.policy
import io
import math
import mimetypes
import os
import pathlib
from typing import Any, AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_sansio import (
    FilePart,
    LocalProtocolError,
    MultipartBody,
    StreamedBody,
    encode_multipart,
)
from openai_trio.testing import FormPart, parse_multipart

RANDOM = bytes(range(16))
BOUNDARY = RANDOM.hex()
DASH = b"--" + BOUNDARY.encode()


def encode(fields: dict[str, Any]) -> MultipartBody:
    return encode_multipart(fields, random_bytes=RANDOM)


def render(body: MultipartBody) -> bytes:
    """The whole body, reading every file part as a runtime would."""
    out = bytearray()
    for piece in body.parts():
        if isinstance(piece, bytes):
            out += piece
        elif piece.path is not None:
            out += pathlib.Path(piece.path).read_bytes()[: piece.size]
        elif piece.file is not None:
            if piece.offset is not None:
                piece.file.seek(piece.offset)
            out += piece.file.read() if piece.size is None else piece.file.read(piece.size)
        else:  # pragma: no cover - async sources are rendered by the trio tests
            raise AssertionError("cannot render an async source here")
    return bytes(out)


def parts_of(body: MultipartBody) -> list[FormPart]:
    return parse_multipart(body.content_type, render(body))


def text_part(name: str, value: str) -> bytes:
    return DASH + f'\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()


# -- exact bytes ----------------------------------------------------------------


def test_exact_bytes_for_text_fields_and_a_file() -> None:
    body = encode({"purpose": "fine-tune", "file": ("train.jsonl", b'{"a":1}\n', "application/jsonl")})
    expected = (
        text_part("purpose", "fine-tune")
        + DASH
        + b'\r\nContent-Disposition: form-data; name="file"; filename="train.jsonl"\r\n'
        b"Content-Type: application/jsonl\r\n\r\n"
        b'{"a":1}\n\r\n' + DASH + b"--\r\n"
    )
    assert render(body) == expected
    assert body.boundary == BOUNDARY == "000102030405060708090a0b0c0d0e0f"
    assert body.content_type == f"multipart/form-data; boundary={BOUNDARY}"
    assert body.length == len(expected)
    assert body.replayable
    # Only bytes: the framing and a small in-memory file are joined into one piece.
    assert list(body.parts()) == [expected]


def test_empty_form_is_just_the_closing_delimiter() -> None:
    body = encode({})
    assert render(body) == DASH + b"--\r\n"
    assert body.length == len(DASH) + 4
    assert parts_of(body) == []


def test_another_random_source_gives_another_boundary() -> None:
    a = encode_multipart({"x": "1"}, random_bytes=bytes(16))
    b = encode_multipart({"x": "1"}, random_bytes=b"\xff" * 16)
    assert a.boundary == "0" * 32 and b.boundary == "f" * 32
    assert render(a) != render(b)


@pytest.mark.parametrize("bad", [b"", bytes(15), bytes(17), "0" * 16, None])
def test_random_bytes_must_be_sixteen_bytes(bad: Any) -> None:
    with pytest.raises(LocalProtocolError, match="16 random bytes"):
        encode_multipart({}, random_bytes=bad)


def test_bytearray_random_source_is_accepted() -> None:
    assert encode_multipart({}, random_bytes=bytearray(RANDOM)).boundary == BOUNDARY


# -- text values, like the official SDK's form encoding ---------------------------


def test_scalar_values() -> None:
    body = encode({"s": "h\u00e9llo", "i": 42, "f": 0.25, "t": True, "n": False, "none": None})
    expected = (
        text_part("s", "h\u00e9llo")
        + text_part("i", "42")
        + text_part("f", "0.25")
        + text_part("t", "true")
        + text_part("n", "false")
        + DASH
        + b"--\r\n"
    )
    assert render(body) == expected


def test_lists_send_one_part_per_item_under_name_brackets() -> None:
    parts = parts_of(encode({"include": ["a", "b"], "empty": [], "nested": [[1], [2, None]]}))
    assert [(p.name, p.text) for p in parts] == [
        ("include[]", "a"),
        ("include[]", "b"),
        ("nested[][]", "1"),
        ("nested[][]", "2"),
    ]


def test_text_tuples_are_lists_too() -> None:
    parts = parts_of(encode({"t": ("x", "y")}))
    assert [(p.name, p.text) for p in parts] == [("t[]", "x"), ("t[]", "y")]


def test_mappings_use_bracketed_keys_not_json() -> None:
    fields = {"chunking_strategy": {"type": "static", "static": {"max_chunk_size_tokens": 800, "x": None}}}
    parts = parts_of(encode(fields))
    assert [(p.name, p.text) for p in parts] == [
        ("chunking_strategy[type]", "static"),
        ("chunking_strategy[static][max_chunk_size_tokens]", "800"),
    ]
    assert all(p.filename is None and p.content_type is None for p in parts)


def test_list_of_mappings() -> None:
    parts = parts_of(encode({"items": [{"a": 1}, {"a": 2}]}))
    assert [(p.name, p.text) for p in parts] == [("items[][a]", "1"), ("items[][a]", "2")]


def test_float_formatting_round_trips() -> None:
    parts = parts_of(encode({"a": 1e-7, "b": 3.0, "c": 1e300}))
    assert [float(p.text) for p in parts] == [1e-7, 3.0, 1e300]


# -- files ------------------------------------------------------------------------


def test_bytes_file_is_named_upload_with_octet_stream() -> None:
    for content in (b"abc", bytearray(b"abc"), memoryview(b"abc")):
        (part,) = parts_of(encode({"file": content}))
        assert (part.name, part.filename, part.content_type, part.data) == (
            "file", "upload", "application/octet-stream", b"abc"
        )


def test_large_in_memory_content_is_its_own_piece_and_not_copied() -> None:
    big = b"z" * (64 * 1024 + 1)
    body = encode({"a": "1", "file": big, "b": "2"})
    pieces = list(body.parts())
    assert len(pieces) == 3
    assert pieces[1] is big
    assert body.length == len(render(body))
    assert [p.name for p in parts_of(body)] == ["a", "file", "b"]
    # At the limit it is still joined with the framing.
    assert len(list(encode({"file": big[:-1]}).parts())) == 1


def test_path_file_is_a_file_part_with_its_size(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"some notes\n")
    body = encode({"file": path, "purpose": "assistants"})
    pieces = list(body.parts())
    assert len(pieces) == 3
    assert isinstance(pieces[0], bytes) and isinstance(pieces[2], bytes)
    part = pieces[1]
    assert isinstance(part, FilePart)
    assert (part.path, part.size, part.file, part.stream) == (str(path), 11, None, None)
    assert part.replayable and body.replayable
    assert b'filename="notes.txt"\r\nContent-Type: text/plain\r\n\r\n' in pieces[0]
    assert body.length == len(render(body))
    (file_part, purpose) = parts_of(body)
    assert (file_part.filename, file_part.content_type, file_part.data) == ("notes.txt", "text/plain", b"some notes\n")
    assert purpose.text == "assistants"
    assert "notes.txt" in repr(part) and "size=11" in repr(part)


def test_content_type_is_guessed_from_the_filename(tmp_path: pathlib.Path) -> None:
    for name, expected in [("a.png", "image/png"), ("a.mp3", "audio/mpeg"), ("a.json", "application/json"),
                           ("noext", "application/octet-stream"), ("a.unknownext", "application/octet-stream")]:
        (part,) = parts_of(encode({"file": (name, b"x")}))
        assert part.content_type == expected, name


def test_path_in_a_tuple_keeps_the_tuple_filename(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"\x00\x01")
    (part,) = parts_of(encode({"file": ("speech.wav", path)}))
    wav = mimetypes.guess_type("speech.wav", strict=False)[0]
    assert wav is not None and wav.startswith("audio/")
    assert (part.filename, part.content_type, part.data) == ("speech.wav", wav, b"\x00\x01")


def test_bytes_path_like(tmp_path: pathlib.Path) -> None:
    class BytesPath(os.PathLike[bytes]):
        def __fspath__(self) -> bytes:
            return os.fsencode(tmp_path / "b.txt")

    (tmp_path / "b.txt").write_bytes(b"bee")
    (part,) = parts_of(encode({"file": BytesPath()}))
    assert (part.filename, part.data) == ("b.txt", b"bee")


def test_real_binary_file_object(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "clip.webm"
    path.write_bytes(b"0123456789")
    with path.open("rb") as f:
        f.read(4)
        body = encode({"file": f})
        # Encoding asks for the size but leaves the position where it was.
        assert f.tell() == 4
        (piece,) = [p for p in body.parts() if isinstance(p, FilePart)]
        assert (piece.file, piece.offset, piece.size) == (f, 4, 6)
        assert body.replayable
        (part,) = parts_of(body)
        assert (part.filename, part.content_type, part.data) == ("clip.webm", "video/webm", b"456789")
        # A second attempt reads the same bytes again.
        assert parts_of(body)[0].data == b"456789"


def test_bytesio_without_a_name() -> None:
    buffer = io.BytesIO(b"hello world")
    buffer.seek(6)
    body = encode({"file": buffer})
    (part,) = parts_of(body)
    assert (part.filename, part.data) == ("upload", b"world")
    assert body.length == len(render(body))


def test_named_file_object_uses_the_basename_and_ignores_pseudo_names() -> None:
    named = io.BytesIO(b"x")
    named.name = "/some/dir/report.pdf"  # type: ignore[attr-defined]
    assert parts_of(encode({"file": named}))[0].filename == "report.pdf"
    pseudo = io.BytesIO(b"x")
    pseudo.name = "<stdin>"  # type: ignore[attr-defined]
    assert parts_of(encode({"file": pseudo}))[0].filename == "upload"


class OnlyReads:
    """A binary source that cannot seek (a pipe, a socket file)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(size)


class SeekFails(OnlyReads):
    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        raise OSError("illegal seek")


@pytest.mark.parametrize("source_type", [OnlyReads, SeekFails])
def test_unseekable_file_object_has_unknown_length_and_is_not_replayable(source_type: type[OnlyReads]) -> None:
    body = encode({"file": source_type(b"abc"), "n": 1})
    (piece,) = [p for p in body.parts() if isinstance(p, FilePart)]
    assert (piece.offset, piece.size, piece.replayable) == (None, None, False)
    assert body.length is None
    assert not body.replayable
    assert parts_of(body)[0].data == b"abc"


async def _chunks() -> AsyncIterator[bytes]:  # pragma: no cover - never iterated here
    yield b"a"


def test_async_iterable_has_unknown_length_and_is_not_replayable() -> None:
    source = _chunks()
    body = encode({"file": source, "model": "whisper-1"})
    (piece,) = [p for p in body.parts() if isinstance(p, FilePart)]
    assert piece.stream is source and piece.size is None
    assert (body.length, body.replayable) == (None, False)
    assert "stream=" in repr(piece)
    assert "unknown length" in repr(body) and "replayable=False" in repr(body)
    head = next(body.parts())
    assert isinstance(head, bytes)
    assert b'name="file"; filename="upload"\r\nContent-Type: application/octet-stream\r\n\r\n' in head
    # In a tuple, the filename and content type are the caller's.
    body = encode({"file": ("a.wav", source, "audio/wav")})
    head = next(body.parts())
    assert isinstance(head, bytes) and b'filename="a.wav"\r\nContent-Type: audio/wav\r\n' in head


def test_length_stays_unknown_after_a_source_without_a_size(tmp_path: pathlib.Path) -> None:
    (tmp_path / "f").write_bytes(b"f")
    body = encode({"s": _chunks(), "big": b"b" * 70_000, "f": tmp_path / "f", "tail": "t"})
    assert (body.length, body.replayable) == (None, False)
    kinds = [type(p).__name__ for p in body.parts()]
    assert kinds == ["bytes", "FilePart", "bytes", "bytes", "bytes", "FilePart", "bytes"]


def test_file_part_reprs_and_replayability() -> None:
    buffer = io.BytesIO(b"x")
    assert repr(FilePart(file=buffer, size=1, offset=0)) == "FilePart(file=BytesIO, offset=0, size=1)"
    assert FilePart(file=buffer, size=1, offset=0).replayable
    assert not FilePart(file=buffer).replayable
    assert repr(FilePart(path="/a/b", size=3)) == "FilePart(path='/a/b', size=3)"
    assert not FilePart(path="/dev/stdin").replayable


def test_file_tuple_forms() -> None:
    parts = parts_of(encode({
        "a": ("a.txt", b"1"),
        "b": ("b.bin", b"2", "image/x-custom"),
        "c": ("c.bin", b"3", None, {"X-Extra": "yes"}),
        "d": (None, b"4"),
    }))
    assert [(p.name, p.filename, p.content_type, p.data, p.headers) for p in parts] == [
        ("a", "a.txt", "text/plain", b"1", ()),
        ("b", "b.bin", "image/x-custom", b"2", ()),
        ("c", "c.bin", "application/octet-stream", b"3", (("x-extra", "yes"),)),
        ("d", None, "application/octet-stream", b"4", ()),
    ]


def test_list_of_files_uses_name_brackets(tmp_path: pathlib.Path) -> None:
    (tmp_path / "x.md").write_bytes(b"# x")
    parts = parts_of(encode({"files": [tmp_path / "x.md", ("y.txt", b"y")]}))
    assert [(p.name, p.filename, p.data) for p in parts] == [("files[]", "x.md", b"# x"), ("files[]", "y.txt", b"y")]


def test_parts_is_a_fresh_iterator_each_time(tmp_path: pathlib.Path) -> None:
    (tmp_path / "f").write_bytes(b"f")
    body = encode({"a": "1", "f": tmp_path / "f"})
    first, second = body.parts(), body.parts()
    assert first is not second
    assert list(first) == list(second) == list(body.parts())
    assert render(body) == render(body)


def test_streamed_body_view() -> None:
    body = encode({"a": "1"})
    streamed = body.as_streamed_body()
    assert isinstance(streamed, StreamedBody)
    assert (streamed.length, streamed.replayable) == (body.length, True)
    assert list(streamed.parts()) == list(body.parts())
    assert repr(streamed) == f"StreamedBody(<{body.length} bytes>, replayable=True)"
    assert repr(body) == f"MultipartBody(<{body.length} bytes>, files=0, replayable=True)"


def test_with_fields_replaces_and_adds_with_the_same_boundary() -> None:
    body = encode({"model": "a", "file": b"x"})
    merged = body.with_fields({"model": "b", "extra": 1})
    assert merged.boundary == body.boundary
    assert [(p.name, p.data) for p in parts_of(merged)] == [
        ("model", b"b"), ("file", b"x"), ("extra", b"1")
    ]
    # The original is unchanged.
    assert [p.name for p in parts_of(body)] == ["model", "file"]
    with pytest.raises(LocalProtocolError, match="mapping"):
        body.with_fields([("a", 1)])  # type: ignore[arg-type]


# -- names and filenames cannot break the framing -----------------------------------


def test_quote_backslash_and_controls_are_escaped() -> None:
    body = encode({'a"b\\c\r\nd\x00': ('x"\r\n.txt', b"v")})
    head = next(body.parts())
    assert isinstance(head, bytes)
    assert (
        b'Content-Disposition: form-data; name="a%22b\\\\c%0D%0Ad%00"; filename="x%22%0D%0A.txt"\r\n'
        in head
    )
    (part,) = parts_of(body)
    assert (part.name, part.filename) == ('a"b\\c\r\nd\x00', 'x"\r\n.txt')
    # The only line breaks are the framing's own: delimiter, two header
    # lines, blank line, end of value, closing delimiter.
    assert head.count(b"\r\n") == 6


def test_non_ascii_names_are_utf8() -> None:
    body = encode({"n\u00e4me": ("f\u00efle \u2603.txt", b"v")})
    assert "n\u00e4me".encode() in render(body)
    (part,) = parts_of(body)
    assert (part.name, part.filename) == ("n\u00e4me", "f\u00efle \u2603.txt")


# -- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"a": object()}, "type object"),
        ({"a": {1, 2}}, "type set"),
        ({"a": io.StringIO("text")}, "text mode"),
        ({1: "a"}, "names must be str"),
        ({"a": {1: "x"}}, "key that is not str"),
        ({"a": math.nan}, "finite"),
        ({"a": math.inf}, "finite"),
        ({"a": "\ud800"}, "not valid Unicode"),
        ({"\ud800": "a"}, "not valid Unicode"),
        ({"a": ("f", b"x", "text/plain\r\nX-Injected: 1")}, "control character"),
        ({"a": ("f", b"x", "caf\u00e9\u2603")}, "outside latin-1"),
        ({"a": ("f", b"x", 5)}, "content type must be str"),
        ({"a": (5, b"x")}, "filename must be str or None"),
        ({"a": ("f", b"x", None, {"bad name": "v"})}, "invalid header name"),
        ({"a": ("f", b"x", None, {"X-A": "v\nw"})}, "control character"),
        ({"a": ("f", b"x", None, {"X-A": 1})}, "must be str"),
        ({"a": ("f", b"x", None, {"Content-Type": "a/b"})}, "set from the tuple"),
        ({"a": ("f", b"x", None, ["X-A"])}, "headers must be a mapping"),
        ({"a": 10**5000}, "too large"),
    ],
)
def test_bad_values_fail_before_any_byte(fields: dict[Any, Any], match: str) -> None:
    with pytest.raises(LocalProtocolError, match=match):
        encode(fields)


def test_fields_must_be_a_mapping() -> None:
    with pytest.raises(LocalProtocolError, match="must be a mapping"):
        encode_multipart([("a", "b")], random_bytes=RANDOM)  # type: ignore[arg-type]


def test_too_deep_nesting() -> None:
    value: Any = "x"
    for _ in range(40):
        value = [value]
    with pytest.raises(LocalProtocolError, match="nested too deeply"):
        encode({"a": value})


def test_text_mode_real_file_and_closed_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("hi")
    with path.open("r") as text, pytest.raises(LocalProtocolError, match="text mode; open it with 'rb'"):
        encode({"file": text})
    with path.open("rb") as f:
        pass
    with pytest.raises(LocalProtocolError, match="closed"):
        encode({"file": f})


def test_object_with_a_text_mode_attribute() -> None:
    class Reader(OnlyReads):
        mode = "r"

    with pytest.raises(LocalProtocolError, match="text mode"):
        encode({"file": Reader(b"")})


def test_missing_path_and_directory(tmp_path: pathlib.Path) -> None:
    with pytest.raises(LocalProtocolError, match=r"cannot upload .*missing\.bin"):
        encode({"file": tmp_path / "missing.bin"})
    with pytest.raises(LocalProtocolError, match="is a directory"):
        encode({"file": tmp_path})


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_named_pipe_is_read_once_to_its_end(tmp_path: pathlib.Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    body = encode({"file": fifo})
    (piece,) = [p for p in body.parts() if isinstance(p, FilePart)]
    assert (piece.size, piece.replayable, body.length, body.replayable) == (None, False, None, False)


# -- round trips --------------------------------------------------------------------

# '%' is left out of names: the form encoding's own escapes ("%22") cannot be
# told apart from the same text typed by the caller.
names = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="%[]"), min_size=1, max_size=12)
scalars = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=30),
    st.integers(),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.binary(max_size=40),
    st.none(),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(names, scalars, max_size=3))


def expected_parts(name: str, value: Any) -> list[tuple[str, str | None, bytes]]:
    if value is None:
        return []
    if isinstance(value, bool):
        return [(name, None, b"true" if value else b"false")]
    if isinstance(value, bytes):
        return [(name, "upload", value)]
    if isinstance(value, float):
        return [(name, None, repr(value).encode())]
    if isinstance(value, (str, int)):
        return [(name, None, str(value).encode())]
    if isinstance(value, list):
        return [p for item in value for p in expected_parts(name + "[]", item)]
    return [p for key, item in value.items() for p in expected_parts(f"{name}[{key}]", item)]


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(names, values, max_size=5), st.binary(min_size=16, max_size=16))
def test_round_trip_through_a_parser(fields: dict[str, Any], random_bytes: bytes) -> None:
    body = encode_multipart(fields, random_bytes=random_bytes)
    raw = render(body)
    assert body.length == len(raw)
    parsed = parse_multipart(body.content_type, raw)
    expected = [p for name, value in fields.items() for p in expected_parts(name, value)]
    assert [(p.name, p.filename, p.data) for p in parsed] == expected


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters='"\\%[]'), min_size=1, max_size=10),
    st.one_of(st.text(st.characters(exclude_categories=("Cs",)), max_size=20), st.binary(max_size=20)),
    min_size=1,
    max_size=4,
))
def test_the_stdlib_email_parser_reads_it_too(fields: dict[str, str | bytes]) -> None:
    body = encode(fields)
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {body.content_type}\r\n\r\n".encode() + render(body)
    )
    assert message.is_multipart()
    got = []
    for part in message.iter_parts():  # type: ignore[attr-defined]
        payload = part.get_payload(decode=True)
        got.append((part.get_param("name", header="content-disposition"), payload))
    assert got == [(k, v if isinstance(v, bytes) else v.encode()) for k, v in fields.items()]


def test_the_test_parser_refuses_malformed_bodies() -> None:
    good = render(encode({"a": "1"}))
    ct = encode({}).content_type
    for bad_ct, bad in [
        ("text/plain", good),
        ("multipart/form-data", good),
        (ct, b"nope" + good),
        (ct, good[:-4]),
        (ct, good + b"x"),
        (ct, good.replace(b'name="a"', b"")),
        (ct, good.replace(b"form-data; ", b"attachment; ")),
        (ct, good.replace(b"\r\n\r\n", b"\r\n", 1)),
        (ct, DASH + b"X"),
        (ct, DASH + b"\r\nbroken header\r\n\r\nv\r\n" + DASH + b"--"),
    ]:
        with pytest.raises(ValueError):
            parse_multipart(bad_ct, bad)
    # Quoted boundaries and headerless parts are read.
    assert parse_multipart(f'multipart/form-data; boundary="{BOUNDARY}"', good)[0].text == "1"
