"""The JSON API's messages and fragments. Imported by the API client: no ORM, no server."""

from __future__ import annotations

from typing import Annotated, Literal

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


ModelName = Annotated[str, Field(min_length=1, max_length=200, examples=["openai:gpt-4.1"])]


class MessageCreate(Input):
    value: Prompt
    fragment_id: str | None = Field(
        default=None,
        description="Build on this version of the project (a fragment's id); default: the newest.",
    )
    model: ModelName | None = Field(
        default=None,
        description="The model for this run, one of GET /api/models; default: the server's "
        "(QAI_MODEL).",
    )


class ProblemOut(Schema):
    kind: Literal[
        "http", "exception", "console", "request", "overlay", "blank", "typescript", "timeout"
    ] = Field(description="What the check saw: a page's HTTP error, an uncaught exception, ...")
    message: str = Field(description="The error text as the browser or the compiler gave it.")
    file: str | None = Field(default=None, description="The app's file, when known.")
    line: int | None = Field(default=None, description="The line in ``file``, when known.")
    url: str | None = Field(default=None, description="The request that failed, if any.")


class CheckOut(Schema):
    """What QAI saw when it opened the version's app in a browser before announcing it."""

    status: Literal["passed", "failed", "skipped"] = Field(
        description="skipped: the app could not be opened (``reason`` says why)."
    )
    problems: list[ProblemOut] = Field(default_factory=list, description="At most 10.")
    reason: str | None = Field(default=None, description="Why the check was skipped.")
    http_status: int | None = Field(default=None, description="The page's HTTP status.")
    seconds: float = Field(default=0.0, description="How long the last check took.")
    attempts: int = Field(default=1, description="Checks made: 1 + the fixes the agent tried.")


class FragmentOut(Schema):
    id: str
    message_id: str
    sandbox_url: str = Field(description="The preview's address; it stays valid.")
    title: str
    files: dict[str, str] = Field(description="Relative path -> file content.")
    summary: str | None
    created_at: Timestamp
    updated_at: Timestamp
    check: CheckOut | None = Field(
        default=None,
        description="The app check of this version; null for a version made before QAI checked "
        "apps, and in ``message.created`` events (fetch the fragment).",
    )
    screenshot_url: str | None = Field(
        default=None, description="The page as the check saw it (PNG); null when there is none."
    )
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
