"""Options a user switching from the official SDK expects to find: ``omit``,
``exc.response``, and a local error when there is no API key."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import pytest

import openai_sansio
import openai_trio
from openai_sansio import Headers, make_status_error
from openai_trio import NOT_GIVEN, Client, ClientConfig, OpenAIError, omit
from openai_trio.testing import FakeResponse, FakeServer

KEY = "sk-parity-SECRET-key"
MESSAGES = [{"role": "user", "content": "Hello"}]


@asynccontextmanager
async def fake_client(**kwargs: Any) -> AsyncIterator[tuple[FakeServer, Client]]:
    async with FakeServer() as server:
        kwargs.setdefault("api_key", KEY)
        kwargs.setdefault("base_url", "http://fake.test/v1")
        async with Client(connector=server.connect, **kwargs) as client:
            yield server, client


# -- omit ----------------------------------------------------------------------------


def test_omit_is_not_given() -> None:
    assert omit is NOT_GIVEN
    assert openai_trio.omit is openai_sansio.omit is openai_sansio.NOT_GIVEN
    assert openai_trio.Omit is openai_sansio.NotGiven
    assert not omit
    assert repr(omit) == "NOT_GIVEN"


async def test_omit_leaves_a_parameter_out() -> None:
    async with fake_client() as (server, client):
        await client.embeddings.create(model="m", input="hi", dimensions=omit, user=omit)
        body = server.last_request.json()
        assert "dimensions" not in body and "user" not in body
        await client.chat.completions.create(
            model="m", messages=MESSAGES, temperature=omit, max_retries=omit, timeout=omit
        )
        assert "temperature" not in server.last_request.json()


async def test_omit_removes_a_default_header() -> None:
    async with fake_client(organization="org-1") as (server, client):
        await client.models.list()
        assert server.last_request.headers["openai-organization"] == "org-1"
        await client.models.list(extra_headers={"OpenAI-Organization": omit})
        assert "openai-organization" not in server.last_request.headers


# -- exc.response --------------------------------------------------------------------


async def test_error_response_like_the_sdk() -> None:
    async with fake_client(max_retries=0) as (server, client):
        server.enqueue(
            FakeResponse.error(
                400, f"Bad value; your key {KEY} was used", code="bad", headers={"x-request-id": "req_9"}
            )
        )
        with pytest.raises(openai_trio.BadRequestError) as info:
            await client.chat.completions.create(model="m", messages=MESSAGES)
    exc = info.value
    response = exc.response
    assert isinstance(response, openai_trio.ErrorResponse)
    assert response.status_code == 400
    assert response.headers["x-request-id"] == "req_9"
    assert response.request_id == "req_9"
    assert response.headers["content-type"].startswith("application/json")
    assert response.request is exc.request
    assert response.is_error and not response.is_success
    assert response.json()["error"]["code"] == "bad"
    assert response.json() == exc.body
    assert "Bad value" in response.text
    assert response.content == response.text.encode()
    # The key the server echoed is redacted everywhere, response included.
    for text in (response.text, repr(response.json()), repr(response), str(exc)):
        assert KEY not in text
    assert "<redacted>" in response.text
    assert repr(response) == "<ErrorResponse [400]>"


async def test_error_response_that_is_not_json() -> None:
    page = "<html><body>502 Bad Gateway</body></html>"
    async with fake_client(max_retries=0) as (server, client):
        server.enqueue(FakeResponse.text(page, 502, content_type="text/html"))
        with pytest.raises(openai_trio.InternalServerError) as info:
            await client.models.list()
    response = info.value.response
    assert response.status_code == 502
    assert response.text == page
    with pytest.raises(ValueError):
        response.json()


def test_error_response_built_without_text() -> None:
    # A runtime that builds errors itself may not pass the text: it is
    # rebuilt from the decoded body.
    headers = Headers([("x-request-id", "r")])
    exc = make_status_error(404, headers, {"error": {"message": "gone"}})
    assert exc.response.json() == {"error": {"message": "gone"}}
    assert make_status_error(500, headers, "plain").response.text == "plain"
    empty = make_status_error(500, headers, None).response
    assert empty.text == "" and empty.content == b""
    assert make_status_error(409, headers, None, text=" raw ").response.text == " raw "


# -- no API key -----------------------------------------------------------------------


def test_no_api_key_is_a_local_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(OpenAIError, match="OPENAI_API_KEY") as info:
        Client(base_url="http://fake.test/v1")
    assert "api_key" in str(info.value)
    with pytest.raises(OpenAIError, match="OPENAI_API_KEY"):
        Client(config=ClientConfig(base_url="http://fake.test/v1"))
    # An empty environment variable is no key either.
    monkeypatch.setenv("OPENAI_API_KEY", "")
    with pytest.raises(OpenAIError, match="OPENAI_API_KEY"):
        Client()


async def test_a_key_from_anywhere_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    async with FakeServer() as server, Client(base_url="http://fake.test/v1", connector=server.connect) as client:
        await client.models.list()
        assert server.last_request.headers["authorization"] == "Bearer sk-env"
        copy = client.with_options(max_retries=0)
        await copy.models.list()
    monkeypatch.delenv("OPENAI_API_KEY")
    async with Client(config=ClientConfig(api_key="k")):
        pass
