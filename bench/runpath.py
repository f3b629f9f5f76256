"""Run-path figures: event → run start with an idle worker, and whole scripted runs.

QAI runs as in the load phases (``qai serve``, production settings, its in-process worker idle
between runs), with one difference: its model is the fake OpenAI-compatible server of
``tests/fakes`` (the real OpenAI client speaks to it), scripted to answer at once — one turn
writing five files into the run's ``web`` sandbox, one turn ending the task. Each run is a new
project (POST /api/projects), started once the previous one has answered. The times come from
the database (millisecond timestamps written by QAI):

- event → run start: the USER message's ``createdAt`` to its run's ``started_at``;
- whole run: the USER message's ``createdAt`` to the RESULT message's ``createdAt``.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import time
from typing import Any

import asyncpg
import orjson

from bench import harness

FILES = {
    f"{name}": f"<!-- {name} -->\n" + "<p>scripted</p>\n" * 100
    for name in ("index.html", "about.html", "app.js", "style.css", "data.json")
}
FILES["data.json"] = '{"items": [' + ", ".join(str(n) for n in range(300)) + "]}"
SCRIPT: dict[str, Any] = {
    "api_key": "sk-test",
    "conversations": [
        {
            "match": "",
            "turns": [
                {
                    "tool_calls": [
                        {
                            "name": "createOrUpdateFiles",
                            "arguments": {
                                "files": [{"path": p, "content": c} for p, c in FILES.items()]
                            },
                        }
                    ]
                },
                {"text": "Done.\n<task_summary>A five-file page.</task_summary>"},
            ],
        }
    ],
}

TIMES = (
    'SELECT m."createdAt", r.started_at, a."createdAt", a.type::text, a.content '
    'FROM "Message" m JOIN qai_run r ON r.message_id = m.id '
    'LEFT JOIN "Message" a ON a.id = r.answer_message_id '
    "WHERE m.\"projectId\" = $1 AND m.role = 'USER'"
)


def summary(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "n": len(values),
        "median": statistics.median(values),
        "p95": p95,
        "min": ordered[0],
        "max": ordered[-1],
    }


async def _wait_answer(dsn: str, project_id: str, within: float) -> tuple[Any, ...]:
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            row = await conn.fetchrow(TIMES, project_id)
            if row is not None and row[3] is not None:
                return tuple(row)
            await asyncio.sleep(0.01)
    finally:
        await conn.close()
    raise TimeoutError(f"project {project_id}: no answer within {within} s")


def measure(runner: Any, count: int) -> dict[str, Any]:
    try:
        from tests.fakes.openai_server import FakeOpenAI
    except ImportError as exc:  # the bench runs from the repository, tests included
        return {"pending": f"the fake model server is not importable: {exc}"}
    runner.say(f"run path: {count} scripted runs, one at a time")
    starts: list[float] = []
    wholes: list[float] = []
    failures: list[str] = []
    with FakeOpenAI(SCRIPT) as fake:
        extra = {
            "QAI_MODEL": "openai:gpt-fake",
            "OPENAI_BASE_URL": fake.base_url,
            "OPENAI_API_KEY": "sk-test",
            "QAI_SANDBOX_ISOLATION": "bwrap" if shutil.which("bwrap") else "none",
        }
        with runner.server_on_copy("qai", runner.template, extra=extra) as (server, database):
            dsn = runner.dsn(database)
            for n in range(count + 1):  # the first run warms up (imports, first sandbox)
                time.sleep(0.5)  # the worker is idle again, between two queue polls
                status, _, body = harness.request(
                    "POST", server.base_url + "/api/projects", b'{"value":"a five-file page"}'
                )
                if status != 201:
                    failures.append(f"create answered {status}: {body[:200]!r}")
                    continue
                project_id = orjson.loads(body)["id"]
                asked, started, answered, kind, content = asyncio.run(
                    _wait_answer(dsn, project_id, 120)
                )
                if kind != "RESULT":
                    failures.append(str(content)[:300])
                    continue
                if n == 0:
                    continue
                starts.append((started - asked).total_seconds() * 1000)
                wholes.append((answered - asked).total_seconds() * 1000)
    result: dict[str, Any] = {"start_ms": summary(starts), "whole_ms": summary(wholes)}
    if failures:
        result["failures"] = failures[:5]
        result["failed"] = len(failures)
    if not starts:
        result["pending"] = "no scripted run ended in a RESULT: " + "; ".join(failures[:2])
    runner.say(
        "  run path: "
        + ", ".join(
            f"{k} median {v['median']:.0f} ms p95 {v['p95']:.0f} ms"
            for k, v in result.items()
            if isinstance(v, dict)
        )
    )
    return result
