"""What the model remembers of a project's conversation: the newest messages that fit a size
budget, oldest dropped first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelRequestPart,
    ModelResponse,
    ModelResponsePart,
    TextPart,
    UserPromptPart,
)


@dataclass(frozen=True)
class PastMessage:
    """One earlier message of the project, as the agent sees it."""

    role: str  # USER | ASSISTANT
    content: str
    failed: bool = False

    @property
    def text(self) -> str:
        if self.failed:
            return f"(That attempt failed: {self.content})"
        return self.content


def conversation_history(past: Sequence[PastMessage], budget_chars: int) -> list[ModelMessage]:
    """The newest messages of ``past`` (oldest first) whose text fits in ``budget_chars``,
    as model messages that start with the user's side."""
    kept: list[PastMessage] = []
    used = 0
    for message in reversed(past):
        size = len(message.text)
        if used + size > budget_chars:
            break
        kept.append(message)
        used += size
    kept.reverse()
    while kept and kept[0].role != "USER":
        kept.pop(0)

    history: list[ModelMessage] = []
    for message in kept:
        if message.role == "USER":
            request_part: ModelRequestPart = UserPromptPart(message.text)
            last = history[-1] if history else None
            if isinstance(last, ModelRequest):
                history[-1] = ModelRequest(parts=[*last.parts, request_part])
            else:
                history.append(ModelRequest(parts=[request_part]))
        else:
            response_part: ModelResponsePart = TextPart(message.text)
            last = history[-1] if history else None
            if isinstance(last, ModelResponse):
                history[-1] = ModelResponse(parts=[*last.parts, response_part])
            else:
                history.append(ModelResponse(parts=[response_part]))
    return history
