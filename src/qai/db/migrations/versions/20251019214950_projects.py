"""projects: the original's second Prisma migration.

Adds "Message"."projectId", creates "Project" and the cascading foreign key between them, as
Prisma's ``20251019214950_projects`` did.

Revision ID: projects
Revises: message_fragment
Create Date: 2025-10-19 21:49:50
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "projects"
down_revision: str | Sequence[str] | None = "message_fragment"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime().with_variant(postgresql.TIMESTAMP(precision=3), "postgresql")


def upgrade() -> None:
    op.create_table(
        "Project",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "createdAt", TIMESTAMP, server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False
        ),
        sa.Column("updatedAt", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="Project_pkey"),
    )
    with op.batch_alter_table("Message") as batch:
        batch.add_column(sa.Column("projectId", sa.Text(), nullable=False))
        batch.create_foreign_key(
            "Message_projectId_fkey",
            "Project",
            ["projectId"],
            ["id"],
            ondelete="CASCADE",
            onupdate="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("Message") as batch:
        batch.drop_constraint("Message_projectId_fkey", type_="foreignkey")
        batch.drop_column("projectId")
    op.drop_table("Project")
