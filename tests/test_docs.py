"""Keep the documentation honest: its examples run and its claims resolve.

Conventions for ``docs/*.md`` and ``README.md``:

* A fenced ```` ```python ```` block whose previous non-blank line is
  ``<!-- test -->`` is *runnable*: it is executed as a module of its own.
  Runnable blocks must be self-contained and must not touch the network: the
  environment points ``OPENAI_BASE_URL`` at a fake server on loopback
  (``OPENAI_API_KEY`` is a dummy), and resolving any host other than a
  loopback one fails the test.  Zero-argument ``test*`` functions the block
  defines are then called too, ``async`` ones under ``trio.run``.
* A fenced block right after a runnable block, marked ``<!-- output -->``,
  is what the runnable block must print, exactly.
* Every other ``python`` block must still parse, and every name it imports
  from ``openai_sansio`` or ``openai_trio`` must exist (except in
  ``docs/design.md``, whose python blocks sketch signatures).
* Every backticked dotted name such as ``openai_trio.testing.FakeServer``
  must resolve.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import io
import pathlib
import re
import shlex
import socket
import subprocess
import sys
import types
from typing import Any, Iterator

import attrs
import pytest
import trio

from openai_trio.testing import run_fake_server_in_thread

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC_FILES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]

TEST_MARKER = "<!-- test -->"
OUTPUT_MARKER = "<!-- output -->"
_MARKER_RE = re.compile(r"<!--\s*(test|output)\b.*?-->")
_FENCE_RE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_DOTTED_RE = re.compile(r"`(openai_(?:sansio|trio)(?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


@attrs.frozen
class Block:
    path: pathlib.Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    runnable: bool = False
    expected_output: str | None = None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


class DocFormatError(Exception):
    pass


def parse_blocks(text: str, path: pathlib.Path = ROOT / "inline.md") -> list[Block]:
    """Fenced code blocks of a Markdown text, with their markers applied."""
    lines = text.splitlines()
    blocks: list[Block] = []
    pending: str | None = None  # a marker waiting for its block
    pending_line = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        fence = _FENCE_RE.match(line)
        if fence is None:
            if not stripped:
                i += 1
                continue
            marker = _MARKER_RE.fullmatch(stripped)
            if marker is not None:
                if stripped not in (TEST_MARKER, OUTPUT_MARKER):
                    raise DocFormatError(f"{path.name}:{i + 1}: unknown marker {stripped!r}")
                if pending is not None:
                    raise DocFormatError(f"{path.name}:{pending_line}: marker not followed by a block")
                pending, pending_line = stripped, i + 1
            elif pending is not None:
                raise DocFormatError(f"{path.name}:{pending_line}: marker not followed by a block")
            i += 1
            continue
        indent, opener = fence.group("indent"), fence.group("fence")
        lang = fence.group("info").strip().split(" ")[0].lower()
        body: list[str] = []
        start = i + 1
        i += 1
        while i < len(lines):
            closing = _FENCE_RE.match(lines[i])
            if (
                closing is not None
                and closing.group("fence").startswith(opener)
                and not closing.group("info").strip()
            ):
                break
            current = lines[i]
            body.append(current[len(indent) :] if current.startswith(indent) else current.lstrip())
            i += 1
        else:
            raise DocFormatError(f"{path.name}:{start}: unclosed code block")
        i += 1
        code = "\n".join(body) + "\n"
        if pending == TEST_MARKER:
            if lang != "python":
                raise DocFormatError(f"{path.name}:{start}: {TEST_MARKER} must mark a python block")
            blocks.append(Block(path, start, lang, code, runnable=True))
        elif pending == OUTPUT_MARKER:
            if not blocks or not blocks[-1].runnable or blocks[-1].expected_output is not None:
                raise DocFormatError(f"{path.name}:{start}: {OUTPUT_MARKER} must follow a runnable block")
            blocks[-1] = attrs.evolve(blocks[-1], expected_output=code)
        else:
            blocks.append(Block(path, start, lang, code))
        pending = None
    if pending is not None:
        raise DocFormatError(f"{path.name}:{pending_line}: marker not followed by a block")
    return blocks


def _all_blocks() -> list[Block]:
    blocks: list[Block] = []
    for path in DOC_FILES:
        blocks.extend(parse_blocks(path.read_text(encoding="utf-8"), path))
    return blocks


ALL_BLOCKS = _all_blocks()
PYTHON_BLOCKS = [b for b in ALL_BLOCKS if b.lang == "python"]
RUNNABLE_BLOCKS = [b for b in PYTHON_BLOCKS if b.runnable]
# Design notes write signatures in python fences ("f(x) -> bytes"), not code.
SKETCH_FILES = frozenset({"design.md"})
CODE_BLOCKS = [b for b in PYTHON_BLOCKS if b.path.name not in SKETCH_FILES or b.runnable]


# -- running a block ----------------------------------------------------------


@contextlib.contextmanager
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Refuse (and record) every name lookup for a host that is not loopback."""
    real = socket.getaddrinfo
    refused: list[object] = []

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode("ascii", "replace") if isinstance(host, bytes) else host
        if name is not None and name not in _LOOPBACK:
            refused.append(host)
            raise OSError(f"documentation examples must not use the network (tried {host!r})")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield refused


