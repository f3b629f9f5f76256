"""Starting runs and repairing them.

The write path: a new USER message's transaction also inserts its run, queued and not handed
off yet (the outbox, :meth:`RunDispatch.record`); nothing else happens on the request path. A
worker's hand-off task (:class:`HandOff`) takes those runs in batches, marks and announces them,
and enqueues them on the durable queue. It is woken at once by a commit in its own process, by
PostgreSQL's NOTIFY from an API-only process (``qai serve --no-worker``), and otherwise polls.
A worker's repair gives every USER message still without an answer the run (or the answer) it
is owed: a process killed between its commit and the hand-off leaves a run that the next
hand-off (or repair) takes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from qai.common.pagination import Cursor
from qai.db import Database
from qai.events import CodeAgentRun
from qai.jobs import TERMINAL_STATUSES, Jobs, Periodic
from qai.runs import service as runs
from qai.runs.repository import RunToStart
from qai.runs.service import Failure
from qai.runs.workflow import WORKFLOW_NAME, code_agent_run, save
from qai.workers.takeover import take_over_dead_workers

log = logging.getLogger("qai.runs")

# At most; with a short QAI_WORKER_DEAD_SECONDS a worker repairs more often, so that a dead
# worker's runs go on soon after it is found dead.
REPAIR_EVERY_SECONDS = 60.0
# Wake-ups closer than this make a burst (a script or a load test, not a person typing).
BURST_GAP_SECONDS = 0.05
# The PostgreSQL channel an API-only process notifies when it has recorded runs to hand off.
HANDOFF_CHANNEL = "qai_handoff"

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
        handoff_batch_size: int = 200,
        handoff_poll_seconds: float = 1.0,
        handoff_burst_seconds: float = 0.0,
    ) -> None:
        self.database = database
        self.jobs = jobs
        self.worker_dead_seconds = worker_dead_seconds
        self.batch_size = batch_size
        self.batch_pause_seconds = batch_pause_seconds
        self.handoff = HandOff(
            self,
            batch_size=handoff_batch_size,
            poll_seconds=handoff_poll_seconds,
            burst_seconds=handoff_burst_seconds,
        )
        self.wake_workers = WakeWorkers(database, HANDOFF_CHANNEL)

    async def record(self, session: AsyncSession, event: CodeAgentRun) -> None:
        """The outbox: the run of a new USER message, queued, in the message's transaction."""
        await runs.record_pending(session, event.project_id, event.message_id, model=event.model)

    async def enqueue(self, project_id: str, message_id: str, model: str | None = None) -> None:
        """Start the run of ``message_id`` with ``model`` (None: the default), once, however
        often this is called."""
        order = await runs.position_of(self.database, message_id)
        await self.jobs.enqueue(
            code_agent_run,
            WORKFLOW_NAME,
            project_id,
            message_id,
            model,
            workflow_id=message_id,
            partition=project_id,
            order=order,
        )
        async with self.database.session() as session:
            await runs.record_queued(session, project_id, message_id)

    async def dispatch(self, event: CodeAgentRun) -> None:
        """The ``code-agent/run`` handler, called once the USER message (and its outbox row) is
        committed: wakes this process's hand-off (a worker's) or the workers' (an API-only
        process's, by NOTIFY)."""
        if self.jobs.executes:
            self.handoff.wake()
        else:
            self.wake_workers()

    async def hand_off(self, limit: int) -> int:
        """Hand up to ``limit`` recorded runs to the durable queue: mark and announce them in
        one transaction, then enqueue each (once: the workflow id is the message id). Returns
        how many were pending. A crash after the mark leaves a run the repair enqueues."""
        async with self.database.session() as session:
            taken = await runs.take_pending(session, limit=limit)
        orders: dict[str, int] = {}
        for start in taken:
            message_id, project_id = start.message_id, start.project_id
            # One count per project and batch: the batch holds its runs in message order.
            if project_id in orders:
                orders[project_id] += 1
            else:
                orders[project_id] = await runs.position_of(self.database, message_id)
            try:
                await self.jobs.enqueue(
                    code_agent_run,
                    WORKFLOW_NAME,
                    project_id,
                    message_id,
                    start.model,
                    workflow_id=message_id,
                    partition=project_id,
                    order=orders[project_id],
                )
            except Exception:
                # Marked handed off but not enqueued: a worker's repair (at start, then every
                # minute) enqueues it.
                log.exception("could not enqueue the run of message %s", message_id)
        return len(taken)

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
            repaired += await self._repair_batch([start for start, _ in batch])
            if len(batch) < self.batch_size:
                break
            after = batch[-1][1]
            await asyncio.sleep(self.batch_pause_seconds)
        if repaired:
            log.info("repair: %d unanswered message(s) given a run or an answer", repaired)
        return repaired

    async def _repair_batch(self, pending: list[RunToStart]) -> int:
        repaired = 0
        statuses = await self.jobs.statuses([start.message_id for start in pending])
        for start in pending:
            message_id = start.message_id
            status = statuses[message_id]
            if status is None:
                await self.enqueue(start.project_id, message_id, start.model)
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


