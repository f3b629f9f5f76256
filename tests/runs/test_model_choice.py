"""The model choice (QAI_MODELS): what is offered, what is refused, and that a run records and
really uses the model it was sent with. Over real HTTP (uvicorn) with a worker in the same
process; the models are real OpenAI clients talking to the local fake server, which logs the
model name of every request."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic_ai import models

from qai.api import create_app
from qai.context import AppContext
from qai.messages.models import MessageType
from qai.runs import send
from qai.runs import service as runs
from qai.settings import Settings, SettingsError, load_settings
from tests.agent.support import StartWorker, drop_system_database, wait_for_answer
from tests.conftest import free_port
from tests.fakes.openai_server import FakeOpenAI

DEFAULT = "openai-chat:model-a"
OTHER = "openai-chat:model-b"
THIRD = "openai-chat:model-c"

SCRIPT: dict[str, Any] = {
    "conversations": [
        {
            "match": "",
            "turns": [
                {
                    "tool_calls": [
                        {
                            "name": "createOrUpdateFiles",
                            "arguments": {"files": [{"path": "index.html", "content": "<h1>hi"}]},
                        }
                    ]
                },
                {"text": "Done. <task_summary>A greeting page.</task_summary>"},
            ],
        }
    ]
}


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(SCRIPT) as server:
        yield server


@pytest.fixture
async def server(
    settings: Settings, database_url: str, fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    """`qai serve` in this process, offering three models (QAI_MODEL and QAI_MODELS)."""
    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", True)  # the fake server is local
    monkeypatch.setenv("QAI_MODEL", DEFAULT)
    monkeypatch.setenv("QAI_MODELS", f" {OTHER}, {DEFAULT} ,{THIRD},")
    monkeypatch.setenv("QAI_OPENAI_BASE_URL", fake.base_url)
    monkeypatch.setenv("QAI_MODEL_MAX_RETRIES", "0")
    ctx = AppContext.build(load_settings(), role="serve")
    port = free_port()
    config = uvicorn.Config(create_app(ctx), host="127.0.0.1", port=port, log_config=None)
    uvicorn_server = uvicorn.Server(config)
    task = asyncio.create_task(uvicorn_server.serve())
    while not uvicorn_server.started:
        assert not task.done(), "the server did not start"
        await asyncio.sleep(0.02)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        yield client
    uvicorn_server.should_exit = True
    await task
    drop_system_database(database_url)


async def finished_run(client: httpx.AsyncClient, project_id: str, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run: dict[str, Any] = (await client.get(f"/api/runs/{run_id}")).json()
        if run["status"] in ("succeeded", "failed"):
            return run
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish")


async def first_run_id(client: httpx.AsyncClient, project_id: str) -> str:
    runs = (await client.get(f"/api/projects/{project_id}/runs")).json()["items"]
    return str(runs[-1]["id"])


def models_asked(fake: FakeOpenAI) -> set[str]:
    return {entry["model"] for entry in fake.requests if entry["path"].startswith("/v1/")}


async def test_the_offered_models_default_first_each_once(server: httpx.AsyncClient) -> None:
    listed = (await server.get("/api/models")).json()
    assert [item["id"] for item in listed["items"]] == [DEFAULT, OTHER, THIRD]
    assert [item["default"] for item in listed["items"]] == [True, False, False]
    assert all(item["available"] and item["problem"] is None for item in listed["items"])


async def test_a_run_records_and_uses_the_model_it_was_sent_with(
    server: httpx.AsyncClient, fake: FakeOpenAI
) -> None:
    created = await server.post("/api/projects", json={"value": "a greeting", "model": OTHER})
    assert created.status_code == 201, created.text
    project_id = created.json()["id"]
    run_id = await first_run_id(server, project_id)
    run = await finished_run(server, project_id, run_id)
    assert run["status"] == "succeeded", run["error"]
    assert run["model"] == OTHER
    assert models_asked(fake) == {"model-b"}
    listed = (await server.get(f"/api/projects/{project_id}/runs")).json()["items"]
    assert [r["model"] for r in listed] == [OTHER]

    # A follow-up naming no model uses (and records) the default.
    fake.reset()
    sent = await server.post(f"/api/projects/{project_id}/messages", json={"value": "bigger"})
    assert sent.status_code == 201, sent.text
    follow_up = await finished_run(server, project_id, sent.json()["id"])
    assert follow_up["status"] == "succeeded", follow_up["error"]
    assert follow_up["model"] == DEFAULT
    assert models_asked(fake) == {"model-a"}

    # One that names the third model uses the third.
    fake.reset()
    sent = await server.post(
        f"/api/projects/{project_id}/messages", json={"value": "bluer", "model": THIRD}
    )
    third = await finished_run(server, project_id, sent.json()["id"])
    assert third["model"] == THIRD
    assert models_asked(fake) == {"model-c"}


async def test_a_model_not_offered_is_refused_and_nothing_is_saved(
    server: httpx.AsyncClient, fake: FakeOpenAI
) -> None:
    refused = await server.post("/api/projects", json={"value": "a greeting", "model": "openai:x"})
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "BAD_REQUEST"
    assert "'openai:x' is not offered" in error["message"]
    assert f"{DEFAULT}, {OTHER}, {THIRD}" in error["message"]
    assert (await server.get("/api/projects")).json()["items"] == []

    created = await server.post("/api/projects", json={"value": "a greeting"})
    project_id = created.json()["id"]
    await finished_run(server, project_id, await first_run_id(server, project_id))
    for model in ("anthropic:claude", "", "x" * 201):
        refused = await server.post(
            f"/api/projects/{project_id}/messages", json={"value": "more", "model": model}
        )
        assert refused.status_code == 400, (model, refused.text)
        assert refused.json()["error"]["code"] == "BAD_REQUEST"
    history = (await server.get(f"/api/projects/{project_id}/messages")).json()["items"]
    assert len(history) == 2  # the first message and its answer only


def test_without_qai_models_only_qai_model_is_offered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QAI_MODEL", DEFAULT)
    assert load_settings().model_choices == (DEFAULT,)
    monkeypatch.delenv("QAI_MODEL")
    monkeypatch.setenv("QAI_MODELS", f"{OTHER},{THIRD}")
    assert load_settings().model_choices == (OTHER, THIRD)  # the first is the default


def test_a_bad_qai_models_stops_qai_at_start_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QAI_MODELS", f"{OTHER},gpt-4.1")
    with pytest.raises(SettingsError, match=r"QAI_MODELS.*'gpt-4.1' is not a model id"):
        load_settings()


async def test_the_model_travels_with_the_run_to_whichever_worker_runs_it(
    settings: Settings,
    fake: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    start_worker: StartWorker,
) -> None:
    """Recorded by an API-only process (the outbox row), run by a worker with other settings:
    the model is the run's own, handed to its durable workflow as an input."""
    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", True)
    offered = {"model": DEFAULT, "models": f"{OTHER},{THIRD}", "openai_base_url": fake.base_url}
    api = AppContext.build(settings.model_copy(update=offered), role="api")
    try:
        _, gone = await send.create_project(api.database, "a greeting", template="web", model=THIRD)
        _, kept = await send.create_project(api.database, "a greeting", template="web", model=OTHER)
    finally:
        await api.close()
    # This worker no longer offers THIRD.
    worker = await start_worker(model=DEFAULT, models=OTHER, openai_base_url=fake.base_url)
    answer = await wait_for_answer(worker.database, gone.id)
    assert answer.type is MessageType.ERROR
    assert f"The model {THIRD} chosen for this message is no longer offered" in answer.content
    answer = await wait_for_answer(worker.database, kept.id)
    assert answer.type is MessageType.RESULT, answer.content
    async with worker.database.read() as session:
        assert (await runs.get_run(session, gone.id)).run.model == THIRD
        assert (await runs.get_run(session, kept.id)).run.model == OTHER
    assert models_asked(fake) == {"model-b"}
