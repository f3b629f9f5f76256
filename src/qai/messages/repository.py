"""Every query on messages and fragments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, Text, bindparam, cast, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import contains_eager
from sqlalchemy.orm.attributes import set_committed_value

from qai.common.pagination import Cursor
from qai.db.engine import read_rows
from qai.messages.models import Fragment, Message


def _with_fragment() -> Select[Message]:
    # One statement for a page of history and its fragments: no N+1 whatever its length.
    return select(Message).outerjoin(Message.fragment).options(contains_eager(Message.fragment))


# The JSON API's history: plain rows from statements built once, run by ``read_rows`` (one
# statement, no transaction, no ORM objects). A fragment's files come as the stored JSON text,
# which the API embeds as it is instead of decoding and encoding it again.
_HISTORY = (
    select(
        Message.id,
        Message.content,
        Message.role,
        Message.type,
        Message.created_at,
        Message.updated_at,
        Message.project_id,
        Fragment.id,
        Fragment.message_id,
        Fragment.sandbox_url,
        Fragment.title,
        cast(Fragment.files, Text),
        Fragment.summary,
        Fragment.created_at,
        Fragment.updated_at,
    )
    .outerjoin(Fragment, Fragment.message_id == Message.id)
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

# (id, content, role, type, created_at, updated_at, project_id, then the fragment's id,
# message_id, sandbox_url, title, files as JSON text, summary, created_at, updated_at or Nones)
HistoryRow = Sequence[Any]


async def history_oldest_first(
    project_id: str, *, limit: int, after: Cursor | None
) -> Sequence[HistoryRow]:
    """Up to ``limit`` messages of a project, oldest first, strictly after ``after``."""
    if after is None:
        return await read_rows(_OLDEST, {"project_id": project_id, "limit": limit})
    return await read_rows(
        _OLDEST_AFTER,
        {"project_id": project_id, "limit": limit, "created_at": after.created_at, "id": after.id},
    )


async def history_newest_before(
    project_id: str, *, limit: int, before: Cursor | None
) -> list[HistoryRow]:
    """Up to ``limit`` messages strictly before ``before`` (or the newest), oldest first."""
    if before is None:
        rows = await read_rows(_NEWEST, {"project_id": project_id, "limit": limit})
    else:
        rows = await read_rows(
            _NEWEST_BEFORE,
            {
                "project_id": project_id,
                "limit": limit,
                "created_at": before.created_at,
                "id": before.id,
            },
        )
    return list(reversed(rows))


class MessageRepository:
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

    async def get(self, message_id: str) -> Message | None:
        return (
            await self.session.execute(_with_fragment().where(Message.id == message_id))
        ).scalar_one_or_none()

    async def page_oldest_first(
        self, project_id: str, *, limit: int, after: Cursor | None
    ) -> list[Message]:
        """Up to ``limit`` messages of a project, oldest first, strictly after ``after``."""
        query = (
            _with_fragment()
            .where(Message.project_id == project_id)
            .order_by(Message.created_at, Message.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(
                tuple_(Message.created_at, Message.id) > tuple_(after.created_at, after.id)
            )
        return list((await self.session.execute(query)).scalars().unique())

    async def page_newest_before(
        self, project_id: str, *, limit: int, before: Cursor | None
    ) -> list[Message]:
        """Up to ``limit`` messages strictly before ``before`` (or the newest), oldest first."""
        query = (
            _with_fragment()
            .where(Message.project_id == project_id)
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(limit)
        )
        if before is not None:
            query = query.where(
                tuple_(Message.created_at, Message.id) < tuple_(before.created_at, before.id)
            )
        rows = list((await self.session.execute(query)).scalars().unique())
        rows.reverse()
        return rows

    async def get_fragment(self, fragment_id: str) -> Fragment | None:
        return await self.session.get(Fragment, fragment_id)

    async def latest_fragment(self, project_id: str) -> Fragment | None:
        """The newest fragment of a project: the state its app is in."""
        query = (
            select(Fragment)
            .join(Message, Message.id == Fragment.message_id)
            .where(Message.project_id == project_id)
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(1)
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def recent(self, project_id: str, *, limit: int) -> list[Message]:
        """The last ``limit`` messages of a project, oldest first (conversation memory)."""
        return await self.page_newest_before(project_id, limit=limit, before=None)

    async def recent_for_memory(self, project_id: str, *, limit: int) -> list[Message]:
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
