"""Invariant 2 through the real app: a fragment's preview is rebuilt from its stored files."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from qai.db import create_database
from qai.messages.service import FragmentDraft, save_assistant_result
from qai.runs import send
from qai.sandbox.preview import pages
from qai.settings import Settings
from tests.live import live_server
from tests.needs import require_bwrap


async def store_fragment(settings: Settings, page: str) -> str:
    database = create_database(settings)
    project, _ = await send.create_project(database, "a page", template="web")
    async with database.session() as session:
        answer = await save_assistant_result(
            session,
            project.id,
            "Here it is.",
            FragmentDraft(
                title="Hello Page",
                sandbox_url="(set below)",
                files={"index.html": page, "app.js": "console.log('hi')"},
            ),
        )
    assert answer.fragment is not None
    fragment_id = answer.fragment.id
    await database.dispose()
    return fragment_id


def fetch_preview(port: int, name: str, path: str = "/", timeout: float = 60.0) -> httpx.Response:
    """Python does not resolve *.localhost: connect to 127.0.0.1 and send the preview's Host."""
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(
            f"http://127.0.0.1:{port}{path}",
            headers={"Host": f"{name}.preview.localhost:{port}"},
            timeout=30,
        )
        # While the sandbox starts, the gateway answers a page that reloads itself.
        if response.status_code != 503 or time.monotonic() > deadline:
            return response
        time.sleep(0.3)


def test_a_fragment_preview_is_rebuilt_from_the_database(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    require_bwrap()  # the server's sandboxes are isolated, as in production
    page = "<!doctype html><title>t</title><h1>Hello from the stored fragment</h1>"
    fragment_id = asyncio.run(store_fragment(settings, page))
    with live_server(database_url, tmp_path / "data") as server:
        response = fetch_preview(server.port, fragment_id)
        assert response.status_code == 200, response.text[:500]
        assert "Hello from the stored fragment" in response.text
        script = fetch_preview(server.port, fragment_id, "/app.js")
        assert script.text == "console.log('hi')"
        # QAI's own API is not reachable from the preview's origin.
        api = fetch_preview(server.port, fragment_id, "/api/projects")
        assert "items" not in api.text
        unknown = fetch_preview(server.port, "00000000-0000-4000-8000-000000000000")
        assert unknown.status_code == 404
    # A restart loses every sandbox; the same address serves the same page again.
    with live_server(database_url, tmp_path / "data") as server:
        again = fetch_preview(server.port, fragment_id)
        assert again.status_code == 200
        assert "Hello from the stored fragment" in again.text


def test_status_pages_show_log_lines_without_terminal_escape_codes() -> None:
    # What `next dev` writes: colours, bold, a window title, a cursor that hides and shows.
    lines = [
        "\x1b]0;next-server (v15.0.0)\x07\x1b[?25l   \x1b[1m\x1b[38;2;173;127;168m▲ Next.js 15\x1b[39m\x1b[22m",
        " \x1b[32m\x1b[1m✓\x1b[22m\x1b[39m Ready in 2.1s\x1b[?25h",
        "\x1b[31mError:\x1b[0m port\ttaken\x07",
    ]
    for page in (
        pages.starting("a-sandbox", "nextjs", lines),
        pages.failed("a-sandbox", "\x1b[31mexited with code 1\x1b[0m", lines),
    ):
        assert "\x1b" not in page
        assert "\x07" not in page
        assert "▲ Next.js 15" in page
        assert "✓ Ready in 2.1s" in page
        assert "Error: port\ttaken" in page
    assert "a-sandbox</code>: exited with code 1." in pages.failed(
        "a-sandbox", "\x1b[31mexited with code 1\x1b[0m", []
    )
