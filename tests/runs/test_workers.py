"""Workers' heartbeats: which workers count as dead, and one claim per dead worker."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from qai.db import Database, utcnow
from qai.workers import service as workers
from qai.workers.models import Worker
from qai.workers.repository import WorkerRepository


async def seen(db: Database, executor_id: str, *, seconds_ago: float) -> None:
    at = utcnow() - timedelta(seconds=seconds_ago)
    async with db.session() as session:
        await WorkerRepository(session).beat(
            executor_id, role="worker", hostname="host", pid=1, started_at=at, at=at
        )


async def dead(db: Database, *, me: str = "me", dead_seconds: float = 60) -> list[str]:
    async with db.read() as session:
        return await workers.dead_workers(session, other_than=me, dead_seconds=dead_seconds)


async def test_a_worker_silent_for_longer_than_the_threshold_is_dead(database: Database) -> None:
    await seen(database, "fresh", seconds_ago=1)
    await seen(database, "silent", seconds_ago=120)
    await seen(database, "long-silent", seconds_ago=3600)
    await seen(database, "me", seconds_ago=3600)

    # Oldest first; never the asking worker itself, whose runs resume when it starts.
    assert await dead(database) == ["long-silent", "silent"]
    assert await dead(database, dead_seconds=600) == ["long-silent"]
    assert await dead(database, me="silent", dead_seconds=600) == ["long-silent", "me"]

    await seen(database, "silent", seconds_ago=0)  # it came back
    assert await dead(database) == ["long-silent"]


async def test_a_heartbeat_keeps_the_start_and_records_the_process(database: Database) -> None:
    started = utcnow() - timedelta(seconds=30)
    for _ in range(2):
        async with database.session() as session:
            await workers.heartbeat(
                session, "w1", role="serve", hostname="box", pid=42, started_at=started
            )
    async with database.read() as session:
        rows = list((await session.execute(select(Worker))).scalars())
    assert [(w.executor_id, w.role, w.hostname, w.pid, w.started_at) for w in rows] == [
        ("w1", "serve", "box", 42, started)
    ]
    assert rows[0].seen_at > started


async def test_one_worker_claims_a_dead_worker_and_forgets_it(database: Database) -> None:
    await seen(database, "gone", seconds_ago=120)
    async with database.session() as session:
        claimed_at = await workers.claim_dead_worker(session, "gone", dead_seconds=60)
    assert claimed_at is not None
    # The claim counts as a sign of life: no other worker takes the same runs meanwhile.
    async with database.session() as session:
        assert await workers.claim_dead_worker(session, "gone", dead_seconds=60) is None
    assert await dead(database) == []

    async with database.session() as session:
        await workers.forget_dead_worker(session, "gone", claimed_at)
    async with database.read() as session:
        assert (await session.execute(select(Worker))).first() is None


async def test_a_worker_back_during_the_takeover_keeps_its_row(database: Database) -> None:
    await seen(database, "back", seconds_ago=120)
    async with database.session() as session:
        claimed_at = await workers.claim_dead_worker(session, "back", dead_seconds=60)
    assert claimed_at is not None
    await seen(database, "back", seconds_ago=0)
    async with database.session() as session:
        await workers.forget_dead_worker(session, "back", claimed_at)
    async with database.read() as session:
        assert list((await session.execute(select(Worker.executor_id))).scalars()) == ["back"]
