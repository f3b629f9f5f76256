"""Append events in the caller's transaction; wake this process's streams once it commits;
read them back for a stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from qai.db import after_commit, read_session, utcnow
from qai.live import hub
from qai.live.models import Event
from qai.live.repository import EventRepository

EventKind = Literal["message.created", "run.updated", "run.step"]

BATCH = 200
HEARTBEAT_SECONDS = 15.0
RETRY_MS = 2000


async def publish(
    session: AsyncSession, project_id: str, kind: EventKind, data: dict[str, Any]
) -> None:
    """Append an event to the project's log in the caller's transaction; this process's open
    streams of the project wake once it commits (other processes' streams poll)."""
    await EventRepository(session).append(Event(project_id=project_id, kind=kind, data=data))

    async def wake() -> None:
        hub.wake(project_id)

    after_commit(session, wake)


async def latest_event_id(session: AsyncSession, project_id: str) -> int:
    return await EventRepository(session).latest_id(project_id)


async def prune(session: AsyncSession, *, older_than_hours: int) -> int:
    return await EventRepository(session).delete_before(
        utcnow() - timedelta(hours=older_than_hours)
    )


@dataclass(frozen=True)
class StreamedEvent:
    id: int
    kind: str
    data: dict[str, Any]

    def encode(self) -> bytes:
        return (
            f"id: {self.id}\nevent: {self.kind}\ndata: ".encode()
            + orjson.dumps(self.data)
            + b"\n\n"
        )


async def stream(
    project_id: str, after_id: int, *, poll_seconds: float, heartbeat: float = HEARTBEAT_SECONDS
) -> AsyncIterator[bytes]:
    """Server-sent events of a project after ``after_id``, then live, forever.

    Holds no database connection while waiting; a comment line every ``heartbeat`` seconds keeps
    proxies from closing the connection and notices a client that went away.
    """
    yield f"retry: {RETRY_MS}\n\n".encode()
    # Gives a client that connected without Last-Event-ID its place to resume from.
    yield StreamedEvent(after_id, "ready", {"lastEventId": after_id}).encode()
    current = hub.get_hub(poll_seconds)
    async with current.subscribe(project_id) as signal:
        while not current.closing:
            signal.clear()
            async with read_session() as session:
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
