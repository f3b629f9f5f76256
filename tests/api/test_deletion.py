"""Deleting deletes (invariant 9): after `DELETE /api/projects/{id}` no text of the project is
left in any file QAI keeps: not in its database (free pages and write-ahead log included), not in
DBOS's records of its runs (pickled inputs and step outputs), not in its sandboxes or their logs.

A worker with a scripted model runs two messages: one builds a page, one writes a file and then
fails (no fragment: its sandbox is known only to its run). The DELETE goes through the API of a
`qai serve --no-worker` process's parts, as in a split deployment."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import httpx
import psycopg
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models.function import AgentInfo, FunctionModel
from sqlalchemy.engine import make_url

from qai.db.engine import sqlite_path
from qai.messages import service as messages
from qai.messages.models import MessageType
from qai.settings import Settings
from tests.agent.support import (
    StartWorker,
    create_project,
    fast_runtime,
    prompts_in,
    say,
    start_worker,
    summary,
    turn_of,
    wait_for_answer,
    write,
)
from tests.conftest import _pg_conninfo

# The agent tests' fixtures: a worker of this process with a scripted model, fast polling.
__all__ = ["fast_runtime", "start_worker"]


def encodings(marker: bytes) -> list[bytes]:
    """``marker`` as it may sit in a file: as it is, or inside base64 (DBOS stores pickles
    base64-encoded), at each of the three alignments."""
    found = [marker]
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + marker)
        start = (shift + 2) // 3 * 4
        end = (shift + len(marker)) // 3 * 4
        found.append(encoded[start:end])
    return found


def files_holding(root: Path, marker: bytes) -> list[str]:
    needles = encodings(marker)
    holding = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if any(needle in data for needle in needles):
                holding.append(str(path))
    return holding


def dbos_rows_holding(database_url: str, marker: bytes, workflow_ids: list[str]) -> list[str]:
    """Rows of the `<db>_dbos` database's tables that belong to ``workflow_ids`` or mention
    ``marker`` (in any of its encodings)."""
    system = f"{make_url(database_url).database}_dbos"
    patterns = ["%" + needle.decode() + "%" for needle in encodings(marker)]
    holding = []
    with psycopg.connect(_pg_conninfo(system), autocommit=True) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        for schema, table in tables:
            name = f'"{schema}"."{table}"'
            columns = {
                row[0]
                for row in conn.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = %s AND table_name = %s",
                    (schema, table),
                )
            }
            where = "t::text LIKE ANY(%s)"
            params: list[object] = [patterns]
            if "workflow_uuid" in columns:
                where += " OR workflow_uuid = ANY(%s)"
                params.append(workflow_ids)
            row = conn.execute(
                f"SELECT count(*) FROM {name} t WHERE {where}",  # type: ignore[arg-type]
                params,
            ).fetchone()
            assert row is not None
            if row[0]:
                holding.append(f"{name}: {row[0]} row(s)")
    return holding


def builder(marker: str) -> FunctionModel:
    """The first message builds a page showing ``marker``; the second writes a file with it
    and never finishes (its run fails, leaving no fragment)."""

    def respond(history: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        failing = "second" in prompts_in(history)[-1]
        if turn_of(history) == 0:
            if failing:
                return write({"notes.txt": f"notes {marker}"})
            return write({"index.html": f"<h1>{marker}</h1>"})
        return say(f"Still thinking about {marker}") if failing else summary(f"Shows {marker}")

    return FunctionModel(respond)


async def test_a_deleted_project_leaves_no_text_in_any_file(
    start_worker: StartWorker,
    client: httpx.AsyncClient,
    settings: Settings,
    database_url: str,
    engine_name: str,
) -> None:
    marker = f"purge-marker-{uuid.uuid4().hex}"
    worker = await start_worker(builder(marker), run_max_turns=3)
    db = worker.database
    project_id, first = await create_project(db, f"Build a page that shows {marker}")
    built = await wait_for_answer(db, first)
    assert built.type is MessageType.RESULT, built.content
    async with db.session() as session:
        second = (
            await messages.create_user_message(session, project_id, f"A second page, {marker}")
        ).id
    failed = await wait_for_answer(db, second)
    assert failed.type is MessageType.ERROR
    data_dir = settings.data_dir
    before = files_holding(data_dir, marker.encode())
    assert any("sandboxes" in path for path in before), before  # the test sees what it seeks

    # As SQLite's own checkpoints do on a busy database: the text is in the database files
    # now, not only in their logs.
    assert await worker.database.checkpoint()
    assert await worker.jobs.checkpoint()

    response = await client.delete(f"/api/projects/{project_id}")
    assert response.status_code == 204

    assert files_holding(data_dir, marker.encode()) == []
    database_file = sqlite_path(database_url)
    if database_file is not None:
        assert files_holding(database_file.parent, marker.encode()) == []
    if engine_name == "postgres":
        assert dbos_rows_holding(database_url, marker.encode(), [first, second]) == []
    assert (await client.get(f"/api/projects/{project_id}")).status_code == 404
