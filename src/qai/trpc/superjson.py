"""superjson (v2) as the original's tRPC transformer writes and reads it.

A value travels as ``{"json": <plain JSON>, "meta": {"values": <annotations>, "v": 1}}``: the
annotations name where a value JSON cannot hold sits (a ``Date`` as its ISO string, ``undefined``
as nothing) by a dotted path (``"0.fragment.createdAt"``; dots and backslashes in keys escaped),
and ``meta`` is absent when there is nothing to annotate. ``meta.v`` 1 is superjson 2.2's path
syntax; a payload without it uses the older, unescaped one.

QAI's answers carry dates only at places their encoders know, so they write their annotations
themselves (see :class:`Annotated`); :func:`serialize` is the general walk, for anything else.
Inputs come from the client's ``superjson.serialize``: :func:`deserialize` applies the value
annotations a JSON input can carry and refuses the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from qai.common.schemas import iso_utc

Annotations = dict[str, list[str]]


class InvalidPayload(ValueError):
    """A superjson payload this server cannot read; its text is the client's to see."""


@dataclass(frozen=True, slots=True)
class Annotated:
    """A JSON-ready value with its superjson annotations already known (dates written with
    :func:`qai.common.schemas.iso_utc`)."""

    json: Any
    values: Annotations

    def envelope(self) -> dict[str, Any]:
        if not self.values:
            return {"json": self.json}
        return {"json": self.json, "meta": {"values": self.values, "v": 1}}


def escape_key(key: str) -> str:
    return key.replace("\\", "\\\\").replace(".", "\\.")


def serialize(value: Any) -> dict[str, Any]:
    """``superjson.serialize(value)``, for the values QAI answers with: JSON values, datetimes
    (naive ones are UTC, as both engines store them), ``orjson.Fragment`` (passed as it is)."""
    values: Annotations = {}
    root: list[str] = []
    plain = _walk(value, "", values, root)
    meta_values: Any = root if root else values
    if not root and not values:
        return {"json": plain}
    return {"json": plain, "meta": {"values": meta_values, "v": 1}}


def _walk(value: Any, path: str, values: Annotations, root: list[str]) -> Any:
    if isinstance(value, dict):
        prefix = f"{path}." if path else ""
        return {
            key: _walk(item, prefix + escape_key(key), values, root) for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        prefix = f"{path}." if path else ""
        return [_walk(item, f"{prefix}{index}", values, root) for index, item in enumerate(value)]
    if isinstance(value, datetime):
        _annotate(path, "Date", values, root)
        return iso_utc(
            value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)
        )
    return value


def _annotate(path: str, kind: str, values: Annotations, root: list[str]) -> None:
    if path:
        values[path] = [kind]
    else:
        root.append(kind)


def deserialize(payload: Any) -> Any:
    """The value a client's ``superjson.serialize`` output stands for. Dates become aware UTC
    datetimes, ``undefined`` becomes :data:`UNDEFINED`; other annotations (maps, sets, classes,
    referential equalities) are refused with :class:`InvalidPayload`."""
    if not isinstance(payload, Mapping):
        raise InvalidPayload("Expected a superjson payload: an object with json and meta")
    value = payload.get("json", UNDEFINED)
    meta = payload.get("meta")
    if meta is None:
        return value
    if not isinstance(meta, Mapping):
        raise InvalidPayload("superjson meta must be an object")
    if meta.get("referentialEqualities") is not None:
        raise InvalidPayload("superjson referential equalities are not supported")
    annotations = meta.get("values")
    if annotations is None:
        return value
    legacy = meta.get("v", 0) != 1
    for path, kind in _annotation_leaves(annotations, [], legacy):
        value = _set_at(value, path, lambda item, kind=kind: _untransform(item, kind))
    return value


class _Undefined:
    """JavaScript's ``undefined``: a missing input, as zod sees it."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "undefined"

    def __bool__(self) -> bool:
        return False


UNDEFINED: Any = _Undefined()


def _annotation_leaves(tree: Any, origin: list[str], legacy: bool) -> list[tuple[list[str], str]]:
    """Each annotated path with its type, as superjson's ``traverse`` walks its minimised tree
    (children before the node itself)."""
    if isinstance(tree, Mapping):
        found = []
        for key, subtree in tree.items():
            found += _annotation_leaves(subtree, [*origin, *parse_path(str(key), legacy)], legacy)
        return found
    if not isinstance(tree, list) or not tree:
        raise InvalidPayload("superjson meta.values is malformed")
    node, *children = tree
    found = []
    if children and children[0] is not None:
        if not isinstance(children[0], Mapping):
            raise InvalidPayload("superjson meta.values is malformed")
        for key, child in children[0].items():
            found += _annotation_leaves(child, [*origin, *parse_path(str(key), legacy)], legacy)
    if not isinstance(node, str):
        raise InvalidPayload(f"superjson annotation {orjson.dumps(node).decode()} is not supported")
    found.append((origin, node))
    return found


def parse_path(text: str, legacy: bool) -> list[str]:
    """superjson's ``parsePath``: segments split at unescaped dots."""
    segments: list[str] = []
    segment = ""
    index = 0
    while index < len(text):
        char = text[index]
        following = text[index + 1] if index + 1 < len(text) else ""
        if not legacy and char == "\\":
            if following == "\\":
                segment += "\\"
                index += 2
                continue
            if following != ".":
                raise InvalidPayload("superjson path is malformed")
        if char == "\\" and following == ".":
            segment += "."
            index += 2
            continue
        if char == ".":
            segments.append(segment)
            segment = ""
        else:
            segment += char
        index += 1
    segments.append(segment)
    return segments


def _set_at(value: Any, path: list[str], change: Any) -> Any:
    if not path:
        return change(value)
    head, *rest = path
    if isinstance(value, list) and head.isdigit() and int(head) < len(value):
        value[int(head)] = _set_at(value[int(head)], rest, change)
    elif isinstance(value, dict) and head in value:
        value[head] = _set_at(value[head], rest, change)
    else:
        raise InvalidPayload("superjson annotation points at nothing")
    return value


def _untransform(value: Any, kind: str) -> Any:
    if kind == "undefined":
        return UNDEFINED
    if kind == "Date" and isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            raise InvalidPayload(f"Invalid date {value!r}") from None
    if kind == "bigint" and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    if kind == "number" and value in ("NaN", "Infinity", "-Infinity"):
        return float(value.replace("Infinity", "inf"))
    raise InvalidPayload(f"superjson type {kind!r} is not supported in an input")
