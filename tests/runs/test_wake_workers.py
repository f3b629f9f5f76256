"""An API-only process wakes the workers' hand-off with a NOTIFY of its own after each commit,
never in the create's statement (which would take PostgreSQL's global notify lock at every
create's commit), and with at most one in flight: a burst of creates costs a few NOTIFYs, and
the last one is sent after the last commit, so no committed run waits for the workers' poll."""

from __future__ import annotations

import asyncio
import time

import pytest

from qai.db import Database
from qai.runs import send
from qai.runs.dispatch import HANDOFF_CHANNEL, WakeWorkers


@pytest.mark.parametrize("engine_name", ["postgres"], indirect=True)
async def test_a_burst_of_wake_ups_is_a_few_notifies_the_last_after_the_last_call(
    database: Database,
) -> None:
    heard: list[float] = []
    close = await database.listen(HANDOFF_CHANNEL, lambda: heard.append(time.monotonic()))
    assert close is not None
    wake = WakeWorkers(database, HANDOFF_CHANNEL)
    try:
        before = database.stats.statements
        last_call = 0.0
        for _ in range(200):
            wake()
            last_call = time.monotonic()
            await asyncio.sleep(0)  # the calls come from requests' tasks, between awaits
        await wake.flush()
        sent = database.stats.statements - before
        for _ in range(100):
            if heard and heard[-1] >= last_call:
                break
            await asyncio.sleep(0.02)
        assert 1 <= sent < 50, sent  # not one per call
        assert heard
        assert heard[-1] >= last_call  # the last call was heard
    finally:
        await close()


@pytest.mark.parametrize("engine_name", ["postgres"], indirect=True)
async def test_the_create_statement_itself_notifies_nobody(database: Database) -> None:
    """An API-only process's create, before its dispatch is installed (the context is not
    started), reaches no listener: the NOTIFY is the dispatch's, after the commit."""
    heard: list[float] = []
    close = await database.listen(HANDOFF_CHANNEL, lambda: heard.append(time.monotonic()))
    assert close is not None
    try:
        await send.create_project(database, "a kanban board", template="web")
        await asyncio.sleep(0.3)
        assert heard == []
    finally:
        await close()
