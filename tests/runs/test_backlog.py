"""A backlog must not keep QAI from starting: `qai serve` on a PostgreSQL database holding
1,000 unanswered USER messages answers /healthz while most of them still wait, then answers every
one exactly once (the repair runs in the background, in batches, oldest first). Batches of 25
make the repair of these 1,000 take as long as that of 3,000 in the default batches of 200, at a
third of the drain's time.

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

BACKLOG = 1000
REPAIR_BATCH_SIZE = "25"
DRAIN_TIMEOUT_SECONDS = 840.0


@pytest.fixture
def backlog_database(postgres_template: str) -> str:
    require_postgres()
    name = create_pg_database(template=postgres_template)
    insert_backlog(name, BACKLOG)
    yield name  # type: ignore[misc]
    drop_pg_database(name)


@pytest.mark.postgres
@pytest.mark.timeout(900)  # 1,000 runs, one worker: a minute or more on a loaded machine
def test_serves_before_the_backlog_is_drained_then_answers_each_once(
    backlog_database: str, tmp_path: Path
) -> None:
    assert count(backlog_database, UNANSWERED) == BACKLOG
    with live_server(
        pg_url(backlog_database),
        tmp_path / "data",
        **SERVER_SETTINGS,
        QAI_REPAIR_BATCH_SIZE=REPAIR_BATCH_SIZE,
    ) as server:
        # live_server returns once /healthz answered 200: the repair is still going.
        assert count(backlog_database, WITHOUT_RUN) > 0, "served only once all were enqueued"
        assert count(backlog_database, UNANSWERED) > 0
        deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
        while count(backlog_database, UNANSWERED) > 0:
            assert server.process.poll() is None, server.log()
            assert time.monotonic() < deadline, f"backlog not drained:\n{server.log()[-3000:]}"
            time.sleep(0.5)
    assert answers_per_message(backlog_database) == {1: BACKLOG}
