from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from qai.common.schemas import Input, Schema, Timestamp, iso_utc
from qai.messages.service import PROMPT_MAX, PROMPT_REQUIRED, PROMPT_TOO_LONG
from qai.projects.service import NAME_MAX, NAME_REQUIRED, NAME_TOO_LONG

TemplateName = Literal["web", "nextjs"]


def _prompt(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("prompt_required", PROMPT_REQUIRED)
    if len(value) > PROMPT_MAX:
        raise PydanticCustomError("prompt_too_long", PROMPT_TOO_LONG)
    return value


def _name(value: str) -> str:
    value = value.strip()
    if not value:
        raise PydanticCustomError("name_required", NAME_REQUIRED)
    if len(value) > NAME_MAX:
        raise PydanticCustomError("name_too_long", NAME_TOO_LONG)
    return value


Prompt = Annotated[
    str, AfterValidator(_prompt), Field(examples=["a kanban board with drag and drop"])
]
Name = Annotated[str, AfterValidator(_name), Field(examples=["purple-elephant"])]


class ProjectCreate(Input):
    value: Prompt
    template: TemplateName | None = Field(
        default=None, description="The app's template; default from QAI_DEFAULT_TEMPLATE."
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


# ProjectOut and ProjectPage written straight as JSON-ready dictionaries (same names, same order),
# for the routes that answer with bytes built by orjson.


def project_json(row: Sequence[Any]) -> dict[str, Any]:
    """ProjectOut of an ``(id, name, created_at, updated_at, template)`` row."""
    return {
        "id": row[0],
        "name": row[1],
        "createdAt": iso_utc(row[2]),
        "updatedAt": iso_utc(row[3]),
        "template": row[4],
    }


def project_page_json(rows: Sequence[Sequence[Any]], next_cursor: str | None) -> dict[str, Any]:
    return {"items": [project_json(row) for row in rows], "nextCursor": next_cursor}
