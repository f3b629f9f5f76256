"""HTTP: sending a message to a project (the original's messages.create), and fragments.

A project's history (messages.getMany) is the projects router's: whether a project exists is
the projects service's rule.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from qai.common.deps import DatabaseDep, ModelsDep
from qai.common.ids import ProjectId, check_project_id
from qai.common.openapi import STARTS_A_RUN, errors
from qai.common.responses import json_response
from qai.messages import service
from qai.messages.encode import fragment_json, new_message_json
from qai.messages.models import Message
from qai.messages.repository import NewMessage
from qai.messages.schemas import FragmentOut, MessageCreate, MessageOut
from qai.runs import send

router = APIRouter(tags=["messages"])


@router.post(
    "/api/projects/{project_id}/messages",
    status_code=status.HTTP_201_CREATED,
    summary="Send a message to the agent; starts a run",
    response_model=MessageOut,
    responses=errors(400, 404, 413, 429),
    openapi_extra=STARTS_A_RUN,
)
async def create_message(
    project_id: ProjectId, body: MessageCreate, db: DatabaseDep, models: ModelsDep
) -> Response:
    model = models.resolve(body.model)
    project_id = check_project_id(project_id)
    message: Message | NewMessage
    if body.fragment_id is None:
        message = await send.send_message(db, project_id, body.value, model=model)
    else:
        async with db.session() as session:
            message = await service.create_user_message(
                session, project_id, body.value, fragment_id=body.fragment_id, model=model
            )
    return json_response(new_message_json(message), status.HTTP_201_CREATED)


@router.get(
    "/api/fragments/{fragment_id}",
    summary="One fragment with its files",
    response_model=FragmentOut,
    responses=errors(404),
)
async def get_fragment(
    fragment_id: Annotated[str, Path(description="The fragment's id.")], db: DatabaseDep
) -> Response:
    return json_response(fragment_json(await service.get_fragment(db, fragment_id)))


@router.get(
    "/api/fragments/{fragment_id}/screenshot",
    summary="The page of a fragment's app as the app check saw it",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, **errors(404)},
)
async def get_screenshot(
    fragment_id: Annotated[str, Path(description="The fragment's id.")], db: DatabaseDep
) -> Response:
    png = await service.screenshot_of(db, fragment_id)
    return Response(
        png,
        media_type="image/png",
        headers={"cache-control": "private, max-age=86400", "x-content-type-options": "nosniff"},
    )


@router.api_route("/api/projects//messages", methods=["GET", "POST"], include_in_schema=False)
async def messages_without_project_id() -> None:
    check_project_id("", field="projectId")
