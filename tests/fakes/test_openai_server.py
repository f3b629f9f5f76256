"""The fake OpenAI server speaks both APIs, streaming or not, to the real OpenAI client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pydantic_ai import Agent, models
from pydantic_ai.exceptions import ModelAuthenticationError, ModelHTTPError
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.providers.openai import OpenAIProvider

from tests.fakes.openai_server import FakeOpenAI

SCRIPT = {
    "api_key": "sk-test",
    "conversations": [
        {
            "match": "add",
            "turns": [
                {"tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}]},
                {"text": "The sum is 5."},
            ],
        },
        {"match": "", "turns": [{"text": "Hello!"}]},
    ],
}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", True)
    with FakeOpenAI(SCRIPT) as server:
        yield server


@pytest.mark.parametrize("api", [OpenAIResponsesModel, OpenAIChatModel])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_a_scripted_tool_calling_conversation(
    fake: FakeOpenAI, api: type[OpenAIChatModel | OpenAIResponsesModel], stream: bool
) -> None:
    model = api("fake", provider=OpenAIProvider(base_url=fake.base_url, api_key="sk-test"))
    agent = Agent(model)
    added: list[int] = []

    @agent.tool_plain
    def add(a: int, b: int) -> int:
        added.append(a + b)
        return a + b

    async with model:
        if stream:
            async with agent.run_stream("please add two numbers") as run:
                output = await run.get_output()
        else:
            output = (await agent.run("please add two numbers")).output
        hello = (await agent.run("hi there")).output
    assert output == "The sum is 5."
    assert added == [5]
    assert hello == "Hello!"
    log = fake.requests
    assert [(r["conversation"], r["turn"], r["stream"]) for r in log] == [
        (0, 0, stream),
        (0, 1, stream),
        (1, 0, False),
    ]
    assert log[1]["tool_results"] == ["5"]


async def test_fault_modes(fake: FakeOpenAI) -> None:
    model = OpenAIChatModel(
        "fake", provider=OpenAIProvider(base_url=fake.base_url, api_key="sk-wrong")
    )
    async with model:
        with pytest.raises(ModelAuthenticationError):
            await Agent(model).run("hi")
    fake.set_script({"fail": {"status": 503, "message": "overloaded"}, "conversations": []})
    model = OpenAIChatModel("fake", provider=OpenAIProvider(base_url=fake.base_url, api_key="x"))
    async with model:
        with pytest.raises(ModelHTTPError) as failed:
            await Agent(model, model_settings={"max_retries": 0}).run("hi")
    assert failed.value.status_code == 503
    fake.set_script({"hang": 2, "conversations": []})
    async with httpx.AsyncClient(timeout=0.2) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(f"{fake.base_url}/chat/completions", json={"messages": []})
