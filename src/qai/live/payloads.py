"""What a live event is on the wire: its kind, its JSON payload, its SSE encoding.

By contract a payload is the JSON API's own representation of what changed (``message.created``
carries a ``MessageOut`` whose fragment comes without its files, ``filesOmitted`` true: clients
fetch them by the fragment's id; ``run.updated`` a ``RunOut``, ``run.step`` a ``RunStepOut``;
see docs/agent.md): a client renders an event as it renders the same object read over the API.
The domain that changed builds it; this package only stores and streams it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import BaseModel

EventKind = Literal["message.created", "run.updated", "run.step"]
Payload = dict[str, Any]


def payload_of(representation: BaseModel) -> Payload:
    """An API representation as an event's JSON payload."""
    return representation.model_dump(mode="json")


@dataclass(frozen=True)
class StreamedEvent:
    id: int
    kind: str
    data: Payload

    def encode(self) -> bytes:
        return (
            f"id: {self.id}\nevent: {self.kind}\ndata: ".encode()
            + orjson.dumps(self.data)
            + b"\n\n"
        )
