"""OpenAPI documentation of the error responses every route can give."""

from __future__ import annotations

from typing import Any

from qai.common.schemas import ErrorResponse


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        400: "Invalid input (BAD_REQUEST)",
        404: "Not found (NOT_FOUND)",
        405: "Method not allowed (METHOD_NOT_SUPPORTED)",
        409: "Conflicts with the current state (CONFLICT)",
        413: "Request body too large (PAYLOAD_TOO_LARGE)",
        500: "Unexpected failure (INTERNAL_SERVER_ERROR), with a request id",
    }
    return {
        status: {"model": ErrorResponse, "description": descriptions[status]}
        for status in sorted({*statuses, 500})
    }
