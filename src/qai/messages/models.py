from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, Enum, ForeignKey, Index, LargeBinary, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qai.db.base import Base, JsonDocument, Timestamp, new_id, same_as_created, utcnow
from qai.messages.rules import MessageRole, MessageType

if TYPE_CHECKING:
    from qai.projects.models import Project

__all__ = [
    "Fragment",
    "Message",
    "MessageRole",
    "MessageType",
    "Screenshot",
    "Version",
    "VersionOrigin",
]


class Message(Base):
    """The original's "Message" table, unchanged."""

    __tablename__ = "Message"
    __table_args__ = (
        # Ours: a project's history by time, with the id as tie-breaker for stable pages.
        Index("qai_message_project_created_idx", "projectId", "createdAt", "id"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True, default=new_id)
    content: Mapped[str] = mapped_column(Text)
    role: Mapped[MessageRole] = mapped_column(
        Enum(MessageRole, name="MessageRole", create_constraint=True, validate_strings=True)
    )
    type: Mapped[MessageType] = mapped_column(
        Enum(MessageType, name="MessageType", create_constraint=True, validate_strings=True)
    )
    created_at: Mapped[datetime] = mapped_column(
        "createdAt", Timestamp, default=utcnow, server_default=text("CURRENT_TIMESTAMP")
    )
    updated_at: Mapped[datetime] = mapped_column(
        "updatedAt", Timestamp, default=same_as_created, onupdate=utcnow
    )
    project_id: Mapped[str] = mapped_column(
        "projectId",
        Text,
        ForeignKey(
            "Project.id",
            name="Message_projectId_fkey",
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
    )

    project: Mapped[Project] = relationship(back_populates="messages", lazy="raise")
    fragment: Mapped[Fragment | None] = relationship(
        back_populates="message", lazy="raise", uselist=False, passive_deletes=True
    )


class Fragment(Base):
    """The original's "Fragment" table, unchanged: at most one per message."""

    __tablename__ = "Fragment"
    __table_args__ = (Index("Fragment_messageId_key", "messageId", unique=True),)

    id: Mapped[str] = mapped_column(Text, primary_key=True, default=new_id)
    message_id: Mapped[str] = mapped_column(
        "messageId",
        Text,
        ForeignKey(
            "Message.id",
            name="Fragment_messageId_fkey",
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
    )
    sandbox_url: Mapped[str] = mapped_column("sandboxUrl", Text)
    title: Mapped[str] = mapped_column(Text)
    files: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        "createdAt", Timestamp, default=utcnow, server_default=text("CURRENT_TIMESTAMP")
    )
    updated_at: Mapped[datetime] = mapped_column(
        "updatedAt", Timestamp, default=same_as_created, onupdate=utcnow
    )

    message: Mapped[Message] = relationship(back_populates="fragment", lazy="raise")


class VersionOrigin(StrEnum):
    """Who made a version: the agent's run, a restore, a hand edit, or a fork of another project."""

    AGENT = "agent"
    RESTORE = "restore"
    EDIT = "edit"
    FORK = "fork"


class Version(Base):
    """Ours (table ``qai_version``): what QAI knows of a fragment beyond the original's columns.

    One row per fragment QAI made. A fragment without a row (the original's) is an agent's
    finished version with no check. ``check`` holds the app check's result
    (``{"status", "problems", ...}``); ``unfinished`` marks the files a run left when it ended in
    an ERROR; ``based_on_id`` is the version a restore, an edit or a follow-up started from.
    """

    __tablename__ = "qai_version"
    __table_args__ = (Index("qai_version_project_idx", "project_id", "created_at"),)

    fragment_id: Mapped[str] = mapped_column(
        Text, ForeignKey("Fragment.id", ondelete="CASCADE", onupdate="CASCADE"), primary_key=True
    )
    project_id: Mapped[str] = mapped_column(
        Text, ForeignKey("Project.id", ondelete="CASCADE", onupdate="CASCADE")
    )
    origin: Mapped[VersionOrigin] = mapped_column(
        Enum(
            VersionOrigin,
            native_enum=False,
            create_constraint=False,
            length=16,
            values_callable=lambda members: [member.value for member in members],
        ),
        default=VersionOrigin.AGENT,
    )
    unfinished: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    based_on_id: Mapped[str | None] = mapped_column(
        Text, ForeignKey("Fragment.id", ondelete="SET NULL", onupdate="CASCADE"), nullable=True
    )
    author: Mapped[str | None] = mapped_column(Text, nullable=True)
    check: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument, nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        Timestamp, default=utcnow, server_default=text("CURRENT_TIMESTAMP")
    )


class Screenshot(Base):
    """Ours (table ``qai_screenshot``): the PNG the app check took of a version, its thumbnail."""

    __tablename__ = "qai_screenshot"

    fragment_id: Mapped[str] = mapped_column(
        Text, ForeignKey("Fragment.id", ondelete="CASCADE", onupdate="CASCADE"), primary_key=True
    )
    png: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(
        Timestamp, default=utcnow, server_default=text("CURRENT_TIMESTAMP")
    )
