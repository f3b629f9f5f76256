"""What the CLI says beside its tables, in real processes: the original's message types, which
port `qai sandbox list` assumes for preview addresses, and why it cannot start."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.agent.support import HAVE_BWRAP
from tests.live import QAI_SOURCE, live_server


def qai(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qai", *args],
        env={
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/root"),
            "PYTHONPATH": QAI_SOURCE,
            **env,
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_messages_list_says_user_messages_have_the_original_type(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with live_server(f"sqlite:///{data}/qai.db", data) as server:
        created = qai("projects", "create", "a kanban board", "--json", QAI_URL=server.url)
        assert created.returncode == 0, created.stderr
        project_id = created.stdout.split('"id": "', 1)[1].split('"', 1)[0]
        table = qai("messages", "list", project_id, QAI_URL=server.url).stdout
    assert "USER" in table
    assert "USER messages have type RESULT, as in the original app" in table


def test_sandbox_list_says_which_port_its_preview_addresses_use(tmp_path: Path) -> None:
    env = {
        "QAI_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": QAI_SOURCE,
        "QAI_SANDBOX_ISOLATION": "bwrap" if HAVE_BWRAP else "none",
    }
    source = tmp_path / "app"
    source.mkdir()
    (source / "index.html").write_text("<h1>hi</h1>")
    started = subprocess.Popen(
        [sys.executable, "-m", "qai", "sandbox", "start", "web", "--name", "port-note",
         "--from", str(source)],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert started.stdout is not None
        first = started.stdout.readline()
        assert first.startswith("Sandbox port-note (web) is ready."), first
        listed = qai("sandbox", "list", **env)
        exported = qai("sandbox", "list", **env, QAI_PORT="9123")
    finally:
        started.kill()
        started.communicate(timeout=10)
    assert "http://port-note.preview.localhost:8000" in listed.stdout
    assert "Preview addresses use port 8000 (QAI_PORT in this shell)" in listed.stderr
    assert "http://port-note.preview.localhost:9123" in exported.stdout
    assert "Preview addresses use port 9123" in exported.stderr


@pytest.mark.parametrize("command", [["serve", "--port", "1"], ["worker"], ["db", "upgrade"]])
def test_a_database_that_cannot_be_opened_is_said_in_one_line(
    command: list[str], tmp_path: Path
) -> None:
    """A new user's typo in DATABASE_URL: one plain line and exit status 1, no traceback. (A
    closed port stands for every reason; the message carries the driver's own words.)"""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    done = qai(
        *command,
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/qai",
        QAI_DATA_DIR=str(tmp_path / "data"),
    )
    assert done.returncode == 1, done.stderr
    assert "the database could not be opened" in done.stderr
    assert "Check DATABASE_URL" in done.stderr
    assert "Traceback" not in done.stderr
