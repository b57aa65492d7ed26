# The server events are wide unions; the tests know which one they read.
# mypy: disable-error-code="union-attr"
"""``AzureClient.realtime.connect()`` and ``AzureClient.responses.connect()``
against the fake server's WebSocket mode: the path, the ``api-version`` and
``deployment`` query, which header carries the credential (and that the
other one does not appear), a token provider called once per connection,
and no credential in any repr, error or log line.  Over memory streams,
once over loopback TLS, and against the independent ``websockets`` peer
in its Azure form, over ws and wss."""

from __future__ import annotations

import logging
import ssl
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import pytest
import trio
import trio.testing
import trustme
from peers.realtime_peer import RealtimePeer

from openai_trio import AuthenticationError, AzureClient, LocalProtocolError
from openai_trio.testing import FakeServer, ReceivedRequest

ENDPOINT = "https://example-resource.openai.azure.test"
VERSION = "2025-04-01-preview"
KEY = "azure-rt-SECRET-key-51c0"
TOKEN = "entra-rt-SECRET-token-93de"
MODEL = "gpt-realtime"
AZURE_ENV = (
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_AD_TOKEN",
    "AZURE_OPENAI_ENDPOINT",
    "OPENAI_API_VERSION",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
)
DEADLINE = 10.0


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in AZURE_ENV:
        monkeypatch.delenv(name, raising=False)


@asynccontextmanager
async def azure(server_key: str | None = None, **kwargs: Any) -> AsyncIterator[tuple[FakeServer, AzureClient]]:
    async with FakeServer(api_key=server_key) as server:
        kwargs.setdefault("api_version", VERSION)
        if "base_url" not in kwargs:
            kwargs.setdefault("azure_endpoint", ENDPOINT)
        if not {"azure_ad_token", "azure_ad_token_provider"} & set(kwargs):
            kwargs.setdefault("api_key", KEY)
        async with AzureClient(connector=server.connect, max_retries=0, **kwargs) as client:
            yield server, client


def upgrades(server: FakeServer) -> list[ReceivedRequest]:
    return [r for r in server.requests if (r.headers.get("upgrade") or "").lower() == "websocket"]


async def next_of(conn: Any, kind: str) -> Any:
    async for event in conn:
        if event.type == kind:
            return event
    raise AssertionError(f"the connection ended before {kind}")


async def text_session(conn: Any) -> str:
    assert (await conn.recv()).type == "session.created"
    await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
    await conn.response.create()
    parts = []
    async for event in conn:
        if event.type == "response.output_text.delta":
            parts.append(event.delta)
        elif event.type == "response.done":
            break
    return "".join(parts)


# -- where the session goes and what it carries ------------------------------------


async def test_api_key_session_goes_to_the_azure_path() -> None:
    with trio.fail_after(DEADLINE):
        async with azure(server_key=KEY) as (server, client), client.realtime.connect(model=MODEL) as conn:
            assert await text_session(conn)
            assert conn.url.startswith("wss://example-resource.openai.azure.test/openai/realtime?")
            (request,) = upgrades(server)
            assert request.path == "/openai/realtime"
            # As the official SDK's Azure client: api-version and deployment,
            # no model= (Azure names the deployment instead).
            assert request.query == {"api-version": [VERSION], "deployment": [MODEL]}
            assert request.headers["api-key"] == KEY
            assert "authorization" not in request.headers
            assert request.headers["host"] == "example-resource.openai.azure.test"
            # The same config code as HTTP: the client's usual headers.
            assert request.headers["user-agent"].startswith("openai-trio/")
            for shown in (repr(conn), repr(client), repr(client.realtime.connect(model=MODEL)), conn.url):
                assert "SECRET" not in shown, shown


async def test_configured_deployment_wins_over_model() -> None:
    async with azure(azure_deployment="my-realtime") as (server, client):
        async with client.realtime.connect(model="gpt-realtime-mini") as conn:
            assert (await conn.recv()).type == "session.created"
        async with client.realtime.connect() as conn:
            # With a deployment configured, model= may be left out.
            assert (await conn.recv()).type == "session.created"
    first, second = upgrades(server)
    assert first.query["deployment"] == ["my-realtime"] == second.query["deployment"]
    assert "model" not in first.query


