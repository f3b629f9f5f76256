"""Events the domain sends once its transaction commits (the original's Inngest events).

Services call :func:`send_after_commit`. Each process has one :class:`EventDispatch`, made by
the wiring root for its database; whoever runs the work (the durable runs, see
``qai.runs.dispatch``) installs its outbox (what the event writes in the sender's own transaction:
the durable record that guarantees the work) when the process is built, and its handler (told
once the transaction commits) at start-up. Until a handler is installed, events are kept
(:meth:`EventDispatch.take_undelivered`) and logged, so the data layer works alone.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from qai.db import Database, after_commit

log = logging.getLogger("qai.events")

CODE_AGENT_RUN = "code-agent/run"
# Where a session of the dispatch's database finds it (``Database.session_info``).
DISPATCH = "qai.events.dispatch"


@dataclass(frozen=True)
class CodeAgentRun:
    """``code-agent/run``: the original's ``{value, projectId}`` plus the USER message's id."""

    project_id: str
    message_id: str
    value: str
    # The model the run is to use (one the server offers); None: the default.
    model: str | None = None

    name: str = CODE_AGENT_RUN


Handler = Callable[[CodeAgentRun], Awaitable[None]]
Outbox = Callable[[AsyncSession, CodeAgentRun], Awaitable[None]]


class EventDispatch:
    """Delivers the events committed through ``database``'s sessions to one handler."""

    def __init__(self, database: Database) -> None:
        self._handler: Handler | None = None
        self._outbox: Outbox | None = None
        self._undelivered: list[CodeAgentRun] = []
        database.session_info[DISPATCH] = self

    def install(self, handler: Handler | None) -> None:
        self._handler = handler

    def install_outbox(self, outbox: Outbox | None) -> None:
        """``outbox`` writes the event's record in a session's transaction; the driver-level
        creates (``qai.runs.send``) write the same row themselves."""
        self._outbox = outbox

    async def record(self, session: AsyncSession, event: CodeAgentRun) -> None:
        """Write the event's durable record in the sender's transaction (if an outbox is
        installed): with it committed, the work happens even if this process dies next."""
        if self._outbox is not None:
            await self._outbox(session, event)

    def take_undelivered(self) -> list[CodeAgentRun]:
        """Events sent while no handler was installed (oldest first), handed over once."""
        taken, self._undelivered = self._undelivered, []
        return taken

    async def send(self, event: CodeAgentRun) -> None:
        if self._handler is None:
            log.info(
                "no job runner installed; %s for message %s kept", event.name, event.message_id
            )
            self._undelivered.append(event)
            return
        await self._handler(event)


async def send_after_commit(session: AsyncSession, event: CodeAgentRun) -> None:
    """Record ``event`` in the session's transaction (the outbox) and send it once the
    transaction commits (never if it rolls back)."""
    dispatch: EventDispatch | None = session.info.get(DISPATCH)
    if dispatch is None:
        # A session of a database no process serves (a migration, a test of the data layer
        # alone): the message is saved, and a worker's repair gives it its run.
        log.info(
            "no event dispatch; %s for message %s left to repair", event.name, event.message_id
        )
        return
    await dispatch.record(session, event)

    async def deliver() -> None:
        await dispatch.send(event)

    after_commit(session, deliver)
