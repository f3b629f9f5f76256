"""The process's database: one engine, its sessions and its driver-level reads.

The wiring root (``qai.context``) makes one :class:`Database` per process from the settings
and passes it down; requests, jobs and CLI commands open their sessions on it. On SQLite it runs
in WAL mode with a busy timeout, foreign keys and secure delete on (deleted rows are overwritten
with zeros, see :meth:`Database.checkpoint`); on every engine, statements slower than the
threshold are logged and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession
from sqlalchemy.pool import QueuePool
from sqlalchemy.sql.expression import Select

from qai.db.session import AFTER_COMMIT, commit
from qai.settings import Settings

log = logging.getLogger("qai.db")

AnySelect = Select[*tuple[Any, ...]]
# A row of :meth:`Database.rows`: SQLAlchemy's Row on SQLite, asyncpg's Record on PostgreSQL;
# both read by position and by the statement's column labels.
Row = Any

SQLITE_BUSY_TIMEOUT_MS = 10_000
# The files SQLite keeps beside a database: its write-ahead log, its shared-memory index and,
# outside WAL mode, its rollback journal.
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
PRIVATE_DIRECTORY = 0o700
PRIVATE_FILE = 0o600
# Readers holding an old snapshot keep a checkpoint from resetting the log: try a few times.
CHECKPOINT_ATTEMPTS = 20
CHECKPOINT_RETRY_SECONDS = 0.05


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
    reads: DriverReads | None = None
    # Copied into every session's ``info``: what work queued for after a commit needs from the
    # process (its event dispatch, its live hub), put there by the wiring root.
    session_info: dict[str, Any] = field(default_factory=dict)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on any error; work
        registered with ``qai.db.after_commit`` runs after the commit."""
        async with self.sessionmaker(info=self.session_info) as session:
            try:
                yield session
            except BaseException:
                session.info.pop(AFTER_COMMIT, None)
                await session.rollback()
                raise
            await commit(session)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only: nothing to commit."""
        async with self.sessionmaker(info=self.session_info) as session:
            yield session

    async def rows(self, statement: AnySelect, params: Mapping[str, Any]) -> Sequence[Row]:
        """The rows of one read statement, run outside any transaction.

        For the hot reads, where one statement answers the request (or a second statement's
        own snapshot is fine, as an existence check after an empty page). On PostgreSQL see
        :class:`DriverReads`; elsewhere it is a plain Core execution. Rows read by name
        (``row.id``) or position, as SQLAlchemy's rows are.
        """
        if self.reads is None:
            async with self.engine.connect() as connection:
                return (await connection.execute(statement, params)).all()
        sql, names, own = self.reads.sql(statement)
        pool = await self.reads.pool()
        started = time.perf_counter()
        values = [params[name] if name in params else own[name] for name in names]
        rows: Sequence[Row] = await pool.fetch(sql, *values)
        self.stats.statements += 1
        _note_duration(self, sql, time.perf_counter() - started)
        return rows

    async def write(self, sql: str, *values: Any) -> None:
        """Run one data-modifying statement (PostgreSQL's SQL, ``$1``...), outside any session:
        on its own it is one transaction, committed when it returns. For the write path's
        hot creates, whose rows go in one statement (data-modifying CTEs), with no ORM and no
        BEGIN/COMMIT round trips. PostgreSQL only (``driver_writes``). Raises asyncpg's errors
        (a foreign key refused: ``asyncpg.ForeignKeyViolationError``)."""
        assert self.reads is not None, "driver-level writes need PostgreSQL"
        pool = await self.reads.pool()
        started = time.perf_counter()
        await pool.execute(sql, *values)
        self.stats.statements += 1
        _note_duration(self, sql, time.perf_counter() - started)

    async def notify(self, channel: str) -> None:
        """On PostgreSQL, ``NOTIFY channel`` on its own (delivered to the connections listening
        on it, :meth:`listen`); nothing on other engines (their listeners poll)."""
        if self.driver_writes:
            await self.write("SELECT pg_notify($1, '')", channel)

    @property
    def driver_writes(self) -> bool:
        """Whether :meth:`write` is there (PostgreSQL): elsewhere writes go through a session."""
        return self.reads is not None

    async def checkpoint(self) -> bool:
        """On SQLite, copy the write-ahead log into the database file and empty it (a deleted
        row's old bytes stay in the log until then; secure delete has zeroed them in the file).
        Returns whether the log was emptied (always True on other engines)."""
        if sqlite_path(self.settings.sqlalchemy_url) is None:
            return True
        return await sqlite_checkpoint(self.engine)

    async def listen(
        self, channel: str, callback: Callable[[], None]
    ) -> Callable[[], Awaitable[None]] | None:
        """On PostgreSQL, call ``callback`` (on this loop) for every ``NOTIFY channel``, over a
        connection of its own; returns what closes it. None on other engines, or when the
        connection cannot be made (the caller polls)."""
        if self.reads is None:
            return None
        import asyncpg  # type: ignore[import-untyped]

        try:
            connection = await asyncpg.connect(**self.reads.options)
            await connection.add_listener(channel, lambda *_: callback())
        except (OSError, asyncpg.PostgresError):
            log.warning("could not listen on %s; polling instead", channel, exc_info=True)
            return None

        async def close() -> None:
            with contextlib.suppress(Exception):
                await connection.close(timeout=2)

        return close

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
        if self.reads is not None:
            await self.reads.close()
        await self.engine.dispose()


def sqlite_path(url: str | URL) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def sqlite_files(path: Path) -> list[Path]:
    """A SQLite database's file and the side files SQLite keeps beside it."""
    return [path, *(path.with_name(path.name + suffix) for suffix in SQLITE_SIDE_FILES)]


def make_private(directory: Path, files: Sequence[Path]) -> None:
    """Make ``directory`` (created if missing) reachable by this process's user alone, and
    each of ``files`` that exists readable by it alone: files an earlier QAI made with the
    default umask (0644) included."""
    directory.mkdir(mode=PRIVATE_DIRECTORY, parents=True, exist_ok=True)
    os.chmod(directory, PRIVATE_DIRECTORY)
    for path in files:
        try:
            os.chmod(path, PRIVATE_FILE, follow_symlinks=False)
        except FileNotFoundError:
            continue


async def sqlite_checkpoint(engine: AsyncEngine) -> bool:
    """``PRAGMA wal_checkpoint(TRUNCATE)`` on ``engine``'s SQLite file, retried while readers
    hold an older snapshot; whether the log was emptied."""
    for _ in range(CHECKPOINT_ATTEMPTS):
        async with engine.connect() as connection:
            result = await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            busy = result.scalar()
        if not busy:
            return True
        await asyncio.sleep(CHECKPOINT_RETRY_SECONDS)
    return False


def create_database(settings: Settings) -> Database:
    url = settings.sqlalchemy_url
    path = sqlite_path(url)
    pool: dict[str, Any] = {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_pool_timeout,
    }
    reads: DriverReads | None = None
    if path is not None:
        path.parent.mkdir(mode=PRIVATE_DIRECTORY, parents=True, exist_ok=True)
        engine = create_async_engine(
            url,
            echo=settings.db_echo,
            **pool,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        _configure_sqlite(engine)
    elif make_url(url).get_backend_name() == "postgresql":
        connect_args: dict[str, Any] = {"server_settings": {"application_name": "qai"}}
        engine = create_async_engine(
            url,
            echo=settings.db_echo,
            **pool,
            pool_recycle=settings.db_pool_recycle,
            pool_pre_ping=settings.db_pool_pre_ping,
            # Our sessions always end with commit or rollback, so the pool's rollback-on-return
            # is a wasted round trip on every request.
            pool_reset_on_return=None,
            connect_args=connect_args,
        )
        reads = DriverReads(engine, connect_args, settings.db_pool_size)
    else:
        # In-memory SQLite: SQLAlchemy picks its pool (one shared connection), nothing to size.
        engine = create_async_engine(url, echo=settings.db_echo)
    database = Database(
        settings=settings,
        engine=engine,
        sessionmaker=async_sessionmaker(engine, expire_on_commit=False, autoflush=False),
        reads=reads,
    )
    _watch_slow_queries(database)
    return database


class DriverReads:
    """The hot API reads on PostgreSQL, run by asyncpg itself from a small pool of its own
    (and the write path's one-statement creates, :meth:`Database.write`).

    A read that one statement answers needs no transaction, no session and no ORM: through
    SQLAlchemy's session it cost BEGIN + SELECT + ROLLBACK and, in CPU, several times the
    statement itself (pool checkout, result processing). Here each read is its one statement,
    prepared once per connection (asyncpg's statement cache) from the SQL SQLAlchemy compiles
    once per statement object, so the queries are still written, and typed, in the
    repositories. Connections are kept (no reset on release: autocommit reads leave no state),
    so no introspection or reset statements run on the hot path.
    """

    # SQLAlchemy's own options in the dialect's connect arguments, unknown to asyncpg.
    _SQLALCHEMY_ONLY = (
        "async_creator_fn",
        "prepared_statement_cache_size",
        "prepared_statement_name_func",
    )

    def __init__(self, engine: AsyncEngine, connect_args: dict[str, Any], size: int) -> None:
        self.engine = engine
        _, options = engine.dialect.create_connect_args(engine.url)
        for name in self._SQLALCHEMY_ONLY:
            options.pop(name, None)
        self.options = {**options, **connect_args}
        self.size = size
        self._pool: Any = None
        self._lock = asyncio.Lock()
        self._sql: dict[AnySelect, tuple[str, tuple[str, ...], dict[str, Any]]] = {}

    def sql(self, statement: AnySelect) -> tuple[str, tuple[str, ...], dict[str, Any]]:
        """The statement's SQL for asyncpg, its parameter names in order, and the values the
        statement itself gives some of them (``.limit(1)``, ``column == 1``), compiled once."""
        found = self._sql.get(statement)
        if found is None:
            compiled = statement.compile(dialect=self.engine.dialect)
            if compiled._bind_processors:  # a parameter asyncpg could not take as it is
                raise TypeError(f"parameters need processing: {compiled.string}")
            own = {name: value for name, value in compiled.params.items() if value is not None}
            found = (compiled.string, tuple(compiled.positiontup or ()), own)
            self._sql[statement] = found
        return found

    async def pool(self) -> Any:
        if self._pool is None:
            async with self._lock:
                if self._pool is None:
                    import asyncpg

                    self._pool = await asyncpg.create_pool(
                        min_size=0, max_size=self.size, reset=_keep_session, **self.options
                    )
        return self._pool

    def status(self) -> dict[str, int]:
        """Connections open and in use (zero before the first read)."""
        if self._pool is None:
            return {"open": 0, "in_use": 0}
        size = int(self._pool.get_size())
        return {"open": size, "in_use": size - int(self._pool.get_idle_size())}

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()


async def _keep_session(_connection: Any) -> None:
    """Nothing to reset: these connections only ever run single autocommit statements."""


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # A deleted project's text must not stay in the file's free space (see checkpoint).
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()


def _watch_slow_queries(database: Database) -> None:
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
        _note_duration(database, statement, time.perf_counter() - context._qai_started)


def _note_duration(database: Database, statement: str, elapsed: float) -> None:
    if elapsed >= database.settings.db_slow_query_ms / 1000:
        database.stats.slow_queries += 1
        log.warning("slow query: %.1f ms: %s", elapsed * 1000, " ".join(statement.split())[:500])
