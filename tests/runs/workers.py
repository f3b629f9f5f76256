"""Real `qai worker` processes for tests, driven by the fake OpenAI server's scripts."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydantic_ai import models

from tests.agent.support import HAVE_BWRAP
from tests.fakes.openai_server import FakeOpenAI
from tests.live import base_env


def tool(name: str, **arguments: object) -> dict[str, object]:
    return {"tool_calls": [{"name": name, "arguments": arguments}]}


def write(path: str, content: str) -> dict[str, object]:
    return tool("createOrUpdateFiles", files=[{"path": path, "content": content}])


def counter_turns(*, hang: float) -> list[dict[str, object]]:
    """The first three turns of building a counter: write, run a command (it appends a line to
    ``steps.log``), write; the first time the third is asked, the model takes ``hang`` seconds
    to answer (a worker is killed, or is slow, while it waits)."""
    return [
        write("index.html", "<h1>0</h1><script src='app.js'></script>"),
        tool("terminal", command="echo ran >> steps.log"),
        {**write("app.js", "let n = 0;"), "hang": hang, "hang_times": 1},
    ]


@contextlib.contextmanager
def fake_model(script: dict[str, object], monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    """The fake OpenAI server playing ``script``, model requests allowed to reach it."""
    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", True)
    with FakeOpenAI(script) as fake:
        yield fake


@contextlib.contextmanager
def worker_processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start `qai worker` processes with :func:`start_worker` into the list; every one (and its
    sandboxes) is killed at the end."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for process in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def start_worker(
    fake: FakeOpenAI,
    database_url: str,
    data_dir: Path,
    log: Path,
    *,
    worker_id: str,
    **extra_env: str,
) -> subprocess.Popen[bytes]:
    """A `qai worker` process using the fake model, in its own process group."""
    env = base_env(
        database_url,
        data_dir,
        QAI_MODEL="openai:gpt-fake",
        OPENAI_BASE_URL=fake.base_url,
        OPENAI_API_KEY="sk-test",
        QAI_WORKER_ID=worker_id,
        QAI_QUEUE_POLL_SECONDS="0.05",
        QAI_SANDBOX_ISOLATION="bwrap" if HAVE_BWRAP else "none",
        QAI_MODEL_TIMEOUT_SECONDS="60",
        QAI_LOG_LEVEL="info",
        **extra_env,
    )
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "qai", "worker"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def requests_for(fake: FakeOpenAI, conversation: int, turn: int) -> list[dict[str, object]]:
    """The model requests the fake server got for one turn of one scripted conversation."""
    return [
        r for r in fake.requests if r.get("conversation") == conversation and r.get("turn") == turn
    ]


async def wait_until(
    condition: Callable[[], object], *, what: str, within: float, logs: list[Path]
) -> None:
    """Poll ``condition`` (a function, or a coroutine function) until it is true."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        met = condition()
        if inspect.isawaitable(met):
            met = await met
        if met:
            return
        await asyncio.sleep(0.05)
    shown = "\n".join(f"--- {log.name}:\n{tail(log)}" for log in logs)
    raise AssertionError(f"timed out waiting for {what}; worker logs:\n{shown}")


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:] if log.exists() else "(no log)"
