"""Events the domain sends once its transaction commits (the original's Inngest events).

Services call :func:`send_after_commit`; whoever runs the work (the durable job runner, see
``qai.jobs``) installs itself with :func:`set_dispatcher` at start-up. Until one is installed,
events are kept in memory (:func:`undelivered`) and logged, so the data layer works alone.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from qai.db.session import after_commit

log = logging.getLogger("qai.events")

CODE_AGENT_RUN = "code-agent/run"


@dataclass(frozen=True)
class CodeAgentRun:
    """``code-agent/run``: the original's ``{value, projectId}`` plus the USER message's id."""

    project_id: str
    message_id: str
    value: str

    name: str = CODE_AGENT_RUN


Dispatcher = Callable[[CodeAgentRun], Awaitable[None]]

_dispatcher: Dispatcher | None = None
_undelivered: list[CodeAgentRun] = []


def set_dispatcher(dispatcher: Dispatcher | None) -> None:
    global _dispatcher
    _dispatcher = dispatcher


def undelivered() -> list[CodeAgentRun]:
    """Events sent while no dispatcher was installed (oldest first)."""
    return list(_undelivered)


def clear_undelivered() -> None:
    _undelivered.clear()


async def send(event: CodeAgentRun) -> None:
    if _dispatcher is None:
        log.info("no job runner installed; %s for message %s kept", event.name, event.message_id)
        _undelivered.append(event)
        return
    await _dispatcher(event)


def send_after_commit(session: AsyncSession, event: CodeAgentRun) -> None:
    async def deliver() -> None:
        await send(event)

    after_commit(session, deliver)
