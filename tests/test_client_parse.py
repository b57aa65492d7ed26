"""client.chat.completions.parse() and client.responses.parse() against the
fake server: typed results, tool arguments, refusals, finish-reason errors,
JSON that does not fit, misuse refused before any byte."""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any, Literal

import attrs
import pytest
import trio

from openai_trio import (
    Client,
    ContentFilterFinishReasonError,
    LengthFinishReasonError,
    LocalProtocolError,
    ParsedChatCompletion,
    ParsedResponse,
    StructuredOutputError,
    function_tool,
)
from openai_trio.testing import FakeResponse, FakeServer

KEY = "sk-test-structured-outputs"
MESSAGES = [{"role": "user", "content": "Plan my week"}]


class Priority(enum.Enum):
    LOW = "low"
    HIGH = "high"


@attrs.define
class Task:
    title: str
    priority: Priority
    subtasks: list[Task]
    due: str | None


@dataclasses.dataclass
class Plan:
    """A plan for the week."""

    owner: str
    tasks: list[Task]
    mood: Literal["calm", "busy"]


def get_weather(city: str, days: int = 1) -> str:
    """The forecast for a city."""
    return city


def run(test: Any) -> Any:
    async def main() -> Any:
        async with (
            FakeServer() as server,
            Client(api_key=KEY, base_url="http://fake.test/v1", connector=server.connect, max_retries=0) as client,
        ):
            return await test(server, client)

    return trio.run(main)


def sent(server: FakeServer) -> Any:
    return json.loads(server.requests[-1].body)


def test_chat_parse_builds_the_type() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        completion = await client.chat.completions.parse(model="gpt-4o", messages=MESSAGES, response_format=Plan)
        assert isinstance(completion, ParsedChatCompletion)
        plan = completion.choices[0].message.parsed
        assert isinstance(plan, Plan)
        # The fake's made-up JSON follows $refs, and leaves the recursion by [] or null.
        assert plan.owner == "example" and plan.mood == "calm"
        assert isinstance(plan.tasks[0], Task) and plan.tasks[0].priority is Priority.LOW
        fmt = sent(server)["response_format"]
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "Plan"
        assert fmt["json_schema"]["strict"] is True
        assert fmt["json_schema"]["schema"]["$defs"]["Task"]["additionalProperties"] is False
        assert completion.usage is not None

    run(test)


def test_chat_parse_tool_arguments() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        completion = await client.chat.completions.parse(
            model="gpt-4o", messages=MESSAGES, tools=[function_tool(get_weather), function_tool(Task)],
            tool_choice="required",
        )
        calls = completion.choices[0].message.tool_calls
        assert calls is not None
        weather, task = (c.function.parsed_arguments for c in calls)
        assert weather == {"city": "example", "days": 1}
        assert isinstance(task, Task) and task.title == "example"
        tools = sent(server)["tools"]
        assert [t["function"]["strict"] for t in tools] == [True, True]
        assert completion.choices[0].message.parsed is None

    run(test)


def test_chat_refusal() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        server.openai.refusal = "I can't help with that."
        completion = await client.chat.completions.parse(model="gpt-4o", messages=MESSAGES, response_format=Plan)
        message = completion.choices[0].message
        assert message.parsed is None and message.refusal == "I can't help with that."

    run(test)


def test_chat_content_that_does_not_fit() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        server.openai.reply = '{"owner": "me", "tasks": "none", "mood": "calm"}'
        with pytest.raises(StructuredOutputError) as info:
            await client.chat.completions.parse(model="gpt-4o", messages=MESSAGES, response_format=Plan)
        assert info.value.path == "$.tasks"
        server.openai.reply = "Here is your plan: relax."
        with pytest.raises(StructuredOutputError, match="not valid JSON"):
            await client.chat.completions.parse(model="gpt-4o", messages=MESSAGES, response_format=Plan)

    run(test)


