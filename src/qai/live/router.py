"""HTTP: a project's live events, as server-sent events."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from qai.common.deps import DatabaseDep, context_of
from qai.common.ids import ProjectId
from qai.common.openapi import errors
from qai.errors import BadRequest, ProjectNotFound
from qai.live import service
from qai.projects.repository import ProjectReads

router = APIRouter(tags=["runs"])


# Event ids are 64-bit signed integers in the database; a larger one cannot be compared there.
EVENT_ID_MAX = 2**63 - 1
_EVENT_ID = re.compile(r"[0-9]{1,19}")


def _event_id(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    if not _EVENT_ID.fullmatch(value) or int(value) > EVENT_ID_MAX:
        message = (
            f"{name} must be an event id from a previous event "
            f"(a whole number from 0 to {EVENT_ID_MAX})"
        )
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
    request: Request,
    project_id: ProjectId,
    db: DatabaseDep,
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
    if not await ProjectReads(db).exists(project_id):
        raise ProjectNotFound()
    if start is None:
        async with db.read() as session:
            start = await service.latest_event_id(session, project_id)
    return StreamingResponse(
        service.stream(context_of(request).hub, project_id, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
