"""Versions as JSON-ready dictionaries (the names of ``qai.versions.schemas``)."""

from __future__ import annotations

from typing import Any

from qai.common.schemas import iso_utc
from qai.messages.models import Message
from qai.messages.schemas import MessageOut
from qai.versions.repository import VersionRow
from qai.versions.service import Comparison


def version_json(row: VersionRow) -> dict[str, Any]:
    return {
        "number": row.number,
        "fragmentId": row.fragment_id,
        "messageId": row.message_id,
        "projectId": row.project_id,
        "title": row.title,
        "summary": row.summary,
        "createdAt": iso_utc(row.created_at),
        "origin": row.origin,
        "basedOn": row.based_on_id,
        "author": row.author,
        "check": row.check,
        "unfinished": row.unfinished,
        "prompt": row.prompt,
    }


def versions_page_json(rows: list[VersionRow], next_after: int | None) -> dict[str, Any]:
    return {"items": [version_json(row) for row in rows], "nextAfter": next_after}


def message_with_version_json(message: Message, version: VersionRow) -> dict[str, Any]:
    payload = MessageOut.model_validate(message).model_dump(mode="json")
    payload["fragment"]["version"] = version_json(version)
    return payload


def comparison_json(comparison: Comparison) -> dict[str, Any]:
    return {
        "version": version_json(comparison.version),
        "against": version_json(comparison.against) if comparison.against else None,
        "files": [
            {
                "path": item.path,
                "status": item.status,
                "additions": item.additions,
                "deletions": item.deletions,
                "diff": item.diff,
            }
            for item in comparison.files
        ],
    }
