"""Every query on messages and fragments."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import (
    Select,
    Text,
    bindparam,
    cast,
    false,
    func,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import contains_eager
from sqlalchemy.orm.attributes import set_committed_value

from qai.common.pagination import Cursor
from qai.db import Database
from qai.db.engine import Row
from qai.messages.models import Fragment, Message, Screenshot, Version


class FragmentRow(NamedTuple):
    """A fragment as the reads answer it: its files as the stored JSON text, which the API
    embeds as it is instead of decoding and encoding it again."""

    id: str
    message_id: str
    sandbox_url: str
    title: str
    files_json: str
    summary: str | None
    created_at: datetime
    updated_at: datetime
    # The app check (``qai_version.check``) as stored JSON text; None for no check.
    check_json: str | None = None
    has_screenshot: bool = False
    # The files an unfinished run left (its ERROR answer's fragment), from ``qai_version``.
    unfinished: bool = False

    def files(self) -> dict[str, str]:
        return decode_files(self.files_json)

    def check(self) -> dict[str, Any] | None:
        """The app check as stored (see ``qai.checks.CheckResult.as_json``), or None."""
        raw: Any = orjson.loads(self.check_json) if self.check_json else None
        return raw if isinstance(raw, dict) else None


def decode_files(files_json: str) -> dict[str, str]:
    """A fragment's stored files as path -> text (what the original stored as JSON); anything
    else, which QAI never writes, reads as no files."""
    raw: Any = orjson.loads(files_json) if files_json else None
    if not isinstance(raw, dict):
        return {}
    return {
        str(path): content if isinstance(content, str) else str(content)
        for path, content in raw.items()
    }


class MessageRow(NamedTuple):
    id: str
    content: str
    role: str  # a MessageRole value
    type: str  # a MessageType value
    created_at: datetime
    updated_at: datetime
    project_id: str
    fragment: FragmentRow | None

    @property
    def position(self) -> tuple[datetime, str]:
        """Where the message sits in a history: what a cursor encodes."""
        return self.created_at, self.id


_FRAGMENT_COLUMNS = (
    Fragment.id,
    Fragment.message_id,
    Fragment.sandbox_url,
    Fragment.title,
    cast(Fragment.files, Text),
    Fragment.summary,
    Fragment.created_at,
    Fragment.updated_at,
    cast(Version.check, Text),
    Screenshot.fragment_id.is_not(None),
    func.coalesce(Version.unfinished, false()),
)
_MESSAGE_COLUMNS = (
    Message.id,
    Message.content,
    Message.role,
    Message.type,
    Message.created_at,
    Message.updated_at,
    Message.project_id,
)
_FRAGMENT_AT = len(_MESSAGE_COLUMNS)

# The reads: statements built once, run by ``Database.rows`` (one statement, no transaction, no
# ORM objects). One statement for a page of history and its fragments: no N+1.


def _with_version(query: Any) -> Any:  # a Select of any columns, as it came
    """The fragment's version row and whether it has a screenshot, in the same statement."""
    return query.outerjoin(Version, Version.fragment_id == Fragment.id).outerjoin(
        Screenshot, Screenshot.fragment_id == Fragment.id
    )


_HISTORY = (
    _with_version(
        select(*_MESSAGE_COLUMNS, *_FRAGMENT_COLUMNS).outerjoin(
            Fragment, Fragment.message_id == Message.id
        )
    )
    .where(Message.project_id == bindparam("project_id"))
    .limit(bindparam("limit"))
)
_POSITION = tuple_(Message.created_at, Message.id)
_CURSOR = tuple_(
    bindparam("created_at", type_=Message.created_at.type), bindparam("id", type_=Text())
)
_OLDEST = _HISTORY.order_by(Message.created_at, Message.id)
_OLDEST_AFTER = _OLDEST.where(_POSITION > _CURSOR)
_NEWEST = _HISTORY.order_by(Message.created_at.desc(), Message.id.desc())
_NEWEST_BEFORE = _NEWEST.where(_POSITION < _CURSOR)
_FRAGMENT_BY_ID = _with_version(select(*_FRAGMENT_COLUMNS)).where(
    Fragment.id == bindparam("fragment_id")
)
_NEWEST_SHOT = (
    select(
        Message.project_id,
        Fragment.id.label("fragment_id"),
        func.row_number()
        .over(
            partition_by=Message.project_id,
            order_by=(Message.created_at.desc(), Message.id.desc()),
        )
        .label("newest"),
    )
    .select_from(Screenshot)
    .join(Fragment, Fragment.id == Screenshot.fragment_id)
    .join(Message, Message.id == Fragment.message_id)
    .where(Message.project_id.in_(bindparam("project_ids", expanding=True)))
    .subquery()
)
_THUMBNAILS = select(_NEWEST_SHOT.c.project_id, _NEWEST_SHOT.c.fragment_id).where(
    _NEWEST_SHOT.c.newest == literal_column("1")
)
_SCREENSHOT = select(Screenshot.png).where(Screenshot.fragment_id == bindparam("fragment_id"))
_LATEST_FRAGMENT = (
    _with_version(select(*_FRAGMENT_COLUMNS))
    .join(Message, Message.id == Fragment.message_id)
    .where(Message.project_id == bindparam("project_id"))
    .order_by(Message.created_at.desc(), Message.id.desc())
    .limit(bindparam("limit"))
)