async def test_query_keeps_defaults_extras_and_call_id() -> None:
    async with (
        azure(default_query={"tenant": "t1"}) as (server, client),
        client.realtime.connect(model=MODEL, call_id="rtc_123", extra_query={"trace": "on"}) as conn,
    ):
        assert (await conn.recv()).type == "session.created"
    (request,) = upgrades(server)
    assert request.query == {
        "tenant": ["t1"],
        "api-version": [VERSION],
        "call_id": ["rtc_123"],
        "deployment": [MODEL],
        "trace": ["on"],
    }


async def test_extra_query_cannot_replace_the_version_or_deployment() -> None:
    # As the official SDK's Azure client: its own values win.
    extra = {"api-version": "1999-01-01", "deployment": "other", "trace": "on"}
    async with azure() as (server, client), client.realtime.connect(model=MODEL, extra_query=extra) as conn:
        assert (await conn.recv()).type == "session.created"
    (request,) = upgrades(server)
    assert request.query == {"api-version": [VERSION], "deployment": [MODEL], "trace": ["on"]}


async def test_base_url_instead_of_an_endpoint() -> None:
    async with azure(base_url="http://gateway.test/openai") as (server, client), client.realtime.connect(model=MODEL) as conn:
        assert conn.url.startswith("ws://gateway.test/openai/realtime?")
        assert (await conn.recv()).type == "session.created"
    (request,) = upgrades(server)
    assert request.query["deployment"] == [MODEL] and request.query["api-version"] == [VERSION]


async def test_model_or_deployment_is_required_before_any_byte() -> None:
    async with azure() as (server, client):
        with pytest.raises(LocalProtocolError, match="needs model="):
            client.realtime.connect()
        with pytest.raises(LocalProtocolError, match="needs model="):
            client.realtime.connect(call_id="rtc_1")
    assert server.requests == []


async def test_ad_token_is_a_bearer_and_no_api_key() -> None:
    async with azure(server_key=TOKEN, azure_ad_token=TOKEN) as (server, client), client.realtime.connect(model=MODEL) as conn:
        assert await text_session(conn)
        assert "SECRET" not in repr(conn)
    (request,) = upgrades(server)
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert "api-key" not in request.headers


async def test_token_provider_is_called_for_every_connection() -> None:
    calls = 0

    async def provider() -> str:
        nonlocal calls
        calls += 1
        await trio.lowlevel.checkpoint()
        return f"{TOKEN}-{calls}"

    async with azure(azure_ad_token_provider=provider) as (server, client):
        manager = client.realtime.connect(model=MODEL)
        # Nothing is fetched until the connection opens.
        assert calls == 0
        async with manager as conn:
            assert (await conn.recv()).type == "session.created"
            assert "SECRET" not in repr(conn) + repr(manager)
        async with client.realtime.connect(model=MODEL) as conn:
            assert (await conn.recv()).type == "session.created"
    first, second = upgrades(server)
    assert first.headers["authorization"] == f"Bearer {TOKEN}-1"
    assert second.headers["authorization"] == f"Bearer {TOKEN}-2"
    assert "api-key" not in first.headers
    assert calls == 2


async def test_callers_authorization_header_wins_over_the_provider() -> None:
    async def provider() -> str:
        raise AssertionError("the caller's own header should have been used")

    async with azure(azure_ad_token_provider=provider) as (server, client):
        headers = {"Authorization": "Bearer caller-SECRET-own"}
        async with client.realtime.connect(model=MODEL, extra_headers=headers) as conn:
            assert (await conn.recv()).type == "session.created"
    (request,) = upgrades(server)
    assert request.headers["authorization"] == "Bearer caller-SECRET-own"


async def test_a_bad_token_from_the_provider_fails_before_any_byte() -> None:
    async def provider() -> str:
        return "bad\ntoken"

    async with azure(azure_ad_token_provider=provider) as (server, client):
        with pytest.raises(LocalProtocolError, match="cannot be sent in a header") as info:
            async with client.realtime.connect(model=MODEL):
                raise AssertionError("unreachable")
        assert "bad" not in str(info.value)
    assert upgrades(server) == []


# -- refused upgrades and secrets -----------------------------------------------------


