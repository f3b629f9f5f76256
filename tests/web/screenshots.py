"""Screenshots of the home page and of a project page with a fragment, light and dark.

    python -m tests.web.screenshots [--out docs/screenshots]

Starts the fake model and a real QAI server on a temporary SQLite database, builds an app
through the home page as a person would, and photographs the pages in Chromium.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.live import LiveServer
from tests.web.browser import chromium, fake_model, preview_is_served, qai_server

VIEWPORT = {"width": 1280, "height": 800}
OTHER_PROJECTS = ("Build a recipe finder with filters", "Build a pomodoro timer")


def _build_from_home(page: Page, server: LiveServer) -> str:
    page.goto(server.url)
    page.get_by_label("What do you want to build?").fill(
        "Build a kanban board for my team with To do, In progress and Done columns"
    )
    page.get_by_role("button", name="Build", exact=True).click()
    expect(page.locator(".fragment-card")).to_have_count(1, timeout=60_000)
    page.get_by_label("Message to QAI").fill("Make the header green")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".fragment-card")).to_have_count(2, timeout=60_000)
    return page.url


def take(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with (
        tempfile.TemporaryDirectory(prefix="qai-screenshots-") as tmp,
        fake_model() as fake,
        qai_server(None, Path(tmp), fake) as server,
        chromium() as browser,
    ):
        for prompt in OTHER_PROJECTS:
            httpx.post(f"{server.url}/api/projects", json={"value": prompt}, timeout=10)
        context = browser.new_context(viewport=VIEWPORT, color_scheme="light")
        project_url = _build_from_home(context.new_page(), server)
        context.close()
        for scheme in ("light", "dark"):
            context = browser.new_context(viewport=VIEWPORT, color_scheme=scheme)
            page = context.new_page()
            page.goto(server.url)
            expect(page.locator(".project-item")).to_have_count(3)
            written.append(out / f"home-{scheme}.png")
            page.screenshot(path=written[-1])

            page.goto(project_url)
            expect(page.locator(".fragment-card")).to_have_count(2)
            sandbox_url = page.get_by_label("Preview address").input_value()
            # Light shows the running app, dark its code (both show code until previews work).
            if scheme == "light" and preview_is_served(server, sandbox_url):
                preview = page.frame_locator(".preview-frame")
                expect(preview.get_by_role("heading", level=1)).to_contain_text(
                    "kanban", timeout=60_000
                )
            else:
                page.get_by_role("tab", name="Code").click()
                expect(page.locator(".code-content .hl")).to_be_visible()
            page.wait_for_timeout(300)  # the smooth scroll to the newest message
            written.append(out / f"project-{scheme}.png")
            page.screenshot(path=written[-1])
            context.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args(argv)
    for path in take(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
