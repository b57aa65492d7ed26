"""Typed events of the WebSocket APIs: the Realtime API and the Responses WebSocket mode.

A server event is one JSON object per WebSocket text message, tagged by its
``type``.  The decoders here look the tag up in the tables the generator
writes (``REALTIME_SERVER_EVENTS``, ``RESPONSES_WS_SERVER_EVENTS``) and build
that model.  A tag this version does not know becomes ``UnknownRealtimeEvent``
with the payload kept whole: a newer server must never break a session.

A server-reported ``error`` event is returned like any other (the Realtime
``RealtimeServerEventError``, the Responses ``ResponseWsError``); what to do
with it is the connection's business, not the decoder's.

Client events go the other way: ``validate_realtime_client_event`` and
``validate_responses_ws_client_event`` check what the caller is about to send
(a mapping with a string ``type``; for a type the spec describes, the keys it
requires) and raise ``LocalProtocolError`` before any byte goes out.  Types
this version does not know pass, so new API features need no new release.

The generated modules are large; they are imported by the first call here,
never by ``import openai_sansio``.
"""

from __future__ import annotations

import importlib
import json
import re
from typing import TYPE_CHECKING, Any, Mapping

import attrs

from ._errors import APIResponseValidationError, LocalProtocolError, StreamDecodeError

if TYPE_CHECKING:
    from .types.realtime_events import RealtimeServerEvent
    from .types.responses_ws import ResponsesServerEvent

__all__ = [
    "UnknownRealtimeEvent",
    "decode_realtime_server_event",
    "decode_realtime_server_message",
    "decode_responses_ws_server_event",
    "decode_responses_ws_server_message",
    "realtime_server_event_types",
    "responses_ws_server_event_types",
    "validate_realtime_client_event",
    "validate_responses_ws_client_event",
]

# What a generated ``from_dict`` raises on a payload of the wrong shape.
_SHAPE_ERRORS = (TypeError, LookupError, AttributeError, ValueError)
# A deeply nested message makes the json module recurse until it gives up.
_JSON_ERRORS = (ValueError, RecursionError)


@attrs.frozen(repr=False)
class UnknownRealtimeEvent:
    """A server event whose ``type`` this version does not model.

    Returned by both the Realtime and the Responses WebSocket decoders.
    ``type`` is None when the payload has no string ``type`` at all;
    ``data`` is the decoded payload, untouched.
    """

    type: str | None
    data: Mapping[str, Any]

    @property
    def event_id(self) -> str | None:
        """The Realtime ``event_id``, when the payload has one."""
        value = self.data.get("event_id")
        return value if isinstance(value, str) else None

    @property
    def stream_id(self) -> str | None:
        """The Responses WebSocket lane, when the payload names one."""
        value = self.data.get("stream_id")
        return value if isinstance(value, str) else None

    def __repr__(self) -> str:
        # Keys only: payloads carry audio deltas and, now and then, secrets.
        return f"UnknownRealtimeEvent(type={self.type!r}, keys={sorted(self.data)!r})"


# type -> model class, loaded on first use.
_tables: dict[str, dict[str, Any]] = {}


def _table(module: str, name: str) -> dict[str, Any]:
    table = _tables.get(name)
    if table is None:
        table = _tables[name] = getattr(importlib.import_module(module), name)
    return table


def _text(data: str | bytes) -> str:
    return data if isinstance(data, str) else data.decode("utf-8", "replace")


def _decode(obj: object, table: dict[str, Any], what: str, raw: str | bytes | None = None) -> Any:
    if not isinstance(obj, Mapping):
        raise StreamDecodeError(
            f"{what} event is not a JSON object but {type(obj).__name__}",
            data=type(obj).__name__ if raw is None else _text(raw),
        )
    kind = obj.get("type")
    cls = table.get(kind) if isinstance(kind, str) else None
    if cls is None:
        return UnknownRealtimeEvent(kind if isinstance(kind, str) else None, obj)
    try:
        return cls.from_dict(obj)
    except _SHAPE_ERRORS as exc:
        # Name the type and what went wrong, never the payload's values.
        raise APIResponseValidationError(
            f"{what} event {kind!r} has an unexpected shape: {type(exc).__name__}: {exc}",
            body=obj,
        ) from exc


def _decode_message(data: str | bytes | bytearray | memoryview, table: dict[str, Any], what: str) -> Any:
    if not isinstance(data, (str, bytes)):
        data = bytes(data)
    try:
        obj = json.loads(data)
    except _JSON_ERRORS as exc:
        unit = "characters" if isinstance(data, str) else "bytes"
        # The length only: the text may hold anything, secrets included.
        raise StreamDecodeError(
            f"{what} message of {len(data)} {unit} is not valid JSON ({type(exc).__name__})",
            data=_text(data),
        ) from exc
    return _decode(obj, table, what, data)


