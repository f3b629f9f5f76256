"""Rules for versions: numbering, restore, hand edits, forks, comparison.

Versions sit above messages and projects: a version is a fragment (the messages package's), a
restore or an edit is a new ASSISTANT message with its fragment, a fork a new project. History
is only ever added to.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from qai.db import Database, new_id
from qai.errors import BadRequest, FragmentNotFound, ProjectNotFound
from qai.messages import service as messages
from qai.messages.limits import FragmentFiles, FragmentLimits, left_out_note
from qai.messages.models import Message, VersionOrigin
from qai.messages.repository import FragmentRow, MessageReads, MessageRow
from qai.messages.service import FragmentDraft
from qai.projects import service as projects
from qai.projects.models import Project
from qai.projects.previews import ORIGINAL_TEMPLATE
from qai.projects.repository import ProjectReads, ProjectRepository, ProjectRow
from qai.projects.rules import NAME_MAX
from qai.runs import service as runs
from qai.sandbox import SandboxPathError, get_template
from qai.sandbox.local.files import relative_path
from qai.versions.bundle import app_files
from qai.versions.diff import FileDiff, diff_files
from qai.versions.errors import NothingChanged, VersionTooLarge
from qai.versions.repository import VersionFiles, VersionReads, VersionRepository, VersionRow

# A fragment id -> its preview address (the sandbox manager's ``hosts.url``).
PreviewUrl = Callable[[str], str]

NO_FILES_LEFT = "A version needs at least one file: this edit would delete them all"
NO_CHANGES = "Give at least one file in `files`: path -> new content, or null to delete it"
OTHER_PROJECT = "`against` names a version of another project"


@dataclass(frozen=True)
class Located:
    """A version and its files, as a verb on it reads them."""

    version: VersionRow
    fragment: FragmentRow


async def get_version(database: Database, fragment_id: str) -> VersionRow:
    reads = VersionReads(database)
    project_id = await reads.project_of(fragment_id)
    found = await reads.one(project_id, fragment_id) if project_id is not None else None
    if found is None:
        raise FragmentNotFound()
    return found


async def _locate(database: Database, fragment_id: str) -> Located:
    version = await get_version(database, fragment_id)
    fragment = await MessageReads(database).fragment(fragment_id)
    if fragment is None:
        raise FragmentNotFound()  # deleted with its project between the two reads
    return Located(version, fragment)


async def list_versions(
    database: Database, project_id: str, *, after: int = 0, limit: int
) -> tuple[list[VersionRow], int | None]:
    """Up to ``limit`` versions numbered above ``after``, oldest first, and the ``after`` of the
    next page (None at the end); raises :class:`ProjectNotFound` for no such project."""
    rows = await VersionReads(database).page(project_id, after=after, limit=limit + 1)
    await projects.check_exists(database, project_id, rows)
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].number if more and rows else None


async def numbers_of(
    database: Database, project_id: str, history: list[MessageRow]
) -> dict[str, VersionRow]:
    """The versions of a page of history by fragment id (one statement)."""
    if not any(message.fragment is not None for message in history):
        return {}
    rows = await VersionReads(database).span(project_id, history[0].position, history[-1].position)
    return {row.fragment_id: row for row in rows}


async def _add_version(
    session: AsyncSession,
    project_id: str,
    *,
    content: str,
    title: str,
    summary: str | None,
    files: dict[str, str],
    origin: VersionOrigin,
    based_on: str,
    author: str | None,
    preview_url: PreviewUrl,
) -> tuple[Message, VersionRow]:
    """A new ASSISTANT message whose fragment holds ``files``, its ``qai_version`` row and its
    live event; 404 if the project is gone."""
    if await ProjectRepository(session).get(project_id) is None:
        raise ProjectNotFound()
    fragment_id = new_id()
    draft = FragmentDraft(
        title=title,
        sandbox_url=preview_url(fragment_id),
        files=files,
        summary=summary,
        id=fragment_id,
        origin=origin,
        based_on_id=based_on,
        author=author,
    )
    message = await messages.save_assistant_result(session, project_id, content, draft)
    repository = VersionRepository(session)
    await ProjectRepository(session).touch(project_id)
    await runs.publish_message(session, message)
    version = await repository.one(project_id, fragment_id)
    assert version is not None  # written in this very transaction
    return message, version


async def restore(
    session: AsyncSession,
    database: Database,
    fragment_id: str,
    *,
    preview_url: PreviewUrl,
    author: str | None = None,
) -> tuple[Message, VersionRow]:
    """A new version with the files of ``fragment_id``: the project's newest, so the preview
    and the next follow-up use it."""
    source = await _locate(database, fragment_id)
    return await _add_version(
        session,
        source.version.project_id,
        content=f"Restored v{source.version.number}: {source.fragment.title}",
        title=source.fragment.title,
        summary=source.fragment.summary,
        files=source.fragment.files(),
        origin=VersionOrigin.RESTORE,
        based_on=fragment_id,
        author=author,
        preview_url=preview_url,
    )


def _path_error(path: str, message: str) -> BadRequest:
    return BadRequest(message, issues=[{"path": ["files", path], "message": message}])


def _check_path(path: str) -> str:
    """The path as the agent's file tool takes it (``./`` and the sandbox's absolute working
    directory allowed), or a 400 naming it."""
    try:
        return relative_path(path.strip())
    except SandboxPathError as exc:
        raise _path_error(path, exc.message) from None


def apply_edit(
    base: Mapping[str, str], changes: Mapping[str, str | None], limits: FragmentLimits
) -> dict[str, str]:
    """``base`` with ``changes`` applied (None deletes), within ``limits``."""
    if not changes:
        raise BadRequest(NO_CHANGES, issues=[{"path": ["files"], "message": NO_CHANGES}])
    files = dict(base)
    for given, content in changes.items():
        path = _check_path(given)
        if content is None:
            if path not in files:
                raise _path_error(given, f"Cannot delete {path!r}: the version has no such file")
            del files[path]
        else:
            files[path] = content
    if not files:
        raise _path_error(next(iter(changes)), NO_FILES_LEFT)
    if files == dict(base):
        raise NothingChanged()
    kept = FragmentFiles(limits)
    for path in sorted(files):
        kept.offer(path, files[path])
    note = left_out_note(tuple(kept.left_out), limits)
    if note is not None:
        raise VersionTooLarge(note.removeprefix("Note: "))
    return kept.files


async def edit(
    session: AsyncSession,
    database: Database,
    fragment_id: str,
    changes: Mapping[str, str | None],
    *,
    limits: FragmentLimits,
    preview_url: PreviewUrl,
    author: str | None = None,
) -> tuple[Message, VersionRow]:
    """A new version: ``fragment_id``'s files with ``changes`` applied (None deletes a file)."""
    source = await _locate(database, fragment_id)
    base = source.fragment.files()
    files = apply_edit(base, changes, limits)
    changed = sorted(path for path in {*base, *files} if base.get(path) != files.get(path))
    named = ", ".join(f"`{path}`" for path in changed[:5])
    if len(changed) > 5:
        named += f" and {len(changed) - 5} more"
    return await _add_version(
        session,
        source.version.project_id,
        content=f"Edited by hand from v{source.version.number}: {named}",
        title=source.fragment.title,
        summary=source.fragment.summary,
        files=files,
        origin=VersionOrigin.EDIT,
        based_on=fragment_id,
        author=author,
        preview_url=preview_url,
    )