def run_block(block: Block, monkeypatch: pytest.MonkeyPatch) -> str:
    """Execute ``block`` (and the tests it defines); return what it printed."""
    code = compile(block.code, block.where, "exec", dont_inherit=True)
    name = "_docs_example"
    module = types.ModuleType(name)
    module.__file__ = block.where
    out = io.StringIO()
    with run_fake_server_in_thread() as base_url, _loopback_only(monkeypatch) as refused:
        monkeypatch.setenv("OPENAI_BASE_URL", base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-docs-example")
        for var in ("OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
            monkeypatch.delenv(var, raising=False)
        # Registered so dataclasses, attrs and pickle can find the module.
        monkeypatch.setitem(sys.modules, name, module)
        with contextlib.redirect_stdout(out):
            exec(code, module.__dict__)
            for attr, value in list(module.__dict__.items()):
                if not attr.startswith("test") or not inspect.isfunction(value):
                    continue
                if value.__module__ != name:
                    continue  # imported, not defined here
                if inspect.signature(value).parameters:
                    raise DocFormatError(f"{block.where}: {attr}() must take no arguments")
                if inspect.iscoroutinefunction(value):
                    trio.run(value)
                else:
                    value()
    assert not refused, f"{block.where} tried to reach {refused}"
    return out.getvalue()


def _normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


# Each example is meant to take well under a second; fail fast if one hangs.
@pytest.mark.timeout(20)
@pytest.mark.parametrize("block", RUNNABLE_BLOCKS, ids=[b.where for b in RUNNABLE_BLOCKS])
def test_runnable_block(block: Block, monkeypatch: pytest.MonkeyPatch) -> None:
    check_block(block, monkeypatch)


def check_block(block: Block, monkeypatch: pytest.MonkeyPatch) -> None:
    printed = run_block(block, monkeypatch)
    if block.expected_output is not None:
        assert _normalise(printed) == _normalise(block.expected_output), block.where


def test_each_guide_has_runnable_examples() -> None:
    runnable_in = {b.path.name for b in RUNNABLE_BLOCKS}
    for guide in ("sansio.md", "trio.md", "testing.md"):
        assert guide in runnable_in, f"docs/{guide} has no runnable example"
    checked = {b.path.name for b in RUNNABLE_BLOCKS if b.expected_output is not None}
    assert "sansio.md" in checked


# -- every other block and name ---------------------------------------------------


def _resolve(dotted: str) -> object:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


def _project_imports(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in ("openai_sansio", "openai_trio"):
                names.extend(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.extend(
                alias.name for alias in node.names
                if alias.name.split(".")[0] in ("openai_sansio", "openai_trio")
            )
    return names


@pytest.mark.parametrize("block", CODE_BLOCKS, ids=[b.where for b in CODE_BLOCKS])
def test_python_block_parses_and_imports_exist(block: Block) -> None:
    tree = ast.parse(block.code, block.where)
    for dotted in _project_imports(tree):
        assert _resolve(dotted) is not None, f"{block.where}: {dotted} does not exist"


def test_dotted_names_in_docs_resolve() -> None:
    missing = []
    for path in DOC_FILES:
        for dotted in sorted(set(_DOTTED_RE.findall(path.read_text(encoding="utf-8")))):
            try:
                _resolve(dotted)
            except (ImportError, AttributeError):
                missing.append(f"{path.name}: {dotted}")
    assert not missing


# -- the harness itself can fail ------------------------------------------------------


def test_parser_applies_markers() -> None:
    text = (
        "intro\n\n```python\nskipped = 1\n```\n\n"
        f"{TEST_MARKER}\n```python\nprint('hi')\n```\n\n"
        f"{OUTPUT_MARKER}\n```text\nhi\n```\n\n"
        "- item\n\n  ```python\n  indented = 2\n  ```\n"
    )
    blocks = parse_blocks(text)
    assert [(b.lang, b.runnable, b.expected_output) for b in blocks] == [
        ("python", False, None),
        ("python", True, "hi\n"),
        ("python", False, None),
    ]
    assert blocks[2].code == "indented = 2\n"


@pytest.mark.parametrize(
    "text",
    [
        f"{TEST_MARKER}\n```sh\nls\n```\n",
        f"{TEST_MARKER}\nprose in between\n```python\npass\n```\n",
        f"{OUTPUT_MARKER}\n```text\nhi\n```\n",
        f"```python\npass\n```\n{OUTPUT_MARKER}\n```text\nhi\n```\n",
        "<!-- test: maybe -->\n```python\npass\n```\n",
        f"{TEST_MARKER}\n",
        "```python\nnever closed\n",
    ],
    ids=[
        "test-marks-sh",
        "prose-after-marker",
        "output-first",
        "output-after-plain-block",
        "unknown-marker",
        "marker-at-end",
        "unclosed-fence",
    ],
)
def test_parser_rejects_misplaced_markers(text: str) -> None:
    with pytest.raises(DocFormatError):
        parse_blocks(text)


def test_runner_catches_wrong_output_failing_tests_and_network_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (block,) = parse_blocks(
        f"{TEST_MARKER}\n```python\nprint('one')\n```\n{OUTPUT_MARKER}\n```text\none\n```\n"
    )
    check_block(block, monkeypatch)
    with pytest.raises(AssertionError):
        check_block(attrs.evolve(block, expected_output="two\n"), monkeypatch)
    (failing,) = parse_blocks(
        f"{TEST_MARKER}\n```python\nasync def test_it():\n    raise ValueError('boom')\n```\n"
    )
    with pytest.raises(ValueError, match="boom"):
        run_block(failing, monkeypatch)
    (network,) = parse_blocks(
        f"{TEST_MARKER}\n```python\nimport socket\n"
        "try:\n    socket.getaddrinfo('api.openai.com', 443)\nexcept OSError:\n    pass\n```\n"
    )
    with pytest.raises(AssertionError, match=r"api\.openai\.com"):
        run_block(network, monkeypatch)


# -- the two commands ----------------------------------------------------------------


def _command_lines(text: str) -> list[str]:
    """Shell lines without comments and blank lines."""
    commands = []
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            commands.append(shlex.join(words))
    return commands


def test_readme_gives_exactly_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    shell = [b for b in parse_blocks(section) if b.lang in ("sh", "bash", "shell", "console")]
    assert len(shell) == 1
    assert _command_lines(shell[0].code) == ["bash tools/demo.sh", "bash tools/test.sh"]
    for script in ("tools/demo.sh", "tools/test.sh"):
        assert (ROOT / script).is_file()
        subprocess.run(["bash", "-n", str(ROOT / script)], check=True)


def test_ci_runs_the_test_command() -> None:
    commands = _command_lines((ROOT / ".ci" / "run").read_text(encoding="utf-8"))
    assert commands[-1] == "bash tools/test.sh"
    # Anything before it only sets the shell up; CI runs nothing else.
    for command in commands[:-1]:
        assert command.split()[0] in ("set", "cd"), command
