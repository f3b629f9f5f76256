"""Migrations on both engines: the contract's exact schema, round trips, no drift, adoption."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

import qai.models
from qai.db import migrate
from qai.db.migrate import include_object
from qai.settings import Environment, load_settings
from tests.conftest import create_pg_database, drop_pg_database, pg_url, require_postgres
from tests.live import QAI_SOURCE

HERE = Path(__file__).parent
ORIGINAL_TABLES = {"Project", "Message", "Fragment"}


def sync_url(url: str) -> str:
    return url.replace("sqlite:///", "sqlite:///", 1).replace(
        "postgresql://", "postgresql+psycopg://", 1
    )


def diff_against_models(url: str) -> list[Any]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"include_object": include_object, "compare_type": True}
            )
            return list(compare_metadata(context, qai.models.Base.metadata))
    finally:
        engine.dispose()


def test_autogenerate_finds_no_difference(database_url: str) -> None:
    assert diff_against_models(database_url) == []


def test_downgrade_to_base_then_upgrade(database_url: str, tmp_path: Path) -> None:
    settings = load_settings(database_url=database_url, data_dir=tmp_path)
    head = migrate.head_revision(settings)
    assert migrate.current(settings) == head
    migrate.downgrade(settings, "base")
    assert migrate.current(settings) is None
    engine = create_engine(sync_url(database_url))
    with engine.connect() as connection:
        assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(settings)
    with engine.connect() as connection:
        assert set(inspect(connection).get_table_names()) >= ORIGINAL_TABLES
    engine.dispose()
    assert migrate.current(settings) == head
    assert diff_against_models(database_url) == []


def test_history_starts_with_the_originals_two_migrations(tmp_path: Path) -> None:
    lines = migrate.history(load_settings(data_dir=tmp_path))
    assert lines[0].startswith("<base> -> message_fragment")
    assert lines[1].startswith("message_fragment -> projects")


def test_reset_refuses_in_production(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, environment=Environment.PRODUCTION)
    with pytest.raises(migrate.MigrationError, match="--force"):
        migrate.reset(settings)


# --- PostgreSQL: the physical schema is the original's ----------------------------------------

EXPECTED_COLUMNS = {
    ("Project", "id"): ("text", "NO", None),
    ("Project", "name"): ("text", "NO", None),
    ("Project", "createdAt"): ("timestamp without time zone", "NO", "CURRENT_TIMESTAMP"),
    ("Project", "updatedAt"): ("timestamp without time zone", "NO", None),
    ("Message", "id"): ("text", "NO", None),
    ("Message", "content"): ("text", "NO", None),
    ("Message", "role"): ("USER-DEFINED:MessageRole", "NO", None),
    ("Message", "type"): ("USER-DEFINED:MessageType", "NO", None),
    ("Message", "createdAt"): ("timestamp without time zone", "NO", "CURRENT_TIMESTAMP"),
    ("Message", "updatedAt"): ("timestamp without time zone", "NO", None),
    ("Message", "projectId"): ("text", "NO", None),
    ("Fragment", "id"): ("text", "NO", None),
    ("Fragment", "messageId"): ("text", "NO", None),
    ("Fragment", "sandboxUrl"): ("text", "NO", None),
    ("Fragment", "title"): ("text", "NO", None),
    ("Fragment", "files"): ("jsonb", "NO", None),
    ("Fragment", "summary"): ("text", "YES", None),
    ("Fragment", "createdAt"): ("timestamp without time zone", "NO", "CURRENT_TIMESTAMP"),
    ("Fragment", "updatedAt"): ("timestamp without time zone", "NO", None),
}
EXPECTED_CONSTRAINTS = {
    ("Project", "Project_pkey", "p", None),
    ("Message", "Message_pkey", "p", None),
    ("Fragment", "Fragment_pkey", "p", None),
    (
        "Message",
        "Message_projectId_fkey",
        "f",
        'FOREIGN KEY ("projectId") REFERENCES "Project"(id) ON UPDATE CASCADE ON DELETE CASCADE',
    ),
    (
        "Fragment",
        "Fragment_messageId_fkey",
        "f",
        'FOREIGN KEY ("messageId") REFERENCES "Message"(id) ON UPDATE CASCADE ON DELETE CASCADE',
    ),
}


def physical_schema(database: str) -> dict[str, Any]:
    with psycopg.connect(pg_url(database)) as conn:
        columns = {
            (table, column): (
                f"{dtype}:{udt}" if dtype == "USER-DEFINED" else dtype,
                nullable,
                default,
            )
            for table, column, dtype, udt, nullable, default in conn.execute(
                "SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default "
                "FROM information_schema.columns WHERE table_schema = 'public' "
                "AND table_name IN ('Project', 'Message', 'Fragment')"
            )
        }
        precisions = {
            (table, column): precision
            for table, column, precision in conn.execute(
                "SELECT table_name, column_name, datetime_precision FROM information_schema.columns "
                "WHERE table_schema = 'public' AND data_type LIKE 'timestamp%' "
                "AND table_name IN ('Project', 'Message', 'Fragment')"
            )
        }
        constraints = {
            (table, name, kind, definition if kind == "f" else None)
            for table, name, kind, definition in conn.execute(
                "SELECT c.relname, con.conname, con.contype, pg_get_constraintdef(con.oid) "
                "FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid "
                "WHERE c.relname IN ('Project', 'Message', 'Fragment')"
            )
        }
        indexes = {
            (table, name, definition.split(" USING ")[1])
            for table, name, definition in conn.execute(
                "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
                "AND tablename IN ('Project', 'Message', 'Fragment')"
            )
        }
        enums = {
            name: labels
            for name, labels in conn.execute(
                "SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder) "
                "FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname"
            )
        }
    return {
        "columns": columns,
        "precisions": precisions,
        "constraints": constraints,
        "indexes": indexes,
        "enums": enums,
    }


@pytest.mark.postgres
def test_upgrade_makes_exactly_the_contracts_schema() -> None:
    require_postgres()
    database = create_pg_database()
    try:
        migrate.upgrade(load_settings(database_url=pg_url(database)))
        schema = physical_schema(database)
    finally:
        drop_pg_database(database)
    assert schema["columns"] == EXPECTED_COLUMNS
    assert set(schema["precisions"].values()) == {3}
    assert schema["constraints"] == EXPECTED_CONSTRAINTS
    assert schema["enums"] == {
        "MessageRole": ["USER", "ASSISTANT"],
        "MessageType": ["RESULT", "ERROR"],
    }
    original_indexes = {i for i in schema["indexes"] if not i[1].startswith("qai_")}
    assert original_indexes == {
        ("Project", "Project_pkey", "btree (id)"),
        ("Message", "Message_pkey", "btree (id)"),
        ("Fragment", "Fragment_pkey", "btree (id)"),
        ("Fragment", "Fragment_messageId_key", 'btree ("messageId")'),
    }
    ours = {i for i in schema["indexes"] if i[1].startswith("qai_")}
    assert ours == {
        ("Message", "qai_message_project_created_idx", 'btree ("projectId", "createdAt", id)'),
        ("Project", "qai_project_created_idx", 'btree ("createdAt", id)'),
    }


@pytest.mark.postgres
def test_prisma_schema_and_ours_are_identical_for_the_original_tables() -> None:
    """The DDL of the original's migrations and our first two revisions agree exactly."""
    require_postgres()
    ours, theirs = create_pg_database(), create_pg_database()
    try:
        migrate.upgrade(load_settings(database_url=pg_url(ours)), "projects")
        with psycopg.connect(pg_url(theirs), autocommit=True) as conn:
            conn.execute((HERE / "prisma_original.sql").read_text())  # type: ignore[arg-type]
        assert physical_schema(ours) == physical_schema(theirs)
    finally:
        drop_pg_database(ours)
        drop_pg_database(theirs)


