"""The JSON API's messages and fragments. Imported by the API client: no ORM, no server."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from qai.common.schemas import Input, Schema, Timestamp
from qai.messages.rules import (
    PROMPT_HAS_NUL,
    PROMPT_MAX,
    PROMPT_REQUIRED,
    PROMPT_TOO_LONG,
    MessageRole,
    MessageType,
)


def _prompt(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("prompt_required", PROMPT_REQUIRED)
    if len(value) > PROMPT_MAX:
        raise PydanticCustomError("prompt_too_long", PROMPT_TOO_LONG)
    if "\x00" in value:
        raise PydanticCustomError("prompt_has_nul", PROMPT_HAS_NUL)
    return value


Prompt = Annotated[
    str, AfterValidator(_prompt), Field(examples=["a kanban board with drag and drop"])
]


class MessageCreate(Input):
    value: Prompt


class FragmentOut(Schema):
    id: str
    message_id: str
    sandbox_url: str = Field(description="The preview's address; it stays valid.")
    title: str
    files: dict[str, str] = Field(description="Relative path -> file content.")
    summary: str | None
    created_at: Timestamp
    updated_at: Timestamp
    unfinished: bool = Field(
        default=False,
        description="True for the files a run left when it ended in an ERROR (turn or time "
        "limit, model failure, Stop): kept, and the next message builds on them.",
    )


class MessageOut(Schema):
    id: str
    content: str
    role: MessageRole
    type: MessageType
    created_at: Timestamp
    updated_at: Timestamp
    project_id: str
    fragment: FragmentOut | None = None


class MessagePage(Schema):
    items: list[MessageOut] = Field(description="Oldest first.")
    next_cursor: str | None = Field(description="Pass as ?cursor= for newer messages.")
    prev_cursor: str | None = Field(
        default=None, description="Pass as ?before= for older messages."
    )
