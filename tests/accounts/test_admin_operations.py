"""/admin's operations (issue 14, item 7): runs in flight and running sandboxes, each with a
Stop, and the server's health. Through a real server (uvicorn in this process, whose sandbox
manager starts a real sandbox); members get the 404 of a page that does not exist."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from qai.accounts.models import Role
from qai.api import create_app
from qai.context import AppContext
from qai.db import utcnow
from qai.settings import Settings
from qai.workers import service as workers
from tests.accounts.conftest import PASSWORD, Person, csrf_of, make_person
from tests.conftest import free_port

SANDBOX = "admin-stops-me"


@dataclass
class Server:
    context: AppContext
    http: httpx.AsyncClient
    url: str


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[Server]:
    isolation = "bwrap" if shutil.which("bwrap") else "none"
    chosen = settings.model_copy(update={"sandbox_isolation": isolation})
    context = AppContext.build(chosen, role="api")  # runs stay queued: in flight
    port = free_port()
    config = uvicorn.Config(create_app(context), host="127.0.0.1", port=port, log_config=None)
    running = uvicorn.Server(config)
    task = asyncio.create_task(running.serve())
    while not running.started:
        assert not task.done(), "the server did not start"
        await asyncio.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        yield Server(context, http, url)
    await context.sandboxes.stop(SANDBOX, delete_files=True)
    running.should_exit = True
    await task


async def test_admin_sees_runs_sandboxes_and_health_and_stops_them(server: Server) -> None:
    http, context = server.http, server.context
    admin = await make_person(context.database, "root@example.com", Role.ADMIN)
    alice = await make_person(context.database, "alice@example.com")
    async with context.database.session() as session:
        await workers.heartbeat(
            session, "worker-1", role="worker", hostname="box", pid=4242, started_at=utcnow()
        )
    made = await http.post("/api/projects", json={"value": "a clock"}, headers=alice.headers)
    assert made.status_code == 201, made.text
    project = made.json()
    runs = (await http.get(f"/api/projects/{project['id']}/runs", headers=alice.headers)).json()
    run_id = runs["items"][0]["id"]
    await context.sandboxes.start("web", name=SANDBOX)

    page = await http.get("/admin", headers=admin.headers)
    assert page.status_code == 200
    run_row = _row(page.text, f'data-run-id="{run_id}"')
    assert project["name"] in run_row
    assert alice.email in run_row
    assert "queued" in run_row
    assert 'action="/admin/runs/stop"' in run_row
    box_row = _row(page.text, f'data-sandbox="{SANDBOX}"')
    assert "<td>web</td>" in box_row
    assert "0 min" in box_row
    assert 'action="/admin/sandboxes/stop"' in box_row
    assert "ready (reachable, migrated)" in page.text
    assert re.search(r'id="health-workers">1 alive<', page.text)
    assert "worker-1" in page.text
    assert re.search(r'id="health-sandboxes">1 running', page.text)
    assert re.search(r'id="health-runs">1 queued', page.text)

    # A member gets 404 on the page and on every Stop, and stops nothing.
    await _members_get_404(http, alice, run_id)
    assert await context.sandboxes.get(SANDBOX) is not None
    assert (await http.get(f"/api/runs/{run_id}", headers=alice.headers)).json()[
        "cancelRequestedAt"
    ] is None

    stopped = await http.post("/admin/runs/stop", data={"run_id": run_id}, headers=admin.headers)
    assert stopped.status_code == 303
    run = (await http.get(f"/api/runs/{run_id}", headers=alice.headers)).json()
    assert run["cancelRequestedAt"] is not None  # the same request as POST .../cancel
    stopped = await http.post(
        "/admin/sandboxes/stop", data={"name": SANDBOX}, headers=admin.headers
    )
    assert stopped.status_code == 303
    assert await context.sandboxes.get(SANDBOX) is None
    again = await http.post("/admin/sandboxes/stop", data={"name": SANDBOX}, headers=admin.headers)
    assert again.status_code == 404
    assert "is running" in again.json()["error"]["message"]

    page = await http.get("/admin", headers=admin.headers)
    assert "(stopping)" in _row(page.text, f'data-run-id="{run_id}"')
    assert "No sandbox is running." in page.text
    assert "run.stop" in page.text
    assert "sandbox.stop" in page.text


async def test_a_signed_in_admins_stop_needs_the_forms_token(server: Server) -> None:
    http, context = server.http, server.context
    await make_person(context.database, "root@example.com", Role.ADMIN)
    alice = await make_person(context.database, "alice@example.com")
    made = await http.post("/api/projects", json={"value": "a clock"}, headers=alice.headers)
    run_id = (
        await http.get(f"/api/projects/{made.json()['id']}/runs", headers=alice.headers)
    ).json()["items"][0]["id"]
    login = await http.get("/login")
    signed_in = await http.post(
        "/login",
        data={"email": "root@example.com", "password": PASSWORD, "csrf": csrf_of(login.text)},
        headers={"Origin": server.url},
    )
    assert signed_in.status_code == 303, signed_in.text
    origin = {"Origin": server.url}
    refused = await http.post("/admin/runs/stop", data={"run_id": run_id}, headers=origin)
    assert refused.status_code == 403
    page = await http.get("/admin")
    stopped = await http.post(
        "/admin/runs/stop", data={"run_id": run_id, "csrf": csrf_of(page.text)}, headers=origin
    )
    assert stopped.status_code == 303


async def _members_get_404(http: httpx.AsyncClient, member: Person, run_id: str) -> None:
    assert (await http.get("/admin", headers=member.headers)).status_code == 404
    for path, form in (
        ("/admin/runs/stop", {"run_id": run_id}),
        ("/admin/sandboxes/stop", {"name": SANDBOX}),
    ):
        response = await http.post(path, data=form, headers=member.headers)
        assert response.status_code == 404, path


def _row(html: str, marker: str) -> str:
    start = html.index(marker)
    return html[start : html.index("</tr>", start)]
