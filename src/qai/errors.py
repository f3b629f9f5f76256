"""One error hierarchy: each error carries its tRPC code and HTTP status.

One handler renders them over HTTP as ``{"error": {"code", "message", ...}}``; the CLI prints them.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

ErrorCode = Literal[
    "BAD_REQUEST",
    "UNAUTHORIZED",
    "FORBIDDEN",
    "NOT_FOUND",
    "METHOD_NOT_SUPPORTED",
    "CONFLICT",
    "PAYLOAD_TOO_LARGE",
    "TOO_MANY_REQUESTS",
    "INTERNAL_SERVER_ERROR",
    "SERVICE_UNAVAILABLE",
]

STATUS_BY_CODE: dict[ErrorCode, int] = {
    "BAD_REQUEST": 400,
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "METHOD_NOT_SUPPORTED": 405,
    "CONFLICT": 409,
    "PAYLOAD_TOO_LARGE": 413,
    "TOO_MANY_REQUESTS": 429,
    "INTERNAL_SERVER_ERROR": 500,
    "SERVICE_UNAVAILABLE": 503,
}

CODE_BY_STATUS: dict[int, ErrorCode] = {status: code for code, status in STATUS_BY_CODE.items()}


class QaiError(Exception):
    code: ClassVar[ErrorCode] = "INTERNAL_SERVER_ERROR"
    default_message: ClassVar[str] = "Something went wrong"

    def __init__(self, message: str | None = None, *, issues: list[dict[str, Any]] | None = None):
        self.message = message or self.default_message
        self.issues = issues
        super().__init__(self.message)

    @property
    def status(self) -> int:
        return STATUS_BY_CODE[self.code]


class BadRequest(QaiError):
    code = "BAD_REQUEST"
    default_message = "Invalid input"


class NotFound(QaiError):
    code = "NOT_FOUND"
    default_message = "Not found"


class ProjectNotFound(NotFound):
    default_message = "Project not found"


class FragmentNotFound(NotFound):
    default_message = "Fragment not found"


class ScreenshotNotFound(NotFound):
    default_message = "This fragment has no screenshot: its app was not checked in a browser"


class RunNotFound(NotFound):
    default_message = "Run not found"


class InvalidCursor(BadRequest):
    default_message = "Invalid cursor"


class Unauthorized(QaiError):
    code = "UNAUTHORIZED"
    default_message = "Sign in first: send Authorization: Bearer <token> (see `qai tokens create`)"


class Forbidden(QaiError):
    code = "FORBIDDEN"
    default_message = "Forbidden"


class Conflict(QaiError):
    code = "CONFLICT"
    default_message = "The request conflicts with the current state"


class RunFinished(Conflict):
    default_message = "The run has already finished: there is nothing to stop"


class TooManyRequests(QaiError):
    """Carries how long to wait: rendered as the ``Retry-After`` header."""

    code = "TOO_MANY_REQUESTS"
    default_message = "Too many requests"

    def __init__(self, message: str | None = None, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)
