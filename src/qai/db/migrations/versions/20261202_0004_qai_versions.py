"""qai: versions (who made each fragment, its app check, unfinished runs' files) and screenshots.

Revision ID: qai_0004
Revises: qai_0003
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "qai_0004"
down_revision: str | Sequence[str] | None = "qai_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime().with_variant(postgresql.TIMESTAMP(precision=3), "postgresql")
JSONB = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BYTES = sa.LargeBinary().with_variant(postgresql.BYTEA(), "postgresql")


def _fragment(column: str, table: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        ["Fragment.id"],
        name=f"fk_{table}_{column}_Fragment",
        ondelete=ondelete,
        onupdate="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "qai_version",
        sa.Column("fragment_id", sa.Text(), nullable=False),
        sa.Column("project_id", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("unfinished", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("based_on_id", sa.Text(), nullable=True),
        sa.Column("author", sa.Text(), nullable=True),
        sa.Column("check", JSONB, nullable=True),
        sa.Column(
            "created_at", TIMESTAMP, server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False
        ),
        sa.PrimaryKeyConstraint("fragment_id", name=op.f("qai_version_pkey")),
        _fragment("fragment_id", "qai_version", "CASCADE"),
        _fragment("based_on_id", "qai_version", "SET NULL"),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["Project.id"],
            name="fk_qai_version_project_id_Project",
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
    )
    op.create_index("qai_version_project_idx", "qai_version", ["project_id", "created_at"])
    op.create_table(
        "qai_screenshot",
        sa.Column("fragment_id", sa.Text(), nullable=False),
        sa.Column("png", BYTES, nullable=False),
        sa.Column(
            "created_at", TIMESTAMP, server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False
        ),
        sa.PrimaryKeyConstraint("fragment_id", name=op.f("qai_screenshot_pkey")),
        _fragment("fragment_id", "qai_screenshot", "CASCADE"),
    )


def downgrade() -> None:
    op.drop_table("qai_screenshot")
    op.drop_index("qai_version_project_idx", table_name="qai_version")
    op.drop_table("qai_version")
