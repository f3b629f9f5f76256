"""Workers' heartbeats: which workers count as dead, and one claim per dead worker."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from qai.db import read_session, session_scope, utcnow
from qai.settings import Settings
from qai.workers import service as workers
from qai.workers.models import Worker
from qai.workers.repository import WorkerRepository


async def seen(executor_id: str, *, seconds_ago: float) -> None:
    at = utcnow() - timedelta(seconds=seconds_ago)
    async with session_scope() as session:
        await WorkerRepository(session).beat(
            executor_id, role="worker", hostname="host", pid=1, started_at=at, at=at
        )


async def dead(*, me: str = "me", dead_seconds: float = 60) -> list[str]:
    async with read_session() as session:
        return await workers.dead_workers(session, other_than=me, dead_seconds=dead_seconds)


async def test_a_worker_silent_for_longer_than_the_threshold_is_dead(settings: Settings) -> None:
    await seen("fresh", seconds_ago=1)
    await seen("silent", seconds_ago=120)
    await seen("long-silent", seconds_ago=3600)
    await seen("me", seconds_ago=3600)

    # Oldest first; never the asking worker itself, whose runs resume when it starts.
    assert await dead() == ["long-silent", "silent"]
    assert await dead(dead_seconds=600) == ["long-silent"]
    assert await dead(me="silent", dead_seconds=600) == ["long-silent", "me"]

    await seen("silent", seconds_ago=0)  # it came back
    assert await dead() == ["long-silent"]


async def test_a_heartbeat_keeps_the_start_and_records_the_process(settings: Settings) -> None:
    started = utcnow() - timedelta(seconds=30)
    for _ in range(2):
        async with session_scope() as session:
            await workers.heartbeat(
                session, "w1", role="serve", hostname="box", pid=42, started_at=started
            )
    async with read_session() as session:
        rows = list((await session.execute(select(Worker))).scalars())
    assert [(w.executor_id, w.role, w.hostname, w.pid, w.started_at) for w in rows] == [
        ("w1", "serve", "box", 42, started)
    ]
    assert rows[0].seen_at > started


async def test_one_worker_claims_a_dead_worker_and_forgets_it(settings: Settings) -> None:
    await seen("gone", seconds_ago=120)
    async with session_scope() as session:
        claimed_at = await workers.claim_dead_worker(session, "gone", dead_seconds=60)
    assert claimed_at is not None
    # The claim counts as a sign of life: no other worker takes the same runs meanwhile.
    async with session_scope() as session:
        assert await workers.claim_dead_worker(session, "gone", dead_seconds=60) is None
    assert await dead() == []

    async with session_scope() as session:
        await workers.forget_dead_worker(session, "gone", claimed_at)
    async with read_session() as session:
        assert (await session.execute(select(Worker))).first() is None


async def test_a_worker_back_during_the_takeover_keeps_its_row(settings: Settings) -> None:
    await seen("back", seconds_ago=120)
    async with session_scope() as session:
        claimed_at = await workers.claim_dead_worker(session, "back", dead_seconds=60)
    assert claimed_at is not None
    await seen("back", seconds_ago=0)
    async with session_scope() as session:
        await workers.forget_dead_worker(session, "back", claimed_at)
    async with read_session() as session:
        assert list((await session.execute(select(Worker.executor_id))).scalars()) == ["back"]
