"""qai: the run outbox (``qai_run.handed_off``): a run recorded with its USER message, handed to
the durable queue off the request path.

Revision ID: qai_i15_writes
Revises: qai_0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "qai_i15_writes"
down_revision: str | Sequence[str] | None = "qai_i12_runs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("handed_off = false")


def upgrade() -> None:
    # Every run recorded so far was recorded after its enqueue: handed off.
    with op.batch_alter_table("qai_run") as batch:
        batch.add_column(
            sa.Column("handed_off", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
    op.create_index(
        "qai_run_handoff_idx",
        "qai_run",
        ["created_at", "id"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index("qai_run_handoff_idx", table_name="qai_run")
    with op.batch_alter_table("qai_run") as batch:
        batch.drop_column("handed_off")
