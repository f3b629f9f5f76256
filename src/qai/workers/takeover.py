"""A dead worker's runs, taken over by a live one."""

from __future__ import annotations

import logging

from qai.db import Database
from qai.jobs import Jobs
from qai.workers import service

log = logging.getLogger("qai.workers")


async def take_over_dead_workers(
    database: Database, jobs: Jobs, *, dead_seconds: float, workflow_name: str
) -> int:
    """Put the ``workflow_name`` workflows in flight on workers silent for longer than
    ``dead_seconds`` back in the queue, where a live worker goes on with each from its last
    finished step; returns how many were taken over. A worker that was only slow loses its
    runs at its next step (DBOS hands a workflow to one owner at a time) and its answer, if it
    still writes one, is the only one (the run keeps its first answer)."""
    me = jobs.executor_id
    async with database.read() as session:
        dead = await service.dead_workers(session, other_than=me, dead_seconds=dead_seconds)
    taken = 0
    for executor in dead:
        async with database.session() as session:
            claimed_at = await service.claim_dead_worker(
                session, executor, dead_seconds=dead_seconds
            )
        if claimed_at is None:
            continue  # it came back, or another worker is taking over its runs
        for run_id in await jobs.pending_on(executor, workflow_name):
            await jobs.take_over(run_id)
            taken += 1
            log.warning(
                "took over run %s from worker %s (not seen for over %g s)",
                run_id,
                executor,
                dead_seconds,
            )
        async with database.session() as session:
            await service.forget_dead_worker(session, executor, claimed_at)
    if taken:
        log.warning("worker %s took over %d run(s) from dead workers", me, taken)
    return taken
