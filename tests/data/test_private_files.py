"""Private files: the data directory and everything QAI writes in it (its database, DBOS's,
their write-ahead logs and journals, sandbox records) is readable by QAI's user alone, also when
an earlier QAI left them 0644 under a 0755 directory. The sandbox and template subtrees keep the
modes their own uids need, below the data directory that keeps everyone else out."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import httpx

from tests.live import live_server

# Below these, modes are the sandboxes' business (their uids own their directories).
SANDBOX_SUBTREES = ("sandboxes", "cache")


def too_open(data_dir: Path) -> list[str]:
    """Everything QAI made in ``data_dir`` that a user other than QAI's could read or list."""
    found = []
    for path in [data_dir, *sorted(data_dir.rglob("*"))]:
        relative = path.relative_to(data_dir)
        if relative.parts and relative.parts[0] in SANDBOX_SUBTREES and len(relative.parts) > 1:
            continue
        if path.name.startswith("server-") and path.suffix == ".log":
            continue  # written by the test that started the server
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            continue
        if mode & 0o077:
            found.append(f"{relative or '.'}: {stat.filemode(mode)}")
    return found


def make_public(data_dir: Path) -> None:
    """As an earlier QAI (default umask 022) left them."""
    os.chmod(data_dir, 0o755)
    for path in data_dir.iterdir():
        if path.is_file():
            os.chmod(path, 0o644)


def exercise(url: str) -> None:
    """Writes to both databases: a project, its message, its run (answered with an error:
    no model is configured)."""
    created = httpx.post(f"{url}/api/projects", json={"value": "Build a private page"})
    assert created.status_code in (200, 201), created.text
    project_id = created.json()["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        page = httpx.get(f"{url}/api/projects/{project_id}/messages").json()
        if len(page["items"]) >= 2:
            return
        time.sleep(0.2)
    raise AssertionError("the message got no answer")


def test_the_data_directory_is_private_after_a_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    url = f"sqlite:///{data_dir / 'qai.db'}"
    with live_server(url, data_dir, QAI_SANDBOX_ISOLATION="none") as server:
        exercise(server.url)
        made = {path.name for path in data_dir.iterdir()}
        assert {"qai.db", "dbos.sqlite"} <= made, made
        assert too_open(data_dir) == []
    make_public(data_dir)
    assert too_open(data_dir) != []
    with live_server(url, data_dir, QAI_SANDBOX_ISOLATION="none") as server:
        assert too_open(data_dir) == []
        exercise(server.url)
        assert too_open(data_dir) == []
