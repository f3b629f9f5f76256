"""Runs you can see: the runs endpoints and the live event stream, over real HTTP (uvicorn) with
a worker in the same process and a scripted model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
import uvicorn
from pydantic_ai.models import Model
from sqlalchemy import create_engine, insert

from qai.api import create_app
from qai.context import AppContext
from qai.db import Database
from qai.live.models import Event
from qai.settings import Settings
from tests.agent.support import (
    call,
    drop_system_database,
    scripted,
    summary,
    wait_for_answer,
    write,
)
from tests.conftest import free_port
from tests.runs.sse import ServerEvent, collect, read_events

Serve = Callable[[Model | None], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def serve(settings: Settings, database_url: str) -> AsyncIterator[Serve]:
    """`qai serve` in this process (uvicorn on a free port), its worker running ``model``; the
    server's lifespan starts its context and closes it when the server stops."""
    servers: list[tuple[uvicorn.Server, asyncio.Task[None], httpx.AsyncClient]] = []

    async def start(model: Model | None) -> httpx.AsyncClient:
        ctx = AppContext.build(settings, role="serve", model=model)
        port = free_port()
        config = uvicorn.Config(create_app(ctx), host="127.0.0.1", port=port, log_config=None)
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            assert not task.done(), "the server did not start"
            await asyncio.sleep(0.02)
        client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)
        servers.append((server, task, client))
        return client

    yield start
    for server, task, client in servers:
        await client.aclose()
        server.should_exit = True
        await task
    drop_system_database(database_url)


PAGE = "<h1>Hello</h1>"


def builder() -> Model:
    return scripted(
        write({"index.html": PAGE}), call("terminal", command="ls"), summary("A hello page.")
    )


async def test_runs_are_listed_newest_first_with_their_steps(
    serve: Serve, database: Database
) -> None:
    client = await serve(builder())
    project = (await client.post("/api/projects", json={"value": "Build a hello page"})).json()
    history = (await client.get(f"/api/projects/{project['id']}/messages")).json()
    first = history["items"][0]["id"]
    await wait_for_answer(database, first)
    sent = await client.post(
        f"/api/projects/{project['id']}/messages", json={"value": "Say hello louder"}
    )
    second = sent.json()["id"]
    await wait_for_answer(database, second)

    page = (await client.get(f"/api/projects/{project['id']}/runs", params={"limit": 1})).json()
    assert [run["id"] for run in page["items"]] == [second]
    assert page["nextCursor"]
    rest = await client.get(
        f"/api/projects/{project['id']}/runs", params={"cursor": page["nextCursor"]}
    )
    assert [run["id"] for run in rest.json()["items"]] == [first]
    assert rest.json()["nextCursor"] is None

    run = (await client.get(f"/api/runs/{first}")).json()
    assert run["status"] == "succeeded"
    assert run["messageId"] == first
    assert run["projectId"] == project["id"]
    assert run["turns"] == 3
    assert run["answerMessageId"]
    assert run["startedAt"].endswith("Z")
    assert [(s["seq"], s["kind"], s["label"], s["outcome"]) for s in run["steps"]] == [
        (1, "model", "Asking the model (turn 1)", "ok"),
        (2, "write", "Writing index.html", "ok"),
        (3, "model", "Asking the model (turn 2)", "ok"),
        (4, "terminal", "Running ls", "ok"),
        (5, "model", "Asking the model (turn 3)", "ok"),
    ]
    # Each model call is a step with its tokens; tool calls have none.
    models = [s for s in run["steps"] if s["kind"] == "model"]
    assert all(s["inputTokens"] > 0 and s["outputTokens"] > 0 for s in models)
    assert sum(s["inputTokens"] for s in models) == run["inputTokens"]
    assert all(s["inputTokens"] is None for s in run["steps"] if s["kind"] != "model")


async def test_unknown_runs_and_projects_answer_404_in_the_error_shape(serve: Serve) -> None:
    client = await serve(None)
    for path in ("/api/runs/nope", "/api/projects/nope/runs", "/api/projects/nope/events"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "NOT_FOUND"
    project = (await client.post("/api/projects", json={"value": "anything"})).json()
    bad = await client.get(
        f"/api/projects/{project['id']}/events", headers={"Last-Event-ID": "abc"}
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "BAD_REQUEST"
    bad_limit = await client.get(f"/api/projects/{project['id']}/runs", params={"limit": 0})
    assert bad_limit.status_code == 400


def is_answer(event: ServerEvent) -> bool:
    return event.kind == "message.created" and event.data["role"] == "ASSISTANT"


async def test_the_event_stream_replays_resumes_and_goes_live(
    serve: Serve, database_url: str
) -> None:
    client = await serve(builder())
    project = (await client.post("/api/projects", json={"value": "Build a hello page"})).json()
    events_url = f"/api/projects/{project['id']}/events"

    async with client.stream("GET", events_url, params={"after": 0}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        replayed = await collect(
            response, until=lambda e: e.kind == "run.updated" and e.data["status"] == "succeeded"
        )
    kinds = [event.kind for event in replayed]
    assert kinds[0] == "ready"
    assert kinds[1:4] == ["message.created", "run.updated", "run.updated"]
    # two tool calls and three model calls, each started then finished
    assert kinds.count("run.step") == 10
    answer = next(event for event in replayed if is_answer(event))
    assert answer.data["type"] == "RESULT"
    # Events carry no files (a version's whole source); the fragment is fetched by id.
    assert answer.data["fragment"]["files"] == {}
    assert answer.data["fragment"]["filesOmitted"] is True
    fragment = await client.get(f"/api/fragments/{answer.data['fragment']['id']}")
    assert fragment.json()["files"] == {"index.html": PAGE}
    ids = [event.id for event in replayed[1:]]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)

    # Resume after the third event: exactly the rest comes again.
    resume_from = replayed[3].id
    assert resume_from is not None
    async with client.stream(
        "GET", events_url, headers={"Last-Event-ID": str(resume_from)}
    ) as response:
        resumed = await collect(response, until=lambda e: e.id == replayed[-1].id)
    assert [e.id for e in resumed[1:]] == ids[3:]

    # Live: a new message's events arrive while the stream is open; and so does an event
    # written by another process (straight into the table: no in-process wake-up).
    async with client.stream("GET", events_url) as response:
        events = read_events(response)
        ready = await anext(events)
        assert ready.kind == "ready"
        assert ready.id == replayed[-1].id
        await client.post(f"/api/projects/{project['id']}/messages", json={"value": "again"})
        created = await anext(events)
        assert created.kind == "message.created"
        assert created.data["content"] == "again"
        while not is_answer(await anext(events)):
            pass
        other_process = create_engine(
            database_url.replace("postgresql://", "postgresql+psycopg://")
        )
        with other_process.begin() as connection:
            connection.execute(
                insert(Event).values(
                    project_id=project["id"], kind="run.updated", data={"from": "elsewhere"}
                )
            )
        other_process.dispose()
        async with asyncio.timeout(5):
            event = await anext(events)
            while event.data != {"from": "elsewhere"}:
                event = await anext(events)
