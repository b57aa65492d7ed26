"""``openai_trio.AzureClient`` against the fake server: the paths, the
``api-version`` query and the credential headers that reach the wire."""

from __future__ import annotations

import logging
import re
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import attrs
import pytest
import trio
import trio.testing

import openai_trio
from openai_trio import AzureClient, Client, LocalProtocolError, OpenAIError
from openai_trio.testing import FakeResponse, FakeServer, ReceivedRequest

ENDPOINT = "http://example-resource.openai.azure.test/"
VERSION = "2024-10-21"
KEY = "azure-SECRET-key"
MESSAGES = [{"role": "user", "content": "Hello"}]
AZURE_ENV = (
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_AD_TOKEN",
    "AZURE_OPENAI_ENDPOINT",
    "OPENAI_API_VERSION",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
)

_AZURE_PATH = re.compile(r"^/openai(?:/deployments/[^/]+)?")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in AZURE_ENV:
        monkeypatch.delenv(name, raising=False)


def azure_handler(server: FakeServer) -> Any:
    """Serve Azure's paths with the fake OpenAI API behind them."""

    def handle(request: ReceivedRequest) -> FakeResponse:
        path, sep, query = request.target.partition("?")
        inner = _AZURE_PATH.sub("", path)
        return server.openai(attrs.evolve(request, target=inner + sep + query))

    return handle


@asynccontextmanager
async def azure_client(**kwargs: Any) -> AsyncIterator[tuple[FakeServer, AzureClient]]:
    server = FakeServer()
    server._handler = azure_handler(server)
    async with server:
        kwargs.setdefault("api_version", VERSION)
        if "base_url" not in kwargs:
            kwargs.setdefault("azure_endpoint", ENDPOINT)
        if not {"azure_ad_token", "azure_ad_token_provider"} & set(kwargs):
            kwargs.setdefault("api_key", KEY)
        async with AzureClient(connector=server.connect, **kwargs) as client:
            yield server, client


def check_query(request: ReceivedRequest, version: str = VERSION) -> None:
    assert request.query["api-version"] == [version]


async def test_api_key_and_routes() -> None:
    async with azure_client() as (server, client):
        assert isinstance(client, Client)
        completion = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert completion.choices[0].message.content
        request = server.last_request
        assert request.path == "/openai/deployments/gpt-4o/chat/completions"
        check_query(request)
        assert request.headers["api-key"] == KEY
        assert "authorization" not in request.headers
        assert request.headers["host"] == "example-resource.openai.azure.test"

        await client.embeddings.create(model="text-embedding-3-small", input="hi")
        assert server.last_request.path == "/openai/deployments/text-embedding-3-small/embeddings"
        await client.completions.create(model="davinci", prompt="Say")
        assert server.last_request.path == "/openai/deployments/davinci/completions"

        page = await client.models.list()
        assert list(page)
        assert server.last_request.path == "/openai/models"
        check_query(server.last_request)
        assert server.last_request.headers["api-key"] == KEY

        assert "SECRET" not in repr(client) and VERSION in repr(client)
        assert "SECRET" not in repr(client.config) + repr(client.azure)
        assert client.api_version == VERSION
        assert client.base_url == "http://example-resource.openai.azure.test/openai"


async def test_configured_deployment() -> None:
    async with azure_client(azure_deployment="prod") as (server, client):
        await client.chat.completions.create(model="ignored-here", messages=MESSAGES)
        assert server.last_request.path == "/openai/deployments/prod/chat/completions"
        await client.models.retrieve("gpt-4o")
        assert server.last_request.path == "/openai/models/gpt-4o"
        check_query(server.last_request)


async def test_streams_are_routed_too() -> None:
    async with azure_client() as (server, client):
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            text = "".join([t async for t in stream.text_deltas()])
        assert text
        assert server.last_request.path == "/openai/deployments/m/chat/completions"


async def test_generic_request_is_routed_and_keeps_its_own_query() -> None:
    async with azure_client(default_query={"a": "1", "api-version": "overridden"}) as (server, client):
        await client.request("POST", "/chat/completions", body={"model": "x", "messages": MESSAGES}, query={"b": "2"})
        request = server.last_request
        assert request.path == "/openai/deployments/x/chat/completions"
        assert request.query == {"a": ["1"], "api-version": [VERSION], "b": ["2"]}


