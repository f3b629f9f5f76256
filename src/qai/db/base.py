"""Declarative base and the column types shared by both engines."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import JSON, DateTime, MetaData
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import DeclarativeBase

# PostgreSQL: TIMESTAMP(3) without time zone, as Prisma made it. Values are naive UTC.
Timestamp = DateTime().with_variant(postgresql.TIMESTAMP(precision=3), "postgresql")
# PostgreSQL: JSONB, as Prisma made it; SQLite: JSON stored as TEXT.
JsonDocument = JSON().with_variant(postgresql.JSONB(), "postgresql")

# No "pk" entry: PostgreSQL then names primary keys "<table>_pkey", as Prisma did.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def new_id() -> str:
    return str(uuid.uuid4())


_last_now = datetime.min
_now_lock = threading.Lock()


def utcnow() -> datetime:
    """Now, naive UTC, in milliseconds (what TIMESTAMP(3) stores on both engines), and later
    than any earlier call in this process: rows written one after another keep their order
    (history is ordered by createdAt) even within one millisecond."""
    global _last_now
    now = datetime.now(UTC).replace(tzinfo=None)
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    with _now_lock:
        if now <= _last_now:
            now = _last_now + timedelta(milliseconds=1)
        _last_now = now
    return now


def same_as_created(context: DefaultExecutionContext) -> datetime:
    """``updatedAt`` of a new row: its ``createdAt``, as Prisma's now() made both."""
    created: datetime = context.get_current_parameters()["createdAt"]  # type: ignore[no-untyped-call]
    return created
