"""DBOS, the durable-execution library: its system database, launch, the runs queue, enqueueing.

Knows nothing of the domain. The system database is kept apart from the app's: on SQLite its own
file in the data directory; on PostgreSQL a sibling database ``<db>_dbos`` (created if missing),
so the app's database sees only QAI's own statements.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from dbos import (
    DBOS,
    DBOSClient,
    DBOSConfig,
    EnqueueOptions,
    Queue,
    SetEnqueueOptions,
    SetWorkflowID,
)
from sqlalchemy.engine import make_url

from qai.settings import Settings

log = logging.getLogger("qai.jobs")

APP_NAME = "qai"
RUNS_QUEUE = "qai-runs"
# Pinned: DBOS recovers an interrupted workflow only under the version that started it. Bump it
# when a change to the workflow's steps would make old checkpoints replay wrongly.
APPLICATION_VERSION = "qai-runs-1"

Role = Literal["serve", "worker", "api"]
TERMINAL_STATUSES = frozenset({"SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"})


def system_database_url(settings: Settings) -> str:
    url = make_url(settings.sqlalchemy_url)
    if url.get_backend_name() == "sqlite":
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{settings.data_dir / 'dbos.sqlite'}"
    system = url.set(drivername="postgresql", database=f"{url.database}_dbos")
    return system.render_as_string(hide_password=False)


def executor_id(settings: Settings, role: Role) -> str:
    return settings.worker_id or f"{socket.gethostname()}-{role}"


def _open_client(url: str) -> DBOSClient:
    """A client of the system database at ``url`` (blocking). A client never creates the
    system database's tables and a worker may not have yet, so migrate first."""
    DBOS.migrate(url)
    return DBOSClient(system_database_url=url, application_name=APP_NAME)


class Jobs:
    """The process's connection to DBOS: a launched runtime (serve, worker) or a client (api)."""

    def __init__(self, settings: Settings, role: Role) -> None:
        self.settings = settings
        self.role = role
        self.executor_id = executor_id(settings, role)
        self._client: DBOSClient | None = None
        self._client_lock = asyncio.Lock()
        self._launched = False
        self._queue: Queue | None = None

    @property
    def executes(self) -> bool:
        return self.role != "api"

    async def start(self) -> None:
        if not self.executes:
            return  # the client connects on the first enqueue: most API processes never need it
        url = system_database_url(self.settings)
        config = DBOSConfig(
            name=APP_NAME,
            system_database_url=url,
            application_version=APPLICATION_VERSION,
            executor_id=self.executor_id,
            log_level="INFO" if self.settings.log_level == "debug" else "WARNING",
        )
        # The queue is written before launch so the new worker listens to it at once (DBOS
        # looks for queues added after launch only once a second).
        await asyncio.to_thread(self._register_queue, url)
        DBOS(config=config)
        # Launched on the running loop on purpose: DBOS then runs async workflows on it, next to
        # the engine and sessions they use.
        DBOS.launch()
        self._launched = True

    def _register_queue(self, url: str) -> None:
        client = _open_client(url)
        try:
            client.register_queue(
                RUNS_QUEUE,
                worker_concurrency=self.settings.worker_concurrency,
                partition_concurrency=1,
                polling_interval_sec=self.settings.queue_poll_seconds,
                on_conflict="always_update",
            )
        finally:
            client.destroy()

    async def enqueue(
        self,
        workflow: Callable[..., Coroutine[Any, Any, Any]],
        workflow_name: str,
        *args: Any,
        workflow_id: str,
        partition: str,
        order: int,
    ) -> None:
        """Start ``workflow`` once per ``workflow_id`` (a second enqueue is a no-op). Workflows
        of one ``partition`` run one at a time, lowest ``order`` (1, 2, ...) first: the order
        survives a worker's crash, when DBOS puts its workflows back in the queue."""
        if not self.executes:
            client = await self._connect_client()
            options = EnqueueOptions(
                queue_name=RUNS_QUEUE,
                workflow_name=workflow_name,
                workflow_id=workflow_id,
                queue_partition_key=partition,
                priority=order,
                app_version=APPLICATION_VERSION,
            )
            await client.enqueue_async(options, *args)
            return
        if self._queue is None:
            # Retrieving reads the queue's settings from the system database: once is enough.
            self._queue = await DBOS.retrieve_queue_async(RUNS_QUEUE)
        queue = self._queue
        assert queue is not None
        with (
            SetWorkflowID(workflow_id),
            SetEnqueueOptions(queue_partition_key=partition, priority=order),
        ):
            await queue.enqueue_async(workflow, *args)

    async def _connect_client(self) -> DBOSClient:
        async with self._client_lock:
            if self._client is None:
                url = system_database_url(self.settings)
                self._client = await asyncio.to_thread(_open_client, url)
            return self._client

    async def statuses(self, workflow_ids: list[str]) -> dict[str, str | None]:
        """Each workflow's DBOS status (PENDING, SUCCESS, ...), None for one never enqueued;
        one query for them all."""
        assert self.executes, "only a worker reads workflow statuses"
        if not workflow_ids:
            return {}  # DBOS reads an empty list of ids as "every workflow"
        found = await DBOS.list_workflows_async(
            workflow_ids=workflow_ids, load_input=False, load_output=False
        )
        known = {workflow.workflow_id: str(workflow.status) for workflow in found}
        return {workflow_id: known.get(workflow_id) for workflow_id in workflow_ids}

    async def pending_on(self, executor: str, workflow_name: str) -> list[str]:
        """Ids of the ``workflow_name`` workflows (this version's) that the executor ``executor``
        started and has not finished, oldest first."""
        assert self.executes, "only a worker takes over workflows"
        found = await DBOS.list_workflows_async(
            status="PENDING",
            executor_id=executor,
            name=workflow_name,
            app_version=APPLICATION_VERSION,
            load_input=False,
            load_output=False,
        )
        return [workflow.workflow_id for workflow in found]

    async def take_over(self, workflow_id: str) -> None:
        """Put a PENDING workflow of another executor back in the runs queue (its partition and
        order kept): a live worker goes on with it from its last finished step.

        Resuming alone hands it over: DBOS fences every step's write by the workflow's owner, so
        if the old executor was alive after all, its next step fails instead of writing. Not
        cancelled first: a CANCELLED workflow reads as one that died for good to another
        worker's repair, which would answer the run with an error.
        """
        assert self.executes, "only a worker takes over workflows"
        await DBOS.resume_workflow_async(workflow_id, queue_name=RUNS_QUEUE)

    async def stop(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await asyncio.to_thread(client.destroy)
        if self._launched:
            self._launched = False
            await asyncio.to_thread(DBOS.destroy)
            # DBOS made its (now shut down) thread pool this loop's default executor; later
            # asyncio.to_thread calls in this process need a live one.
            asyncio.get_running_loop().set_default_executor(
                ThreadPoolExecutor(thread_name_prefix="qai-to-thread")
            )
