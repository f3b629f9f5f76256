"""HTTP: the creates, each of which starts a run (the original's projects.create and
messages.create): a project with its first message, and a message to a project. Their rows
and the run's outbox row are one short transaction (``qai.runs.send``); the plain ones are also
hot writes (``HOT_WRITES``, see ``qai.common.hot``), answered before FastAPI's routing."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Response, status

from qai.common.deps import DatabaseDep, ModelsDep, SettingsDep
from qai.common.hot import HotWrite, WriteRequest
from qai.common.ids import ProjectId, check_project_id
from qai.common.openapi import STARTS_A_RUN, errors
from qai.common.principal import PrincipalDep
from qai.common.responses import json_response
from qai.errors import BadRequest, QaiError
from qai.messages import service
from qai.messages.encode import new_message_json
from qai.messages.models import Message
from qai.messages.repository import MessageRow
from qai.messages.rules import PROMPT_MAX
from qai.messages.schemas import MessageCreate, MessageOut
from qai.projects.encode import project_json
from qai.projects.schemas import ProjectCreate, ProjectOut
from qai.runs import send
from qai.sandbox import TemplateNotPrepared, get_template
from qai.settings import Settings

router = APIRouter()


@router.post(
    "/api/projects",
    tags=["projects"],
    status_code=status.HTTP_201_CREATED,
    summary="Create a project and its first message; starts the agent",
    response_model=ProjectOut,
    responses=errors(400, 413, 429),
    openapi_extra=STARTS_A_RUN,
)
async def create_project(
    body: ProjectCreate,
    db: DatabaseDep,
    settings: SettingsDep,
    models: ModelsDep,
    principal: PrincipalDep,
) -> Response:
    template = body.template or settings.default_template
    check_prepared(template, settings)
    model = models.resolve(body.model)
    project, _ = await send.create_project(
        db, body.value, template=template, owner=principal.user_id, model=model
    )
    return json_response(project_json(project), status.HTTP_201_CREATED)


def check_prepared(template: str, settings: Settings) -> None:
    """A template whose dependencies are not installed is refused before a run can fail on it."""
    try:
        get_template(template).cached_path(settings.data_dir)
    except TemplateNotPrepared:
        message = (
            f"The {template} template is not prepared on this server: run `qai sandbox prepare "
            f"{template}` once (in a checkout, `.venv/bin/qai sandbox prepare {template}`; it "
            "downloads its dependencies), or choose the web template"
        )
        raise BadRequest(message, issues=[{"path": ["template"], "message": message}]) from None


@router.post(
    "/api/projects/{project_id}/messages",
    tags=["messages"],
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


async def hot_create_project(request: WriteRequest) -> Response | None:
    """``create_project`` for a plain prompt: the default template, the default model."""
    value = plain_prompt(request)
    if value is None:
        return None
    settings = request.settings
    template = settings.default_template
    check_prepared(template, settings)
    project, _ = await send.create_project(
        request.database, value, template=template, model=request.models.resolve(None)
    )
    return json_response(project_json(project), status.HTTP_201_CREATED)


# Hot writes answer only without accounts (``QAI_AUTH=none``), as the hot reads.
HOT_WRITES = (
    HotWrite("/api/projects", hot_create_project),
    HotWrite("/api/projects/{project_id}/messages", hot_create_message),
)
