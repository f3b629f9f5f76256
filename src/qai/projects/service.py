"""Rules for projects: creating one with its first message, reading, renaming, deleting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from qai.common.pagination import Cursor, Page, forward_page
from qai.errors import BadRequest, ProjectNotFound
from qai.events import CodeAgentRun, send_after_commit
from qai.messages.models import Message, MessageRole, MessageType
from qai.messages.repository import MessageRepository
from qai.projects.models import Project
from qai.projects.names import random_project_name
from qai.projects.repository import ProjectRepository

PROMPT_MAX = 1000
NAME_MAX = 100


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


def check_prompt(value: str) -> str:
    """The original's rule for a prompt: 1..1000 characters (we also refuse blank ones)."""
    if not value or not value.strip():
        raise BadRequest(
            "Prompt is required", issues=[{"path": ["value"], "message": "Prompt is required"}]
        )
    if len(value) > PROMPT_MAX:
        message = "Prompt must be less than 1000 characters"
        raise BadRequest(message, issues=[{"path": ["value"], "message": message}])
    return value


def check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise BadRequest(
            "Name is required", issues=[{"path": ["name"], "message": "Name is required"}]
        )
    if len(name) > NAME_MAX:
        message = f"Name must be at most {NAME_MAX} characters"
        raise BadRequest(message, issues=[{"path": ["name"], "message": message}])
    return name


async def create_project_with_first_message(
    session: AsyncSession, value: str, *, template: str
) -> tuple[ProjectView, Message]:
    """Create a project named with a random slug, its first USER message, and send
    ``code-agent/run`` once the transaction commits."""
    check_prompt(value)
    project = Project(name=random_project_name())
    await ProjectRepository(session).add(project, template=template)
    message = Message(
        content=value, role=MessageRole.USER, type=MessageType.RESULT, project_id=project.id
    )
    await MessageRepository(session).add(message)
    send_after_commit(
        session, CodeAgentRun(project_id=project.id, message_id=message.id, value=value)
    )
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
