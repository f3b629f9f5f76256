"""HTTP: a project's messages (the original's messages.* procedures) and fragments."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from qai.api.responses import errors
from qai.db import read_session, session_scope
from qai.errors import BadRequest
from qai.messages import service
from qai.messages.models import Fragment, Message
from qai.messages.schemas import FragmentOut, MessageCreate, MessageOut, MessagePage
from qai.projects.router import ProjectId, check_project_id

router = APIRouter(tags=["messages"])


def fragment_out(fragment: Fragment) -> FragmentOut:
    return FragmentOut(
        id=fragment.id,
        message_id=fragment.message_id,
        sandbox_url=fragment.sandbox_url,
        title=fragment.title,
        files=service.files_of(fragment),
        summary=fragment.summary,
        created_at=fragment.created_at,
        updated_at=fragment.updated_at,
    )


def message_out(message: Message) -> MessageOut:
    return MessageOut(
        id=message.id,
        content=message.content,
        role=message.role,
        type=message.type,
        created_at=message.created_at,
        updated_at=message.updated_at,
        project_id=message.project_id,
        fragment=fragment_out(message.fragment) if message.fragment is not None else None,
    )


@router.get(
    "/api/projects/{project_id}/messages",
    summary="A project's messages, oldest first, each with its fragment or null",
    responses=errors(400, 404),
)
async def list_messages(
    project_id: ProjectId,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(description="nextCursor: newer messages")] = None,
    before: Annotated[str | None, Query(description="prevCursor: older messages")] = None,
    latest: Annotated[
        bool, Query(description="Start from the newest messages instead of the oldest")
    ] = False,
) -> MessagePage:
    if cursor is not None and (before is not None or latest):
        raise BadRequest("Pass either cursor or before/latest, not both")
    async with read_session() as session:
        page = await service.list_messages(
            session,
            check_project_id(project_id),
            limit=limit,
            cursor=cursor,
            before=before,
            latest=latest,
        )
    return MessagePage(
        items=[message_out(m) for m in page.items],
        next_cursor=page.next_cursor,
        prev_cursor=page.prev_cursor,
    )


@router.post(
    "/api/projects/{project_id}/messages",
    status_code=status.HTTP_201_CREATED,
    summary="Send a message to the agent; starts a run",
    responses=errors(400, 404, 413),
)
async def create_message(project_id: ProjectId, body: MessageCreate) -> MessageOut:
    async with session_scope() as session:
        message = await service.create_user_message(
            session, check_project_id(project_id), body.value
        )
    return message_out(message)


@router.get(
    "/api/fragments/{fragment_id}",
    summary="One fragment with its files",
    responses=errors(404),
)
async def get_fragment(
    fragment_id: Annotated[str, Path(description="The fragment's id.")],
) -> FragmentOut:
    async with read_session() as session:
        fragment = await service.get_fragment(session, fragment_id)
    return fragment_out(fragment)


@router.api_route("/api/projects//messages", methods=["GET", "POST"], include_in_schema=False)
async def messages_without_project_id() -> None:
    raise BadRequest(
        "Project ID is required",
        issues=[{"path": ["projectId"], "message": "Project ID is required"}],
    )
