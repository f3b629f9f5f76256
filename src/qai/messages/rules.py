"""The rules of a message that need no database: its kinds and the original's prompt rule.

Imported by the API client too, so nothing here may import SQLAlchemy or the server.
"""

from __future__ import annotations

from enum import StrEnum

from qai.errors import BadRequest

PROMPT_MAX = 1000
PROMPT_REQUIRED = "Prompt is required"
PROMPT_TOO_LONG = f"Prompt must be less than {PROMPT_MAX} characters"
# PostgreSQL text cannot hold NUL, and no one types it: refused alike on both engines.
PROMPT_HAS_NUL = "Prompt must not contain NUL characters"


class MessageRole(StrEnum):
    USER = "USER"
    ASSISTANT = "ASSISTANT"


class MessageType(StrEnum):
    RESULT = "RESULT"
    ERROR = "ERROR"


def check_prompt(value: str) -> str:
    """The original's rule for a prompt: 1..1000 characters (we also refuse blank ones)."""
    if not value or not value.strip():
        raise BadRequest(PROMPT_REQUIRED, issues=[{"path": ["value"], "message": PROMPT_REQUIRED}])
    if len(value) > PROMPT_MAX:
        raise BadRequest(PROMPT_TOO_LONG, issues=[{"path": ["value"], "message": PROMPT_TOO_LONG}])
    if "\x00" in value:
        raise BadRequest(PROMPT_HAS_NUL, issues=[{"path": ["value"], "message": PROMPT_HAS_NUL}])
    return value
