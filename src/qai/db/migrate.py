"""Schema migrations (Alembic) for both engines, and adoption of the original's database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from qai.db.engine import PRIVATE_DIRECTORY, sqlite_path
from qai.errors import QaiError
from qai.settings import Settings

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
ORIGINAL_HEAD = "projects"
PRISMA_MIGRATIONS = ("message_fragment", "projects")
ORIGINAL_TABLES = ("Project", "Message", "Fragment")


# Tables that may live in the same database but are not ours to manage.
FOREIGN_TABLES = {"_prisma_migrations"}


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """What Alembic compares and migrates: our models, not Prisma's or DBOS's tables."""
    if type_ == "table" and name is not None:
        return name not in FOREIGN_TABLES and not name.startswith("dbos")
    return True


class MigrationError(QaiError):
    code = "BAD_REQUEST"


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", settings.sqlalchemy_url.replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    return config


def head_revision(settings: Settings) -> str:
    head = ScriptDirectory.from_config(alembic_config(settings)).get_current_head()
    assert head is not None
    return head


class DatabaseUnavailable(QaiError):
    """The database could not be opened (server down, database missing, bad credentials)."""

    code = "SERVICE_UNAVAILABLE"


def check_reachable(settings: Settings) -> None:
    """Connect once, or raise :class:`DatabaseUnavailable` saying why in one line (a SQLite
    file's directory is made first, as the migrations would)."""
    path = sqlite_path(settings.sqlalchemy_url)
    if path is not None:
        path.parent.mkdir(mode=PRIVATE_DIRECTORY, parents=True, exist_ok=True)
    try:
        _run(settings, lambda _connection: None)
    except (DBAPIError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise DatabaseUnavailable(
            f"the database could not be opened: {reason}. "
            "Check DATABASE_URL (docs/settings.md) and that the database exists."
        ) from exc


def upgrade(settings: Settings, revision: str = "head") -> None:
    check_reachable(settings)
    command.upgrade(alembic_config(settings), revision)


def downgrade(settings: Settings, revision: str) -> None:
    command.downgrade(alembic_config(settings), revision)


def stamp(settings: Settings, revision: str) -> None:
    command.stamp(alembic_config(settings), revision)


def history(settings: Settings) -> list[str]:
    script = ScriptDirectory.from_config(alembic_config(settings))
    return [
        f"{rev.down_revision or '<base>'} -> {rev.revision}: {rev.doc.splitlines()[0]}"
        for rev in reversed(list(script.walk_revisions()))
    ]


def revision(settings: Settings, message: str, *, autogenerate: bool) -> str | None:
    script = command.revision(alembic_config(settings), message=message, autogenerate=autogenerate)
    if script is None or isinstance(script, list):
        return None
    return script.path


def _run(settings: Settings, fn: Callable[[Connection], Any]) -> Any:
    async def go() -> Any:
        engine = create_async_engine(settings.sqlalchemy_url, poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(fn)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def current_revision_of(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def current(settings: Settings) -> str | None:
    return _run(settings, current_revision_of)  # type: ignore[no-any-return]


def pending_revisions(connection: Connection, head: str) -> str | None:
    """None when the database is at ``head``; otherwise a reason fit for /readyz."""
    at = current_revision_of(connection)
    if at == head:
        return None
    if at is None:
        return "database is not migrated: run `qai db upgrade`"
    return f"database is at revision {at}, code expects {head}: run `qai db upgrade`"


def reset(settings: Settings, *, force: bool = False) -> None:
    """Drop everything down to base, then upgrade to head again."""
    if settings.is_production and not force:
        raise MigrationError(
            "Refusing to reset a production database: pass --force if you really mean it"
        )
    downgrade(settings, "base")
    upgrade(settings)


@dataclass(frozen=True)
class AdoptReport:
    applied_prisma_migrations: list[str]
    rows: dict[str, int]
    head: str


def _row_counts(connection: Connection, tables: Iterable[str]) -> dict[str, int]:
    return {
        table: connection.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()
        for table in tables
    }


def _prisma_state(connection: Connection) -> tuple[list[str], dict[str, int]]:
    tables = set(inspect(connection).get_table_names())
    if "_prisma_migrations" not in tables:
        raise MigrationError(
            "This database has no _prisma_migrations table: it was not made by the original "
            "app. Use `qai db upgrade` for a new database."
        )
    if current_revision_of(connection) is not None:
        raise MigrationError(
            "This database is already managed by QAI (it has an Alembic version): "
            "use `qai db upgrade`."
        )
    rows = connection.execute(
        text(
            'SELECT migration_name FROM "_prisma_migrations" '
            "WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY started_at"
        )
    ).scalars()
    applied = list(rows)
    names = [name.split("_", 1)[1] if "_" in name else name for name in applied]
    if names != list(PRISMA_MIGRATIONS):
        raise MigrationError(
            "Unexpected Prisma migrations: found "
            + (", ".join(applied) or "none")
            + "; QAI can adopt a database with exactly message_fragment then projects applied."
        )
    missing = set(ORIGINAL_TABLES) - tables
    if missing:
        raise MigrationError(f"The original's tables are missing: {', '.join(sorted(missing))}")
    return applied, _row_counts(connection, ORIGINAL_TABLES)


def adopt(settings: Settings) -> AdoptReport:
    """Take over a database made by the original's Prisma migrations, losing nothing.

    The two Prisma migrations are recorded as our first two revisions, then ours run on top.
    Prisma's own bookkeeping table stays, so the original app can still read the database.
    """
    if settings.is_sqlite:
        raise MigrationError("`qai db adopt` is for the original's PostgreSQL databases")
    applied, before = _run(settings, _prisma_state)
    stamp(settings, ORIGINAL_HEAD)
    upgrade(settings)
    after = _run(settings, lambda connection: _row_counts(connection, before))
    if after != before:
        raise MigrationError(f"Row counts changed during adoption: before {before}, after {after}")
    return AdoptReport(applied_prisma_migrations=applied, rows=after, head=head_revision(settings))
