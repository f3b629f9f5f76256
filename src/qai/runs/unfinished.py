"""Runs that end in an ERROR: what they wrote is kept as an unfinished version (the ERROR
answer's fragment, marked in ``qai_version``), and a Stop request ends a run within seconds.

The steps here are durable like the workflow's: a resumed run replays their checkpoints, so it
takes the same branch (stopped before its sandbox started or not) as the first execution.
"""

from __future__ import annotations

from dbos import DBOS

from qai.agent import StopWatch
from qai.agent.naming import derive_title
from qai.db import Database
from qai.messages.limits import KeptFiles
from qai.messages.service import FragmentDraft
from qai.runs import service as runs

STOPPED_STEP = "Stopped"


def stop_watch(database: Database, run_id: str, every_seconds: float) -> StopWatch:
    """Asks the run's row whether Stop was pressed (in any process: the request is a column)."""

    async def requested() -> bool:
        async with database.read() as session:
            return await runs.cancel_requested(session, run_id)

    return StopWatch(requested=requested, every_seconds=every_seconds)


@DBOS.step(name="qai.run.stop_requested")
async def stop_requested_step(database: Database, run_id: str) -> bool:
    """Whether Stop was pressed before the run's sandbox started (a checkpointed answer)."""
    async with database.read() as session:
        return await runs.cancel_requested(session, run_id)


@DBOS.step(name="qai.run.stopped")
async def stopped_step(database: Database, project_id: str, run_id: str) -> None:
    """The call in flight when the run was stopped ends as a failed step."""
    async with database.session() as session:
        await runs.end_open_steps(session, project_id, run_id, STOPPED_STEP)


@DBOS.step(name="qai.run.preview")
async def preview_step(database: Database, run_id: str, url: str) -> None:
    """Show the run's sandbox live on the page while it builds."""
    async with database.session() as session:
        await runs.record_preview(session, run_id, url)


def unfinished_draft(
    kept: KeptFiles, *, prompt: str, fragment_id: str, preview_url: str
) -> FragmentDraft | None:
    """The unfinished version of what a run wrote before it ended in an ERROR; None when none of
    its files could be kept."""
    if not kept.files:
        return None
    return FragmentDraft(
        title=f"Unfinished: {derive_title(prompt, '')}",
        sandbox_url=preview_url,
        files=kept.files,
        summary=None,
        id=fragment_id,
    )
