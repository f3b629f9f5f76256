"""The application factory: API routers, operations endpoints, error handling, lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.types import ASGIApp, Receive, Scope, Send

import qai
from qai import web
from qai.api import health
from qai.api.errors import install_error_handlers
from qai.api.metrics import Metrics
from qai.api.middleware import RequestContextMiddleware
from qai.db import migrate
from qai.db.engine import current_database
from qai.jobs import Role, runtime
from qai.messages.previews import fragment_preview
from qai.messages.router import router as messages_router
from qai.projects.router import router as projects_router
from qai.runs.router import router as runs_router
from qai.sandbox import (
    PreviewGateway,
    PreviewHostMiddleware,
    get_sandbox_manager,
)
from qai.settings import Settings, get_settings

log = logging.getLogger("qai")


class QaiApplication(FastAPI):
    """FastAPI, with QAI's own outer layers in front of all of FastAPI's.

    Preview addresses and the request context (request id, body limit, metrics, access log and
    the hot reads) see each request first; the hot reads then answer without crossing
    FastAPI's error, telemetry and body-limit middlewares, which every other request still does.
    """

    front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.front is None:
            await super().__call__(scope, receive, send)
        else:
            await self.front(scope, receive, send)

    async def behind_front(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, *, role: Role = "serve") -> FastAPI:
    """The QAI HTTP application. ``role`` says whether this process also runs agent work."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with runtime.running(settings, role=role):
            yield

    app = QaiApplication(
        title="QAI",
        version=qai.__version__,
        summary="Type what you want; a code agent builds it in an isolated sandbox.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.head_revision = migrate.head_revision(settings)
    app.state.metrics = Metrics(current_database)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(projects_router)
    app.include_router(messages_router)
    app.include_router(runs_router)
    web.install(app)
    # Outermost: a request for a preview address never reaches QAI's own routes.
    app.front = PreviewHostMiddleware(
        RequestContextMiddleware(
            app.behind_front,
            metrics=app.state.metrics,
            max_body_bytes=settings.max_body_bytes,
        ),
        gateway=PreviewGateway(get_sandbox_manager(), fragment_preview),
    )
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, with validation documented as our 400 instead of its 422."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, summary=app.summary, routes=app.routes
    )
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.get("responses", {})
            responses.pop("422", None)
    components = schema.get("components", {}).get("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    app.openapi_schema = schema
    return schema
