"""A backlog of unanswered USER messages written straight into PostgreSQL, as a database left by
a long outage looks, and the figures of a `qai serve` starting on it.

As a script it measures the time to the first /healthz and the drain rate for each size given:
``python -m tests.runs.backlog 3000 30000`` (needs the PostgreSQL of the tests); ``--window=S``
stops watching the drain after S seconds and gives the rate so far; ``-v`` prints progress.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

from qai.db import migrate
from qai.settings import load_settings
from tests.conftest import _pg_conninfo, create_pg_database, drop_pg_database, free_port, pg_url
from tests.live import base_env

MESSAGES_PER_PROJECT = 3

# A finished run writes its ASSISTANT answer and sets qai_run.answer_message_id together.
UNANSWERED = """
SELECT count(*) FROM "Message" m LEFT JOIN qai_run r ON r.message_id = m.id
WHERE m.role = 'USER' AND r.answer_message_id IS NULL
"""

# The repair records a run (queued) as it enqueues each message: these are still to be enqueued.
WITHOUT_RUN = """
SELECT count(*) FROM "Message" m LEFT JOIN qai_run r ON r.message_id = m.id
WHERE m.role = 'USER' AND r.id IS NULL
"""


def insert_backlog(database: str, messages: int) -> None:
    """``messages`` USER messages, three per project, none enqueued and none with a run."""
    projects = max(1, messages // MESSAGES_PER_PROJECT)
    with psycopg.connect(_pg_conninfo(database), autocommit=True) as conn:
        conn.execute(
            """INSERT INTO "Project" (id, name, "createdAt", "updatedAt")
            SELECT 'backlog-p' || g, 'backlog ' || g, now(), now()
            FROM generate_series(0, %s - 1) g""",
            (projects,),
        )
        conn.execute(
            """INSERT INTO "Message" (id, content, role, type, "createdAt", "updatedAt",
                                      "projectId")
            SELECT 'backlog-m' || g, 'backlog message ' || g, 'USER', 'RESULT',
                   now() - interval '1 hour' + g * interval '1 millisecond',
                   now() - interval '1 hour' + g * interval '1 millisecond',
                   'backlog-p' || (g %% %s)
            FROM generate_series(0, %s - 1) g""",
            (projects, messages),
        )


def count(database: str, sql: str) -> int:
    with psycopg.connect(_pg_conninfo(database), autocommit=True) as conn:
        row = conn.execute(sql).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return int(row[0])


def answers_per_message(database: str) -> dict[int, int]:
    """How many USER messages have 0, 1, 2, ... ASSISTANT answers (by the runs' answers and
    by the ASSISTANT messages, which must agree)."""
    with psycopg.connect(_pg_conninfo(database), autocommit=True) as conn:
        # One statement: one snapshot, while runs may still be answering.
        rows = conn.execute(
            """SELECT n, count(*),
                      (SELECT count(*) FROM "Message" WHERE role = 'ASSISTANT')
               FROM (SELECT m.id, count(r.answer_message_id) AS n
                     FROM "Message" m LEFT JOIN qai_run r ON r.message_id = m.id
                     WHERE m.role = 'USER' GROUP BY m.id) per GROUP BY n"""
        ).fetchall()
    by_count = {int(n): int(c) for n, c, _ in rows}
    assistants = int(rows[0][2]) if rows else 0
    assert assistants == sum(n * c for n, c in by_count.items())
    return by_count


# A `qai serve` with its worker and no model: each run answers with an error at once.
SERVER_SETTINGS = {
    "QAI_WORKER_CONCURRENCY": "16",
    "QAI_QUEUE_POLL_SECONDS": "0.05",
    "QAI_SANDBOX_ISOLATION": "none",
}


def first_healthz(url: str, started: float, timeout: float = 600.0) -> float:
    """Seconds from ``started`` to the first 200 from /healthz."""
    while time.monotonic() - started < timeout:
        try:
            if httpx.get(url + "/healthz", timeout=1.0).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    raise AssertionError(f"no /healthz within {timeout}s")


def start_server(name: str, data: Path, log: Path) -> tuple[subprocess.Popen[bytes], float]:
    """A `qai serve` (its worker in it) on database ``name``: the process and the seconds
    from its start to its first /healthz."""
    port = free_port()
    with log.open("ab") as out:
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "qai", "serve"],
            env=base_env(pg_url(name), data, QAI_PORT=str(port), **SERVER_SETTINGS),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return process, first_healthz(f"http://127.0.0.1:{port}", started)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=30)


def measure(messages: int, *, window: float, verbose: bool = False) -> None:
    """QAI runs once on the empty database (its first start also makes DBOS's system
    database), stops, the backlog is written as an outage leaves it, and QAI starts again."""
    name = create_pg_database()
    try:
        migrate.upgrade(load_settings(database_url=pg_url(name)))
        with tempfile.TemporaryDirectory() as tmp:
            data, log = Path(tmp) / "data", Path(tmp) / "server.log"
            process, first_start = start_server(name, data, log)
            stop_server(process)
            insert_backlog(name, messages)
            process, healthy = start_server(name, data, log)
            served = time.monotonic()
            try:
                left, not_enqueued = count(name, UNANSWERED), count(name, WITHOUT_RUN)
                while (remaining := count(name, UNANSWERED)) > 0:
                    if time.monotonic() - served > window:
                        break
                    if verbose:
                        print(
                            f"{time.monotonic() - served + healthy:.0f} s: {remaining} unanswered"
                        )
                    time.sleep(5 if verbose else 0.5)
                watched = time.monotonic() - served
                answered = messages - remaining
                print(
                    f"{messages} unanswered: first /healthz after {healthy:.2f} s "
                    f"({left} unanswered, {not_enqueued} not yet enqueued then; the first start "
                    f"on the empty database took {first_start:.2f} s); "
                    f"{answered} answered in the {watched:.0f} s after "
                    f"({answered / watched:.1f} messages/s), {remaining} left; "
                    f"answers per message: {answers_per_message(name)}"
                )
            finally:
                stop_server(process)
    finally:
        drop_pg_database(name)


if __name__ == "__main__":
    options = [arg for arg in sys.argv[1:] if arg.startswith("-")]
    window = next((float(o.split("=")[1]) for o in options if o.startswith("--window=")), 1e9)
    for size in [arg for arg in sys.argv[1:] if not arg.startswith("-")] or ["3000", "30000"]:
        measure(int(size), window=window, verbose="-v" in options)
