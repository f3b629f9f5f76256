"""The original's own client against a real QAI: ``@trpc/client`` (httpBatchLink) and
``superjson`` from npm, pinned in tests/trpc_client/package-lock.json, run by Node.

``npm ci`` runs once per lock file into ``.cache/trpc_client`` (ignored by git); a lock held
while installing keeps two test runs from installing over each other.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from qai.db import Database
from qai.messages.service import FragmentDraft, save_assistant_result
from tests.live import live_server
from tests.needs import require_node

SOURCE = Path(__file__).resolve().parents[1] / "trpc_client"
CACHE = Path(__file__).resolve().parents[2] / ".cache" / "trpc_client"
FILES = ("package.json", "package-lock.json", ".npmrc", "check.mjs")


@pytest.fixture(scope="module")
def client_dir() -> Path:
    """The client's directory with its packages installed."""
    _, npm = require_node()
    CACHE.mkdir(parents=True, exist_ok=True)
    lock = (SOURCE / "package-lock.json").read_bytes()
    stamp = hashlib.sha256(lock).hexdigest()
    with (CACHE.parent / "trpc_client.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        for name in FILES:
            shutil.copyfile(SOURCE / name, CACHE / name)
        marker = CACHE / "node_modules" / ".qai-lock-sha256"
        if not marker.exists() or marker.read_text() != stamp:
            installed = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=CACHE,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert installed.returncode == 0, installed.stdout + installed.stderr
            marker.write_text(stamp)
    return CACHE


@pytest.fixture
def server_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    with live_server(database_url, tmp_path / "data") as server:
        yield server.url


def run_client(client_dir: Path, url: str, fragment_project: str) -> dict:
    node, _ = require_node()
    done = subprocess.run(
        [node, "check.mjs", url, fragment_project],
        cwd=client_dir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict = json.loads(done.stdout)
    return result


def prompt_issue(message: str) -> str:
    return f'"message": "{message}"'


async def test_the_original_client_works_against_qai(
    client_dir: Path, server_url: str, database: Database
) -> None:
    # A project whose history holds a fragment, as a run writes it.
    async with httpx.AsyncClient(base_url=server_url) as http:
        created = await http.post("/api/projects", json={"value": "a kanban board"})
    assert created.status_code == 201, created.text
    with_fragment = created.json()["id"]
    async with database.session() as session:
        await save_assistant_result(
            session,
            with_fragment,
            "Here is your board.",
            FragmentDraft(
                title="Board",
                sandbox_url="http://f.preview.localhost",
                files={"index.html": "<h1>Board</h1>"},
                summary="A board.",
            ),
        )

    seen = run_client(client_dir, server_url, with_fragment)

    project = seen["created"]
    assert list(project) == ["id", "name", "createdAt", "updatedAt"]
    assert seen["createdIsDate"] is True
    async with httpx.AsyncClient(base_url=server_url) as http:
        rest = (await http.get(f"/api/projects/{project['id']}")).json()
    assert project["createdAt"] == {"date": rest["createdAt"]}
    # (updatedAt moves as messages arrive: the project is touched.)
    same = ("id", "name", "createdAt")
    assert {k: seen["getOne"][k] for k in same} == {k: project[k] for k in same}
    assert "date" in seen["getOne"]["updatedAt"]
    assert project["id"] in [p["id"] for p in seen["getMany"]]
    assert seen["message"]["content"] == "make it blue"
    assert seen["message"]["createdAt"]["date"].endswith("Z")
    assert seen["historyDates"] is True
    assert [m["content"] for m in seen["history"]][:1] == ["a kanban board"]
    assert seen["message"]["id"] in [m["id"] for m in seen["history"]]
    assert all(m["fragment"] is None for m in seen["history"] if m["role"] == "USER")

    # (The server has no model: the run of the first message may have answered with an error.)
    [fragment] = [m["fragment"] for m in seen["fragmentHistory"] if m["fragment"] is not None]
    assert fragment["files"] == {"index.html": "<h1>Board</h1>"}
    assert fragment["title"] == "Board"
    # The original's fragment, field for field (QAI's own fields are its JSON API's).
    assert set(fragment) == {
        *("id", "messageId", "sandboxUrl", "title", "files", "summary", "createdAt", "updatedAt")
    }
    assert seen["fragmentDates"] is True

    # Two queries in one request, as httpBatchLink batches them.
    [batched] = seen["batch"]["requests"]
    assert batched["method"] == "GET"
    assert "/api/trpc/projects.getOne,messages.getMany?batch=1&input=" in batched["url"]
    assert {k: seen["batch"]["getOne"][k] for k in same} == {k: project[k] for k in same}
    history_ids = [m["id"] for m in seen["history"]]
    assert [m["id"] for m in seen["batch"]["history"]][: len(history_ids)] == history_ids
    assert seen["mixedBatch"] == {
        "requests": 1,
        "statuses": ["fulfilled", "rejected"],
        "notFound": "NOT_FOUND",
    }

    errors = seen["errors"]
    expected = {
        "idRequired": ("BAD_REQUEST", 400, "projects.getOne", "Project ID is required"),
        "notFound": ("NOT_FOUND", 404, "projects.getOne", "Project not found"),
        "promptRequired": ("BAD_REQUEST", 400, "projects.create", "Prompt is required"),
        "promptTooLong": (
            "BAD_REQUEST",
            400,
            "projects.create",
            "Prompt must be less than 1000 characters",
        ),
        "historyIdRequired": ("BAD_REQUEST", 400, "messages.getMany", "Project ID is required"),
        "messagePromptRequired": ("BAD_REQUEST", 400, "messages.create", "Prompt is required"),
        "messageToUnknownProject": ("NOT_FOUND", 404, "messages.create", "Project not found"),
    }
    for name, (code, status, path, text) in expected.items():
        got = errors[name]
        assert (got["code"], got["httpStatus"], got["path"]) == (code, status, path), name
        assert text in got["message"], name
        if code == "NOT_FOUND":
            assert got["message"] == text
            assert got["shapeCode"] == -32004
        else:
            assert prompt_issue(text) in got["message"], name
            assert got["shapeCode"] == -32600
