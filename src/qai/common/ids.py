"""The project id every project route takes, and the original's rule for it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from qai.errors import BadRequest

ProjectId = Annotated[str, Path(description="The project's id.")]
PROJECT_ID_REQUIRED = "Project ID is required"


def check_project_id(project_id: str, field: str = "id") -> str:
    """``project_id`` if it is not blank (the original's "Project ID is required")."""
    if not project_id.strip():
        raise BadRequest(
            PROJECT_ID_REQUIRED, issues=[{"path": [field], "message": PROJECT_ID_REQUIRED}]
        )
    return project_id