@pytest.mark.parametrize("credential", ["api_key", "azure_ad_token", "azure_ad_token_provider"])
async def test_refused_upgrade_never_shows_the_credential(
    credential: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def provider() -> str:
        return TOKEN

    value: Any = {"api_key": KEY, "azure_ad_token": TOKEN, "azure_ad_token_provider": provider}[credential]
    async with azure(server_key="the-right-one", **{credential: value}) as (_server, client):
        with pytest.raises(AuthenticationError) as info:
            async with client.realtime.connect(model=MODEL):
                raise AssertionError("the upgrade should have been refused")
        with pytest.raises(AuthenticationError) as responses_info:
            async with client.responses.connect():
                raise AssertionError("the upgrade should have been refused")
    assert info.value.status_code == 401
    seen = [str(info.value), repr(info.value), repr(info.value.request), str(info.value.body)]
    seen += [str(responses_info.value), repr(responses_info.value.request)]
    seen += [record.getMessage() for record in caplog.records]
    for text in seen:
        assert "SECRET" not in text, text


# -- the Responses WebSocket mode ------------------------------------------------------


async def test_responses_websocket_goes_to_the_azure_path() -> None:
    # The Responses API is served once per resource on Azure, not per
    # deployment: the model is in each response.create, as over HTTP.
    async with azure(server_key=KEY, azure_deployment="ignored-here") as (server, client), client.responses.connect() as ws:
        kinds = [event.type async for event in await ws.create(model="gpt-4o-mini", input="Hi")]
        assert kinds[-1] == "response.completed"
        assert "SECRET" not in repr(ws)
    (request,) = upgrades(server)
    assert request.path == "/openai/responses"
    assert request.query == {"api-version": [VERSION]}
    assert request.headers["api-key"] == KEY
    assert "authorization" not in request.headers


async def test_responses_reconnect_fetches_a_fresh_token(autojump_clock: trio.testing.MockClock) -> None:
    calls = 0

    async def provider() -> str:
        nonlocal calls
        calls += 1
        return f"{TOKEN}-{calls}"

    async with (
        azure(azure_ad_token_provider=provider) as (server, client),
        client.responses.connect(reconnect_after=100) as ws,
    ):
        async for _ in await ws.create(model="gpt-4o-mini", input="one"):
            pass
        await trio.sleep(150)
        # Past reconnect_after: this create opens a new connection.
        async for _ in await ws.create(model="gpt-4o-mini", input="two"):
            pass
        assert ws.connections == 2
    first, second = upgrades(server)
    assert first.headers["authorization"] == f"Bearer {TOKEN}-1"
    assert second.headers["authorization"] == f"Bearer {TOKEN}-2"


# -- over loopback TLS -----------------------------------------------------------------


async def test_over_tls() -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    with trio.fail_after(DEADLINE):
        async with FakeServer(api_key=KEY) as server:
            port = await server.serve_tcp(ssl_context=server_ctx)
            async with AzureClient(
                azure_endpoint=f"https://127.0.0.1:{port}",
                api_version=VERSION,
                api_key=KEY,
                ssl_context=client_ctx,
            ) as client:
                async with client.realtime.connect(model=MODEL) as conn:
                    assert conn.url.startswith(f"wss://127.0.0.1:{port}/openai/realtime?")
                    assert await text_session(conn)
                async with client.responses.connect() as ws:
                    kinds = [event.type async for event in await ws.create(model="gpt-4o-mini", input="Hi")]
                    assert kinds[-1] == "response.completed"
            assert [r.path for r in upgrades(server)] == ["/openai/realtime", "/openai/responses"]


# -- against the independent websockets peer -------------------------------------------


@pytest.mark.parametrize("transport", ["ws", "wss"])
@pytest.mark.parametrize("credential", ["api_key", "azure_ad_token_provider"])
async def test_the_websockets_peer_in_its_azure_form(
    realtime_peer: RealtimePeer, transport: str, credential: str
) -> None:
    port = realtime_peer.wss_port if transport == "wss" else realtime_peer.ws_port
    scheme = "https" if transport == "wss" else "http"

    async def provider() -> str:
        return TOKEN

    value: Any = KEY if credential == "api_key" else provider
    with trio.fail_after(DEADLINE):
        async with AzureClient(
            azure_endpoint=f"{scheme}://127.0.0.1:{port}",
            api_version=VERSION,
            ssl_context=realtime_peer.certs.client_context(),
            max_retries=0,
            **{credential: value},
        ) as client, client.realtime.connect(model=MODEL) as conn:
            assert conn.url.startswith(f"{transport}://127.0.0.1:{port}/openai/realtime?")
            created = await conn.recv()
            assert created.type == "session.created"
            # The peer names the session after the deployment it was given.
            assert created.session.model == MODEL
            await conn.send({"type": "response.create", "response": {"metadata": {"deltas": "20"}}})
            deltas = []
            async for event in conn:
                if event.type == "response.output_text.delta":
                    deltas.append(event.delta)
                elif event.type == "response.done":
                    break
            assert deltas == [f"w{i} " for i in range(20)]
