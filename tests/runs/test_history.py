"""A database made by the original app: its history gets finished runs when QAI migrates it, so
start-up repair leaves old messages alone."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from dbos import DBOS
from sqlalchemy import create_engine, text

from qai.db import Database, migrate
from qai.runs.models import Run, RunStatus
from qai.settings import Settings
from tests.agent.support import StartWorker


def sync_url(url: str) -> str:
    return url.replace("+asyncpg", "+psycopg").replace("+aiosqlite", "")


async def test_history_from_the_original_app_gets_finished_runs(
    settings: Settings, database: Database, start_worker: StartWorker
) -> None:
    await asyncio.to_thread(migrate.downgrade, settings, "qai_0001")
    start = datetime(2025, 10, 20, 12, 0, 0)
    rows = [
        ("u1", "USER", "RESULT"),
        ("a1", "ASSISTANT", "RESULT"),
        ("u2", "USER", "RESULT"),  # followed by another USER message: never answered
        ("u3", "USER", "RESULT"),
        ("a3", "ASSISTANT", "ERROR"),
        ("u4", "USER", "RESULT"),  # the original lost this one's answer
    ]
    engine = create_engine(sync_url(settings.sqlalchemy_url))
    with engine.begin() as connection:
        connection.execute(
            text(
                'INSERT INTO "Project" (id, name, "createdAt", "updatedAt") '
                "VALUES ('p', 'old-project', :at, :at)"
            ),
            {"at": start},
        )
        for index, (ident, role, kind) in enumerate(rows):
            at = start + timedelta(seconds=index)
            connection.execute(
                text(
                    'INSERT INTO "Message" (id, content, role, type, "createdAt", "updatedAt", '
                    "\"projectId\") VALUES (:id, :content, :role, :type, :at, :at, 'p')"
                ),
                {"id": ident, "content": ident, "role": role, "type": kind, "at": at},
            )
    engine.dispose()

    await asyncio.to_thread(migrate.upgrade, settings)

    async with database.read() as session:
        found = {
            run.message_id: (run.status, run.answer_message_id, run.error)
            for run in (await session.execute(Run.__table__.select())).all()
        }
    never = "Made before QAI and never answered."
    assert found == {
        "u1": (RunStatus.SUCCEEDED.value, "a1", None),
        "u2": (RunStatus.FAILED.value, None, never),
        "u3": (RunStatus.FAILED.value, "a3", None),
        "u4": (RunStatus.FAILED.value, None, never),
    }
    await start_worker(None)
    assert await DBOS.list_workflows_async() == []