def _fragment_row(columns: Sequence[Any]) -> FragmentRow:
    row = FragmentRow(*columns)
    # A JSON null reads as the text "null" on some engines: no check either way.
    check = None if row.check_json in (None, "null") else row.check_json
    return row._replace(check_json=check, has_screenshot=bool(row.has_screenshot))


def _message_row(row: Row) -> MessageRow:
    fragment = _fragment_row(row[_FRAGMENT_AT:]) if row[_FRAGMENT_AT] is not None else None
    return MessageRow._make((*row[:_FRAGMENT_AT], fragment))


class MessageReads:
    """The reads of messages and fragments, each one statement outside any transaction."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def oldest_first(
        self, project_id: str, *, limit: int, after: Cursor | None
    ) -> list[MessageRow]:
        """Up to ``limit`` messages of a project, oldest first, strictly after ``after``."""
        if after is None:
            rows = await self.database.rows(_OLDEST, {"project_id": project_id, "limit": limit})
        else:
            rows = await self.database.rows(
                _OLDEST_AFTER,
                {
                    "project_id": project_id,
                    "limit": limit,
                    "created_at": after.created_at,
                    "id": after.id,
                },
            )
        return [_message_row(row) for row in rows]

    async def newest_before(
        self, project_id: str, *, limit: int, before: Cursor | None
    ) -> list[MessageRow]:
        """Up to ``limit`` messages strictly before ``before`` (or the newest), oldest first."""
        if before is None:
            rows = await self.database.rows(_NEWEST, {"project_id": project_id, "limit": limit})
        else:
            rows = await self.database.rows(
                _NEWEST_BEFORE,
                {
                    "project_id": project_id,
                    "limit": limit,
                    "created_at": before.created_at,
                    "id": before.id,
                },
            )
        return [_message_row(row) for row in reversed(rows)]

    async def fragment(self, fragment_id: str) -> FragmentRow | None:
        rows = await self.database.rows(_FRAGMENT_BY_ID, {"fragment_id": fragment_id})
        return _fragment_row(rows[0]) if rows else None

    async def screenshot(self, fragment_id: str) -> bytes | None:
        rows = await self.database.rows(_SCREENSHOT, {"fragment_id": fragment_id})
        return bytes(rows[0][0]) if rows else None

    async def thumbnails(self, project_ids: Sequence[str]) -> dict[str, str]:
        """Project id -> its newest fragment with a screenshot, for the projects that have one
        (one statement for any number of projects)."""
        if not project_ids:
            return {}
        # Through SQLAlchemy, not ``Database.rows``: the driver path knows no expanding IN.
        async with self.database.read() as session:
            rows = (await session.execute(_THUMBNAILS, {"project_ids": list(project_ids)})).all()
        return {str(row[0]): str(row[1]) for row in rows}

    async def latest_fragment(self, project_id: str) -> FragmentRow | None:
        """The newest fragment of a project: the state its app is in."""
        rows = await self.database.rows(_LATEST_FRAGMENT, {"project_id": project_id, "limit": 1})
        return _fragment_row(rows[0]) if rows else None


def _with_fragment() -> Select[Message]:
    return select(Message).outerjoin(Message.fragment).options(contains_eager(Message.fragment))


class MessageRepository:
    """The queries a transaction makes: writes, and the reads a run needs inside one."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, message: Message) -> bool:
        """Insert; False when its project does not exist (the foreign key refused it).

        The caller must then roll back: on PostgreSQL the transaction is aborted.
        """
        self.session.add(message)
        try:
            await self.session.flush()
        except IntegrityError:
            return False
        return True

    async def add_with_fragment(self, message: Message, fragment: Fragment) -> None:
        self.session.add(message)
        await self.session.flush()
        fragment.message_id = message.id
        self.session.add(fragment)
        await self.session.flush()
        set_committed_value(message, "fragment", fragment)

    async def add_version(self, version: Version, screenshot: Screenshot | None) -> None:
        """A fragment's version row (and the check's screenshot), after the fragment."""
        self.session.add(version)
        if screenshot is not None:
            self.session.add(screenshot)
        await self.session.flush()

    async def get(self, message_id: str) -> Message | None:
        return (
            await self.session.execute(_with_fragment().where(Message.id == message_id))
        ).scalar_one_or_none()

    async def get_many(self, message_ids: Sequence[str]) -> dict[str, Message]:
        """The messages with these ids (each with its fragment), by id; one statement."""
        query = _with_fragment().where(Message.id.in_(message_ids))
        rows = (await self.session.execute(query)).scalars().unique()
        return {message.id: message for message in rows}

    async def recent_for_memory(self, project_id: str, *, limit: int) -> Sequence[Message]:
        """The last ``limit`` messages of a project, oldest first, each fragment with only its
        summary: the agent's memory never reads a fragment's files (the app's whole source)."""
        query = (
            select(Message)
            .outerjoin(Message.fragment)
            .options(contains_eager(Message.fragment).load_only(Fragment.summary, raiseload=True))
            .where(Message.project_id == project_id)
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(limit)
        )
        rows = list((await self.session.execute(query)).scalars().unique())
        rows.reverse()
        return rows
