"""What deleting a project leaves to purge outside QAI's tables, and the hand-off to whoever
purges it.

The project's rows go in the request's transaction (the database cascades). Its durable runs
(one workflow per USER message, under the message's id) and its sandboxes (one per fragment,
under the fragment's id) live elsewhere; their ids are read before the rows go and handed,
once the transaction commits, to the process's :class:`Purger` (``qai.runs.purge``, installed
by the wiring root).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qai.db import Database, after_commit
from qai.messages.models import Fragment, Message, MessageRole

log = logging.getLogger("qai.projects")

# Where a session of the purger's database finds it (``Database.session_info``).
PURGER = "qai.projects.purger"


@dataclass(frozen=True)
class DeletedProject:
    """A deleted project's traces: the ids its runs and sandboxes go by."""

    project_id: str
    # Each USER message's run is the durable workflow of the same id.
    user_message_ids: list[str]
    # Each fragment's preview ran in the sandbox of the same name.
    fragment_ids: list[str]


class Purger(Protocol):
    async def purge(self, deleted: DeletedProject) -> None: ...


def install(database: Database, purger: Purger) -> None:
    database.session_info[PURGER] = purger


class ProjectTraces:
    """The queries: the ids a project's runs and sandboxes go by."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of(self, project_id: str) -> DeletedProject:
        users = select(Message.id).where(
            Message.project_id == project_id, Message.role == MessageRole.USER
        )
        fragments = (
            select(Fragment.id)
            .join(Message, Fragment.message_id == Message.id)
            .where(Message.project_id == project_id)
        )
        return DeletedProject(
            project_id=project_id,
            user_message_ids=list((await self.session.execute(users)).scalars()),
            fragment_ids=list((await self.session.execute(fragments)).scalars()),
        )


async def purge_after_commit(session: AsyncSession, project_id: str) -> None:
    """Read the project's traces now (its rows are about to go) and purge them once the
    transaction commits; never if it rolls back."""
    purger: Purger | None = session.info.get(PURGER)
    if purger is None:
        # A session of a database no process serves (a test of the data layer alone).
        log.info("no purger: project %s's runs and sandboxes are left as they are", project_id)
        return
    deleted = await ProjectTraces(session).of(project_id)

    async def purge() -> None:
        await purger.purge(deleted)

    after_commit(session, purge)
