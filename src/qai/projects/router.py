"""HTTP: projects (the original's projects.* procedures, plus rename and delete)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from qai.api.responses import errors
from qai.db import read_session, session_scope
from qai.errors import BadRequest
from qai.projects import service
from qai.projects.schemas import ProjectCreate, ProjectOut, ProjectPage, ProjectRename
from qai.settings import get_settings

router = APIRouter(prefix="/api/projects", tags=["projects"])

ProjectId = Annotated[str, Path(description="The project's id.")]


def check_project_id(project_id: str) -> str:
    if not project_id.strip():
        raise BadRequest(
            "Project ID is required",
            issues=[{"path": ["id"], "message": "Project ID is required"}],
        )
    return project_id


@router.get("", summary="Projects, newest first", responses=errors(400))
async def list_projects(
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(description="nextCursor of the previous page")] = None,
) -> ProjectPage:
    async with read_session() as session:
        page = await service.list_projects(session, limit=limit, cursor=cursor)
    return ProjectPage(
        items=[ProjectOut.model_validate(p) for p in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a project and its first message; starts the agent",
    responses=errors(400, 413),
)
async def create_project(body: ProjectCreate) -> ProjectOut:
    template = body.template or get_settings().default_template
    async with session_scope() as session:
        project, _ = await service.create_project_with_first_message(
            session, body.value, template=template
        )
    return ProjectOut.model_validate(project)


@router.get("/{project_id}", summary="One project", responses=errors(400, 404))
async def get_project(project_id: ProjectId) -> ProjectOut:
    async with read_session() as session:
        project = await service.get_project(session, check_project_id(project_id))
    return ProjectOut.model_validate(project)


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
