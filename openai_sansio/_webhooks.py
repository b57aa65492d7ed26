"""Webhook deliveries: checking their signature and decoding their event.

OpenAI signs webhooks the "Standard Webhooks" way: the ``webhook-signature``
header holds one or more space-separated ``v1,<base64>`` values, each an
HMAC-SHA256 over ``{webhook-id}.{webhook-timestamp}.{body}`` keyed with the
endpoint's secret (``whsec_`` followed by the key in base64).  Several
values appear while a secret is being rotated; one match is enough.

This module is pure logic: the current time is an argument (``now``, unix
seconds), so the replay window can be tested without a clock.  The trio
adapter passes ``time.time()``.

Behaviour shared with the official SDK (``openai.lib._webhooks``): headers
found case-insensitively, a 300 second window on both sides of ``now``
(compared in whole seconds), a secret without the ``whsec_`` prefix used as
raw UTF-8 key bytes, the prefixed key decoded with the same lenient base64
decoder, a signature token without a ``v1,`` prefix compared as it is.
Where this module differs, it is stricter or typed: every reason to refuse
a delivery (a missing or repeated header, a timestamp that is not plain
digits, a secret that is not base64, a body that is not UTF-8 text when
given as ``str``) raises ``InvalidWebhookSignatureError``, never
``ValueError``/``TypeError``/``UnicodeError`` from deep inside; bytes bodies
are signed exactly as received.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
from typing import Any, Iterable, Mapping, Union

import attrs

from ._errors import APIResponseValidationError, LocalProtocolError
from .types._base import BaseModel, UnknownObject, parse_model
from .types.webhooks import (
    WebhookBatchCancelled,
    WebhookBatchCompleted,
    WebhookBatchExpired,
    WebhookBatchFailed,
    WebhookEvalRunCanceled,
    WebhookEvalRunFailed,
    WebhookEvalRunSucceeded,
    WebhookFineTuningJobCancelled,
    WebhookFineTuningJobFailed,
    WebhookFineTuningJobSucceeded,
    WebhookLiveCallIncoming,
    WebhookRealtimeCallIncoming,
    WebhookResponseCancelled,
    WebhookResponseCompleted,
    WebhookResponseFailed,
    WebhookResponseIncomplete,
)

__all__ = [
    "DEFAULT_WEBHOOK_TOLERANCE",
    "WEBHOOK_EVENT_TYPES",
    "InvalidWebhookSignatureError",
    "UnknownWebhookEvent",
    "WebhookEvent",
    "WebhookHeaders",
    "decode_webhook_event",
    "unwrap",
    "unwrap_webhook",
    "verify_signature",
    "verify_webhook_signature",
]

DEFAULT_WEBHOOK_TOLERANCE = 300

WebhookHeaders = Union[Mapping[Any, Any], Iterable[tuple[Any, Any]]]

_SECRET_PREFIX = "whsec_"
# Unix seconds for the next few thousand years; anything longer is refused
# before int() has to look at it.
_TIMESTAMP = re.compile(rb"[0-9]{1,15}")


class InvalidWebhookSignatureError(ValueError):
    """A webhook delivery that cannot be shown to come from OpenAI: a
    signature that matches none of the expected values, a timestamp outside
    the tolerance, a header missing, or a secret that cannot be decoded.

    A ``ValueError``, as the official SDK's error of the same name.  The
    message never contains the secret or a signature.
    """


@attrs.define(slots=True, kw_only=True, eq=False, repr=False)
class UnknownWebhookEvent(UnknownObject):
    """A correctly signed event whose ``type`` this version does not model.

    ``type``, ``id``, ``created_at`` and ``data`` are lifted from the
    payload (None where absent or of another kind); ``to_dict()`` gives the
    whole payload.
    """

    id: str | None = None
    created_at: int | None = None
    data: Any = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UnknownWebhookEvent:
        t, i, c = data.get("type"), data.get("id"), data.get("created_at")
        return cls(
            type=t if isinstance(t, str) else None,
            id=i if isinstance(i, str) else None,
            created_at=c if isinstance(c, int) and not isinstance(c, bool) else None,
            data=data.get("data"),
            _raw=data,
        )

    def __repr__(self) -> str:
        # The payload may be large; the kind and id say which delivery it is.
        return f"UnknownWebhookEvent(type={self.type!r}, id={self.id!r})"


WebhookEvent = Union[
    WebhookBatchCancelled,
    WebhookBatchCompleted,
    WebhookBatchExpired,
    WebhookBatchFailed,
    WebhookEvalRunCanceled,
    WebhookEvalRunFailed,
    WebhookEvalRunSucceeded,
    WebhookFineTuningJobCancelled,
    WebhookFineTuningJobFailed,
    WebhookFineTuningJobSucceeded,
    WebhookLiveCallIncoming,
    WebhookRealtimeCallIncoming,
    WebhookResponseCancelled,
    WebhookResponseCompleted,
    WebhookResponseFailed,
    WebhookResponseIncomplete,
    UnknownWebhookEvent,
]

#: The generated model of each event ``type`` the spec documents.
WEBHOOK_EVENT_TYPES: Mapping[str, type[BaseModel]] = {
    "batch.cancelled": WebhookBatchCancelled,
    "batch.completed": WebhookBatchCompleted,
    "batch.expired": WebhookBatchExpired,
    "batch.failed": WebhookBatchFailed,
    "eval.run.canceled": WebhookEvalRunCanceled,
    "eval.run.failed": WebhookEvalRunFailed,
    "eval.run.succeeded": WebhookEvalRunSucceeded,
    "fine_tuning.job.cancelled": WebhookFineTuningJobCancelled,
    "fine_tuning.job.failed": WebhookFineTuningJobFailed,
    "fine_tuning.job.succeeded": WebhookFineTuningJobSucceeded,
    "live_call.incoming": WebhookLiveCallIncoming,
    "realtime.call.incoming": WebhookRealtimeCallIncoming,
    "response.cancelled": WebhookResponseCancelled,
    "response.completed": WebhookResponseCompleted,
    "response.failed": WebhookResponseFailed,
    "response.incomplete": WebhookResponseIncomplete,
}


# -- inputs ------------------------------------------------------------------


def _as_bytes(value: object) -> bytes | None:
    """Header names and values as bytes: text as UTF-8 (what the official
    SDK signs), bytes as received.  None for anything else or for text no
    encoder accepts (lone surrogates)."""
    if isinstance(value, str):
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError:
            return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return None


def _pairs(headers: WebhookHeaders) -> Iterable[Any]:
    multi = getattr(headers, "multi_items", None)
    if callable(multi):
        # Starlette/httpx-style multidicts: every field, repeats included.
        return multi()  # type: ignore[no-any-return]
    if isinstance(headers, Mapping):
        return headers.items()
    if isinstance(headers, (str, bytes, bytearray)):
        raise TypeError("headers must be a mapping or an iterable of (name, value) pairs")
    return headers


def _collect(headers: WebhookHeaders) -> tuple[dict[bytes, list[bytes]], list[str]]:
    """The values of ``webhook-id`` and ``webhook-timestamp``, and the
    tokens of every ``webhook-signature`` field."""
    found: dict[bytes, list[bytes]] = {b"webhook-id": [], b"webhook-timestamp": []}
    tokens: list[str] = []
    signature_seen = False
    for pair in _pairs(headers):
        try:
            name, value = pair
        except (TypeError, ValueError):
            raise TypeError("headers must be a mapping or an iterable of (name, value) pairs") from None
        key = _as_bytes(name)
        if key is None:
            continue
        key = key.lower()
        if key == b"webhook-signature":
            # Split as the SDK splits (str.split(), any whitespace); bytes
            # through latin-1, which maps each byte to one character.
            if isinstance(value, str):
                tokens.extend(value.split())
            elif isinstance(value, (bytes, bytearray, memoryview)):
                tokens.extend(bytes(value).decode("latin-1").split())
            else:
                continue
            signature_seen = True
            continue
        slot = found.get(key)
        if slot is None:
            continue
        raw = _as_bytes(value)
        if raw is None:
            # Not text: as if the field were absent (the SDK skips such
            # values too), so the error says which header is missing.
            continue
        slot.append(raw)
    if not signature_seen:
        raise InvalidWebhookSignatureError("the webhook-signature header is missing")
    return found, tokens


def _single(found: dict[bytes, list[bytes]], name: bytes) -> bytes:
    values = found[name]
    if not values:
        raise InvalidWebhookSignatureError(f"the {name.decode()} header is missing")
    if any(v != values[0] for v in values[1:]):
        raise InvalidWebhookSignatureError(f"the {name.decode()} header appears with different values")
    return values[0]


def _key(secret: str | bytes) -> bytes:
    if isinstance(secret, (bytes, bytearray, memoryview)):
        key = bytes(secret)
    elif isinstance(secret, str):
        if secret.startswith(_SECRET_PREFIX):
            try:
                # The SDK's decoder: characters outside the alphabet are
                # skipped (a trailing newline from a secrets file is harmless).
                key = base64.b64decode(secret[len(_SECRET_PREFIX):])
            except (binascii.Error, ValueError):
                raise InvalidWebhookSignatureError(
                    "the webhook secret is not valid base64 after its whsec_ prefix"
                ) from None
        else:
            try:
                key = secret.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidWebhookSignatureError("the webhook secret is not valid text") from None
    else:
        raise LocalProtocolError(f"the webhook secret must be a str or bytes, not {type(secret).__name__}")
    if not key:
        raise InvalidWebhookSignatureError("the webhook secret is empty")
    return key


def _body_bytes(body: str | bytes) -> bytes:
    if isinstance(body, str):
        try:
            return body.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidWebhookSignatureError("the webhook body is not valid text") from None
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    raise LocalProtocolError(f"the webhook body must be str or bytes, not {type(body).__name__}")


def _check_tolerance(tolerance: object) -> float:
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance >= 0:
        raise LocalProtocolError(f"tolerance must be a non-negative number of seconds, got {tolerance!r}")
    return tolerance


# -- the checks --------------------------------------------------------------


def verify_signature(
    body: str | bytes,
    headers: WebhookHeaders,
    *,
    secret: str | bytes,
    now: float,
    tolerance: float = DEFAULT_WEBHOOK_TOLERANCE,
) -> None:
    """Check that ``body`` and ``headers`` are a delivery OpenAI signed with
    ``secret``, sent within ``tolerance`` seconds of ``now`` (unix time).

    ``headers`` is a mapping (names in any case), a multidict with
    ``multi_items()`` or an iterable of ``(name, value)`` pairs; names and
    values may be ``str`` or ``bytes``.  Repeated ``webhook-signature``
    fields are read together.  Returns None; raises
    ``InvalidWebhookSignatureError`` for any delivery it cannot vouch for,
    ``LocalProtocolError`` for arguments of the wrong kind.
    """
    limit = _check_tolerance(tolerance)
    if isinstance(now, bool) or not isinstance(now, (int, float)) or not math.isfinite(now):
        raise LocalProtocolError(f"now must be unix time in seconds, got {type(now).__name__}")
    found, tokens = _collect(headers)
    timestamp = _single(found, b"webhook-timestamp")
    webhook_id = _single(found, b"webhook-id")

    if not _TIMESTAMP.fullmatch(timestamp):
        raise InvalidWebhookSignatureError("the webhook-timestamp header is not a unix time in seconds")
    sent = int(timestamp)
    # Whole seconds, as the timestamp is (and as the SDK compares).
    current = int(now)
    if current - sent > limit:
        raise InvalidWebhookSignatureError("the webhook timestamp is older than the tolerance")
    if sent > current + limit:
        raise InvalidWebhookSignatureError("the webhook timestamp is further in the future than the tolerance")

    key = _key(secret)
    signed = b"%s.%s.%s" % (webhook_id, timestamp, _body_bytes(body))
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())

    matched = False
    for token in tokens:
        candidate = token[3:] if token.startswith("v1,") else token
        # Every token is compared, matched or not, so the time taken does
        # not tell which one matched.  Text that is not ASCII never equals
        # base64; "replace" keeps odd text from raising on its way there.
        if hmac.compare_digest(expected, candidate.encode("utf-8", "replace")):
            matched = True
    if not matched:
        raise InvalidWebhookSignatureError("no webhook signature matches the body and the secret")


def decode_webhook_event(body: str | bytes) -> WebhookEvent:
    """The typed event of a delivery body (already verified): the generated
    model for its ``type`` (see ``WEBHOOK_EVENT_TYPES``), else
    ``UnknownWebhookEvent``.  ``APIResponseValidationError`` for a body
    that is not a JSON object or does not fit its model."""
    try:
        data = json.loads(body)
    except (ValueError, TypeError, RecursionError) as exc:
        raise APIResponseValidationError(f"the webhook body is not JSON: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise APIResponseValidationError("the webhook body is not a JSON object", body=data)
    kind = data.get("type")
    model = WEBHOOK_EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if model is None:
        return UnknownWebhookEvent.from_dict(data)
    return parse_model(model, data)  # type: ignore[return-value]


def unwrap(
    body: str | bytes,
    headers: WebhookHeaders,
    *,
    secret: str | bytes,
    now: float,
    tolerance: float = DEFAULT_WEBHOOK_TOLERANCE,
) -> WebhookEvent:
    """``verify_signature``, then ``decode_webhook_event``: the typed event
    of a delivery shown to come from OpenAI."""
    verify_signature(body, headers, secret=secret, now=now, tolerance=tolerance)
    return decode_webhook_event(body)


# The names the package exports (``openai_sansio.verify_webhook_signature``):
# at the top of the flat namespace, ``unwrap`` alone would not say of what.
verify_webhook_signature = verify_signature
unwrap_webhook = unwrap
