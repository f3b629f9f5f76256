"""The model picker in a real browser: a server offering two models (QAI_MODELS) shows it in
both prompt boxes, and the run uses the model picked (the fake server logs each request's)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.fakes.openai_server import FakeOpenAI
from tests.live import LiveServer
from tests.web.browser import chromium, fake_model, qai_server, require_chromium

pytestmark = pytest.mark.browser

expect.set_options(timeout=20_000)

DEFAULT = "openai:fake-model"
OTHER = "openai:fake-model-b"


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
    data = tmp_path_factory.mktemp("qai-models")
    with qai_server(sqlite_template, data, fake, QAI_MODELS=OTHER) as server:
        yield server


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    errors: list[str] = []
    tab.on(
        "pageerror",
        lambda error: (
            None if ".preview.localhost" in (error.stack or "") else errors.append(str(error))
        ),
    )
    yield tab
    context.close()
    assert not errors, f"script errors on the page: {errors}"


def finished_runs(server: LiveServer, project_id: str, count: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs: list[dict[str, object]] = httpx.get(
            f"{server.url}/api/projects/{project_id}/runs", timeout=10
        ).json()["items"]
        if len(runs) == count and all(r["status"] in ("succeeded", "failed") for r in runs):
            return runs
        time.sleep(0.1)
    raise AssertionError(f"{count} run(s) of {project_id} did not finish")


def asked(fake: FakeOpenAI) -> list[str]:
    return [entry["model"] for entry in fake.requests if entry["path"].startswith("/v1/")]


def test_pick_a_model_on_home_then_another_on_the_project(
    page: Page, qai: LiveServer, fake: FakeOpenAI
) -> None:
    page.goto(qai.url)
    picker = page.get_by_role("combobox", name="Model", exact=True)
    expect(picker).to_have_value(DEFAULT)  # the default is selected
    expect(picker.locator("option")).to_have_text([DEFAULT, OTHER])
    picker.select_option(OTHER)
    fake.reset()
    page.get_by_label("What do you want to build?").fill("Build a kanban board")
    page.get_by_role("button", name="Build", exact=True).click()
    expect(page).to_have_url(re.compile(r"/projects/[0-9a-f-]+$"))
    project_id = page.url.rsplit("/", 1)[1]
    expect(page.locator(".fragment-card")).to_have_count(1)
    runs = finished_runs(qai, project_id, 1)
    assert runs[0]["status"] == "succeeded"
    assert runs[0]["model"] == OTHER
    assert set(asked(fake)) == {"fake-model-b"}

    # The project's prompt box offers the same choice, its last run's model selected.
    composer = page.locator("[data-composer]")
    picker = composer.get_by_role("combobox", name="Model", exact=True)
    expect(picker.locator("option")).to_have_text([DEFAULT, OTHER])
    page.reload()
    expect(picker).to_have_value(OTHER)
    picker.select_option(DEFAULT)
    fake.reset()
    composer.get_by_label("Message to QAI").fill("Now make the header green")
    composer.get_by_role("button", name="Send").click()
    expect(page.locator(".fragment-card")).to_have_count(2)
    runs = finished_runs(qai, project_id, 2)
    assert [r["model"] for r in runs] == [DEFAULT, OTHER]  # newest first
    assert set(asked(fake)) == {"fake-model"}
