"""HTTP: a project's messages (the original's messages.* procedures) and fragments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from qai.api.responses import errors
from qai.common.hot import HotRead, flag, text, whole_number
from qai.common.pagination import Cursor, backward_page, forward_page
from qai.common.responses import json_response
from qai.db import read_session, session_scope
from qai.errors import BadRequest, ProjectNotFound
from qai.messages import service
from qai.messages.models import Fragment
from qai.messages.repository import HistoryRow, history_newest_before, history_oldest_first
from qai.messages.schemas import (
    FragmentOut,
    MessageCreate,
    MessageOut,
    MessagePage,
    history_page_json,
    new_message_json,
)
from qai.projects.repository import project_exists
from qai.projects.router import ProjectId, check_project_id

router = APIRouter(tags=["messages"])
HISTORY_PAGE_MAX = 500


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


def _position(row: HistoryRow) -> tuple[datetime, str]:
    return row[4], row[0]


@router.get(
    "/api/projects/{project_id}/messages",
    summary="A project's messages, oldest first, each with its fragment or null",
    response_model=MessagePage,
    responses=errors(400, 404),
)
async def list_messages(
    project_id: ProjectId,
    limit: Annotated[int, Query(ge=1, le=HISTORY_PAGE_MAX)] = 100,
    cursor: Annotated[str | None, Query(description="nextCursor: newer messages")] = None,
    before: Annotated[str | None, Query(description="prevCursor: older messages")] = None,
    latest: Annotated[
        bool, Query(description="Start from the newest messages instead of the oldest")
    ] = False,
) -> Response:
    """The same pages as ``service.list_messages``, read as rows and answered as JSON bytes
    (the project's hot read: one statement for a non-empty page)."""
    if cursor is not None and (before is not None or latest):
        raise BadRequest("Pass either cursor or before/latest, not both")
    check_project_id(project_id)
    next_cursor = prev_cursor = None
    if before is not None or latest:
        point = Cursor.decode(before) if before else None
        rows = await history_newest_before(project_id, limit=limit + 1, before=point)
        items, prev_cursor = backward_page(rows, limit, _position)
    else:
        after = Cursor.decode(cursor) if cursor else None
        found = await history_oldest_first(project_id, limit=limit + 1, after=after)
        items, next_cursor = forward_page(found, limit, _position)
    # A non-empty page proves the project exists: only an empty one costs a second query.
    if not items and not await project_exists(project_id):
        raise ProjectNotFound()
    return json_response(history_page_json(items, next_cursor, prev_cursor))


@router.post(
    "/api/projects/{project_id}/messages",
    status_code=status.HTTP_201_CREATED,
    summary="Send a message to the agent; starts a run",
    response_model=MessageOut,
    responses=errors(400, 404, 413),
)
async def create_message(project_id: ProjectId, body: MessageCreate) -> Response:
    async with session_scope() as session:
        message = await service.create_user_message(
            session, check_project_id(project_id), body.value
        )
    return json_response(new_message_json(message), status.HTTP_201_CREATED)


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


HOT_READS = (
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
