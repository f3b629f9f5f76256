"""Whether the database can serve: reachable and migrated to the code's head (what /readyz
answers, and the admin page's health shows)."""

from __future__ import annotations

import asyncio

from sqlalchemy.exc import DBAPIError, OperationalError

from qai.db.engine import Database, sqlite_path
from qai.db.migrate import pending_revisions

READY_TIMEOUT_SECONDS = 5.0


async def _problem(database: Database, head: str) -> str | None:
    path = sqlite_path(database.settings.sqlalchemy_url)
    if path is not None and not path.exists():
        return f"database file {path} is missing"
    try:
        async with database.engine.connect() as connection:
            return await connection.run_sync(pending_revisions, head)
    except (OSError, DBAPIError, OperationalError) as exc:
        return f"database unreachable: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"


async def readiness_problem(database: Database, head: str) -> str | None:
    """None when the database answers and is at ``head``; otherwise why not, in plain words."""
    try:
        return await asyncio.wait_for(_problem(database, head), READY_TIMEOUT_SECONDS)
    except TimeoutError:
        return f"database did not answer within {READY_TIMEOUT_SECONDS:g} s"
