"""Versions in a real browser: edit by hand, restore, compare and fork from the project page."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.live import LiveServer, live_server
from tests.versions.support import seed_project
from tests.web.browser import chromium, require_chromium

pytestmark = pytest.mark.browser

expect.set_options(timeout=20_000)

V1 = {
    "index.html": '<!doctype html>\n<h1>Version one</h1>\n<script src="app.js"></script>\n',
    "app.js": "let count = 0;\n",
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_chromium()
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def qai(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("versions-web")
    shutil.copyfile(sqlite_template, directory / "qai.db")
    with live_server(
        f"sqlite:///{directory / 'qai.db'}", directory / "data", QAI_SANDBOX_ISOLATION="none"
    ) as server:
        yield server


@pytest.fixture
def project(qai: LiveServer) -> tuple[str, str]:
    directory = qai.log_path.parent.parent
    return seed_project(f"sqlite:///{directory / 'qai.db'}", directory / "data", V1)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not errors, f"script errors on the page: {errors}"


def edit(qai: LiveServer, fragment_id: str, files: dict[str, str | None]) -> str:
    response = httpx.post(
        f"{qai.url}/api/fragments/{fragment_id}/edit", json={"files": files}, timeout=10
    )
    response.raise_for_status()
    return str(response.json()["fragment"]["id"])


def test_edit_a_file_by_hand_and_save_a_new_version(
    page: Page, qai: LiveServer, project: tuple[str, str]
) -> None:
    project_id, _ = project
    page.goto(f"{qai.url}/projects/{project_id}?tab=code")
    cards = page.locator(".fragment-card")
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text("v1")
    expect(cards.first).to_contain_text("by the agent")
    # The newest version is previewed at the project's own address.
    expect(page.locator(".preview-frame")).to_have_attribute(
        "src", f"http://{project_id}.preview.localhost:{qai.port}"
    )
    expect(page.locator("[data-app-url]")).to_have_count(0)
    code = page.locator("#panel-code")
    expect(code.locator("[data-clone-command]")).to_have_value(
        f"git clone {qai.url}/projects/{project_id}.git"
    )
    code.get_by_role("link", name="app.js").click()
    expect(code.locator(".breadcrumb [aria-current=page]")).to_have_text("app.js")
    code.get_by_role("button", name="Edit").click()
    editor = code.get_by_label("Edit app.js")
    expect(editor).to_have_value("let count = 0;\n")
    editor.fill("let count = 0;\ncount += 1;\nconsole.log(count);\n")
    expect(code.locator("[data-editor-gutter]")).to_have_text("1\n2\n3\n4")
    code.get_by_role("button", name="Save as a new version").click()

    expect(cards).to_have_count(2)
    expect(cards.nth(1)).to_have_class(re.compile(r"\bselected\b"))
    expect(cards.nth(1)).to_contain_text("v2")
    expect(cards.nth(1)).to_contain_text("edited by hand")
    expect(page.locator("[data-workspace-version]")).to_have_text("v2")
    page.get_by_role("tab", name="Code").click()
    page.locator("#panel-code").get_by_role("link", name="app.js").click()
    expect(page.locator("#panel-code .code-content")).to_contain_text("console.log(count)")


def test_restore_an_older_version(page: Page, qai: LiveServer, project: tuple[str, str]) -> None:
    project_id, v1 = project
    edit(qai, v1, {"index.html": "<!doctype html>\n<h1>Version two</h1>\n"})
    page.goto(f"{qai.url}/projects/{project_id}?tab=code")
    cards = page.locator(".fragment-card")
    expect(cards).to_have_count(2)
    expect(page.locator("#panel-code .code-content")).to_contain_text("Version two")
    cards.nth(0).click()
    expect(page.locator("[data-workspace-version]")).to_have_text("v1")
    # An older version is previewed at its own address (v1's stored sandboxUrl, as seeded);
    # the project's is a link beside it.
    expect(page.locator(".preview-frame")).to_have_attribute("src", "http://x")
    expect(page.locator("[data-app-url]")).to_have_attribute(
        "href", f"http://{project_id}.preview.localhost:{qai.port}"
    )
    page.get_by_role("button", name="Restore").click()

    expect(cards).to_have_count(3)
    expect(cards.nth(2)).to_have_class(re.compile(r"\bselected\b"))
    expect(cards.nth(2)).to_contain_text("v3")
    expect(cards.nth(2)).to_contain_text("restored")
    expect(page.locator(".message.assistant .prose").last).to_contain_text("Restored v1")
    expect(page.locator("#panel-code .code-content")).to_contain_text("Version one")


def test_compare_a_version_with_the_one_before_or_another(
    page: Page, qai: LiveServer, project: tuple[str, str]
) -> None:
    project_id, v1 = project
    edit(qai, v1, {"app.js": "let count = 1;\n", "style.css": "h1 { color: teal }\n"})
    page.goto(f"{qai.url}/projects/{project_id}")
    page.get_by_role("tab", name="Changes").click()
    changes = page.locator("#panel-changes")
    expect(changes.locator("[data-diff-summary]")).to_have_text("2 files changed")
    expect(changes.locator("[data-diff-file='app.js']")).to_have_attribute(
        "data-diff-status", "changed"
    )
    expect(changes.locator("[data-diff-file='app.js'] .del")).to_have_text("-let count = 0;")
    expect(changes.locator("[data-diff-file='app.js'] .add")).to_have_text("+let count = 1;")
    expect(changes.locator("[data-diff-file='style.css']")).to_have_attribute(
        "data-diff-status", "added"
    )
    changes.get_by_label("v2 compared with").select_option(label="nothing (every file added)")
    expect(changes.locator("[data-diff-summary]")).to_have_text("3 files changed")
    expect(changes.locator("[data-diff-status=added]")).to_have_count(3)


def test_fork_a_version_into_a_new_project(
    page: Page, qai: LiveServer, project: tuple[str, str]
) -> None:
    project_id, _ = project
    page.goto(f"{qai.url}/projects/{project_id}")
    page.get_by_role("button", name="Fork").click()
    expect(page).not_to_have_url(re.compile(re.escape(project_id)))
    expect(page).to_have_url(re.compile(r"/projects/[0-9a-f-]+$"))
    expect(page.locator("[data-project-name]")).to_contain_text("(fork)")
    cards = page.locator(".fragment-card")
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text("forked")
    expect(page.locator(".message.assistant .prose")).to_contain_text("Forked from v1")
