"""The standard workload, seeded straight into a migrated QAI database with asyncpg.

200 projects; one of them ("the history project") has 50 messages, every second one an ASSISTANT
answer with a fragment of five files of about 2 KB. The scale variant adds a project with 10,000
messages and grows the project list to 100,000 projects.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import asyncpg
import orjson

PROJECTS = 200
HISTORY_MESSAGES = 50
FILES_PER_FRAGMENT = 5
FILE_BYTES = 2048
SCALE_PROJECTS = 100_000
SCALE_MESSAGES = 10_000

# The workload is seeded at this revision (the original's tables and QAI's project options), then
# migrated to head, as a database the original app filled and QAI adopted.
SEED_REVISION = "qai_0001"

_BASE_TIME = datetime(2026, 1, 1, 12, 0, 0)


@dataclass(frozen=True)
class Workload:
    """The ids the load phases address."""

    project_id: str  # any project: project get
    history_project_id: str  # 50 messages with fragments: message history
    inbox_project_id: str  # message create writes here, so the history stays as seeded
    scale_project_id: str | None = None  # 10,000 messages (scale variant only)


def _id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def file_text(index: int, size: int = FILE_BYTES) -> str:
    """About ``size`` characters of plausible TSX: quotes, newlines, tabs and non-ASCII, so
    the JSON escaping of both servers is exercised."""
    lines = [f'"use client";\n\nimport {{ useState }} from "react";\n// part {index} — café\n']
    n = 0
    while sum(map(len, lines)) < size:
        lines.append(
            f'export function Item{index}_{n}() {{\n\tconst [v, setV] = useState("{n}");\n'
            f'\treturn <button className="p-2" onClick={{() => setV("x")}}>{{v}}</button>;\n}}\n'
        )
        n += 1
    return "".join(lines)[:size]


def fragment_files(seed: int) -> dict[str, str]:
    names = (
        "app/page.tsx",
        "components/board.tsx",
        "components/card.tsx",
        "lib/data.ts",
        "app/layout.tsx",
    )
    return {names[i]: file_text(seed * 10 + i) for i in range(FILES_PER_FRAGMENT)}


async def _insert_messages(
    conn: asyncpg.Connection, rng: random.Random, project_id: str, count: int, start: datetime
) -> None:
    messages = []
    fragments = []
    for i in range(count):
        at = start + timedelta(seconds=i)
        message_id = _id(rng)
        assistant = i % 2 == 1
        messages.append(
            (
                message_id,
                f"Answer {i}: here is your app."
                if assistant
                else f"Prompt {i}: build a kanban board",
                "ASSISTANT" if assistant else "USER",
                "RESULT",
                at,
                at,
                project_id,
            )
        )
        if assistant:
            fragments.append(
                (
                    _id(rng),
                    message_id,
                    f"http://{message_id[:8]}.preview.localhost:8000",
                    f"Kanban board {i}",
                    orjson.dumps(fragment_files(i)).decode(),
                    f"Built a kanban board, version {i}.",
                    at,
                    at,
                )
            )
    await conn.copy_records_to_table(
        "Message",
        records=messages,
        columns=["id", "content", "role", "type", "createdAt", "updatedAt", "projectId"],
    )
    await conn.executemany(
        'INSERT INTO "Fragment" (id, "messageId", "sandboxUrl", title, files, summary, '
        '"createdAt", "updatedAt") VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8)',
        fragments,
    )


async def seed(dsn: str, *, scale: bool = False, rng_seed: int = 7) -> Workload:
    """Fill a freshly migrated, empty QAI database."""
    rng = random.Random(rng_seed)
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            projects = []
            for i in range(PROJECTS):
                at = _BASE_TIME + timedelta(minutes=i)
                projects.append((_id(rng), f"project-{i}", at, at))
            await conn.copy_records_to_table(
                "Project", records=projects, columns=["id", "name", "createdAt", "updatedAt"]
            )
            await conn.copy_records_to_table(
                "qai_project_options",
                records=[(p[0], "web") for p in projects],
                columns=["project_id", "template"],
            )
            history = projects[0][0]
            await _insert_messages(conn, rng, history, HISTORY_MESSAGES, _BASE_TIME)
            workload = Workload(
                project_id=projects[PROJECTS // 2][0],
                history_project_id=history,
                inbox_project_id=projects[1][0],
            )
            if scale:
                # Older than the seeded ones, so the first page of the list is the same rows.
                await conn.execute(
                    'INSERT INTO "Project" (id, name, "createdAt", "updatedAt") '
                    "SELECT gen_random_uuid()::text, 'bulk-' || n, "
                    "$1::timestamp - n * interval '1 second', "
                    "$1::timestamp - n * interval '1 second' "
                    "FROM generate_series(1, $2) AS n",
                    _BASE_TIME - timedelta(days=1),
                    SCALE_PROJECTS - PROJECTS,
                )
                await conn.execute(
                    "INSERT INTO qai_project_options (project_id, template) "
                    "SELECT id, 'web' FROM \"Project\" WHERE name LIKE 'bulk-%'"
                )
                scale_project = projects[2][0]
                await _insert_messages(conn, rng, scale_project, SCALE_MESSAGES, _BASE_TIME)
                workload = replace(workload, scale_project_id=scale_project)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return workload
