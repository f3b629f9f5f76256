"""The application factory: API routers, operations endpoints, error handling, lifespan.

``create_app(ctx)`` serves one process's :class:`qai.context.AppContext`: its lifespan is the
context's life (started with the server, closed once when it stops).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.types import ASGIApp, Receive, Scope, Send

import qai
from qai import web
from qai.accounts.admin import router as admin_router
from qai.accounts.ownership import owned_path
from qai.accounts.previews import PreviewSignIn
from qai.accounts.router import router as accounts_router
from qai.api import health
from qai.api.auth import AuthenticationMiddleware
from qai.api.errors import install_error_handlers
from qai.api.hosts import HostPolicy
from qai.api.metrics import Metrics
from qai.api.middleware import RequestContextMiddleware
from qai.context import AppContext
from qai.db import migrate
from qai.live.router import router as live_router
from qai.messages.router import router as messages_router
from qai.projects.previews import fragment_previews, project_previews
from qai.projects.router import HOT_READS
from qai.projects.router import router as projects_router
from qai.runs import creates
from qai.runs.live_preview import live_previews
from qai.runs.router import router as runs_router
from qai.sandbox import PreviewGateway, PreviewHostMiddleware
from qai.trpc import router as trpc
from qai.versions.router import router as versions_router

log = logging.getLogger("qai")


class QaiApplication(FastAPI):
    """FastAPI, with QAI's own outer layers in front of all of FastAPI's.

    Preview addresses and the request context (request id, host names and the origin of writes,
    body limit, metrics, access log and the hot reads) see each request first; the hot reads
    then answer without crossing FastAPI's error, telemetry and body-limit middlewares, which
    every other request still does.
    """

    front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.front is None:
            await super().__call__(scope, receive, send)
        else:
            await self.front(scope, receive, send)

    async def behind_front(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)


def create_app(ctx: AppContext) -> FastAPI:
    """The QAI HTTP application of the process whose parts ``ctx`` holds."""
    settings = ctx.settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with ctx.running():
            yield

    app = QaiApplication(
        title="QAI",
        version=qai.__version__,
        summary="Type what you want; a code agent builds it in an isolated sandbox.",
        lifespan=lifespan,
        # No Swagger UI or ReDoc: FastAPI's load their scripts from a CDN, which no page QAI
        # serves may do (and they are blank offline). The schema is at /openapi.json.
        docs_url=None,
        redoc_url=None,
        # Every route naming a project, message, fragment or run in its path reaches only the
        # principal's own (see qai.accounts.ownership).
        dependencies=[Depends(owned_path)],
    )
    app.state.context = ctx
    app.state.accounts = ctx.accounts
    app.state.head_revision = migrate.head_revision(settings)
    app.state.metrics = Metrics(ctx.database)
    # Previews that require sign-in keep everyone else out (see qai.accounts.previews).
    preview_sign_in = (
        PreviewSignIn(ctx.database, ctx.sandboxes.hosts, settings.qai_url)
        if ctx.accounts is not None and settings.preview_requires_sign_in
        else None
    )
    app.state.preview_sign_in = preview_sign_in
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(projects_router)
    app.include_router(creates.router)
    app.include_router(messages_router)
    app.include_router(runs_router)
    app.include_router(live_router)
    app.include_router(versions_router)
    app.include_router(trpc.router)
    if ctx.accounts is not None:
        app.include_router(accounts_router)
        app.include_router(admin_router)
    web.install(app)
    inner: ASGIApp = app.behind_front
    if ctx.accounts is not None:
        inner = AuthenticationMiddleware(inner, accounts=ctx.accounts)
    # Outermost: a request for a preview address never reaches QAI's own routes.
    app.front = PreviewHostMiddleware(
        RequestContextMiddleware(
            inner,
            metrics=app.state.metrics,
            max_body_bytes=settings.max_body_bytes,
            database=ctx.database,
            hosts=HostPolicy(
                bind_host=settings.host,
                port=settings.port,
                allowed_hosts=settings.allowed_host_names,
                previews=ctx.sandboxes.hosts,
            ),
            settings=settings,
            models=ctx.models,
            # Hot reads and writes answer before anyone is known: only without accounts.
            hot_reads=(*HOT_READS, *trpc.HOT_READS) if ctx.accounts is None else (),
            hot_writes=(*creates.HOT_WRITES, *trpc.HOT_WRITES) if ctx.accounts is None else (),
        ),
        gateway=PreviewGateway(
            ctx.sandboxes,
            fragment_previews(ctx.database),
            alias=live_previews(ctx.database, ctx.sandboxes, project_previews(ctx.database)),
            guard=preview_sign_in,
        ),
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
