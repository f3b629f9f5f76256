"""qai: Stop (a run's cancel request), the live preview of a run's sandbox, model steps' tokens.

Revision ID: qai_i12_runs
Revises: qai_0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "qai_i12_runs"
down_revision: str | Sequence[str] | None = "qai_i13_versions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime().with_variant(postgresql.TIMESTAMP(precision=3), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("qai_run") as batch:
        batch.add_column(sa.Column("cancel_requested_at", TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("preview_url", sa.Text(), nullable=True))
    with op.batch_alter_table("qai_run_step") as batch:
        batch.add_column(sa.Column("input_tokens", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("output_tokens", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("qai_run_step") as batch:
        batch.drop_column("output_tokens")
        batch.drop_column("input_tokens")
    with op.batch_alter_table("qai_run") as batch:
        batch.drop_column("preview_url")
        batch.drop_column("cancel_requested_at")
