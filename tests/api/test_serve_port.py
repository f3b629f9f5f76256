"""`qai serve --port N` serves on N, and so do the previews it stores: a fragment's
``sandboxUrl`` carries port N and opening that very address shows the page the agent wrote.

The port comes from the command line only (no ``QAI_PORT``), as a user types it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.agent.support import HAVE_BWRAP
from tests.fakes.openai_server import FakeOpenAI
from tests.live import live_server

MARKER = f"served-on-the-cli-port-{uuid.uuid4().hex}"
PAGE = f"<!doctype html><html><body><h1>{MARKER}</h1></body></html>"
SCRIPT = {
    "api_key": "sk-test",
    "conversations": [
        {
            "match": "port page",
            "turns": [
                {
                    "tool_calls": [
                        {
                            "name": "createOrUpdateFiles",
                            "arguments": {"files": [{"path": "index.html", "content": PAGE}]},
                        }
                    ]
                },
                {"text": "Done.\n<task_summary>A page that names its port.</task_summary>"},
            ],
        }
    ],
}


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(SCRIPT) as fake:
        yield fake


def wait_for_answer(client: httpx.Client, project_id: str, within: float) -> dict[str, object]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        items = client.get(f"/api/projects/{project_id}/messages").json()["items"]
        answers = [m for m in items if m["role"] == "ASSISTANT"]
        if answers:
            return dict(answers[0])
        time.sleep(0.1)
    raise AssertionError(f"no ASSISTANT answer within {within}s")


def open_preview(url: str, within: float = 60.0) -> httpx.Response:
    """GET ``url`` as a browser would: Python does not resolve *.localhost, so connect to
    127.0.0.1 at the URL's port and send the URL's host."""
    parts = urlsplit(url)
    deadline = time.monotonic() + within
    while True:
        response = httpx.get(
            f"http://127.0.0.1:{parts.port or 80}/", headers={"Host": parts.netloc}, timeout=30
        )
        # While the sandbox starts, the gateway answers a page that reloads itself.
        if response.status_code != 503 or time.monotonic() > deadline:
            return response
        time.sleep(0.3)


def test_previews_use_the_port_given_on_the_command_line(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    # The port is given only as `qai serve --port`: no QAI_PORT in the server's environment.
    with (
        live_server(
            f"sqlite:///{tmp_path / 'qai.db'}",
            tmp_path / "data",
            port_option=True,
            QAI_MODEL="openai:gpt-fake",
            OPENAI_BASE_URL=fake_openai.base_url,
            OPENAI_API_KEY="sk-test",
            QAI_SANDBOX_ISOLATION="bwrap" if HAVE_BWRAP else "none",
            QAI_QUEUE_POLL_SECONDS="0.05",
        ) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        port = server.port
        created = client.post("/api/projects", json={"value": "Build a port page"})
        assert created.status_code == 201, created.text
        answer = wait_for_answer(client, created.json()["id"], within=60)
        assert answer["type"] == "RESULT", f"{answer['content']}\n{server.log()[-3000:]}"
        fragment = answer["fragment"]
        assert isinstance(fragment, dict)

        sandbox_url = fragment["sandboxUrl"]
        assert sandbox_url == f"http://{fragment['id']}.preview.localhost:{port}", (
            f"`qai serve --port {port}` stored the preview address {sandbox_url}"
        )
        preview = open_preview(sandbox_url)
        assert preview.status_code == 200, preview.text[:500]
        assert MARKER in preview.text
