"""Versions through a real server: numbering, restore, edit, fork, compare, the chosen version
of a follow-up, downloads, and `git clone` with the real git client."""

from __future__ import annotations

import io
import shutil
import sqlite3
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from qai.settings import default_data_dir
from tests.live import LiveServer, live_server
from tests.sandbox.conftest import REQUIRE_NEXTJS, prepared_nextjs_cache
from tests.versions.support import seed_project

V1 = {"index.html": "<h1>Count</h1>\n<script src='app.js'></script>\n", "app.js": "let n = 0;\n"}
MISSING = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def server(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("versions")
    database = directory / "qai.db"
    shutil.copyfile(sqlite_template, database)
    with live_server(
        f"sqlite:///{database}", directory / "data", QAI_SANDBOX_ISOLATION="none"
    ) as running:
        yield running


@pytest.fixture(scope="module")
def database_path(server: LiveServer) -> Path:
    return Path(server.log_path).parent.parent / "qai.db"


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture
def project(database_path: Path) -> tuple[str, str]:
    return seed_project(f"sqlite:///{database_path}", database_path.parent / "data", V1)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    return error


def edit(http: httpx.Client, fragment_id: str, files: dict[str, str | None]) -> httpx.Response:
    return http.post(f"/api/fragments/{fragment_id}/edit", json={"files": files})


def test_edit_and_restore_make_new_numbered_versions(
    http: httpx.Client, project: tuple[str, str], database_path: Path
) -> None:
    project_id, v1 = project
    started = time.perf_counter()
    edited = edit(http, v1, {"app.js": "let n = 1;\n", "./style.css": "h1 { color: red }\n"})
    assert edited.status_code == 201, edited.text
    body = edited.json()
    assert body["role"] == "ASSISTANT"
    assert body["type"] == "RESULT"
    fragment = body["fragment"]
    assert fragment["files"] == {**V1, "app.js": "let n = 1;\n", "style.css": "h1 { color: red }\n"}
    assert fragment["version"]["number"] == 2
    assert fragment["version"]["origin"] == "edit"
    assert fragment["version"]["basedOn"] == v1
    assert fragment["sandboxUrl"].startswith(f"http://{fragment['id']}.preview.localhost:")
    v2 = fragment["id"]

    deleted = edit(http, v2, {"style.css": None})
    assert deleted.status_code == 201, deleted.text
    assert "style.css" not in deleted.json()["fragment"]["files"]

    restored = http.post(f"/api/fragments/{v1}/restore")
    assert restored.status_code == 201, restored.text
    body = restored.json()
    assert body["content"].startswith("Restored v1")
    assert body["fragment"]["files"] == V1
    assert body["fragment"]["version"] | {"createdAt": None} == {
        "number": 4,
        "fragmentId": body["fragment"]["id"],
        "messageId": body["id"],
        "projectId": project_id,
        "title": "Counter",
        "summary": None,
        "createdAt": None,
        "origin": "restore",
        "basedOn": v1,
        "author": None,
        "check": None,
        "unfinished": False,
        "prompt": None,
    }
    print(f"edit+delete+restore: {time.perf_counter() - started:.3f}s")

    # The history holds every version, in order; restore added, never removed.
    listed = http.get(f"/api/projects/{project_id}/versions").json()
    assert [(v["number"], v["origin"]) for v in listed["items"]] == [
        (1, "agent"),
        (2, "edit"),
        (3, "edit"),
        (4, "restore"),
    ]
    assert listed["items"][0]["prompt"] is None  # seeded without a run
    assert listed["nextAfter"] is None
    first = http.get(f"/api/projects/{project_id}/versions", params={"limit": 2}).json()
    assert [v["number"] for v in first["items"]] == [1, 2]
    assert first["nextAfter"] == 2
    rest = http.get(f"/api/projects/{project_id}/versions", params={"limit": 2, "after": 2}).json()
    assert [v["number"] for v in rest["items"]] == [3, 4]
    one = http.get(f"/api/fragments/{v2}/version").json()
    assert (one["number"], one["origin"]) == (2, "edit")
    history = http.get(f"/api/projects/{project_id}/messages").json()["items"]
    assert [m["fragment"]["id"] for m in history if m["fragment"]][-1] == body["fragment"]["id"]

    # Open pages hear of each new version.
    with sqlite3.connect(database_path) as db:
        kinds = db.execute(
            "SELECT kind FROM qai_event WHERE project_id = ? ORDER BY id", (project_id,)
        ).fetchall()
    assert [kind for (kind,) in kinds].count("message.created") >= 3


@pytest.mark.parametrize(
    ("files", "status", "code"),
    [
        ({"../outside.txt": "x"}, 400, "BAD_REQUEST"),
        ({"/etc/passwd": "x"}, 400, "BAD_REQUEST"),
        ({"": "x"}, 400, "BAD_REQUEST"),
        ({"a\u0000b": "x"}, 400, "BAD_REQUEST"),
        ({"gone.js": None}, 400, "BAD_REQUEST"),
        ({}, 400, "BAD_REQUEST"),
        ({"app.js": "let n = 0;\n"}, 400, "BAD_REQUEST"),  # changes nothing
        ({"index.html": None, "app.js": None}, 400, "BAD_REQUEST"),  # no file left
        ({"big.txt": "x" * 1_100_000}, 413, "PAYLOAD_TOO_LARGE"),
    ],
)
def test_a_bad_edit_is_refused_in_the_error_shape(
    http: httpx.Client,
    project: tuple[str, str],
    files: dict[str, str | None],
    status: int,
    code: str,
) -> None:
    _, v1 = project
    assert_error(edit(http, v1, files), status, code)


def test_bad_ids_and_bodies_are_refused(http: httpx.Client, project: tuple[str, str]) -> None:
    project_id, v1 = project
    for verb in ("restore", "fork"):
        assert_error(http.post(f"/api/fragments/{MISSING}/{verb}"), 404, "NOT_FOUND")
    assert_error(edit(http, MISSING, {"a.js": "x"}), 404, "NOT_FOUND")
    assert_error(http.get(f"/api/fragments/{MISSING}/diff"), 404, "NOT_FOUND")
    assert_error(http.get(f"/api/fragments/{MISSING}/version"), 404, "NOT_FOUND")
    assert_error(http.get(f"/api/projects/{MISSING}/versions"), 404, "NOT_FOUND")
    assert_error(
        http.post(f"/api/fragments/{v1}/edit", json={"files": ["a.js"]}), 400, "BAD_REQUEST"
    )
    assert_error(
        http.post(f"/api/fragments/{v1}/edit", json={"files": {"a.js": 3}}), 400, "BAD_REQUEST"
    )
    assert_error(
        http.get(f"/api/projects/{project_id}/versions", params={"after": -1}), 400, "BAD_REQUEST"
    )


def test_a_deleted_projects_versions_are_gone(http: httpx.Client, project: tuple[str, str]) -> None:
    project_id, v1 = project
    assert http.delete(f"/api/projects/{project_id}").status_code == 204
    assert_error(http.post(f"/api/fragments/{v1}/restore"), 404, "NOT_FOUND")
    assert_error(edit(http, v1, {"app.js": "x"}), 404, "NOT_FOUND")
    assert_error(http.post(f"/api/fragments/{v1}/fork"), 404, "NOT_FOUND")
    assert_error(
        http.get(f"/projects/{project_id}.git/info/refs?service=git-upload-pack"), 404, "NOT_FOUND"
    )


def test_fork_starts_a_new_project_with_that_version(
    http: httpx.Client, project: tuple[str, str]
) -> None:
    project_id, v1 = project
    v2 = edit(http, v1, {"app.js": "let n = 2;\n"}).json()["fragment"]["id"]
    forked = http.post(f"/api/fragments/{v1}/fork")
    assert forked.status_code == 201, forked.text
    new = forked.json()
    assert new["id"] != project_id
    assert new["template"] == "web"
    assert new["name"].endswith("(fork)")
    items = http.get(f"/api/projects/{new['id']}/messages").json()["items"]
    assert len(items) == 1
    assert items[0]["role"] == "ASSISTANT"
    assert items[0]["content"].startswith("Forked from v1 of ")
    assert items[0]["fragment"]["files"] == V1
    versions = http.get(f"/api/projects/{new['id']}/versions").json()["items"]
    assert [(v["number"], v["origin"], v["basedOn"]) for v in versions] == [(1, "fork", v1)]
    # The source project is untouched.
    assert len(http.get(f"/api/projects/{project_id}/versions").json()["items"]) == 2
    assert v2


def test_compare_against_the_previous_or_any_version(
    http: httpx.Client, project: tuple[str, str], database_path: Path
) -> None:
    _, v1 = project
    v2 = edit(http, v1, {"app.js": "let n = 0;\nn += 1;\n", "new.css": "a{}\n", "index.html": None})
    v2_id = v2.json()["fragment"]["id"]
    compared = http.get(f"/api/fragments/{v2_id}/diff").json()
    assert compared["version"]["number"] == 2
    assert compared["against"]["fragmentId"] == v1
    files = {f["path"]: f for f in compared["files"]}
    assert {path: f["status"] for path, f in files.items()} == {
        "app.js": "changed",
        "index.html": "removed",
        "new.css": "added",
    }
    assert files["app.js"]["additions"] == 1
    assert files["app.js"]["deletions"] == 0
    assert "+n += 1;\n" in files["app.js"]["diff"]
    assert files["app.js"]["diff"].startswith("--- a/app.js\n+++ b/app.js\n")
    first = http.get(f"/api/fragments/{v1}/diff").json()
    assert first["against"] is None
    assert {f["status"] for f in first["files"]} == {"added"}
    nothing = http.get(f"/api/fragments/{v2_id}/diff", params={"against": "none"}).json()
    assert nothing["against"] is None
    assert {f["status"] for f in nothing["files"]} == {"added"}
    back = http.get(f"/api/fragments/{v1}/diff", params={"against": v2_id}).json()
    assert {f["path"]: f["status"] for f in back["files"]}["new.css"] == "removed"
    _, other = seed_project(f"sqlite:///{database_path}", database_path.parent / "data", V1)
    assert_error(
        http.get(f"/api/fragments/{v1}/diff", params={"against": other}), 400, "BAD_REQUEST"
    )


def test_a_message_may_name_the_version_it_builds_on(
    http: httpx.Client, project: tuple[str, str], database_path: Path
) -> None:
    project_id, v1 = project
    sent = http.post(
        f"/api/projects/{project_id}/messages", json={"value": "make it blue", "fragmentId": v1}
    )
    assert sent.status_code == 201, sent.text
    with sqlite3.connect(database_path) as db:
        chosen = db.execute(
            "SELECT fragment_id FROM qai_chosen_version WHERE message_id = ?", (sent.json()["id"],)
        ).fetchall()
    assert chosen == [(v1,)]
    _, other = seed_project(f"sqlite:///{database_path}", database_path.parent / "data", V1)
    url = f"/api/projects/{project_id}/messages"
    error = assert_error(
        http.post(url, json={"value": "x", "fragmentId": other}), 400, "BAD_REQUEST"
    )
    assert error["issues"][0]["path"] == ["fragmentId"]
    assert_error(http.post(url, json={"value": "x", "fragmentId": MISSING}), 404, "NOT_FOUND")


def test_the_download_holds_the_whole_app_and_how_to_run_it(
    http: httpx.Client, project: tuple[str, str]
) -> None:
    _, v1 = project
    response = http.get(f"/fragments/{v1}/download")
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = set(archive.namelist())
    assert {"index.html", "app.js", "style.css", "script.js", "README.md"} <= names
    assert (
        archive.read("index.html").decode() == V1["index.html"]
    )  # the version's, not the starter's
    assert "python3 -m http.server" in archive.read("README.md").decode()


def fetch_preview(port: int, name: str, timeout: float = 60.0) -> httpx.Response:
    """Python does not resolve *.localhost: connect to 127.0.0.1 and send the preview's Host."""
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(
            f"http://127.0.0.1:{port}/",
            headers={"Host": f"{name}.preview.localhost:{port}"},
            timeout=30,
        )
        if response.status_code != 503 or time.monotonic() > deadline:
            return response
        time.sleep(0.3)


def test_the_project_preview_address_follows_the_newest_version(
    http: httpx.Client, server: LiveServer, project: tuple[str, str]
) -> None:
    project_id, v1 = project
    first = fetch_preview(server.port, project_id)
    assert first.status_code == 200, first.text[:300]
    assert first.text == V1["index.html"]
    v2 = edit(http, v1, {"index.html": "<h1>Second</h1>\n"}).json()["fragment"]["id"]
    assert fetch_preview(server.port, project_id).text == "<h1>Second</h1>\n"
    http.post(f"/api/fragments/{v1}/restore").raise_for_status()
    assert fetch_preview(server.port, project_id).text == V1["index.html"]
    # Each version's own address stays.
    assert fetch_preview(server.port, v2).text == "<h1>Second</h1>\n"
    assert fetch_preview(server.port, MISSING).status_code == 404


def git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd or "/tmp"), "GIT_TERMINAL_PROMPT": "0"},
        timeout=60,
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_clone_gives_one_commit_per_version(
    http: httpx.Client, server: LiveServer, project: tuple[str, str], tmp_path: Path
) -> None:
    project_id, v1 = project
    v2 = edit(http, v1, {"src/deep/util.js": "export const x = 1;\n"}).json()["fragment"]["id"]
    http.post(f"/api/fragments/{v1}/restore")
    latest = edit(http, v2, {"app.js": "let n = 3;\n"}).json()["fragment"]
    url = f"{server.url}/projects/{project_id}.git"

    cloned = git("clone", url, str(tmp_path / "app"), cwd=tmp_path)
    assert cloned.returncode == 0, cloned.stderr
    work = tmp_path / "app"
    log = git("log", "--format=%an|%s", cwd=work).stdout.splitlines()
    assert len(log) == 4
    assert log[0].startswith("QAI|Edited by hand from v2")
    assert log[1].startswith("QAI|Restored v1")
    files = {
        path.relative_to(work).as_posix(): path.read_text()
        for path in work.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(work).parts
    }
    assert files == latest["files"]
    assert git("fsck", cwd=work).returncode == 0

    # A fetch after a new version brings exactly it.
    http.post(f"/api/fragments/{v1}/restore")
    assert git("pull", "--ff-only", cwd=work).returncode == 0
    assert len(git("log", "--format=%s", cwd=work).stdout.splitlines()) == 5
    # Read-only: a push is refused.
    (work / "x.txt").write_text("x")
    git("add", "x.txt", cwd=work)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-m", "x", cwd=work)
    assert git("push", cwd=work).returncode != 0


