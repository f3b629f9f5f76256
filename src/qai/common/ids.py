"""The project id every project route takes, and the original's rule for it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from qai.errors import BadRequest, ProjectNotFound

ProjectId = Annotated[str, Path(description="The project's id.")]
PROJECT_ID_REQUIRED = "Project ID is required"


def check_project_id(project_id: str, field: str = "id") -> str:
    """``project_id`` if it is not blank (the original's "Project ID is required") and could
    name a project (see :func:`check_possible_id`)."""
    if not project_id.strip():
        raise BadRequest(
            PROJECT_ID_REQUIRED, issues=[{"path": [field], "message": PROJECT_ID_REQUIRED}]
        )
    return check_possible_id(project_id)


def check_possible_id(project_id: str) -> str:
    """``project_id``, unless no project can have it: an id with a NUL (which PostgreSQL's text
    cannot hold, so a query with it fails) is a project that does not exist."""
    if "\x00" in project_id:
        raise ProjectNotFound()
    return project_id
