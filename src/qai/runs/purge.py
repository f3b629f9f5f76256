"""Purging a deleted project's traces outside QAI's tables: its runs' durable records and its
sandboxes, then, on SQLite, the write-ahead logs that still hold deleted bytes.

Runs in the process that served the DELETE, right after its commit, whatever the process's role:
the durable records go through a client of DBOS's system database, and the local sandbox
backend lets any QAI process of the data directory stop and remove any sandbox of it.
"""

from __future__ import annotations

import logging

from qai.db import Database
from qai.jobs import Jobs
from qai.projects.deletion import DeletedProject
from qai.runs.workflow import RunStart
from qai.sandbox import SandboxManager

log = logging.getLogger("qai.runs")

BEGIN_STEP = "qai.run.begin"


class ProjectPurge:
    """Removes what a deleted project's runs left in DBOS and in sandboxes."""

    def __init__(self, database: Database, jobs: Jobs, sandboxes: SandboxManager) -> None:
        self.database = database
        self.jobs = jobs
        self.sandboxes = sandboxes

    async def purge(self, deleted: DeletedProject) -> None:
        """Never raises: the project's rows are gone already, so a failure here is logged
        with what is left (ids only) instead of failing the request that deleted it."""
        try:
            await self._purge(deleted)
        except Exception:
            log.exception(
                "project %s was deleted, but not all its traces: workflows %s and sandboxes %s "
                "may remain (delete them with `qai sandbox stop --delete` and DBOS's tools)",
                deleted.project_id,
                deleted.user_message_ids,
                deleted.fragment_ids,
            )

    async def _purge(self, deleted: DeletedProject) -> None:
        workflows = deleted.user_message_ids
        # First, so that no run of the project goes on to a next step that writes.
        await self.jobs.cancel(workflows)
        sandboxes = dict.fromkeys(deleted.fragment_ids)
        # A run that did not end with a fragment still had a sandbox, named when it began.
        for workflow_id in workflows:
            for start in await self.jobs.step_outputs(workflow_id, BEGIN_STEP):
                if isinstance(start, RunStart):
                    sandboxes[start.fragment_id] = None
        for name in sandboxes:
            await self.sandboxes.stop(name, delete_files=True)
        await self.jobs.delete(workflows)
        emptied = await self.database.checkpoint() and await self.jobs.checkpoint()
        if not emptied:
            log.warning(
                "project %s deleted; a database's write-ahead log could not be emptied yet "
                "(busy readers): SQLite empties it at its next checkpoint",
                deleted.project_id,
            )
        log.info(
            "project %s purged: %d run record(s), %d sandbox(es)",
            deleted.project_id,
            len(workflows),
            len(sandboxes),
        )
