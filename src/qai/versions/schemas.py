"""The JSON API's versions. Imported by the API client: no ORM, no server."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from qai.common.schemas import Input, Schema, Timestamp
from qai.messages.schemas import FragmentOut, MessageOut

Origin = Literal["agent", "restore", "edit", "fork"]


class VersionOut(Schema):
    number: int = Field(description="v1, v2, ... in order of creation within the project.")
    fragment_id: str
    message_id: str
    project_id: str
    title: str
    summary: str | None
    created_at: Timestamp
    origin: Origin = Field(
        description="Who made it: the agent's run, a restore, a hand edit, or a fork."
    )
    based_on: str | None = Field(
        description="The fragment a restore, an edit or a fork was made from."
    )
    author: str | None = Field(description="The person who made it, where known.")
    check: dict[str, Any] | None = Field(description="The app check's result, if any.")
    unfinished: bool = Field(description="Files a run left when it ended in an error.")
    prompt: str | None = Field(description="The message the agent answered with this version.")


class VersionPage(Schema):
    items: list[VersionOut] = Field(description="Oldest first.")
    next_after: int | None = Field(description="Pass as ?after= for the next page.")


class FragmentWithVersion(FragmentOut):
    version: VersionOut


class MessageWithVersion(MessageOut):
    fragment: FragmentWithVersion | None = None


class FragmentEdit(Input):
    files: dict[str, str | None] = Field(
        description="Path -> its new content, or null to delete the file.",
        examples=[{"index.html": "<h1>Hello</h1>", "old.js": None}],
    )


class FileDiffOut(Schema):
    path: str
    status: Literal["added", "removed", "changed"]
    additions: int
    deletions: int
    diff: str = Field(description="A unified diff with a/ and b/ headers.")


class ComparisonOut(Schema):
    version: VersionOut
    against: VersionOut | None = Field(description="What it is compared with; null: nothing.")
    files: list[FileDiffOut]
