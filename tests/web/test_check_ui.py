"""The app check in the UI, in real Chromium against a real QAI server (which checks each
version in its own headless Chromium): a failed version's card says what failed, **Try to fix**
sends a follow-up carrying the problems, and the fixed version's screenshot is its thumbnail in
the chat and on the home page."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.fakes.openai_server import FakeOpenAI
from tests.live import LiveServer, live_server
from tests.web.browser import chromium, require_chromium
from tests.web.test_browser import create_project

pytestmark = pytest.mark.browser

expect.set_options(timeout=60_000)

PAGE = (
    "<!doctype html><html lang='en'><head><title>Counter</title></head>"
    "<body style='background:#4338ca;color:#fff'><h1 id='count'>Counter: 0</h1>"
    "<script src='app.js'></script></body></html>"
)
BROKEN = "const count = document.getElementById('count');\ncount.textContent = ;\n"
FIXED = "const count = document.getElementById('count');\ncount.textContent = 'Counter: 1';\n"


def _build(match: str, files: dict[str, str], summary: str) -> dict[str, Any]:
    written = [{"path": path, "content": content} for path, content in files.items()]
    return {
        "match": match,
        "turns": [
            {"tool_calls": [{"name": "createOrUpdateFiles", "arguments": {"files": written}}]},
            {"text": f"Done. <task_summary>{summary}</task_summary>"},
        ],
    }


SCRIPT: dict[str, Any] = {
    "conversations": [
        # "Try to fix" sends the check's problems, starting with these words.
        _build("still has errors", {"app.js": FIXED}, "Fixed the counter's script."),
        _build("", {"index.html": PAGE, "app.js": BROKEN}, "A counter."),
    ]
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_chromium()
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def qai(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("qai-check-ui")
    database = data_dir / "qai.db"
    shutil.copyfile(sqlite_template, database)
    with (
        FakeOpenAI(SCRIPT) as fake,
        live_server(
            f"sqlite:///{database}",
            data_dir,
            QAI_MODEL="openai:fake-model",
            OPENAI_BASE_URL=fake.base_url,
            OPENAI_API_KEY="test",
            QAI_MODEL_MAX_RETRIES="0",
            QAI_ACCESS_LOG="false",
            QAI_RUN_MAX_FIXES="0",
            QAI_SANDBOX_ISOLATION="bwrap" if shutil.which("bwrap") else "none",
        ) as server,
    ):
        yield server


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh context; QAI's own pages must raise no script error (the broken app in the
    preview frame raises its own, on purpose)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    errors: list[str] = []
    tab.on(
        "pageerror",
        lambda error: (
            errors.append(str(error)) if "Unexpected token ';'" not in str(error) else None
        ),
    )
    yield tab
    context.close()
    assert not errors, f"script errors on the page: {errors}"


def loaded(image: Any) -> bool:
    return bool(image.evaluate("img => img.complete && img.naturalWidth > 0"))


def test_try_to_fix_then_the_thumbnail_in_the_chat_and_on_the_home_page(
    page: Page, qai: LiveServer
) -> None:
    project_id = create_project(qai, "Build a counter")
    page.goto(f"{qai.url}/projects/{project_id}")

    card = page.locator(".fragment-card")
    expect(card).to_have_count(1)
    expect(card.locator("[data-check=failed]")).to_contain_text("1 problem")
    report = page.locator("[data-check-report]")
    expect(report).to_contain_text("SyntaxError")
    answer = page.locator(".message.assistant .prose").first
    expect(answer).to_contain_text("still has errors")

    report.get_by_role("button", name="Try to fix").click()

    # The follow-up carries the problems; its answer's version passes, with a thumbnail.
    expect(page.locator(".message.user .bubble").nth(1)).to_contain_text("SyntaxError")
    expect(card).to_have_count(2)
    fixed = card.nth(1)
    expect(fixed.locator("[data-check=passed]")).to_be_visible()
    thumb = fixed.locator("img.fragment-thumb")
    expect(thumb).to_have_attribute("src", re.compile(r"^/api/fragments/[0-9a-f-]+/screenshot$"))
    expect(thumb).to_be_visible()
    assert loaded(thumb)
    newest = thumb.get_attribute("src")

    page.goto(qai.url)
    project_card = page.locator(f".project-link[href='/projects/{project_id}']")
    project_thumb = project_card.locator("img.project-thumb")
    expect(project_thumb).to_be_visible()
    assert project_thumb.get_attribute("src") == newest
    assert loaded(project_thumb)