async def test_preview_api_version_keeps_the_model_in_the_body() -> None:
    async with azure_client(api_version="preview") as (server, client):
        await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert server.last_request.path == "/openai/chat/completions"
        check_query(server.last_request, "preview")


async def test_base_url_instead_of_an_endpoint() -> None:
    async with azure_client(base_url="http://proxy.test/openai/deployments/fixed") as (server, client):
        await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert server.last_request.path == "/openai/deployments/fixed/chat/completions"
        assert server.last_request.headers["host"] == "proxy.test"


async def test_static_ad_token() -> None:
    async with azure_client(azure_ad_token="SECRET-ad-token") as (server, client):
        await client.models.list()
        request = server.last_request
        assert request.headers["authorization"] == "Bearer SECRET-ad-token"
        assert "api-key" not in request.headers


async def test_token_provider_is_awaited_for_every_attempt(autojump_clock: trio.testing.MockClock) -> None:
    issued: list[str] = []

    async def provider() -> str:
        await trio.sleep(0.01)
        issued.append(f"SECRET-token-{len(issued) + 1}")
        return issued[-1]

    async with azure_client(azure_ad_token_provider=provider, max_retries=2) as (server, client):
        server.enqueue(FakeResponse.error(500, "boom"), FakeResponse.error(503, "again"))
        await client.chat.completions.create(model="m", messages=MESSAGES)
        assert issued == ["SECRET-token-1", "SECRET-token-2", "SECRET-token-3"]
        sent = [r.headers["authorization"] for r in server.requests]
        assert sent == [f"Bearer {t}" for t in issued]
        assert all("api-key" not in r.headers for r in server.requests)
        assert [r.path for r in server.requests] == ["/openai/deployments/m/chat/completions"] * 3

        # Another call fetches again.
        await client.models.list()
        assert len(issued) == 4
        assert server.last_request.headers["authorization"] == "Bearer SECRET-token-4"


async def test_provider_token_never_reaches_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    async def provider() -> str:
        return "SECRET-provider-token"

    caplog.set_level(logging.DEBUG, logger="openai_trio")
    async with azure_client(azure_ad_token_provider=provider, max_retries=0) as (server, client):
        # The same token twice: the second call still has it scrubbed.
        await client.models.list()
        server.enqueue(FakeResponse.error(401, "Token SECRET-provider-token is not valid"))
        with pytest.raises(openai_trio.AuthenticationError) as info:
            await client.models.list()
        exc = info.value
        assert server.last_request.headers["authorization"] == "Bearer SECRET-provider-token"
        texts = [str(exc), repr(exc), repr(exc.body), repr(exc.request), exc.response.text, repr(exc.args)]
        for text in texts:
            assert "SECRET" not in text
        assert exc.request is not None and exc.request.header("authorization") is None
    assert "SECRET" not in caplog.text


async def test_callers_own_authorization_header_wins_over_the_provider() -> None:
    calls = 0

    async def provider() -> str:
        nonlocal calls
        calls += 1
        return "from-provider"

    async with azure_client(azure_ad_token_provider=provider) as (server, client):
        await client.models.list(extra_headers={"Authorization": "Bearer mine"})
        assert server.last_request.headers["authorization"] == "Bearer mine"
        assert calls == 0


@pytest.mark.parametrize("bad", ["", None, 42, "SECRET\r\nx-injected: 1"])
async def test_a_bad_token_fails_before_any_byte_is_sent(bad: object) -> None:
    async def provider() -> Any:
        return bad

    async with azure_client(azure_ad_token_provider=provider) as (server, client):
        with pytest.raises(LocalProtocolError, match=r"azure_ad_token_provider|token") as info:
            await client.models.list()
        assert "SECRET" not in str(info.value)
        assert server.requests == []
        assert client.pool_stats() == openai_trio.PoolStats()


async def test_provider_errors_and_cancellation_propagate() -> None:
    class Expired(Exception):
        pass

    async def failing() -> str:
        raise Expired("no token")

    async with azure_client(azure_ad_token_provider=failing) as (server, client):
        with pytest.raises(Expired):
            await client.models.list()
        assert server.requests == []

    async def stuck() -> str:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async with azure_client(azure_ad_token_provider=stuck) as (server, client):
        with trio.move_on_after(0.05) as scope:
            await client.models.list()
        assert scope.cancelled_caught
        assert server.requests == []


