"""What each page shows, read from the services in a fixed number of queries."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from qai.common import pagination
from qai.common.pagination import Page
from qai.live import service as live
from qai.messages import service as messages
from qai.messages.models import Fragment, Message, MessageRole
from qai.projects import service as projects
from qai.projects.service import ProjectView
from qai.runs import service as runs
from qai.runs.models import Run, RunStep
from qai.web._render import TreeDir, file_tree, highlight_file, main_file

PROJECTS_PER_PAGE = 20
MESSAGES_PER_PAGE = 30
NEWER_MESSAGES_LIMIT = 100


def cursor_of(message: Message) -> str:
    """Where a page of history continues after (or before) ``message``."""
    return pagination.cursor_of(message.created_at, message.id)


async def project_list(session: AsyncSession, cursor: str | None) -> Page[ProjectView]:
    return await projects.list_projects(session, limit=PROJECTS_PER_PAGE, cursor=cursor)


@dataclass(frozen=True)
class Activity:
    """What the agent is doing for the newest USER message while it has no answer."""

    run: Run | None
    steps: list[RunStep]


@dataclass(frozen=True)
class CodeFile:
    path: str
    html: str

    @property
    def crumbs(self) -> list[str]:
        return self.path.split("/")


@dataclass(frozen=True)
class Workspace:
    """The right-hand side: one fragment's preview and code."""

    fragment: Fragment
    tree: TreeDir
    file: CodeFile | None


@dataclass(frozen=True)
class ProjectPage:
    project: ProjectView
    messages: list[Message]
    prev_cursor: str | None
    workspace: Workspace | None
    activity: Activity | None
    last_event_id: int

    @property
    def newest_cursor(self) -> str | None:
        return cursor_of(self.messages[-1]) if self.messages else None


# Highlighting a large file takes a good part of a second: callers on the event loop run these
# two in a thread (asyncio.to_thread), after reading the fragment.


def code_file(files: dict[str, str], path: str | None) -> CodeFile | None:
    """``path`` of ``files`` highlighted, or the main file when ``path`` is not one of them."""
    chosen = path if path in files else main_file(list(files))
    if chosen is None:
        return None
    return CodeFile(path=chosen, html=highlight_file(chosen, files[chosen]))


def workspace(fragment: Fragment, path: str | None = None) -> Workspace:
    files = messages.files_of(fragment)
    return Workspace(fragment=fragment, tree=file_tree(list(files)), file=code_file(files, path))


async def project_page(
    session: AsyncSession, project_id: str, *, fragment_id: str | None, path: str | None
) -> ProjectPage:
    project = await projects.get_project(session, project_id)
    # Read before the history: every change committed after this point reaches the page as an
    # event, so nothing falls between the first render and the live stream.
    last_event_id = await live.latest_event_id(session, project_id)
    page = await messages.list_messages(session, project_id, limit=MESSAGES_PER_PAGE, latest=True)
    fragment = await _selected_fragment(session, project_id, page.items, fragment_id)
    activity = await _activity(session, project_id, page.items)
    return ProjectPage(
        project=project,
        messages=page.items,
        prev_cursor=page.prev_cursor,
        workspace=(
            await asyncio.to_thread(workspace, fragment, path) if fragment is not None else None
        ),
        activity=activity,
        last_event_id=last_event_id,
    )


async def _selected_fragment(
    session: AsyncSession, project_id: str, history: list[Message], fragment_id: str | None
) -> Fragment | None:
    if fragment_id is not None:
        return await messages.get_fragment(session, fragment_id)
    for message in reversed(history):
        if message.fragment is not None:
            return message.fragment
    return await messages.latest_fragment(session, project_id)


async def _activity(
    session: AsyncSession, project_id: str, history: list[Message]
) -> Activity | None:
    if not history or history[-1].role is not MessageRole.USER:
        return None
    latest = await runs.latest_run_with_steps(session, project_id)
    if latest is None or latest.run.id != history[-1].id:
        return Activity(run=None, steps=[])
    if latest.run.status.finished:
        return None
    return Activity(run=latest.run, steps=latest.steps)


async def history_before(session: AsyncSession, project_id: str, before: str) -> Page[Message]:
    return await messages.list_messages(session, project_id, limit=MESSAGES_PER_PAGE, before=before)


async def history_after(session: AsyncSession, project_id: str, after: str | None) -> Page[Message]:
    return await messages.list_messages(
        session, project_id, limit=NEWER_MESSAGES_LIMIT, cursor=after
    )
