"""End to end, nothing faked but the model: `qai serve` as a real process with its worker, the
real OpenAI client (Responses API) talking to the fake OpenAI-compatible server, a real sandbox
and the real database. Creating a project ends in a RESULT and a fragment whose preview serves
the page the agent wrote."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from qai.sandbox import make_sandbox_manager
from qai.settings import Settings
from tests.agent.support import HAVE_BWRAP, drop_system_database
from tests.fakes.openai_server import FakeOpenAI
from tests.live import live_server

MARKER = "Hello from the scripted agent"
PAGE = f"<!doctype html><html><body><h1>{MARKER}</h1></body></html>"
SCRIPT = {
    "api_key": "sk-test",
    "conversations": [
        {
            "match": "hello page",
            "turns": [
                {
                    "tool_calls": [
                        {
                            "name": "createOrUpdateFiles",
                            "arguments": {"files": [{"path": "index.html", "content": PAGE}]},
                        }
                    ]
                },
                {"tool_calls": [{"name": "terminal", "arguments": {"command": "ls"}}]},
                {"text": "Done!\n<task_summary>A hello page with a big greeting.</task_summary>"},
            ],
        }
    ],
}


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(SCRIPT) as fake:
        yield fake


def wait_for_assistant(client: httpx.Client, project_id: str, within: float) -> dict[str, object]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        items = client.get(f"/api/projects/{project_id}/messages").json()["items"]
        answers = [m for m in items if m["role"] == "ASSISTANT"]
        if answers:
            assert len(answers) == 1
            return answers[0]
        time.sleep(0.05)
    raise AssertionError(f"no answer within {within}s")


def fetch_from_sandbox(settings: Settings, name: str) -> str:
    """GET / from the sandbox's own server, through its network namespace (found by a sandbox
    manager of this process, as `qai sandbox` finds the sandboxes of a server)."""

    async def fetch() -> str:
        manager = make_sandbox_manager(settings)
        try:
            sandbox = await manager.get(name)
            assert sandbox is not None, f"sandbox {name} is not running"
            sock = await sandbox.open_socket()
            loop = asyncio.get_running_loop()
            try:
                await loop.sock_sendall(sock, b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
                chunks = []
                while chunk := await loop.sock_recv(sock, 65536):
                    chunks.append(chunk)
            finally:
                sock.close()
        finally:
            await manager.shutdown()
        return b"".join(chunks).decode(errors="replace")

    return asyncio.run(fetch())


def test_a_project_ends_in_a_result_whose_preview_serves_the_page(
    settings: Settings, database_url: str, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    env = {
        "QAI_MODEL": "openai:gpt-fake",
        "OPENAI_BASE_URL": fake_openai.base_url,
        "OPENAI_API_KEY": "sk-test",
        "QAI_SANDBOX_ISOLATION": "bwrap" if HAVE_BWRAP else "none",
        "QAI_QUEUE_POLL_SECONDS": "0.05",
    }
    try:
        with contextlib.ExitStack() as stack:
            server = stack.enter_context(live_server(database_url, settings.data_dir, **env))
            client = stack.enter_context(httpx.Client(base_url=server.url, timeout=30))
            started = time.monotonic()
            created = client.post("/api/projects", json={"value": "Build a hello page"})
            assert created.status_code == 201, created.text
            project = created.json()
            answer = wait_for_assistant(client, project["id"], within=60)
            elapsed = time.monotonic() - started

            assert answer["type"] == "RESULT", answer["content"]
            fragment = answer["fragment"]
            assert isinstance(fragment, dict)
            assert fragment["files"] == {"index.html": PAGE}
            assert fragment["summary"] == "A hello page with a big greeting."
            assert len(fragment["title"].split()) <= 3
            host = f"{fragment['id']}.preview.localhost:{server.port}"
            assert fragment["sandboxUrl"] == f"http://{host}"
            runs = client.get(f"/api/projects/{project['id']}/runs").json()["items"]
            assert [run["status"] for run in runs] == ["succeeded"]
            assert runs[0]["model"] == "openai:gpt-fake"
            assert runs[0]["turns"] == 3
            # Every model request went through the real client's Responses API.
            assert [r["path"] for r in fake_openai.requests] == ["/v1/responses"] * 3

            # The sandbox serves the page; so does the preview gateway, on its own origin.
            assert MARKER in fetch_from_sandbox(settings, fragment["id"])
            preview = httpx.get(f"http://127.0.0.1:{server.port}/", headers={"Host": host})
            assert preview.status_code == 200
            assert MARKER in preview.text
    finally:
        drop_system_database(database_url)
    print(f"\nPOST /api/projects -> RESULT in {elapsed:.2f}s")
