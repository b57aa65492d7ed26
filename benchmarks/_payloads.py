"""The bytes the fake server sends, built once and reused.

Chunks look like what api.openai.com sends today: about 300 bytes of JSON
each, 1-4 characters of content, one SSE event per HTTP chunk.  Everything
here is deterministic so every client in a run sees identical bytes.
"""

from __future__ import annotations

import json

__all__ = [
    "CREATED",
    "MODEL",
    "chat_chunk",
    "completion_body",
    "content_piece",
    "expected_text",
    "h2_completion_headers",
    "http_chunk",
    "response_head",
    "stream_body",
    "stream_response",
    "completion_response",
    "DONE_CHUNK",
    "LAST_CHUNK",
    "REALTIME_MODEL",
    "realtime_response",
    "realtime_session_created",
    "realtime_session_updated",
    "ws_frame",
]

MODEL = "gpt-4o-mini-2024-07-18"
CREATED = 1763800000
_ID = "chatcmpl-CRbench7Qx2Lm9Zp4Tt0Hk3Vw8Ya1"
_FINGERPRINT = "fp_560af6e559"

# A sentence cut into 1-4 character pieces, cycled to fill long streams.
_WORDS = (
    "The quick brown fox jumps over the lazy dog while a trio of "
    "nurseries cancel each other politely, and the streaming parser "
    "keeps up without breaking a sweat. "
)
def _cut(text: str) -> tuple[str, ...]:
    pieces = []
    i = n = 0
    while i < len(text):
        size = 1 + (n * 7 + 3) % 4  # 1..4, irregular
        pieces.append(text[i : i + size])
        i += size
        n += 1
    return tuple(pieces)


_PIECES = _cut(_WORDS)


def content_piece(index: int) -> str:
    """The content of the ``index``-th content chunk (0-based)."""
    return _PIECES[index % len(_PIECES)]


def expected_text(n_chunks: int) -> str:
    """What a consumer joining ``delta.content`` of an ``n_chunks`` stream gets."""
    return "".join(content_piece(i) for i in range(n_chunks))


def _obfuscation(index: int) -> str:
    # The real service pads each chunk with a random-looking string so chunk
    # sizes do not leak token lengths; keep the lengths varied too.
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    size = 4 + (index * 5) % 9
    return "".join(alphabet[(index * 31 + k * 17) % len(alphabet)] for k in range(size))


def chat_chunk(index: int, *, first: bool = False) -> bytes:
    """The JSON of one ``chat.completion.chunk`` carrying content."""
    delta: dict[str, object]
    if first:
        delta = {"role": "assistant", "content": content_piece(index), "refusal": None}
    else:
        delta = {"content": content_piece(index)}
    obj = {
        "id": _ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": MODEL,
        "service_tier": "default",
        "system_fingerprint": _FINGERPRINT,
        "choices": [
            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
        ],
        "usage": None,
        "obfuscation": _obfuscation(index),
    }
    return json.dumps(obj, separators=(",", ":")).encode()


def _last_chunk() -> bytes:
    obj = {
        "id": _ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": MODEL,
        "service_tier": "default",
        "system_fingerprint": _FINGERPRINT,
        "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}],
        "usage": None,
        "obfuscation": "Qm3x",
    }
    return json.dumps(obj, separators=(",", ":")).encode()


def http_chunk(payload: bytes) -> bytes:
    """One SSE ``data:`` event framed as one chunked-encoding chunk."""
    event = b"data: " + payload + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(event), event)


LAST_CHUNK = http_chunk(_last_chunk())
DONE_CHUNK = http_chunk(b"[DONE]") + b"0\r\n\r\n"


def stream_body(n_chunks: int) -> bytes:
    """The chunked body of a stream with ``n_chunks`` content chunks."""
    parts = [http_chunk(chat_chunk(i, first=i == 0)) for i in range(n_chunks)]
    parts.append(LAST_CHUNK)
    parts.append(DONE_CHUNK)
    return b"".join(parts)


