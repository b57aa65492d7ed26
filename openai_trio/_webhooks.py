"""``client.webhooks``: checking webhook deliveries with the client's secret.

The checks are the core's (``openai_sansio._webhooks``); this adds the
client's ``webhook_secret`` (or ``OPENAI_WEBHOOK_SECRET``) as the default
secret and the wall clock as ``now``.  Real unix time, not
``trio.current_time()``: the timestamp in a delivery is the sender's wall
clock, which a ``MockClock`` knows nothing about.  Nothing here does I/O,
so the methods are plain functions, usable outside trio too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from openai_sansio import LocalProtocolError
from openai_sansio._webhooks import (
    DEFAULT_WEBHOOK_TOLERANCE,
    WebhookEvent,
    WebhookHeaders,
    unwrap,
    verify_signature,
)

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["Webhooks"]


class Webhooks:
    """``client.webhooks.unwrap(body, headers)`` and
    ``client.webhooks.verify_signature(body, headers)``."""

    __slots__ = ("_client",)

    def __init__(self, client: Client) -> None:
        self._client = client

    def __repr__(self) -> str:
        return "<Webhooks>"

    def _secret(self, secret: str | bytes | None) -> str | bytes:
        if secret is None:
            secret = self._client.config.webhook_secret
        if secret is None:
            # The SDK raises ValueError here; a missing secret is a setup
            # mistake, which this package reports as LocalProtocolError so
            # it is not caught with the InvalidWebhookSignatureError (also a
            # ValueError) a handler turns into a 400.
            raise LocalProtocolError(
                "No webhook secret: pass secret=, set webhook_secret= on the client, "
                "or set the OPENAI_WEBHOOK_SECRET environment variable"
            )
        return secret

    def _now(self) -> float:
        clock: Callable[[], float] = self._client.wall_clock
        return clock()

    def verify_signature(
        self,
        payload: str | bytes,
        headers: WebhookHeaders,
        *,
        secret: str | bytes | None = None,
        tolerance: float = DEFAULT_WEBHOOK_TOLERANCE,
    ) -> None:
        """Check that ``payload`` (the request body, as received) and
        ``headers`` are a delivery OpenAI signed with ``secret`` (default:
        the client's), sent within ``tolerance`` seconds of now.  Raises
        ``InvalidWebhookSignatureError`` otherwise."""
        verify_signature(payload, headers, secret=self._secret(secret), now=self._now(), tolerance=tolerance)

    def unwrap(
        self,
        payload: str | bytes,
        headers: WebhookHeaders,
        *,
        secret: str | bytes | None = None,
        tolerance: float = DEFAULT_WEBHOOK_TOLERANCE,
    ) -> WebhookEvent:
        """``verify_signature``, then the typed event: the generated
        ``Webhook*`` model for its ``type`` (``openai_sansio.types.webhooks``),
        or ``UnknownWebhookEvent``."""
        return unwrap(payload, headers, secret=self._secret(secret), now=self._now(), tolerance=tolerance)
