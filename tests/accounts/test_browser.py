"""Accounts in a real browser: people sign in, one builds an app (the scripted model), another
cannot see it, the admin sees both; against a real `qai serve` with QAI_AUTH=accounts."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from qai.accounts import service
from qai.accounts.models import Role
from qai.db import create_database
from qai.settings import Settings
from tests.live import LiveServer, live_server
from tests.web.browser import chromium, fake_model, require_chromium

pytestmark = pytest.mark.browser
expect.set_options(timeout=20_000)
PASSWORD = "correct horse battery"
PEOPLE = {"alice@example.com": Role.MEMBER, "bob@example.com": Role.MEMBER}
ADMIN = "admin@example.com"


async def make_people(url: str, data_dir: Path) -> None:
    database = create_database(Settings(database_url=url, data_dir=data_dir))
    try:
        async with database.session() as session:
            for email, role in {**PEOPLE, ADMIN: Role.ADMIN}.items():
                await service.create_user(session, email, password=PASSWORD, role=role)
    finally:
        await database.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_chromium()
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def qai(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("qai-accounts")
    database = data_dir / "qai.db"
    shutil.copyfile(sqlite_template, database)
    url = f"sqlite:///{database}"
    # In a thread of its own: Playwright's sync API runs an event loop in this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, make_people(url, data_dir)).result()
    with fake_model() as fake:
        env = {
            "QAI_AUTH": "accounts",
            "QAI_MODEL": "openai:fake-model",
            "OPENAI_BASE_URL": fake.base_url,
            "OPENAI_API_KEY": "test",
            "QAI_MODEL_MAX_RETRIES": "0",
            "QAI_ACCESS_LOG": "false",
        }
        with live_server(url, data_dir, **env) as server:
            yield server


def signed_in(browser: Browser, qai: LiveServer, email: str) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.goto(qai.url + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Build something with QAI")).to_be_visible()
    expect(page.get_by_role("link", name=email)).to_be_visible()
    return page


def test_build_then_another_cannot_see_it_and_the_admin_sees_all(
    browser: Browser, qai: LiveServer
) -> None:
    alice = signed_in(browser, qai, "alice@example.com")
    alice.get_by_label("What do you want to build?").fill("Build a kanban board for my team")
    alice.get_by_label("What do you want to build?").press("Enter")
    expect(alice).to_have_url(re.compile(r"/projects/[0-9a-f-]+$"))
    project_url = alice.url
    expect(alice.locator(".fragment-card")).to_have_count(1, timeout=60_000)
    expect(alice.locator(".message.assistant .prose")).to_contain_text("kanban")

    bob = signed_in(browser, qai, "bob@example.com")
    bob.get_by_label("What do you want to build?").fill("Build a kanban board for bob")
    bob.get_by_label("What do you want to build?").press("Enter")
    expect(bob).to_have_url(re.compile(r"/projects/[0-9a-f-]+$"))
    bob_url = bob.url
    bob.goto(qai.url + "/")
    expect(bob.locator(f'a[href="{project_url.removeprefix(qai.url)}"]')).to_have_count(0)
    response = bob.goto(project_url)
    assert response is not None
    assert response.status == 404
    expect(bob.get_by_role("heading", name="Project not found")).to_be_visible()

    admin = signed_in(browser, qai, ADMIN)
    for url in (project_url, bob_url):
        expect(admin.locator(f'a[href="{url.removeprefix(qai.url)}"]').first).to_be_visible()
    admin.goto(project_url)
    expect(admin.locator(".message.user .bubble").first).to_have_text(
        "Build a kanban board for my team"
    )
    admin.goto(qai.url + "/admin")
    expect(admin.get_by_role("heading", name="Admin")).to_be_visible()
    expect(admin.locator("#audit")).to_contain_text("sign-in")
