"""Rules for messages and fragments: a project's history, user messages, assistant answers.

Messages sit below projects: nothing here knows the projects table (a project's existence is
the projects service's rule; a message for a missing project is refused by its foreign key).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from qai.common.pagination import Cursor, Page, backward_page, forward_page
from qai.db import Database
from qai.errors import FragmentNotFound, ProjectNotFound, ScreenshotNotFound
from qai.events import CodeAgentRun, send_after_commit
from qai.messages.chosen import check_chosen, record_chosen
from qai.messages.models import (
    Fragment,
    Message,
    MessageRole,
    MessageType,
    Screenshot,
    Version,
    VersionOrigin,
)
from qai.messages.repository import FragmentRow, MessageReads, MessageRepository, MessageRow
from qai.messages.rules import check_prompt


@dataclass(frozen=True)
class FragmentDraft:
    """What a run produced: the app's files and how to show them (saved with an ERROR answer,
    what a run that ended in an ERROR had written: its unfinished version)."""

    title: str
    sandbox_url: str
    files: dict[str, str]
    summary: str | None = None
    id: str | None = field(default=None)
    # The app check's result (``qai_version.check``) and the page as it saw it.
    check: dict[str, Any] | None = None
    screenshot: bytes | None = field(default=None, repr=False)
    # Who made the version and from which (``qai_version``): the agent's, unless a restore, an
    # edit or a fork made it.
    origin: VersionOrigin = VersionOrigin.AGENT
    based_on_id: str | None = None
    author: str | None = None


def _position(row: MessageRow) -> tuple[datetime, str]:
    return row.position


async def history_page(
    database: Database,
    project_id: str,
    *,
    limit: int,
    cursor: str | None = None,
    before: str | None = None,
    latest: bool = False,
) -> Page[MessageRow]:
    """A page of a project's history, oldest first within the page, each with its fragment
    (one statement); empty for a project that does not exist.

    Forward from the start (or after ``cursor``); or, with ``before`` or ``latest``, the newest
    ``limit`` messages before that point, with ``prevCursor`` leading further back.
    """
    reads = MessageReads(database)
    if before is not None or latest:
        point = Cursor.decode(before) if before else None
        rows = await reads.newest_before(project_id, limit=limit + 1, before=point)
        items, prev_cursor = backward_page(rows, limit, _position)
        return Page(items=items, next_cursor=None, prev_cursor=prev_cursor)
    after = Cursor.decode(cursor) if cursor else None
    rows = await reads.oldest_first(project_id, limit=limit + 1, after=after)
    items, next_cursor = forward_page(rows, limit, _position)
    return Page(items=items, next_cursor=next_cursor)


async def create_user_message(
    session: AsyncSession,
    project_id: str,
    value: str,
    *,
    fragment_id: str | None = None,
    model: str | None = None,
) -> Message:
    """A USER/RESULT message; ``code-agent/run`` is recorded with it (the run's outbox row, in
    this transaction) and sent once the transaction commits. With ``fragment_id`` (a version of
    this project), its run starts from that version's files; with ``model`` (one the server
    offers: see ``qai.llm.Models.resolve``), its run uses that model."""
    check_prompt(value)
    if fragment_id is not None:
        await check_chosen(session, project_id, fragment_id)
    message = Message(
        content=value, role=MessageRole.USER, type=MessageType.RESULT, project_id=project_id
    )
    if not await MessageRepository(session).add(message):
        raise ProjectNotFound()
    set_committed_value(message, "fragment", None)
    if fragment_id is not None:
        await record_chosen(session, message.id, fragment_id)
    await send_after_commit(
        session,
        CodeAgentRun(project_id=project_id, message_id=message.id, value=value, model=model),
    )
    return message


async def save_assistant_result(
    session: AsyncSession, project_id: str, content: str, fragment: FragmentDraft
) -> Message:
    """An ASSISTANT/RESULT message and its fragment, in the caller's transaction."""
    message = Message(
        content=content, role=MessageRole.ASSISTANT, type=MessageType.RESULT, project_id=project_id
    )
    row = Fragment(
        sandbox_url=fragment.sandbox_url,
        title=fragment.title,
        files=fragment.files,
        summary=fragment.summary,
    )
    if fragment.id is not None:
        row.id = fragment.id
    repository = MessageRepository(session)
    await repository.add_with_fragment(message, row)
    await repository.add_version(
        Version(
            fragment_id=row.id,
            project_id=project_id,
            origin=fragment.origin,
            based_on_id=fragment.based_on_id,
            author=fragment.author,
            check=fragment.check,
        ),
        Screenshot(fragment_id=row.id, png=fragment.screenshot) if fragment.screenshot else None,
    )
    return message


async def save_assistant_error(
    session: AsyncSession, project_id: str, content: str, fragment: FragmentDraft | None = None
) -> Message:
    """An ASSISTANT/ERROR message whose text says what went wrong and what to do; with the
    unfinished version's fragment when the run had written files (unlike the original, whose
    ERROR messages never have one), marked unfinished in ``qai_version``."""
    message = Message(
        content=content, role=MessageRole.ASSISTANT, type=MessageType.ERROR, project_id=project_id
    )
    repository = MessageRepository(session)
    if fragment is None:
        if not await repository.add(message):
            raise ProjectNotFound()  # deleted meanwhile; the caller rolls back
        set_committed_value(message, "fragment", None)
        return message
    row = Fragment(
        sandbox_url=fragment.sandbox_url,
        title=fragment.title,
        files=fragment.files,
        summary=fragment.summary,
    )
    if fragment.id is not None:
        row.id = fragment.id
    await repository.add_with_fragment(message, row)
    await repository.add_version(
        Version(
            fragment_id=row.id,
            project_id=project_id,
            unfinished=True,
            based_on_id=fragment.based_on_id,
        ),
        None,
    )
    return message


async def get_fragment(database: Database, fragment_id: str) -> FragmentRow:
    fragment = await MessageReads(database).fragment(fragment_id)
    if fragment is None:
        raise FragmentNotFound()
    return fragment


async def screenshot_of(database: Database, fragment_id: str) -> bytes:
    """The PNG the app check took of a fragment's app; ScreenshotNotFound if it took none."""
    png = await MessageReads(database).screenshot(fragment_id)
    if png is None:
        raise ScreenshotNotFound()
    return png


async def thumbnails(database: Database, project_ids: list[str]) -> dict[str, str]:
    """Project id -> the fragment whose screenshot is its thumbnail (its newest with one)."""
    return await MessageReads(database).thumbnails(project_ids)


async def latest_fragment(database: Database, project_id: str) -> FragmentRow | None:
    """The newest fragment of a project: the state its app is in."""
    return await MessageReads(database).latest_fragment(project_id)
