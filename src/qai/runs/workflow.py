"""The ``code-agent/run`` workflow: one durable run per USER message, answered exactly once.

Workflow id = the USER message's id (a second send starts nothing); queue partition = the project
(its runs go one at a time, in order). Every model call, tool call and database write is a
checkpointed step, so a worker killed mid-run resumes at the step it was in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from dbos import DBOS
from pydantic_ai import Agent
from pydantic_ai.settings import ModelSettings

from qai.agent import (
    AgentDeps,
    AgentTask,
    PastMessage,
    SandboxSpec,
    StepKind,
    build_code_agent,
    name_and_reply,
    open_sandbox,
    run_code_agent,
)
from qai.db import new_id, read_session, session_scope
from qai.errors import QaiError, RunNotFound
from qai.events import CodeAgentRun
from qai.jobs import TERMINAL_STATUSES, Jobs
from qai.llm import ModelChoice, model_settings
from qai.messages import service as messages
from qai.messages.models import Message, MessageRole, MessageType
from qai.messages.repository import MessageRepository
from qai.messages.service import FragmentDraft, files_of
from qai.projects.repository import ProjectRepository
from qai.runs import service as runs
from qai.runs.models import StepOutcome
from qai.runs.service import AlreadyAnswered, Failure, Outcome, Success, Usage
from qai.settings import Settings
from qai.workers import service as workers

log = logging.getLogger("qai.runs")

WORKFLOW_NAME = "qai.code_agent_run"
MEMORY_MESSAGES = 60

SANDBOX_FAILED = (
    "The sandbox for your app could not start: {reason}. Send your message again; if it keeps "
    "failing, check the server's log (`qai sandbox` can test sandboxes)."
)
NO_SUMMARY = (
    "The agent stopped without saying it had finished, so QAI cannot tell whether the app is "
    "complete. Send your message again, perhaps describing the app in more detail."
)
NO_FILES = (
    "The agent finished without writing any files, so there is no app to show. Send your "
    "message again, describing the app you want built."
)
UNEXPECTED = (
    "The run failed unexpectedly: {reason}. Send your message again; if it keeps failing, check "
    "the server's log."
)
CRASHED = (
    "The run stopped unexpectedly (its worker crashed repeatedly) before it could finish. "
    "Send your message again; if it keeps happening, check the server's log."
)


@dataclass
class _Runtime:
    settings: Settings
    jobs: Jobs
    model: ModelChoice
    small_model: ModelChoice
    model_settings: ModelSettings
    agent: Agent[AgentDeps, str] | None


_runtime: _Runtime | None = None


def configure(settings: Settings, jobs: Jobs, model: ModelChoice, small_model: ModelChoice) -> None:
    """Install the process's models and job runtime (``qai.jobs.runtime.start``)."""
    global _runtime
    chosen = model_settings(settings)
    agent = build_code_agent(model.model, chosen) if model.model is not None else None
    _runtime = _Runtime(settings, jobs, model, small_model, chosen, agent)


async def unconfigure() -> None:
    global _runtime
    if _runtime is not None:
        runtime, _runtime = _runtime, None
        await runtime.model.aclose()
        await runtime.small_model.aclose()


def _current() -> _Runtime:
    if _runtime is None:
        raise RuntimeError("the job runtime is not started (qai.jobs.runtime.start)")
    return _runtime


# --- dispatch and repair -------------------------------------------------------------------


async def enqueue(project_id: str, message_id: str) -> None:
    """Start the run of ``message_id`` (once, however often this is called)."""
    runtime = _current()
    order = await runs.position_of(message_id)
    await runtime.jobs.enqueue(
        code_agent_run,
        WORKFLOW_NAME,
        project_id,
        message_id,
        workflow_id=message_id,
        partition=project_id,
        order=order,
    )
    async with session_scope() as session:
        await runs.record_queued(session, project_id, message_id)


async def dispatch(event: CodeAgentRun) -> None:
    """The ``code-agent/run`` dispatcher: called once the USER message is committed."""
    try:
        await enqueue(event.project_id, event.message_id)
    except Exception:
        # The message is saved; a worker's repair (at start, then every minute) enqueues it.
        log.exception("could not enqueue the run of message %s", event.message_id)


