"""qai: the version a USER message chose to build on (``fragmentId`` on message create).

Revision ID: qai_i13_versions
Revises: qai_0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "qai_i13_versions"
down_revision: str | Sequence[str] | None = "qai_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "qai_chosen_version",
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("fragment_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("qai_chosen_version_pkey")),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["Message.id"],
            name="fk_qai_chosen_version_message_id_Message",
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["fragment_id"],
            ["Fragment.id"],
            name="fk_qai_chosen_version_fragment_id_Fragment",
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("qai_chosen_version")
