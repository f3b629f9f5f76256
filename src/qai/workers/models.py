"""The processes that execute runs and when each was last seen alive (table ``qai_worker``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from qai.db.base import Base, Timestamp


class Worker(Base):
    """One per executor id (``QAI_WORKER_ID``): a `qai serve` with its worker, or a `qai worker`.

    The process writes ``seen_at`` at start and then every few seconds; a row whose ``seen_at``
    is older than ``QAI_WORKER_DEAD_SECONDS`` belongs to a worker that died, and another worker
    takes over its runs.
    """

    __tablename__ = "qai_worker"

    executor_id: Mapped[str] = mapped_column(Text, primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    hostname: Mapped[str] = mapped_column(Text)
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(Timestamp)
    seen_at: Mapped[datetime] = mapped_column(Timestamp)
