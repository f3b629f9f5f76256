"""The live event log (table ``qai_event``): what streams replay after ``Last-Event-ID``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from qai.db.base import Base, JsonDocument, Timestamp, utcnow

# SQLite only makes INTEGER PRIMARY KEY an alias of its rowid; AUTOINCREMENT (below) keeps
# ids from being reused after old events are deleted.
EventId = BigInteger().with_variant(Integer(), "sqlite")


class Event(Base):
    __tablename__ = "qai_event"
    __table_args__ = (
        Index("qai_event_project_id_idx", "project_id", "id"),
        Index("qai_event_created_idx", "created_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(
        Text, ForeignKey("Project.id", ondelete="CASCADE", onupdate="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
