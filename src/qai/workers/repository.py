"""Every query on the workers' heartbeats."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from qai.db import upsert_into
from qai.workers.models import Worker


class WorkerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def beat(
        self,
        executor_id: str,
        *,
        role: str,
        hostname: str,
        pid: int,
        started_at: datetime,
        at: datetime,
    ) -> None:
        """Insert the worker's row, or bring it up to date (a row another worker deleted after
        taking over comes back)."""
        values = {"role": role, "hostname": hostname, "pid": pid, "started_at": started_at}
        statement = (
            upsert_into(self.session, Worker)
            .values(executor_id=executor_id, seen_at=at, **values)
            .on_conflict_do_update(
                index_elements=[Worker.executor_id], set_={**values, "seen_at": at}
            )
        )
        await self.session.execute(statement)

    async def all(self) -> list[Worker]:
        """Every worker on record, most recently seen first."""
        query = select(Worker).order_by(Worker.seen_at.desc(), Worker.executor_id)
        return list((await self.session.execute(query)).scalars())

    async def silent_since(self, moment: datetime, *, other_than: str) -> list[str]:
        """Executor ids not seen since ``moment``, oldest first, ``other_than`` left out."""
        query = (
            select(Worker.executor_id)
            .where(Worker.seen_at < moment, Worker.executor_id != other_than)
            .order_by(Worker.seen_at, Worker.executor_id)
        )
        return list((await self.session.execute(query)).scalars())

    async def touch_if_silent_since(
        self, executor_id: str, moment: datetime, *, at: datetime
    ) -> bool:
        """Set the row's ``seen_at`` to ``at`` if it is still older than ``moment``; whether it
        was (one of several workers racing for it gets True)."""
        statement = (
            update(Worker)
            .where(Worker.executor_id == executor_id, Worker.seen_at < moment)
            .values(seen_at=at)
            .returning(Worker.executor_id)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(statement)).scalar_one_or_none() is not None

    async def delete_if_seen_at(self, executor_id: str, seen_at: datetime) -> None:
        """Delete the row unless its worker wrote a heartbeat since ``seen_at``."""
        statement = (
            delete(Worker)
            .where(Worker.executor_id == executor_id, Worker.seen_at == seen_at)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(statement)
