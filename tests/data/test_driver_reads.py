"""``Database.rows`` (the hot reads' path: asyncpg directly on PostgreSQL) takes statements whose
own values become parameters too (``.limit(1)``, ``column == 1``), not only the named ones: a
preview by a project's address and the home page's thumbnails were 500s on PostgreSQL."""

from __future__ import annotations

from sqlalchemy import bindparam, literal, select

from qai.db import Database
from qai.projects.models import Project


async def test_a_statements_own_values_are_passed(database: Database) -> None:
    async with database.session() as session:
        session.add_all([Project(name="a"), Project(name="b")])
    statement = (
        select(Project.name, literal(7))
        .where(Project.name != bindparam("name"))
        .order_by(Project.name)
        .limit(1)
    )
    rows = await database.rows(statement, {"name": "a"})
    assert [tuple(row) for row in rows] == [("b", 7)]
