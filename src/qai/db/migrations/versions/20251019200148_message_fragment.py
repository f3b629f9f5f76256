"""message_fragment: the original's first Prisma migration.

On PostgreSQL this produces exactly what Prisma's ``20251019200148_message_fragment`` produced:
the enum types "MessageRole" and "MessageType", the "Message" table (without "projectId") and
the "Fragment" table with its unique index and foreign key.

Revision ID: message_fragment
Revises:
Create Date: 2025-10-19 20:01:48
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "message_fragment"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime().with_variant(postgresql.TIMESTAMP(precision=3), "postgresql")
JSONB = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, create_constraint=True)


def upgrade() -> None:
    op.create_table(
        "Message",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("role", _enum("MessageRole", "USER", "ASSISTANT"), nullable=False),
        sa.Column("type", _enum("MessageType", "RESULT", "ERROR"), nullable=False),
        sa.Column(
            "createdAt", TIMESTAMP, server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False
        ),
        sa.Column("updatedAt", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="Message_pkey"),
    )
    op.create_table(
        "Fragment",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("messageId", sa.Text(), nullable=False),
        sa.Column("sandboxUrl", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("files", JSONB, nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column(
            "createdAt", TIMESTAMP, server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False
        ),
        sa.Column("updatedAt", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="Fragment_pkey"),
        sa.ForeignKeyConstraint(
            ["messageId"],
            ["Message.id"],
            name="Fragment_messageId_fkey",
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
    )
    op.create_index("Fragment_messageId_key", "Fragment", ["messageId"], unique=True)


def downgrade() -> None:
    op.drop_index("Fragment_messageId_key", table_name="Fragment")
    op.drop_table("Fragment")
    op.drop_table("Message")
    if op.get_bind().dialect.name == "postgresql":
        op.execute('DROP TYPE IF EXISTS "MessageType"')
        op.execute('DROP TYPE IF EXISTS "MessageRole"')
