"""Operations: liveness, readiness (database reachable and migrated), Prometheus metrics."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, OperationalError

from qai.api.metrics import Metrics
from qai.common.deps import DatabaseDep
from qai.db.readiness import readiness_problem
from qai.runs import service as runs

router = APIRouter(include_in_schema=True, tags=["operations"])
log = logging.getLogger("qai.api")


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database is reachable and migrated to head",
    responses={503: {"description": "Not ready, with the reason"}},
)
async def readyz(request: Request, db: DatabaseDep) -> JSONResponse:
    head: str = request.app.state.head_revision
    problem = await readiness_problem(db, head)
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
