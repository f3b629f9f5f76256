"""The JSON API's projects. Imported by the API client: no ORM, no server."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from qai.common.schemas import Input, Schema, Timestamp
from qai.messages.schemas import ModelName, Prompt
from qai.projects.rules import NAME_MAX, NAME_REQUIRED, NAME_TOO_LONG

TemplateName = Literal["web", "nextjs"]


def _name(value: str) -> str:
    value = value.strip()
    if not value:
        raise PydanticCustomError("name_required", NAME_REQUIRED)
    if len(value) > NAME_MAX:
        raise PydanticCustomError("name_too_long", NAME_TOO_LONG)
    if "\x00" in value:  # PostgreSQL text cannot hold it
        raise PydanticCustomError("name_has_nul", "Name must not contain NUL characters")
    return value


Name = Annotated[str, AfterValidator(_name), Field(examples=["purple-elephant"])]


class ProjectCreate(Input):
    value: Prompt
    template: TemplateName | None = Field(
        default=None, description="The app's template; default from QAI_DEFAULT_TEMPLATE."
    )
    model: ModelName | None = Field(
        default=None,
        description="The model for the first run, one of GET /api/models; default: the "
        "server's (QAI_MODEL).",
    )


class ProjectRename(Input):
    name: Name


class ProjectOut(Schema):
    id: str
    name: str
    created_at: Timestamp
    updated_at: Timestamp
    template: str | None = Field(
        description="The project's template; null for a project the original app made."
    )


class ProjectPage(Schema):
    items: list[ProjectOut]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null at the end."
    )
