"""HTTP: projects (the original's projects.* procedures, plus rename and delete) and a
project's history (messages.getMany)."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from qai.common.deps import DatabaseDep
from qai.common.hot import HotRead, flag, text, whole_number
from qai.common.ids import ProjectId, check_project_id
from qai.common.openapi import errors
from qai.common.principal import LOCAL, PrincipalDep
from qai.common.responses import json_response
from qai.errors import BadRequest
from qai.messages.encode import history_page_json
from qai.messages.schemas import MessagePage
from qai.projects import service
from qai.projects.encode import project_json, project_page_json
from qai.projects.schemas import ProjectOut, ProjectPage, ProjectRename

router = APIRouter()

PAGE_MAX = 200
HISTORY_PAGE_MAX = 500

# The reads answer typed rows as JSON bytes built by orjson: no session, no transaction round
# trips, no ORM objects, no Pydantic pass (see docs/benchmarks.md). The three most frequent are
# also hot reads (``HOT_READS``): the same functions, called before FastAPI's routing.


@router.get(
    "/api/projects",
    tags=["projects"],
    summary="Projects, newest first",
    response_model=ProjectPage,
    responses=errors(400),
)
async def list_projects(
    db: DatabaseDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50,
    cursor: Annotated[str | None, Query(description="nextCursor of the previous page")] = None,
) -> Response:
    page = await service.list_projects(db, limit=limit, cursor=cursor, owner=principal.owner_filter)
    return json_response(project_page_json(page))


@router.get(
    "/api/projects/{project_id}",
    tags=["projects"],
    summary="One project",
    response_model=ProjectOut,
    responses=errors(400, 404),
)
async def get_project(project_id: ProjectId, db: DatabaseDep) -> Response:
    return json_response(project_json(await service.get_project(db, check_project_id(project_id))))


@router.patch(
    "/api/projects/{project_id}",
    tags=["projects"],
    summary="Rename a project",
    response_model=ProjectOut,
    responses=errors(400, 404, 413),
)
async def rename_project(project_id: ProjectId, body: ProjectRename, db: DatabaseDep) -> Response:
    async with db.session() as session:
        project = await service.rename_project(session, check_project_id(project_id), body.name)
    return json_response(project_json(project))


@router.delete(
    "/api/projects/{project_id}",
    tags=["projects"],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a project with its messages and fragments",
    responses=errors(400, 404),
)
async def delete_project(project_id: ProjectId, db: DatabaseDep) -> Response:
    async with db.session() as session:
        await service.delete_project(session, check_project_id(project_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/api/projects/{project_id}/messages",
    tags=["messages"],
    summary="A project's messages, oldest first, each with its fragment or null",
    response_model=MessagePage,
    responses=errors(400, 404),
)
async def list_messages(
    project_id: ProjectId,
    db: DatabaseDep,
    limit: Annotated[int, Query(ge=1, le=HISTORY_PAGE_MAX)] = 100,
    cursor: Annotated[str | None, Query(description="nextCursor: newer messages")] = None,
    before: Annotated[str | None, Query(description="prevCursor: older messages")] = None,
    latest: Annotated[
        bool, Query(description="Start from the newest messages instead of the oldest")
    ] = False,
) -> Response:
    if cursor is not None and (before is not None or latest):
        raise BadRequest("Pass either cursor or before/latest, not both")
    page = await service.history(
        db, check_project_id(project_id), limit=limit, cursor=cursor, before=before, latest=latest
    )
    return json_response(history_page_json(page))


# Hot reads answer only without accounts (``QAI_AUTH=none``), for the one local person.
HOT_READS = (
    HotRead(
        "/api/projects",
        partial(list_projects, principal=LOCAL),
        {"limit": whole_number(1, PAGE_MAX), "cursor": text},
    ),
    HotRead("/api/projects/{project_id}", get_project),
    HotRead(
        "/api/projects/{project_id}/messages",
        list_messages,
        {
            "limit": whole_number(1, HISTORY_PAGE_MAX),
            "cursor": text,
            "before": text,
            "latest": flag,
        },
    ),
)