async def repair() -> int:
    """Give every USER message still without an answer the run it is owed; returns how many
    messages needed one (enqueued, taken over from a dead worker, or answered with an error
    after their run died)."""
    runtime = _current()
    repaired = await take_over_dead_workers()
    async with read_session() as session:
        pending = await runs.unanswered(session)
    statuses = await runtime.jobs.statuses([message_id for message_id, _ in pending])
    for message_id, project_id in pending:
        status = statuses[message_id]
        if status is None:
            await enqueue(project_id, message_id)
            repaired += 1
        elif status in TERMINAL_STATUSES:
            await _save(message_id, Failure(CRASHED))
            repaired += 1
    if repaired:
        log.info("repair: %d unanswered message(s) given a run or an answer", repaired)
    return repaired


async def take_over_dead_workers() -> int:
    """Put the runs in flight on workers silent for longer than QAI_WORKER_DEAD_SECONDS back in
    the queue, where a live worker goes on with each from its last finished step; returns how
    many were taken over. A worker that was only slow loses its runs at its next step (DBOS
    hands a workflow to one owner at a time) and its answer, if it still writes one, is the
    only one (``runs.save_answer`` keeps the first)."""
    runtime = _current()
    me = runtime.jobs.executor_id
    dead_seconds = runtime.settings.worker_dead_seconds
    async with read_session() as session:
        dead = await workers.dead_workers(session, other_than=me, dead_seconds=dead_seconds)
    taken = 0
    for executor in dead:
        async with session_scope() as session:
            claimed_at = await workers.claim_dead_worker(
                session, executor, dead_seconds=dead_seconds
            )
        if claimed_at is None:
            continue  # it came back, or another worker is taking over its runs
        for run_id in await runtime.jobs.pending_on(executor, WORKFLOW_NAME):
            await runtime.jobs.take_over(run_id)
            taken += 1
            log.warning(
                "took over run %s from worker %s (not seen for over %g s)",
                run_id,
                executor,
                dead_seconds,
            )
        async with session_scope() as session:
            await workers.forget_dead_worker(session, executor, claimed_at)
    if taken:
        log.warning("worker %s took over %d run(s) from dead workers", me, taken)
    return taken


# --- steps ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunStart:
    prompt: str
    template: str
    history: list[PastMessage]
    base_files: dict[str, str]
    # The fragment's id, a uuid4 chosen up front: it names the run's sandbox, so the preview
    # address is known before the answer is saved. The step's checkpoint keeps it across
    # resumes.
    fragment_id: str


class StepRecorder:
    """Records a run's tool calls as its steps (see ``qai.agent.StepLog``)."""

    def __init__(self, project_id: str, run_id: str) -> None:
        self.project_id = project_id
        self.run_id = run_id

    async def started(self, seq: int, kind: StepKind, label: str) -> None:
        async with session_scope() as session:
            await runs.step_started(
                session, self.project_id, self.run_id, seq, kind=kind, label=label
            )

    async def finished(self, seq: int, *, ok: bool, detail: str | None = None) -> None:
        async with session_scope() as session:
            await runs.step_finished(
                session,
                self.project_id,
                self.run_id,
                seq,
                outcome=StepOutcome.OK if ok else StepOutcome.FAILED,
                detail=detail,
            )


@DBOS.step(name="qai.run.begin", retries_allowed=True, max_attempts=5, interval_seconds=1.0)
async def begin_step(project_id: str, message_id: str, model_id: str | None) -> RunStart | None:
    """Mark the run running and gather what it needs; None if there is nothing to do: the
    message was answered already, or deleted with its project."""
    default_template = _current().settings.default_template
    async with session_scope() as session:
        message = await MessageRepository(session).get(message_id)
        if message is None:
            log.info("message %s was deleted before its run started", message_id)
            return None
        if await runs.start(session, message_id, project_id, model=model_id) is None:
            return None
        template = await ProjectRepository(session).template_of(project_id) or default_template
        latest = await messages.latest_fragment(session, project_id)
        recent = await MessageRepository(session).recent_for_memory(
            project_id, limit=MEMORY_MESSAGES
        )
    # The conversation so far: every message but this one and the USER messages queued after it
    # (their answers cannot exist yet: a project's runs go one at a time, in order).
    earlier = [
        m
        for m in recent
        if m.id != message_id
        and not (
            m.role is MessageRole.USER and (m.created_at, m.id) > (message.created_at, message.id)
        )
    ]
    history = [
        PastMessage(role=m.role.value, content=_remembered(m), failed=m.type is MessageType.ERROR)
        for m in earlier
    ]
    return RunStart(message.content, template, history, files_of(latest), new_id())


def _remembered(message: Message) -> str:
    """An answer as the model remembers it: the reply, and what was built."""
    summary = message.fragment.summary if message.fragment is not None else None
    return f"{message.content}\n\nWhat was built: {summary}" if summary else message.content


