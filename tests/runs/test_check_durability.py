"""A `qai worker` killed with SIGKILL while it checks the app in the browser, then restarted:
the run resumes at the check (the one step run again), passes it and answers once."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from qai.context import AppContext
from qai.errors import RunNotFound
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
    fake_model,
    requests_for,
    start_worker,
    wait_until,
    worker_processes,
    write,
)
from tests.web.browser import require_chromium

# The page's script keeps the browser busy before the load event: the check takes seconds,
# long enough to kill the worker in the middle of it.
SLOW_PAGE = (
    "<!doctype html><html lang='en'><title>Slow</title><body><h1>Slow but fine</h1>"
    "<script>const end = Date.now() + 4000; while (Date.now() < end) {}</script></body></html>"
)
SCRIPT = {
    "api_key": "sk-test",
    "conversations": [
        {
            "match": "",
            "turns": [
                write("index.html", SLOW_PAGE),
                {"text": "<task_summary>A slow page.</task_summary>"},
            ],
        }
    ],
}


@pytest.fixture
def engine_name() -> str:
    """SQLite only: what is tested is the check's step, not the engine (slow: two workers)."""
    return "sqlite"


@pytest.fixture
def fake_openai(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    with fake_model(SCRIPT, monkeypatch) as fake:
        yield fake


async def test_a_worker_killed_during_the_check_resumes_it(
    settings: Settings,
    context: AppContext,
    database_url: str,
    fake_openai: FakeOpenAI,
    tmp_path: Path,
) -> None:
    require_chromium()
    db = context.database
    _, message_id = await create_project(db, "Build a slow page")
    context.events.take_undelivered()  # no worker yet: start-up repair gives it its run
    log = tmp_path / "worker.log"

    def worker() -> subprocess.Popen[bytes]:
        return start_worker(
            fake_openai,
            database_url,
            settings.data_dir,
            log,
            worker_id="check-durability-worker",
            QAI_CHECK_ENABLED="true",
            QAI_CHECK_TIMEOUT_SECONDS="60",
        )

    async def checking() -> bool:
        async with db.read() as session:
            if await runs.answer_of(session, message_id) is not None:
                raise AssertionError("the run answered before the check was seen")
            try:
                steps = (await runs.get_run(session, message_id)).steps
            except RunNotFound:
                return False  # not started yet
        return any(step.kind == "check" and step.finished_at is None for step in steps)

    try:
        with worker_processes() as processes:
            processes.append(worker())
            await wait_until(checking, what="the check to start", within=90, logs=[log])
            processes[0].send_signal(signal.SIGKILL)
            processes[0].wait(timeout=10)
            async with db.read() as session:
                assert await runs.answer_of(session, message_id) is None

            processes.append(worker())
            answer = await wait_for_answer(db, message_id, within=120)
    finally:
        drop_system_database(database_url)

    assert answer.type is MessageType.RESULT, answer.content
    async with db.read() as session:
        steps = (await runs.get_run(session, message_id)).steps
    # The write ran once; the check, in flight at the kill, ran again and passed; each model
    # turn was recorded once.
    assert [(s.kind, s.attempts, s.outcome and s.outcome.value) for s in steps] == [
        ("model", 1, "ok"),
        ("write", 1, "ok"),
        ("model", 1, "ok"),
        ("check", 2, "ok"),
    ]
    # No model turn was asked again.
    assert [len(requests_for(fake_openai, 0, turn)) for turn in range(2)] == [1, 1]
    assert answer.fragment is not None
    check = (await messages.get_fragment(db, answer.fragment.id)).check()
    assert check is not None
    assert check["status"] == "passed", check
    await assert_one_answer_each(db)
