"""Database access: the process's engine, sessions at the edge, migrations."""

from qai.db.base import Base, new_id, utcnow
from qai.db.engine import Database, dispose_database, get_database
from qai.db.session import after_commit, read_session, session_scope, upsert_into

__all__ = [
    "Base",
    "Database",
    "after_commit",
    "dispose_database",
    "get_database",
    "new_id",
    "read_session",
    "session_scope",
    "upsert_into",
    "utcnow",
]
