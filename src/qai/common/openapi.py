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
        429: "Over a quota, with Retry-After (TOO_MANY_REQUESTS; accounts mode)",
        500: "Unexpected failure (INTERNAL_SERVER_ERROR), with a request id",
    }
    return {
        status: {"model": ErrorResponse, "description": descriptions[status]}
        for status in sorted({*statuses, 500})
    }


# Marks a route that starts a run (as ``openapi_extra``): with accounts, the person's quotas
# are checked before it saves anything (see ``qai.accounts.quotas``).
STARTS_A_RUN_KEY = "x-starts-run"
STARTS_A_RUN = {STARTS_A_RUN_KEY: True}
