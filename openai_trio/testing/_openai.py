"""The fake server's default answers: a tiny OpenAI-compatible API.

Deterministic on purpose (apart from ``created`` timestamps): the same
request gets the same reply text, ids count up per server, and embeddings are
derived from a hash of the input.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import time
from collections import OrderedDict
from typing import Any, Callable

from . import _assistants, _batches, _vector_stores
from ._responses import FakeResponse, ReceivedRequest, format_sse

__all__ = ["FAKE_REPLY", "FakeOpenAI", "DEFAULT_MODELS"]

FAKE_REPLY = (
    "Hello! This reply comes from the openai_trio fake server: no model ran "
    "and no API key was needed, but every word travelled over real HTTP/1.1, "
    "one streamed chunk at a time."
)

DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-nano", "text-embedding-3-small")

_MAX_STORED_RESPONSES = 1000
_MAX_N = 8
_MAX_DIMENSIONS = 4096
_DEFAULT_DIMENSIONS = 32
_CREATED = 1_700_000_000


def _words(text: str) -> list[str]:
    """Split ``text`` into streamable pieces that join back to ``text``."""
    parts = text.split(" ")
    return [p if i == 0 else " " + p for i, p in enumerate(parts)]


def _tokens(value: Any) -> int:
    """A rough token count: words in every string found in ``value``."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(_tokens(v) for v in value)
    if isinstance(value, dict):
        return sum(_tokens(v) for v in value.values())
    return 0


def _pieces(text: str, size: int = 7) -> list[str]:
    """``text`` in small pieces, the way a model streams JSON."""
    return [text[i : i + size] for i in range(0, len(text), size)]


# Past this depth the made-up value takes the way out of a recursive
# schema: an empty array, or null where a union allows it.
_SHALLOW = 3


def example_of(schema: Any, depth: int = 0, *, root: Any = None) -> Any:
    """A value that fits a JSON schema, made up from its types (first
    enum value, first ``anyOf`` branch; strings are "example"), following
    local ``$ref`` s (``#`` and ``#/$defs/...``) into ``root``."""
    root = schema if root is None else root
    if not isinstance(schema, dict) or depth > 24:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#"):
        target: Any = root
        for part in ref[2:].split("/") if ref != "#" else ():
            target = target.get(part) if isinstance(target, dict) else None
        return example_of(target, depth + 1, root=root)
    if "enum" in schema and isinstance(schema["enum"], list) and schema["enum"]:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches:
            if depth >= _SHALLOW and {"type": "null"} in branches:
                return None
            return example_of(branches[0], depth + 1, root=root)
    kind = schema.get("type")
    if isinstance(kind, list):
        if depth >= _SHALLOW and "null" in kind:
            return None
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties")
        if not isinstance(props, dict):
            return {}
        return {name: example_of(sub, depth + 1, root=root) for name, sub in props.items()}
    if kind == "array":
        if depth >= _SHALLOW:
            return []
        return [example_of(schema.get("items"), depth + 1, root=root)]
    return {"string": "example", "integer": 1, "number": 1.5, "boolean": True}.get(str(kind))


def _forced_tool_calls(body: dict[str, Any]) -> list[tuple[str, str]]:
    """The function calls a request makes the fake model call: every
    function tool for ``tool_choice="required"`` (the first only without
    parallel tool calls), the named one for a named choice; none otherwise.
    Arguments are made up from each tool's parameters schema."""
    tools = body.get("tools")
    choice = body.get("tool_choice")
    if not isinstance(tools, list):
        return []
    functions = [
        t["function"] for t in tools
        if isinstance(t, dict) and t.get("type") == "function" and isinstance(t.get("function"), dict)
    ]
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name")
        functions = [f for f in functions if f.get("name") == wanted]
    elif choice != "required":
        return []
    if body.get("parallel_tool_calls") is False:
        functions = functions[:1]
    return [
        (str(f.get("name")), json.dumps(example_of(f.get("parameters") or {"type": "object"})))
        for f in functions
    ]


def _schema_reply(response_format: Any) -> str | None:
    """The reply to a JSON-schema ``response_format`` (chat's, or the
    Responses API's flat ``text.format``): JSON that fits it."""
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return None
    spec = response_format.get("json_schema", response_format)
    schema = spec.get("schema") if isinstance(spec, dict) else None
    return json.dumps(example_of(schema or {"type": "object"}))


