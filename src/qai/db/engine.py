"""One engine per process, made lazily from settings and disposed on shutdown.

Requests, jobs and CLI commands share it. On SQLite it runs in WAL mode with a busy timeout and
foreign keys on; on every engine, statements slower than the threshold are logged and counted.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession
from sqlalchemy.pool import QueuePool

from qai.settings import Settings, get_settings

log = logging.getLogger("qai.db")

SQLITE_BUSY_TIMEOUT_MS = 10_000


@dataclass
class QueryStats:
    """Counters read by /metrics."""

    slow_queries: int = 0
    statements: int = 0


@dataclass
class Database:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    stats: QueryStats = field(default_factory=QueryStats)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def pool_status(self) -> dict[str, int]:
        """Pool figures: configured size, connections checked out, overflow in use."""
        pool = self.engine.pool
        if isinstance(pool, QueuePool):
            return {
                "size": pool.size(),
                "checked_out": pool.checkedout(),
                "overflow": max(pool.overflow(), 0),
            }
        return {"size": 0, "checked_out": 0, "overflow": 0}

    async def dispose(self) -> None:
        await self.engine.dispose()


def sqlite_path(url: str | URL) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def create_database(settings: Settings) -> Database:
    url = settings.sqlalchemy_url
    kwargs: dict[str, Any] = {"echo": settings.db_echo}
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        kwargs.update(
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
    elif make_url(url).get_backend_name() == "postgresql":
        kwargs.update(
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout,
            pool_recycle=settings.db_pool_recycle,
            pool_pre_ping=settings.db_pool_pre_ping,
            # Our sessions always end with commit or rollback, so the pool's rollback-on-return
            # is a wasted round trip on every request.
            pool_reset_on_return=None,
            connect_args={"server_settings": {"application_name": "qai"}},
        )
    engine = create_async_engine(url, **kwargs)
    database = Database(
        settings=settings,
        engine=engine,
        sessionmaker=async_sessionmaker(engine, expire_on_commit=False, autoflush=False),
    )
    if path is not None:
        _configure_sqlite(engine)
    _watch_slow_queries(database)
    return database


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def _watch_slow_queries(database: Database) -> None:
    threshold = database.settings.db_slow_query_ms / 1000
    stats = database.stats
    sync_engine = database.engine.sync_engine

    @event.listens_for(sync_engine, "before_cursor_execute")
    def _before(
        _conn: Any, _cursor: Any, _stmt: str, _params: Any, context: Any, _many: bool
    ) -> None:
        context._qai_started = time.perf_counter()

    @event.listens_for(sync_engine, "after_cursor_execute")
    def _after(
        _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool
    ) -> None:
        stats.statements += 1
        elapsed = time.perf_counter() - context._qai_started
        if elapsed >= threshold:
            stats.slow_queries += 1
            log.warning(
                "slow query: %.1f ms: %s", elapsed * 1000, " ".join(statement.split())[:500]
            )


_database: Database | None = None


def get_database() -> Database:
    """The process's database, created on first use from the current settings."""
    global _database
    if _database is None:
        _database = create_database(get_settings())
    return _database


async def dispose_database() -> None:
    global _database
    if _database is not None:
        database, _database = _database, None
        await database.dispose()


def current_database() -> Database | None:
    """The process's database if something already made it (metrics must not create one)."""
    return _database
