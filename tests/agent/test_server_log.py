"""What `qai serve` logs, read from a real server's log: start-up without the libraries' chatter,
and a Ctrl-C during a run without the run's prompt."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import httpx

from tests.agent.support import HAVE_BWRAP
from tests.fakes.openai_server import FakeOpenAI
from tests.live import live_server

PROMPT = "Build a recipe box " + "with tags and a search " * 40
SCRIPT = {
    "conversations": [
        {
            "match": "",
            "turns": [
                {
                    "tool_calls": [
                        {
                            "name": "createOrUpdateFiles",
                            "arguments": {"files": [{"path": "index.html", "content": "hi"}]},
                        }
                    ]
                },
                # Interrupted while the model "thinks": the step in flight is a model request,
                # whose call holds the whole conversation.
                {"text": "Done. <task_summary>A recipe box.</task_summary>", "delay": 60},
            ],
        }
    ]
}


def wait_for_step(url: str, project_id: str, kind: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        runs = httpx.get(f"{url}/api/projects/{project_id}/runs", timeout=10).json()["items"]
        if runs:
            run = httpx.get(f"{url}/api/runs/{runs[0]['id']}", timeout=10).json()
            if any(step["kind"] == kind for step in run["steps"]):
                return
        time.sleep(0.2)
    raise AssertionError(f"no {kind} step within {within}s")


def test_start_up_is_quiet_and_ctrl_c_during_a_run_logs_ids_not_the_prompt(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    with FakeOpenAI(SCRIPT) as fake:
        env = {
            "QAI_MODEL": "openai:fake-model",
            "OPENAI_BASE_URL": fake.base_url,
            "OPENAI_API_KEY": "test",
            "QAI_ACCESS_LOG": "false",
            "QAI_SANDBOX_ISOLATION": "bwrap" if HAVE_BWRAP else "none",
        }
        with live_server(f"sqlite:///{data}/qai.db", data, **env) as server:
            start_up = server.log()
            project = httpx.post(server.url + "/api/projects", json={"value": PROMPT}, timeout=30)
            project_id = project.json()["id"]
            wait_for_step(server.url, project_id, "write")
            time.sleep(1.0)
            server.kill(signal.SIGINT)
            log = server.log()

    # DBOS's 20-odd schema migrations and the like stay below WARNING; QAI's own lines remain.
    assert "schema migration" not in start_up
    assert [line for line in start_up.splitlines() if " INFO " in line and " qai" not in line] == []
    assert "INFO    qai: QAI on http://127.0.0.1:" in start_up
    lines = log.splitlines()
    assert max(len(line) for line in lines) < 500, max(lines, key=len)[:300]
    assert "with tags and a search" not in log
    cancelled = [line for line in lines if "Asyncio task cancelled" in line]
    assert cancelled, log
    assert "functools.partial" not in log
    assert all(re.search(r"step \S+ \(workflow [0-9a-f-]{36}\)$", line) for line in cancelled)
