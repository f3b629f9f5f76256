from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Enum, ForeignKey, Index, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from qai.db.base import Base, JsonDocument, Timestamp, new_id, same_as_created, utcnow
from qai.messages.rules import MessageRole, MessageType

if TYPE_CHECKING:
    from qai.projects.models import Project

__all__ = ["Fragment", "Message", "MessageRole", "MessageType"]


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
