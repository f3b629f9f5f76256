"""Start and stop the job runtime inside a process (`qai serve`, `qai worker`, or an API-only
process). The one place where background work is wired together: DBOS (``qai.jobs._dbos``), the
models from settings (``qai.llm``) and the ``code-agent/run`` workflow (``qai.runs.workflow``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from datetime import datetime

from pydantic_ai.models import Model

from qai import events
from qai.db.base import utcnow
from qai.jobs._dbos import Jobs, Role
from qai.live import hub
from qai.llm import ModelChoice, choose_model
from qai.settings import Settings

log = logging.getLogger("qai.jobs")

__all__ = ["running", "start", "stop"]

PRUNE_EVERY_SECONDS = 3600.0
# At most; with a short QAI_WORKER_DEAD_SECONDS a worker checks in and repairs more often, so
# that it is never taken for dead while alive and a dead worker's runs go on soon after.
REPAIR_EVERY_SECONDS = 60.0
HEARTBEAT_EVERY_SECONDS = 30.0

_jobs: Jobs | None = None
_background: list[asyncio.Task[None]] = []


def heartbeat_seconds(settings: Settings) -> float:
    return min(HEARTBEAT_EVERY_SECONDS, settings.worker_dead_seconds / 10)


def repair_seconds(settings: Settings) -> float:
    return min(REPAIR_EVERY_SECONDS, settings.worker_dead_seconds / 2)


async def start(
    settings: Settings,
    *,
    role: Role,
    model: Model | None = None,
    small_model: Model | None = None,
) -> None:
    """Launch the durable runtime and install the ``code-agent/run`` dispatcher.

    ``serve`` and ``worker`` execute runs (and first repair messages left without one); ``api``
    only enqueues them for workers. ``model`` / ``small_model`` replace the models named by the
    settings (tests script them).
    """
    global _jobs
    from qai.runs import workflow

    main = ModelChoice("test:scripted", model) if model is not None else choose_model(settings)
    small = (
        ModelChoice("test:scripted-small", small_model)
        if small_model is not None
        else choose_model(settings, small=True)
    )
    if main.problem:
        log.warning("%s", main.problem)
    if small.problem:
        log.warning("%s", small.problem)
    await main.open()
    await small.open()
    jobs = Jobs(settings, role)
    started_at = utcnow()
    if jobs.executes:
        # Seen alive before DBOS hands this worker any run: no other worker takes it for dead.
        await _beat(jobs, started_at)
    await jobs.start()
    _jobs = jobs
    workflow.configure(settings, jobs, main, small)
    events.set_dispatcher(workflow.dispatch)
    for pending in events.undelivered():
        await workflow.dispatch(pending)
    events.clear_undelivered()
    if jobs.executes:
        await workflow.repair()
        _background.append(asyncio.create_task(_heartbeat(jobs, started_at), name="qai-heartbeat"))
        _background.append(asyncio.create_task(_housekeep(settings), name="qai-housekeeping"))
    log.info(
        "job runtime started (%s): model %s, %d run(s) at once",
        role,
        main.id or "not configured",
        settings.worker_concurrency,
    )


async def stop() -> None:
    """Stop taking work and release the runtime. Runs in flight stay PENDING and resume when
    a worker with the same id starts again, or on another worker once this one has been silent
    for QAI_WORKER_DEAD_SECONDS."""
    global _jobs
    from qai.runs import workflow

    events.set_dispatcher(None)
    for task in _background:
        task.cancel()
    for task in _background:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    _background.clear()
    await workflow.cancel_in_flight()
    if _jobs is not None:
        jobs, _jobs = _jobs, None
        await jobs.stop()
    await workflow.unconfigure()
    await hub.close_hub()


@contextlib.asynccontextmanager
async def running(settings: Settings, *, role: Role) -> AsyncIterator[None]:
    """The process's whole life around the job runtime: migrate the database (if
    QAI_AUTO_MIGRATE), start; on exit stop, then close the sandboxes and the database."""
    from qai.db import migrate
    from qai.db.engine import dispose_database
    from qai.sandbox import shutdown_sandbox_manager

    if settings.auto_migrate:
        await asyncio.to_thread(migrate.upgrade, settings)
    await start(settings, role=role)
    try:
        yield
    finally:
        await stop()
        await shutdown_sandbox_manager()
        await dispose_database()


async def _beat(jobs: Jobs, started_at: datetime) -> None:
    from qai.db import session_scope
    from qai.workers import service as workers

    async with session_scope() as session:
        await workers.heartbeat(
            session,
            jobs.executor_id,
            role=jobs.role,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            started_at=started_at,
        )


async def _heartbeat(jobs: Jobs, started_at: datetime) -> None:
    """Tell the other workers, every tenth of QAI_WORKER_DEAD_SECONDS, that this one is alive."""
    while True:
        await asyncio.sleep(heartbeat_seconds(jobs.settings))
        try:
            await _beat(jobs, started_at)
        except Exception:
            log.warning("could not record that this worker is alive; will try again", exc_info=True)


async def _housekeep(settings: Settings) -> None:
    """Every minute (or half of QAI_WORKER_DEAD_SECONDS), take over the runs of dead workers and
    give any USER message left without a run its run (an enqueue that failed after its commit,
    e.g. while the durable-run database was down), so no message waits for the next restart;
    every hour, delete old live events."""
    from qai.runs import workflow

    last_prune = -PRUNE_EVERY_SECONDS
    while True:
        await asyncio.sleep(repair_seconds(settings))
        try:
            await workflow.repair()
        except Exception:
            log.warning(
                "could not look for messages left without a run; will try again", exc_info=True
            )
        now = asyncio.get_running_loop().time()
        if now - last_prune >= PRUNE_EVERY_SECONDS:
            last_prune = now
            await _prune_events(settings)


async def _prune_events(settings: Settings) -> None:
    from qai.db import session_scope
    from qai.live import service as live

    try:
        async with session_scope() as session:
            deleted = await live.prune(session, older_than_hours=settings.events_retention_hours)
        if deleted:
            log.info(
                "deleted %d live event(s) older than %d hours",
                deleted,
                settings.events_retention_hours,
            )
    except Exception:
        log.warning("could not prune old live events; will try again", exc_info=True)
