"""HTTP: runs of a project, one run, and the project's live event stream."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import StreamingResponse

from qai.api.responses import errors
from qai.db import read_session
from qai.errors import BadRequest, ProjectNotFound
from qai.live import service as live
from qai.projects.repository import ProjectRepository
from qai.runs import service
from qai.runs.schemas import RunDetail, RunOut, RunPage, RunStepOut
from qai.settings import get_settings

router = APIRouter(tags=["runs"])

ProjectId = Annotated[str, Path(description="The project's id.")]


@router.get(
    "/api/projects/{project_id}/runs",
    summary="Runs of a project, newest first",
    responses=errors(400, 404),
)
async def list_runs(
    project_id: ProjectId,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(description="nextCursor of the previous page")] = None,
) -> RunPage:
    async with read_session() as session:
        page = await service.list_runs(session, project_id, limit=limit, cursor=cursor)
    return RunPage(
        items=[RunOut.model_validate(run) for run in page.items], next_cursor=page.next_cursor
    )


@router.get("/api/runs/{run_id}", summary="One run with its steps", responses=errors(400, 404))
async def get_run(run_id: Annotated[str, Path(description="The run's id.")]) -> RunDetail:
    async with read_session() as session:
        found = await service.get_run(session, run_id)
    return RunDetail(
        **RunOut.model_validate(found.run).model_dump(),
        steps=[RunStepOut.model_validate(step) for step in found.steps],
    )


def _event_id(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit():
        message = f"{name} must be an event id (a whole number) from a previous event"
        raise BadRequest(message, issues=[{"path": [name], "message": message}])
    return int(value)


@router.get(
    "/api/projects/{project_id}/events",
    summary="Live events of a project (server-sent events)",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "message.created, run.updated and run.step events; see docs/agent.md",
        },
        **errors(400, 404),
    },
)
async def project_events(
    project_id: ProjectId,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    after: Annotated[
        str | None,
        Query(
            description="Resume after this event id (for clients that cannot send Last-Event-ID)"
        ),
    ] = None,
) -> StreamingResponse:
    start = _event_id(last_event_id, "Last-Event-ID")
    if start is None:
        start = _event_id(after, "after")
    async with read_session() as session:
        if not await ProjectRepository(session).exists(project_id):
            raise ProjectNotFound()
        if start is None:
            start = await live.latest_event_id(session, project_id)
    settings = get_settings()
    return StreamingResponse(
        live.stream(project_id, start, poll_seconds=settings.live_poll_seconds),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
