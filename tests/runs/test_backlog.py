"""A backlog must not keep QAI from starting: `qai serve` on a PostgreSQL database holding
3,000 unanswered USER messages answers /healthz while most of them still wait, then answers every
one exactly once (the repair runs in the background, in batches, oldest first).

The figures (time to the first /healthz with 3,000 and 30,000 messages, the drain rate) come from
``python -m tests.runs.backlog``: timings are not asserted here."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import create_pg_database, drop_pg_database, pg_url, require_postgres
from tests.live import live_server
from tests.runs.backlog import (
    SERVER_SETTINGS,
    UNANSWERED,
    WITHOUT_RUN,
    answers_per_message,
    count,
    insert_backlog,
)

BACKLOG = 3000
DRAIN_TIMEOUT_SECONDS = 840.0


@pytest.fixture
def backlog_database(postgres_template: str) -> str:
    require_postgres()
    name = create_pg_database(template=postgres_template)
    insert_backlog(name, BACKLOG)
    yield name  # type: ignore[misc]
    drop_pg_database(name)


@pytest.mark.postgres
@pytest.mark.timeout(900)  # 3,000 runs, one worker: minutes on a loaded 2-core machine
def test_serves_before_the_backlog_is_drained_then_answers_each_once(
    backlog_database: str, tmp_path: Path
) -> None:
    assert count(backlog_database, UNANSWERED) == BACKLOG
    with live_server(pg_url(backlog_database), tmp_path / "data", **SERVER_SETTINGS) as server:
        # live_server returns once /healthz answered 200: the repair is still going.
        assert count(backlog_database, WITHOUT_RUN) > 0, "served only once all were enqueued"
        assert count(backlog_database, UNANSWERED) > 0
        deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
        while count(backlog_database, UNANSWERED) > 0:
            assert server.process.poll() is None, server.log()
            assert time.monotonic() < deadline, f"backlog not drained:\n{server.log()[-3000:]}"
            time.sleep(0.5)
    assert answers_per_message(backlog_database) == {1: BACKLOG}
