"""Pieces every JSON schema shares: camelCase names, ISO 8601 UTC timestamps, the error shape."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel


def iso_utc(value: datetime) -> str:
    """``2025-10-19T20:01:48.123Z``, as JavaScript's ``toISOString`` writes it (values are naive
    UTC, as both engines store them)."""
    if value.tzinfo is None and value.year >= 1000:
        return value.isoformat(timespec="milliseconds") + "Z"
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


Timestamp = Annotated[datetime, PlainSerializer(iso_utc, return_type=str, when_used="json")]


class Schema(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
        from_attributes=True,
    )


class Input(BaseModel):
    """A request body: unknown fields are ignored, as tRPC's zod objects do."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class ErrorDetail(BaseModel):
    code: str = Field(examples=["BAD_REQUEST"])
    message: str = Field(examples=["Prompt is required"])
    issues: list[dict[str, Any]] | None = Field(
        default=None, description="One entry per invalid field: its path and message."
    )
    request_id: str | None = Field(default=None, alias="requestId")


class ErrorResponse(BaseModel):
    """Every error, whatever its cause, has this shape."""

    error: ErrorDetail
