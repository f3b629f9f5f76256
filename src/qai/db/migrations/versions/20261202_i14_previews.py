"""qai: previews that require sign-in (their grants), and runs found by their preview address.

Revision ID: qai_i14_previews
Revises: qai_i14_accounts
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "qai_i14_previews"
down_revision: str | Sequence[str] | None = "qai_i14_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime().with_variant(postgresql.TIMESTAMP(precision=3), "postgresql")
NOW = sa.text("CURRENT_TIMESTAMP")


def upgrade() -> None:
    op.create_table(
        "qai_preview_grant",
        sa.Column("ticket_hash", sa.String(length=64), nullable=False),
        sa.Column("session_hash", sa.String(length=64), nullable=False),
        sa.Column("host", sa.Text(), nullable=False),
        sa.Column("ticket_expires_at", TIMESTAMP, nullable=False),
        sa.Column("cookie_hash", sa.String(length=64), nullable=True),
        sa.Column("partitioned", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", TIMESTAMP, server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("ticket_hash", name=op.f("qai_preview_grant_pkey")),
        sa.ForeignKeyConstraint(
            ["session_hash"],
            ["qai_session.id_hash"],
            name="fk_qai_preview_grant_session_hash_qai_session",
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
    )
    op.create_index("qai_preview_grant_session_idx", "qai_preview_grant", ["session_hash", "host"])
    op.create_index(
        "qai_preview_grant_cookie_idx", "qai_preview_grant", ["cookie_hash"], unique=True
    )
    op.create_index("qai_run_preview_idx", "qai_run", ["preview_url"])


def downgrade() -> None:
    op.drop_index("qai_run_preview_idx", table_name="qai_run")
    op.drop_index("qai_preview_grant_cookie_idx", table_name="qai_preview_grant")
    op.drop_index("qai_preview_grant_session_idx", table_name="qai_preview_grant")
    op.drop_table("qai_preview_grant")
