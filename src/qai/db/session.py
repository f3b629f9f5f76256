"""Transactions at the edge: requests, jobs and CLI commands commit or roll back
(``Database.session``); services only flush. Work that must wait for the commit (sending an
event) is registered with :func:`after_commit` and dropped if the transaction rolls back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

AfterCommit = Callable[[], Awaitable[None]]
AFTER_COMMIT = "qai_after_commit"


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run ``callback`` once the session's transaction has committed; never if it rolls back."""
    session.info.setdefault(AFTER_COMMIT, []).append(callback)


def upsert_into(session: AsyncSession, table: Any) -> Any:
    """An INSERT into ``table`` in the session's dialect, with ``on_conflict_do_nothing`` /
    ``on_conflict_do_update`` (both engines have them, under one spelling)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table)


async def commit(session: AsyncSession) -> None:
    """Commit, then run the callbacks registered with :func:`after_commit`, in order."""
    await session.commit()
    callbacks: list[AfterCommit] = session.info.pop(AFTER_COMMIT, [])
    for callback in callbacks:
        await callback()
