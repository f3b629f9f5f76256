"""Append events in the caller's transaction; wake this process's streams once it commits;
read them back for a stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from qai.db import after_commit, utcnow
from qai.live.hub import HUB, Hub
from qai.live.models import Event
from qai.live.payloads import EventKind, Payload, StreamedEvent
from qai.live.repository import EventRepository

BATCH = 200
HEARTBEAT_SECONDS = 15.0
RETRY_MS = 2000


async def publish(session: AsyncSession, project_id: str, kind: EventKind, data: Payload) -> None:
    """Append an event to the project's log in the caller's transaction; this process's open
    streams of the project wake once it commits (other processes' streams poll)."""
    await EventRepository(session).append(Event(project_id=project_id, kind=kind, data=data))
    hub: Hub | None = session.info.get(HUB)
    if hub is None:
        return  # no stream of this process can be waiting (a CLI command, a migration)

    async def wake() -> None:
        hub.wake(project_id)

    after_commit(session, wake)


async def publish_many(session: AsyncSession, events: list[tuple[str, EventKind, Payload]]) -> None:
    """:func:`publish` for several events (project, kind, data), in order: one lock and one
    INSERT for them all."""
    if not events:
        return
    await EventRepository(session).append_many(
        [Event(project_id=project_id, kind=kind, data=data) for project_id, kind, data in events]
    )
    hub: Hub | None = session.info.get(HUB)
    if hub is None:
        return
    projects = list(dict.fromkeys(project_id for project_id, _, _ in events))

    async def wake() -> None:
        for project_id in projects:
            hub.wake(project_id)

    after_commit(session, wake)


async def latest_event_id(session: AsyncSession, project_id: str) -> int:
    return await EventRepository(session).latest_id(project_id)


async def prune(session: AsyncSession, *, older_than_hours: int) -> int:
    return await EventRepository(session).delete_before(
        utcnow() - timedelta(hours=older_than_hours)
    )


async def stream(
    hub: Hub, project_id: str, after_id: int, *, heartbeat: float = HEARTBEAT_SECONDS
) -> AsyncIterator[bytes]:
    """Server-sent events of a project after ``after_id``, then live, forever.

    Holds no database connection while waiting; a comment line every ``heartbeat`` seconds keeps
    proxies from closing the connection and notices a client that went away.
    """
    yield f"retry: {RETRY_MS}\n\n".encode()
    # Gives a client that connected without Last-Event-ID its place to resume from.
    yield StreamedEvent(after_id, "ready", {"lastEventId": after_id}).encode()
    async with hub.subscribe(project_id) as signal:
        while not hub.closing:
            signal.clear()
            async with hub.database.read() as session:
                rows = await EventRepository(session).after(project_id, after_id, limit=BATCH)
            for row in rows:
                after_id = row.id
                yield StreamedEvent(row.id, row.kind, row.data).encode()
            if len(rows) == BATCH:
                continue
            try:
                async with asyncio.timeout(heartbeat):
                    await signal.wait()
            except TimeoutError:
                yield b": keep-alive\n\n"
