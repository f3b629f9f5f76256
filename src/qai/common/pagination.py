"""Keyset pagination: opaque cursors over (createdAt, id), stable under equal timestamps."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from qai.errors import InvalidCursor

T = TypeVar("T")


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    id: str

    def encode(self) -> str:
        raw = f"{self.created_at.isoformat(timespec='milliseconds')}|{self.id}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            stamp, _, ident = raw.partition("|")
            if not ident:
                raise ValueError("no id")
            created_at = datetime.fromisoformat(stamp)
            if created_at.tzinfo is not None:
                # In UTC now, so an offset that moves it past year 1 or 9999 is refused here,
                # not by the database driver.
                created_at = created_at.astimezone(UTC)
            return cls(created_at=created_at, id=ident)
        except (ValueError, OverflowError, UnicodeDecodeError, binascii.Error):
            raise InvalidCursor(
                "Invalid cursor: pass a nextCursor value from a previous page"
            ) from None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None
    prev_cursor: str | None = None


# Where a row sits in the (createdAt, id) order: what its cursor encodes.
Position = Callable[[T], tuple[datetime, str]]


def cursor_of(created_at: datetime, id: str) -> str:
    return Cursor(created_at, id).encode()


def forward_page(
    rows: Sequence[T], limit: int, position: Position[T]
) -> tuple[list[T], str | None]:
    """The page in ``rows`` (fetched with ``limit + 1``, in the query's order) and the cursor
    of the next page: None when the extra row did not come, so nothing follows."""
    items = list(rows[:limit])
    more = len(rows) > limit
    return items, cursor_of(*position(items[-1])) if more and items else None


def backward_page(
    rows_oldest_first: Sequence[T], limit: int, position: Position[T]
) -> tuple[list[T], str | None]:
    """The page in ``rows_oldest_first`` (``limit + 1`` rows fetched newest first, then
    reversed) and the cursor of the page before it: None when the extra, oldest row did not
    come, so nothing precedes."""
    more = len(rows_oldest_first) > limit
    items = list(rows_oldest_first[1:] if more else rows_oldest_first)
    return items, cursor_of(*position(items[0])) if more and items else None
