"""A small server-sent-events reader for tests (and the UI tests that reuse it)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class ServerEvent:
    id: int | None
    kind: str
    data: Any


async def read_events(response: httpx.Response) -> AsyncIterator[ServerEvent]:
    """Events of a ``text/event-stream`` response as they arrive (comments skipped)."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line == "":
            if "data" in fields or "event" in fields:
                yield ServerEvent(
                    id=int(fields["id"]) if fields.get("id") else None,
                    kind=fields.get("event", "message"),
                    data=json.loads(fields["data"]) if fields.get("data") else None,
                )
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        fields[name] = value.removeprefix(" ")


async def collect(response: httpx.Response, *, until: Any, limit: int = 500) -> list[ServerEvent]:
    """Events up to and including the first for which ``until(event)`` is true."""
    seen: list[ServerEvent] = []
    async for event in read_events(response):
        seen.append(event)
        if until(event) or len(seen) >= limit:
            break
    return seen
