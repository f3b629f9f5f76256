"""One handler for every error path; all render ``{"error": {"code", "message", ...}}``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from qai import web
from qai.errors import CODE_BY_STATUS, STATUS_BY_CODE, ErrorCode, QaiError
from qai.messages.rules import PROMPT_REQUIRED

log = logging.getLogger("qai.api")

MESSAGE_BY_STATUS = {
    404: "Not found",
    405: "Method not allowed",
    413: "Request body too large",
}


def request_id_of(request: Request) -> str | None:
    value = request.scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else None


def error_response(
    request: Request | None,
    code: ErrorCode,
    message: str,
    *,
    issues: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if issues is not None:
        body["issues"] = issues
    if request is not None and (request_id := request_id_of(request)):
        body["requestId"] = request_id
    return JSONResponse(
        {"error": body}, status_code=STATUS_BY_CODE[code], headers=dict(headers or {})
    )


def _issue(error: dict[str, Any]) -> dict[str, Any]:
    location = [part for part in error.get("loc", ()) if part != "body"]
    message = str(error.get("msg", "Invalid value"))
    if error.get("type") == "missing" and location == ["value"]:
        message = PROMPT_REQUIRED
    return {"path": location, "message": message, "code": error.get("type", "invalid")}


def validation_issues(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    issues = [_issue(dict(error)) for error in exc.errors()]
    if any(error.get("type") == "json_invalid" for error in exc.errors()):
        return "Malformed JSON body", issues
    return (issues[0]["message"] if issues else "Invalid input"), issues


def _wants_page(request: Request) -> bool:
    """A browser navigating to a page (not the API, not a piece a script fetches)."""
    path = request.url.path
    return (
        not path.startswith(("/api/", "/ui/"))
        and request.headers.get("sec-fetch-mode") == "navigate"
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(QaiError)
    async def _qai_error(request: Request, exc: QaiError) -> Response:
        if exc.status >= 500:
            log.error("request %s failed: %s", request_id_of(request), exc.message)
        if _wants_page(request):
            return web.error_page(request, exc)
        retry_after = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return error_response(request, exc.code, exc.message, issues=exc.issues, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, issues = validation_issues(exc)
        return error_response(request, "BAD_REQUEST", message, issues=issues)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = CODE_BY_STATUS.get(exc.status_code)
        if code is None:
            code = "BAD_REQUEST" if exc.status_code < 500 else "INTERNAL_SERVER_ERROR"
        detail = exc.detail if isinstance(exc.detail, str) else None
        generic = {"Not Found", "Method Not Allowed", "Bad Request"}
        message = (
            detail
            if detail and detail not in generic
            else MESSAGE_BY_STATUS.get(exc.status_code, code.replace("_", " ").capitalize())
        )
        return error_response(request, code, message, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request %s failed unexpectedly", request_id_of(request))
        return error_response(
            request,
            "INTERNAL_SERVER_ERROR",
            "Internal server error; quote the request id when reporting it",
        )
