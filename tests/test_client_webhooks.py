"""client.webhooks: the client's webhook_secret (or OPENAI_WEBHOOK_SECRET)
as the default secret, the client's wall clock as now, the secret in no
repr or message."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

import openai_trio
from openai_sansio import (
    ClientConfig,
    InvalidWebhookSignatureError,
    LocalProtocolError,
    UnknownWebhookEvent,
)
from openai_sansio.types.webhooks import WebhookResponseCompleted

KEY = b"client webhook key material 1234"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
NOW = 1_760_000_000
BODY = json.dumps(
    {"id": "evt_7", "object": "event", "type": "response.completed", "created_at": NOW, "data": {"id": "resp_7"}}
).encode()


def signed(body: bytes = BODY, *, key: bytes = KEY, timestamp: int = NOW) -> dict[str, str]:
    message = b"wh_1." + str(timestamp).encode() + b"." + body
    signature = base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()
    return {"Webhook-Id": "wh_1", "Webhook-Timestamp": str(timestamp), "Webhook-Signature": f"v1,{signature}"}


@pytest.fixture(autouse=True)
def _no_env_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_WEBHOOK_SECRET", raising=False)


def client(**kwargs: object) -> openai_trio.Client:
    return openai_trio.Client(api_key="sk-test", wall_clock=lambda: float(NOW), **kwargs)  # type: ignore[arg-type]


def test_unwrap_with_the_clients_secret() -> None:
    event = client(webhook_secret=SECRET).webhooks.unwrap(BODY, signed())
    assert isinstance(event, WebhookResponseCompleted)
    assert event.data.id == "resp_7"
    client(webhook_secret=SECRET).webhooks.verify_signature(BODY.decode(), signed())


def test_the_secret_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", SECRET)
    assert client().config.webhook_secret == SECRET
    assert isinstance(client().webhooks.unwrap(BODY, signed()), WebhookResponseCompleted)
    # An explicit one wins over the environment.
    other = "whsec_" + base64.b64encode(b"other").decode()
    with pytest.raises(InvalidWebhookSignatureError):
        client(webhook_secret=other).webhooks.unwrap(BODY, signed())


def test_secret_argument_wins() -> None:
    other = "whsec_" + base64.b64encode(b"other").decode()
    c = client(webhook_secret=other)
    assert isinstance(c.webhooks.unwrap(BODY, signed(), secret=SECRET), WebhookResponseCompleted)
    with pytest.raises(InvalidWebhookSignatureError):
        c.webhooks.verify_signature(BODY, signed())


def test_with_options_carries_and_replaces_the_secret() -> None:
    c = client(webhook_secret=SECRET)
    assert c.with_options(max_retries=0).config.webhook_secret == SECRET
    replaced = c.with_options(webhook_secret="whsec_" + base64.b64encode(b"x").decode())
    with pytest.raises(InvalidWebhookSignatureError):
        replaced.webhooks.unwrap(BODY, signed())


def test_no_secret_anywhere_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError, match="OPENAI_WEBHOOK_SECRET"):
        client().webhooks.unwrap(BODY, signed())


def test_the_clients_wall_clock_is_now() -> None:
    c = client(webhook_secret=SECRET)
    c.webhooks.verify_signature(BODY, signed(timestamp=NOW - 300))
    with pytest.raises(InvalidWebhookSignatureError, match="older"):
        c.webhooks.verify_signature(BODY, signed(timestamp=NOW - 301))
    c.webhooks.verify_signature(BODY, signed(timestamp=NOW - 301), tolerance=301)
    # Without an injected clock, real time: a delivery from 2025 is stale.
    real = openai_trio.Client(api_key="sk-test", webhook_secret=SECRET)
    with pytest.raises(InvalidWebhookSignatureError, match="older"):
        real.webhooks.verify_signature(BODY, signed())


def test_unknown_events_are_kept() -> None:
    body = json.dumps({"type": "agent.session.idle", "id": "evt_8", "data": {}}).encode()
    event = client(webhook_secret=SECRET).webhooks.unwrap(body, signed(body))
    assert isinstance(event, UnknownWebhookEvent) and event.type == "agent.session.idle"


def test_the_secret_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = "raw-webhook-secret-canary"
    c = client(webhook_secret=raw)
    shown = [repr(c), repr(c.config), str(c.config), repr(c.webhooks)]
    for body, headers in ((BODY, signed()), (BODY, {}), (b"x", signed(b"x", key=raw.encode(), timestamp=0))):
        with pytest.raises(InvalidWebhookSignatureError) as info:
            c.webhooks.unwrap(body, headers)
        shown += [str(info.value), repr(info.value)]
    assert not any(raw in s or "canary" in s for s in shown)
    assert raw in c.config.secrets  # redacted from logs like the API key
    with pytest.raises(LocalProtocolError):
        ClientConfig(webhook_secret=b"bytes")  # type: ignore[arg-type]
