"""Operations: liveness, readiness (database reachable and migrated), Prometheus metrics."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, OperationalError

from qai.api.metrics import Metrics
from qai.common.deps import DatabaseDep
from qai.db import Database
from qai.db.engine import sqlite_path
from qai.db.migrate import pending_revisions
from qai.runs import service as runs

router = APIRouter(include_in_schema=True, tags=["operations"])
log = logging.getLogger("qai.api")

READY_TIMEOUT_SECONDS = 5.0


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _readiness_problem(database: Database, head: str) -> str | None:
    path = sqlite_path(database.settings.sqlalchemy_url)
    if path is not None and not path.exists():
        return f"database file {path} is missing"
    try:
        async with database.engine.connect() as connection:
            return await connection.run_sync(pending_revisions, head)
    except (OSError, DBAPIError, OperationalError) as exc:
        return f"database unreachable: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"


@router.get(
    "/readyz",
    summary="The database is reachable and migrated to head",
    responses={503: {"description": "Not ready, with the reason"}},
)
async def readyz(request: Request, db: DatabaseDep) -> JSONResponse:
    head: str = request.app.state.head_revision
    try:
        problem = await asyncio.wait_for(_readiness_problem(db, head), READY_TIMEOUT_SECONDS)
    except TimeoutError:
        problem = "database did not answer within 5 s"
    if problem is not None:
        log.warning("not ready: %s", problem)
        return JSONResponse({"status": "unavailable", "reason": problem}, status_code=503)
    return JSONResponse({"status": "ready", "revision": head})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request, db: DatabaseDep) -> Response:
    collected: Metrics = request.app.state.metrics
    try:
        async with db.read() as session:
            collected.set_runs(await runs.count_by_status(session))
    except (OSError, DBAPIError, OperationalError) as exc:
        # The other figures still matter (most of all while the database is down).
        log.warning("metrics: could not count runs: %s", str(exc).splitlines()[0][:200])
    return Response(collected.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
