"""The wiring root: one :class:`AppContext` per process, built by the command that starts it.

The command (`qai serve`, `qai worker`) builds the settings, then the context from them; the
context makes the database, the sandbox manager, the durable-job runtime, the live hub and the
models once, wires them together, and hands them to whatever needs them (``create_app(ctx)``,
the runs). Nothing else builds one of these or reads the settings on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic_ai.models import Model

from qai.accounts.oidc import SingleSignOn
from qai.accounts.quotas import QuotaDefaults
from qai.accounts.service import Accounts
from qai.accounts.throttle import Throttle
from qai.db import Database, create_database, migrate
from qai.db.engine import make_private, sqlite_files, sqlite_path
from qai.events import EventDispatch
from qai.jobs import Background, Jobs, Periodic, Role, system_database_file
from qai.live import service as live
from qai.live.hub import Hub
from qai.llm import Models, choose_models
from qai.projects import deletion
from qai.runs import workflow
from qai.runs.dispatch import RunDispatch
from qai.runs.purge import ProjectPurge
from qai.sandbox import SandboxManager, make_sandbox_manager
from qai.settings import Settings
from qai.workers.heartbeats import Heartbeat

log = logging.getLogger("qai")

PRUNE_EVENTS_EVERY_SECONDS = 3600.0


@dataclass
class AppContext:
    """A process's parts. ``role`` says what the process does with runs: ``serve`` and
    ``worker`` execute them (and first repair messages left without one); ``api`` only enqueues
    them for workers."""

    settings: Settings
    role: Role
    database: Database
    sandboxes: SandboxManager
    jobs: Jobs
    hub: Hub
    events: EventDispatch
    models: Models
    runs: RunDispatch
    # Who may do what, with QAI_AUTH=accounts; None without accounts.
    accounts: Accounts | None = None
    _background: Background = field(default_factory=Background, repr=False)
    _started: bool = field(default=False, repr=False)
    _migrated: bool = field(default=False, repr=False)
    _closed: bool = field(default=False, repr=False)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        role: Role,
        model: Model | None = None,
        small_model: Model | None = None,
    ) -> AppContext:
        """The parts, made from ``settings`` (nothing connects or starts yet). ``model`` /
        ``small_model`` replace the models the settings name (tests script them)."""
        database = create_database(settings)
        jobs = Jobs(settings, role)
        sandboxes = make_sandbox_manager(settings)
        deletion.install(database, ProjectPurge(database, jobs, sandboxes))
        runs = RunDispatch(
            database,
            jobs,
            worker_dead_seconds=settings.worker_dead_seconds,
            batch_size=settings.repair_batch_size,
            batch_pause_seconds=settings.repair_batch_pause_seconds,
            handoff_batch_size=settings.handoff_batch_size,
            handoff_poll_seconds=settings.handoff_poll_seconds,
            handoff_burst_seconds=settings.handoff_burst_seconds,
        )
        events = EventDispatch(database)
        # A new USER message's transaction records its run (the outbox) from the start.
        events.install_outbox(runs.record)
        return cls(
            settings=settings,
            role=role,
            database=database,
            sandboxes=sandboxes,
            jobs=jobs,
            hub=Hub(database, settings.live_poll_seconds),
            events=events,
            models=choose_models(settings, main=model, small=small_model),
            runs=runs,
            accounts=Accounts(
                database,
                session_hours=settings.session_hours,
                throttle=Throttle(settings.login_max_failures, settings.login_lockout_seconds),
                quotas=QuotaDefaults(
                    runs_per_day=settings.quota_runs_per_day,
                    runs_at_once=settings.quota_runs_at_once,
                    tokens_per_month=settings.quota_tokens_per_month,
                ),
                sso=SingleSignOn.from_settings(settings),
            )
            if settings.auth == "accounts"
            else None,
        )

    @property
    def executes(self) -> bool:
        return self.jobs.executes

    async def start(self) -> None:
        """Migrate the database (if QAI_AUTO_MIGRATE), launch the durable runtime and, in a
        process that executes runs, start the heartbeat, the repair (whose first pass, at
        once, gives what earlier processes left its runs) and the pruning of old live events."""
        settings = self.settings
        if not self._migrated:
            await asyncio.to_thread(self.migrate)
        for choice in (self.models.main, self.models.small):
            if choice.problem:
                log.warning("%s", choice.problem)
        await self.models.open()
        heartbeat = Heartbeat(self.database, self.jobs)
        if self.executes:
            # Seen alive before DBOS hands this worker any run: no other worker takes it for dead.
            await heartbeat.beat()
        await self.jobs.start()
        self._started = True
        if self.executes:
            workflow.bind(
                workflow.RunEnvironment(settings, self.database, self.sandboxes, self.models)
            )
        self.events.install(self.runs.dispatch)
        for pending in self.events.take_undelivered():
            await self.runs.dispatch(pending)
        if self.executes:
            # Hands recorded runs to the durable queue (first pass at once: what an earlier
            # process committed and did not hand off).
            await self.runs.handoff.start()
            # In the background, from the start: a backlog of unanswered messages must not keep
            # the process from serving.
            repair = self.runs.periodic()
            self._background.start(
                [
                    heartbeat.periodic(settings.worker_dead_seconds),
                    repair,
                    Periodic(
                        name="prune-events",
                        every_seconds=PRUNE_EVENTS_EVERY_SECONDS,
                        first_after_seconds=repair.every_seconds,
                        work=self._prune_events,
                        failure="could not prune old live events",
                    ),
                ]
            )
        log.info(
            "job runtime started (%s): model %s, %d run(s) at once",
            self.role,
            self.models.main.id or "not configured",
            settings.worker_concurrency,
        )

    async def close(self) -> None:
        """Stop taking work and release every part, once. Runs in flight stay PENDING and
        resume when a worker with the same id starts again, or on another worker once this one
        has been silent for QAI_WORKER_DEAD_SECONDS."""
        if self._closed:
            return
        self._closed = True
        self.events.install(None)
        await self.runs.handoff.stop()
        await self.runs.wake_workers.flush()
        await self._background.stop()
        if self._started:
            if self.executes:
                environment = workflow.current()
                if environment is not None:
                    await environment.cancel_in_flight()
            await self.jobs.stop()
            workflow.bind(None)
        await self.models.aclose()
        await self.hub.close()
        await self.sandboxes.shutdown()
        await self.database.dispose()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[AppContext]:
        """The process's whole life: started, then closed however it ends."""
        try:
            await self.start()
            yield self
        finally:
            await self.close()

    def migrate(self) -> None:
        """Make the data directory private and migrate the database (if QAI_AUTO_MIGRATE):
        the part of :meth:`start` a command can do first, to say plainly why it cannot start
        (raises :class:`qai.db.migrate.DatabaseUnavailable`)."""
        self._make_data_private()
        if self.settings.auto_migrate:
            migrate.upgrade(self.settings)
        self._migrated = True

    def _make_data_private(self) -> None:
        """The data directory 0700 and the database files 0600, also those an earlier QAI
        made with the default umask. The sandbox and template subtrees keep the modes their
        own uids need; the directory above them keeps everyone else out."""
        settings = self.settings
        files: list[Path] = []
        for path in (sqlite_path(settings.sqlalchemy_url), system_database_file(settings)):
            if path is not None:
                files += sqlite_files(path)
        make_private(settings.data_dir, files)

    async def _prune_events(self) -> None:
        hours = self.settings.events_retention_hours
        async with self.database.session() as session:
            deleted = await live.prune(session, older_than_hours=hours)
        if deleted:
            log.info("deleted %d live event(s) older than %d hours", deleted, hours)
