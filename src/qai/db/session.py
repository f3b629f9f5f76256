"""Transactions at the edge: requests, jobs and CLI commands commit or roll back here.

Services only flush. Work that must wait for the commit (sending an event) is registered with
:func:`after_commit` and dropped if the transaction rolls back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from qai.db.engine import get_database

AfterCommit = Callable[[], Awaitable[None]]
_AFTER_COMMIT = "qai_after_commit"


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run ``callback`` once the session's transaction has committed; never if it rolls back."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


def upsert_into(session: AsyncSession, table: Any) -> Any:
    """An INSERT into ``table`` in the session's dialect, with ``on_conflict_do_nothing`` /
    ``on_conflict_do_update`` (both engines have them, under one spelling)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table)


async def commit(session: AsyncSession) -> None:
    """Commit, then run the callbacks registered with :func:`after_commit`, in order."""
    await session.commit()
    callbacks: list[AfterCommit] = session.info.pop(_AFTER_COMMIT, [])
    for callback in callbacks:
        await callback()


@asynccontextmanager
async def session_scope() -> AsyncIterator[AsyncSession]:
    """A session whose transaction commits on success and rolls back on any error."""
    async with get_database().sessionmaker() as session:
        try:
            yield session
        except BaseException:
            session.info.pop(_AFTER_COMMIT, None)
            await session.rollback()
            raise
        await commit(session)


@asynccontextmanager
async def read_session() -> AsyncIterator[AsyncSession]:
    """A session for reads only: nothing to commit."""
    async with get_database().sessionmaker() as session:
        yield session
