"""Rules for projects: reading one, its history, renaming, deleting (a project is created with
its first message by ``qai.runs.send``, the write path)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from qai.common.pagination import Cursor, Page, forward_page
from qai.db import Database
from qai.errors import ProjectNotFound
from qai.messages import service as messages
from qai.messages.repository import MessageRow
from qai.projects.deletion import purge_after_commit
from qai.projects.repository import ProjectReads, ProjectRepository, ProjectRow
from qai.projects.rules import check_name


async def get_project(database: Database, project_id: str) -> ProjectRow:
    found = await ProjectReads(database).get(project_id)
    if found is None:
        raise ProjectNotFound()
    return found


async def list_projects(
    database: Database, *, limit: int, cursor: str | None = None, owner: str | None = None
) -> Page[ProjectRow]:
    """Projects (the user ``owner``'s only, when given), newest first; ``nextCursor`` is set
    when more remain."""
    after = Cursor.decode(cursor) if cursor else None
    rows = await ProjectReads(database).newest(limit=limit + 1, after=after, owner=owner)
    items, next_cursor = forward_page(rows, limit, lambda row: row.position)
    return Page(items=items, next_cursor=next_cursor)


async def check_exists(database: Database, project_id: str, page: Sequence[object]) -> None:
    """A page of something a project has (its messages, its runs) came back: raise
    :class:`ProjectNotFound` if the project does not exist. A non-empty page proves it does, so
    only an empty one costs a second query."""
    if not page and not await ProjectReads(database).exists(project_id):
        raise ProjectNotFound()


async def history(
    database: Database,
    project_id: str,
    *,
    limit: int,
    cursor: str | None = None,
    before: str | None = None,
    latest: bool = False,
) -> Page[MessageRow]:
    """A page of a project's history (see ``messages.service.history_page``); raises
    :class:`ProjectNotFound` for a project that does not exist."""
    page = await messages.history_page(
        database, project_id, limit=limit, cursor=cursor, before=before, latest=latest
    )
    await check_exists(database, project_id, page.items)
    return page


async def rename_project(session: AsyncSession, project_id: str, name: str) -> ProjectRow:
    name = check_name(name)
    repository = ProjectRepository(session)
    if not await repository.rename(project_id, name):
        raise ProjectNotFound()
    renamed = await repository.get(project_id)
    assert renamed is not None  # renamed in this very transaction
    return renamed


async def delete_project(session: AsyncSession, project_id: str) -> None:
    """Delete a project with its messages and fragments (the database cascades); once the
    transaction commits, its runs' durable records and its sandboxes are purged (see
    ``qai.projects.deletion``)."""
    await purge_after_commit(session, project_id)
    if not await ProjectRepository(session).delete(project_id):
        raise ProjectNotFound()
