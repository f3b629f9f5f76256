"""Every query on projects."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Text, bindparam, delete, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from qai.common.pagination import Cursor
from qai.db import Database, new_id, utcnow
from qai.projects.models import Project, ProjectOptions, ProjectOwner


class ProjectRow(NamedTuple):
    """A project as the reads answer it, with its template (None for one the original made)."""

    id: str
    name: str
    created_at: datetime
    updated_at: datetime
    template: str | None

    @property
    def position(self) -> tuple[datetime, str]:
        """Where the project sits in the list: what a cursor encodes."""
        return self.created_at, self.id


# Statements built once; the reads run them with ``Database.rows`` (one statement, no
# transaction, no ORM objects).
_ROWS = select(
    Project.id, Project.name, Project.created_at, Project.updated_at, ProjectOptions.template
).outerjoin(ProjectOptions, ProjectOptions.project_id == Project.id)
_ROW_BY_ID = _ROWS.where(Project.id == bindparam("project_id"))
_NEWEST = _ROWS.order_by(Project.created_at.desc(), Project.id.desc()).limit(bindparam("limit"))
_NEWEST_AFTER = _NEWEST.where(
    tuple_(Project.created_at, Project.id)
    < tuple_(bindparam("created_at", type_=Project.created_at.type), bindparam("id", type_=Text()))
)
# The same lists, of one owner's projects only.
_OWNED = ProjectOwner.user_id == bindparam("owner")
_NEWEST_OWNED = _NEWEST.join(ProjectOwner, ProjectOwner.project_id == Project.id).where(_OWNED)
_NEWEST_OWNED_AFTER = _NEWEST_AFTER.join(ProjectOwner, ProjectOwner.project_id == Project.id).where(
    _OWNED
)
_EXISTS = select(Project.id).where(Project.id == bindparam("project_id"))


class ProjectReads:
    """The reads of projects, each one statement outside any transaction."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def get(self, project_id: str) -> ProjectRow | None:
        rows = await self.database.rows(_ROW_BY_ID, {"project_id": project_id})
        return ProjectRow(*rows[0]) if rows else None

    async def exists(self, project_id: str) -> bool:
        return bool(await self.database.rows(_EXISTS, {"project_id": project_id}))

    async def newest(
        self, *, limit: int, after: Cursor | None, owner: str | None = None
    ) -> list[ProjectRow]:
        """Up to ``limit`` projects (``owner``'s only, when given), newest first, strictly
        after ``after`` in that order."""
        params: dict[str, object] = {"limit": limit}
        if owner is not None:
            params["owner"] = owner
        if after is None:
            statement = _NEWEST if owner is None else _NEWEST_OWNED
        else:
            statement = _NEWEST_AFTER if owner is None else _NEWEST_OWNED_AFTER
            params |= {"created_at": after.created_at, "id": after.id}
        rows = await self.database.rows(statement, params)
        return [ProjectRow(*row) for row in rows]


class ProjectRepository:
    """The queries a transaction makes."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, project: Project, *, template: str, owner: str | None = None) -> None:
        """Insert the project, its options and (with accounts) its owner. On PostgreSQL the
        project and its options are one statement (the project's INSERT as a CTE of its
        options' INSERT: the foreign key is checked at the statement's end); the project object
        is then not in the session, its fields are set."""
        if self.session.get_bind().dialect.name == "postgresql":
            await self._insert_with_options(project, template)
        else:
            self.session.add(project)
            await self.session.flush()
            self.session.add(ProjectOptions(project_id=project.id, template=template))
        if owner is not None:
            self.session.add(ProjectOwner(project_id=project.id, user_id=owner))

    async def _insert_with_options(self, project: Project, template: str) -> None:
        at = utcnow()
        project.id = project.id or new_id()
        project.created_at = project.updated_at = at
        row = (
            insert(Project)
            .values(id=project.id, name=project.name, created_at=at, updated_at=at)
            .cte("new_project")
        )
        statement = (
            insert(ProjectOptions).values(project_id=project.id, template=template).add_cte(row)
        )
        await self.session.execute(statement)

    async def get(self, project_id: str) -> ProjectRow | None:
        """The project as this transaction sees it (its own changes included)."""
        row = (await self.session.execute(_ROW_BY_ID, {"project_id": project_id})).first()
        return None if row is None else ProjectRow(*row)

    async def template_of(self, project_id: str) -> str | None:
        return await self.session.scalar(
            select(ProjectOptions.template).where(ProjectOptions.project_id == project_id)
        )

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
