"""The fake server's OpenAI handler and its Assistants runs, on the paths
the other tests leave out: schema-made values for every schema keyword,
named and single tool choices, validation of each endpoint, input items of
every shape, the bound on stored responses, resuming streams, files
through the client, and runs that are missing or get the wrong outputs.

``FakeOpenAI`` is called directly where no HTTP is needed (it is the
server's handler: a request in, a ``FakeResponse`` out)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio

from openai_sansio import Headers, NotFoundError
from openai_trio import Client
from openai_trio.testing import FAKE_REPLY, FakeOpenAI, FakeResponse, FakeServer, ReceivedRequest

KEY = "sk-test-fake-openai-edges"


def call(api: FakeOpenAI, method: str, target: str, body: Any = None) -> FakeResponse:
    raw = b"" if body is None else json.dumps(body).encode()
    return api(ReceivedRequest(method, target, Headers([("content-type", "application/json")]), raw))


def payload(response: FakeResponse) -> Any:
    return json.loads(b"".join(response.body))


def sse(response: FakeResponse) -> list[Any]:
    text = b"".join(response.body).decode()
    out = []
    for block in text.split("\n\n"):
        for line in block.split("\n"):
            if line.startswith("data: ") and line != "data: [DONE]":
                out.append(json.loads(line[6:]))
    return out


def events(response: FakeResponse) -> list[str]:
    text = b"".join(response.body).decode()
    return [line[7:] for line in text.split("\n") if line.startswith("event: ")]


def chat(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], **extra}


def fn(name: str, parameters: Any = None) -> dict[str, Any]:
    tool: dict[str, Any] = {"name": name}
    if parameters is not None:
        tool["parameters"] = parameters
    return {"type": "function", "function": tool}


def made_up(parameters: Any) -> Any:
    """The arguments the fake model sends for a tool with these parameters."""
    api = FakeOpenAI()
    done = payload(call(api, "POST", "/v1/chat/completions", chat(tools=[fn("f", parameters)], tool_choice="required")))
    return json.loads(done["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"])


# -- values made up from schemas --------------------------------------------------------


def test_schema_keywords_give_fitting_values() -> None:
    schema = {
        "type": "object",
        "properties": {
            "fixed": {"const": "v1"},
            "maybe": {"type": ["null", "integer"]},
            "only_null": {"type": ["null"]},
            "free": {"type": "object"},
            "odd": {"type": "object", "properties": ["not", "a", "mapping"]},
            "choice": {"oneOf": [{"type": "boolean"}, {"type": "string"}]},
            "number": {"type": "number"},
            "nothing": True,
        },
    }
    assert made_up(schema) == {
        "fixed": "v1", "maybe": 1, "only_null": None, "free": {}, "odd": {}, "choice": True,
        "number": 1.5, "nothing": None,
    }


def test_deep_schemas_take_the_way_out() -> None:
    # Past a few levels a nullable type list gives null, like a nullable anyOf.
    nested: dict[str, Any] = {"type": ["string", "null"]}
    for _ in range(4):
        nested = {"type": "object", "properties": {"next": nested}}
    assert made_up(nested) == {"next": {"next": {"next": {"next": None}}}}
    # A reference cycle with no way out stops at a fixed depth.
    looping = {"type": "object", "properties": {"again": {"$ref": "#"}}}
    value = made_up(looping)
    depth = 0
    while isinstance(value, dict):
        value, depth = value["again"], depth + 1
    assert value is None and 5 <= depth <= 30


def test_a_tool_without_parameters_gets_an_empty_object() -> None:
    assert made_up(None) == {}


# -- tool choices ----------------------------------------------------------------------


def test_named_tool_choice_and_parallel_calls_off() -> None:
    api = FakeOpenAI()
    tools = [fn("a", {"type": "object", "properties": {}}), fn("b", {"type": "object", "properties": {"x": {"type": "integer"}}})]
    named = payload(call(api, "POST", "/v1/chat/completions",
                         chat(tools=tools, tool_choice={"type": "function", "function": {"name": "b"}})))
    assert [(c["function"]["name"], c["function"]["arguments"]) for c in named["choices"][0]["message"]["tool_calls"]] == [
        ("b", '{"x": 1}'),
    ]
    assert named["choices"][0]["finish_reason"] == "tool_calls"
    single = payload(call(api, "POST", "/v1/chat/completions",
                          chat(tools=tools, tool_choice="required", parallel_tool_calls=False)))
    assert [c["function"]["name"] for c in single["choices"][0]["message"]["tool_calls"]] == ["a"]
    auto = payload(call(api, "POST", "/v1/chat/completions", chat(tools=tools)))
    assert "tool_calls" not in auto["choices"][0]["message"]


def test_responses_named_tool_choice() -> None:
    api = FakeOpenAI()
    tools = [{"type": "function", "name": "a", "parameters": {"type": "object", "properties": {}}},
             {"type": "function", "name": "b", "parameters": {"type": "object", "properties": {"s": {"type": "string"}}}}]
    done = payload(call(api, "POST", "/v1/responses",
                        {"model": "m", "input": "x", "tools": tools, "tool_choice": {"type": "function", "name": "b"}}))
    assert [(o["type"], o["name"], o["arguments"]) for o in done["output"]] == [("function_call", "b", '{"s": "example"}')]


# -- validation and routes ----------------------------------------------------------------


def test_n_null_means_one_choice() -> None:
    done = payload(call(FakeOpenAI(), "POST", "/v1/chat/completions", chat(n=None)))
    assert len(done["choices"]) == 1 and done["choices"][0]["message"]["content"] == FAKE_REPLY


@pytest.mark.parametrize(
    ("target", "body", "param"),
    [
        ("/v1/completions", {"prompt": "x"}, "model"),
        ("/v1/completions", {"model": "m", "prompt": "x", "max_tokens": 0}, "max_tokens"),
        ("/v1/embeddings", {"input": "x"}, "model"),
        ("/v1/responses", {"input": "x"}, "model"),
        ("/v1/responses", {"model": "m", "input": "x", "max_output_tokens": True}, "max_output_tokens"),
        ("/v1/threads/runs", {"model": "m"}, "assistant_id"),
    ],
)
def test_each_endpoint_validates_its_body(target: str, body: dict[str, Any], param: str) -> None:
    answer = call(FakeOpenAI(), "POST", target, body)
    assert answer.status == 400
    assert payload(answer)["error"]["param"] == param


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("POST", "/v1/models/gpt-4o"),
        ("PUT", "/v1/files"),
        ("GET", "/v1/responses/resp_1/other"),
        ("POST", "/v1/threads/t/runs/r/other/x"),
        ("PATCH", "/v1/batches"),
    ],
)
def test_methods_and_paths_without_a_route_are_404(method: str, target: str) -> None:
    answer = call(FakeOpenAI(), method, target)
    assert answer.status == 404
    assert payload(answer)["error"]["message"] == f"Invalid URL ({method} {target})"


def test_paths_without_the_version_prefix_are_served() -> None:
    listing = payload(call(FakeOpenAI(), "GET", "/models"))
    assert "gpt-4o" in [m["id"] for m in listing["data"]]


def test_legacy_completion_stream_without_usage() -> None:
    answer = call(FakeOpenAI(), "POST", "/v1/completions", {"model": "m", "prompt": "x", "stream": True, "max_tokens": 3})
    chunks = sse(answer)
    assert "".join(c["choices"][0]["text"] for c in chunks) == " ".join(FAKE_REPLY.split(" ")[:3])
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert all("usage" not in c for c in chunks)


# -- responses -------------------------------------------------------------------------


def test_input_items_of_every_shape() -> None:
    api = FakeOpenAI()
    items = [
        "not an item",
        {"type": "function_call_output", "call_id": "call_1", "output": "42"},
        {"role": "user", "content": [{"type": "input_text", "text": "there"}], "id": "msg_mine", "status": "incomplete"},
    ]
    created = payload(call(api, "POST", "/v1/responses", {"model": "m", "input": items}))
    listed = payload(call(api, "GET", f"/v1/responses/{created['id']}/input_items?order=asc"))["data"]
    assert listed == [
        {"type": "function_call_output", "call_id": "call_1", "output": "42", "id": listed[0]["id"]},
        {"role": "user", "content": [{"type": "input_text", "text": "there"}], "id": "msg_mine", "status": "incomplete",
         "type": "message"},
    ]
    assert listed[0]["id"].startswith("msg_") and "status" not in listed[0]


def test_stored_responses_are_bounded_oldest_first() -> None:
    api = FakeOpenAI()
    oldest = sse(call(api, "POST", "/v1/responses", {"model": "m", "input": "x", "background": True, "stream": True}))
    oldest_id = oldest[0]["response"]["id"]
    for _ in range(1000):
        call(api, "POST", "/v1/responses", {"model": "m", "input": "x"})
    assert len(api.responses) == 1000
    assert oldest_id not in api.responses and oldest_id not in api.response_events and oldest_id not in api.inputs
    assert call(api, "GET", f"/v1/responses/{oldest_id}").status == 404


def test_resuming_a_stream_needs_a_background_stream_and_an_integer_cursor() -> None:
    api = FakeOpenAI()
    plain = payload(call(api, "POST", "/v1/responses", {"model": "m", "input": "x"}))
    refused = call(api, "GET", f"/v1/responses/{plain['id']}?stream=true")
    assert refused.status == 400 and "background=true and stream=true" in payload(refused)["error"]["message"]
    streamed = sse(call(api, "POST", "/v1/responses", {"model": "m", "input": "x", "background": True, "stream": True}))
    rid = streamed[0]["response"]["id"]
    bad = call(api, "GET", f"/v1/responses/{rid}?stream=true&starting_after=two")
    assert bad.status == 400 and payload(bad)["error"]["param"] == "starting_after"
    rest = sse(call(api, "GET", f"/v1/responses/{rid}?stream=true&starting_after=2"))
    assert rest == streamed[3:]


def test_cancelling_a_finished_background_response_leaves_it_finished() -> None:
    api = FakeOpenAI()
    streamed = sse(call(api, "POST", "/v1/responses", {"model": "m", "input": "x", "background": True, "stream": True}))
    rid = streamed[0]["response"]["id"]
    after = payload(call(api, "POST", f"/v1/responses/{rid}/cancel"))
    assert after["status"] == "completed"


# -- files ------------------------------------------------------------------------------


def test_files_round_trip_through_the_client() -> None:
    async def main() -> None:
        async with (
            FakeServer() as server,
            Client(api_key=KEY, base_url="http://fake.test/v1", connector=server.connect, max_retries=0) as client,
        ):
            assert (await client.files.list()).data == []
            made = await client.files.create(file=("notes.jsonl", b'{"a": 1}\n'), purpose="batch")
            assert (made.filename, made.bytes, made.purpose) == ("notes.jsonl", 9, "batch")
            listing = await client.files.list()
            assert [f.id for f in listing.data] == [made.id]
            assert (await client.files.retrieve(made.id)).filename == "notes.jsonl"
            content = await client.files.content(made.id)
            assert content.content == b'{"a": 1}\n'
            deleted = await client.files.delete(made.id)
            assert deleted.deleted is True
            for missing in (client.files.retrieve, client.files.content, client.files.delete):
                with pytest.raises(NotFoundError, match=f"No such File object: {made.id}"):
                    await missing(made.id)

    trio.run(main)


def multipart(parts: list[tuple[str, str | None, bytes]]) -> tuple[str, bytes]:
    boundary = "fakeboundary"
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    return f"multipart/form-data; boundary={boundary}", out + f"--{boundary}--\r\n".encode()


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        (None, "Expected a multipart/form-data body"),
        ([("purpose", None, b"batch")], "Missing required parameter: 'file'."),
        ([("file", None, b"data"), ("purpose", None, b"batch")], "Missing required parameter: 'file'."),
        ([("file", "a.txt", b"data")], "Missing required parameter: 'purpose'."),
    ],
)
def test_uploads_without_their_parts_are_refused(parts: list[tuple[str, str | None, bytes]] | None, message: str) -> None:
    if parts is None:
        content_type, body = "application/json", b"{}"
    else:
        content_type, body = multipart(parts)
    answer = FakeOpenAI()(ReceivedRequest("POST", "/v1/files", Headers([("content-type", content_type)]), body))
    assert answer.status == 400 and payload(answer)["error"]["message"].startswith(message)


# -- assistants runs ------------------------------------------------------------------------


def run_body(**extra: Any) -> dict[str, Any]:
    return {"assistant_id": "asst_1", **extra}


def test_runs_of_another_thread_or_unknown_are_404() -> None:
    api = FakeOpenAI()
    run = payload(call(api, "POST", "/v1/threads/thread_a/runs", run_body()))
    assert call(api, "GET", f"/v1/threads/thread_a/runs/{run['id']}").status == 200
    assert call(api, "GET", f"/v1/threads/thread_b/runs/{run['id']}").status == 404
    assert call(api, "GET", "/v1/threads/thread_a/runs/run_nope").status == 404


def test_submitting_tool_outputs_is_checked() -> None:
    api = FakeOpenAI()
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
    streamed = call(api, "POST", "/v1/threads/thread_a/runs", run_body(tools=tools, tool_choice="required", stream=True))
    assert events(streamed)[-2:] == ["thread.run.requires_action", "done"]
    run = [e for e in sse(streamed) if e.get("object") == "thread.run"][-1]
    [tool_call] = run["required_action"]["submit_tool_outputs"]["tool_calls"]
    target = f"/v1/threads/thread_a/runs/{run['id']}/submit_tool_outputs"
    assert call(api, "POST", f"/v1/threads/thread_b/runs/{run['id']}/submit_tool_outputs",
                {"tool_outputs": []}).status == 404
    missing = call(api, "POST", target, {"tool_outputs": "none"})
    assert missing.status == 400 and payload(missing)["error"]["param"] == "tool_outputs"
    wrong = call(api, "POST", target, {"tool_outputs": [{"tool_call_id": "call_other", "output": "1"}, "junk"]})
    assert wrong.status == 400
    assert payload(wrong)["error"]["message"] == f"Expected tool outputs for call ids {tool_call['id']}."
    done = call(api, "POST", target, {"tool_outputs": [{"tool_call_id": tool_call["id"], "output": "1"}], "stream": True})
    assert events(done)[-2:] == ["thread.run.completed", "done"]
    # Once submitted, the run no longer waits.
    assert call(api, "POST", target, {"tool_outputs": []}).status == 404


def test_runs_kept_are_bounded() -> None:
    api = FakeOpenAI()
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
    first = payload(call(api, "POST", "/v1/threads/t/runs", run_body(tools=tools, tool_choice="required")))
    for _ in range(1000):
        call(api, "POST", "/v1/threads/t/runs", run_body(tools=tools, tool_choice="required"))
    assert len(api.assistants.runs) == 1000 and len(api.assistants.waiting) == 1000
    assert first["id"] not in api.assistants.runs and first["id"] not in api.assistants.waiting
    assert call(api, "GET", f"/v1/threads/t/runs/{first['id']}").status == 404
