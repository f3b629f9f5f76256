"""Rules for projects: creating one with its first message, reading, renaming, deleting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from qai.common.pagination import Cursor, Page, forward_page
from qai.errors import BadRequest, ProjectNotFound
from qai.messages.models import Message
from qai.messages.service import check_prompt, create_user_message
from qai.projects.models import Project
from qai.projects.names import random_project_name
from qai.projects.repository import ProjectRepository

NAME_MAX = 100
NAME_REQUIRED = "Name is required"
NAME_TOO_LONG = f"Name must be at most {NAME_MAX} characters"


@dataclass(frozen=True)
class ProjectView:
    id: str
    name: str
    created_at: datetime
    updated_at: datetime
    template: str | None

    @classmethod
    def of(cls, project: Project, template: str | None) -> ProjectView:
        return cls(
            id=project.id,
            name=project.name,
            created_at=project.created_at,
            updated_at=project.updated_at,
            template=template,
        )


def check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise BadRequest(NAME_REQUIRED, issues=[{"path": ["name"], "message": NAME_REQUIRED}])
    if len(name) > NAME_MAX:
        raise BadRequest(NAME_TOO_LONG, issues=[{"path": ["name"], "message": NAME_TOO_LONG}])
    return name


async def create_project_with_first_message(
    session: AsyncSession, value: str, *, template: str
) -> tuple[ProjectView, Message]:
    """Create a project named with a random slug, its first USER message, and send
    ``code-agent/run`` once the transaction commits."""
    check_prompt(value)  # before anything is written: a refused prompt costs no statement
    project = Project(name=random_project_name())
    # Flushed first: the message's foreign key needs the project's row.
    await ProjectRepository(session).add(project, template=template)
    message = await create_user_message(session, project.id, value)
    return ProjectView.of(project, template), message


async def get_project(session: AsyncSession, project_id: str) -> ProjectView:
    found = await ProjectRepository(session).get(project_id)
    if found is None:
        raise ProjectNotFound()
    return ProjectView.of(*found)


async def list_projects(
    session: AsyncSession, *, limit: int, cursor: str | None = None
) -> Page[ProjectView]:
    """Projects, newest first; ``nextCursor`` is set when more remain."""
    after = Cursor.decode(cursor) if cursor else None
    rows = await ProjectRepository(session).list_newest_first(limit=limit + 1, after=after)
    page, next_cursor = forward_page(rows, limit, lambda row: (row[0].created_at, row[0].id))
    return Page(items=[ProjectView.of(*row) for row in page], next_cursor=next_cursor)


async def rename_project(session: AsyncSession, project_id: str, name: str) -> ProjectView:
    name = check_name(name)
    if not await ProjectRepository(session).rename(project_id, name):
        raise ProjectNotFound()
    return await get_project(session, project_id)


async def delete_project(session: AsyncSession, project_id: str) -> None:
    """Delete a project with its messages and fragments (the database cascades)."""
    if not await ProjectRepository(session).delete(project_id):
        raise ProjectNotFound()
