"""MessageOut, FragmentOut and MessagePage written straight as JSON-ready dictionaries (same
names, same order as the schemas, which OpenAPI documents; tests compare both forms), for the
routes that answer with bytes built by orjson."""

from __future__ import annotations

from typing import Any

import orjson

from qai.common.pagination import Page
from qai.common.schemas import iso_utc
from qai.messages.models import Message
from qai.messages.repository import FragmentRow, MessageRow


def _files(stored: str) -> orjson.Fragment | dict[str, str]:
    # The stored JSON object goes out as it is (no decode and encode again); anything else, which
    # QAI never writes, reads as no files, as FragmentOut would have it.
    return orjson.Fragment(stored) if stored.startswith("{") else {}


def fragment_json(row: FragmentRow, *, qai_fields: bool = True) -> dict[str, Any]:
    """The fragment as the API answers it; without ``qai_fields``, the original's fields only
    (as its tRPC procedures answered)."""
    original = {
        "id": row.id,
        "messageId": row.message_id,
        "sandboxUrl": row.sandbox_url,
        "title": row.title,
        "files": _files(row.files_json),
        "summary": row.summary,
        "createdAt": iso_utc(row.created_at),
        "updatedAt": iso_utc(row.updated_at),
    }
    if not qai_fields:
        return original
    return {
        **original,
        "check": orjson.Fragment(row.check_json) if row.check_json else None,
        "screenshotUrl": screenshot_url(row.id) if row.has_screenshot else None,
        "unfinished": bool(row.unfinished),
    }


def screenshot_url(fragment_id: str) -> str:
    return f"/api/fragments/{fragment_id}/screenshot"


def message_json(row: MessageRow, *, qai_fields: bool = True) -> dict[str, Any]:
    fragment = row.fragment
    return {
        "id": row.id,
        "content": row.content,
        "role": row.role,
        "type": row.type,
        "createdAt": iso_utc(row.created_at),
        "updatedAt": iso_utc(row.updated_at),
        "projectId": row.project_id,
        "fragment": None if fragment is None else fragment_json(fragment, qai_fields=qai_fields),
    }


def history_page_json(page: Page[MessageRow]) -> dict[str, Any]:
    return {
        "items": [message_json(row) for row in page.items],
        "nextCursor": page.next_cursor,
        "prevCursor": page.prev_cursor,
    }


def new_message_json(message: Message | MessageRow) -> dict[str, Any]:
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