def realtime_server_event_types() -> dict[str, type[RealtimeServerEvent]]:
    """Each Realtime server event ``type`` -> its model class (the generated table)."""
    return _table("openai_sansio.types.realtime_events", "REALTIME_SERVER_EVENTS")


def responses_ws_server_event_types() -> dict[str, type[ResponsesServerEvent]]:
    """Each Responses WebSocket server event ``type`` -> its model class."""
    return _table("openai_sansio.types.responses_ws", "RESPONSES_WS_SERVER_EVENTS")


def decode_realtime_server_event(obj: Mapping[str, Any]) -> RealtimeServerEvent | UnknownRealtimeEvent:
    """The Realtime server event ``obj`` (one decoded JSON message) as its model.

    An unknown or missing ``type`` gives ``UnknownRealtimeEvent``.  A known
    type whose fields have the wrong JSON types raises
    ``APIResponseValidationError``; a payload that is not an object raises
    ``StreamDecodeError`` (a ``RemoteProtocolError``).
    """
    table = _tables.get("REALTIME_SERVER_EVENTS") or realtime_server_event_types()
    result: RealtimeServerEvent | UnknownRealtimeEvent = _decode(obj, table, "Realtime server")
    return result


def decode_responses_ws_server_event(
    obj: Mapping[str, Any],
) -> ResponsesServerEvent | UnknownRealtimeEvent:
    """The Responses WebSocket server event ``obj`` as its model; see
    ``decode_realtime_server_event`` for unknown types and errors."""
    table = _tables.get("RESPONSES_WS_SERVER_EVENTS") or responses_ws_server_event_types()
    result: ResponsesServerEvent | UnknownRealtimeEvent = _decode(obj, table, "Responses WebSocket server")
    return result


def decode_realtime_server_message(
    data: str | bytes | bytearray | memoryview,
) -> RealtimeServerEvent | UnknownRealtimeEvent:
    """A whole WebSocket message (its text, or UTF-8 bytes) as a Realtime server event.

    Text that is not JSON raises ``StreamDecodeError``, which keeps the text
    in ``data`` but names only its length in the message.
    """
    table = _tables.get("REALTIME_SERVER_EVENTS") or realtime_server_event_types()
    result: RealtimeServerEvent | UnknownRealtimeEvent = _decode_message(data, table, "Realtime server")
    return result


def decode_responses_ws_server_message(
    data: str | bytes | bytearray | memoryview,
) -> ResponsesServerEvent | UnknownRealtimeEvent:
    """A whole WebSocket message as a Responses WebSocket server event."""
    table = _tables.get("RESPONSES_WS_SERVER_EVENTS") or responses_ws_server_event_types()
    result: ResponsesServerEvent | UnknownRealtimeEvent = _decode_message(
        data, table, "Responses WebSocket server"
    )
    return result


# -- client events ----------------------------------------------------------------

# The lane name rules of ``stream_id`` (the spec's bounds and pattern).
_STREAM_ID = re.compile(r"[A-Za-z0-9_.-]{1,256}")


def _validate(event: object, table: dict[str, tuple[str, ...]], what: str) -> str:
    if not isinstance(event, Mapping):
        raise LocalProtocolError(f"a {what} client event is a mapping, not {type(event).__name__}")
    kind = event.get("type")
    if not isinstance(kind, str) or not kind:
        raise LocalProtocolError(f"a {what} client event needs a non-empty string 'type'")
    missing = [key for key in table.get(kind, ()) if key not in event]
    if missing:
        raise LocalProtocolError(f"{what} client event {kind!r} lacks required keys: {', '.join(missing)}")
    return kind


def validate_realtime_client_event(event: Mapping[str, Any]) -> None:
    """Raise ``LocalProtocolError`` if ``event`` cannot be sent as a Realtime client event."""
    table = _table("openai_sansio.types.realtime_events_params", "REALTIME_CLIENT_EVENTS")
    _validate(event, table, "Realtime")


def validate_responses_ws_client_event(event: Mapping[str, Any]) -> None:
    """Raise ``LocalProtocolError`` if ``event`` cannot be sent over a Responses WebSocket.

    Besides the keys, ``stream_id`` (when given) must be a lane name the API
    accepts, and ``background`` may not be set: a WebSocket response is
    always streamed in the foreground.
    """
    table = _table("openai_sansio.types.responses_ws_params", "RESPONSES_WS_CLIENT_EVENTS")
    kind = _validate(event, table, "Responses WebSocket")
    if kind != "response.create":
        return
    stream_id = event.get("stream_id")
    if stream_id is not None and not (isinstance(stream_id, str) and _STREAM_ID.fullmatch(stream_id)):
        raise LocalProtocolError(
            "stream_id must be 1 to 256 characters of letters, digits, '_', '.' or '-'"
        )
    if event.get("background"):
        raise LocalProtocolError("background responses are not available over a WebSocket")
