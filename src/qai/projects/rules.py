"""The rules of a project that need no database. Imported by the API client too."""

from __future__ import annotations

from qai.errors import BadRequest

NAME_MAX = 100
NAME_REQUIRED = "Name is required"
NAME_TOO_LONG = f"Name must be at most {NAME_MAX} characters"


def check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise BadRequest(NAME_REQUIRED, issues=[{"path": ["name"], "message": NAME_REQUIRED}])
    if len(name) > NAME_MAX:
        raise BadRequest(NAME_TOO_LONG, issues=[{"path": ["name"], "message": NAME_TOO_LONG}])
    return name
