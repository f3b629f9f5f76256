"""The code agent: a pydantic-ai agent whose model calls are durable steps (DBOS), run until the
model ends with a ``<task_summary>``, a turn limit or a time limit."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic_ai import Agent, ModelRetry, RunContext
from pydantic_ai.durable_exec.dbos import DBOSDurability
from pydantic_ai.exceptions import RunTimedOut, UsageLimitExceeded
from pydantic_ai.messages import ModelMessage
from pydantic_ai.models import Model
from pydantic_ai.settings import ModelSettings
from pydantic_ai.usage import RunUsage, UsageLimits

from qai.agent.memory import PastMessage, conversation_history
from qai.agent.model_steps import ModelSteps
from qai.agent.prompts import existing_files_note, system_prompt
from qai.agent.tools import TOOLS, AgentDeps
from qai.llm import describe_failure

# Part of every durable step's name: changing it orphans runs interrupted under the old name.
AGENT_NAME = "qai_code_agent"

_SUMMARY = re.compile(r"<task_summary>(.*?)(?:</task_summary>|$)", re.DOTALL)

KEEP_GOING = (
    "You have not finished: there is no <task_summary> in your reply. Continue the task with "
    "the tools; when the app is complete, reply with a short summary inside "
    "<task_summary></task_summary>."
)


def extract_summary(text: str) -> str | None:
    found = _SUMMARY.search(text)
    if found is None:
        return None
    summary = found.group(1).strip()
    return summary or None


def _require_summary(ctx: RunContext[AgentDeps], output: str) -> str:
    if extract_summary(output) is None:
        raise ModelRetry(KEEP_GOING)
    return output


def build_code_agent(
    model: Model | None, settings: ModelSettings, others: Mapping[str, Model] | None = None
) -> Agent[AgentDeps, str]:
    """One per process: its durable steps are registered when it is built. ``model`` is the
    default; a run may use one of ``others`` instead (by id, as ``run_code_agent``'s
    ``model``), which share the durable steps' names. The models' requests are retried by QAI
    (``settings``' ``max_retries`` times, each retry shown on the step), not by the
    providers' clients."""
    retries = settings.get("max_retries", 0)
    agent: Agent[AgentDeps, str] = Agent(
        model,
        name=AGENT_NAME,
        deps_type=AgentDeps,
        tools=TOOLS,
        model_settings={**settings, "max_retries": 0},
        # One step at a time: steps are numbered as they start, so tool calls that ran in
        # parallel could not be replayed into the right places after a crash.
        capabilities=[
            ModelSteps(max_retries=retries),
            DBOSDurability(models=others or None, parallel_execution_mode="sequential"),
        ],
    )
    agent.output_validator(_require_summary)
    return agent


STOPPED = "Stopped: you asked QAI to stop this run, so the agent did not finish the app."


@dataclass(frozen=True)
class StopWatch:
    """How a run learns that someone pressed Stop: ``requested`` is asked every
    ``every_seconds`` while the agent works (the request may come through any process)."""

    requested: Callable[[], Awaitable[bool]]
    every_seconds: float


@dataclass(frozen=True)
class AgentTask:
    prompt: str
    template: str
    history: list[PastMessage]
    memory_chars: int
    max_turns: int
    timeout_seconds: float
    # This run's conversation so far, when ``prompt`` continues it (a fix after the app
    # check): then it replaces ``history``.
    continues: list[ModelMessage] | None = None


T = TypeVar("T")


@dataclass(frozen=True)
class AgentOutcome:
    """A summary on success; otherwise ``failure`` says what went wrong and what to do."""

    summary: str | None
    failure: str | None
    turns: int
    input_tokens: int
    output_tokens: int
    # The conversation of this call (rebuilt the same on replay); empty after a failure.
    messages: list[ModelMessage] = field(default_factory=list)
    stopped: bool = False


async def until_stopped(work: Awaitable[T], stop: StopWatch) -> tuple[T | None, bool]:
    """``work``'s result, or (None, True) once a stop is requested: the work (a model call, a
    sandbox command) is cancelled where it is. A cancel of the caller (shutdown) cancels the
    work too and propagates."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            if await stop.requested():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                return None, True
            done, _ = await asyncio.wait({task}, timeout=stop.every_seconds)
            if done:
                return task.result(), False
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def run_code_agent(
    agent: Agent[AgentDeps, str],
    deps: AgentDeps,
    task: AgentTask,
    *,
    model_id: str | None,
    model: Model | None = None,
    stop: StopWatch | None = None,
) -> AgentOutcome:
    """Run the agent inside the current durable workflow, with ``model`` (one it was built
    with; None: its default). Never raises for a failed run; a stopped one ends with
    ``stopped`` and the ``STOPPED`` failure."""
    usage = RunUsage()
    instructions = [system_prompt(task.template)]
    note = existing_files_note(deps.base_files)
    if note:
        instructions.append(note)
    summary: str | None = None
    failure: str | None = None
    messages: list[ModelMessage] = []
    history = (
        task.continues
        if task.continues is not None
        else conversation_history(task.history, task.memory_chars)
    )
    stopped = False

    async def work() -> tuple[str | None, list[ModelMessage]]:
        result = await agent.run(
            task.prompt,
            model=model,
            deps=deps,
            instructions="\n\n".join(instructions),
            message_history=history or None,
            usage=usage,
            usage_limits=UsageLimits(request_limit=task.max_turns),
            retries={"tools": 3, "output": task.max_turns},
            timeout=task.timeout_seconds,
        )
        return extract_summary(result.output), result.all_messages()

    try:
        if stop is None:
            summary, messages = await work()
        else:
            done, stopped = await until_stopped(work(), stop)
            if stopped:
                failure = STOPPED
            else:
                assert done is not None
                summary, messages = done
    except UsageLimitExceeded:
        failure = (
            f"The agent used all of its {task.max_turns} model turns without finishing the app. "
            "Try a smaller request or split it into steps (the limit is QAI_RUN_MAX_TURNS)."
        )
    except RunTimedOut:
        failure = (
            f"The agent ran out of time ({task.timeout_seconds:g} seconds) before finishing. "
            "Try a smaller request (the limit is QAI_RUN_TIMEOUT_SECONDS)."
        )
    except Exception as exc:
        failure = describe_failure(exc, model_id=model_id) or (
            f"The run failed: {exc}. Send your message again; if it keeps failing, check the "
            "server's log."
        )
    return AgentOutcome(
        summary=summary,
        failure=failure,
        turns=usage.requests,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        messages=messages,
        stopped=stopped,
    )
