"""A worker tells the others it is alive: a row in ``qai_worker`` touched every tenth of
QAI_WORKER_DEAD_SECONDS (at most every 30 s)."""

from __future__ import annotations

import os
import socket

from qai.db import Database, utcnow
from qai.jobs import Jobs, Periodic
from qai.workers import service

HEARTBEAT_EVERY_SECONDS = 30.0


def heartbeat_seconds(dead_seconds: float) -> float:
    return min(HEARTBEAT_EVERY_SECONDS, dead_seconds / 10)


class Heartbeat:
    """This worker's heartbeat (``jobs.executor_id``), from the time it was made."""

    def __init__(self, database: Database, jobs: Jobs) -> None:
        self.database = database
        self.jobs = jobs
        self.started_at = utcnow()

    async def beat(self) -> None:
        async with self.database.session() as session:
            await service.heartbeat(
                session,
                self.jobs.executor_id,
                role=self.jobs.role,
                hostname=socket.gethostname(),
                pid=os.getpid(),
                started_at=self.started_at,
            )

    def periodic(self, dead_seconds: float) -> Periodic:
        return Periodic(
            name="heartbeat",
            every_seconds=heartbeat_seconds(dead_seconds),
            work=self.beat,
            failure="could not record that this worker is alive",
        )
