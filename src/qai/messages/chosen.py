"""The version a USER message builds on: what its run's sandbox starts from.

A message sent with ``fragmentId`` records that version (table ``qai_chosen_version``); any other
message builds on the project's newest version. :func:`starting_fragment` is the one place a run
asks which files it starts from.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Text, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from qai.db import Database
from qai.db.base import Base
from qai.errors import BadRequest, FragmentNotFound
from qai.messages.models import Fragment, Message
from qai.messages.repository import FragmentRow, MessageReads

__all__ = ["ChosenVersion", "check_chosen", "record_chosen", "starting_fragment"]


class ChosenVersion(Base):
    """Ours (table ``qai_chosen_version``): the version a USER message asked to build on."""

    __tablename__ = "qai_chosen_version"

    message_id: Mapped[str] = mapped_column(
        Text, ForeignKey("Message.id", ondelete="CASCADE", onupdate="CASCADE"), primary_key=True
    )
    fragment_id: Mapped[str] = mapped_column(
        Text, ForeignKey("Fragment.id", ondelete="CASCADE", onupdate="CASCADE")
    )


_PROJECT_OF_FRAGMENT = (
    select(Message.project_id)
    .join(Fragment, Fragment.message_id == Message.id)
    .where(Fragment.id == bindparam("fragment_id"))
)
_CHOSEN = select(ChosenVersion.fragment_id).where(
    ChosenVersion.message_id == bindparam("message_id")
)
NOT_THIS_PROJECTS = "fragmentId names a version of another project"


async def check_chosen(session: AsyncSession, project_id: str, fragment_id: str) -> None:
    """Refuse a version that does not exist (404) or belongs to another project (400)."""
    if "\x00" in fragment_id:  # no fragment has it (PostgreSQL's text cannot hold it)
        raise FragmentNotFound()
    owner = (await session.execute(_PROJECT_OF_FRAGMENT, {"fragment_id": fragment_id})).scalar()
    if owner is None:
        raise FragmentNotFound()
    if owner != project_id:
        raise BadRequest(
            NOT_THIS_PROJECTS, issues=[{"path": ["fragmentId"], "message": NOT_THIS_PROJECTS}]
        )


async def record_chosen(session: AsyncSession, message_id: str, fragment_id: str) -> None:
    session.add(ChosenVersion(message_id=message_id, fragment_id=fragment_id))
    await session.flush()


async def starting_fragment(
    database: Database, project_id: str, message_id: str
) -> FragmentRow | None:
    """The version a run for ``message_id`` starts from: the one the message chose, else the
    project's newest (None for a project with no version yet)."""
    reads = MessageReads(database)
    chosen = await database.rows(_CHOSEN, {"message_id": message_id})
    if chosen:
        found = await reads.fragment(chosen[0][0])
        if found is not None:
            return found
    return await reads.latest_fragment(project_id)