def _fill_original(database: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(pg_url(database), autocommit=True) as conn:
        conn.execute((HERE / "prisma_original.sql").read_text())  # type: ignore[arg-type]
        for p in range(3):
            conn.execute(
                'INSERT INTO "Project" (id, name, "updatedAt") VALUES (%s, %s, now())',
                (f"p{p}", f"project-{p}"),
            )
            for m in range(4):
                role = "USER" if m % 2 == 0 else "ASSISTANT"
                conn.execute(
                    'INSERT INTO "Message" (id, content, role, type, "updatedAt", "projectId", "createdAt") '
                    "VALUES (%s, %s, %s, 'RESULT', now(), %s, now() + %s * interval '1 second')",
                    (f"p{p}m{m}", f"content {p}/{m} ünïcødé", role, f"p{p}", m),
                )
                if role == "ASSISTANT":
                    conn.execute(
                        'INSERT INTO "Fragment" (id, "messageId", "sandboxUrl", title, files, summary, "updatedAt") '
                        "VALUES (%s, %s, %s, %s, %s, %s, now())",
                        (
                            f"f{p}{m}",
                            f"p{p}m{m}",
                            "https://3000-old.e2b.app",
                            "Old fragment",
                            json.dumps({"app/page.tsx": f"export default () => {p}{m}"}),
                            None if m == 1 else "summary",
                        ),
                    )
        return {
            table: sorted(conn.execute(f'SELECT * FROM "{table}"').fetchall())
            for table in ("Project", "Message", "Fragment", "_prisma_migrations")
        }


@pytest.mark.postgres
def test_adopt_takes_over_the_originals_database_losing_nothing(tmp_path: Path) -> None:
    require_postgres()
    database = create_pg_database()
    try:
        before = _fill_original(database)
        result = subprocess.run(
            [sys.executable, "-m", "qai", "db", "adopt"],
            env={
                "DATABASE_URL": pg_url(database) + "?schema=public",
                "QAI_DATA_DIR": str(tmp_path),
                "PATH": "/usr/bin:/bin",
                "PYTHONPATH": QAI_SOURCE,
            },
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "Project 3, Message 12, Fragment 6" in result.stdout
        settings = load_settings(database_url=pg_url(database))
        assert migrate.current(settings) == migrate.head_revision(settings)
        with psycopg.connect(pg_url(database)) as conn:
            after = {
                table: sorted(conn.execute(f'SELECT * FROM "{table}"').fetchall())
                for table in ("Project", "Message", "Fragment", "_prisma_migrations")
            }
        # Every row intact, column for column (our columns live in our own tables).
        assert after == before
        assert diff_against_models(pg_url(database)) == []
        again = subprocess.run(
            [sys.executable, "-m", "qai", "db", "adopt"],
            env={
                "DATABASE_URL": pg_url(database),
                "QAI_DATA_DIR": str(tmp_path),
                "PATH": "/usr/bin:/bin",
                "PYTHONPATH": QAI_SOURCE,
            },
            capture_output=True,
            text=True,
            check=False,
        )
        assert again.returncode == 1
        assert "already managed by QAI" in again.stderr
    finally:
        drop_pg_database(database)


@pytest.mark.postgres
def test_adopt_refuses_a_database_the_original_did_not_make() -> None:
    require_postgres()
    database = create_pg_database()
    try:
        with pytest.raises(migrate.MigrationError, match="no _prisma_migrations"):
            migrate.adopt(load_settings(database_url=pg_url(database)))
    finally:
        drop_pg_database(database)
