"""The app check of a run and its bounded fixes: once the agent ends with its summary, the app is
opened in the browser (a durable step, shown as a step of the run); when it fails, the same run
gives the agent the problems as a new turn, at most ``run_max_fixes`` times, then checks again.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from dbos import DBOS
from pydantic_ai import Agent
from pydantic_ai.models import Model

from qai.agent import (
    STOPPED,
    AgentDeps,
    AgentOutcome,
    AgentTask,
    SandboxSpec,
    StepLog,
    StopWatch,
    run_code_agent,
    until_stopped,
)
from qai.checks import CheckResult, Chromium, Problem, check_app
from qai.errors import QaiError

log = logging.getLogger("qai.runs")

FIX_PROMPT = (
    "QAI opened the app in a browser to check it, and it does not work. The problems it "
    "found, with the error text as the browser or the compiler gave it:\n{problems}\n\n"
    "Fix the cause of each one (read the files involved first), keep everything else as it is, "
    "and when the app works reply with a new <task_summary>."
)
STILL_BROKEN = (
    "I built the app, but it still has errors: QAI opened it in a browser and found "
    "{count}{after}:\n{problems}\n\nThe files are kept. Use **Try to fix** to let the agent "
    "try again, or tell me what to change."
)
CHECKS_OFF = "App checks are off (QAI_CHECK_ENABLED=false)."
NOT_CHECKED = "(QAI could not open the app to check it: {reason})"


@dataclass(frozen=True)
class CheckPlan:
    """How a run checks its app: the process's browser and the run's limits."""

    browser: Chromium
    enabled: bool
    timeout_seconds: float
    max_fixes: int


@DBOS.step(name="qai.run.check")
async def check_step(
    spec: SandboxSpec,
    seed: Mapping[str, str],
    steps: StepLog,
    seq: int,
    plan: CheckPlan,
    attempt: int,
) -> CheckResult:
    """Open the run's app (its sandbox rebuilt from ``seed`` if it is gone) and check it."""
    label = "Checking the app in a browser" + (f" (after fix {attempt - 1})" if attempt > 1 else "")
    await steps.started(seq, "check", label)
    try:
        sandbox = await spec.open(seed)
        result = await check_app(
            sandbox,
            browser=plan.browser,
            seconds=plan.timeout_seconds,
            enabled=plan.enabled,
            attempt=attempt,
        )
    except QaiError as exc:
        result = CheckResult(
            "failed",
            [Problem.of("http", f"The app's sandbox could not run it: {exc.message}")],
            attempt=attempt,
        )
    except Exception as exc:
        await steps.finished(seq, ok=False, detail=f"the check failed: {exc}")
        raise
    await steps.finished(seq, ok=result.status != "failed", detail=_detail(result))
    return result


def _detail(result: CheckResult) -> str | None:
    if result.status == "skipped":
        return result.reason
    if result.status == "failed":
        return "; ".join(problem.describe() for problem in result.problems)[:500]
    return None


@dataclass(frozen=True)
class Checked:
    """The agent's last outcome (its summary, the usage of every attempt summed) and the check
    of the files as they are at the end."""

    outcome: AgentOutcome
    check: CheckResult
    fixes: int


async def check_and_fix(
    plan: CheckPlan,
    agent: Agent[AgentDeps, str],
    deps: AgentDeps,
    task: AgentTask,
    first: AgentOutcome,
    *,
    model_id: str | None,
    model: Model | None = None,
    stop: StopWatch | None = None,
) -> Checked:
    """Check the app; while it fails and fixes are left, let the agent fix it and check again.
    With checks off, nothing is opened and no step is recorded."""
    if not plan.enabled:
        return Checked(first, CheckResult("skipped", reason=CHECKS_OFF), 0)
    outcome = first
    check = await _check(plan, deps, 1, stop)
    if check is None:
        return _stopped(outcome, 0)
    fixes = 0
    while check.status == "failed" and fixes < plan.max_fixes and outcome.messages:
        fixes += 1
        log.info("app check failed (%d problems): fix %d", len(check.problems), fixes)
        fix_task = dataclasses.replace(
            task,
            prompt=FIX_PROMPT.format(problems=check.problem_list()),
            continues=outcome.messages,
        )
        attempt = await run_code_agent(
            agent, deps, fix_task, model_id=model_id, model=model, stop=stop
        )
        outcome = _combined(outcome, attempt)
        if attempt.stopped:
            # Stopped while fixing: the run ends as any stopped run (an unfinished version).
            stopped = dataclasses.replace(outcome, failure=attempt.failure, stopped=True)
            return Checked(stopped, check, fixes)
        check = await _check(plan, deps, fixes + 1, stop)
        if check is None:
            return _stopped(outcome, fixes)
    return Checked(outcome, check, fixes)


async def _check(
    plan: CheckPlan, deps: AgentDeps, attempt: int, stop: StopWatch | None
) -> CheckResult | None:
    """The check's result; None when Stop was pressed while it ran (it ends where it is)."""
    work = check_step(deps.sandbox, deps.seed_files(), deps.steps, deps.next_seq(), plan, attempt)
    if stop is None:
        return await work
    check, stopped = await until_stopped(work, stop)
    return None if stopped else check


def _stopped(outcome: AgentOutcome, fixes: int) -> Checked:
    """Stopped during a check: the run ends as any stopped run (an unfinished version)."""
    stopped = dataclasses.replace(outcome, failure=STOPPED, stopped=True)
    return Checked(stopped, CheckResult("skipped", reason=STOPPED), fixes)


def _combined(before: AgentOutcome, after: AgentOutcome) -> AgentOutcome:
    """The newer attempt's summary and conversation (the earlier ones' if it failed), and the
    usage of both."""
    return AgentOutcome(
        summary=after.summary or before.summary,
        failure=None,
        turns=before.turns + after.turns,
        input_tokens=before.input_tokens + after.input_tokens,
        output_tokens=before.output_tokens + after.output_tokens,
        messages=after.messages or before.messages,
    )


def honest_reply(reply: str, checked: Checked, plan: CheckPlan) -> str:
    """The answer as the check allows: as it is when the app passed (or checks are off); with
    the reason when it could not be checked; and saying which errors remain when it failed."""
    check = checked.check
    if check.status == "passed" or not plan.enabled:
        return reply
    if check.status == "skipped":
        return f"{reply}\n\n{NOT_CHECKED.format(reason=check.reason)}"
    count = len(check.problems)
    tries = checked.fixes
    after = f" after {tries} attempt{'s' if tries != 1 else ''} to fix them" if tries else ""
    return STILL_BROKEN.format(
        count=f"{count} problem{'s' if count != 1 else ''}",
        after=after,
        problems=check.problem_list(),
    )
