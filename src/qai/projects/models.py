from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qai.db.base import Base, Timestamp, new_id, same_as_created, utcnow

if TYPE_CHECKING:
    from qai.messages.models import Message


class Project(Base):
    """The original's "Project" table, unchanged."""

    __tablename__ = "Project"
    # Ours: the project list, newest first, with the id as tie-breaker for stable pages.
    __table_args__ = (Index("qai_project_created_idx", "createdAt", "id"),)

    id: Mapped[str] = mapped_column(Text, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        "createdAt", Timestamp, default=utcnow, server_default=text("CURRENT_TIMESTAMP")
    )
    updated_at: Mapped[datetime] = mapped_column(
        "updatedAt", Timestamp, default=same_as_created, onupdate=utcnow
    )

    messages: Mapped[list[Message]] = relationship(
        back_populates="project", lazy="raise", passive_deletes=True
    )
    options: Mapped[ProjectOptions | None] = relationship(
        lazy="raise", passive_deletes=True, uselist=False
    )


class ProjectOptions(Base):
    """What QAI keeps about a project beyond the original's table (its template)."""

    __tablename__ = "qai_project_options"

    project_id: Mapped[str] = mapped_column(
        Text, ForeignKey("Project.id", ondelete="CASCADE", onupdate="CASCADE"), primary_key=True
    )
    template: Mapped[str] = mapped_column(String(64))


class ProjectOwner(Base):
    """Who a project belongs to (accounts mode), in QAI's own table: the original's stay as
    they are. A project without a row (made before accounts, or adopted from the original's
    database) belongs to the first admin, who is given it when their account is made."""

    __tablename__ = "qai_project_owner"

    project_id: Mapped[str] = mapped_column(
        Text, ForeignKey("Project.id", ondelete="CASCADE", onupdate="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        Text, ForeignKey("qai_user.id", ondelete="CASCADE", onupdate="CASCADE"), index=True
    )
