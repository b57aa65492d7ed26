"""The ``python -m openai_trio`` command line.

``chat`` sends one prompt to a real (or compatible) server; ``demo`` starts
the built-in fake server on loopback and streams a reply from it through the
real client, so the whole stack can be seen working without an API key;
``batch run`` runs a JSONL file of requests through the Batch API
(``_cli_batch``).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, Sequence, TextIO

import attrs
import trio

from openai_sansio import DEFAULT_BASE_URL, ClientConfig, OpenAIError, Timeout, __version__

from ._cli_batch import add_batch_parser, run_batch

if TYPE_CHECKING:
    from openai_sansio.types import ChatCompletionMessageParam

__all__ = ["main", "build_parser"]

_PROG = "python -m openai_trio"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Talk to the OpenAI API (or a compatible server) from trio.",
    )
    parser.add_argument("--version", action="version", version=f"openai-trio {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    chat = commands.add_parser(
        "chat",
        help="send one prompt and print the reply",
        description=(
            "Send one prompt as a chat completion and print the reply.  The key "
            "and base URL default to $OPENAI_API_KEY and $OPENAI_BASE_URL."
        ),
    )
    chat.add_argument("prompt")
    chat.add_argument("--model", default="gpt-4o-mini")
    chat.add_argument("--stream", action="store_true", help="print the reply as it arrives")
    chat.add_argument("--system", help="a system message to send first")
    chat.add_argument("--base-url", help="e.g. http://127.0.0.1:8000/v1")
    chat.add_argument("--api-key", help="prefer $OPENAI_API_KEY: arguments show up in ps")
    chat.add_argument("--max-tokens", type=_positive_int, metavar="N")
    chat.add_argument("--timeout", type=_positive_float, metavar="SECONDS", default=600.0)
    chat.add_argument("--max-retries", type=_non_negative_int, metavar="N", default=2)

    demo = commands.add_parser(
        "demo",
        help="stream a reply from the built-in fake server (no key needed)",
        description=(
            "Start the built-in fake server on 127.0.0.1, stream a chat "
            "completion from it through the real client and print it."
        ),
    )
    demo.add_argument("prompt", nargs="?", default="Say hello from the fake server.")
    demo.add_argument("--model", default="gpt-4o-mini")
    demo.add_argument(
        "--delay",
        type=_non_negative_float,
        metavar="SECONDS",
        default=0.03,
        help="pause between streamed chunks, so the streaming can be seen (default 0.03)",
    )
    add_batch_parser(commands)
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


class _Printer:
    """Writes streamed text as it arrives and remembers if a line is open."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.open_line = False
        self.pieces = 0

    def write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()
        self.pieces += 1
        self.open_line = not text.endswith("\n")

    def end_line(self) -> None:
        if self.open_line:
            self.out.write("\n")
            self.out.flush()
            self.open_line = False


async def _chat(args: argparse.Namespace, config: ClientConfig, printer: _Printer) -> None:
    from openai_sansio import NOT_GIVEN

    from . import Client

    messages: list[ChatCompletionMessageParam] = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    messages.append({"role": "user", "content": args.prompt})
    max_tokens = NOT_GIVEN if args.max_tokens is None else args.max_tokens
    async with Client(config=config) as client:
        if args.stream:
            stream = await client.chat.completions.create(
                model=args.model, messages=messages, stream=True, max_tokens=max_tokens
            )
            async with stream:
                async for chunk in stream:
                    _print_chunk(chunk, printer)
        else:
            completion = await client.chat.completions.create(
                model=args.model, messages=messages, max_tokens=max_tokens
            )
            content = completion.choices[0].message.content if completion.choices else None
            printer.write(content or "")
    printer.end_line()


def _print_chunk(chunk: Any, printer: _Printer) -> None:
    for choice in chunk.choices:
        text = choice.delta.content
        if choice.index == 0 and text:
            printer.write(text)


async def _demo(args: argparse.Namespace, printer: _Printer) -> None:
    from . import Client
    from .testing import FakeResponse, FakeServer, ReceivedRequest

    def slowed(request: ReceivedRequest) -> FakeResponse:
        response = server.openai(request)
        return attrs.evolve(response, delay=args.delay) if response.chunked else response

    server = FakeServer(handler=slowed)
    started = trio.current_time()
    async with server:
        await server.serve_tcp("127.0.0.1", 0)
        async with Client(base_url=server.base_url, api_key="sk-demo", max_retries=0) as client:
            stream = await client.chat.completions.create(
                model=args.model,
                messages=[{"role": "user", "content": args.prompt}],
                stream=True,
            )
            async with stream:
                request_id = stream.request_id
                async for chunk in stream:
                    _print_chunk(chunk, printer)
    printer.end_line()
    elapsed = trio.current_time() - started
    printer.out.write(
        f"-- streamed {printer.pieces} pieces from the fake server at {server.base_url} "
        f"through openai_trio.Client in {elapsed:.2f}s "
        f"({_plural(server.connections_opened, 'connection')}, request id {request_id}).\n"
    )
    printer.out.flush()


def _config(args: argparse.Namespace) -> ClientConfig:
    config = ClientConfig.from_env(
        api_key=args.api_key,
        base_url=args.base_url,
        max_retries=args.max_retries,
        timeout=Timeout.coerce(args.timeout),
    )
    if config.api_key is None and config.base_url == DEFAULT_BASE_URL:
        raise _UsageError("no API key: set OPENAI_API_KEY or pass --api-key")
    return config


class _UsageError(Exception):
    pass


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the command line; return the exit status."""
    out = sys.stdout if stdout is None else stdout
    err = sys.stderr if stderr is None else stderr
    args = build_parser().parse_args(argv)
    printer = _Printer(out)
    try:
        if args.command == "chat":
            trio.run(_chat, args, _config(args), printer)
        elif args.command == "batch":
            return trio.run(run_batch, args, _config(args), out, err)
        else:
            trio.run(_demo, args, printer)
    except _UsageError as exc:
        err.write(f"{_PROG}: error: {exc}\n")
        return 2
    except OpenAIError as exc:
        printer.end_line()
        err.write(f"{_PROG}: error: {_one_line(exc)}\n")
        return 1
    except OSError as exc:
        printer.end_line()
        err.write(f"{_PROG}: error: {_one_line(exc)}\n")
        return 1
    except KeyboardInterrupt:
        printer.end_line()
        return 130
    return 0


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"
