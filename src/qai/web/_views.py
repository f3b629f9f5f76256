"""What each page shows, read from the services in a fixed number of queries."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qai.common import pagination
from qai.common.pagination import Page
from qai.db import Database
from qai.live import service as live
from qai.messages import service as messages
from qai.messages.repository import FragmentRow, MessageRow
from qai.messages.rules import MessageRole
from qai.projects import service as projects
from qai.projects.previews import newest_version
from qai.projects.repository import ProjectRow
from qai.runs import service as runs
from qai.runs.models import Run, RunStep
from qai.sandbox import TemplateNotPrepared, get_template
from qai.versions import service as versions
from qai.versions.repository import VersionRow
from qai.web._render import TreeDir, file_tree, highlight_file, main_file

PROJECTS_PER_PAGE = 20
MESSAGES_PER_PAGE = 30
NEWER_MESSAGES_LIMIT = 100
VERSION_CHOICES = 500  # the versions a comparison offers to compare with


def cursor_of(message: MessageRow) -> str:
    """Where a page of history continues after (or before) ``message``."""
    return pagination.cursor_of(*message.position)


@dataclass(frozen=True)
class ProjectList:
    page: Page[ProjectRow]
    # Project id -> the fragment whose screenshot is its card's thumbnail.
    thumbnails: dict[str, str]


async def project_list(
    database: Database, cursor: str | None, owner: str | None = None
) -> ProjectList:
    page = await projects.list_projects(
        database, limit=PROJECTS_PER_PAGE, cursor=cursor, owner=owner
    )
    thumbnails = await messages.thumbnails(database, [project.id for project in page.items])
    return ProjectList(page, thumbnails)


@dataclass(frozen=True)
class TemplateChoice:
    """A template as the picker offers it: one not prepared is shown, but not offered."""

    name: str
    label: str
    prepared: bool


TEMPLATE_LABELS = {"web": "Web (HTML, CSS, JS)", "nextjs": "Next.js"}


def template_choices(data_dir: Path) -> list[TemplateChoice]:
    choices = []
    for name, label in TEMPLATE_LABELS.items():
        try:
            get_template(name).cached_path(data_dir)
            prepared = True
        except TemplateNotPrepared:
            prepared = False
        choices.append(TemplateChoice(name, label, prepared))
    return choices


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

    fragment: FragmentRow
    tree: TreeDir
    file: CodeFile | None
    version: VersionRow | None = None
    app_url: str | None = None  # the project's own preview address: always its newest version
    # What the Preview tab shows: the project's address for its newest version (the app's saved
    # data stays), the version's own address for an older one.
    frame_url: str | None = None


@dataclass(frozen=True)
class ProjectPage:
    project: ProjectRow
    messages: list[MessageRow]
    prev_cursor: str | None
    workspace: Workspace | None
    activity: Activity | None
    last_event_id: int
    versions: dict[str, VersionRow]
    answered: dict[str, Run]

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


def workspace(
    fragment: FragmentRow,
    path: str | None = None,
    version: VersionRow | None = None,
    app_url: str | None = None,
    frame_url: str | None = None,
) -> Workspace:
    files = fragment.files()
    return Workspace(
        fragment=fragment,
        tree=file_tree(list(files)),
        file=code_file(files, path),
        version=version,
        app_url=app_url,
        frame_url=frame_url or fragment.sandbox_url,
    )


# A preview name -> its address (the sandbox manager's ``hosts.url``).
PreviewUrl = Callable[[str], str]


async def workspace_of(
    database: Database,
    fragment: FragmentRow,
    path: str | None = None,
    preview_url: PreviewUrl | None = None,
) -> Workspace:
    """The workspace of ``fragment`` with its version (number, who made it) and the project's
    own preview address."""
    version = await versions.get_version(database, fragment.id)
    app_url = preview_url(version.project_id) if preview_url is not None else None
    newest = await newest_version(database, version.project_id) if app_url else None
    frame_url = app_url if newest == fragment.id else fragment.sandbox_url
    return await asyncio.to_thread(workspace, fragment, path, version, app_url, frame_url)


async def project_page(
    database: Database,
    project_id: str,
    *,
    fragment_id: str | None,
    path: str | None,
    preview_url: PreviewUrl | None = None,
) -> ProjectPage:
    project = await projects.get_project(database, project_id)
    # Read before the history: every change committed after this point reaches the page as an
    # event, so nothing falls between the first render and the live stream.
    async with database.read() as session:
        last_event_id = await live.latest_event_id(session, project_id)
    page = await projects.history(database, project_id, limit=MESSAGES_PER_PAGE, latest=True)
    fragment = await _selected_fragment(database, project_id, page.items, fragment_id)
    activity = await _activity(database, project_id, page.items)
    numbered = await versions.numbers_of(database, project_id, page.items)
    answered = await runs_by_answer(database, page.items)
    return ProjectPage(
        project=project,
        messages=page.items,
        prev_cursor=page.prev_cursor,
        workspace=(
            await workspace_of(database, fragment, path, preview_url)
            if fragment is not None
            else None
        ),
        activity=activity,
        last_event_id=last_event_id,
        versions=numbered,
        answered=answered,
    )


def last_model(page: ProjectPage) -> str | None:
    """The model of the project's newest run on the page (its prompt box offers it first)."""
    if page.activity is not None and page.activity.run is not None:
        return page.activity.run.model
    for message in reversed(page.messages):
        run = page.answered.get(message.id)
        if run is not None:
            return run.model
    return None


async def runs_by_answer(database: Database, history: list[MessageRow]) -> dict[str, Run]:
    """The run behind each answer on the page (one query): its activity stays under it."""
    ids = [m.id for m in history if m.role == MessageRole.ASSISTANT]
    if not ids:
        return {}
    async with database.read() as session:
        return await runs.runs_of_answers(session, ids)


async def live_run(database: Database, run_id: str) -> Run:
    async with database.read() as session:
        return (await runs.get_run(session, run_id)).run


async def _selected_fragment(
    database: Database, project_id: str, history: list[MessageRow], fragment_id: str | None
) -> FragmentRow | None:
    if fragment_id is not None:
        return await messages.get_fragment(database, fragment_id)
    for message in reversed(history):
        if message.fragment is not None:
            return message.fragment
    return await messages.latest_fragment(database, project_id)


async def _activity(
    database: Database, project_id: str, history: list[MessageRow]
) -> Activity | None:
    if not history or history[-1].role != MessageRole.USER:
        return None
    async with database.read() as session:
        current = await runs.current_run_with_steps(session, project_id)
    if current is None:
        return Activity(run=None, steps=[])
    return Activity(run=current.run, steps=current.steps)


async def history_before(database: Database, project_id: str, before: str) -> Page[MessageRow]:
    return await projects.history(database, project_id, limit=MESSAGES_PER_PAGE, before=before)


async def history_after(database: Database, project_id: str, after: str | None) -> Page[MessageRow]:
    return await projects.history(database, project_id, limit=NEWER_MESSAGES_LIMIT, cursor=after)