def response_head(*, stream: bool, content_length: int | None = None, request_no: int = 0) -> bytes:
    """Status line and headers shaped like the real service's."""
    lines = [
        b"HTTP/1.1 200 OK",
        b"Date: Sat, 22 Nov 2025 20:00:00 GMT",
    ]
    if stream:
        lines.append(b"Content-Type: text/event-stream; charset=utf-8")
        lines.append(b"Transfer-Encoding: chunked")
    else:
        lines.append(b"Content-Type: application/json")
        lines.append(b"Content-Length: %d" % (content_length or 0))
    lines += [
        b"Connection: keep-alive",
        b"access-control-expose-headers: X-Request-ID",
        b"openai-organization: user-benchmark0000000000000",
        b"openai-processing-ms: 187",
        b"openai-project: proj_Bench000000000000000000",
        b"openai-version: 2020-10-01",
        b"x-envoy-upstream-service-time: 191",
        b"x-ratelimit-limit-requests: 30000",
        b"x-ratelimit-limit-tokens: 150000000",
        b"x-ratelimit-remaining-requests: 29999",
        b"x-ratelimit-remaining-tokens: 149999980",
        b"x-ratelimit-reset-requests: 2ms",
        b"x-ratelimit-reset-tokens: 0s",
        b"x-request-id: req_%032x" % (0xB3C4 + request_no),
        b"strict-transport-security: max-age=31536000; includeSubDomains; preload",
        b"cf-cache-status: DYNAMIC",
        b"X-Content-Type-Options: nosniff",
        b"Server: cloudflare",
        b"CF-RAY: 9a2b3c4d5e6f7a8b-AMS",
        b'alt-svc: h3=":443"; ma=86400',
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def stream_response(n_chunks: int) -> bytes:
    """A complete streaming response: head plus chunked SSE body."""
    return response_head(stream=True) + stream_body(n_chunks)


def completion_body() -> bytes:
    """A small non-streaming ``chat.completion``, about 800 bytes."""
    obj = {
        "id": _ID,
        "object": "chat.completion",
        "created": CREATED,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Hello! How can I help you today?",
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 19,
            "completion_tokens": 10,
            "total_tokens": 29,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": _FINGERPRINT,
    }
    return json.dumps(obj, indent=2).encode()


def completion_response() -> bytes:
    body = completion_body()
    return response_head(stream=False, content_length=len(body)) + body


# HTTP/1.1 framing headers that HTTP/2 forbids (RFC 9113, section 8.2.2).
_H1_ONLY = frozenset({b"connection", b"keep-alive", b"transfer-encoding"})


def h2_completion_headers() -> list[tuple[bytes, bytes]]:
    """The small completion's response headers as an HTTP/2 header list.

    The same fields as the HTTP/1.1 head (taken from it, so the two cannot
    drift apart), lower-cased, without the HTTP/1.1-only framing fields.
    """
    head = response_head(stream=False, content_length=len(completion_body()))
    fields: list[tuple[bytes, bytes]] = [(b":status", b"200")]
    for line in head.rstrip(b"\r\n").split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name not in _H1_ONLY:
            fields.append((name, value.strip()))
    return fields


# -- the Realtime API over a WebSocket -------------------------------------

REALTIME_MODEL = "gpt-realtime-2025-08-28"
_RT_RESPONSE = "resp_CRbenchRt9Qx2Lm9Zp4Tt0"
_RT_ITEM = "item_CRbenchRt7Hk3Vw8Ya1Bc2"


def ws_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One unmasked server frame (FIN set) carrying ``payload``."""
    n = len(payload)
    if n <= 125:
        head = bytes((0x80 | opcode, n))
    elif n <= 0xFFFF:
        head = bytes((0x80 | opcode, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 127)) + n.to_bytes(8, "big")
    return head + payload


def _rt_event(index: int, event_type: str, **fields: object) -> bytes:
    # Event ids as long as the service's (event_ plus 21 characters).
    obj = {"type": event_type, "event_id": f"event_CRbench{index:013d}", **fields}
    return ws_frame(json.dumps(obj, separators=(",", ":")).encode())


def _rt_session(model: str) -> dict[str, object]:
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": "sess_CRbenchRt5Tt0Hk3Vw8Y",
        "model": model,
        "output_modalities": ["text"],
        "instructions": "You are a helpful assistant.",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "prompt": None,
        "expires_at": CREATED + 3600,
    }


def realtime_session_created(model: str = REALTIME_MODEL) -> bytes:
    return _rt_event(0, "session.created", session=_rt_session(model))


def realtime_session_updated(model: str = REALTIME_MODEL) -> bytes:
    return _rt_event(1, "session.updated", session=_rt_session(model))


def realtime_response(n_deltas: int) -> bytes:
    """The frames answering one ``response.create``: ``response.created``,
    the output item and content part, ``n_deltas`` small
    ``response.output_text.delta`` events (the pieces of ``expected_text``),
    the done events and ``response.done``, all in one buffer."""
    where = {"response_id": _RT_RESPONSE, "item_id": _RT_ITEM, "output_index": 0, "content_index": 0}
    response: dict[str, object] = {
        "object": "realtime.response", "id": _RT_RESPONSE, "status": "in_progress", "status_details": None,
        "output": [], "conversation_id": "conv_CRbenchRt1", "output_modalities": ["text"],
        "max_output_tokens": "inf", "audio": None, "usage": None, "metadata": None,
    }
    item: dict[str, object] = {
        "id": _RT_ITEM, "type": "message", "status": "in_progress", "role": "assistant", "content": [],
        "object": "realtime.item",
    }
    text = expected_text(n_deltas)
    frames = [
        _rt_event(2, "response.created", response=response),
        _rt_event(3, "response.output_item.added", response_id=_RT_RESPONSE, output_index=0, item=item),
        _rt_event(4, "response.content_part.added", **where, part={"type": "text", "text": ""}),
    ]
    frames += [_rt_event(5 + i, "response.output_text.delta", **where, delta=content_piece(i)) for i in range(n_deltas)]
    done_item = {**item, "status": "completed", "content": [{"type": "output_text", "text": text}]}
    k = 5 + n_deltas
    frames += [
        _rt_event(k, "response.output_text.done", **where, text=text),
        _rt_event(k + 1, "response.content_part.done", **where, part={"type": "text", "text": text}),
        _rt_event(k + 2, "response.output_item.done", response_id=_RT_RESPONSE, output_index=0, item=done_item),
        _rt_event(k + 3, "response.done", response={
            **response, "status": "completed", "output": [done_item],
            "usage": {"total_tokens": n_deltas + 20, "input_tokens": 20, "output_tokens": n_deltas},
        }),
    ]
    return b"".join(frames)
