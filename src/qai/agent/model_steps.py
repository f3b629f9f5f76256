"""Model calls as visible steps: each request the agent makes to its model is a run step of
kind ``model`` (its turn, its tokens, its time), shown live beside the tool calls.

A request that fails for a reason that may pass (a 5xx, a 429, a timeout, a dropped connection)
is retried here, not by the provider's client, so that each retry is seen: the step says
"retry 1 of 2" while it waits for the model again.

The capability's hook runs in workflow code around the durable model call; the writes it makes
are steps themselves and the wait between attempts is a durable sleep, so a resumed run replays
them from their checkpoints (a failed attempt's error included) instead of recording them
again, and numbers its steps as the first execution did.
"""

from __future__ import annotations

from dataclasses import dataclass

from dbos import DBOS
from pydantic_ai import RunContext
from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.capabilities.abstract import WrapModelRequestHandler
from pydantic_ai.exceptions import (
    ModelAPIError,
    ModelConnectionError,
    ModelHTTPError,
    ModelRateLimitError,
    ModelServerError,
    ModelUnavailableError,
    RetryModelRequest,
)
from pydantic_ai.messages import ModelResponse
from pydantic_ai.models import ModelRequestContext

from qai.agent.tools import AgentDeps, StepLog

# The wait before retry n is FIRST_BACKOFF * 2**(n-1) seconds, at most MAX_BACKOFF (a
# provider's Retry-After, when it sends one, within the same bound).
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 8.0
_RETRIED_STATUSES = frozenset({408, 409, 429})


def model_label(turn: int) -> str:
    return f"Asking the model (turn {turn})"


def may_pass(exc: BaseException) -> bool:
    """Whether sending the same request again may succeed (what provider clients retry)."""
    if isinstance(
        exc, ModelRateLimitError | ModelUnavailableError | ModelServerError | ModelConnectionError
    ):
        return True
    return isinstance(exc, ModelHTTPError) and (
        exc.status_code >= 500 or exc.status_code in _RETRIED_STATUSES
    )


def backoff_seconds(retry: int, exc: BaseException) -> float:
    """How long to wait before retry ``retry`` (1, 2, ...) after ``exc``."""
    asked: float | None = exc.retry_after if isinstance(exc, ModelAPIError) else None
    if asked is not None and asked >= 0:
        return min(asked, MAX_BACKOFF_SECONDS)
    return min(FIRST_BACKOFF_SECONDS * 2.0 ** (retry - 1), MAX_BACKOFF_SECONDS)


@DBOS.step(name="qai.agent.model_started")
async def model_started_step(steps: StepLog, seq: int, turn: int) -> None:
    await steps.started(seq, "model", model_label(turn))


@DBOS.step(name="qai.agent.model_retrying")
async def model_retrying_step(steps: StepLog, seq: int, retry: int, max_retries: int) -> None:
    await steps.retrying(seq, retry=retry, max_retries=max_retries)


@DBOS.step(name="qai.agent.model_finished")
async def model_finished_step(
    steps: StepLog,
    seq: int,
    ok: bool,
    detail: str | None,
    input_tokens: int | None,
    output_tokens: int | None,
) -> None:
    await steps.finished(
        seq, ok=ok, detail=detail, input_tokens=input_tokens, output_tokens=output_tokens
    )


@dataclass
class ModelSteps(AbstractCapability[AgentDeps]):
    """Records every model request of a run as one of its steps, and retries a failed attempt
    up to ``max_retries`` times (the model's client must not retry it too)."""

    max_retries: int = 0

    async def wrap_model_request(
        self,
        ctx: RunContext[AgentDeps],
        *,
        request_context: ModelRequestContext,
        handler: WrapModelRequestHandler,
    ) -> ModelResponse:
        deps = ctx.deps
        seq = deps.next_seq()
        deps.model_turns += 1
        deps.model_step = seq
        await model_started_step(deps.steps, seq, deps.model_turns)
        try:
            response = await handler(request_context)
        except Exception as exc:
            await model_finished_step(deps.steps, seq, False, str(exc)[:500], None, None)
            raise
        usage = response.usage
        await model_finished_step(
            deps.steps, seq, True, None, usage.input_tokens, usage.output_tokens
        )
        return response

    async def on_model_request_error(
        self,
        ctx: RunContext[AgentDeps],
        *,
        request_context: ModelRequestContext,
        error: Exception,
    ) -> ModelResponse:
        retry = request_context.attempt
        if retry > self.max_retries or not may_pass(error):
            raise error
        deps = ctx.deps
        await model_retrying_step(deps.steps, deps.model_step, retry, self.max_retries)
        await DBOS.sleep_async(backoff_seconds(retry, error))
        raise RetryModelRequest()
