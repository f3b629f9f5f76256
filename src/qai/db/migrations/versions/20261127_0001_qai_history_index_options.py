"""qai: index for a project's history by time; project options (template).

Revision ID: qai_0001
Revises: projects
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "qai_0001"
down_revision: str | Sequence[str] | None = "projects"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("qai_message_project_created_idx", "Message", ["projectId", "createdAt", "id"])
    op.create_index("qai_project_created_idx", "Project", ["createdAt", "id"])
    op.create_table(
        "qai_project_options",
        sa.Column("project_id", sa.Text(), nullable=False),
        sa.Column("template", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("project_id"),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["Project.id"],
            name="fk_qai_project_options_project_id_Project",
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("qai_project_options")
    op.drop_index("qai_project_created_idx", table_name="Project")
    op.drop_index("qai_message_project_created_idx", table_name="Message")