@pytest.mark.parametrize(
    ("finish_reason", "error"),
    [("length", LengthFinishReasonError), ("content_filter", ContentFilterFinishReasonError)],
)
def test_chat_finish_reason_errors(finish_reason: str, error: type[Exception]) -> None:
    body = {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": finish_reason,
                     "message": {"role": "assistant", "content": '{"owner": "m'}}],
    }

    async def main() -> None:
        async with (
            FakeServer(handler=lambda request: FakeResponse.json(body)) as server,
            Client(api_key=KEY, base_url="http://fake.test/v1", connector=server.connect, max_retries=0) as client,
        ):
            with pytest.raises(error) as info:
                await client.chat.completions.parse(model="gpt-4o", messages=MESSAGES, response_format=Plan)
            assert info.value.completion.id == "chatcmpl-1"  # type: ignore[attr-defined]

    trio.run(main)


def test_chat_misuse_is_refused_before_any_byte() -> None:
    loose = {"type": "function", "function": {"name": "loose", "parameters": {"type": "object"}}}

    async def test(server: FakeServer, client: Client) -> None:
        with pytest.raises(LocalProtocolError, match="not strict"):
            await client.chat.completions.parse(model="gpt-4o", messages=MESSAGES, tools=[loose])
        with pytest.raises(LocalProtocolError, match="function tools"):
            await client.chat.completions.parse(model="gpt-4o", messages=MESSAGES, tools=[{"type": "custom", "custom": {}}])
        with pytest.raises(LocalProtocolError, match="stream"):
            await client.chat.completions.parse(model="gpt-4o", messages=MESSAGES, stream=True)
        with pytest.raises(LocalProtocolError, match=r"Bad\.scores"):
            await client.chat.completions.parse(model="gpt-4o", messages=MESSAGES, response_format=Bad)
        assert server.requests == []

    run(test)


@attrs.define
class Bad:
    scores: dict[str, int]


def test_chat_mapping_format_passes_through() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        completion = await client.chat.completions.parse(
            model="gpt-4o", messages=MESSAGES, response_format={"type": "json_object"}
        )
        assert completion.choices[0].message.parsed is None
        assert sent(server)["response_format"] == {"type": "json_object"}

    run(test)


def test_responses_parse_output_parsed() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        response = await client.responses.parse(
            model="gpt-4o", input="Plan my week", text_format=Plan, text={"verbosity": "low"}
        )
        assert isinstance(response, ParsedResponse)
        assert isinstance(response.output_parsed, Plan) and response.output_parsed.owner == "example"
        text = sent(server)["text"]
        assert text["verbosity"] == "low"
        assert text["format"]["type"] == "json_schema" and text["format"]["name"] == "Plan"
        assert text["format"]["strict"] is True and "json_schema" not in text["format"]

    run(test)


def test_responses_parse_function_calls() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        # A chat-shaped function_tool is sent in the Responses shape.
        response = await client.responses.parse(
            model="gpt-4o", input="Weather?", tools=[function_tool(get_weather)], tool_choice="required"
        )
        calls = [item for item in response.output if item.type == "function_call"]
        assert [c.parsed_arguments for c in calls] == [{"city": "example", "days": 1}]
        assert sent(server)["tools"][0]["name"] == "get_weather"
        assert response.output_parsed is None

    run(test)


def test_responses_parse_misuse() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        with pytest.raises(LocalProtocolError, match="not both"):
            await client.responses.parse(
                model="gpt-4o", input="x", text_format=Plan, text={"format": {"type": "text"}}
            )
        with pytest.raises(LocalProtocolError, match="object type"):
            await client.responses.parse(model="gpt-4o", input="x", text_format=int)
        assert server.requests == []

    run(test)


def test_responses_bad_text_is_a_typed_error() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        server.openai.reply = '{"owner": 1}'
        with pytest.raises(StructuredOutputError):
            await client.responses.parse(model="gpt-4o", input="x", text_format=Plan)

    run(test)


def test_cancellation_propagates() -> None:
    async def test(server: FakeServer, client: Client) -> None:
        with trio.CancelScope() as scope:
            scope.cancel()
            await client.chat.completions.parse(model="gpt-4o", messages=MESSAGES, response_format=Plan)
        assert scope.cancelled_caught

    run(test)
