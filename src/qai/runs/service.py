"""Rules for runs: queued -> running -> succeeded | failed, exactly one answer per USER message,
and the live events each change sends."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from qai.common.pagination import Cursor, Page, forward_page
from qai.db import Database, utcnow
from qai.errors import RunFinished, RunNotFound
from qai.live import service as live
from qai.live.payloads import EventKind, Payload, payload_of
from qai.llm import Models
from qai.messages import service as messages
from qai.messages.models import Message
from qai.messages.repository import MessageRepository
from qai.messages.schemas import MessageOut
from qai.messages.service import FragmentDraft
from qai.projects import service as projects
from qai.projects.repository import ProjectRepository
from qai.runs.models import Run, RunStatus, RunStep, StepOutcome
from qai.runs.repository import RunReads, RunRepository, RunToStart
from qai.runs.schemas import ModelOut, RunOut, RunStepOut


@dataclass(frozen=True)
class Usage:
    turns: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class Success:
    """The app was built: a short friendly reply and the fragment to show."""

    reply: str
    fragment: FragmentDraft
    usage: Usage = Usage()


@dataclass(frozen=True)
class Failure:
    """The run could not build the app; ``message`` says what went wrong and what to do;
    ``fragment`` holds the files it wrote, if any (an unfinished version)."""

    message: str
    usage: Usage = Usage()
    fragment: FragmentDraft | None = None


Outcome = Success | Failure


@dataclass(frozen=True)
class RunWithSteps:
    run: Run
    steps: list[RunStep]


async def _publish_run(session: AsyncSession, run: Run) -> None:
    await live.publish(
        session, run.project_id, "run.updated", payload_of(RunOut.model_validate(run))
    )


async def _publish_step(session: AsyncSession, project_id: str, step: RunStep) -> None:
    await live.publish(session, project_id, "run.step", payload_of(RunStepOut.model_validate(step)))


def _message_payload(message: Message, *, unfinished: bool = False) -> Payload:
    """``message.created`` carries the message without its fragment's files (a version's whole
    source, which every stream would replay): ``files`` is empty and ``filesOmitted`` true;
    clients fetch ``GET /api/fragments/{id}`` for them."""
    out = MessageOut.model_validate(message)
    payload: Payload = out.model_dump(mode="json", exclude={"fragment": {"files"}})
    if payload.get("fragment") is not None:
        payload["fragment"] |= {"files": {}, "filesOmitted": True, "unfinished": unfinished}
    return payload


async def publish_message(
    session: AsyncSession, message: Message, *, unfinished: bool = False
) -> None:
    """``message.created`` for a new ASSISTANT message (a run's answer, a restore, an edit)."""
    payload = _message_payload(message, unfinished=unfinished)
    await live.publish(session, message.project_id, "message.created", payload)


async def _add_if_absent(session: AsyncSession, run_id: str, project_id: str) -> bool:
    """Create the run of a USER message; the first to do so announces the message and the run."""
    run = await RunRepository(session).add_if_absent(
        run_id=run_id, project_id=project_id, at=utcnow()
    )
    if run is None:
        return False
    message = await MessageRepository(session).get(run_id)
    if message is not None:
        await publish_message(session, message)
    await _publish_run(session, run)
    return True


async def count_by_status(session: AsyncSession) -> dict[str, int]:
    """How many runs are queued, running, succeeded and failed (every status present)."""
    counts = await RunRepository(session).count_by_status()
    return {status.value: counts.get(status, 0) for status in RunStatus}


async def record_queued(session: AsyncSession, project_id: str, message_id: str) -> None:
    """A run was enqueued for ``message_id`` (no-op when it already has one)."""
    await _add_if_absent(session, message_id, project_id)


async def record_pending(
    session: AsyncSession, project_id: str, message_id: str, *, model: str | None = None
) -> None:
    """The queued run of a new USER message, in the message's own transaction: the outbox row
    that guarantees the run (a worker hands it to the durable queue, see :func:`take_pending`),
    with the model it is to use (None: the default)."""
    await RunRepository(session).add_pending(
        run_id=message_id, project_id=project_id, at=utcnow(), model=model
    )


async def take_pending(session: AsyncSession, *, limit: int) -> list[RunToStart]:
    """Up to ``limit`` runs still to hand to the durable queue, oldest message first, marked
    handed off in the caller's transaction and announced (``message.created`` and
    ``run.updated``, once: a run another worker marked first is left out)."""
    repository = RunRepository(session)
    pending = await repository.pending(limit=limit)
    if not pending:
        return []
    marked = {
        run.id: run for run in await repository.mark_handed_off([p.message_id for p in pending])
    }
    found = await MessageRepository(session).get_many(list(marked))
    events: list[tuple[str, EventKind, Payload]] = []
    taken: list[RunToStart] = []
    for start in pending:
        run_id, project_id = start.message_id, start.project_id
        run = marked.get(run_id)
        if run is None:
            continue
        taken.append(start)
        message = found.get(run_id)
        if message is not None:
            events.append((project_id, "message.created", _message_payload(message)))
        events.append((project_id, "run.updated", payload_of(RunOut.model_validate(run))))
    await live.publish_many(session, events)
    return taken


async def start(
    session: AsyncSession, run_id: str, project_id: str, *, model: str | None
) -> Run | None:
    """Mark the run running (creating it if the enqueue outran its row); None once answered."""
    await _add_if_absent(session, run_id, project_id)
    run = await RunRepository(session).mark_running(run_id, model=model, at=utcnow())
    if run is None:
        return None
    await _publish_run(session, run)
    return run


async def step_started(
    session: AsyncSession, project_id: str, run_id: str, seq: int, *, kind: str, label: str
) -> None:
    step = await RunRepository(session).start_step(run_id, seq, kind=kind, label=label, at=utcnow())
    await _publish_step(session, project_id, step)


async def step_retrying(
    session: AsyncSession,
    project_id: str,
    run_id: str,
    seq: int,
    *,
    retry: int,
    max_retries: int,
) -> None:
    """A model call is sent again after a failure that may pass: ``run.step`` says which retry
    of how many, while the step goes on."""
    step = await RunRepository(session).retry_step(
        run_id, seq, retry=retry, max_retries=max_retries
    )
    if step is not None:
        await _publish_step(session, project_id, step)


async def step_finished(
    session: AsyncSession,
    project_id: str,
    run_id: str,
    seq: int,
    *,
    outcome: StepOutcome,
    detail: str | None = None,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
) -> None:
    step = await RunRepository(session).finish_step(
        run_id,
        seq,
        outcome=outcome,
        detail=detail,
        at=utcnow(),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
    )
    if step is not None:
        await _publish_step(session, project_id, step)


async def request_cancel(session: AsyncSession, run_id: str) -> Run:
    """Stop: record the request, which the worker running the run (any process) sees within
    QAI_RUN_CANCEL_POLL_SECONDS. Raises RunNotFound, or RunFinished once the run has answered."""
    repository = RunRepository(session)
    run = await repository.request_cancel(run_id, at=utcnow())
    if run is None:
        if await repository.get(run_id) is None:
            raise RunNotFound()
        raise RunFinished()
    await _publish_run(session, run)
    return run


async def cancel_requested(session: AsyncSession, run_id: str) -> bool:
    return await RunRepository(session).cancel_requested(run_id)


async def end_open_steps(session: AsyncSession, project_id: str, run_id: str, detail: str) -> None:
    """A stopped run's step in flight ends as failed, with ``detail`` (e.g. "Stopped")."""
    for step in await RunRepository(session).finish_open_steps(run_id, detail=detail, at=utcnow()):
        await _publish_step(session, project_id, step)


async def record_preview(session: AsyncSession, run_id: str, url: str) -> None:
    """The run's sandbox is up at ``url``: the page shows it live (``run.updated`` carries
    ``previewUrl``)."""
    run = await RunRepository(session).set_preview(run_id, url)
    if run is not None:
        await _publish_run(session, run)


class AlreadyAnswered(Exception):
    """Raised to roll back a second answer to the same USER message."""


async def save_answer(session: AsyncSession, run_id: str, outcome: Outcome) -> Message:
    """Write the run's one ASSISTANT message (with its fragment on success) and finish the run.

    Raises :class:`AlreadyAnswered` (the caller rolls back) if the run already has an answer.
    """
    repository = RunRepository(session)
    run = await repository.get(run_id)
    if run is None:
        raise RunNotFound()
    if run.answer_message_id is not None:
        raise AlreadyAnswered()
    if isinstance(outcome, Success):
        message = await messages.save_assistant_result(
            session, run.project_id, outcome.reply, outcome.fragment
        )
        status, error = RunStatus.SUCCEEDED, None
    else:
        message = await messages.save_assistant_error(
            session, run.project_id, outcome.message, outcome.fragment
        )
        status, error = RunStatus.FAILED, outcome.message
    await ProjectRepository(session).touch(run.project_id)
    finished = await repository.claim_answer(
        run_id,
        answer_message_id=message.id,
        status=status,
        error=error,
        at=utcnow(),
        turns=outcome.usage.turns,
        input_tokens=outcome.usage.input_tokens,
        output_tokens=outcome.usage.output_tokens,
    )
    if finished is None:
        raise AlreadyAnswered()
    await publish_message(
        session, message, unfinished=isinstance(outcome, Failure) and outcome.fragment is not None
    )
    await _publish_run(session, finished)
    return message


async def answer_of(session: AsyncSession, run_id: str) -> str | None:
    run = await RunRepository(session).get(run_id)
    return None if run is None else run.answer_message_id


async def position_of(database: Database, message_id: str) -> int:
    """1 for a project's first USER message, 2 for the next, ... (its place in the queue)."""
    return await RunReads(database).position_of(message_id)


async def unanswered(
    session: AsyncSession, *, limit: int, after: Cursor | None = None
) -> list[tuple[RunToStart, Cursor]]:
    """Up to ``limit`` USER messages still without an answer, oldest first, after ``after``:
    (the run they are owed, where the next batch starts)."""
    return await RunRepository(session).unanswered_user_messages(limit=limit, after=after)


async def list_runs(
    database: Database, project_id: str, *, limit: int, cursor: str | None = None
) -> Page[Run]:
    """A project's runs, newest first; raises ProjectNotFound for no such project."""
    before = Cursor.decode(cursor) if cursor else None
    async with database.read() as session:
        rows = await RunRepository(session).page_newest_first(
            project_id, limit=limit + 1, before=before
        )
    items, next_cursor = forward_page(rows, limit, lambda run: (run.created_at, run.id))
    await projects.check_exists(database, project_id, items)
    return Page(items=items, next_cursor=next_cursor)


async def get_run(session: AsyncSession, run_id: str) -> RunWithSteps:
    repository = RunRepository(session)
    run = await repository.get(run_id)
    if run is None:
        raise RunNotFound()
    return RunWithSteps(run, await repository.steps_of(run_id))


async def latest_run_with_steps(session: AsyncSession, project_id: str) -> RunWithSteps | None:
    """A project's newest run and its steps, or None while it has no run."""
    repository = RunRepository(session)
    newest = await repository.page_newest_first(project_id, limit=1, before=None)
    if not newest:
        return None
    return RunWithSteps(newest[0], await repository.steps_of(newest[0].id))


async def current_run_with_steps(session: AsyncSession, project_id: str) -> RunWithSteps | None:
    """The run a project is on now (the oldest without an answer: a queued message after it
    does not hide it) and its steps; None while it has none."""
    repository = RunRepository(session)
    run = await repository.oldest_unanswered(project_id)
    if run is None:
        return None
    return RunWithSteps(run, await repository.steps_of(run.id))


async def runs_of_answers(session: AsyncSession, answer_ids: list[str]) -> dict[str, Run]:
    """answer message id -> the run that wrote it (turns, tokens and time under each answer)."""
    return {
        run.answer_message_id: run
        for run in await RunRepository(session).by_answers(answer_ids)
        if run.answer_message_id is not None
    }


def model_list(models: Models) -> list[ModelOut]:
    """The offered models, the default first (the pages' pickers show the same list)."""
    items = []
    for model_id in models.offered:
        choice = models.pick(model_id)
        assert choice is not None
        items.append(
            ModelOut(
                id=model_id,
                default=choice is models.main,
                available=choice.model is not None,
                problem=choice.problem,
            )
        )
    return items
