"""Rules for messages and fragments: a project's history, user messages, assistant answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from qai.common.pagination import Cursor, Page, backward_page, forward_page
from qai.errors import BadRequest, FragmentNotFound, ProjectNotFound
from qai.events import CodeAgentRun, send_after_commit
from qai.messages.models import Fragment, Message, MessageRole, MessageType
from qai.messages.repository import MessageRepository
from qai.projects.repository import ProjectRepository

PROMPT_MAX = 1000
PROMPT_REQUIRED = "Prompt is required"
PROMPT_TOO_LONG = f"Prompt must be less than {PROMPT_MAX} characters"


@dataclass(frozen=True)
class FragmentDraft:
    """What a successful run produced: the app's files and how to show them."""

    title: str
    sandbox_url: str
    files: dict[str, str]
    summary: str | None = None
    id: str | None = field(default=None)


def _position(message: Message) -> tuple[datetime, str]:
    return message.created_at, message.id


def check_prompt(value: str) -> str:
    """The original's rule for a prompt: 1..1000 characters (we also refuse blank ones)."""
    if not value or not value.strip():
        raise BadRequest(PROMPT_REQUIRED, issues=[{"path": ["value"], "message": PROMPT_REQUIRED}])
    if len(value) > PROMPT_MAX:
        raise BadRequest(PROMPT_TOO_LONG, issues=[{"path": ["value"], "message": PROMPT_TOO_LONG}])
    return value


async def list_messages(
    session: AsyncSession,
    project_id: str,
    *,
    limit: int,
    cursor: str | None = None,
    before: str | None = None,
    latest: bool = False,
) -> Page[Message]:
    """A page of a project's history, oldest first within the page, each with its fragment.

    Forward from the start (or after ``cursor``); or, with ``before`` or ``latest``, the newest
    ``limit`` messages before that point, with ``prevCursor`` leading further back.
    """
    repository = MessageRepository(session)
    if before is not None or latest:
        point = Cursor.decode(before) if before else None
        rows = await repository.page_newest_before(project_id, limit=limit + 1, before=point)
        items, prev_cursor = backward_page(rows, limit, _position)
        page = Page(items=items, next_cursor=None, prev_cursor=prev_cursor)
    else:
        after = Cursor.decode(cursor) if cursor else None
        rows = await repository.page_oldest_first(project_id, limit=limit + 1, after=after)
        items, next_cursor = forward_page(rows, limit, _position)
        page = Page(items=items, next_cursor=next_cursor)
    # A non-empty page proves the project exists: only an empty one costs a second query.
    if not items and not await ProjectRepository(session).exists(project_id):
        raise ProjectNotFound()
    return page


async def create_user_message(session: AsyncSession, project_id: str, value: str) -> Message:
    """A USER/RESULT message; ``code-agent/run`` is sent once the transaction commits."""
    check_prompt(value)
    message = Message(
        content=value, role=MessageRole.USER, type=MessageType.RESULT, project_id=project_id
    )
    if not await MessageRepository(session).add(message):
        raise ProjectNotFound()
    set_committed_value(message, "fragment", None)
    send_after_commit(
        session, CodeAgentRun(project_id=project_id, message_id=message.id, value=value)
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
    await MessageRepository(session).add_with_fragment(message, row)
    await ProjectRepository(session).touch(project_id)
    return message


async def save_assistant_error(session: AsyncSession, project_id: str, content: str) -> Message:
    """An ASSISTANT/ERROR message whose text says what went wrong and what to do."""
    message = Message(
        content=content, role=MessageRole.ASSISTANT, type=MessageType.ERROR, project_id=project_id
    )
    await MessageRepository(session).add(message)
    set_committed_value(message, "fragment", None)
    await ProjectRepository(session).touch(project_id)
    return message


async def get_fragment(session: AsyncSession, fragment_id: str) -> Fragment:
    fragment = await MessageRepository(session).get_fragment(fragment_id)
    if fragment is None:
        raise FragmentNotFound()
    return fragment


async def latest_fragment(session: AsyncSession, project_id: str) -> Fragment | None:
    return await MessageRepository(session).latest_fragment(project_id)


async def recent_messages(session: AsyncSession, project_id: str, *, limit: int) -> list[Message]:
    return await MessageRepository(session).recent(project_id, limit=limit)


def files_of(fragment: Fragment | None) -> dict[str, str]:
    """A fragment's files as path -> text (what the original stored as JSON)."""
    if fragment is None:
        return {}
    raw: Any = fragment.files
    if not isinstance(raw, dict):
        return {}
    return {
        str(path): content if isinstance(content, str) else str(content)
        for path, content in raw.items()
    }
