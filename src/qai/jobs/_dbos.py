"""DBOS, the durable-execution library: its system database, launch, the runs queue, enqueueing.

Knows nothing of the domain. The system database is kept apart from the app's: on SQLite its own
file in the data directory; on PostgreSQL a sibling database ``<db>_dbos`` (created if missing),
so the app's database sees only QAI's own statements. On SQLite, QAI makes DBOS's engine itself,
as DBOS would, with secure delete on: the records of deleted workflows (their pickled inputs,
step outputs and results) are overwritten with zeros, not left in free pages.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from dbos import (
    DBOS,
    DBOSClient,
    DBOSConfig,
    EnqueueOptions,
    Queue,
    SetEnqueueOptions,
    SetWorkflowID,
)
from sqlalchemy import event
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
# What DBOS gives its own SQLite engine (``SQLiteSystemDatabase._create_engine`` and the
# system database's default pool), kept when QAI makes that engine.
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_POOL = {"pool_size": 20, "max_overflow": 0, "pool_timeout": 30}


def system_database_file(settings: Settings) -> Path | None:
    """The SQLite file of DBOS's system database, or None on PostgreSQL."""
    if make_url(settings.sqlalchemy_url).get_backend_name() != "sqlite":
        return None
    return settings.data_dir / "dbos.sqlite"


def system_database_url(settings: Settings) -> str:
    path = system_database_file(settings)
    if path is not None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    url = make_url(settings.sqlalchemy_url)
    system = url.set(drivername="postgresql", database=f"{url.database}_dbos")
    return system.render_as_string(hide_password=False)


def _sqlite_system_engine(url: str) -> sa.Engine | None:
    """On SQLite, the engine DBOS would make for ``url``, with secure delete on; None on
    PostgreSQL (DBOS makes its own)."""
    if make_url(url).get_backend_name() != "sqlite":
        return None
    engine = sa.create_engine(url, **SQLITE_POOL)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # As DBOS does: a writer takes the lock when it begins, waiting out the others.
        dbapi_connection.isolation_level = "IMMEDIATE"
        dbapi_connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        dbapi_connection.execute("PRAGMA foreign_keys=ON")
        dbapi_connection.execute("PRAGMA secure_delete=ON")

    return engine


def executor_id(settings: Settings, role: Role) -> str:
    return settings.worker_id or f"{socket.gethostname()}-{role}"


def _open_client(url: str, engine: sa.Engine | None) -> DBOSClient:
    """A client of the system database at ``url`` (blocking). A client never creates the
    system database's tables and a worker may not have yet, so migrate first."""
    DBOS.migrate(url)
    return DBOSClient(
        system_database_url=url, application_name=APP_NAME, system_database_engine=engine
    )


class Jobs:
    """The process's connection to DBOS: a launched runtime (serve, worker) or a client (api)."""

    def __init__(self, settings: Settings, role: Role) -> None:
        self.settings = settings
        self.role = role
        self.executor_id = executor_id(settings, role)
        self._client: DBOSClient | None = None
        self._client_lock = asyncio.Lock()
        # Made on first use (SQLite only), shared by the runtime and the client, disposed at stop.
        self._sqlite_engine: sa.Engine | None = None
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
        engine = self._engine(url)
        if engine is not None:
            config["system_database_engine"] = engine
        # The queue is written before launch so the new worker listens to it at once (DBOS
        # looks for queues added after launch only once a second).
        await asyncio.to_thread(self._register_queue, url)
        DBOS(config=config)
        # Launched on the running loop on purpose: DBOS then runs async workflows on it, next to
        # the engine and sessions they use.
        DBOS.launch()
        self._launched = True

    def _engine(self, url: str) -> sa.Engine | None:
        if self._sqlite_engine is None:
            self._sqlite_engine = _sqlite_system_engine(url)
        return self._sqlite_engine

    def _register_queue(self, url: str) -> None:
        client = _open_client(url, self._engine(url))
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
                self._client = await asyncio.to_thread(_open_client, url, self._engine(url))
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

    # Deleting workflows, in any role: through a client of the system database.

    async def cancel(self, workflow_ids: list[str]) -> None:
        """Cancel the workflows not finished yet: one still running stops at its next step,
        one still queued never starts. Unknown ids are skipped."""
        if workflow_ids:
            client = await self._connect_client()
            await client.cancel_workflows_async(workflow_ids, cancel_children=True)

    async def delete(self, workflow_ids: list[str]) -> None:
        """Delete the workflows with every record DBOS keeps of them (inputs, step outputs,
        results) and the same of the workflows they started. Unknown ids are skipped."""
        if workflow_ids:
            client = await self._connect_client()
            await client.delete_workflows_async(workflow_ids, delete_children=True)

    async def step_outputs(self, workflow_id: str, step_name: str) -> list[Any]:
        """The recorded outputs of the workflow's steps called ``step_name``, in order."""
        client = await self._connect_client()
        steps = await client.list_workflow_steps_async(workflow_id)
        return [step["output"] for step in steps if step["function_name"] == step_name]

    async def checkpoint(self) -> bool:
        """On SQLite, empty the system database's write-ahead log into its file, if it keeps
        one; whether nothing was left in it (True on PostgreSQL)."""
        url = system_database_url(self.settings)
        engine = self._engine(url)
        if engine is None:
            return True
        return await asyncio.to_thread(_sqlite_checkpoint, engine)

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
        if self._sqlite_engine is not None:
            engine, self._sqlite_engine = self._sqlite_engine, None
            await asyncio.to_thread(engine.dispose)


def _sqlite_checkpoint(engine: sa.Engine) -> bool:
    with engine.connect() as connection:
        busy = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").scalar()
    return not busy
