"""Hot reads: the few GET routes answered before the framework's routing and validation.

A hot read is an ordinary route function, also registered with FastAPI (which documents it and
answers everything the hot path does not). The outermost middleware calls it directly when the
request is one it can take as it is: a matching path, only known query parameters, each once and
in its plainest form. It answers only successes: any error (a missing project, a bad cursor, the
database down) makes it step aside, and the same request then goes through FastAPI, which gives
the answer it always gives. So behaviour cannot differ; only the cost of a common request does.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import QueryParams
from starlette.responses import Response

_DIGITS = re.compile(r"[0-9]{1,6}")


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """A query integer within [low, high], written as plain digits (else the route decides)."""

    def parse(value: str) -> int:
        if not _DIGITS.fullmatch(value) or not low <= int(value) <= high:
            raise ValueError(value)
        return int(value)

    return parse


def text(value: str) -> str:
    return value


def flag(value: str) -> bool:
    if value not in ("true", "false"):
        raise ValueError(value)
    return value == "true"


@dataclass(frozen=True)
class HotRead:
    """``path`` is the route's template, as FastAPI's (``/api/projects/{project_id}``)."""

    path: str
    endpoint: Callable[..., Awaitable[Response]]
    query: Mapping[str, Callable[[str], Any]] = field(default_factory=dict)
    segments: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", tuple(self.path.split("/")))

    def path_params(self, path: str) -> dict[str, str] | None:
        parts = path.split("/")
        if len(parts) != len(self.segments):
            return None
        params = {}
        for pattern, part in zip(self.segments, parts, strict=True):
            if pattern.startswith("{"):
                if not part:
                    return None
                params[pattern[1:-1]] = part
            elif pattern != part:
                return None
        return params

    def query_params(self, query_string: bytes) -> dict[str, Any] | None:
        if not query_string:
            return {}
        items = QueryParams(query_string).multi_items()
        parsed: dict[str, Any] = {}
        for name, value in items:
            parser = self.query.get(name)
            if parser is None or name in parsed:
                return None
            try:
                parsed[name] = parser(value)
            except ValueError:
                return None
        return parsed

    async def answer(self, scope: Mapping[str, Any]) -> Response | None:
        """The route's success answer to this request, or None: let the framework answer."""
        params = self.path_params(scope["path"])
        if params is None:
            return None
        query = self.query_params(scope["query_string"])
        if query is None:
            return None
        try:
            response = await self.endpoint(**params, **query)
        except Exception:
            # Not lost: the same request now goes through FastAPI, whose handlers answer (and
            # log) this error as they answer every other.
            return None
        return response if response.status_code < 400 else None
