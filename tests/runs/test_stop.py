"""Stop and unfinished versions (issue 12, items 5 and 6), over real HTTP: an API-only server
(as `qai serve --no-worker`) takes the requests, a separate worker (as `qai worker`, on the same
database) runs the scripted model, so a Stop reaches the run through the database.

A stopped run, or one that hits its turn limit, answers with an ERROR that keeps every file it
wrote as an unfinished version, and the next message builds on it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models.function import AgentInfo, FunctionModel

from qai.api import create_app
from qai.context import AppContext
from tests.agent.support import (
    StartWorker,
    assert_one_answer_each,
    call,
    summary,
    turn_of,
    write,
)
from tests.conftest import free_port
from tests.web.browser import require_chromium

PAGE = "<!doctype html><h1>Half a todo app</h1>"


@pytest.fixture
async def api(context: AppContext) -> AsyncIterator[httpx.AsyncClient]:
    """The API-only server (it queues runs and never executes them) on a free port."""
    config = uvicorn.Config(
        create_app(context), host="127.0.0.1", port=free_port(), log_config=None
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the server did not start"
        await asyncio.sleep(0.02)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{config.port}", timeout=30) as client:
        yield client
    server.should_exit = True
    await task


def hanging_on(second: ModelResponse | None) -> FunctionModel:
    """Turn 1 writes the page; turn 2 does ``second`` (or hangs: a model that never answers);
    every later turn hangs too."""

    async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        turn = turn_of(messages)
        if turn == 0:
            return write({"index.html": PAGE})
        if turn == 1 and second is not None:
            return second
        await asyncio.sleep(300)
        raise AssertionError("unreachable")

    return FunctionModel(respond)


async def wait_for(
    client: httpx.AsyncClient, run_id: str, ok: Callable[[dict[str, Any]], bool], within: float
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        response = await client.get(f"/api/runs/{run_id}")
        if response.status_code == 200 and ok(run := response.json()):
            return run
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} did not get there within {within}s")


def running_step(kind: str) -> Callable[[dict[str, Any]], bool]:
    """A ``kind`` step in flight after the page was written (step 2)."""
    return lambda run: any(
        s["kind"] == kind and s["seq"] > 2 and s["outcome"] is None for s in run["steps"]
    )


async def stop_and_check(
    client: httpx.AsyncClient, run_id: str, kind: str, files: dict[str, str] | None = None
) -> dict[str, Any]:
    """Stop the run while a ``kind`` step is in flight; its answer comes within seconds, an
    ERROR that says so, with the page it wrote (``files``) as an unfinished version."""
    await wait_for(client, run_id, running_step(kind), within=30)
    stopped_at = time.monotonic()
    response = await client.post(f"/api/runs/{run_id}/cancel")
    assert response.status_code == 202, response.text
    assert response.json()["cancelRequestedAt"]
    run = await wait_for(client, run_id, lambda r: r["answerMessageId"] is not None, within=15)
    took = time.monotonic() - stopped_at
    assert took < 5, f"the run took {took:.1f}s to stop"
    assert run["status"] == "failed"
    assert "Stopped" in run["error"]
    stopped = [s for s in run["steps"] if s["detail"] == "Stopped"]
    assert [(s["kind"], s["outcome"]) for s in stopped] == [(kind, "failed")]
    assert all(s["finishedAt"] for s in run["steps"])

    items = (await client.get(f"/api/projects/{run['projectId']}/messages")).json()["items"]
    answer = next(m for m in items if m["id"] == run["answerMessageId"])
    assert answer["type"] == "ERROR"
    assert answer["content"].startswith("Stopped")
    assert "unfinished version" in answer["content"]
    fragment = answer["fragment"]
    assert fragment is not None
    assert fragment["unfinished"] is True
    assert fragment["files"] == (files or {"index.html": PAGE})
    alone = (await client.get(f"/api/fragments/{fragment['id']}")).json()
    assert alone["unfinished"] is True

    again = await client.post(f"/api/runs/{run_id}/cancel")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "CONFLICT"
    return run


async def test_stop_mid_model_call_keeps_the_files_and_finished_runs_answer_409(
    api: httpx.AsyncClient, start_worker: StartWorker
) -> None:
    worker = await start_worker(hanging_on(None), run_cancel_poll_seconds=0.2)
    project = (await api.post("/api/projects", json={"value": "Build a todo app"})).json()
    first = (await api.get(f"/api/projects/{project['id']}/messages")).json()["items"][0]["id"]
    await stop_and_check(api, first, "model")

    missing = await api.post("/api/runs/no-such-run/cancel")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"
    await assert_one_answer_each(worker.database)


async def test_stop_mid_command_kills_it_and_keeps_the_files(
    api: httpx.AsyncClient, start_worker: StartWorker
) -> None:
    worker = await start_worker(
        hanging_on(call("terminal", command="sleep 120")), run_cancel_poll_seconds=0.2
    )
    project = (await api.post("/api/projects", json={"value": "Build a todo app"})).json()
    first = (await api.get(f"/api/projects/{project['id']}/messages")).json()["items"][0]["id"]
    await stop_and_check(api, first, "terminal")
    assert not commands_running(b"sleep\x00120"), "the stopped command is still running"
    await assert_one_answer_each(worker.database)


async def test_stop_after_the_agent_finished_ends_the_run_at_once_and_keeps_the_files(
    api: httpx.AsyncClient, start_worker: StartWorker
) -> None:
    """The agent is done; its answer's title is being written by a small model that hangs."""
    asked: list[str] = []

    async def hangs(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        asked.append(str(messages))
        await asyncio.sleep(300)
        raise AssertionError("unreachable")

    async def builds(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if turn_of(messages) == 0:
            return write({"index.html": PAGE})
        return summary("Half a todo app.")

    worker = await start_worker(
        FunctionModel(builds), scripted_small=FunctionModel(hangs), run_cancel_poll_seconds=0.2
    )
    project = (await api.post("/api/projects", json={"value": "Build a todo app"})).json()
    first = (await api.get(f"/api/projects/{project['id']}/messages")).json()["items"][0]["id"]
    deadline = time.monotonic() + 30
    while not asked:
        assert time.monotonic() < deadline, "the small model was never asked"
        await asyncio.sleep(0.05)
    stopped_at = time.monotonic()
    response = await api.post(f"/api/runs/{first}/cancel")
    assert response.status_code == 202, response.text

    run = await wait_for(api, first, lambda r: r["answerMessageId"] is not None, within=15)
    took = time.monotonic() - stopped_at
    assert took < 5, f"the run took {took:.1f}s to stop"
    assert run["status"] == "failed"
    assert run["error"].startswith("Stopped")
    # Every step the agent took had ended before; none is left in flight.
    assert all(s["finishedAt"] for s in run["steps"])
    assert all(s["outcome"] == "ok" for s in run["steps"])
    items = (await api.get(f"/api/projects/{project['id']}/messages")).json()["items"]
    answer = next(m for m in items if m["id"] == run["answerMessageId"])
    assert answer["type"] == "ERROR"
    assert "unfinished version" in answer["content"]
    assert answer["fragment"]["unfinished"] is True
    assert answer["fragment"]["files"] == {"index.html": PAGE}
    await assert_one_answer_each(worker.database)


async def test_stop_during_the_app_check_ends_it_and_keeps_the_files(
    api: httpx.AsyncClient, start_worker: StartWorker
) -> None:
    """The agent is done; the check opens a page whose script never ends (it would wait for
    the check's whole time budget)."""
    require_chromium()
    spins = {"index.html": "<!doctype html><h1>Spins</h1><script>while (true) {}</script>"}

    async def builds(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return write(spins) if turn_of(messages) == 0 else summary("A page that spins.")

    worker = await start_worker(
        FunctionModel(builds),
        check_enabled=True,
        check_timeout_seconds=120.0,
        run_cancel_poll_seconds=0.2,
    )
    project = (await api.post("/api/projects", json={"value": "Build a spinner"})).json()
    first = (await api.get(f"/api/projects/{project['id']}/messages")).json()["items"][0]["id"]
    await stop_and_check(api, first, "check", files=spins)
    await assert_one_answer_each(worker.database)


def commands_running(cmdline: bytes) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "cmdline").read_bytes().rstrip(b"\x00") == cmdline:
                    found.append(int(entry.name))
    return found


def builds_on_what_it_finds() -> FunctionModel:
    """First request: writes a page, then lists files until the turn limit. The follow-up: reads
    the page it finds (it must be there) and adds a second one."""
    seen: list[str] = []

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        turn = turn_of(messages)
        text = str(messages)
        if "Add an about page" not in text:
            return write({"index.html": PAGE}) if turn == 0 else call("terminal", command="ls")
        if turn == 0:
            return call("readFiles", files=["index.html"])
        if turn == 1:
            seen.append(text)
            return write({"about.html": "<h1>About</h1>"})
        return summary("A todo app with an about page.")

    model = FunctionModel(respond)
    model.seen = seen  # type: ignore[attr-defined]
    return model


async def test_the_turn_limit_keeps_the_files_and_the_next_message_builds_on_them(
    api: httpx.AsyncClient, start_worker: StartWorker
) -> None:
    model = builds_on_what_it_finds()
    worker = await start_worker(model, run_max_turns=3)
    project = (await api.post("/api/projects", json={"value": "Build a todo app"})).json()
    first = (await api.get(f"/api/projects/{project['id']}/messages")).json()["items"][0]["id"]
    run = await wait_for(api, first, lambda r: r["answerMessageId"] is not None, within=30)
    assert run["status"] == "failed"
    assert "model turns" in run["error"]
    assert run["turns"] == 3

    items = (await api.get(f"/api/projects/{project['id']}/messages")).json()["items"]
    answer = items[-1]
    assert answer["type"] == "ERROR"
    assert answer["fragment"]["unfinished"] is True
    assert answer["fragment"]["files"] == {"index.html": PAGE}

    sent = await api.post(
        f"/api/projects/{project['id']}/messages", json={"value": "Add an about page"}
    )
    second = sent.json()["id"]
    run = await wait_for(api, second, lambda r: r["answerMessageId"] is not None, within=30)
    assert run["status"] == "succeeded", run["error"]
    # The follow-up's sandbox started from the unfinished version: the page was there to read.
    assert PAGE in model.seen[0]  # type: ignore[attr-defined]
    items = (await api.get(f"/api/projects/{project['id']}/messages")).json()["items"]
    done = items[-1]
    assert done["type"] == "RESULT"
    assert done["fragment"]["unfinished"] is False
    assert done["fragment"]["files"] == {"index.html": PAGE, "about.html": "<h1>About</h1>"}
    await assert_one_answer_each(worker.database)
