"""HTTP: projects (the original's projects.* procedures, plus rename and delete)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from qai.api.responses import errors
from qai.common.hot import HotRead, text, whole_number
from qai.common.pagination import Cursor, forward_page
from qai.common.responses import json_response
from qai.db import session_scope
from qai.errors import BadRequest, ProjectNotFound
from qai.projects import service
from qai.projects.repository import newest_project_rows, project_row
from qai.projects.schemas import (
    ProjectCreate,
    ProjectOut,
    ProjectPage,
    ProjectRename,
    project_json,
    project_page_json,
)
from qai.settings import get_settings

router = APIRouter(prefix="/api/projects", tags=["projects"])

ProjectId = Annotated[str, Path(description="The project's id.")]
PAGE_MAX = 200


def check_project_id(project_id: str) -> str:
    if not project_id.strip():
        raise BadRequest(
            "Project ID is required",
            issues=[{"path": ["id"], "message": "Project ID is required"}],
        )
    return project_id


# The hot reads (project list and get) answer one statement's rows as JSON bytes: no session,
# no transaction round trips, no ORM objects, no Pydantic pass (see docs/benchmarks.md). The
# same rules as ``service.list_projects`` / ``service.get_project``.


@router.get(
    "",
    summary="Projects, newest first",
    response_model=ProjectPage,
    responses=errors(400),
)
async def list_projects(
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50,
    cursor: Annotated[str | None, Query(description="nextCursor of the previous page")] = None,
) -> Response:
    after = Cursor.decode(cursor) if cursor else None
    rows = await newest_project_rows(limit=limit + 1, after=after)
    items, next_cursor = forward_page(rows, limit, lambda row: (row[2], row[0]))
    return json_response(project_page_json(items, next_cursor))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a project and its first message; starts the agent",
    response_model=ProjectOut,
    responses=errors(400, 413),
)
async def create_project(body: ProjectCreate) -> Response:
    template = body.template or get_settings().default_template
    async with session_scope() as session:
        project, _ = await service.create_project_with_first_message(
            session, body.value, template=template
        )
    row = (project.id, project.name, project.created_at, project.updated_at, project.template)
    return json_response(project_json(row), status.HTTP_201_CREATED)


@router.get(
    "/{project_id}", summary="One project", response_model=ProjectOut, responses=errors(400, 404)
)
async def get_project(project_id: ProjectId) -> Response:
    row = await project_row(check_project_id(project_id))
    if row is None:
        raise ProjectNotFound()
    return json_response(project_json(row))


@router.patch("/{project_id}", summary="Rename a project", responses=errors(400, 404, 413))
async def rename_project(project_id: ProjectId, body: ProjectRename) -> ProjectOut:
    async with session_scope() as session:
        project = await service.rename_project(session, check_project_id(project_id), body.name)
    return ProjectOut.model_validate(project)


@router.delete(
    "/{project_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a project with its messages and fragments",
    responses=errors(400, 404),
)
async def delete_project(project_id: ProjectId) -> Response:
    async with session_scope() as session:
        await service.delete_project(session, check_project_id(project_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


HOT_READS = (
    HotRead("/api/projects", list_projects, {"limit": whole_number(1, PAGE_MAX), "cursor": text}),
    HotRead("/api/projects/{project_id}", get_project),
)
