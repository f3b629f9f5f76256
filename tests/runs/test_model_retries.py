"""A retried model request is seen: through a real `qai serve` whose model (the real OpenAI
client) talks to the fake OpenAI server, a request that fails once with HTTP 500 is sent again
by QAI, and the model step says so ("retry 1 of 2") in the API and the live events."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import httpx

from tests.agent.support import HAVE_BWRAP
from tests.fakes.openai_server import FakeOpenAI
from tests.live import live_server
from tests.runs.sse import ServerEvent, collect

PAGE = "<!doctype html><title>Hi</title><h1>Hi</h1>"
SCRIPT: dict[str, Any] = {
    "conversations": [
        {
            "turns": [
                {
                    "tool_calls": [
                        {
                            "name": "createOrUpdateFiles",
                            "arguments": {"files": [{"path": "index.html", "content": PAGE}]},
                        }
                    ],
                    # The first request fails; each takes a moment, so the retry is seen live.
                    "fail": {"status": 500, "times": 1, "message": "The server had an error"},
                    "delay": 0.5,
                },
                {"text": "Done. <task_summary>A page that says hi.</task_summary>"},
            ]
        }
    ]
}


def is_answer(event: ServerEvent) -> bool:
    return event.kind == "message.created" and event.data["role"] == "ASSISTANT"


async def test_a_retried_model_request_is_a_step_update_with_its_retry_and_the_maximum(
    tmp_path: Path, sqlite_template: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copyfile(sqlite_template, data / "qai.db")
    with FakeOpenAI(SCRIPT) as fake:
        env = {
            "QAI_MODEL": "openai:fake-model",
            "OPENAI_BASE_URL": fake.base_url,
            "OPENAI_API_KEY": "test",
            "QAI_MODEL_MAX_RETRIES": "2",
            "QAI_ACCESS_LOG": "false",
            "QAI_CHECK_ENABLED": "false",
            "QAI_SANDBOX_ISOLATION": "bwrap" if HAVE_BWRAP else "none",
        }
        with live_server(f"sqlite:///{data}/qai.db", data, **env) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                created = await client.post("/api/projects", json={"value": "Build a hi page"})
                assert created.status_code == 201, created.text
                project_id = created.json()["id"]
                events_url = f"/api/projects/{project_id}/events"
                async with (
                    asyncio.timeout(90),
                    client.stream("GET", events_url, params={"after": 0}) as response,
                ):
                    events = await collect(response, until=is_answer)
                answer = events[-1].data
                runs = (await client.get(f"/api/projects/{project_id}/runs")).json()["items"]
                run = (await client.get(f"/api/runs/{runs[0]['id']}")).json()
            statuses = [request["status"] for request in fake.requests]

    assert answer["type"] == "RESULT", answer["content"]
    # The first request failed, QAI sent it again (the client itself did not), then the next turn.
    assert statuses == [500, 200, 200]
    first = [e.data for e in events if e.kind == "run.step" and e.data["seq"] == 1]
    assert [step["kind"] for step in first] == ["model"] * 3
    started, retrying, finished = first
    assert (started["retry"], started["maxRetries"], started["finishedAt"]) == (None, None, None)
    # While the call goes on: which retry, of how many.
    assert (retrying["retry"], retrying["maxRetries"]) == (1, 2)
    assert retrying["finishedAt"] is None
    assert retrying["outcome"] is None
    assert retrying["label"] == "Asking the model (turn 1)"
    assert (finished["retry"], finished["maxRetries"], finished["outcome"]) == (1, 2, "ok")
    # Stored with the run: the API shows it after the answer too; the second call needed none.
    steps = {step["seq"]: step for step in run["steps"]}
    assert (steps[1]["retry"], steps[1]["maxRetries"]) == (1, 2)
    model_steps = [step for step in run["steps"] if step["kind"] == "model"]
    assert [step["retry"] for step in model_steps] == [1, None]
    assert all(step["attempts"] == 1 for step in run["steps"])
