"""`qai sandbox ...` in real processes: one starts a sandbox, others list, use and stop it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.bwrap


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "QAI_DATA_DIR": str(tmp_path / "data")}


def qai(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qai", "sandbox", *args],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.fixture
def started(env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    source = tmp_path / "app"
    source.mkdir()
    (source / "index.html").write_text("<h1>from the cli</h1>")
    process = subprocess.Popen(
        [sys.executable, "-m", "qai", "sandbox", "start", "web", "--name", "cli-demo",
         "--from", str(source)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("Sandbox cli-demo (web) is ready."), first + process.stderr.read()
    yield process
    if process.poll() is None:
        process.kill()
    process.communicate(timeout=10)


def test_start_list_exec_stop(env: dict[str, str], started: subprocess.Popen[str]) -> None:
    listed = qai(env, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [info] = json.loads(listed.stdout)
    assert (info["name"], info["template"], info["status"]) == ("cli-demo", "web", "ready")
    assert info["owner_pid"] == started.pid
    assert info["preview_url"] == "http://cli-demo.preview.localhost:8000"
    table = qai(env, "list")
    assert table.stdout.splitlines()[0].split() == [
        "NAME", "TEMPLATE", "STATUS", "STARTED", "LAST", "USED", "PREVIEW",
    ]  # fmt: skip
    assert "cli-demo" in table.stdout

    ran = qai(env, "exec", "cli-demo", "cat index.html; echo oops >&2; exit 3")
    assert (ran.returncode, ran.stdout, ran.stderr) == (3, "<h1>from the cli</h1>", "oops\n")
    as_json = json.loads(qai(env, "exec", "cli-demo", "echo hi", "--json").stdout)
    assert as_json == {
        "exit_code": 0,
        "stdout": "hi\n",
        "stderr": "",
        "timed_out": False,
        "truncated": False,
    }
    slow = qai(env, "exec", "cli-demo", "sleep 30", "--timeout", "0.3")
    assert slow.returncode == 124
    assert "timed out" in slow.stderr

    stopped = qai(env, "stop", "cli-demo")
    assert stopped.stdout.strip() == "Stopped cli-demo."
    out, _ = started.communicate(timeout=15)
    assert started.returncode == 0
    assert "Sandbox cli-demo stopped." in out
    assert qai(env, "stop", "cli-demo").stdout.strip() == "cli-demo was not running."
    assert json.loads(qai(env, "list", "--json").stdout) == []


def test_exec_in_a_missing_sandbox(env: dict[str, str]) -> None:
    missing = qai(env, "exec", "nobody", "true")
    assert missing.returncode == 1
    assert "No running sandbox is named 'nobody'" in missing.stderr
    bad = qai(env, "start", "rails")
    assert bad.returncode == 1
    assert "BAD_REQUEST: unknown template 'rails'" in bad.stderr


def test_prepare(env: dict[str, str]) -> None:
    web = qai(env, "prepare", "web")
    assert web.stdout.strip() == "Template web has nothing to prepare."
    listing = qai(env, "prepare")
    assert "web" in listing.stdout
    assert "needs `qai sandbox prepare nextjs`" in listing.stdout
