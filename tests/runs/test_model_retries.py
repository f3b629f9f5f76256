"""A retried model request is seen: through a real `qai serve` whose model (the real OpenAI
client) talks to the fake OpenAI server, a request that fails once with HTTP 500 is sent again
by QAI, and the model step says so ("retry 1 of 2") in the API and the live events. A `qai
worker` killed later in the run resumes it without sending the failed attempt or its retry
again."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from qai.context import AppContext
from qai.messages.models import MessageType
from qai.runs import service as runs
from qai.settings import Settings
from tests.agent.support import (
    HAVE_BWRAP,
    assert_one_answer_each,
    create_project,
    drop_system_database,
    wait_for_answer,
)
from tests.fakes.openai_server import FakeOpenAI
from tests.live import live_server
from tests.runs.sse import ServerEvent, collect
from tests.runs.workers import (
    fake_model,
    requests_for,
    start_worker,
    wait_until,
    worker_processes,
)

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


RESUMED_SCRIPT: dict[str, Any] = {
    "api_key": "sk-test",
    "conversations": [
        {
            "turns": [
                {**SCRIPT["conversations"][0]["turns"][0], "delay": 0},
                # The worker is killed while it waits for the second reply.
                {
                    "text": "Done. <task_summary>A page that says hi.</task_summary>",
                    "hang": 30,
                    "hang_times": 1,
                },
            ]
        }
    ],
}


async def test_a_resumed_run_replays_the_failed_attempt_and_its_retry_without_sending_them(
    settings: Settings,
    context: AppContext,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    db = context.database
    _, message_id = await create_project(db, "Build a hi page")
    context.events.take_undelivered()
    log = tmp_path / "worker.log"
    with fake_model(RESUMED_SCRIPT, monkeypatch) as fake:

        def worker() -> subprocess.Popen[bytes]:
            return start_worker(
                fake,
                database_url,
                settings.data_dir,
                log,
                worker_id="retry-durability-worker",
                QAI_MODEL_MAX_RETRIES="2",
                QAI_CHECK_ENABLED="false",
            )

        try:
            with worker_processes() as processes:
                processes.append(worker())
                await wait_until(
                    lambda: requests_for(fake, 0, 1),
                    what="the second model request",
                    within=60,
                    logs=[log],
                )
                processes[0].send_signal(signal.SIGKILL)
                processes[0].wait(timeout=10)
                processes.append(worker())
                answer = await wait_for_answer(db, message_id, within=90)
        finally:
            drop_system_database(database_url)
        first_turn = [r["status"] for r in requests_for(fake, 0, 0)]

    assert answer.type is MessageType.RESULT, answer.content
    # The failed attempt and its retry were replayed from their checkpoints, not sent again.
    assert first_turn == [500, 200]
    async with db.read() as session:
        steps = (await runs.get_run(session, message_id)).steps
    # Recorded once each (the writes that record a model step are checkpointed too).
    assert [(s.seq, s.kind, s.retry, s.max_retries, s.attempts) for s in steps] == [
        (1, "model", 1, 2, 1),
        (2, "write", None, None, 1),
        (3, "model", None, None, 1),
    ]
    assert all(s.outcome is not None for s in steps)
    await assert_one_answer_each(db)
