"""Keyset pagination: opaque cursors over (createdAt, id), stable under equal timestamps."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
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
            return cls(created_at=datetime.fromisoformat(stamp), id=ident)
        except (ValueError, UnicodeDecodeError, binascii.Error):
            raise InvalidCursor(
                "Invalid cursor: pass a nextCursor value from a previous page"
            ) from None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None
    prev_cursor: str | None = None
