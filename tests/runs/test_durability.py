"""A `qai worker` process killed with SIGKILL in the middle of a run, then restarted: the run
resumes where it was and finishes; no step that had finished runs again. The messages were
committed while no worker ran and never enqueued: start-up repair gives them their runs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic_ai import models

from qai import events
from qai.db import read_session, session_scope
from qai.messages import service as messages
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
from tests.live import base_env


def tool(name: str, **arguments: object) -> dict[str, object]:
    return {"tool_calls": [{"name": name, "arguments": arguments}]}


def write(path: str, content: str) -> dict[str, object]:
    return tool("createOrUpdateFiles", files=[{"path": path, "content": content}])


SCRIPT = {
    "api_key": "sk-test",
    "conversations": [
        {
            "match": "counter",
            "turns": [
                write("index.html", "<h1>0</h1><script src='app.js'></script>"),
                tool("terminal", command="echo ran >> steps.log"),
                # The worker is killed while it waits for this reply.
                {**write("app.js", "let n = 0;"), "hang": 30, "hang_times": 1},
                tool("readFiles", files=["steps.log"]),
                {"text": "<task_summary>A counter.</task_summary>"},
            ],
        },
        {
            "match": "blue",
            "turns": [
                write("style.css", "h1 { color: blue }"),
                {"text": "<task_summary>Made it blue.</task_summary>"},
            ],
        },
    ],
}


@contextlib.contextmanager
def worker_processes(
    settings: Settings, fake: FakeOpenAI
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start `qai worker` processes with ``start()``; every one (and its sandboxes) is killed
    at the end."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def start_worker(
    settings: Settings, fake: FakeOpenAI, database_url: str, log: Path
) -> subprocess.Popen[bytes]:
    env = base_env(
        database_url,
        settings.data_dir,
        QAI_MODEL="openai:gpt-fake",
        OPENAI_BASE_URL=fake.base_url,
        OPENAI_API_KEY="sk-test",
        QAI_WORKER_ID="durability-test-worker",
        QAI_QUEUE_POLL_SECONDS="0.05",
        QAI_SANDBOX_ISOLATION="bwrap" if HAVE_BWRAP else "none",
        QAI_MODEL_TIMEOUT_SECONDS="60",
        QAI_LOG_LEVEL="info",
    )
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "qai", "worker"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def wait_until(condition: object, *, what: str, within: float, log: Path) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; worker log:\n{tail(log)}")


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]


@pytest.fixture
def fake_openai(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", True)
    with FakeOpenAI(SCRIPT) as fake:
        yield fake


async def test_a_killed_worker_resumes_the_run_without_redoing_finished_steps(
    settings: Settings, database_url: str, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    # Committed while no worker runs; the events are lost as in a crash before the enqueue.
    project_id, first = await create_project("Build a counter")
    async with session_scope() as session:
        second = await messages.create_user_message(session, project_id, "Now make it blue")
    events.clear_undelivered()
    log = tmp_path / "worker.log"

    def requests_for(conversation: int, turn: int) -> list[dict[str, object]]:
        return [
            r
            for r in fake_openai.requests
            if r.get("conversation") == conversation and r.get("turn") == turn
        ]

    try:
        with worker_processes(settings, fake_openai) as processes:
            processes.append(start_worker(settings, fake_openai, database_url, log))
            await wait_until(
                lambda: requests_for(0, 2), what="the third model request", within=60, log=log
            )
            processes[0].send_signal(signal.SIGKILL)
            processes[0].wait(timeout=10)
            async with read_session() as session:
                assert await runs.answer_of(session, first) is None

            processes.append(start_worker(settings, fake_openai, database_url, log))
            first_answer = await wait_for_answer(first, within=90)
            second_answer = await wait_for_answer(second.id, within=60)
    finally:
        drop_system_database(database_url)

    assert first_answer.type is MessageType.RESULT, first_answer.content
    assert first_answer.fragment is not None
    assert set(first_answer.fragment.files) == {"index.html", "app.js"}
    # Each model turn was asked once, except the one in flight when the worker died.
    assert [len(requests_for(0, turn)) for turn in range(5)] == [1, 1, 2, 1, 1]
    # The terminal command ran once: the sandbox's log has one line, not two.
    read_back = requests_for(0, 4)[0]["tool_results"]
    assert isinstance(read_back, list)
    assert json.loads(read_back[-1]) == [{"path": "steps.log", "content": "ran\n"}]
    async with read_session() as session:
        steps = (await runs.get_run(session, first)).steps
    assert [(s.kind, s.attempts) for s in steps] == [
        ("write", 1),
        ("terminal", 1),
        ("write", 1),
        ("read", 1),
    ]
    # The follow-up waited for the first run (same project), then built on its files.
    assert second_answer.type is MessageType.RESULT, second_answer.content
    assert second_answer.fragment is not None
    assert set(second_answer.fragment.files) == {"index.html", "app.js", "style.css"}
    await assert_one_answer_each()
