"""Starting runs and repairing them: the ``code-agent/run`` handler enqueues a committed USER
message's run; a worker's repair gives every USER message still without an answer the run (or
the answer) it is owed."""

from __future__ import annotations

import asyncio
import logging

from qai.common.pagination import Cursor
from qai.db import Database
from qai.events import CodeAgentRun
from qai.jobs import TERMINAL_STATUSES, Jobs, Periodic
from qai.runs import service as runs
from qai.runs.service import Failure
from qai.runs.workflow import WORKFLOW_NAME, code_agent_run, save
from qai.workers.takeover import take_over_dead_workers

log = logging.getLogger("qai.runs")

# At most; with a short QAI_WORKER_DEAD_SECONDS a worker repairs more often, so that a dead
# worker's runs go on soon after it is found dead.
REPAIR_EVERY_SECONDS = 60.0

CRASHED = (
    "The run stopped unexpectedly (its worker crashed repeatedly) before it could finish. "
    "Send your message again; if it keeps happening, check the server's log."
)


def repair_seconds(dead_seconds: float) -> float:
    return min(REPAIR_EVERY_SECONDS, dead_seconds / 2)


class RunDispatch:
    """Enqueues runs on ``jobs`` and repairs those left without one or without an answer."""

    def __init__(
        self,
        database: Database,
        jobs: Jobs,
        *,
        worker_dead_seconds: float,
        batch_size: int,
        batch_pause_seconds: float,
    ) -> None:
        self.database = database
        self.jobs = jobs
        self.worker_dead_seconds = worker_dead_seconds
        self.batch_size = batch_size
        self.batch_pause_seconds = batch_pause_seconds

    async def enqueue(self, project_id: str, message_id: str) -> None:
        """Start the run of ``message_id`` (once, however often this is called)."""
        order = await runs.position_of(self.database, message_id)
        await self.jobs.enqueue(
            code_agent_run,
            WORKFLOW_NAME,
            project_id,
            message_id,
            workflow_id=message_id,
            partition=project_id,
            order=order,
        )
        async with self.database.session() as session:
            await runs.record_queued(session, project_id, message_id)

    async def dispatch(self, event: CodeAgentRun) -> None:
        """The ``code-agent/run`` handler: called once the USER message is committed."""
        try:
            await self.enqueue(event.project_id, event.message_id)
        except Exception:
            # The message is saved; a worker's repair (at start, then every minute) enqueues it.
            log.exception("could not enqueue the run of message %s", event.message_id)

    async def repair(self) -> int:
        """Give every USER message still without an answer the run it is owed; returns how many
        messages needed one (enqueued, taken over from a dead worker, or answered with an error
        after their run died).

        The backlog goes in batches of ``batch_size``, oldest first, with a pause between two
        batches: a start-up repair of thousands of messages runs beside the requests it would
        otherwise hold up (each enqueue is a few statements on both databases)."""
        repaired = await take_over_dead_workers(
            self.database,
            self.jobs,
            dead_seconds=self.worker_dead_seconds,
            workflow_name=WORKFLOW_NAME,
        )
        after: Cursor | None = None
        while True:
            async with self.database.read() as session:
                batch = await runs.unanswered(session, limit=self.batch_size, after=after)
            if not batch:
                break
            repaired += await self._repair_batch([(m, p) for m, p, _ in batch])
            if len(batch) < self.batch_size:
                break
            after = batch[-1][2]
            await asyncio.sleep(self.batch_pause_seconds)
        if repaired:
            log.info("repair: %d unanswered message(s) given a run or an answer", repaired)
        return repaired

    async def _repair_batch(self, pending: list[tuple[str, str]]) -> int:
        repaired = 0
        statuses = await self.jobs.statuses([message_id for message_id, _ in pending])
        for message_id, project_id in pending:
            status = statuses[message_id]
            if status is None:
                await self.enqueue(project_id, message_id)
                repaired += 1
            elif status in TERMINAL_STATUSES:
                await save(self.database, message_id, Failure(CRASHED))
                repaired += 1
        return repaired

    def periodic(self) -> Periodic:
        """The repair, at once (what earlier processes left: the process serves meanwhile),
        then every minute (or half of QAI_WORKER_DEAD_SECONDS): takes over the runs of dead
        workers and gives any USER message left without a run its run (an enqueue that failed
        after its commit, e.g. while the durable-run database was down), so no message waits
        for the next restart."""
        return Periodic(
            name="repair",
            every_seconds=repair_seconds(self.worker_dead_seconds),
            work=self.repair,
            failure="could not look for messages left without a run",
            first_after_seconds=0.0,
        )
