"""Database access: the process's :class:`Database` (engine, sessions at the edge, driver-level
reads), migrations."""

from qai.db.base import Base, new_id, utcnow
from qai.db.engine import Database, create_database
from qai.db.session import after_commit, upsert_into

__all__ = [
    "Base",
    "Database",
    "after_commit",
    "create_database",
    "new_id",
    "upsert_into",
    "utcnow",
]
