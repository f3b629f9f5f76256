"""Rules for workers' heartbeats: alive while seen recently, dead after a long silence, and a
dead worker's runs taken over by exactly one live worker at a time."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from qai.db import utcnow
from qai.workers.models import Worker
from qai.workers.repository import WorkerRepository


async def heartbeat(
    session: AsyncSession,
    executor_id: str,
    *,
    role: str,
    hostname: str,
    pid: int,
    started_at: datetime,
) -> None:
    """Record that the worker ``executor_id`` is alive now."""
    await WorkerRepository(session).beat(
        executor_id, role=role, hostname=hostname, pid=pid, started_at=started_at, at=utcnow()
    )


async def list_workers(session: AsyncSession) -> list[Worker]:
    """The workers on record (a dead one's row stays until another takes its runs over)."""
    return await WorkerRepository(session).all()


def is_alive(worker: Worker, *, dead_seconds: float, now: datetime) -> bool:
    return worker.seen_at > now - timedelta(seconds=dead_seconds)


async def dead_workers(session: AsyncSession, *, other_than: str, dead_seconds: float) -> list[str]:
    """Executor ids silent for more than ``dead_seconds``, except ``other_than`` (the caller's
    own id: a worker never takes over its own runs, it resumes them when it starts)."""
    return await WorkerRepository(session).silent_since(
        utcnow() - timedelta(seconds=dead_seconds), other_than=other_than
    )


async def claim_dead_worker(
    session: AsyncSession, executor_id: str, *, dead_seconds: float
) -> datetime | None:
    """Claim a dead worker's runs. The claim marks it seen now: no other worker claims it for
    another ``dead_seconds``, after which, should the claimer have died mid-takeover, another
    one does. Returns the claim's time, or None if the worker is no longer dead (it came back,
    or another worker claimed it first)."""
    at = utcnow()
    moment = at - timedelta(seconds=dead_seconds)
    claimed = await WorkerRepository(session).touch_if_silent_since(executor_id, moment, at=at)
    return at if claimed else None


async def forget_dead_worker(session: AsyncSession, executor_id: str, claimed_at: datetime) -> None:
    """Delete a dead worker's row once its runs are taken over; a worker that came back since
    the claim keeps its row."""
    await WorkerRepository(session).delete_if_seen_at(executor_id, claimed_at)