async def fork(
    session: AsyncSession,
    database: Database,
    fragment_id: str,
    *,
    preview_url: PreviewUrl,
    author: str | None = None,
    owner: str | None = None,
) -> ProjectRow:
    """A new project (same template, belonging to the user ``owner`` when given) whose first
    version is ``fragment_id``'s files."""
    source = await _locate(database, fragment_id)
    repository = ProjectRepository(session)
    original = await repository.get(source.version.project_id)
    if original is None:
        raise ProjectNotFound()
    suffix = " (fork)"
    project = Project(name=original.name[: NAME_MAX - len(suffix)] + suffix)
    template = original.template or ORIGINAL_TEMPLATE
    await repository.add(project, template=template, owner=owner)
    await session.flush()
    await _add_version(
        session,
        project.id,
        content=(
            f"Forked from v{source.version.number} of {original.name}: {source.fragment.title}"
        ),
        title=source.fragment.title,
        summary=source.fragment.summary,
        files=source.fragment.files(),
        origin=VersionOrigin.FORK,
        based_on=fragment_id,
        author=author,
        preview_url=preview_url,
    )
    forked = await repository.get(project.id)
    assert forked is not None  # made in this very transaction
    return forked


@dataclass(frozen=True)
class Comparison:
    version: VersionRow
    against: VersionRow | None
    files: list[FileDiff]


AGAINST_NOTHING = "none"


async def compare(database: Database, fragment_id: str, against: str | None) -> Comparison:
    """What ``fragment_id`` changed against ``against`` (default: the version before it, or
    nothing for v1; ``"none"``: against nothing, every file added)."""
    source = await _locate(database, fragment_id)
    other: Located | None = None
    if against == AGAINST_NOTHING:
        pass
    elif against is not None:
        other = await _locate(database, against)
        if other.version.project_id != source.version.project_id:
            issue = {"path": ["against"], "message": OTHER_PROJECT}
            raise BadRequest(OTHER_PROJECT, issues=[issue])
    elif source.version.number > 1:
        previous = await VersionReads(database).page(
            source.version.project_id, after=source.version.number - 2, limit=1
        )
        if previous:
            other = await _locate(database, previous[0].fragment_id)
    old = other.fragment.files() if other is not None else {}
    return Comparison(
        source.version,
        other.version if other is not None else None,
        diff_files(old, source.fragment.files()),
    )


async def history(database: Database, project_id: str) -> list[VersionFiles]:
    """Every version of a project with its files, oldest first; 404 for no such project."""
    rows = await VersionReads(database).all_with_files(project_id)
    await projects.check_exists(database, project_id, rows)
    return rows


async def download(database: Database, fragment_id: str) -> tuple[str, dict[str, bytes]]:
    """(title, files) of the app as the sandbox has it: template files, the version's, a
    README."""
    fragment = await messages.get_fragment(database, fragment_id)
    project_id = await VersionReads(database).project_of(fragment_id)
    project = await ProjectReads(database).get(project_id) if project_id is not None else None
    if project is None:
        raise FragmentNotFound()
    template = get_template(project.template or ORIGINAL_TEMPLATE)
    files = await asyncio.to_thread(app_files, template, fragment.files(), fragment.title)
    return fragment.title, files
