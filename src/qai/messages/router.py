"""HTTP: sending a message to a project (the original's messages.create), and fragments.

A project's history (messages.getMany) is the projects router's: whether a project exists is
the projects service's rule.
"""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Path, Response, status

from qai.common.deps import DatabaseDep, ModelsDep
from qai.common.hot import HotWrite, WriteRequest
from qai.common.ids import ProjectId, check_project_id
from qai.common.openapi import STARTS_A_RUN, errors
from qai.common.responses import json_response
from qai.errors import QaiError
from qai.messages import service
from qai.messages.encode import fragment_json, new_message_json
from qai.messages.models import Message
from qai.messages.repository import MessageRow
from qai.messages.rules import PROMPT_MAX
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
    message: Message | MessageRow
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


def plain_prompt(request: WriteRequest) -> str | None:
    """The prompt of a create whose JSON body is ``{"value": <a valid prompt>}`` and nothing
    more: what a hot write takes as it is (anything else is FastAPI's to validate and answer)."""
    if request.content_type is None or not request.content_type.startswith("application/json"):
        return None
    try:
        body = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict) or len(body) != 1:
        return None
    value = body.get("value")
    if not isinstance(value, str) or len(value) > PROMPT_MAX or "\x00" in value:
        return None
    return value if value.strip() else None


async def hot_create_message(request: WriteRequest) -> Response | None:
    """``create_message`` for a plain prompt, with the server's default model."""
    value = plain_prompt(request)
    if value is None:
        return None
    try:
        project_id = check_project_id(request.path_params["project_id"])
    except QaiError:
        return None
    message = await send.send_message(
        request.database, project_id, value, model=request.models.resolve(None)
    )
    return json_response(new_message_json(message), status.HTTP_201_CREATED)


# Hot writes answer only without accounts (``QAI_AUTH=none``), as the hot reads.
HOT_WRITES = (HotWrite("/api/projects/{project_id}/messages", hot_create_message),)
