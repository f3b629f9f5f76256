"""Every query on versions: a project's fragments numbered v1, v2, ... by creation order, with
who made each (``qai_version``; a fragment without a row is the agent's) and its prompt."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import (
    Integer,
    Text,
    bindparam,
    cast,
    false,
    func,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from qai.db import Database
from qai.messages.models import Fragment, Message, Version
from qai.messages.repository import decode_files
from qai.runs.models import Run


class VersionRow(NamedTuple):
    """One version of a project: its number, the fragment, who made it and from what."""

    number: int
    fragment_id: str
    message_id: str
    project_id: str
    title: str
    summary: str | None
    created_at: datetime
    origin: str  # a VersionOrigin value
    based_on_id: str | None
    author: str | None
    check: dict[str, Any] | None  # the app check's result, where there is one
    unfinished: bool
    reply: str  # the ASSISTANT message's text ("Restored v3: ..." for a restore)
    prompt: str | None  # the USER message the agent answered with it; None for the others


class VersionFiles(NamedTuple):
    row: VersionRow
    files_json: str

    def files(self) -> dict[str, str]:
        return decode_files(self.files_json)


_PROMPT = aliased(Message)
_NUMBER = func.row_number().over(order_by=(Message.created_at, Message.id))


def _numbered(*extra: Any) -> Any:
    """Every version of the project ``:project_id``, numbered, as a subquery: the window runs
    over the project's whole history, so a page of it still carries the right numbers."""
    return (
        select(
            cast(_NUMBER, Integer).label("number"),
            Fragment.id.label("fragment_id"),
            Fragment.message_id,
            Message.project_id,
            Fragment.title,
            Fragment.summary,
            Fragment.created_at,
            func.coalesce(cast(Version.origin, Text), literal_column("'agent'")).label("origin"),
            Version.based_on_id,
            Version.author,
            cast(Version.check, Text).label("check"),
            func.coalesce(Version.unfinished, false()).label("unfinished"),
            Message.content.label("reply"),
            _PROMPT.content.label("prompt"),
            Message.created_at.label("position_at"),
            Message.id.label("position_id"),
            *extra,
        )
        .join(Message, Message.id == Fragment.message_id)
        .outerjoin(Version, Version.fragment_id == Fragment.id)
        .outerjoin(Run, Run.answer_message_id == Message.id)
        .outerjoin(_PROMPT, _PROMPT.id == Run.message_id)
        .where(Message.project_id == bindparam("project_id"))
        .subquery()
    )


_LISTED = _numbered()
_ROW_COLUMNS = [_LISTED.c[name] for name in VersionRow._fields]
_PAGE = (
    select(*_ROW_COLUMNS)
    .where(_LISTED.c.number > bindparam("after"))
    .order_by(_LISTED.c.number)
    .limit(bindparam("limit"))
)
_POSITION = tuple_(_LISTED.c.position_at, _LISTED.c.position_id)
_SPAN = (
    select(*_ROW_COLUMNS)
    .where(
        tuple_(
            bindparam("from_at", type_=Message.created_at.type), bindparam("from_id", type_=Text())
        )
        <= _POSITION,
        tuple_(bindparam("to_at", type_=Message.created_at.type), bindparam("to_id", type_=Text()))
        >= _POSITION,
    )
    .order_by(_LISTED.c.number)
)
_ONE = select(*_ROW_COLUMNS).where(_LISTED.c.fragment_id == bindparam("fragment_id"))
_WITH_FILES = _numbered(cast(Fragment.files, Text).label("files_json"))
_ALL_WITH_FILES = select(
    *[_WITH_FILES.c[name] for name in VersionRow._fields], _WITH_FILES.c.files_json
).order_by(_WITH_FILES.c.number)
_PROJECT_OF = (
    select(Message.project_id)
    .join(Fragment, Fragment.message_id == Message.id)
    .where(Fragment.id == bindparam("fragment_id"))
)


def _row(raw: Any) -> VersionRow:
    values = list(raw[: len(VersionRow._fields)])
    unfinished = VersionRow._fields.index("unfinished")
    values[unfinished] = bool(values[unfinished])
    check = VersionRow._fields.index("check")
    # As JSON text on both engines (the driver-level reads do not decode JSON).
    values[check] = orjson.loads(values[check]) if values[check] else None
    return VersionRow._make(values)


class VersionReads:
    """The reads of versions, each one statement (or two: a fragment's project, then its
    number) outside any transaction."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def page(self, project_id: str, *, after: int, limit: int) -> list[VersionRow]:
        """Up to ``limit`` versions numbered above ``after``, oldest first."""
        rows = await self.database.rows(
            _PAGE, {"project_id": project_id, "after": after, "limit": limit}
        )
        return [_row(row) for row in rows]

    async def span(
        self, project_id: str, first: tuple[datetime, str], last: tuple[datetime, str]
    ) -> list[VersionRow]:
        """The versions whose messages sit between ``first`` and ``last`` (message positions,
        both included): those of a page of history, in one statement."""
        rows = await self.database.rows(
            _SPAN,
            {
                "project_id": project_id,
                "from_at": first[0],
                "from_id": first[1],
                "to_at": last[0],
                "to_id": last[1],
            },
        )
        return [_row(row) for row in rows]

    async def project_of(self, fragment_id: str) -> str | None:
        rows = await self.database.rows(_PROJECT_OF, {"fragment_id": fragment_id})
        return str(rows[0][0]) if rows else None

    async def one(self, project_id: str, fragment_id: str) -> VersionRow | None:
        rows = await self.database.rows(
            _ONE, {"project_id": project_id, "fragment_id": fragment_id}
        )
        return _row(rows[0]) if rows else None

    async def all_with_files(self, project_id: str) -> list[VersionFiles]:
        """Every version with its files, oldest first (what a git history is made of)."""
        rows = await self.database.rows(_ALL_WITH_FILES, {"project_id": project_id})
        return [VersionFiles(_row(row), str(row[-1])) for row in rows]


class VersionRepository:
    """The queries a transaction makes."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def one(self, project_id: str, fragment_id: str) -> VersionRow | None:
        """A version as this transaction sees it (its own writes included)."""
        raw = (
            await self.session.execute(_ONE, {"project_id": project_id, "fragment_id": fragment_id})
        ).first()
        return _row(raw) if raw is not None else None
