"""A real server process: the CLI against it, readiness through a database outage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from qai.client import ApiError, AsyncClient, Client
from tests.conftest import pg_url
from tests.live import live_server


def qai(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qai", *args],
        env={"PATH": os.environ.get("PATH", ""), "QAI_URL": url},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_cli_and_client_against_a_live_server(database_url: str, tmp_path: Path) -> None:
    with live_server(database_url, tmp_path / "data") as server:
        assert qai("projects", "list", url=server.url).stdout.strip() == "No projects yet"
        created = qai("projects", "create", "a kanban board", "--json", url=server.url)
        assert created.returncode == 0, created.stderr
        project = json.loads(created.stdout)
        assert project["template"] == "web"

        table = qai("projects", "list", url=server.url).stdout
        assert project["id"] in table
        assert project["name"] in table
        assert "just now" in table

        shown = json.loads(qai("projects", "show", project["id"], "--json", url=server.url).stdout)
        # updatedAt moves when the run answers (here: no model configured, an ERROR answer).
        assert {**shown, "updatedAt": None} == {**project, "updatedAt": None}

        renamed = qai("projects", "rename", project["id"], "My Board", url=server.url)
        assert renamed.stdout.strip() == "renamed to My Board"

        sent = qai("messages", "send", project["id"], "make it blue", "--json", url=server.url)
        assert json.loads(sent.stdout)["content"] == "make it blue"
        history = json.loads(
            qai("messages", "list", project["id"], "--json", url=server.url).stdout
        )
        users = [m["content"] for m in history["items"] if m["role"] == "USER"]
        assert users == ["a kanban board", "make it blue"]
        assert "make it blue" in qai("messages", "list", project["id"], url=server.url).stdout

        missing = qai("projects", "show", "nope", url=server.url)
        assert missing.returncode == 1
        assert "NOT_FOUND: Project not found" in missing.stderr
        invalid = qai("projects", "create", "x" * 1001, url=server.url)
        assert "BAD_REQUEST: Prompt must be less than 1000 characters" in invalid.stderr

        with Client(server.url) as client:
            assert client.get_project(project["id"]).name == "My Board"
            with pytest.raises(ApiError) as caught:
                client.send_message("nope", "hi")
            assert (caught.value.code, caught.value.status) == ("NOT_FOUND", 404)
            assert caught.value.request_id

        deleted = qai("projects", "delete", project["id"], "--yes", url=server.url)
        assert deleted.stdout.strip() == "deleted"
        assert qai("projects", "list", "--json", url=server.url).stdout.count('"id"') == 0

    down = qai("projects", "list", url=server.url)
    assert down.returncode == 1
    assert "Cannot reach QAI" in down.stderr


async def test_async_client(database_url: str, tmp_path: Path) -> None:
    with live_server(database_url, tmp_path / "data") as server:
        async with AsyncClient(server.url) as client:
            project = await client.create_project("a store page", template="web")
            message = await client.send_message(project.id, "add a cart")
            page = await client.list_messages(project.id)
            assert message.id in [m.id for m in page.items]
            projects = await client.list_projects()
            assert [p.id for p in projects.items] == [project.id]


def wait_for_status(url: str, status: int, timeout: float = 20.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(url + "/readyz", timeout=10)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def test_readyz_follows_a_database_outage_without_restart(
    database_url: str, engine_name: str, tmp_path: Path
) -> None:
    with live_server(database_url, tmp_path / "data") as server:
        assert wait_for_status(server.url, 200).json()["status"] == "ready"
        if engine_name == "sqlite":
            path = Path(database_url.removeprefix("sqlite:///"))
            hidden = path.with_name("hidden.db")
            path.rename(hidden)
            restore = lambda: hidden.rename(path)  # noqa: E731
        else:
            name = database_url.rsplit("/", 1)[1]
            with psycopg.connect(pg_url("postgres"), autocommit=True) as conn:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )
                conn.execute(f'ALTER DATABASE "{name}" RENAME TO "{name}_away"')

            def restore() -> None:
                with psycopg.connect(pg_url("postgres"), autocommit=True) as conn:
                    conn.execute(f'ALTER DATABASE "{name}_away" RENAME TO "{name}"')

        try:
            down = wait_for_status(server.url, 503)
            assert down.status_code == 503, down.text
            assert down.json()["status"] == "unavailable"
            assert down.json()["reason"]
            assert httpx.get(server.url + "/healthz").status_code == 200
        finally:
            restore()
        up = wait_for_status(server.url, 200)
        assert up.status_code == 200, up.text
        assert httpx.get(server.url + "/api/projects").status_code == 200


def test_json_logs_carry_request_ids_and_exposure_is_warned(
    database_url: str, tmp_path: Path
) -> None:
    with live_server(
        database_url,
        tmp_path / "data",
        QAI_LOG_FORMAT="json",
        QAI_HOST="0.0.0.0",
        QAI_AUTH="accounts",  # without accounts QAI refuses to listen beyond loopback
    ) as server:
        response = httpx.get(
            server.url + "/api/projects/nope", headers={"X-Request-ID": "trace-42"}
        )
        assert response.status_code == 401
        deadline = time.monotonic() + 10
        while '"trace-42"' not in server.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("request_id") == "trace-42"]
    assert access, server.log()
    assert access[0]["status"] == 401
    assert access[0]["path"] == "/api/projects/nope"
    assert access[0]["logger"] == "qai.access"
    warnings = [
        line for line in lines if line["level"] == "warning" and "0.0.0.0" in line["message"]
    ]
    assert warnings, "listening on 0.0.0.0 must be warned about"
    assert "HTTPS" in warnings[0]["message"]


def test_open_event_streams_do_not_hold_up_shutdown(database_url: str, tmp_path: Path) -> None:
    import signal
    import threading

    with live_server(database_url, tmp_path / "data") as server:
        project = httpx.post(server.url + "/api/projects", json={"value": "a page"}).json()
        opened = threading.Event()
        ended = threading.Event()

        def listen() -> None:
            url = f"{server.url}/api/projects/{project['id']}/events"
            with httpx.stream("GET", url, timeout=60) as response:
                for _ in response.iter_lines():
                    opened.set()
            ended.set()

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        assert opened.wait(30)
        server.process.send_signal(signal.SIGTERM)
        # uvicorn re-raises the signal once it has shut down cleanly.
        assert server.process.wait(timeout=60) in (0, -signal.SIGTERM)
        assert ended.wait(30), "the stream was not closed by the server"
        assert "graceful shutdown exceeded" not in server.log(), server.log()[-2000:]
