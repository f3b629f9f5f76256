"""qai: single sign-on identities (an issuer's subject and the account it signs in to).

Revision ID: qai_i14_oidc
Revises: qai_i14_accounts
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "qai_i14_oidc"
down_revision: str | Sequence[str] | None = "qai_i14_previews"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime().with_variant(postgresql.TIMESTAMP(precision=3), "postgresql")


def upgrade() -> None:
    op.create_table(
        "qai_oidc_identity",
        sa.Column("issuer", sa.String(length=512), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column(
            "created_at", TIMESTAMP, server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False
        ),
        sa.PrimaryKeyConstraint("issuer", "subject", name=op.f("qai_oidc_identity_pkey")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["qai_user.id"],
            name="fk_qai_oidc_identity_user_id_qai_user",
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
    )
    op.create_index("qai_oidc_identity_user_idx", "qai_oidc_identity", ["user_id"])


def downgrade() -> None:
    op.drop_index("qai_oidc_identity_user_idx", table_name="qai_oidc_identity")
    op.drop_table("qai_oidc_identity")
