"""A run of the code agent for one USER message, and the steps it took (tables ``qai_run*``)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, Enum, ForeignKey, Index, Integer, String, Text, text, true
from sqlalchemy.orm import Mapped, mapped_column

from qai.db.base import Base, Timestamp, utcnow


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (RunStatus.SUCCEEDED, RunStatus.FAILED)


class StepOutcome(StrEnum):
    OK = "ok"
    FAILED = "failed"


def _stored_as_text(enum: type[StrEnum]) -> Enum:
    """A VARCHAR(16) holding the member's value (no database enum type, no CHECK)."""
    return Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=16,
        values_callable=lambda members: [member.value for member in members],
    )


class Run(Base):
    """One per USER message. Its id is the message's id, which is also its durable workflow id.

    ``answer_message_id`` is how QAI knows a message was answered: it is set in the same
    transaction that writes the ASSISTANT message, and only while it is still empty.
    """

    __tablename__ = "qai_run"
    __table_args__ = (
        Index("qai_run_project_created_idx", "project_id", "created_at", "id"),
        Index(
            "qai_run_handoff_idx",
            "created_at",
            "id",
            postgresql_where=text("handed_off = false"),
            sqlite_where=text("handed_off = false"),
        ),
        # Which project a live preview belongs to, while its version does not exist yet.
        Index("qai_run_preview_idx", "preview_url"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    project_id: Mapped[str] = mapped_column(
        Text, ForeignKey("Project.id", ondelete="CASCADE", onupdate="CASCADE")
    )
    message_id: Mapped[str] = mapped_column(
        Text, ForeignKey("Message.id", ondelete="CASCADE", onupdate="CASCADE"), unique=True
    )
    status: Mapped[RunStatus] = mapped_column(_stored_as_text(RunStatus))
    model: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        Timestamp, default=utcnow, server_default=text("CURRENT_TIMESTAMP")
    )
    started_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    output_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    turns: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Set by Stop (``POST /api/runs/{id}/cancel``), in whichever process took the request; the
    # worker running the run sees it within QAI_RUN_CANCEL_POLL_SECONDS and stops the run.
    cancel_requested_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    # The run's sandbox's preview address, once it is up: the page shows the app as it is built.
    preview_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    answer_message_id: Mapped[str | None] = mapped_column(
        Text,
        ForeignKey("Message.id", ondelete="SET NULL", onupdate="CASCADE"),
        nullable=True,
        unique=True,
    )
    # The outbox: False from the USER message's transaction until a worker has handed the run
    # to the durable queue (and announced it); runs recorded after their enqueue start True.
    handed_off: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class RunStep(Base):
    """One tool call or model call of a run: what it did (label), when, and how it ended.

    ``attempts`` counts executions: above 1 only for a step that was in flight when a worker
    died and ran again when the run resumed.
    """

    __tablename__ = "qai_run_step"

    run_id: Mapped[str] = mapped_column(
        Text, ForeignKey("qai_run.id", ondelete="CASCADE", onupdate="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    outcome: Mapped[StepOutcome | None] = mapped_column(_stored_as_text(StepOutcome), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # A model call's tokens (kind ``model``); null for tool calls and while the call runs.
    input_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    output_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # A model call sent again after a failure that may pass: which retry (1, 2, ...) of how
    # many QAI_MODEL_MAX_RETRIES allows; null for a call that needed none.
    retry: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_retries: Mapped[int | None] = mapped_column(Integer, nullable=True)
