"""The original's zod inputs: objects of strings with a minimum and a maximum length, refused
with zod 4's issues (the tRPC message of a refused input is ``JSON.stringify(issues, null, 2)``).

The limits and texts are the JSON API's own (``qai.messages.rules``, ``qai.common.ids``); the
services check them again, with QAI's stricter rules (a blank prompt, a NUL).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qai.common.ids import PROJECT_ID_REQUIRED
from qai.messages.rules import PROMPT_MAX, PROMPT_REQUIRED, PROMPT_TOO_LONG
from qai.trpc.protocol import TrpcError, issues_message
from qai.trpc.superjson import UNDEFINED


@dataclass(frozen=True, slots=True)
class Text:
    """``z.string().min(1, {message: required})`` (and ``.max(maximum, {message: too_long})``)."""

    required: str
    maximum: int | None = None
    too_long: str = ""


PROJECT_ID = Text(PROJECT_ID_REQUIRED)
PROMPT = Text(PROMPT_REQUIRED, PROMPT_MAX, PROMPT_TOO_LONG)


def _kind(value: Any) -> str:
    """What zod says it received."""
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    return "unknown"


def _invalid_type(expected: str, value: Any, path: list[str]) -> dict[str, Any]:
    return {
        "expected": expected,
        "code": "invalid_type",
        "path": path,
        "message": f"Invalid input: expected {expected}, received {_kind(value)}",
    }


def parse_object(value: Any, fields: dict[str, Text]) -> dict[str, str]:
    """``z.object(fields).parse(value)``: the fields' strings (unknown keys dropped), or a
    BAD_REQUEST carrying every issue in the fields' order."""
    if not isinstance(value, dict):
        raise TrpcError("BAD_REQUEST", issues_message([_invalid_type("object", value, [])]))
    issues: list[dict[str, Any]] = []
    parsed: dict[str, str] = {}
    for name, rule in fields.items():
        item = value.get(name, UNDEFINED)
        if not isinstance(item, str):
            issues.append(_invalid_type("string", item, [name]))
            continue
        if len(item) < 1:
            issues.append(_length("too_small", "minimum", 1, name, rule.required))
        elif rule.maximum is not None and len(item) > rule.maximum:
            issues.append(_length("too_big", "maximum", rule.maximum, name, rule.too_long))
        parsed[name] = item
    if issues:
        raise TrpcError("BAD_REQUEST", issues_message(issues))
    return parsed


def _length(code: str, bound: str, limit: int, name: str, message: str) -> dict[str, Any]:
    return {
        "origin": "string",
        "code": code,
        bound: limit,
        "inclusive": True,
        "path": [name],
        "message": message,
    }
