"""Deleting deletes, at the level of the SQLite file: a deleted row's bytes are overwritten in
the database file (secure delete) and leave the write-ahead log at the checkpoint, on QAI's own
database and on DBOS's system database alike. Without secure delete the text stays in the file's
free pages until a VACUUM. (Debian's SQLite is built with secure delete on by default, so on
these machines the bytes test holds even without QAI's ``PRAGMA secure_delete=ON``; the PRAGMA is
for builds where it is off, and the DBOS test reads it back.)"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from qai.db import Database
from qai.db.engine import sqlite_path
from qai.jobs._dbos import _sqlite_system_engine


def holding(database_file: Path, secret: str) -> list[str]:
    """The files of ``database_file`` (itself, its log, its shared memory) holding ``secret``."""
    files = database_file.parent.glob(database_file.name + "*")
    return sorted(f.name for f in files if secret[:60].encode() in f.read_bytes())


def marker() -> str:
    # Large enough to fill pages of its own, so the row does not merely shrink in place.
    return f"secret-{uuid.uuid4().hex}-" * 400


async def test_a_deleted_projects_text_leaves_the_sqlite_file(database: Database) -> None:
    path = sqlite_path(database.settings.sqlalchemy_url)
    if path is None:
        pytest.skip("SQLite only: PostgreSQL's files are the server's (VACUUM is its own)")
    secret = marker()
    project_id = str(uuid.uuid4())
    async with database.session() as session:
        await session.execute(
            text(
                'INSERT INTO "Project" (id, name, "createdAt", "updatedAt") '
                "VALUES (:id, :name, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"name": secret, "id": project_id},
        )
    assert await database.checkpoint()
    assert holding(Path(path), secret) == [Path(path).name]
    async with database.session() as session:
        await session.execute(text('DELETE FROM "Project" WHERE id = :id'), {"id": project_id})
    assert await database.checkpoint()
    assert holding(Path(path), secret) == []


def test_dbos_system_database_deletes_securely(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dbos.sqlite'}"
    engine = _sqlite_system_engine(url)
    assert engine is not None
    secret = marker()
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (v TEXT)"))
            connection.execute(text("INSERT INTO t VALUES (:v)"), {"v": secret})
        with engine.begin() as connection:
            assert connection.execute(text("PRAGMA secure_delete")).scalar() == 1
            connection.execute(text("DELETE FROM t"))
        with engine.connect() as connection:
            connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    finally:
        engine.dispose()
    for file in tmp_path.glob("dbos.sqlite*"):
        assert secret[:60].encode() not in file.read_bytes(), file.name
