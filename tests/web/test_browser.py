"""The UI in a real browser (Chromium through Playwright) against a real QAI server whose model
is the local fake OpenAI server playing a scripted conversation."""

from __future__ import annotations

import io
import re
import sqlite3
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import Error as PlaywrightError

from tests.conftest import free_port
from tests.fakes.openai_server import FakeOpenAI
from tests.live import LiveServer
from tests.web.browser import (
    FLAKY_PROMPT,
    MODEL_FAILURE_PROMPT,
    STOPPABLE_PROMPT,
    chromium,
    fake_model,
    qai_server,
    require_chromium,
)

pytestmark = pytest.mark.browser

expect.set_options(timeout=20_000)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_chromium()
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with fake_model() as server:
        yield server


@pytest.fixture(scope="module")
def qai(
    fake: FakeOpenAI, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with qai_server(sqlite_template, tmp_path_factory.mktemp("qai-web"), fake) as server:
        yield server


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context per test; an uncaught script error, or anything the page's
    Content-Security-Policy blocked, fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme="light")
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    tab = context.new_page()
    errors: list[str] = []
    # The app in a preview is the agent's, not QAI's: its own errors (a live preview can load
    # while the agent is halfway through writing its files) are not the page's.
    tab.on(
        "pageerror",
        lambda error: (
            None if ".preview.localhost" in (error.stack or "") else errors.append(str(error))
        ),
    )
    tab.on(
        "console",
        lambda message: (
            errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield tab
    context.close()
    assert not errors, f"script errors on the page: {errors}"


def create_project(server: LiveServer, prompt: str) -> str:
    response = httpx.post(f"{server.url}/api/projects", json={"value": prompt}, timeout=10)
    response.raise_for_status()
    return str(response.json()["id"])


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except PlaywrightError:
            pass  # the frame is between two documents
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_build_from_home_watch_it_live_then_follow_up(page: Page, qai: LiveServer) -> None:
    page.goto(qai.url)
    expect(page.get_by_role("heading", name="Build something with QAI")).to_be_visible()
    expect(page.get_by_text("No model configured")).to_have_count(0)
    expect(page.get_by_role("combobox", name="Model", exact=True)).to_have_count(
        0
    )  # one model: no picker

    prompt = page.get_by_label("What do you want to build?")
    build = page.get_by_role("button", name="Build", exact=True)
    expect(build).to_be_disabled()
    prompt.fill("Build a kanban board for my team")
    expect(page.locator("#prompt-counter")).to_have_text("32/1000")
    expect(build).to_be_enabled()
    prompt.press("Enter")

    expect(page).to_have_url(re.compile(r"/projects/[0-9a-f-]+$"))
    page.evaluate("window.qaiNoReload = true")
    expect(page.locator(".message.user .bubble")).to_have_text(["Build a kanban board for my team"])
    # While the run is in progress the agent's steps show as they happen.
    activity = page.locator("#activity")
    expect(activity.get_by_text("Writing index.html")).to_be_visible()
    # Then the answer and its fragment, selected and previewed, without a reload.
    card = page.locator(".fragment-card")
    expect(card).to_have_count(1)
    expect(card).to_have_class(re.compile(r"\bselected\b"))
    expect(activity).to_be_hidden()
    expect(page.locator(".message.assistant .prose")).to_contain_text("kanban")
    # The newest version shows at the project's own address, which follows the project.
    project_id = page.url.rsplit("/", 1)[1]
    app_url = f"http://{project_id}.preview.localhost:{qai.port}"
    expect(page.get_by_label("Preview address")).to_have_value(app_url)
    expect(page.locator(".preview-frame")).to_have_attribute("src", app_url)
    preview = page.frame_locator(".preview-frame")
    expect(preview.get_by_role("heading", name="Kanban from QAI")).to_be_visible(timeout=60_000)
    frame = next(f for f in page.frames if f.url.startswith(app_url))
    # The app's own saved data, at its own address (a tab of its own: this browser keeps no
    # storage for frames of other sites).
    app_tab = page.context.new_page()
    app_tab.goto(app_url)
    expect(app_tab.get_by_role("heading", name="Kanban from QAI")).to_be_visible()
    app_tab.evaluate("localStorage.setItem('qai-test', 'kept')")
    page.bring_to_front()
    frame.evaluate("window.qaiMark = 1")
    page.get_by_role("button", name="Refresh the preview").click()
    wait_until(lambda: frame.evaluate("window.qaiMark") is None)  # the preview loaded again
    expect(preview.get_by_role("heading", name="Kanban from QAI")).to_be_visible(timeout=60_000)
    page.get_by_role("button", name="Copy URL").click()
    expect(page.get_by_text("Preview URL copied to the clipboard")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == app_url

    # The code: a tree, a breadcrumb, highlighted content, a copy button.
    page.get_by_role("tab", name="Code").click()
    code = page.locator("#panel-code")
    expect(
        code.get_by_role("navigation", name="Files").get_by_role("link", name="index.html")
    ).to_be_visible()
    expect(code.locator(".breadcrumb")).to_contain_text("index.html")
    expect(code.locator(".code-content .hl .nt").first).to_be_visible()  # a highlighted tag
    expect(code.locator(".code-content")).to_contain_text("Kanban from QAI")
    code.get_by_role("button", name="Copy").click()
    expect(page.get_by_text("Code copied to the clipboard")).to_be_visible()
    assert "Kanban from QAI" in page.evaluate("navigator.clipboard.readText()")
    code.get_by_role("link", name="script.js").click()
    expect(code.locator(".breadcrumb [aria-current=page]")).to_have_text("script.js")
    expect(code.get_by_role("link", name="script.js")).to_have_attribute("aria-current", "true")
    expect(code.locator(".code-content .hl .kd").first).to_have_text("const")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download zip").click()
    downloaded = Path(download_info.value.path())
    with zipfile.ZipFile(io.BytesIO(downloaded.read_bytes())) as archive:
        assert "index.html" in archive.namelist()
        assert "Kanban from QAI" in archive.read("index.html").decode()

    # A follow-up builds a second fragment, which becomes the selected one.
    message = page.get_by_label("Message to QAI")
    message.fill("Now make the header green")
    page.get_by_role("button", name="Send").click()
    expect(message).to_have_value("")
    expect(page.locator(".message.user .bubble")).to_have_count(2)
    expect(card).to_have_count(2)
    expect(card.nth(1)).to_have_class(re.compile(r"\bselected\b"))
    expect(card.nth(0)).not_to_have_class(re.compile(r"\bselected\b"))
    expect(page.locator("#panel-code .code-content")).to_contain_text("Green kanban from QAI")
    page.get_by_role("tab", name="Preview").click()
    # The same address now serves the new version, and the app's saved data is still there.
    expect(page.get_by_label("Preview address")).to_have_value(app_url)
    expect(preview.get_by_role("heading", name="Green kanban from QAI")).to_be_visible(
        timeout=60_000
    )
    app_tab.reload()
    expect(app_tab.get_by_role("heading", name="Green kanban from QAI")).to_be_visible()
    assert app_tab.evaluate("localStorage.getItem('qai-test')") == "kept"
    app_tab.close()
    page.bring_to_front()

    # The first fragment can be selected again: at its own version's address.
    card.nth(0).click()
    expect(card.nth(0)).to_have_class(re.compile(r"\bselected\b"))
    first_id = card.nth(0).get_attribute("data-fragment-id")
    expect(page.get_by_label("Preview address")).to_have_value(
        f"http://{first_id}.preview.localhost:{qai.port}"
    )
    expect(page.locator("[data-app-url]")).to_have_attribute("href", app_url)
    expect(preview.get_by_role("heading", name="Kanban from QAI")).to_be_visible(timeout=60_000)
    assert page.evaluate("window.qaiNoReload") is True


def test_live_preview_during_a_run_then_stop_keeps_the_files_and_the_activity(
    page: Page, qai: LiveServer
) -> None:
    project_id = create_project(qai, f"A {STOPPABLE_PROMPT} kanban board")
    page.goto(f"{qai.url}/projects/{project_id}")
    activity = page.locator("#activity")
    # While the model is busy: the step per model call, the run's figures, the live preview.
    expect(activity.get_by_text("Writing index.html and 2 more files")).to_be_visible()
    expect(activity.get_by_text("Asking the model (turn 2)")).to_be_visible()
    expect(activity.locator("[data-activity-stats]")).to_contain_text("2 model turns")
    # The live preview is the project's own address: it serves the run's sandbox while the run
    # builds (the project has no version yet), then the versions, on one origin.
    app_host = f"{project_id}.preview.localhost:{qai.port}"
    live = page.locator("[data-live-frame]")
    expect(live).to_have_attribute("src", f"http://{app_host}")
    expect(page.get_by_role("heading", name="Live: the app as the agent builds it")).to_be_visible()
    preview = page.frame_locator("[data-live-frame]")
    served = httpx.get(f"{qai.url}/", headers={"Host": app_host}, timeout=30)
    assert "Kanban from QAI" in served.text, served.text
    try:
        expect(preview.get_by_role("heading", name="Kanban from QAI")).to_be_visible(timeout=60_000)
    except AssertionError as error:
        # What the frame holds, for the failure's reader.
        shown = [(f.url, f.content()[:600]) for f in page.frames if ".preview." in f.url]
        log = qai.log()[-4000:]
        raise AssertionError(f"the live frame holds {shown}; server log:\n{log}") from error

    stop = activity.get_by_role("button", name="Stop")
    started = time.monotonic()
    stop.click()
    answer = page.locator(".message.assistant.error")
    expect(answer.locator(".error-cause")).to_contain_text("Stopped", timeout=10_000)
    assert time.monotonic() - started < 8
    expect(activity).to_be_hidden()
    # The files so far: an unfinished version, with its badge, selected and previewed.
    card = answer.locator(".fragment-card")
    expect(card.locator("[data-unfinished]")).to_have_text("Unfinished")
    expect(card).to_have_class(re.compile(r"\bselected\b"))
    expect(
        page.frame_locator(".preview-frame").get_by_role("heading", name="Kanban from QAI")
    ).to_be_visible(timeout=60_000)
    # The activity stays under the answer, collapsed, with turns, tokens and time.
    log = answer.locator("[data-run-log]")
    expect(log.locator("summary")).to_contain_text("model turns")
    expect(log.get_by_text("Asking the model (turn 1)")).to_be_hidden()
    log.locator("summary").click()
    expect(log.get_by_text("Asking the model (turn 1)")).to_be_visible()
    expect(log.get_by_text("Writing index.html and 2 more files")).to_be_visible()
    expect(log.locator(".step.failed")).to_contain_text("Stopped")
    # And after a reload too.
    page.reload()
    log = page.locator(".message.assistant.error [data-run-log]")
    log.locator("summary").click()
    expect(log.get_by_text("Asking the model (turn 2)")).to_be_visible()


def test_a_retried_model_call_says_retry_1_of_2_in_the_activity(
    page: Page, fake: FakeOpenAI, sqlite_template: Path, tmp_path: Path
) -> None:
    with qai_server(sqlite_template, tmp_path, fake, QAI_MODEL_MAX_RETRIES="2") as server:
        project_id = create_project(server, f"A {FLAKY_PROMPT} kanban board")
        page.goto(f"{server.url}/projects/{project_id}")
        activity = page.locator("#activity")
        # While the model is asked again: the call's step says which retry, of how many.
        asking = activity.locator(".step.running", has_text="Asking the model (turn 1)")
        expect(asking.locator(".step-detail")).to_have_text("retry 1 of 2")
        # The retry succeeded: the app is built, and the kept activity still says it was retried.
        answer = page.locator(".message.assistant")
        expect(answer.locator(".fragment-card")).to_have_count(1, timeout=60_000)
        expect(activity).to_be_hidden()
        log = answer.locator("[data-run-log]")
        log.locator("summary").click()
        first = log.locator(".step", has_text="Asking the model (turn 1)")
        expect(first.locator(".step-figures")).to_contain_text("retry 1 of 2")
        expect(first).to_have_class(re.compile(r"\bok\b"))
        second = log.locator(".step", has_text="Asking the model (turn 2)")
        expect(second.locator(".step-figures")).not_to_contain_text("retry")


def test_template_button_fills_the_box_and_builds(page: Page, qai: LiveServer) -> None:
    page.goto(qai.url)
    prompt = page.get_by_label("What do you want to build?")
    page.get_by_role("button", name="Kanban board").click()
    expect(prompt).to_be_focused()
    value = prompt.input_value()
    assert value.startswith("Build a kanban board")
    expect(page.locator("#prompt-counter")).to_have_text(f"{len(value)}/1000")
    page.get_by_label("Template").select_option("web")
    page.get_by_role("button", name="Build", exact=True).click()
    expect(page).to_have_url(re.compile(r"/projects/[0-9a-f-]+$"))
    expect(page.locator(".message.user .bubble")).to_have_text([value])
    expect(page.locator(".fragment-card")).to_have_count(1)

    page.get_by_role("link", name="Back to the dashboard").click()
    expect(page.locator(".project-item").first).to_contain_text("just now")


def test_validation_errors_are_said_in_plain_words(page: Page, qai: LiveServer) -> None:
    page.goto(qai.url)
    prompt = page.get_by_label("What do you want to build?")
    build = page.get_by_role("button", name="Build", exact=True)
    prompt.fill("x" * 1001)
    expect(page.locator("#prompt-counter")).to_have_text("1001/1000")
    expect(page.get_by_role("alert")).to_have_text("Prompt must be less than 1000 characters")
    expect(build).to_be_disabled()
    prompt.fill("   ")
    expect(build).to_be_disabled()
    prompt.press("Enter")
    expect(page.get_by_role("alert")).to_have_text("Prompt is required")
    prompt.press("Shift+Enter")
    expect(prompt).to_have_value("   \n")

    # An error the server returns: the project went away behind the page's back.
    project_id = create_project(qai, "Build a kanban board to delete")
    page.goto(f"{qai.url}/projects/{project_id}")
    expect(page.locator(".fragment-card")).to_have_count(1)
    httpx.delete(f"{qai.url}/api/projects/{project_id}", timeout=10).raise_for_status()
    page.get_by_label("Message to QAI").fill("Add a fourth column")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#message-error")).to_have_text(
        "Project not found. It may have been deleted."
    )


def test_model_failure_is_shown_with_its_cause(page: Page, qai: LiveServer) -> None:
    page.goto(qai.url)
    page.get_by_label("What do you want to build?").fill(f"{MODEL_FAILURE_PROMPT} on purpose")
    page.get_by_role("button", name="Build", exact=True).click()
    error = page.locator(".message.assistant.error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("Something went wrong")
    expect(error).to_contain_text("model provider")
    expect(page.locator("#activity")).to_be_hidden()
    expect(page.locator(".workspace-empty")).to_be_visible()


def test_rename_and_delete(page: Page, qai: LiveServer) -> None:
    project_id = create_project(qai, "Build a kanban board to rename")
    page.goto(f"{qai.url}/projects/{project_id}")
    expect(page.locator(".fragment-card")).to_have_count(1)

    page.get_by_role("button", name="Rename").click()
    name = page.get_by_label("Project name")
    expect(name).to_be_focused()
    name.fill("   ")
    name.press("Enter")
    expect(page.locator("#rename-error")).to_have_text("Name is required")
    name.fill("n" * 101)
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#rename-error")).to_have_text("Name must be at most 100 characters")
    name.fill("Team kanban")
    name.press("Enter")
    expect(page.get_by_role("heading", name="Team kanban")).to_be_visible()
    expect(page).to_have_title("Team kanban · QAI")
    page.reload()
    expect(page.get_by_role("heading", name="Team kanban")).to_be_visible()

    page.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Delete “Team kanban”?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    page.get_by_role("button", name="Delete").click()
    dialog.get_by_role("button", name="Delete project").click()
    expect(page).to_have_url(qai.url + "/")
    expect(page.get_by_text("Team kanban")).to_have_count(0)
    assert httpx.get(f"{qai.url}/api/projects/{project_id}", timeout=10).status_code == 404


def test_theme_is_remembered(page: Page, qai: LiveServer) -> None:
    page.goto(qai.url)
    html = page.locator("html")
    expect(html).to_have_attribute("data-theme", "light")
    page.get_by_label("Theme").select_option("dark")
    expect(html).to_have_attribute("data-theme", "dark")
    page.reload()
    expect(html).to_have_attribute("data-theme", "dark")
    expect(page.get_by_label("Theme")).to_have_value("dark")
    page.get_by_label("Theme").select_option("system")
    expect(html).to_have_attribute("data-theme", "light")  # the context asks for light


def _insert_history(database: Path, project_id: str, count: int) -> None:
    """Old questions and answers written straight to the database (no runs start)."""
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=1)
    rows = []
    for i in range(count):
        at = (start + timedelta(seconds=i)).isoformat(sep=" ", timespec="microseconds")
        role = "USER" if i % 2 == 0 else "ASSISTANT"
        rows.append((f"old-{i:03d}", f"old message {i}", role, "RESULT", at, at, project_id))
    with sqlite3.connect(database) as connection:
        connection.executemany(
            'INSERT INTO "Message" (id, content, role, type, "createdAt", "updatedAt", '
            '"projectId") VALUES (?, ?, ?, ?, ?, ?, ?)',
            rows,
        )


def test_older_history_loads_on_scroll_up(page: Page, qai: LiveServer) -> None:
    project_id = create_project(qai, "Build a kanban board with history")
    page.goto(f"{qai.url}/projects/{project_id}")
    expect(page.locator(".fragment-card")).to_have_count(1)
    _insert_history(qai.log_path.parent / "qai.db", project_id, 40)
    page.reload()
    messages = page.locator(".message")
    expect(messages).to_have_count(30)
    expect(page.get_by_text("old message 0", exact=True)).to_have_count(0)
    page.locator("#messages").evaluate("element => element.scrollTo(0, 0)")
    expect(page.get_by_text("old message 0", exact=True)).to_have_count(1)
    expect(messages).to_have_count(42)


def test_page_catches_up_after_the_server_restarts(
    page: Page, fake: FakeOpenAI, sqlite_template: Path, tmp_path: Path
) -> None:
    port = free_port()
    with qai_server(sqlite_template, tmp_path, fake, port=port) as first:
        project_id = create_project(first, "Build a kanban board that survives")
        page.goto(f"{first.url}/projects/{project_id}")
        expect(page.locator(".fragment-card")).to_have_count(1)
    expect(page.get_by_text("Reconnecting to QAI…")).to_be_visible()
    with qai_server(sqlite_template, tmp_path, fake, port=port) as second:
        response = httpx.post(
            f"{second.url}/api/projects/{project_id}/messages",
            json={"value": "Now make the header green"},
            timeout=10,
        )
        response.raise_for_status()
        expect(page.get_by_text("Reconnecting to QAI…")).to_be_hidden()
        expect(page.locator(".message.user .bubble")).to_have_count(2)
        expect(page.locator(".fragment-card")).to_have_count(2)


def test_keyboard_use_and_phone_width(page: Page, qai: LiveServer) -> None:
    project_id = create_project(qai, "Build a kanban board for the keyboard")
    page.goto(f"{qai.url}/projects/{project_id}")
    expect(page.locator(".fragment-card")).to_have_count(1)

    preview_tab = page.get_by_role("tab", name="Preview")
    preview_tab.focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Code")).to_be_focused()
    expect(page.get_by_role("tab", name="Code")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#panel-code")).to_be_visible()
    page.keyboard.press("Home")
    expect(preview_tab).to_have_attribute("aria-selected", "true")

    separator = page.get_by_role("separator", name="Resize the panels")
    width = page.locator(".chat").bounding_box()
    separator.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    expect(separator).to_have_attribute("aria-valuenow", "50")
    wider = page.locator(".chat").bounding_box()
    assert width is not None
    assert wider is not None
    assert wider["width"] > width["width"] + 50

    page.set_viewport_size({"width": 390, "height": 844})
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    chat = page.locator(".chat").bounding_box()
    workspace = page.locator(".workspace").bounding_box()
    assert chat is not None
    assert workspace is not None
    assert workspace["y"] >= chat["y"] + chat["height"] - 1  # stacked below the conversation