NEXT_PAGE = """"use client";

import { useState } from "react";
import { Plus } from "lucide-react";
import { cn } from "@/lib/utils";

export default function Home() {
  const [count, setCount] = useState(0);
  return (
    <main className={cn("flex min-h-screen items-center justify-center", count > 3 && "bg-teal-50")}>
      <button type="button" onClick={() => setCount(count + 1)} className="rounded px-4 py-2">
        <Plus aria-hidden="true" /> Clicked {count} times
      </button>
    </main>
  );
}
"""


@pytest.mark.nextjs
@pytest.mark.timeout(900)
def test_a_nextjs_download_installs_and_builds(
    http: httpx.Client, database_path: Path, tmp_path: Path
) -> None:
    """The zip is the whole app: `npm ci && next build` accept it as it is (installing from the
    prepared template's npm cache, so nothing new is downloaded)."""
    npm_cache = default_data_dir() / "cache" / "npm"
    if prepared_nextjs_cache() is None or not npm_cache.is_dir() or shutil.which("npm") is None:
        message = "the nextjs template is not prepared: run `qai sandbox prepare nextjs`"
        if REQUIRE_NEXTJS:
            pytest.fail(message)
        pytest.skip(message)
    _, v1 = seed_project(
        f"sqlite:///{database_path}",
        database_path.parent / "data",
        {"app/page.tsx": NEXT_PAGE},
        template="nextjs",
    )
    response = http.get(f"/fragments/{v1}/download")
    assert response.status_code == 200
    app = tmp_path / "app"
    zipfile.ZipFile(io.BytesIO(response.content)).extractall(app)
    assert {"package.json", "package-lock.json", "app/layout.tsx", "README.md"} <= {
        path.relative_to(app).as_posix() for path in app.rglob("*") if path.is_file()
    }
    assert "npm install" in (app / "README.md").read_text()
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "npm_config_cache": str(npm_cache),
        "npm_config_update_notifier": "false",
        "NEXT_TELEMETRY_DISABLED": "1",
    }
    install = subprocess.run(
        ["npm", "ci", "--prefer-offline", "--ignore-scripts", "--no-audit", "--no-fund"],
        cwd=app,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    build = subprocess.run(
        ["node_modules/.bin/next", "build"],
        cwd=app,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    assert (app / ".next" / "BUILD_ID").is_file()
