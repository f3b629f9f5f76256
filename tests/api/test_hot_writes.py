"""Hot writes (``qai.common.hot.HotWrite``): the creates answered before FastAPI. A plain prompt
is one statement on PostgreSQL; any other body is FastAPI's, from the same bytes; the answers
and errors are the same either way. On SQLite and PostgreSQL, through the whole app."""

from __future__ import annotations

import httpx
import pytest

from qai.context import AppContext
from qai.db import Database


async def make_project(client: httpx.AsyncClient) -> str:
    response = await client.post("/api/projects", json={"value": "a kanban board"})
    assert response.status_code == 201, response.text
    project_id: str = response.json()["id"]
    return project_id


async def test_a_plain_create_is_one_statement_on_postgresql(
    client: httpx.AsyncClient, context: AppContext, engine_name: str
) -> None:
    """PostgreSQL: the rows and the run's outbox row in one statement, then (an API-only
    process, as here) the NOTIFY that wakes the workers, on its own after the commit. SQLite:
    one INSERT per row, in one transaction (its workers poll: no NOTIFY)."""
    postgres = engine_name == "postgres"
    database = context.database

    async def statements() -> int:
        await context.runs.wake_workers.flush()  # the NOTIFY of the last commit, sent
        return database.stats.statements

    project_id = await make_project(client)
    before = await statements()
    response = await client.post(f"/api/projects/{project_id}/messages", json={"value": "blue"})
    assert response.status_code == 201, response.text
    assert await statements() - before == (1 + 1 if postgres else 2)  # message and run (+ NOTIFY)
    before = await statements()
    created = await client.post("/api/projects", json={"value": "a todo app"})
    assert created.status_code == 201, created.text
    # The project, its options, its first message and its run (+ the NOTIFY).
    assert await statements() - before == (1 + 1 if postgres else 4)


async def test_the_hot_and_the_framework_answers_are_the_same(client: httpx.AsyncClient) -> None:
    project_id = await make_project(client)
    url = f"/api/projects/{project_id}/messages"
    hot = await client.post(url, json={"value": "make it blue"})
    # With a second field the body is FastAPI's: it reads the same bytes the hot path read.
    framework = await client.post(url, json={"value": "make it red", "model": None})
    assert hot.status_code == framework.status_code == 201, (hot.text, framework.text)
    assert hot.headers["content-type"] == framework.headers["content-type"]
    assert list(hot.json()) == list(framework.json())
    assert hot.json()["content"] == "make it blue"
    assert framework.json()["content"] == "make it red"
    history = (await client.get(url)).json()["items"]
    assert [m["content"] for m in history] == ["a kanban board", "make it blue", "make it red"]
    runs = (await client.get(f"/api/projects/{project_id}/runs")).json()["items"]
    assert sorted(run["messageId"] for run in runs) == sorted(m["id"] for m in history)


async def test_an_unknown_project_is_a_404_and_writes_nothing(
    client: httpx.AsyncClient, database: Database
) -> None:
    response = await client.post(
        "/api/projects/00000000-0000-4000-8000-000000000000/messages", json={"value": "hello"}
    )
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "NOT_FOUND"
    assert error["requestId"] == response.headers["x-request-id"]
    projects = (await client.get("/api/projects")).json()["items"]
    assert projects == []


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b'{"value": ""}', 400, "Prompt is required"),
        (b'{"value": "   "}', 400, "Prompt is required"),
        (b'{"value": "' + b"x" * 1001 + b'"}', 400, "Prompt must be less than 1000 characters"),
        (b'{"value": "a\\u0000b"}', 400, "Prompt must not contain NUL characters"),
        (b'{"value": 5}', 400, None),
        (b'{"value": "ok"', 400, None),
        (b"[]", 400, None),
    ],
)
async def test_refused_bodies_get_the_frameworks_errors(
    client: httpx.AsyncClient, body: bytes, status: int, message: str | None
) -> None:
    project_id = await make_project(client)
    for url in ("/api/projects", f"/api/projects/{project_id}/messages"):
        response = await client.post(
            url, content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == status, (url, response.text)
        error = response.json()["error"]
        assert error["requestId"] == response.headers["x-request-id"]
        if message is not None:
            assert error["message"] == message
    history = (await client.get(f"/api/projects/{project_id}/messages")).json()["items"]
    assert len(history) == 1
    assert len((await client.get("/api/projects")).json()["items"]) == 1


async def test_a_body_that_is_not_json_is_the_frameworks(client: httpx.AsyncClient) -> None:
    project_id = await make_project(client)
    response = await client.post(
        f"/api/projects/{project_id}/messages",
        content=b'{"value": "hello"}',
        headers={"content-type": "text/plain"},
    )
    # FastAPI's answer to a body it cannot read as JSON, not a message saved.
    assert response.status_code == 400, response.text
    history = (await client.get(f"/api/projects/{project_id}/messages")).json()["items"]
    assert len(history) == 1


async def test_a_hot_write_is_counted_under_its_route(client: httpx.AsyncClient) -> None:
    project_id = await make_project(client)
    await client.post(f"/api/projects/{project_id}/messages", json={"value": "blue"})
    metrics = (await client.get("/metrics")).text
    assert 'route="/api/projects/{project_id}/messages"' in metrics
    assert 'route="/api/projects"' in metrics
