"""The original's answers as superjson: what Prisma returned, field for field and in its order
(a project without QAI's ``template``; a history message with ``fragment``, a new one without),
with the dates annotated where the encoders put them (no walk over the value)."""

from __future__ import annotations

from typing import Any

from qai.common.schemas import iso_utc
from qai.messages.encode import message_json
from qai.messages.models import Message
from qai.messages.repository import MessageRow
from qai.projects.repository import ProjectRow
from qai.trpc.superjson import Annotated

_DATES = ["Date"]
_ROW_DATES = {"createdAt": _DATES, "updatedAt": _DATES}


def _project(row: ProjectRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "createdAt": iso_utc(row.created_at),
        "updatedAt": iso_utc(row.updated_at),
    }


def project(row: ProjectRow) -> Annotated:
    return Annotated(_project(row), _ROW_DATES)


def projects(rows: list[ProjectRow]) -> Annotated:
    values: dict[str, list[str]] = {}
    for index in range(len(rows)):
        values[f"{index}.createdAt"] = _DATES
        values[f"{index}.updatedAt"] = _DATES
    return Annotated([_project(row) for row in rows], values)


def history(rows: list[MessageRow]) -> Annotated:
    """``messages.getMany``: the messages, each with its fragment or null (the same dictionaries
    as the JSON API's history)."""
    items = []
    values: dict[str, list[str]] = {}
    for index, row in enumerate(rows):
        items.append(message_json(row, qai_fields=False))  # the original's fields
        values[f"{index}.createdAt"] = _DATES
        values[f"{index}.updatedAt"] = _DATES
        if row.fragment is not None:
            values[f"{index}.fragment.createdAt"] = _DATES
            values[f"{index}.fragment.updatedAt"] = _DATES
    return Annotated(items, values)


def new_message(message: Message | MessageRow) -> Annotated:
    """``messages.create``: the message as Prisma's ``create`` returned it (no fragment key)."""
    return Annotated(
        {
            "id": message.id,
            "content": message.content,
            "role": message.role,
            "type": message.type,
            "createdAt": iso_utc(message.created_at),
            "updatedAt": iso_utc(message.updated_at),
            "projectId": message.project_id,
        },
        _ROW_DATES,
    )
