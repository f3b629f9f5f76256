"""qai: runs of the code agent, their steps, and the live event log.

Every USER message already in the database (one the original app made) gets a finished run
linked to the ASSISTANT message that answered it, so start-up repair never re-runs old history.

Revision ID: qai_0002
Revises: qai_0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "qai_0002"
down_revision: str | Sequence[str] | None = "qai_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime().with_variant(postgresql.TIMESTAMP(precision=3), "postgresql")
JSONB = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
EVENT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# The answer of a USER message made before QAI: the first ASSISTANT message after it in its
# project with no other USER message in between.
BACKFILL_RUNS = """
INSERT INTO qai_run (id, project_id, message_id, status, created_at, started_at, finished_at,
                     input_tokens, output_tokens, turns, error, answer_message_id)
SELECT u.id, u."projectId", u.id,
       CASE WHEN a.id IS NULL OR a.type = 'ERROR' THEN 'failed' ELSE 'succeeded' END,
       u."createdAt", u."createdAt", COALESCE(a."createdAt", u."createdAt"), 0, 0, 0,
       CASE WHEN a.id IS NULL THEN 'Made before QAI and never answered.' END,
       a.id
FROM "Message" u
LEFT JOIN "Message" a ON a.id = (
    SELECT m.id FROM "Message" m
    WHERE m."projectId" = u."projectId" AND m.role = 'ASSISTANT'
      AND (m."createdAt" > u."createdAt" OR (m."createdAt" = u."createdAt" AND m.id > u.id))
      AND NOT EXISTS (
          SELECT 1 FROM "Message" v
          WHERE v."projectId" = u."projectId" AND v.role = 'USER' AND v.id <> u.id
            AND (v."createdAt" > u."createdAt" OR (v."createdAt" = u."createdAt" AND v.id > u.id))
            AND (v."createdAt" < m."createdAt" OR (v."createdAt" = m."createdAt" AND v.id < m.id))
      )
    ORDER BY m."createdAt", m.id
    LIMIT 1
)
WHERE u.role = 'USER'
"""


def _cascade(column: str, target: str, table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [target],
        name=f"fk_{table}_{column}_{target.split('.')[0]}",
        ondelete="CASCADE",
        onupdate="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "qai_run",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("project_id", sa.Text(), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("model", sa.Text(), nullable=True),
        sa.Column(
            "created_at", TIMESTAMP, server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False
        ),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("input_tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("output_tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("turns", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("answer_message_id", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("qai_run_pkey")),
        _cascade("project_id", "Project.id", "qai_run"),
        _cascade("message_id", "Message.id", "qai_run"),
        sa.ForeignKeyConstraint(
            ["answer_message_id"],
            ["Message.id"],
            name="fk_qai_run_answer_message_id_Message",
            ondelete="SET NULL",
            onupdate="CASCADE",
        ),
        sa.UniqueConstraint("message_id", name="uq_qai_run_message_id"),
        sa.UniqueConstraint("answer_message_id", name="uq_qai_run_answer_message_id"),
    )
    op.create_index("qai_run_project_created_idx", "qai_run", ["project_id", "created_at", "id"])
    op.create_table(
        "qai_run_step",
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="1", nullable=False),
        sa.PrimaryKeyConstraint("run_id", "seq", name=op.f("qai_run_step_pkey")),
        _cascade("run_id", "qai_run.id", "qai_run_step"),
    )
    op.create_table(
        "qai_event",
        sa.Column("id", EVENT_ID, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("data", JSONB, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("qai_event_pkey")),
        _cascade("project_id", "Project.id", "qai_event"),
        sqlite_autoincrement=True,
    )
    op.create_index("qai_event_project_id_idx", "qai_event", ["project_id", "id"])
    op.create_index("qai_event_created_idx", "qai_event", ["created_at"])
    op.execute(BACKFILL_RUNS)


def downgrade() -> None:
    op.drop_index("qai_event_created_idx", table_name="qai_event")
    op.drop_index("qai_event_project_id_idx", table_name="qai_event")
    op.drop_table("qai_event")
    op.drop_table("qai_run_step")
    op.drop_index("qai_run_project_created_idx", table_name="qai_run")
    op.drop_table("qai_run")
