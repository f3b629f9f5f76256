"""Every query on projects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, Text, bindparam, delete, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from qai.common.pagination import Cursor
from qai.db.base import utcnow
from qai.db.engine import read_rows
from qai.projects.models import Project, ProjectOptions


def _with_template() -> Select[Project, str | None]:
    return select(Project, ProjectOptions.template).outerjoin(
        ProjectOptions, ProjectOptions.project_id == Project.id
    )


# The JSON API's hot reads: plain rows from statements built once, run by ``read_rows`` (one
# statement, no transaction, no ORM objects).
_ROWS = select(
    Project.id, Project.name, Project.created_at, Project.updated_at, ProjectOptions.template
).outerjoin(ProjectOptions, ProjectOptions.project_id == Project.id)
_ROW_BY_ID = _ROWS.where(Project.id == bindparam("project_id"))
_NEWEST = _ROWS.order_by(Project.created_at.desc(), Project.id.desc()).limit(bindparam("limit"))
_NEWEST_AFTER = _NEWEST.where(
    tuple_(Project.created_at, Project.id)
    < tuple_(bindparam("created_at", type_=Project.created_at.type), bindparam("id", type_=Text()))
)
_EXISTS = select(Project.id).where(Project.id == bindparam("project_id"))

# (id, name, created_at, updated_at, template)
ProjectRow = Sequence[Any]


async def project_row(project_id: str) -> ProjectRow | None:
    rows = await read_rows(_ROW_BY_ID, {"project_id": project_id})
    return rows[0] if rows else None


async def project_exists(project_id: str) -> bool:
    return bool(await read_rows(_EXISTS, {"project_id": project_id}))


async def newest_project_rows(*, limit: int, after: Cursor | None) -> Sequence[ProjectRow]:
    """Up to ``limit`` projects, newest first, strictly after ``after`` in that order."""
    if after is None:
        return await read_rows(_NEWEST, {"limit": limit})
    return await read_rows(
        _NEWEST_AFTER, {"limit": limit, "created_at": after.created_at, "id": after.id}
    )


class ProjectRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, project: Project, *, template: str) -> None:
        self.session.add(project)
        await self.session.flush()
        self.session.add(ProjectOptions(project_id=project.id, template=template))

    async def get(self, project_id: str) -> tuple[Project, str | None] | None:
        """The project and its template (None for a project the original app made)."""
        row = (await self.session.execute(_with_template().where(Project.id == project_id))).first()
        return None if row is None else (row[0], row[1])

    async def exists(self, project_id: str) -> bool:
        found = await self.session.scalar(select(Project.id).where(Project.id == project_id))
        return found is not None

    async def template_of(self, project_id: str) -> str | None:
        return await self.session.scalar(
            select(ProjectOptions.template).where(ProjectOptions.project_id == project_id)
        )

    async def list_newest_first(
        self, *, limit: int, after: Cursor | None
    ) -> list[tuple[Project, str | None]]:
        """Up to ``limit`` projects, newest first, strictly after ``after`` in that order."""
        query = _with_template().order_by(Project.created_at.desc(), Project.id.desc()).limit(limit)
        if after is not None:
            query = query.where(
                tuple_(Project.created_at, Project.id) < tuple_(after.created_at, after.id)
            )
        rows = (await self.session.execute(query)).all()
        return [(row[0], row[1]) for row in rows]

    async def rename(self, project_id: str, name: str) -> bool:
        result = await self.session.execute(
            update(Project)
            .where(Project.id == project_id)
            .values(name=name, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def touch(self, project_id: str) -> None:
        await self.session.execute(
            update(Project)
            .where(Project.id == project_id)
            .values(updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )

    async def delete(self, project_id: str) -> bool:
        """Delete the project; the database cascades to its messages and fragments."""
        result = await self.session.execute(
            delete(Project)
            .where(Project.id == project_id)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]
