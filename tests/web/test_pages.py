"""The pages and pieces as HTML, through HTTP, against a real migrated database."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import update

from qai.db import Database, utcnow
from qai.projects.models import Project
from qai.runs import service as runs
from qai.runs.models import StepOutcome
from qai.settings import Settings
from qai.web._download import archive_name, zip_files
from qai.web._render import (
    file_tree,
    highlight_file,
    main_file,
    markdown,
    relative_age,
    safe_relative_path,
)
from tests.web.conftest import (
    KANBAN_FILES,
    answer,
    ask,
    fail,
    make_project,
    make_project_and_message,
)

TEMPLATE_LABELS = [
    "Netflix clone",
    "Admin dashboard",
    "Kanban board",
    "File manager",
    "YouTube clone",
    "Store page",
    "Airbnb clone",
    "Spotify clone",
]


async def test_home_when_empty_says_so_and_how_to_set_a_model(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "Build something with QAI" in page
    assert "No projects yet" in page
    assert "No model configured" in page
    assert "QAI_MODEL=openai:gpt-4.1" in page
    assert "QAI_MODEL=ollama:&lt;model&gt;" in page
    # `make serve` users have no `qai` on PATH: both commands are named.
    assert "OPENAI_API_KEY=sk-... make serve" in page
    assert "<code>qai serve</code>" in page
    for label in TEMPLATE_LABELS:
        assert f">{label}</button>" in page
    assert 'for="prompt"' in page  # the prompt box has a label


async def test_home_without_banner_when_a_model_is_set(
    client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "model", "openai:gpt-4.1")
    assert "No model configured" not in (await client.get("/")).text


async def test_home_lists_projects_newest_first_in_pages(
    client: httpx.AsyncClient, database: Database
) -> None:
    made = [await make_project(database, f"app number {i}") for i in range(23)]
    page = (await client.get("/")).text
    names = re.findall(r'<span class="project-name">([^<]+)</span>', page)
    assert len(names) == 20
    assert names[0] == made[-1].name
    assert "just now" in page
    cursor = re.search(r'data-cursor="([^"]+)"', page)
    assert cursor is not None
    more = await client.get("/ui/projects", params={"cursor": cursor.group(1)})
    assert more.status_code == 200
    rest = re.findall(r'<span class="project-name">([^<]+)</span>', more.text)
    assert rest == [p.name for p in reversed(made[:3])]
    assert "QAI-Next-Cursor" not in more.headers


async def test_home_shows_when_each_project_was_created(
    client: httpx.AsyncClient, database: Database
) -> None:
    # The list is sorted by creation: the age beside each project is its creation's, said so,
    # even when the project changed since.
    project = await make_project(database, "an older app")
    async with database.session() as session:
        await session.execute(
            update(Project)
            .where(Project.id == project.id)
            .values(created_at=utcnow() - timedelta(days=3), updated_at=utcnow())
        )
    page = (await client.get("/")).text
    assert re.search(r'created <time datetime="[^"]+" data-relative>3 days ago</time>', page)


async def test_home_with_a_bad_cursor_is_a_page_that_says_so(client: httpx.AsyncClient) -> None:
    response = await client.get("/", params={"cursor": "garbage"})
    assert response.status_code == 400
    assert "text/html" in response.headers["content-type"]
    assert "Invalid cursor" in response.text


async def test_pages_forbid_scripts_from_anywhere_else(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    policy = response.headers["content-security-policy"]
    assert policy.startswith("default-src 'self'; script-src 'self'; ")
    assert "frame-ancestors 'none'" in policy


async def test_project_page_renders_the_conversation_and_the_newest_fragment(
    client: httpx.AsyncClient,
    database: Database,
) -> None:
    project = await make_project(database, "Build a kanban board")
    first = await answer(database, project.id, "First **version**.", title="Kanban Board")
    await ask(database, project.id, "Make it purple")
    newest = await answer(database, project.id, "Purple now.", title="Purple Kanban")
    assert newest.fragment is not None
    assert first.fragment is not None
    page = (await client.get(f"/projects/{project.id}")).text
    assert f"<title>{project.name} · QAI</title>" in page
    assert '<div class="bubble">Build a kanban board</div>' in page
    assert "First <strong>version</strong>." in page
    # The newest fragment is selected: highlighted in the list and shown on the right.
    selected = re.findall(r'class="fragment-card selected"\s+href="\?fragment=([^"]+)"', page)
    assert selected == [newest.fragment.id]
    # At the project's own address, which follows the newest version.
    assert f'src="http://{project.id}.preview.localhost:8000"' in page
    assert 'sandbox="allow-scripts' in page
    assert '<h2 class="workspace-title">Purple Kanban</h2>' in page
    # An older version is shown at its own address (its sandboxUrl).
    older = (await client.get(f"/projects/{project.id}?fragment={first.fragment.id}")).text
    assert 'src="http://fragment.preview.localhost:8000"' in older
    assert f'href="http://{project.id}.preview.localhost:8000"' in older  # the App address
    # The Code tab opens the app's main file, highlighted.
    assert 'data-code-file="index.html"' in page
    assert '<div class="hl">' in page
    assert 'data-file="styles/main.css"' in page


async def test_assistant_markdown_never_carries_html_or_scripts(
    client: httpx.AsyncClient,
    database: Database,
) -> None:
    project = await make_project(database)
    hostile = (
        "<script>alert(1)</script> <img src=x onerror=alert(2)>\n\n"
        "[click](javascript:alert(3)) [docs](https://example.com)\n\n"
        "```js\nconsole.log('<b>hi</b>')\n```"
    )
    await answer(database, project.id, hostile, title="<b>Title</b>")
    page = (await client.get(f"/projects/{project.id}")).text
    assert "<script>alert" not in page
    assert "<img" not in page
    assert 'href="javascript:' not in page
    assert "[click](javascript:alert(3))" in page  # left as text, not a link
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'href="https://example.com" target="_blank" rel="noopener noreferrer nofollow"' in page
    assert "&lt;b&gt;Title&lt;/b&gt;" in page
    assert "<b>hi</b>" not in page  # the fenced code is highlighted, and escaped
    assert '<pre class="hl"><code><span class="nx">console</span>' in page


async def test_error_answers_are_shown_as_errors_with_their_cause(
    client: httpx.AsyncClient,
    database: Database,
) -> None:
    project = await make_project(database)
    await fail(
        database, project.id, "The model provider rejected the API key. Check OPENAI_API_KEY."
    )
    page = (await client.get(f"/projects/{project.id}")).text
    assert 'class="message assistant error"' in page
    assert "Something went wrong" in page
    assert "The model provider rejected the API key. Check OPENAI_API_KEY." in page
    assert "Your app will appear here" in page


async def test_unanswered_message_shows_the_agent_waiting(
    client: httpx.AsyncClient, database: Database
) -> None:
    project = await make_project(database)
    page = (await client.get(f"/projects/{project.id}")).text
    activity = re.search(r'<section class="activity"[^>]*>', page)
    assert activity is not None
    assert "hidden" not in activity.group(0)
    assert "Waiting for the agent" in page


async def test_page_opened_during_a_run_shows_its_steps_so_far(
    client: httpx.AsyncClient,
    database: Database,
) -> None:
    project, message = await make_project_and_message(database)
    async with database.session() as session:
        await runs.start(session, message.id, project.id, model="openai:gpt-4.1")
        await runs.step_started(
            session, project.id, message.id, 1, kind="write", label="Writing index.html"
        )
        await runs.step_finished(session, project.id, message.id, 1, outcome=StepOutcome.OK)
        await runs.step_started(
            session, project.id, message.id, 2, kind="terminal", label="Running npm install <x>"
        )
        await runs.step_finished(
            session, project.id, message.id, 2, outcome=StepOutcome.FAILED, detail="exit code 1"
        )
        await runs.step_started(
            session, project.id, message.id, 3, kind="read", label="Reading app/page.tsx"
        )
    page = (await client.get(f"/projects/{project.id}")).text
    assert f'data-run-id="{message.id}"' in page
    assert "Working…" in page
    steps = re.findall(
        r'<li class="step (\w+)" data-seq="(\d)"[^>]*>\s*<span class="step-label">([^<]+)<', page
    )
    assert steps == [
        ("ok", "1", "Writing index.html"),
        ("failed", "2", "Running npm install &lt;x&gt;"),
        ("running", "3", "Reading app/page.tsx"),
    ]
    assert '<span class="step-detail">exit code 1</span>' in page
    stop = re.search(r"<button[^>]*data-stop-run[^>]*>", page)
    assert stop is not None
    assert "hidden" not in stop.group(0)


async def test_missing_project_is_a_404_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/projects/nope")
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert "Project not found" in response.text


async def test_history_pieces_page_backwards_and_forwards(
    client: httpx.AsyncClient, database: Database
) -> None:
    project = await make_project(database, "message 0")
    for i in range(1, 40):
        await ask(database, project.id, f"message {i}")
    page = (await client.get(f"/projects/{project.id}")).text
    shown = re.findall(r'<div class="bubble">message (\d+)</div>', page)
    assert shown == [str(i) for i in range(10, 40)]
    before = re.search(r'data-load-older data-cursor="([^"]+)"', page)
    newest = re.search(r'data-newest-cursor="([^"]+)"', page)
    assert before is not None
    assert newest is not None

    older = await client.get(
        f"/ui/projects/{project.id}/messages", params={"before": before.group(1)}
    )
    assert re.findall(r"message (\d+)</div>", older.text) == [str(i) for i in range(10)]
    assert "QAI-Prev-Cursor" not in older.headers

    await ask(database, project.id, "message 40")
    newer = await client.get(
        f"/ui/projects/{project.id}/messages", params={"after": newest.group(1)}
    )
    assert re.findall(r"message (\d+)</div>", newer.text) == ["40"]
    assert newer.headers["QAI-Newest-Cursor"]


async def test_project_page_costs_the_same_queries_whatever_the_history(
    client: httpx.AsyncClient,
    database: Database,
) -> None:
    async def queries_for(project_id: str) -> int:
        stats = database.stats
        before = stats.statements
        response = await client.get(f"/projects/{project_id}")
        assert response.status_code == 200
        return stats.statements - before

    short = await make_project(database)
    await answer(database, short.id)
    long = await make_project(database)
    for i in range(25):
        await answer(database, long.id, f"answer {i}", title=f"Version {i}")
        await ask(database, long.id, f"change {i}")
    await answer(database, long.id)
    assert await queries_for(long.id) == await queries_for(short.id)


async def test_workspace_and_file_pieces(client: httpx.AsyncClient, database: Database) -> None:
    project = await make_project(database)
    message = await answer(database, project.id)
    assert message.fragment is not None
    fragment_id = message.fragment.id

    workspace = await client.get(
        f"/ui/fragments/{fragment_id}/workspace", params={"tab": "code", "file": "app.js"}
    )
    assert workspace.status_code == 200
    assert 'data-code-file="app.js"' in workspace.text
    assert 'id="panel-preview" aria-labelledby="tab-preview" hidden' in workspace.text

    piece = await client.get(
        f"/ui/fragments/{fragment_id}/file", params={"path": "styles/main.css"}
    )
    assert '<li aria-current="page">main.css</li>' in piece.text
    assert "<li>styles</li>" in piece.text
    assert "rebeccapurple" in piece.text

    missing = await client.get("/ui/fragments/nope/workspace")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "Fragment not found"


async def test_download_is_a_zip_of_the_fragment_files(
    client: httpx.AsyncClient, database: Database
) -> None:
    project = await make_project(database)
    message = await answer(database, project.id, title="Kanban Board")
    assert message.fragment is not None
    response = await client.get(f"/fragments/{message.fragment.id}/download")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert 'filename="kanban-board.zip"' in response.headers["content-disposition"]
    assert response.headers["x-content-type-options"] == "nosniff"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        # The version's files over the template's own, and how to run the app.
        assert set(KANBAN_FILES) | {"README.md"} <= set(archive.namelist())
        assert archive.read("app.js").decode() == KANBAN_FILES["app.js"]
        assert "index.html" in archive.read("README.md").decode()


async def test_static_files_and_highlight_css(client: httpx.AsyncClient) -> None:
    page = (await client.get("/")).text
    for name in ("theme.js", "qai.css", "home.js"):
        url = re.search(rf'"(/static/{re.escape(name)}\?v=[0-9a-f]+)"', page)
        assert url is not None, name
        assert (await client.get(url.group(1))).status_code == 200
    css = await client.get("/ui/highlight.css")
    assert css.headers["content-type"].startswith("text/css")
    assert "[data-theme=dark] .hl" in css.text


def test_zip_leaves_out_paths_that_escape_the_folder() -> None:
    content = zip_files({"../evil.sh": "x", "/etc/passwd": "y", "ok/a.txt": "z", "./b.txt": "w"})
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert sorted(archive.namelist()) == ["b.txt", "etc/passwd", "ok/a.txt"]
    assert safe_relative_path("a/../../x") is None
    assert archive_name("Ünïcode!!") == "n-code.zip"
    assert archive_name("???") == "qai-app.zip"


def test_file_tree_and_main_file() -> None:
    tree = file_tree(["b.txt", "app/page.tsx", "app/ui/button.tsx", "A.md"])
    assert [d.name for d in tree.sorted_dirs()] == ["app"]
    assert [name for name, _ in tree.sorted_files()] == ["A.md", "b.txt"]
    assert tree.dirs["app"].dirs["ui"].files == ["app/ui/button.tsx"]
    assert main_file(["b.txt", "app/page.tsx"]) == "app/page.tsx"
    assert main_file(["b.txt", "a.txt"]) == "a.txt"
    assert main_file([]) is None


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (5, "just now"),
        (60, "1 minute ago"),
        (180, "3 minutes ago"),
        (7200, "2 hours ago"),
        (86400 + 5, "yesterday"),
        (3 * 86400, "3 days ago"),
        (40 * 86400, "last month"),
        (800 * 86400, "2 years ago"),
    ],
)
def test_relative_age(seconds: int, said: str) -> None:
    now = datetime(2026, 1, 1, 12, 0, 0)
    assert relative_age(now - timedelta(seconds=seconds), now) == said


TSX_PAGE = """"use client";
import { useState } from "react";

type Expense = { id: number; label: string; amount: number };

export default function Page() {
  const [expenses, setExpenses] = useState<Expense[]>([]);
  const totals: Record<string, number> = {};
  return <main className="p-4">{expenses.map((e) => <p key={e.id}>{e.label}</p>)}</main>;
}
"""


def test_the_code_view_does_not_mark_valid_tsx_as_errors() -> None:
    for path in ("app/page.tsx", "app/page.jsx", "lib/totals.ts"):
        shown = str(highlight_file(path, TSX_PAGE))
        assert 'class="err"' not in shown, path
        assert "useState" in shown
    assert 'class="err"' not in str(markdown(f"```tsx\n{TSX_PAGE}```"))
