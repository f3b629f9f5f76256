"""A worker that dies for good (SIGKILL, never restarted, its id gone with its machine): after
QAI_WORKER_DEAD_SECONDS without its heartbeat, another worker takes its run over and finishes it
from its last finished step. A worker that is alive keeps its runs, however long they take."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from qai.context import AppContext
from qai.db import Database
from qai.messages.models import MessageType
from qai.runs import service as runs
from qai.settings import Settings
from qai.workers.models import Worker
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
    wait_until,
    worker_processes,
)

# Several workers on one database: PostgreSQL's deployment.
pytestmark = pytest.mark.parametrize(
    "engine_name", [pytest.param("postgres", marks=pytest.mark.postgres)]
)

DEAD_SECONDS = "3"
HANG_SECONDS = 10  # several times DEAD_SECONDS: a live worker stays silent in no step that long

SCRIPT = {
    "api_key": "sk-test",
    "conversations": [
        {
            "match": "counter",
            "turns": [
                *counter_turns(hang=HANG_SECONDS),
                {"text": "<task_summary>A counter.</task_summary>"},
            ],
        }
    ],
}


@pytest.fixture
def fake_openai(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    with fake_model(SCRIPT, monkeypatch) as fake:
        yield fake


async def heartbeats(db: Database) -> set[str]:
    async with db.read() as session:
        return set((await session.execute(select(Worker.executor_id))).scalars())


def took_over(log: Path) -> bool:
    return log.exists() and "took over run" in log.read_text(errors="replace")


async def test_a_dead_workers_run_is_taken_over_and_answered_once(
    settings: Settings,
    context: AppContext,
    database_url: str,
    fake_openai: FakeOpenAI,
    tmp_path: Path,
) -> None:
    db = context.database
    _, message_id = await create_project(db, "Build a counter")
    context.events.take_undelivered()  # no worker runs yet: start-up repair enqueues the run
    log_a, log_b = tmp_path / "worker-a.log", tmp_path / "worker-b.log"
    try:
        with worker_processes() as processes:
            processes.append(
                start_worker(
                    fake_openai,
                    database_url,
                    tmp_path / "machine-a",
                    log_a,
                    worker_id="takeover-a",
                    QAI_WORKER_DEAD_SECONDS=DEAD_SECONDS,
                )
            )
            await wait_until(
                lambda: requests_for(fake_openai, 0, 2),
                what="worker A's third model request",
                within=60,
                logs=[log_a],
            )
            # Machine A is gone: the worker and its sandboxes die and never come back.
            os.killpg(processes[0].pid, signal.SIGKILL)
            processes[0].wait(timeout=10)
            async with db.read() as session:
                assert await runs.answer_of(session, message_id) is None

            processes.append(
                start_worker(
                    fake_openai,
                    database_url,
                    tmp_path / "machine-b",
                    log_b,
                    worker_id="takeover-b",
                    QAI_WORKER_DEAD_SECONDS=DEAD_SECONDS,
                )
            )
            answer = await wait_for_answer(db, message_id, within=120)
            assert await heartbeats(db) == {"takeover-b"}
    finally:
        drop_system_database(database_url)

    assert answer.type is MessageType.RESULT, answer.content
    assert answer.fragment is not None
    assert set(answer.fragment.files) == {"index.html", "app.js"}
    # Worker B went on from A's last checkpoint: only the turn in flight was asked again.
    assert [len(requests_for(fake_openai, 0, turn)) for turn in range(4)] == [1, 1, 2, 1]
    log = log_b.read_text(errors="replace")
    assert f"took over run {message_id} from worker takeover-a" in log
    async with db.read() as session:
        steps = (await runs.get_run(session, message_id)).steps
    assert [(s.kind, s.attempts) for s in steps if s.kind != "model"] == [
        ("write", 1),
        ("terminal", 1),
        ("write", 1),
    ]
    assert [s.kind for s in steps].count("model") == 4
    await assert_one_answer_each(db)


async def test_a_live_workers_slow_run_is_not_taken_over(
    settings: Settings,
    context: AppContext,
    database_url: str,
    fake_openai: FakeOpenAI,
    tmp_path: Path,
) -> None:
    db = context.database
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    try:
        with worker_processes() as processes:
            for name, log in zip(("a", "b"), logs, strict=True):
                processes.append(
                    start_worker(
                        fake_openai,
                        database_url,
                        tmp_path / f"machine-{name}",
                        log,
                        worker_id=f"live-{name}",
                        QAI_WORKER_DEAD_SECONDS=DEAD_SECONDS,
                    )
                )

            async def both_alive() -> bool:
                return await heartbeats(db) == {"live-a", "live-b"}

            await wait_until(both_alive, what="both workers' heartbeats", within=60, logs=logs)
            # Committed while both run; the event is lost, so a worker's repair enqueues it.
            _, message_id = await create_project(db, "Build a counter")
            context.events.take_undelivered()
            answer = await wait_for_answer(db, message_id, within=120)
            assert await heartbeats(db) == {"live-a", "live-b"}
    finally:
        drop_system_database(database_url)

    assert answer.type is MessageType.RESULT, answer.content
    # The slow turn was asked once: its worker was never taken for dead.
    assert [len(requests_for(fake_openai, 0, turn)) for turn in range(4)] == [1, 1, 1, 1]
    assert not any(took_over(log) for log in logs)
    await assert_one_answer_each(db)
