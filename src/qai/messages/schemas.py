from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import Field

from qai.common.schemas import Input, Schema, Timestamp, iso_utc
from qai.messages.models import Message, MessageRole, MessageType
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


# MessageOut and MessagePage written straight as JSON-ready dictionaries (same names, same order),
# for the routes that answer with bytes built by orjson.


def _files(stored: str) -> orjson.Fragment | dict[str, str]:
    # The stored JSON object goes out as it is (no decode and encode again); anything else, which
    # QAI never writes, reads as no files, as FragmentOut would have it.
    return orjson.Fragment(stored) if stored.startswith("{") else {}


def history_json(row: Sequence[Any]) -> dict[str, Any]:
    """MessageOut of a ``qai.messages.repository.HistoryRow``."""
    fragment = None
    if row[7] is not None:
        fragment = {
            "id": row[7],
            "messageId": row[8],
            "sandboxUrl": row[9],
            "title": row[10],
            "files": _files(row[11]),
            "summary": row[12],
            "createdAt": iso_utc(row[13]),
            "updatedAt": iso_utc(row[14]),
        }
    return {
        "id": row[0],
        "content": row[1],
        "role": row[2],
        "type": row[3],
        "createdAt": iso_utc(row[4]),
        "updatedAt": iso_utc(row[5]),
        "projectId": row[6],
        "fragment": fragment,
    }


def history_page_json(
    rows: Sequence[Sequence[Any]], next_cursor: str | None, prev_cursor: str | None
) -> dict[str, Any]:
    return {
        "items": [history_json(row) for row in rows],
        "nextCursor": next_cursor,
        "prevCursor": prev_cursor,
    }


def new_message_json(message: Message) -> dict[str, Any]:
    """MessageOut of a message just written (it has no fragment yet)."""
    return {
        "id": message.id,
        "content": message.content,
        "role": message.role,
        "type": message.type,
        "createdAt": iso_utc(message.created_at),
        "updatedAt": iso_utc(message.updated_at),
        "projectId": message.project_id,
        "fragment": None,
    }
