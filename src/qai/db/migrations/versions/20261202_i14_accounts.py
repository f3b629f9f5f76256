"""qai: accounts (users, sessions, API tokens, project owners, audit log, invitations).

Revision ID: qai_i14_accounts
Revises: qai_0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "qai_i14_accounts"
down_revision: str | Sequence[str] | None = "qai_i15_writes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime().with_variant(postgresql.TIMESTAMP(precision=3), "postgresql")
NOW = sa.text("CURRENT_TIMESTAMP")


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"],
        ["qai_user.id"],
        name=f"fk_{table}_user_id_qai_user",
        ondelete="CASCADE",
        onupdate="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "qai_user",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("disabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("quota_runs_per_day", sa.Integer(), nullable=True),
        sa.Column("quota_runs_at_once", sa.Integer(), nullable=True),
        sa.Column("quota_tokens_per_month", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("qai_user_pkey")),
        sa.UniqueConstraint("email", name="uq_qai_user_email"),
    )
    op.create_table(
        "qai_session",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, server_default=NOW, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("revoked", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("qai_session_pkey")),
        _user_fk("qai_session"),
    )
    op.create_index("qai_session_user_idx", "qai_session", ["user_id"])
    op.create_table(
        "qai_api_token",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, server_default=NOW, nullable=False),
        sa.Column("revoked", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("qai_api_token_pkey")),
        sa.UniqueConstraint("token_hash", name="uq_qai_api_token_token_hash"),
        _user_fk("qai_api_token"),
    )
    op.create_index("qai_api_token_user_idx", "qai_api_token", ["user_id"])
    op.create_table(
        "qai_project_owner",
        sa.Column("project_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", name=op.f("qai_project_owner_pkey")),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["Project.id"],
            name="fk_qai_project_owner_project_id_Project",
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
        _user_fk("qai_project_owner"),
    )
    op.create_index("ix_qai_project_owner_user_id", "qai_project_owner", ["user_id"])
    op.create_table(
        "qai_audit",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("at", TIMESTAMP, server_default=NOW, nullable=False),
        sa.Column("user_id", sa.Text(), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.Text(), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("qai_audit_pkey")),
    )
    op.create_index("qai_audit_at_idx", "qai_audit", ["at"])
    op.create_table(
        "qai_invite",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=False),
        sa.Column("uses", sa.Integer(), server_default="0", nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("created_at", TIMESTAMP, server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("qai_invite_pkey")),
    )


def downgrade() -> None:
    op.drop_table("qai_invite")
    op.drop_index("qai_audit_at_idx", table_name="qai_audit")
    op.drop_table("qai_audit")
    op.drop_index("ix_qai_project_owner_user_id", table_name="qai_project_owner")
    op.drop_table("qai_project_owner")
    op.drop_index("qai_api_token_user_idx", table_name="qai_api_token")
    op.drop_table("qai_api_token")
    op.drop_index("qai_session_user_idx", table_name="qai_session")
    op.drop_table("qai_session")
    op.drop_table("qai_user")
