"""qai: a model step's retry in progress (which retry, of how many), shown while it waits.

Revision ID: qai_i12_model_retries
Revises: qai_i14_accounts
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "qai_i12_model_retries"
down_revision: str | Sequence[str] | None = "qai_i14_oidc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("qai_run_step") as batch:
        batch.add_column(sa.Column("retry", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("max_retries", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("qai_run_step") as batch:
        batch.drop_column("max_retries")
        batch.drop_column("retry")
