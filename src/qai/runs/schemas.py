from __future__ import annotations

from pydantic import Field

from qai.common.schemas import Schema, Timestamp
from qai.runs.models import RunStatus, StepOutcome


class RunStepOut(Schema):
    run_id: str
    seq: int = Field(description="1, 2, ... in the order the agent called its tools.")
    kind: str = Field(description="terminal, write, read, or model (one model call).")
    label: str = Field(examples=["Writing app/page.tsx", "Running npm install ..."])
    started_at: Timestamp
    finished_at: Timestamp | None
    outcome: StepOutcome | None = Field(description="ok or failed; null while running.")
    detail: str | None = Field(description="What went wrong, for a failed step.")
    attempts: int = Field(description="Above 1 only if a worker died during the step.")
    input_tokens: int | None = Field(
        default=None, description="A model step's input tokens; null for tool steps."
    )
    output_tokens: int | None = Field(
        default=None, description="A model step's output tokens; null for tool steps."
    )
    retry: int | None = Field(
        default=None,
        description="A model step sent again after a failure that may pass (5xx, 429, a "
        "timeout): which retry, 1, 2, ...; null when the call needed none.",
    )
    max_retries: int | None = Field(
        default=None,
        description="How many retries the call may have (QAI_MODEL_MAX_RETRIES), with retry.",
    )


class RunOut(Schema):
    id: str = Field(description="The run's id: the id of the USER message it answers.")
    project_id: str
    message_id: str
    status: RunStatus
    model: str | None
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    input_tokens: int
    output_tokens: int
    turns: int = Field(description="Model requests made.")
    error: str | None = Field(description="Why the run failed, in plain words.")
    cancel_requested_at: Timestamp | None = Field(
        default=None, description="When Stop was asked for (the run ends within seconds)."
    )
    preview_url: str | None = Field(
        default=None,
        description="The run's sandbox's preview while it builds (live: it reloads as files "
        "change); null before the sandbox is up.",
    )
    answer_message_id: str | None = Field(description="The ASSISTANT message it wrote.")


class RunDetail(RunOut):
    steps: list[RunStepOut]


class RunPage(Schema):
    items: list[RunOut] = Field(description="Newest first.")
    next_cursor: str | None = Field(description="Pass as ?cursor= for older runs.")


class ModelOut(Schema):
    id: str = Field(
        examples=["openai:gpt-4.1"], description="provider:model, as QAI_MODELS names it."
    )
    default: bool = Field(description="The model of a run that names none (QAI_MODEL).")
    available: bool = Field(description="False: the server cannot build it (``problem`` says why).")
    problem: str | None = Field(default=None, description="Why it cannot be used, and the fix.")


class ModelList(Schema):
    items: list[ModelOut] = Field(
        description="The models a run may use, the default first (QAI_MODEL, QAI_MODELS); empty "
        "when none is configured. More than one: the prompt boxes offer a picker."
    )
