"""The nextjs template: a sandbox starts from the prepared cache, without network, and serves
the app; hot reload reaches a real browser through the gateway's websocket."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import httpx
import pytest

from qai.sandbox import LocalSandbox, PreviewSpec, SandboxStatus

from .conftest import ManagerFactory, serve_gateway

pytestmark = [pytest.mark.bwrap, pytest.mark.nextjs]

PAGE = """export default function Page() {
  return <main className="p-8 text-2xl font-bold">%s</main>;
}
"""


async def test_nextjs_starts_from_the_cache_without_network(
    make_manager: ManagerFactory, nextjs_data_dir: Path
) -> None:
    manager = await make_manager(data_dir=nextjs_data_dir, sandbox_start_timeout=120)
    assert manager.settings.sandbox_network is False
    async with (
        serve_gateway(manager, ready_wait=0.1) as gw,
        httpx.AsyncClient(base_url=gw.base_url, timeout=60) as client,
    ):
        gw.resolver.specs["next-app"] = PreviewSpec(
            "nextjs", {"app/page.tsx": PAGE % "Hello from Next"}
        )
        started = time.monotonic()
        first = await client.get("/", headers={"host": gw.host("next-app")})
        assert first.status_code == 503  # the status page, while next dev compiles
        sandbox = await manager.get("next-app")
        assert isinstance(sandbox, LocalSandbox)
        assert await sandbox.wait_ready(120) is SandboxStatus.READY, await sandbox.logs()
        ready_after = time.monotonic() - started
        page = await client.get("/", headers={"host": gw.host("next-app")})
        assert page.status_code == 200, page.text
        assert "Hello from Next" in page.text
        css = [part.split('"')[0] for part in page.text.split('href="')[1:] if ".css" in part]
        assert css, page.text
        style = await client.get(css[0], headers={"host": gw.host("next-app")})
        assert "font-weight" in style.text  # Tailwind compiled the page's classes

        # Reused, not re-downloaded: node_modules is the read-only cache, absent from the
        # sandbox's own directory.
        assert list((sandbox.directory / "node_modules").iterdir()) == []
        probe = await sandbox.exec(
            "test -d node_modules/next && touch node_modules/x 2>&1; "
            "python3 -c \"import socket; socket.getaddrinfo('registry.npmjs.org', 443)\""
        )
        assert "Read-only file system" in probe.stdout
        assert "gaierror" in probe.stderr
        assert ready_after < 120


@pytest.mark.browser
async def test_hot_reload_reaches_the_browser(
    make_manager: ManagerFactory, nextjs_data_dir: Path
) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("QAI_TEST_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium is required here (apt-get install chromium)")
        pytest.skip("chromium is not installed")
    from playwright.async_api import async_playwright

    manager = await make_manager(data_dir=nextjs_data_dir, sandbox_start_timeout=120)
    sandbox = await manager.start("nextjs", name="hmr", files={"app/page.tsx": PAGE % "Before"})
    assert await sandbox.wait_ready(120) is SandboxStatus.READY, await sandbox.logs()
    async with serve_gateway(manager) as gw, async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium)
        try:
            page = await browser.new_page()
            await page.goto(f"http://{gw.host('hmr')}/", wait_until="networkidle")
            await page.wait_for_selector("text=Before")
            await page.evaluate("window.__kept = 'same page'")
            await sandbox.write_files({"app/page.tsx": PAGE % "After"})
            await page.wait_for_selector("text=After", timeout=60_000)
            # Hot reload, not a reload: the page's state survived.
            assert await page.evaluate("window.__kept") == "same page"
        finally:
            await browser.close()
