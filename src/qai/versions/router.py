"""HTTP: a project's numbered versions, restore, hand edits, forks, comparison, and the
project's history as a read-only git repository (``git clone <qai>/projects/{id}.git``)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from dulwich.repo import MemoryRepo
from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from qai.common.deps import DatabaseDep, SettingsDep, context_of
from qai.common.ids import ProjectId, check_project_id
from qai.common.openapi import errors
from qai.common.principal import Principal, PrincipalDep
from qai.common.responses import json_response
from qai.errors import BadRequest, NotFound
from qai.messages.limits import FragmentLimits
from qai.projects.encode import project_json
from qai.projects.schemas import ProjectOut
from qai.settings import Settings
from qai.versions import git, service
from qai.versions.encode import (
    comparison_json,
    message_with_version_json,
    version_json,
    versions_page_json,
)
from qai.versions.schemas import (
    ComparisonOut,
    FragmentEdit,
    MessageWithVersion,
    VersionOut,
    VersionPage,
)

router = APIRouter(tags=["versions"])

PAGE_MAX = 500
FragmentId = Annotated[str, Path(description="The fragment's id (a version).")]


def preview_url_of(request: Request) -> service.PreviewUrl:
    return context_of(request).sandboxes.hosts.url


PreviewUrlDep = Annotated[service.PreviewUrl, Depends(preview_url_of)]


def _author(principal: Principal) -> str | None:
    """Who a restore, edit or fork is by: the signed-in person as git names one,
    ``Name <email>`` (None without accounts)."""
    if principal.user_id is None:
        return None
    name = " ".join(principal.display_name.replace("<", " ").replace(">", " ").split())
    return f"{name or principal.email} <{principal.email}>"


def _limits(settings: Settings) -> FragmentLimits:
    return FragmentLimits(
        max_bytes=settings.fragment_max_bytes,
        max_files=settings.fragment_max_files,
        max_file_bytes=settings.fragment_max_file_bytes,
    )


@router.get(
    "/api/projects/{project_id}/versions",
    summary="A project's versions, v1 first, with who made each",
    response_model=VersionPage,
    responses=errors(400, 404),
)
async def list_versions(
    project_id: ProjectId,
    db: DatabaseDep,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 100,
    # At most what a version number (a 32-bit column) can hold.
    after: Annotated[
        int, Query(ge=0, le=2**31 - 1, description="nextAfter of the previous page")
    ] = 0,
) -> Response:
    rows, next_after = await service.list_versions(
        db, check_project_id(project_id), after=after, limit=limit
    )
    return json_response(versions_page_json(rows, next_after))


@router.get(
    "/api/fragments/{fragment_id}/version",
    summary="A fragment's version: its number, who made it, what it was based on",
    response_model=VersionOut,
    responses=errors(404),
)
async def get_version(fragment_id: FragmentId, db: DatabaseDep) -> Response:
    return json_response(version_json(await service.get_version(db, fragment_id)))


@router.post(
    "/api/fragments/{fragment_id}/restore",
    status_code=status.HTTP_201_CREATED,
    summary="Make a new version with this version's files",
    response_model=MessageWithVersion,
    responses=errors(404),
)
async def restore(
    fragment_id: FragmentId, db: DatabaseDep, preview_url: PreviewUrlDep, principal: PrincipalDep
) -> Response:
    async with db.session() as session:
        message, version = await service.restore(
            session, db, fragment_id, preview_url=preview_url, author=_author(principal)
        )
    return json_response(message_with_version_json(message, version), status.HTTP_201_CREATED)


@router.post(
    "/api/fragments/{fragment_id}/edit",
    status_code=status.HTTP_201_CREATED,
    summary="Make a new version with files changed by hand (null deletes a file)",
    response_model=MessageWithVersion,
    responses=errors(400, 404, 413),
)
async def edit(
    fragment_id: FragmentId,
    body: FragmentEdit,
    db: DatabaseDep,
    settings: SettingsDep,
    preview_url: PreviewUrlDep,
    principal: PrincipalDep,
) -> Response:
    async with db.session() as session:
        message, version = await service.edit(
            session,
            db,
            fragment_id,
            body.files,
            limits=_limits(settings),
            preview_url=preview_url,
            author=_author(principal),
        )
    return json_response(message_with_version_json(message, version), status.HTTP_201_CREATED)


@router.post(
    "/api/fragments/{fragment_id}/fork",
    status_code=status.HTTP_201_CREATED,
    summary="A new project whose first version is this version's files",
    response_model=ProjectOut,
    responses=errors(404),
)
async def fork(
    fragment_id: FragmentId, db: DatabaseDep, preview_url: PreviewUrlDep, principal: PrincipalDep
) -> Response:
    async with db.session() as session:
        project = await service.fork(
            session,
            db,
            fragment_id,
            preview_url=preview_url,
            author=_author(principal),
            owner=principal.user_id,
        )
    return json_response(project_json(project), status.HTTP_201_CREATED)


@router.get(
    "/api/fragments/{fragment_id}/diff",
    summary="What a version changed against another (default: the version before it)",
    response_model=ComparisonOut,
    responses=errors(400, 404),
)
async def diff(
    fragment_id: FragmentId,
    db: DatabaseDep,
    against: Annotated[
        str | None,
        Query(
            description="A fragment id of the same project; default: the previous version; "
            '"none": against nothing'
        ),
    ] = None,
) -> Response:
    return json_response(comparison_json(await service.compare(db, fragment_id, against)))


# --- git's smart HTTP protocol, read-only -------------------------------------------------

GIT_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


async def _repository(db: DatabaseDep, project_id: str) -> MemoryRepo:
    versions = await service.history(db, check_project_id(project_id))
    return await asyncio.to_thread(git.build_repository, git.commit_specs(versions))


@router.get("/projects/{project_id}.git/info/refs", include_in_schema=False)
async def git_refs(
    project_id: str, db: DatabaseDep, service_name: Annotated[str, Query(alias="service")] = ""
) -> Response:
    if service_name != git.SERVICE:
        raise BadRequest(
            "Only git's smart HTTP protocol is served, read-only: use `git clone` "
            f"(service={git.SERVICE})"
        )
    repo = await _repository(db, project_id)
    body = await asyncio.to_thread(git.advertisement, repo)
    return Response(
        body, media_type=f"application/x-{git.SERVICE}-advertisement", headers=GIT_HEADERS
    )


@router.post("/projects/{project_id}.git/git-upload-pack", include_in_schema=False)
async def git_upload_pack(project_id: str, request: Request, db: DatabaseDep) -> Response:
    if request.headers.get("content-type") != f"application/x-{git.SERVICE}-request":
        raise BadRequest(f"Expected Content-Type: application/x-{git.SERVICE}-request")
    repo = await _repository(db, project_id)
    body = await request.body()
    gzipped = request.headers.get("content-encoding", "").lower() == "gzip"
    answer = await asyncio.to_thread(git.upload_pack, repo, body, gzipped=gzipped)
    return Response(answer, media_type=f"application/x-{git.SERVICE}-result", headers=GIT_HEADERS)


@router.api_route(
    "/projects/{project_id}.git/{rest:path}", methods=["GET", "POST"], include_in_schema=False
)
async def git_other(project_id: str, rest: str) -> Response:
    raise NotFound(
        "This git repository is read-only and served over git's smart HTTP protocol only: "
        "`git clone` and `git fetch` work, `git push` does not"
    )