def _forced_response_calls(body: dict[str, Any]) -> list[tuple[str, str]]:
    """``_forced_tool_calls`` for the Responses API's flat function tools
    and ``tool_choice`` (``{"type": "function", "name": ...}``)."""
    tools = body.get("tools")
    if not isinstance(tools, list):
        return []
    as_chat = [
        {"type": "function", "function": t} for t in tools
        if isinstance(t, dict) and t.get("type") == "function"
    ]
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        choice = {"type": "function", "function": {"name": choice.get("name")}}
    return _forced_tool_calls(
        {"tools": as_chat, "tool_choice": choice, "parallel_tool_calls": body.get("parallel_tool_calls")}
    )


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> FakeResponse:
    return FakeResponse.error(400, message, type="invalid_request_error", param=param, code=code)


class FakeOpenAI:
    """Routes and state for the default handler of ``FakeServer``."""

    def __init__(self, *, reply: str = FAKE_REPLY, models: tuple[str, ...] = DEFAULT_MODELS) -> None:
        self.reply = reply
        #: When set, chat completions refuse with this text instead of answering.
        self.refusal: str | None = None
        self.models: dict[str, dict[str, Any]] = {
            name: {"id": name, "object": "model", "created": _CREATED, "owned_by": "openai-trio-fake"}
            for name in models
        }
        self.responses: OrderedDict[str, dict[str, Any]] = OrderedDict()
        # The SSE blocks of background streamed responses, by response id.
        self.response_events: dict[str, list[str]] = {}
        self.inputs: dict[str, list[dict[str, Any]]] = {}
        #: Uploaded files by id: the file object and the content.
        self.files: OrderedDict[str, tuple[dict[str, Any], bytes]] = OrderedDict()
        #: The Batch API's state and knobs (see ``FakeBatches``).
        self.batches = _batches.FakeBatches()
        #: Assistants runs waiting for tool outputs (see ``_assistants``).
        self.assistants = _assistants.FakeAssistants()
        #: Vector stores whose files finish over polls (see ``_vector_stores``).
        self.vector_stores = _vector_stores.FakeVectorStores()
        self._counter = 0

    def _next_id(self, prefix: str) -> str:
        self._counter += 1
        digest = hashlib.sha256(f"{prefix}{self._counter}".encode()).hexdigest()[:24]
        return f"{prefix}{digest}"

    # -- dispatch -----------------------------------------------------------

    def __call__(self, request: ReceivedRequest) -> FakeResponse:
        path = request.path
        if path.startswith("/v1/") or path == "/v1":
            path = path[3:]
        segments = [s for s in path.split("/") if s]
        method = request.method
        route = self._route(method, segments)
        if route is None:
            return FakeResponse.error(
                404, f"Invalid URL ({method} {request.path})", type="invalid_request_error"
            )
        handler, args = route
        body: Any = None
        if method == "POST" and handler in _JSON_BODY:
            if not request.body:
                return invalid("The request body is empty; a JSON object was expected.")
            try:
                body = request.json()
            except ValueError:
                return invalid(
                    "The request body is not valid JSON. Check the payload and "
                    "the content-type header."
                )
            if not isinstance(body, dict):
                return invalid("The request body must be a JSON object.")
        return handler(self, request, body, *args)

    def _route(
        self, method: str, segments: list[str]
    ) -> tuple[Callable[..., FakeResponse], tuple[str, ...]] | None:
        n = len(segments)
        head = segments[0] if segments else ""
        if method == "POST" and segments == ["chat", "completions"]:
            return FakeOpenAI.chat_completions, ()
        if method == "POST" and segments == ["completions"]:
            return FakeOpenAI.completions, ()
        if method == "POST" and segments == ["embeddings"]:
            return FakeOpenAI.embeddings, ()
        if head == "responses":
            if method == "POST" and n == 1:
                return FakeOpenAI.create_response, ()
            if n == 2 and method in ("GET", "DELETE"):
                return FakeOpenAI.get_response if method == "GET" else FakeOpenAI.delete_response, (
                    segments[1],
                )
            if n == 3 and method == "POST" and segments[2] == "cancel":
                return FakeOpenAI.cancel_response, (segments[1],)
            if n == 3 and method == "GET" and segments[2] == "input_items":
                return FakeOpenAI.input_items, (segments[1],)
        if head == "files":
            if n == 1:
                if method == "POST":
                    return FakeOpenAI.create_file, ()
                if method == "GET":
                    return FakeOpenAI.list_files, ()
            if n == 2 and method in ("GET", "DELETE"):
                return FakeOpenAI.get_file if method == "GET" else FakeOpenAI.delete_file, (segments[1],)
            if n == 3 and method == "GET" and segments[2] == "content":
                return FakeOpenAI.file_content, (segments[1],)
        if head == "batches":
            if n == 1:
                return (_batches.create_batch, ()) if method == "POST" else (
                    (_batches.list_batches, ()) if method == "GET" else None
                )
            if n == 2 and method == "GET":
                return _batches.retrieve_batch, (segments[1],)
            if n == 3 and method == "POST" and segments[2] == "cancel":
                return _batches.cancel_batch, (segments[1],)
        if head == "threads" and method == "GET" and n == 4 and segments[2] == "runs":
            return _assistants.retrieve_run, (segments[1], segments[3])
        if head == "vector_stores":
            vs = _vector_stores
            if n == 1 and method == "POST":
                return vs.create_vector_store, ()
            if n == 2 and method == "GET":
                return vs.retrieve_vector_store, (segments[1],)
            if n == 3 and method == "POST" and segments[2] in ("files", "file_batches"):
                return (vs.create_file if segments[2] == "files" else vs.create_file_batch), (segments[1],)
            if n == 4 and method == "GET" and segments[2] in ("files", "file_batches"):
                return (vs.retrieve_file if segments[2] == "files" else vs.retrieve_file_batch), (
                    segments[1], segments[3],
                )
        if head == "threads" and method == "POST":
            if segments == ["threads", "runs"]:
                return _assistants.create_thread_and_run, ()
            if n == 3 and segments[2] == "runs":
                return _assistants.create_run, (segments[1],)
            if n == 5 and segments[2] == "runs" and segments[4] == "submit_tool_outputs":
                return _assistants.submit_tool_outputs, (segments[1], segments[3])
        if head == "models":
            if method == "GET" and n == 1:
                return FakeOpenAI.list_models, ()
            if n >= 2 and method in ("GET", "DELETE"):
                # Fine-tuned model names contain ':' but never '/', except
                # for some compatible servers; join what is left.
                name = "/".join(segments[1:])
                return FakeOpenAI.get_model if method == "GET" else FakeOpenAI.delete_model, (name,)
        return None

    # -- helpers ------------------------------------------------------------

    @staticmethod
    def _model(body: dict[str, Any]) -> str | FakeResponse:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return invalid("You must provide a model parameter.", param="model")
        return model

    @staticmethod
    def _limit(body: dict[str, Any], *names: str) -> int | FakeResponse | None:
        for name in names:
            value = body.get(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                return invalid(f"Invalid '{name}': expected an integer >= 1.", param=name)
            return value
        return None

    def _reply_words(self, limit: int | None) -> tuple[list[str], str]:
        words = _words(self.reply)
        if limit is not None and limit < len(words):
            return words[:limit], "length"
        return words, "stop"

    def _structured_reply(self, response_format: Any) -> str | None:
        # JSON made up from the schema, unless the test chose the reply
        # (for instance JSON that does not fit, to see the client refuse it).
        if self.reply != FAKE_REPLY:
            return None
        return _schema_reply(response_format)

    @staticmethod
    def _stream_options(body: dict[str, Any]) -> bool:
        options = body.get("stream_options")
        return isinstance(options, dict) and options.get("include_usage") is True

    # -- chat completions ---------------------------------------------------

    def chat_completions(self, request: ReceivedRequest, body: dict[str, Any]) -> FakeResponse:
        model = self._model(body)
        if isinstance(model, FakeResponse):
            return model
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return invalid("'messages' must be a non-empty array.", param="messages")
        limit = self._limit(body, "max_completion_tokens", "max_tokens")
        if isinstance(limit, FakeResponse):
            return limit
        n = body.get("n", 1)
        if n is None:
            n = 1
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= _MAX_N:
            return invalid(f"Invalid 'n': expected an integer from 1 to {_MAX_N}.", param="n")
        tool_calls = _forced_tool_calls(body)
        words, finish = self._reply_words(limit)
        schema_reply = self._structured_reply(body.get("response_format"))
        if schema_reply is not None:
            words, finish = _pieces(schema_reply), "stop"
        refusal = self.refusal
        if refusal is not None:
            words, finish = _words(refusal), "stop"
        if tool_calls:
            words, finish = [], "tool_calls"
        prompt_tokens = _tokens(messages)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(words) * n,
            "total_tokens": prompt_tokens + len(words) * n,
        }
        ident = self._next_id("chatcmpl-")
        created = int(time.time())
        if body.get("stream") is not True:
            return FakeResponse.json(
                {
                    "id": ident,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "system_fingerprint": "fp_fake",
                    "choices": [
                        {
                            "index": i,
                            "message": {
                                "role": "assistant",
                                "content": None if refusal is not None or tool_calls else "".join(words),
                                "refusal": "".join(words) if refusal is not None else None,
                                "annotations": [],
                                **({"tool_calls": [
                                    {"id": f"call_{i}_{k}", "type": "function",
                                     "function": {"name": name, "arguments": arguments}}
                                    for k, (name, arguments) in enumerate(tool_calls)
                                ]} if tool_calls else {}),
                            },
                            "logprobs": None,
                            "finish_reason": finish,
                        }
                        for i in range(n)
                    ],
                    "usage": usage,
                    "service_tier": "default",
                }
            )
        include_usage = self._stream_options(body)

        def chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
            out: dict[str, Any] = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": choices,
            }
            if include_usage:
                out["usage"] = None
            out.update(extra)
            return out

        def choice(i: int, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            return {"index": i, "delta": delta, "logprobs": None, "finish_reason": finish_reason}

        events: list[dict[str, Any]] = []
        for i in range(n):
            if refusal is not None:
                first: dict[str, Any] = {"role": "assistant", "content": None, "refusal": ""}
            elif tool_calls:
                first = {"role": "assistant", "content": None, "refusal": None}
            else:
                first = {"role": "assistant", "content": "", "refusal": None}
            events.append(chunk([choice(i, first)]))
        text_key = "refusal" if refusal is not None else "content"
        for word in words:
            for i in range(n):
                events.append(chunk([choice(i, {text_key: word})]))
        for k, (name, arguments) in enumerate(tool_calls):
            for i in range(n):
                start = {"index": k, "id": f"call_{i}_{k}", "type": "function",
                         "function": {"name": name, "arguments": ""}}
                events.append(chunk([choice(i, {"tool_calls": [start]})]))
                for piece in _pieces(arguments):
                    more = {"index": k, "function": {"arguments": piece}}
                    events.append(chunk([choice(i, {"tool_calls": [more]})]))
        for i in range(n):
            events.append(chunk([choice(i, {}, finish)]))
        if include_usage:
            events.append(chunk([], usage=usage))
        return FakeResponse.sse(events)

    # -- legacy completions -------------------------------------------------

    def completions(self, request: ReceivedRequest, body: dict[str, Any]) -> FakeResponse:
        model = self._model(body)
        if isinstance(model, FakeResponse):
            return model
        prompt = body.get("prompt")
        if not isinstance(prompt, (str, list)):
            return invalid("'prompt' must be a string or an array.", param="prompt")
        limit = self._limit(body, "max_tokens")
        if isinstance(limit, FakeResponse):
            return limit
        words, finish = self._reply_words(16 if limit is None else limit)
        prompt_tokens = _tokens(prompt)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(words),
            "total_tokens": prompt_tokens + len(words),
        }
        ident = self._next_id("cmpl-")
        created = int(time.time())
        base = {"id": ident, "object": "text_completion", "created": created, "model": model}
        if body.get("stream") is not True:
            return FakeResponse.json(
                {
                    **base,
                    "choices": [
                        {"index": 0, "text": "".join(words), "logprobs": None, "finish_reason": finish}
                    ],
                    "usage": usage,
                }
            )
        events: list[dict[str, Any]] = [
            {**base, "choices": [{"index": 0, "text": w, "logprobs": None, "finish_reason": None}]}
            for w in words
        ]
        events.append(
            {**base, "choices": [{"index": 0, "text": "", "logprobs": None, "finish_reason": finish}]}
        )
        if self._stream_options(body):
            events.append({**base, "choices": [], "usage": usage})
        return FakeResponse.sse(events)

    # -- embeddings ---------------------------------------------------------

    def embeddings(self, request: ReceivedRequest, body: dict[str, Any]) -> FakeResponse:
        model = self._model(body)
        if isinstance(model, FakeResponse):
            return model
        raw = body.get("input")
        inputs: list[Any]
        if isinstance(raw, str) or (isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw)):
            inputs = [raw]
        elif isinstance(raw, list) and raw:
            inputs = raw
        else:
            return invalid("'input' must be a string or a non-empty array.", param="input")
        dims = body.get("dimensions", _DEFAULT_DIMENSIONS)
        if isinstance(dims, bool) or not isinstance(dims, int) or not 1 <= dims <= _MAX_DIMENSIONS:
            return invalid(f"Invalid 'dimensions': expected 1 to {_MAX_DIMENSIONS}.", param="dimensions")
        fmt = body.get("encoding_format", "float")
        if fmt not in ("float", "base64"):
            return invalid("'encoding_format' must be 'float' or 'base64'.", param="encoding_format")
        data = []
        for index, item in enumerate(inputs):
            vector = embedding_vector(item, dims)
            value: Any = vector
            if fmt == "base64":
                value = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": value})
        tokens = _tokens(inputs) or len(inputs)
        return FakeResponse.json(
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    # -- responses ----------------------------------------------------------

    def _input_items(self, raw: Any) -> list[dict[str, Any]]:
        if isinstance(raw, str):
            raw = [{"role": "user", "content": raw}]
        items = []
        for entry in raw if isinstance(raw, list) else []:
            if not isinstance(entry, dict):
                continue
            item = dict(entry)
            item.setdefault("type", "message")
            item.setdefault("id", self._next_id("msg_"))
            if item["type"] == "message":
                item.setdefault("status", "completed")
                content = item.get("content")
                if isinstance(content, str):
                    item["content"] = [{"type": "input_text", "text": content}]
            items.append(item)
        return items

    def _store(self, response: dict[str, Any], inputs: list[dict[str, Any]]) -> None:
        self.responses[response["id"]] = response
        self.inputs[response["id"]] = inputs
        while len(self.responses) > _MAX_STORED_RESPONSES:
            old, _ = self.responses.popitem(last=False)
            self.inputs.pop(old, None)
            self.response_events.pop(old, None)

    def create_response(self, request: ReceivedRequest, body: dict[str, Any]) -> FakeResponse:
        model = self._model(body)
        if isinstance(model, FakeResponse):
            return model
        raw_input = body.get("input")
        if not isinstance(raw_input, (str, list)):
            return invalid("'input' must be a string or an array.", param="input")
        limit = self._limit(body, "max_output_tokens")
        if isinstance(limit, FakeResponse):
            return limit
        background = body.get("background") is True
        words, finish = self._reply_words(limit)
        text_config = body.get("text") if isinstance(body.get("text"), dict) else None
        schema_reply = self._structured_reply((text_config or {}).get("format"))
        if schema_reply is not None:
            words, finish = _pieces(schema_reply), "stop"
        calls = _forced_response_calls(body)
        input_tokens = _tokens(raw_input)
        resp_id = self._next_id("resp_")
        msg_id = self._next_id("msg_")
        text = "".join(words)
        message = {
            "type": "message",
            "id": msg_id,
            "status": "completed" if finish == "stop" else "incomplete",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
        }
        call_items: list[dict[str, Any]] = [
            {"type": "function_call", "id": self._next_id("fc_"), "call_id": self._next_id("call_"),
             "name": name, "arguments": arguments, "status": "completed"}
            for name, arguments in calls
        ]
        if call_items:
            words, finish, text = [], "stop", ""
        outputs: list[dict[str, Any]] = call_items or [message]
        final_status = "completed" if finish == "stop" else "incomplete"
        response: dict[str, Any] = {
            "id": resp_id,
            "object": "response",
            "created_at": int(time.time()),
            "status": "in_progress" if background else final_status,
            "background": background,
            "error": None,
            "incomplete_details": None if finish == "stop" else {"reason": "max_output_tokens"},
            "instructions": body.get("instructions"),
            "max_output_tokens": limit,
            "model": model,
            "output": [] if background else outputs,
            "parallel_tool_calls": True,
            "previous_response_id": body.get("previous_response_id"),
            "store": body.get("store", True) is not False,
            "temperature": body.get("temperature", 1.0),
            "text": text_config or {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": [],
            "top_p": body.get("top_p", 1.0),
            "truncation": "disabled",
            "usage": None
            if background
            else {
                "input_tokens": input_tokens,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": len(words),
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": input_tokens + len(words),
            },
            "user": None,
            "metadata": body.get("metadata") or {},
        }
        streamed = body.get("stream") is True
        if background and streamed:
            # What the stream ends with is what a later retrieve returns.
            response["status"] = final_status
            response["output"] = outputs
            response["usage"] = self._usage(input_tokens, len(words))
        self._store(response, self._input_items(raw_input))
        if not streamed:
            return FakeResponse.json(response)
        started = dict(response, status="in_progress", output=[], usage=None)
        seq = iter(range(1 << 30))

        def event(kind: str, **fields: Any) -> str:
            return format_sse({"type": kind, "sequence_number": next(seq), **fields}, event=kind)

        empty_message = dict(message, status="in_progress", content=[])
        empty_part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        where = {"item_id": msg_id, "output_index": 0, "content_index": 0}
        events = [
            event("response.created", response=started),
            event("response.in_progress", response=started),
        ]
        for index, item in enumerate(call_items):
            at = {"item_id": item["id"], "output_index": index}
            events.append(event("response.output_item.added", output_index=index,
                                item=dict(item, arguments="", status="in_progress")))
            events += [event("response.function_call_arguments.delta", delta=piece, **at)
                       for piece in _pieces(item["arguments"])]
            events.append(event("response.function_call_arguments.done", arguments=item["arguments"], **at))
            events.append(event("response.output_item.done", output_index=index, item=item))
        if not call_items:
            events += [
                event("response.output_item.added", output_index=0, item=empty_message),
                event("response.content_part.added", part=empty_part, **where),
            ]
            events += [
                event("response.output_text.delta", delta=w, logprobs=[], **where) for w in words
            ]
            events += [
                event("response.output_text.done", text=text, logprobs=[], **where),
                event("response.content_part.done", part=message["content"][0], **where),
                event("response.output_item.done", output_index=0, item=message),
            ]
        events += [
            event(
                "response.completed" if finish == "stop" else "response.incomplete",
                response=response,
            ),
        ]
        if background:
            # A background response's events stay retrievable, so that a
            # client that lost the stream can resume it.
            self.response_events[resp_id] = events
        return FakeResponse.sse(events, done=False)

    @staticmethod
    def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
        return {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + output_tokens,
        }

    def _missing_response(self, resp_id: str) -> FakeResponse:
        return FakeResponse.error(
            404, f"Response with id '{resp_id}' not found.", param="response_id"
        )

    def get_response(self, request: ReceivedRequest, body: None, resp_id: str) -> FakeResponse:
        found = self.responses.get(resp_id)
        if found is None:
            return self._missing_response(resp_id)
        query = request.query
        if query.get("stream", [""])[-1] != "true":
            return FakeResponse.json(found)
        events = self.response_events.get(resp_id)
        if events is None:
            return invalid("Only responses created with background=true and stream=true can be streamed again.")
        raw_after = query.get("starting_after", ["-1"])[-1]
        try:
            after = int(raw_after)
        except ValueError:
            return invalid("'starting_after' must be an integer.", param="starting_after")
        # Each stored event is one SSE block; its sequence number is its index.
        return FakeResponse.sse(events[after + 1 :], done=False)

    def delete_response(self, request: ReceivedRequest, body: None, resp_id: str) -> FakeResponse:
        self.response_events.pop(resp_id, None)
        if self.responses.pop(resp_id, None) is None:
            return self._missing_response(resp_id)
        self.inputs.pop(resp_id, None)
        return FakeResponse.json({"id": resp_id, "object": "response.deleted", "deleted": True})

    def cancel_response(self, request: ReceivedRequest, body: None, resp_id: str) -> FakeResponse:
        found = self.responses.get(resp_id)
        if found is None:
            return self._missing_response(resp_id)
        if not found.get("background"):
            return invalid("Only responses created with background=true can be cancelled.")
        if found["status"] in ("queued", "in_progress"):
            found["status"] = "cancelled"
        return FakeResponse.json(found)

    def input_items(self, request: ReceivedRequest, body: None, resp_id: str) -> FakeResponse:
        items = self.inputs.get(resp_id)
        if items is None:
            return self._missing_response(resp_id)
        order = request.query.get("order", ["desc"])[-1]
        data = list(items) if order == "asc" else list(reversed(items))
        return FakeResponse.json(
            {
                "object": "list",
                "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
                "has_more": False,
            }
        )

    # -- files --------------------------------------------------------------

    def create_file(self, request: ReceivedRequest, body: None) -> FakeResponse:
        try:
            parts = {part.name: part for part in request.form()}
        except ValueError:
            return invalid("Expected a multipart/form-data body with 'file' and 'purpose'.")
        file = parts.get("file")
        if file is None or file.filename is None:
            return invalid("Missing required parameter: 'file'.", param="file")
        purpose = parts.get("purpose")
        if purpose is None:
            return invalid("Missing required parameter: 'purpose'.", param="purpose")
        file_id = self._next_id("file-")
        obj = {
            "id": file_id,
            "object": "file",
            "bytes": len(file.data),
            "created_at": _CREATED,
            "filename": file.filename,
            "purpose": purpose.data.decode("utf-8", errors="replace"),
            "status": "processed",
            "expires_at": None,
            "status_details": None,
        }
        self.files[file_id] = (obj, file.data)
        return FakeResponse.json(obj)

    def list_files(self, request: ReceivedRequest, body: None) -> FakeResponse:
        data = [obj for obj, _ in self.files.values()]
        return FakeResponse.json(
            {
                "object": "list",
                "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
                "has_more": False,
            }
        )

    def _missing_file(self, file_id: str) -> FakeResponse:
        return FakeResponse.error(404, f"No such File object: {file_id}", param="id")

    def get_file(self, request: ReceivedRequest, body: None, file_id: str) -> FakeResponse:
        found = self.files.get(file_id)
        return self._missing_file(file_id) if found is None else FakeResponse.json(found[0])

    def file_content(self, request: ReceivedRequest, body: None, file_id: str) -> FakeResponse:
        found = self.files.get(file_id)
        if found is None:
            return self._missing_file(file_id)
        return FakeResponse(body=(found[1],), content_type="application/octet-stream")

    def delete_file(self, request: ReceivedRequest, body: None, file_id: str) -> FakeResponse:
        if self.files.pop(file_id, None) is None:
            return self._missing_file(file_id)
        return FakeResponse.json({"id": file_id, "object": "file", "deleted": True})

    # -- models -------------------------------------------------------------

    def list_models(self, request: ReceivedRequest, body: None) -> FakeResponse:
        return FakeResponse.json({"object": "list", "data": list(self.models.values())})

    def _missing_model(self, name: str) -> FakeResponse:
        return FakeResponse.error(
            404, f"The model '{name}' does not exist", param="model", code="model_not_found"
        )

    def get_model(self, request: ReceivedRequest, body: None, name: str) -> FakeResponse:
        found = self.models.get(name)
        return self._missing_model(name) if found is None else FakeResponse.json(found)

    def delete_model(self, request: ReceivedRequest, body: None, name: str) -> FakeResponse:
        if self.models.pop(name, None) is None:
            return self._missing_model(name)
        return FakeResponse.json({"id": name, "object": "model", "deleted": True})


_JSON_BODY = frozenset(
    {
        FakeOpenAI.chat_completions,
        FakeOpenAI.completions,
        FakeOpenAI.embeddings,
        FakeOpenAI.create_response,
        _batches.create_batch,
        _assistants.create_run,
        _assistants.create_thread_and_run,
        _assistants.submit_tool_outputs,
        _vector_stores.create_vector_store,
        _vector_stores.create_file,
        _vector_stores.create_file_batch,
    }
)


def embedding_vector(item: Any, dims: int) -> list[float]:
    """A unit vector derived from ``item``: equal inputs, equal vectors."""
    seed = json.dumps(item, sort_keys=True).encode()
    out: list[float] = []
    block = 0
    while len(out) < dims:
        digest = hashlib.sha256(seed + block.to_bytes(4, "big")).digest()
        out.extend((b - 127.5) / 127.5 for b in digest)
        block += 1
    del out[dims:]
    norm = sum(v * v for v in out) ** 0.5 or 1.0
    # float32 round trip so the float and base64 forms agree exactly.
    return [struct.unpack("<f", struct.pack("<f", v / norm))[0] for v in out]
