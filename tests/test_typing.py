"""The package as a user's type checker sees it.

mypy runs on a snippet in a folder outside the checkout, so it must find
``openai_trio`` the way a user's mypy does (through the install), and the
snippet checks what the surface promises: typed results, paginators,
streams, raw views, and ``event.type == ...`` narrowing a stream event
union.  A wrong type anywhere makes mypy fail, and so the test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SNIPPET = '''
from typing import assert_type

import openai_trio
from openai_sansio.types import (
    ChatCompletion,
    ChatCompletionChunk,
    OpenAIFile,
    ResponseStreamEvent,
    VectorStoreFileObject,
)
from openai_trio import AsyncCursorPage, AsyncPaginator, AsyncStream, RawResponse


def text_of(event: ResponseStreamEvent) -> str:
    if event.type == "response.output_text.delta":
        return event.delta
    return ""


async def main(client: openai_trio.Client) -> None:
    created = await client.files.create(file=b"x", purpose="batch")
    assert_type(created, OpenAIFile)
    pages = client.vector_stores.files.list("vs_1")
    assert_type(pages, AsyncPaginator[VectorStoreFileObject, AsyncCursorPage[VectorStoreFileObject]])
    completion = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert_type(completion, ChatCompletion)
    # Arrays are Iterable, as in the official SDK: a generator type-checks.
    generated = await client.chat.completions.create(
        model="m", messages=({"role": "user", "content": c} for c in ["a", "b"])
    )
    assert_type(generated, ChatCompletion)
    stream = await client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert_type(stream, AsyncStream[ChatCompletionChunk])
    raw = await client.files.with_raw_response.retrieve("file_1")
    assert_type(raw, RawResponse[OpenAIFile])
    async with client.files.with_streaming_response.content("file_1") as body:
        async for piece in body.iter_bytes():
            assert_type(piece, bytes)
    client.files.create(purpose="batch")  # type: ignore[call-arg]
'''


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_user_mypy_sees_typed_surface(tmp_path: Path) -> None:
    snippet = tmp_path / "user_code.py"
    snippet.write_text(SNIPPET, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--python-version", "3.11", str(snippet)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert result.returncode == 0, result.stdout + result.stderr
