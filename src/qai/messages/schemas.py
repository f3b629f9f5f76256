from __future__ import annotations

from pydantic import Field

from qai.common.schemas import Input, Schema, Timestamp
from qai.messages.models import MessageRole, MessageType
from qai.projects.schemas import Prompt


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
