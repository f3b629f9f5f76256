"""Model calls as visible steps: each request the agent makes to its model is a run step of
kind ``model`` (its turn, its tokens, its time), shown live beside the tool calls.

The capability's hook runs in workflow code around the durable model call; the two writes it
makes are steps themselves, so a resumed run replays them from their checkpoints instead of
recording them again, and numbers its steps as the first execution did.
"""

from __future__ import annotations

from dataclasses import dataclass

from dbos import DBOS
from pydantic_ai import RunContext
from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.capabilities.abstract import WrapModelRequestHandler
from pydantic_ai.messages import ModelResponse
from pydantic_ai.models import ModelRequestContext

from qai.agent.tools import AgentDeps, StepLog


def model_label(turn: int) -> str:
    return f"Asking the model (turn {turn})"


@DBOS.step(name="qai.agent.model_started")
async def model_started_step(steps: StepLog, seq: int, turn: int) -> None:
    await steps.started(seq, "model", model_label(turn))


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
    """Records every model request of a run as one of its steps."""

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