class WakeWorkers:
    """An API-only process's wake-up of the workers' hand-off: ``NOTIFY channel`` once a new
    run is committed, on its own, with at most one in flight (commits meanwhile ask for one
    more, not one each).

    Not in the create's transaction: a transaction that notifies takes PostgreSQL's one global
    notify lock from its commit to its end, so every create would wait for the one before
    (pgbench, the create's statement, 16 clients: 7,400/s alone, 2,000/s with the NOTIFY in
    it). A process that dies before it notifies leaves the committed runs to the workers'
    poll (``QAI_HANDOFF_POLL_SECONDS``)."""

    def __init__(self, database: Database, channel: str) -> None:
        self.database = database
        self.channel = channel
        self._again = False
        self._task: asyncio.Task[None] | None = None

    def __call__(self) -> None:
        if not self.database.driver_writes:
            return  # no NOTIFY off PostgreSQL: the workers poll
        self._again = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._notify(), name="qai-wake-workers")

    async def _notify(self) -> None:
        while self._again:
            self._again = False
            try:
                await self.database.notify(self.channel)
            except Exception:
                log.warning(
                    "could not notify the workers; their poll finds the new runs", exc_info=True
                )
                return

    async def flush(self) -> None:
        """Wait for the NOTIFY in flight, if any (at shutdown: a commit just before it still
        wakes the workers)."""
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._task), 5)


class HandOff:
    """A worker's hand-off task: hands recorded runs to the durable queue in batches, woken at
    once (:meth:`wake`, or a NOTIFY on PostgreSQL) or every ``poll_seconds``.

    A wake-up after a quiet moment hands over at once (the run of a message a person sent
    starts now). During a burst (wake-ups less than :data:`BURST_GAP_SECONDS` apart) it waits
    for a pause, at most ``burst_seconds``, then hands over one batch and waits again: the
    burst's writes have the database (the runs' own statements, on the same PostgreSQL, would
    slow every one of them), and its runs, durably recorded, start in order once it eases."""

    def __init__(
        self,
        dispatch: RunDispatch,
        *,
        batch_size: int,
        poll_seconds: float,
        burst_seconds: float = 0.0,
    ) -> None:
        self.dispatch = dispatch
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.burst_seconds = burst_seconds
        self._wake = asyncio.Event()
        self._woken_at, self._previous_wake = 0.0, float("-inf")
        self._task: asyncio.Task[None] | None = None
        self._unlisten: Callable[[], Awaitable[None]] | None = None

    def wake(self) -> None:
        self._previous_wake, self._woken_at = self._woken_at, time.monotonic()
        self._wake.set()

    @property
    def _bursting(self) -> bool:
        return self._woken_at - self._previous_wake < BURST_GAP_SECONDS

    async def _wait_for_a_pause(self) -> bool:
        """In a burst, wait while wake-ups keep coming: until a pause of
        :data:`BURST_GAP_SECONDS` (False) or for ``burst_seconds`` (True: the burst goes on)."""
        deadline = time.monotonic() + self.burst_seconds
        while (left := deadline - time.monotonic()) > 0:
            self._wake.clear()
            try:
                async with asyncio.timeout(min(BURST_GAP_SECONDS, left)):
                    await self._wake.wait()
            except TimeoutError:
                if left > BURST_GAP_SECONDS:
                    return False
        return True

    async def start(self) -> None:
        """Listen (PostgreSQL) and start the task; its first pass runs at once, so what an
        earlier process recorded and did not hand off goes now."""
        self._unlisten = await self.dispatch.database.listen(HANDOFF_CHANNEL, self.wake)
        self._wake.set()
        self._task = asyncio.create_task(self._run(), name="qai-handoff")

    async def stop(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._unlisten is not None:
            unlisten, self._unlisten = self._unlisten, None
            await unlisten()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()
            self._wake.clear()
            burst_goes_on = self.burst_seconds > 0 and self._bursting
            if burst_goes_on:
                burst_goes_on = await self._wait_for_a_pause()
            try:
                # A full batch: more may wait. The next batch yields to the requests first; in
                # a burst that goes on, it waits for the next pause (or burst_seconds).
                full = True
                while full:
                    full = await self.dispatch.hand_off(self.batch_size) == self.batch_size
                    await asyncio.sleep(0)
                    if full and burst_goes_on:
                        self._wake.set()
                        break
            except Exception:
                log.warning(
                    "could not hand runs to the durable queue; will try again", exc_info=True
                )
