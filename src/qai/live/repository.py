"""Every query on the live event log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from qai.db import utcnow
from qai.live.models import Event

# Held until commit by every transaction that appends an event on PostgreSQL, so events become
# visible in id order: a reader that has seen id N never later finds a smaller id committed.
_APPEND_LOCK = 0x71A1_E7E7


class EventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def append(self, event: Event) -> None:
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _APPEND_LOCK}
            )
        self.session.add(event)
        await self.session.flush()

    async def append_many(self, events: list[Event]) -> None:
        """Append several events: one lock, one multi-row INSERT."""
        if not events:
            return
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _APPEND_LOCK}
            )
        at = utcnow()
        await self.session.execute(
            insert(Event).values(
                [
                    {
                        "project_id": event.project_id,
                        "kind": event.kind,
                        "data": event.data,
                        "created_at": at,
                    }
                    for event in events
                ]
            )
        )

    async def after(self, project_id: str, after_id: int, *, limit: int) -> list[Event]:
        """A project's events with ids above ``after_id``, oldest first."""
        query = (
            select(Event)
            .where(Event.project_id == project_id, Event.id > after_id)
            .order_by(Event.id)
            .limit(limit)
        )
        return list((await self.session.execute(query)).scalars())

    async def latest_id(self, project_id: str | None = None) -> int:
        query = select(func.max(Event.id))
        if project_id is not None:
            query = query.where(Event.project_id == project_id)
        return int(await self.session.scalar(query) or 0)

    async def projects_after(self, after_id: int) -> list[tuple[str, int]]:
        """Projects with events above ``after_id`` and their newest event id."""
        query = (
            select(Event.project_id, func.max(Event.id))
            .where(Event.id > after_id)
            .group_by(Event.project_id)
        )
        return [(row[0], int(row[1])) for row in (await self.session.execute(query)).all()]

    async def delete_before(self, moment: datetime) -> int:
        result = await self.session.execute(
            delete(Event)
            .where(Event.created_at < moment)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