@DBOS.step(name="qai.run.sandbox")
async def sandbox_step(spec: SandboxSpec, files: dict[str, str]) -> str:
    """Start (or find) the run's sandbox; returns its preview address."""
    sandbox = await open_sandbox(spec.name, spec.template, files)
    return sandbox.preview_url()


@DBOS.step(name="qai.run.collect")
async def collect_step(spec: SandboxSpec, seed: dict[str, str], paths: list[str]) -> dict[str, str]:
    """The written files as they are in the sandbox now: a command may have changed or deleted
    some since they were written."""
    try:
        sandbox = await open_sandbox(spec.name, spec.template, seed)
        present = set(await sandbox.list_files())
        return await sandbox.read_files([path for path in paths if path in present])
    except QaiError as exc:
        log.warning("could not read back %s's files (%s); keeping what was written", spec.name, exc)
        return {path: seed[path] for path in paths if path in seed}


async def _save(run_id: str, outcome: Outcome) -> str | None:
    try:
        async with session_scope() as session:
            message = await runs.save_answer(session, run_id, outcome)
        return message.id
    except AlreadyAnswered:
        async with read_session() as session:
            return await runs.answer_of(session, run_id)
    except RunNotFound:
        log.info("run %s was deleted with its project before it could answer", run_id)
        return None


@DBOS.step(name="qai.run.finish", retries_allowed=True, max_attempts=5, interval_seconds=1.0)
async def finish_step(run_id: str, outcome: Outcome) -> str | None:
    """Save the one answer (idempotent: a repeated save keeps the first)."""
    return await _save(run_id, outcome)


# --- the workflow --------------------------------------------------------------------------


_in_flight: set[asyncio.Task[object]] = set()


async def cancel_in_flight() -> None:
    """Stop this process's runs (at shutdown): they stay PENDING and resume on restart."""
    tasks = [task for task in _in_flight if not task.done()]
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    _in_flight.clear()


@DBOS.workflow(name=WORKFLOW_NAME, max_recovery_attempts=5)
async def code_agent_run(project_id: str, message_id: str) -> str | None:
    task = asyncio.current_task()
    if task is not None:
        _in_flight.add(task)
    try:
        runtime = _current()
        start = await begin_step(project_id, message_id, runtime.model.id)
        if start is None:
            return None
        try:
            outcome = await _build(runtime, project_id, message_id, start)
        except Exception as exc:
            # Whatever broke, the message still gets its one answer (replays raise the same
            # recorded error, so they reach the same answer).
            log.exception("run %s failed unexpectedly", message_id)
            outcome = Failure(UNEXPECTED.format(reason=exc))
        return await finish_step(message_id, outcome)
    finally:
        if task is not None:
            _in_flight.discard(task)


async def _build(runtime: _Runtime, project_id: str, run_id: str, start: RunStart) -> Outcome:
    if runtime.agent is None:
        return Failure(runtime.model.problem or "No model configured.")
    settings = runtime.settings
    spec = SandboxSpec(name=start.fragment_id, template=start.template)
    try:
        preview_url = await sandbox_step(spec, start.base_files)
    except Exception as exc:
        return Failure(SANDBOX_FAILED.format(reason=getattr(exc, "message", None) or exc))
    deps = AgentDeps(
        sandbox=spec,
        steps=StepRecorder(project_id, run_id),
        base_files=start.base_files,
        command_timeout=settings.sandbox_command_timeout,
    )
    task = AgentTask(
        prompt=start.prompt,
        template=start.template,
        history=start.history,
        memory_chars=settings.memory_chars,
        max_turns=settings.run_max_turns,
        timeout_seconds=settings.run_timeout_seconds,
    )
    result = await run_code_agent(runtime.agent, deps, task, model_id=runtime.model.id)
    usage = Usage(result.turns, result.input_tokens, result.output_tokens)
    if result.failure is not None:
        return Failure(result.failure, usage)
    if result.summary is None:
        return Failure(NO_SUMMARY, usage)
    paths = sorted({*start.base_files, *deps.written})
    if not paths:
        return Failure(NO_FILES, usage)
    files = await collect_step(spec, deps.seed_files(), paths)
    title, reply = await name_and_reply(
        runtime.small_model.model, runtime.model_settings, start.prompt, result.summary
    )
    fragment = FragmentDraft(
        title=title,
        sandbox_url=preview_url,
        files=files,
        summary=result.summary,
        id=spec.name,
    )
    return Success(reply, fragment, usage)
