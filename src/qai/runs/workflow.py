"""The ``code-agent/run`` workflow and its steps: one durable run per USER message, answered
exactly once (``qai.runs.dispatch`` starts and repairs runs).

Workflow id = the USER message's id (a second send starts nothing); queue partition = the project
(its runs go one at a time, in order). Every model call, tool call and database write is a
checkpointed step, so a worker killed mid-run resumes at the step it was in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from dbos import DBOS
from pydantic_ai import Agent
from sqlalchemy.exc import IntegrityError

from qai.agent import (
    STOPPED,
    AgentDeps,
    AgentTask,
    PastMessage,
    SandboxSpec,
    StepKind,
    build_code_agent,
    name_and_reply,
    run_code_agent,
    until_stopped,
)
from qai.checks import Chromium
from qai.db import Database, new_id
from qai.errors import ProjectNotFound, QaiError, RunNotFound
from qai.llm import ModelChoice, Models
from qai.messages.chosen import starting_fragment
from qai.messages.limits import (
    FragmentFiles,
    FragmentLimits,
    KeptFiles,
    LeftOut,
    keep_within,
    left_out_note,
)
from qai.messages.models import Message, MessageRole, MessageType
from qai.messages.repository import MessageRepository
from qai.messages.service import FragmentDraft
from qai.projects.repository import ProjectRepository
from qai.runs import service as runs
from qai.runs.checks import Checked, CheckPlan, check_and_fix, honest_reply
from qai.runs.models import StepOutcome
from qai.runs.service import AlreadyAnswered, Failure, Outcome, Success, Usage
from qai.runs.unfinished import (
    preview_step,
    stop_requested_step,
    stop_watch,
    stopped_step,
    unfinished_draft,
)
from qai.sandbox import SandboxFileNotFound, SandboxManager, SandboxPathError
from qai.settings import Settings

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
NOTHING_KEPT = (
    "The agent wrote files, but none of them could be kept (see below), so there is no app to "
    "show. Send your message again, asking for text source files."
)
UNFINISHED_KEPT = (
    "The files it had written are kept as an unfinished version: your next message builds on them."
)
UNEXPECTED = (
    "The run failed unexpectedly: {reason}. Send your message again; if it keeps failing, check "
    "the server's log."
)


@dataclass
class RunEnvironment:
    """What the runs of this process need: made by the wiring root and bound while the process
    executes runs. DBOS finds workflows and steps by name in one registry per process, so their
    code reaches the process's parts through this one binding (:func:`bind`) instead of
    arguments, which DBOS records and replays."""

    settings: Settings
    database: Database
    sandboxes: SandboxManager
    models: Models
    agent: Agent[AgentDeps, str] | None = field(init=False)
    # The process's one browser for app checks, launched at the first check.
    browser: Chromium = field(init=False)
    in_flight: set[asyncio.Task[object]] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        models = self.models
        others = {
            model_id: choice.model
            for model_id, choice in models.others.items()
            if choice.model is not None
        }
        self.agent = (
            build_code_agent(models.main.model, models.request_settings, others)
            if models.main.model is not None or others
            else None
        )
        self.browser = Chromium(self.settings.check_browser)

    def check_plan(self) -> CheckPlan:
        settings = self.settings
        return CheckPlan(
            browser=self.browser,
            enabled=settings.check_enabled,
            timeout_seconds=settings.check_timeout_seconds,
            max_fixes=settings.run_max_fixes,
        )

    async def cancel_in_flight(self) -> None:
        """Stop this process's runs (at shutdown): they stay PENDING and resume on restart."""
        tasks = [task for task in self.in_flight if not task.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.in_flight.clear()
        await self.browser.close()


_environment: RunEnvironment | None = None


def bind(environment: RunEnvironment | None) -> None:
    """Bind the process's run environment (None: unbind it, at shutdown)."""
    global _environment
    _environment = environment


def current() -> RunEnvironment | None:
    """The bound run environment, if any."""
    return _environment


def _current() -> RunEnvironment:
    if _environment is None:
        raise RuntimeError("no run environment is bound (qai.context.AppContext.start)")
    return _environment


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

    def __init__(self, database: Database, project_id: str, run_id: str) -> None:
        self.database = database
        self.project_id = project_id
        self.run_id = run_id

    async def started(self, seq: int, kind: StepKind, label: str) -> None:
        async with self.database.session() as session:
            await runs.step_started(
                session, self.project_id, self.run_id, seq, kind=kind, label=label
            )

    async def retrying(self, seq: int, *, retry: int, max_retries: int) -> None:
        async with self.database.session() as session:
            await runs.step_retrying(
                session, self.project_id, self.run_id, seq, retry=retry, max_retries=max_retries
            )

    async def finished(
        self,
        seq: int,
        *,
        ok: bool,
        detail: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
    ) -> None:
        async with self.database.session() as session:
            await runs.step_finished(
                session,
                self.project_id,
                self.run_id,
                seq,
                outcome=StepOutcome.OK if ok else StepOutcome.FAILED,
                detail=detail,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
            )


@DBOS.step(name="qai.run.begin", retries_allowed=True, max_attempts=5, interval_seconds=1.0)
async def begin_step(project_id: str, message_id: str, model_id: str | None) -> RunStart | None:
    """Mark the run running and gather what it needs; None if there is nothing to do: the
    message was answered already, or deleted with its project."""
    environment = _current()
    database = environment.database
    try:
        async with database.session() as session:
            message = await MessageRepository(session).get(message_id)
            if message is None:
                log.info("message %s was deleted before its run started", message_id)
                return None
            if await runs.start(session, message_id, project_id, model=model_id) is None:
                return None
            template = await ProjectRepository(session).template_of(project_id)
            recent = await MessageRepository(session).recent_for_memory(
                project_id, limit=MEMORY_MESSAGES
            )
    except IntegrityError:
        # The run's row refused: its project was deleted since the message was read.
        log.info("message %s was deleted with its project as its run started", message_id)
        return None
    # A project's runs go one at a time: its newest fragment cannot change while this one runs.
    latest = await starting_fragment(database, project_id, message_id)
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
    base_files = latest.files() if latest is not None else {}
    template = template or environment.settings.default_template
    return RunStart(message.content, template, history, base_files, new_id())


def _remembered(message: Message) -> str:
    """An answer as the model remembers it: the reply, and what was built."""
    summary = message.fragment.summary if message.fragment is not None else None
    return f"{message.content}\n\nWhat was built: {summary}" if summary else message.content


@DBOS.step(name="qai.run.sandbox")
async def sandbox_step(spec: SandboxSpec, files: dict[str, str]) -> str:
    """Start (or find) the run's sandbox; returns its preview address."""
    sandbox = await spec.open(files)
    return sandbox.preview_url()


@DBOS.step(name="qai.run.collect")
async def collect_step(
    spec: SandboxSpec, seed: dict[str, str], paths: list[str], limits: FragmentLimits
) -> KeptFiles:
    """The written files as they are in the sandbox now (a command may have changed or deleted
    some since they were written), as far as ``limits`` allow: read one at a time, so a file
    past a limit is left out without holding the rest."""
    kept = FragmentFiles(limits)
    try:
        sandbox = await spec.open(seed)
        present = set(await sandbox.list_files())
        for path in paths:
            if path not in present:
                continue
            if kept.full:
                kept.refuse(path, LeftOut.TOO_MANY_FILES)
                continue
            try:
                text = (await sandbox.read_files([path]))[path]
            except SandboxFileNotFound:
                continue  # deleted since it was listed
            except SandboxPathError:
                # Listed as a regular file, so refused for its size (past the read limit).
                kept.refuse(path, LeftOut.FILE_TOO_LARGE)
                continue
            kept.offer(path, text)
        return kept.kept()
    except QaiError as exc:
        log.warning("could not read back %s's files (%s); keeping what was written", spec.name, exc)
        return keep_within({path: seed[path] for path in paths if path in seed}, limits)


async def save(database: Database, run_id: str, outcome: Outcome) -> str | None:
    """Save the run's one answer; returns the answer's id (the first one's, if it had one), or
    None if the run is gone with its project."""
    try:
        async with database.session() as session:
            message = await runs.save_answer(session, run_id, outcome)
        return message.id
    except AlreadyAnswered:
        async with database.read() as session:
            return await runs.answer_of(session, run_id)
    except (RunNotFound, ProjectNotFound):
        log.info("run %s was deleted with its project before it could answer", run_id)
        return None


@DBOS.step(name="qai.run.finish", retries_allowed=True, max_attempts=5, interval_seconds=1.0)
async def finish_step(run_id: str, outcome: Outcome) -> str | None:
    """Save the one answer (idempotent: a repeated save keeps the first)."""
    return await save(_current().database, run_id, outcome)


# --- the workflow --------------------------------------------------------------------------


NOT_OFFERED = (
    "The model {model} chosen for this message is no longer offered on this server (QAI_MODEL, "
    "QAI_MODELS). Send your message again to use one that is."
)


@DBOS.workflow(name=WORKFLOW_NAME, max_recovery_attempts=5)
async def code_agent_run(
    project_id: str, message_id: str, model_id: str | None = None
) -> str | None:
    """The run of ``message_id`` with the model it was sent with (``model_id``; None: the
    default). The model is an input: a resumed run uses the same one whatever the settings."""
    environment = _current()
    task = asyncio.current_task()
    if task is not None:
        environment.in_flight.add(task)
    try:
        choice = environment.models.pick(model_id)
        start = await begin_step(
            project_id, message_id, choice.id if choice is not None else model_id
        )
        if start is None:
            return None
        try:
            if choice is None:
                outcome: Outcome = Failure(NOT_OFFERED.format(model=model_id))
            else:
                outcome = await _build(environment, choice, project_id, message_id, start)
        except Exception as exc:
            # Whatever broke, the message still gets its one answer (replays raise the same
            # recorded error, so they reach the same answer).
            log.exception("run %s failed unexpectedly", message_id)
            outcome = Failure(UNEXPECTED.format(reason=exc))
        return await finish_step(message_id, outcome)
    finally:
        if task is not None:
            environment.in_flight.discard(task)


async def _build(
    environment: RunEnvironment,
    choice: ModelChoice,
    project_id: str,
    run_id: str,
    start: RunStart,
) -> Outcome:
    models = environment.models
    if environment.agent is None or choice.model is None:
        return Failure(choice.problem or "No model configured.")
    # The agent's default needs no override; another offered model is passed by instance.
    model = None if choice is models.main else choice.model
    settings = environment.settings
    database = environment.database
    if await stop_requested_step(database, run_id):
        return Failure(STOPPED)
    spec = SandboxSpec(
        name=start.fragment_id, template=start.template, manager=environment.sandboxes
    )
    # Stop is heard from here on, whatever the run is doing: starting its sandbox, the agent's
    # model and tool calls, the check, the title and reply.
    stop = stop_watch(database, run_id, settings.run_cancel_poll_seconds)
    try:
        started, stopped = await until_stopped(sandbox_step(spec, start.base_files), stop)
    except Exception as exc:
        return Failure(SANDBOX_FAILED.format(reason=getattr(exc, "message", None) or exc))
    if stopped or started is None:
        return Failure(STOPPED)
    preview_url = started
    await preview_step(database, run_id, preview_url)
    deps = AgentDeps(
        sandbox=spec,
        steps=StepRecorder(environment.database, project_id, run_id),
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
    result = await run_code_agent(
        environment.agent, deps, task, model_id=choice.id, model=model, stop=stop
    )
    checked: Checked | None = None
    plan = environment.check_plan()
    if result.failure is None and result.summary is not None and deps.seed_files():
        checked = await check_and_fix(
            plan,
            environment.agent,
            deps,
            task,
            result,
            model_id=choice.id,
            model=model,
            stop=stop,
        )
        result = checked.outcome
    # A stopped run's interrupted model call counts as a turn too (it is one of its steps).
    turns = max(result.turns, deps.model_turns)
    usage = Usage(turns, result.input_tokens, result.output_tokens)
    if result.stopped:
        await stopped_step(database, project_id, run_id)
    paths = sorted({*start.base_files, *deps.written})
    limits = FragmentLimits(
        max_bytes=settings.fragment_max_bytes,
        max_files=settings.fragment_max_files,
        max_file_bytes=settings.fragment_max_file_bytes,
    )
    failure = result.failure or (NO_SUMMARY if result.summary is None else None)
    if failure is not None:
        # Nothing an unfinished run wrote is lost: its files become an unfinished version.
        if not deps.written:
            return Failure(failure, usage)
        kept = await collect_step(spec, deps.seed_files(), paths, limits)
        return _unfinished(failure, kept, usage, start, spec.name, preview_url)
    summary = result.summary
    assert summary is not None
    if not paths or checked is None:
        return Failure(NO_FILES, usage)
    kept = await collect_step(spec, deps.seed_files(), paths, limits)
    note = left_out_note(kept.left_out, limits)
    if note is not None:
        log.info("run %s left %d files out of its version", run_id, len(kept.left_out))
        if not kept.files:
            return Failure(f"{NOTHING_KEPT} {note}", usage)
    named, stopped = await until_stopped(
        name_and_reply(models.small.model, models.request_settings, start.prompt, summary), stop
    )
    if stopped or named is None:
        return _unfinished(STOPPED, kept, usage, start, spec.name, preview_url)
    title, reply = named
    reply = honest_reply(reply, checked, plan)
    if note is not None:
        reply = f"{reply}\n\n{note}"
    fragment = FragmentDraft(
        title=title,
        sandbox_url=preview_url,
        files=kept.files,
        summary=summary,
        id=spec.name,
        check=checked.check.as_json(),
        screenshot=checked.check.screenshot,
    )
    return Success(reply, fragment, usage)


def _unfinished(
    failure: str, kept: KeptFiles, usage: Usage, start: RunStart, fragment_id: str, preview_url: str
) -> Failure:
    """An ERROR answer that keeps what the run wrote as an unfinished version."""
    draft = unfinished_draft(
        kept, prompt=start.prompt, fragment_id=fragment_id, preview_url=preview_url
    )
    return Failure(f"{failure} {UNFINISHED_KEPT}" if draft else failure, usage, draft)
