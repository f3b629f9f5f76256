"""QAI_PREVIEW_REQUIRES_SIGN_IN in a real browser: the project page's preview frame and its
"Open in new tab" show the app to its owner; another member gets a 404; the run's app check,
which reaches the sandbox directly, still passes. Against a real `qai serve` with accounts."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, Frame, Page, Request, Response, expect

from tests.accounts.test_browser import ADMIN, make_people, signed_in
from tests.live import LiveServer, live_server
from tests.needs import require_bwrap
from tests.web.browser import STOPPABLE_PROMPT, chromium, fake_model, require_chromium

pytestmark = pytest.mark.browser
expect.set_options(timeout=20_000)


def frame_loads(page: Page) -> list[str]:
    """What the page's frames load, in order, for a failure's reader: each page asked for, its
    answer, and the pages committed (a reload asked for mid-commit shows as none asked for)."""
    loads: list[str] = []

    def framed(request: Request) -> bool:
        return request.is_navigation_request() and request.frame != page.main_frame

    def asked(request: Request) -> None:
        if framed(request):
            loads.append(f"asked {request.url}")

    def answered(response: Response) -> None:
        if framed(response.request):
            loads.append(f"{response.status} {response.url}")

    def failed(request: Request) -> None:
        if framed(request):
            loads.append(f"failed ({request.failure}) {request.url}")

    def committed(frame: Frame) -> None:
        if frame != page.main_frame:
            loads.append(f"shows {frame.url}")

    page.on("request", asked)
    page.on("response", answered)
    page.on("requestfailed", failed)
    page.on("framenavigated", committed)
    return loads


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_chromium()
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def qai(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    require_bwrap()
    data_dir = tmp_path_factory.mktemp("qai-previews")
    database = data_dir / "qai.db"
    shutil.copyfile(sqlite_template, database)
    url = f"sqlite:///{database}"
    # In a thread of its own: Playwright's sync API runs an event loop in this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, make_people(url, data_dir)).result()
    with fake_model() as fake:
        env = {
            "QAI_AUTH": "accounts",
            "QAI_PREVIEW_REQUIRES_SIGN_IN": "true",
            "QAI_MODEL": "openai:fake-model",
            "OPENAI_BASE_URL": fake.base_url,
            "OPENAI_API_KEY": "test",
            "QAI_MODEL_MAX_RETRIES": "0",
            "QAI_ACCESS_LOG": "false",
        }
        with live_server(url, data_dir, **env) as server:
            yield server


def test_the_project_page_shows_a_preview_that_requires_sign_in(
    browser: Browser, qai: LiveServer
) -> None:
    alice = signed_in(browser, qai, "alice@example.com")
    alice.get_by_label("What do you want to build?").fill("Build a kanban board for my team")
    alice.get_by_label("What do you want to build?").press("Enter")
    expect(alice).to_have_url(re.compile(r"/projects/[0-9a-f-]+$"))
    expect(alice.locator(".fragment-card")).to_have_count(1, timeout=90_000)
    # The app check opened the app through the sandbox itself, not the preview origin.
    expect(alice.locator(".fragment-card [data-check]")).to_have_attribute("data-check", "passed")
    preview_url = alice.get_by_label("Preview address").input_value()
    assert re.fullmatch(rf"http://[0-9a-f-]+\.preview\.localhost:{qai.port}", preview_url)
    frame = alice.locator(".preview-frame")
    expect(frame).to_have_attribute("src", "/preview-auth?to=" + quote(preview_url, safe=""))
    expect(
        alice.frame_locator(".preview-frame").get_by_role("heading", name="Kanban from QAI")
    ).to_be_visible(timeout=60_000)
    # The frame ends on the preview's own clean address (no ticket left in it).
    app_frame = next(f for f in alice.frames if f.url.startswith(preview_url))
    assert app_frame.url == preview_url + "/"
    # The Refresh button goes through the sign-in again, and shows the app again.
    app_frame.evaluate("window.qaiMark = 1")
    alice.get_by_role("button", name="Refresh the preview").click()
    expect(
        alice.frame_locator(".preview-frame").get_by_role("heading", name="Kanban from QAI")
    ).to_be_visible(timeout=60_000)

    # At the top level, in a tab of its own.
    with alice.context.expect_page() as opened:
        alice.get_by_role("link", name="Open in new tab").click()
    tab = opened.value
    expect(tab.get_by_role("heading", name="Kanban from QAI")).to_be_visible(timeout=60_000)
    assert tab.url == preview_url + "/"

    # Another member: the way in is a 404, and the address alone asks them to sign in there.
    bob = signed_in(browser, qai, "bob@example.com")
    response = bob.goto(f"{qai.url}/preview-auth?to={quote(preview_url, safe='')}")
    assert response is not None
    assert response.status == 404
    bob.goto(preview_url)
    expect(bob).to_have_url(re.compile(rf"^http://localhost:{qai.port}/login\?next="))

    # An admin sees it.
    admin = signed_in(browser, qai, ADMIN)
    admin.goto(f"{qai.url}/preview-auth?to={quote(preview_url, safe='')}")
    expect(admin.get_by_role("heading", name="Kanban from QAI")).to_be_visible(timeout=60_000)


def test_the_live_preview_of_a_run_requires_sign_in_too(browser: Browser, qai: LiveServer) -> None:
    alice = signed_in(browser, qai, "alice@example.com")
    loads = frame_loads(alice)
    # The scripted model writes the app, then hangs: the run's sandbox is watched live.
    alice.get_by_label("What do you want to build?").fill(f"A {STOPPABLE_PROMPT} kanban board")
    alice.get_by_label("What do you want to build?").press("Enter")
    expect(alice).to_have_url(re.compile(r"/projects/[0-9a-f-]+$"))
    live = alice.locator("[data-live-frame]")
    # No version exists yet: /preview-auth finds the project by the run's preview address.
    expect(live).to_have_attribute(
        "src", re.compile(r"^/preview-auth\?to=http%3A%2F%2F[0-9a-f-]+\.preview\.localhost")
    )
    try:
        expect(
            alice.frame_locator("[data-live-frame]").get_by_role("heading", name="Kanban from QAI")
        ).to_be_visible(timeout=60_000)
    except AssertionError as error:
        # What the frame holds, for the failure's reader.
        shown = [(f.url, f.content()[:600]) for f in alice.frames if f != alice.main_frame]
        log = qai.log()[-6000:]
        loaded = "\n".join(loads)
        raise AssertionError(
            f"the live frame holds {shown}; its loads:\n{loaded}\nserver log:\n{log}"
        ) from error
    live_url = alice.get_by_label("Preview address").input_value()
    bob = signed_in(browser, qai, "bob@example.com")
    response = bob.goto(f"{qai.url}/preview-auth?to={quote(live_url, safe='')}")
    assert response is not None
    assert response.status == 404
    alice.locator("#activity").get_by_role("button", name="Stop").click()
    expect(alice.locator(".message.assistant.error .error-cause")).to_contain_text("Stopped")