async def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "SECRET-env-key")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "http://env-resource.test")
    monkeypatch.setenv("OPENAI_API_VERSION", "2025-02-01")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-env")
    # Not Azure's: never sent to it.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-SECRET")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://openai.test/v1")
    server = FakeServer()
    server._handler = azure_handler(server)
    async with server, AzureClient(connector=server.connect) as client:
        await client.models.list()
        request = server.last_request
        assert request.headers["host"] == "env-resource.test"
        assert request.path == "/openai/models"
        check_query(request, "2025-02-01")
        assert request.headers["api-key"] == "SECRET-env-key"
        assert request.headers["openai-organization"] == "org-env"
        assert "authorization" not in request.headers


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"azure_endpoint": ENDPOINT, "api_key": KEY}, "OPENAI_API_VERSION"),
        ({"azure_endpoint": ENDPOINT, "api_version": VERSION}, "Missing credentials"),
        ({"api_key": KEY, "api_version": VERSION}, "AZURE_OPENAI_ENDPOINT"),
        ({"azure_endpoint": ENDPOINT, "api_version": VERSION, "api_key": KEY, "azure_ad_token": "t"}, "only one"),
        (
            {"azure_endpoint": ENDPOINT, "api_version": VERSION, "azure_ad_token": "t", "azure_ad_token_provider": len},
            "only one",
        ),
        ({"azure_endpoint": ENDPOINT, "api_version": VERSION, "azure_ad_token_provider": "tok"}, "async function"),
    ],
)
async def test_construction_errors(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(OpenAIError, match=match) as info:
        AzureClient(**kwargs)
    assert KEY not in str(info.value)


async def test_with_options_stays_azure_and_shares_the_pool() -> None:
    async def provider() -> str:
        return "SECRET-provided"

    async with azure_client() as (server, client):
        await client.models.list()
        other = client.with_options(api_version="2025-01-01", max_retries=0, timeout=3)
        assert isinstance(other, AzureClient)
        assert other.max_retries == 0 and other.timeout.read == 3.0
        await other.chat.completions.create(model="m", messages=MESSAGES)
        request = server.last_request
        assert request.path == "/openai/deployments/m/chat/completions"
        check_query(request, "2025-01-01")
        assert request.headers["api-key"] == KEY
        assert server.connections_opened == 1

        tokened = client.with_options(azure_ad_token_provider=provider)
        await tokened.models.list()
        assert server.last_request.headers["authorization"] == "Bearer SECRET-provided"
        assert "api-key" not in server.last_request.headers

        keyed_again = tokened.with_options(api_key="second-key")
        await keyed_again.models.list()
        assert server.last_request.headers["api-key"] == "second-key"
        assert "authorization" not in server.last_request.headers

        static = client.with_options(azure_ad_token="SECRET-static")
        await static.models.list()
        assert server.last_request.headers["authorization"] == "Bearer SECRET-static"
        assert "api-key" not in server.last_request.headers
        check_query(server.last_request)

        with pytest.raises(OpenAIError, match="only one"):
            client.with_options(api_key="a", azure_ad_token="b")
        with pytest.raises(OpenAIError, match="api_key must be a string"):
            client.with_options(api_key=b"k")  # type: ignore[arg-type]
        with pytest.raises(OpenAIError, match="azure_ad_token must be a string"):
            client.with_options(azure_ad_token=b"k")  # type: ignore[arg-type]
        await other.aclose()
        # Closing the copy leaves the pool to the original.
        await client.models.list()
        assert server.connections_opened == 1


async def test_multipart_uploads_are_routed_by_their_model_field() -> None:
    async with FakeServer() as server:
        server.route(
            "POST", "/openai/deployments/{d}/audio/transcriptions", FakeResponse.json({"text": "hello"})
        )
        server.route("POST", "/openai/deployments/{d}/audio/speech", FakeResponse(body=(b"ID3",), content_type="audio/mpeg"))
        async with AzureClient(
            azure_endpoint=ENDPOINT, api_version=VERSION, api_key=KEY, connector=server.connect
        ) as client:
            await client.audio.transcriptions.create(file=("a.wav", b"RIFF...."), model="whisper-dep")
            request = server.last_request
            assert request.path == "/openai/deployments/whisper-dep/audio/transcriptions"
            assert request.headers["content-type"].startswith("multipart/form-data")
            check_query(request)
            speech = await client.audio.speech.create(model="tts-dep", input="hi", voice="alloy")
            assert speech.read() == b"ID3"
            assert server.last_request.path == "/openai/deployments/tts-dep/audio/speech"
