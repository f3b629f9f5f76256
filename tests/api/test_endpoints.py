"""Every endpoint through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import httpx

from qai.db import Database
from qai.settings import Settings
from tests.needs import mark_prepared

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


async def create(client: httpx.AsyncClient, value: str = "a kanban board", **extra: str) -> dict:
    response = await client.post("/api/projects", json={"value": value, **extra})
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_project_answers_201_and_starts_a_run(client: httpx.AsyncClient) -> None:
    project = await create(client, "a todo app")
    assert set(project) == {"id", "name", "createdAt", "updatedAt", "template"}
    assert re.fullmatch(r"[a-z]+-[a-z]+", project["name"])
    assert ISO.match(project["createdAt"])
    assert ISO.match(project["updatedAt"])
    assert project["template"] == "web"

    messages = (await client.get(f"/api/projects/{project['id']}/messages")).json()
    [first] = messages["items"]
    # The run for the first message was queued (this app only enqueues; no worker executes).
    [run] = (await client.get(f"/api/projects/{project['id']}/runs")).json()["items"]
    assert (run["id"], run["messageId"], run["projectId"]) == (
        first["id"],
        first["id"],
        project["id"],
    )
    assert {k: first[k] for k in ("content", "role", "type", "projectId", "fragment")} == {
        "content": "a todo app",
        "role": "USER",
        "type": "RESULT",
        "projectId": project["id"],
        "fragment": None,
    }
    assert messages["nextCursor"] is None


async def test_create_with_template(client: httpx.AsyncClient, settings: Settings) -> None:
    mark_prepared(settings.data_dir, "nextjs")  # an unprepared one is refused (test_templates)
    project = await create(client, "a landing page", template="nextjs")
    assert project["template"] == "nextjs"
    fetched = (await client.get(f"/api/projects/{project['id']}")).json()
    assert fetched == project


async def test_get_rename_delete(client: httpx.AsyncClient) -> None:
    project = await create(client)
    response = await client.patch(f"/api/projects/{project['id']}", json={"name": "Board"})
    assert response.status_code == 200
    assert response.json()["name"] == "Board"
    assert response.json()["updatedAt"] >= project["updatedAt"]
    response = await client.delete(f"/api/projects/{project['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(f"/api/projects/{project['id']}")).status_code == 404
    assert (await client.get(f"/api/projects/{project['id']}/messages")).status_code == 404


async def test_list_newest_first_with_cursor(client: httpx.AsyncClient) -> None:
    ids = [(await create(client, f"app {i}"))["id"] for i in range(5)]
    first = (await client.get("/api/projects", params={"limit": 2})).json()
    assert len(first["items"]) == 2
    assert first["nextCursor"]
    seen = [p["id"] for p in first["items"]]
    cursor = first["nextCursor"]
    while cursor:
        page = (await client.get("/api/projects", params={"limit": 2, "cursor": cursor})).json()
        seen += [p["id"] for p in page["items"]]
        cursor = page["nextCursor"]
    assert seen == list(reversed(ids))


async def test_send_message(client: httpx.AsyncClient) -> None:
    project = await create(client)
    response = await client.post(
        f"/api/projects/{project['id']}/messages", json={"value": "make it blue"}
    )
    assert response.status_code == 201
    message = response.json()
    assert (message["role"], message["type"], message["content"], message["fragment"]) == (
        "USER",
        "RESULT",
        "make it blue",
        None,
    )
    history = (await client.get(f"/api/projects/{project['id']}/messages")).json()["items"]
    assert [m["content"] for m in history] == ["a kanban board", "make it blue"]
    runs = (await client.get(f"/api/projects/{project['id']}/runs")).json()["items"]
    assert sorted(r["messageId"] for r in runs) == sorted(m["id"] for m in history)


async def test_message_history_pages_latest_then_older(client: httpx.AsyncClient) -> None:
    project = await create(client, "m0")
    for index in range(1, 6):
        await client.post(f"/api/projects/{project['id']}/messages", json={"value": f"m{index}"})
    url = f"/api/projects/{project['id']}/messages"
    everything = [m["content"] for m in (await client.get(url)).json()["items"]]
    assert sorted(everything) == [f"m{i}" for i in range(6)]
    latest = (await client.get(url, params={"latest": "true", "limit": 4})).json()
    assert [m["content"] for m in latest["items"]] == everything[2:]
    older = (await client.get(url, params={"before": latest["prevCursor"], "limit": 4})).json()
    assert [m["content"] for m in older["items"]] == everything[:2]
    assert older["prevCursor"] is None


async def test_fragment_endpoint(client: httpx.AsyncClient, database: Database) -> None:
    from qai.messages.service import FragmentDraft, save_assistant_result

    project = await create(client)
    async with database.session() as session:
        answer = await save_assistant_result(
            session,
            project["id"],
            "Here is your board.",
            FragmentDraft(
                title="Kanban Board",
                sandbox_url="http://f.preview.localhost:8000",
                files={"index.html": "<h1>Board</h1>"},
                summary="A board.",
            ),
        )
    history = (await client.get(f"/api/projects/{project['id']}/messages")).json()["items"]
    fragment = history[-1]["fragment"]
    assert history[-1]["id"] == answer.id
    assert fragment["messageId"] == answer.id
    assert fragment["files"] == {"index.html": "<h1>Board</h1>"}
    fetched = (await client.get(f"/api/fragments/{fragment['id']}")).json()
    assert fetched == fragment
    missing = await client.get("/api/fragments/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "Fragment not found"


async def test_health_and_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    await create(client)
    await client.get("/api/projects/nope")
    text = (await client.get("/metrics")).text
    assert 'qai_http_requests_total{method="POST",route="/api/projects",status="201"} 1.0' in text
    assert 'route="/api/projects/{project_id}",status="404"' in text
    assert "qai_db_pool_checked_out" in text
    assert "qai_db_slow_queries" in text
    assert "qai_http_request_duration_seconds_bucket" in text
    # The project's first message queued a run (this app only enqueues).
    assert 'qai_runs{status="queued"} 1.0' in text
    assert 'qai_runs{status="succeeded"} 0.0' in text


async def test_request_id_is_echoed_and_generated(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    generated = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])


async def test_openapi_schema(client: httpx.AsyncClient) -> None:
    assert (await client.get("/openapi.json")).status_code == 200


async def test_a_hot_read_that_fails_is_answered_once_in_the_error_shape(
    client: httpx.AsyncClient, database: Database
) -> None:
    """The hot reads answer their own errors: the read is not run a second time by FastAPI."""
    stats = database.stats
    before = stats.statements
    response = await client.get("/api/projects/missing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
    assert response.json()["error"]["requestId"] == response.headers["x-request-id"]
    assert stats.statements - before == 1  # the project's row, read once
    before = stats.statements
    history = await client.get("/api/projects/missing/messages", params={"limit": 5})
    assert history.status_code == 404
    assert history.json()["error"]["message"] == "Project not found"
    assert stats.statements - before == 2  # the empty page, then whether the project exists
    bad = await client.get("/api/projects", params={"cursor": "%%%"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "BAD_REQUEST"
