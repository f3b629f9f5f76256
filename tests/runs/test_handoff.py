"""The write path: a message's transaction records its run (the outbox row); the hand-off to the
durable queue happens off the request path. A process killed between the commit and the
hand-off loses no run: the next process hands it over and the message is answered exactly once.
An API-only process (`qai serve --no-worker`) leaves the hand-off to a `qai worker`, woken by
PostgreSQL's NOTIFY (or its poll on SQLite)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.live import QAI_SOURCE, base_env, live_server

STALL = str(Path(__file__).resolve().parent / "stall_handoff")


def history(url: str, project_id: str) -> list[dict[str, object]]:
    response = httpx.get(f"{url}/api/projects/{project_id}/messages", timeout=10)
    response.raise_for_status()
    items: list[dict[str, object]] = response.json()["items"]
    return items


def wait_for_answers(url: str, project_id: str, count: int, timeout: float = 30) -> float:
    """Seconds until the project's history holds ``count`` ASSISTANT messages."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        answers = [m for m in history(url, project_id) if m["role"] == "ASSISTANT"]
        if len(answers) >= count:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"no {count} answers in {timeout}s: {history(url, project_id)}")


def runs_of(url: str, project_id: str) -> list[dict[str, object]]:
    response = httpx.get(f"{url}/api/projects/{project_id}/runs", timeout=10)
    response.raise_for_status()
    items: list[dict[str, object]] = response.json()["items"]
    return items


def test_a_process_killed_after_the_commit_before_the_hand_off_loses_no_run(
    database_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    stalled = {"PYTHONPATH": f"{STALL}{os.pathsep}{QAI_SOURCE}"}
    with live_server(database_url, data, **stalled) as server:
        created = httpx.post(f"{server.url}/api/projects", json={"value": "a counter"}, timeout=10)
        assert created.status_code == 201, created.text
        project_id = created.json()["id"]
        sent = httpx.post(
            f"{server.url}/api/projects/{project_id}/messages",
            json={"value": "make it blue"},
            timeout=10,
        )
        assert sent.status_code == 201, sent.text
        # Committed, recorded as queued, never handed over.
        assert [run["status"] for run in runs_of(server.url, project_id)] == ["queued"] * 2
        time.sleep(0.3)
        assert [m["role"] for m in history(server.url, project_id)] == ["USER", "USER"]
        server.kill()
    with live_server(database_url, data, QAI_HANDOFF_POLL_SECONDS="30") as server:
        wait_for_answers(server.url, project_id, 2)
        time.sleep(0.5)  # a second answer, if one were coming
        roles = [m["role"] for m in history(server.url, project_id)]
        assert roles.count("ASSISTANT") == 2
        assert roles.count("USER") == 2
        runs = runs_of(server.url, project_id)
        assert len(runs) == 2
        assert all(run["answerMessageId"] for run in runs)


def test_an_api_only_process_leaves_the_hand_off_to_a_worker(
    database_url: str, tmp_path: Path, engine_name: str
) -> None:
    """On PostgreSQL the worker is woken by NOTIFY: its poll (30 s here) plays no part. On
    SQLite it polls (0.2 s here)."""
    data = tmp_path / "data"
    poll = "30" if engine_name == "postgres" else "0.2"
    env = base_env(database_url, data, QAI_HANDOFF_POLL_SECONDS=poll, QAI_WORKER_ID="w1")
    data.mkdir(parents=True, exist_ok=True)
    with (data / "worker.log").open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "qai", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        with live_server(database_url, data, args=("--no-worker",)) as server:
            time.sleep(3)  # the worker's first hand-off pass is over: only a wake-up helps now
            assert worker.poll() is None, (data / "worker.log").read_text()
            # Runs are background work: the worker yields the CPU to the API (QAI_WORKER_NICE).
            own = os.getpriority(os.PRIO_PROCESS, 0)
            assert os.getpriority(os.PRIO_PROCESS, worker.pid) == min(own + 10, 19)
            created = httpx.post(f"{server.url}/api/projects", json={"value": "a page"}, timeout=10)
            assert created.status_code == 201, created.text
            seconds = wait_for_answers(server.url, created.json()["id"], 1, timeout=20)
            assert seconds < 10, seconds
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=10)


@pytest.fixture(autouse=True)
def _no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    # Runs answer "No model configured" at once: a real answer, from a real run.
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "QAI_MODEL"):
        monkeypatch.delenv(name, raising=False)
