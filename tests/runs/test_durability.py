"""A `qai worker` process killed with SIGKILL in the middle of a run, then restarted: the run
resumes where it was and finishes; no step that had finished runs again. The messages were
committed while no worker ran and never enqueued: start-up repair gives them their runs."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from qai.context import AppContext
from qai.messages import service as messages
from qai.messages.models import MessageType
from qai.runs import service as runs
from qai.settings import Settings
from tests.agent.support import (
    assert_one_answer_each,
    create_project,
    drop_system_database,
    wait_for_answer,
)
from tests.fakes.openai_server import FakeOpenAI
from tests.runs.workers import (
    counter_turns,
    fake_model,
    requests_for,
    start_worker,
    tool,
    wait_until,
    worker_processes,
    write,
)

SCRIPT = {
    "api_key": "sk-test",
    "conversations": [
        {
            "match": "counter",
            "turns": [
                # The worker is killed while it waits for the third reply.
                *counter_turns(hang=30),
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


@pytest.fixture
def fake_openai(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    with fake_model(SCRIPT, monkeypatch) as fake:
        yield fake


async def test_a_killed_worker_resumes_the_run_without_redoing_finished_steps(
    settings: Settings,
    context: AppContext,
    database_url: str,
    fake_openai: FakeOpenAI,
    tmp_path: Path,
) -> None:
    # Committed while no worker runs; the events are lost as in a crash before the enqueue.
    db = context.database
    project_id, first = await create_project(db, "Build a counter")
    async with db.session() as session:
        second = await messages.create_user_message(session, project_id, "Now make it blue")
    context.events.take_undelivered()
    log = tmp_path / "worker.log"

    def requests(conversation: int, turn: int) -> list[dict[str, object]]:
        return requests_for(fake_openai, conversation, turn)

    def worker() -> subprocess.Popen[bytes]:
        return start_worker(
            fake_openai, database_url, settings.data_dir, log, worker_id="durability-test-worker"
        )

    try:
        with worker_processes() as processes:
            processes.append(worker())
            await wait_until(
                lambda: requests(0, 2), what="the third model request", within=60, logs=[log]
            )
            processes[0].send_signal(signal.SIGKILL)
            processes[0].wait(timeout=10)
            async with db.read() as session:
                assert await runs.answer_of(session, first) is None

            processes.append(worker())
            first_answer = await wait_for_answer(db, first, within=90)
            second_answer = await wait_for_answer(db, second.id, within=60)
    finally:
        drop_system_database(database_url)

    assert first_answer.type is MessageType.RESULT, first_answer.content
    assert first_answer.fragment is not None
    assert set(first_answer.fragment.files) == {"index.html", "app.js"}
    # Each model turn was asked once, except the one in flight when the worker died.
    assert [len(requests(0, turn)) for turn in range(5)] == [1, 1, 2, 1, 1]
    # The terminal command ran once: the sandbox's log has one line, not two.
    read_back = requests(0, 4)[0]["tool_results"]
    assert isinstance(read_back, list)
    assert json.loads(read_back[-1]) == [{"path": "steps.log", "content": "ran\n"}]
    async with db.read() as session:
        steps = (await runs.get_run(session, first)).steps
    assert [(s.kind, s.attempts) for s in steps if s.kind != "model"] == [
        ("write", 1),
        ("terminal", 1),
        ("write", 1),
        ("read", 1),
    ]
    # A model step per turn, recorded once each (replayed from checkpoints on resume), all ended.
    models = [s for s in steps if s.kind == "model"]
    assert [s.label for s in models] == [f"Asking the model (turn {n})" for n in range(1, 6)]
    assert all(s.outcome is not None and s.input_tokens for s in models)
    assert [s.seq for s in steps] == list(range(1, len(steps) + 1))
    # The follow-up waited for the first run (same project), then built on its files.
    assert second_answer.type is MessageType.RESULT, second_answer.content
    assert second_answer.fragment is not None
    assert set(second_answer.fragment.files) == {"index.html", "app.js", "style.css"}
    await assert_one_answer_each(db)
