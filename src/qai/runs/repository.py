"""Every query on runs and their steps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Insert,
    and_,
    bindparam,
    func,
    insert,
    literal_column,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from qai.common.pagination import Cursor
from qai.db import Database, upsert_into
from qai.messages.models import Message, MessageRole
from qai.runs.models import Run, RunStatus, RunStep, StepOutcome

_TARGET = aliased(Message)
# The USER messages of the message's project up to and including it. One statement, run outside
# any transaction (``Database.rows``): the enqueue of every new message asks it. The role is written
# as SQL: a bound enum would need processing the driver reads cannot do.
_POSITION = (
    select(func.count())
    .select_from(Message)
    .join(
        _TARGET,
        and_(
            _TARGET.id == bindparam("message_id"),
            Message.project_id == _TARGET.project_id,
            tuple_(Message.created_at, Message.id) <= tuple_(_TARGET.created_at, _TARGET.id),
        ),
    )
    .where(Message.role == literal_column(f"'{MessageRole.USER.value}'"))
)


class RunReads:
    """The reads of runs made outside any transaction."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def position_of(self, message_id: str) -> int:
        """1 for a project's first USER message, 2 for the next, ... (its place in the
        queue); 1 for a message that is gone."""
        rows = await self.database.rows(_POSITION, {"message_id": message_id})
        return int(rows[0][0]) or 1


# The outbox: runs recorded with their USER message and not yet handed to the durable queue,
# in the order of their messages (the partial index ``qai_run_handoff_idx`` holds just these).
_PENDING = (
    select(Run.id, Run.project_id, Run.model)
    .join(Message, Message.id == Run.message_id)
    .where(Run.handed_off.is_(False))
    .order_by(Message.created_at, Message.id)
    .limit(bindparam("limit"))
)


def queued_run(
    run_id: str, project_id: str, at: datetime, model: str | None = None
) -> dict[str, object]:
    """The columns of a new queued run for the USER message ``run_id``."""
    return {
        "id": run_id,
        "project_id": project_id,
        "message_id": run_id,
        "status": RunStatus.QUEUED,
        "model": model,
        "created_at": at,
        "input_tokens": 0,
        "output_tokens": 0,
        "turns": 0,
    }


@dataclass(frozen=True)
class RunToStart:
    """A run to hand to the durable queue: its USER message, project and chosen model."""

    message_id: str
    project_id: str
    model: str | None


class RunRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_pending(
        self, *, run_id: str, project_id: str, at: datetime, model: str | None
    ) -> None:
        """Insert the queued run of a new USER message, not handed off yet (the outbox row):
        one plain INSERT, in the message's transaction."""
        await self.session.execute(
            insert(Run).values(**queued_run(run_id, project_id, at, model), handed_off=False)
        )

    async def pending(self, *, limit: int) -> list[RunToStart]:
        """Up to ``limit`` runs not handed off yet, oldest message first."""
        rows = (await self.session.execute(_PENDING, {"limit": limit})).all()
        return [RunToStart(row[0], row[1], row[2]) for row in rows]

    async def mark_handed_off(self, run_ids: list[str]) -> list[Run]:
        """Mark the runs handed off; returns those this call marked (not another worker)."""
        statement = (
            update(Run)
            .where(Run.id.in_(run_ids), Run.handed_off.is_(False))
            .values(handed_off=True)
            .returning(Run)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        return list((await self.session.execute(statement)).scalars())

    async def add_if_absent(self, *, run_id: str, project_id: str, at: datetime) -> Run | None:
        """Insert a queued run for the message ``run_id``; None if it already has one."""
        statement = (
            upsert_into(self.session, Run)
            .values(**queued_run(run_id, project_id, at))
            .on_conflict_do_nothing()
            .returning(Run)  # no row when the insert was skipped
        )
        run: Run | None = (
            await self.session.execute(statement, execution_options={"populate_existing": True})
        ).scalar_one_or_none()
        return run

    async def get(self, run_id: str) -> Run | None:
        return await self.session.get(Run, run_id, populate_existing=True)

    async def mark_running(self, run_id: str, *, model: str | None, at: datetime) -> Run | None:
        """queued/running -> running; None once the run has finished."""
        statement = (
            update(Run)
            .where(Run.id == run_id, Run.answer_message_id.is_(None))
            .values(
                status=RunStatus.RUNNING,
                model=model,
                started_at=func.coalesce(Run.started_at, at),
            )
            .returning(Run)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def claim_answer(
        self,
        run_id: str,
        *,
        answer_message_id: str,
        status: RunStatus,
        error: str | None,
        at: datetime,
        turns: int,
        input_tokens: int,
        output_tokens: int,
    ) -> Run | None:
        """Record the answer, only if the run has none yet: the guard of "exactly one answer".
        None if it already had one."""
        statement = (
            update(Run)
            .where(Run.id == run_id, Run.answer_message_id.is_(None))
            .values(
                answer_message_id=answer_message_id,
                status=status,
                error=error,
                finished_at=at,
                turns=turns,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
            )
            .returning(Run)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def request_cancel(self, run_id: str, *, at: datetime) -> Run | None:
        """Record a Stop request (the first one's time stays); None once the run has answered."""
        statement = (
            update(Run)
            .where(Run.id == run_id, Run.answer_message_id.is_(None))
            .values(cancel_requested_at=func.coalesce(Run.cancel_requested_at, at))
            .returning(Run)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def cancel_requested(self, run_id: str) -> bool:
        query = select(Run.cancel_requested_at).where(Run.id == run_id)
        return (await self.session.execute(query)).scalar_one_or_none() is not None

    async def set_preview(self, run_id: str, url: str) -> Run | None:
        statement = (
            update(Run)
            .where(Run.id == run_id)
            .values(preview_url=url)
            .returning(Run)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def page_newest_first(
        self, project_id: str, *, limit: int, before: Cursor | None
    ) -> list[Run]:
        query = (
            select(Run)
            .where(Run.project_id == project_id)
            .order_by(Run.created_at.desc(), Run.id.desc())
            .limit(limit)
        )
        if before is not None:
            query = query.where(
                tuple_(Run.created_at, Run.id) < tuple_(before.created_at, before.id)
            )
        return list((await self.session.execute(query)).scalars())

    async def oldest_unanswered(self, project_id: str) -> Run | None:
        """The run a project is on (its runs go one at a time, oldest first), if any."""
        query = (
            select(Run)
            .where(Run.project_id == project_id, Run.answer_message_id.is_(None))
            .order_by(Run.created_at, Run.id)
            .limit(1)
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def by_answers(self, answer_ids: list[str]) -> list[Run]:
        """The runs that wrote these answers (one statement for a page of history)."""
        if not answer_ids:
            return []
        query = select(Run).where(Run.answer_message_id.in_(answer_ids))
        return list((await self.session.execute(query)).scalars())

    async def steps_of(self, run_id: str) -> list[RunStep]:
        query = select(RunStep).where(RunStep.run_id == run_id).order_by(RunStep.seq)
        return list((await self.session.execute(query)).scalars())

    async def start_step(
        self, run_id: str, seq: int, *, kind: str, label: str, at: datetime
    ) -> RunStep:
        """Insert the step, or count one more attempt of it (a step run again after a crash)."""
        insert: Insert = upsert_into(self.session, RunStep).values(
            run_id=run_id, seq=seq, kind=kind, label=label, started_at=at, attempts=1
        )
        statement = insert.on_conflict_do_update(  # type: ignore[attr-defined]
            index_elements=[RunStep.run_id, RunStep.seq],
            set_={
                "attempts": RunStep.attempts + 1,
                "started_at": at,
                "finished_at": None,
                "outcome": None,
                "detail": None,
                "retry": None,
                "max_retries": None,
            },
        ).returning(RunStep)
        step: RunStep = (
            await self.session.execute(statement, execution_options={"populate_existing": True})
        ).scalar_one()
        return step

    async def retry_step(
        self, run_id: str, seq: int, *, retry: int, max_retries: int
    ) -> RunStep | None:
        statement = (
            update(RunStep)
            .where(RunStep.run_id == run_id, RunStep.seq == seq)
            .values(retry=retry, max_retries=max_retries)
            .returning(RunStep)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def finish_step(
        self,
        run_id: str,
        seq: int,
        *,
        outcome: StepOutcome,
        detail: str | None,
        at: datetime,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
    ) -> RunStep | None:
        statement = (
            update(RunStep)
            .where(RunStep.run_id == run_id, RunStep.seq == seq)
            .values(
                outcome=outcome,
                detail=detail,
                finished_at=at,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
            )
            .returning(RunStep)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def finish_open_steps(self, run_id: str, *, detail: str, at: datetime) -> list[RunStep]:
        """End the steps still running (a stopped run's call in flight) as failed."""
        statement = (
            update(RunStep)
            .where(RunStep.run_id == run_id, RunStep.finished_at.is_(None))
            .values(outcome=StepOutcome.FAILED, detail=detail, finished_at=at)
            .returning(RunStep)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        return list((await self.session.execute(statement)).scalars())

    async def count_by_status(self) -> dict[RunStatus, int]:
        query = select(Run.status, func.count()).group_by(Run.status)
        return {status: int(count) for status, count in (await self.session.execute(query)).all()}

    async def unanswered_user_messages(
        self, *, limit: int, after: Cursor | None = None
    ) -> list[tuple[RunToStart, Cursor]]:
        """Up to ``limit`` USER messages that have no run, or whose run has not answered yet,
        oldest first, after ``after``: (the run to start, the message's place)."""
        query = (
            select(Message.id, Message.project_id, Message.created_at, Run.model)
            .outerjoin(Run, Run.message_id == Message.id)
            .where(
                Message.role == MessageRole.USER,
                or_(
                    Run.id.is_(None),
                    and_(
                        Run.answer_message_id.is_(None),
                        Run.status.in_([RunStatus.QUEUED, RunStatus.RUNNING]),
                    ),
                ),
            )
            .order_by(Message.created_at, Message.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(
                tuple_(Message.created_at, Message.id) > tuple_(after.created_at, after.id)
            )
        return [
            (RunToStart(row[0], row[1], row[3]), Cursor(created_at=row[2], id=row[0]))
            for row in (await self.session.execute(query)).all()
        ]
