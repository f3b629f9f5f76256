"""Hot reads and writes: the few routes answered before the framework's routing and validation.

A hot read is an ordinary route function, also registered with FastAPI (which documents it and
answers everything the hot path does not). The outermost middleware calls it directly, with the
process's database as its ``db``, when the request is one it can take as it is: a matching path,
only known query parameters, each once and in its plainest form (anything else, such as a limit
out of range, goes to FastAPI, whose validation answers it). What the function raises is
answered by the middleware as FastAPI's handlers answer it (a QAI error in the error shape, any
other as a logged 500): the read runs once, and behaviour cannot differ from FastAPI's; only the
cost of a common request does.

A hot write (:class:`HotWrite`) is the same for the creates (``POST``): the middleware reads the
body (its Content-Length within the body limit) and calls the write's function with it; the
function answers, or returns None for a request it does not take as it is (a body with more
than a prompt, say), before it has written anything, and FastAPI then answers it from the same
body.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import QueryParams
from starlette.responses import Response

from qai.db import Database
from qai.llm import Models
from qai.settings import Settings

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
        return _path_params(self.segments, path)

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

    def arguments(self, scope: Mapping[str, Any]) -> dict[str, Any] | None:
        """The route function's arguments for this request (``db`` aside), or None: the request
        is not one this hot read takes as it is."""
        params = self.path_params(scope["path"])
        if params is None:
            return None
        query = self.query_params(scope["query_string"])
        if query is None:
            return None
        return {**params, **query}

    async def answer(self, arguments: Mapping[str, Any], db: Database) -> Response:
        """The route's answer; raises what the route raises."""
        return await self.endpoint(db=db, **arguments)


@dataclass(frozen=True)
class WriteRequest:
    """What a hot write's function is given: the request as read, and the process's parts."""

    path_params: Mapping[str, str]
    query_string: bytes
    content_type: str | None
    body: bytes
    database: Database
    settings: Settings
    models: Models


@dataclass(frozen=True)
class HotWrite:
    """A ``POST`` of ``path`` (a route template, as FastAPI's) answered by ``endpoint``."""

    path: str
    endpoint: Callable[[WriteRequest], Awaitable[Response | None]]
    segments: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", tuple(self.path.split("/")))

    def path_params(self, path: str) -> dict[str, str] | None:
        return _path_params(self.segments, path)


def _path_params(segments: tuple[str, ...], path: str) -> dict[str, str] | None:
    """The path's parameters if it matches the route template's ``segments`` (None if not)."""
    parts = path.split("/")
    if len(parts) != len(segments):
        return None
    params = {}
    for pattern, part in zip(segments, parts, strict=True):
        if pattern.startswith("{"):
            if not part:
                return None
            params[pattern[1:-1]] = part
        elif pattern != part:
            return None
    return params
