"""ProjectOut and ProjectPage written straight as JSON-ready dictionaries (same names, same
order as the schemas; tests compare both forms), for the routes that answer with bytes built
by orjson."""

from __future__ import annotations

from typing import Any

from qai.common.pagination import Page
from qai.common.schemas import iso_utc
from qai.projects.repository import ProjectRow


def project_json(row: ProjectRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "createdAt": iso_utc(row.created_at),
        "updatedAt": iso_utc(row.updated_at),
        "template": row.template,
    }


def project_page_json(page: Page[ProjectRow]) -> dict[str, Any]:
    return {"items": [project_json(row) for row in page.items], "nextCursor": page.next_cursor}
