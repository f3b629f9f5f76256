"""The ``original`` column: QAI's ``/api/trpc`` against the original's stack on the same data.

The original's stack is its stand-in in ``../shared/anchor`` (tRPC 11 + Prisma 7 + superjson on
Node, one process, ``NODE_ENV=production``): built once into a cache directory (copied, then
``npm ci --ignore-scripts``, ``npm run generate``, ``npm run build``, as its README says; built
again only when its sources change), never into the checkout. Both servers run on copies of the
bench's seeded database: the original's three tables are QAI's own, so the original reads the
very rows QAI reads. The same requests go to both (QAI's ``/api/trpc/...`` and its
``/trpc/...``): after a check that both answer the same JSON, wrk loads each endpoint on the
original, then on QAI (whose workers answer the runs of its creates after the loads, on the same
machine: never beside the original's loads), once with ``qai serve`` (API and in-process
worker), once with ``qai serve --no-worker`` beside a ``qai worker`` and once with the API
alone (``api-only``: the workers elsewhere, see :data:`MODES`). Without Node, npm or the
anchor's sources the phase says why and the bench goes on.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import asyncpg
import orjson

from bench import harness
from bench.harness import Endpoint, Sampler, Server, mask

if TYPE_CHECKING:
    from bench.cli import Runner

ORIGINAL_PORT = 8114
# How QAI runs: its ``qai serve`` arguments, and whether a ``qai worker`` runs beside it on this
# machine. ``api-only``: the API's processes alone, as where the workers run on other machines
# (the original's runs, on Inngest and E2B, are never on its API's machine): its runs are
# recorded and wait; nothing executes them during the loads.
MODES: dict[str, tuple[tuple[str, ...], bool]] = {
    "serve": ((), False),
    "no-worker": (("--no-worker",), True),
    "api-only": (("--no-worker",), False),
}
KEYS = ("project_get", "history", "message_create", "project_create")
# Reads share a server start; each write gets its own (as the load phase does).
GROUPS = (("project_get", "history"), ("message_create",), ("project_create",))
MESSAGE_VALUE = "add a dark mode toggle to the board"
PROJECT_VALUE = "a kanban board with drag and drop"
# What the build depends on: a change to any of them builds again.
BUILD_INPUTS = ("package.json", "package-lock.json", "src/server.ts", "prisma/schema.prisma")


def endpoints(prefix: str, runner: Runner) -> list[Endpoint]:
    """The same tRPC requests under ``prefix`` (``/api/trpc`` for QAI, ``/trpc`` for the
    original), as its client sends them without batching."""
    w = runner.workload

    def query(path: str, value: dict[str, str]) -> str:
        return f"{prefix}/{path}?input=" + quote(json.dumps({"json": value}, separators=(",", ":")))

    def body(value: dict[str, str]) -> bytes:
        return orjson.dumps({"json": value})

    return [
        Endpoint("project_get", "GET", query("projects.getOne", {"id": w.project_id})),
        Endpoint("history", "GET", query("messages.getMany", {"projectId": w.history_project_id})),
        Endpoint(
            "message_create",
            "POST",
            f"{prefix}/messages.create",
            body({"value": MESSAGE_VALUE, "projectId": w.inbox_project_id}),
        ),
        Endpoint(
            "project_create", "POST", f"{prefix}/projects.create", body({"value": PROJECT_VALUE})
        ),
    ]


def build(source: Path, cache: Path) -> tuple[Path | None, str]:
    """The anchor built under ``cache`` (its directory, or None) and what happened."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return None, "node and npm are not installed (apt-get install nodejs npm)"
    if not (source / "src" / "server.ts").is_file():
        return None, f"the original's stand-in is not at {source} (see --original)"
    digest = hashlib.sha256()
    for name in BUILD_INPUTS:
        digest.update((source / name).read_bytes())
    stamp = digest.hexdigest()
    target = cache / "anchor"
    marker = target / "dist" / ".qai-build-sha256"
    if marker.is_file() and marker.read_text() == stamp and (target / "dist/server.mjs").is_file():
        return target, f"built before in {target}"
    if target.exists():
        shutil.rmtree(target)
    ignored = shutil.ignore_patterns("node_modules", "dist", "generated", "venv", "results")
    shutil.copytree(source, target, ignore=ignored)
    for step in (
        [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
        [npm, "run", "generate"],
        [npm, "run", "build"],
    ):
        done = subprocess.run(step, cwd=target, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            return None, f"`{' '.join(step[1:])}` failed: {(done.stderr or done.stdout)[-500:]}"
    marker.write_text(stamp)
    return target, f"built in {target}"


@contextmanager
def original_server(runner: Runner, anchor: Path, database: str) -> Iterator[Server]:
    node = shutil.which("node")
    assert node is not None
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "DATABASE_URL": runner.dsn(database),
        "PORT": str(ORIGINAL_PORT),
        "NODE_ENV": "production",
        "TRPC_TRANSFORMER": "superjson",
    }
    ready = endpoints("/trpc", runner)[0].path
    server = harness.start_server(
        "original",
        [node, str(anchor / "dist" / "server.mjs")],
        env=env,
        port=ORIGINAL_PORT,
        log_path=runner.dir / "original.log",
        ready_path=ready,
    )
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def side_by_side(
    runner: Runner, anchor: Path, mode: str
) -> Iterator[tuple[dict[str, Server], str]]:
    """QAI in ``mode`` and the original, each on its own fresh copy of the seeded database;
    with the DSN of QAI's copy."""
    args, worker = MODES[mode]
    qai_copy = runner.databases.copy(runner.template)
    original_copy = runner.databases.copy(runner.template)
    try:
        with (
            runner.server("qai", qai_copy, args=args, worker=worker) as qai,
            original_server(runner, anchor, original_copy) as original,
        ):
            yield {"qai": qai, "original": original}, runner.dsn(qai_copy)
    finally:
        runner.databases.drop(qai_copy)
        runner.databases.drop(original_copy)


SETTLE_TIMEOUT_SECONDS = 20.0


def settle(qai_dsn: str, *, wait: bool = True) -> tuple[float, int]:
    """Wait (at most :data:`SETTLE_TIMEOUT_SECONDS`) until QAI has answered the runs of the
    loads before: its workers run them after a load, beside the next one, on the same
    PostgreSQL, whichever server that load is for. Returns the seconds waited and the runs
    still unfinished when the next load starts (a burst of thousands of instantly failing runs
    takes a worker minutes). Without ``wait`` (no worker on this machine) only counts them."""

    async def unfinished() -> int:
        connection = await asyncpg.connect(qai_dsn)
        try:
            count = await connection.fetchval(
                "SELECT count(*) FROM qai_run WHERE finished_at IS NULL"
            )
            return int(count)
        finally:
            await connection.close()

    started = time.monotonic()
    while (
        (left := asyncio.run(unfinished()))
        and wait
        and time.monotonic() - started < SETTLE_TIMEOUT_SECONDS
    ):
        time.sleep(0.5)
    return time.monotonic() - started, left


def compare(runner: Runner, anchor: Path) -> dict[str, Any]:
    """The same requests to both: the answers must be the same JSON (creates with fresh ids,
    times and names masked). Byte equality is recorded too: the original's Prisma writes a
    fragment's files as JSON.stringify does, QAI as PostgreSQL's jsonb text does."""
    asked = {"qai": endpoints("/api/trpc", runner), "original": endpoints("/trpc", runner)}
    for prefix_key, prefix in (("qai", "/api/trpc"), ("original", "/trpc")):
        asked[prefix_key] += [
            Endpoint(
                "project_unknown",
                "GET",
                f"{prefix}/projects.getOne?input=" + quote('{"json":{"id":"nope"}}'),
            ),
            Endpoint(
                "id_required",
                "GET",
                f"{prefix}/projects.getOne?input=" + quote('{"json":{"id":""}}'),
            ),
            Endpoint(
                "prompt_required",
                "POST",
                f"{prefix}/projects.create",
                b'{"json":{"value":""}}',
            ),
        ]
    answers: dict[str, dict[str, tuple[int, bytes]]] = {}
    with side_by_side(runner, anchor, "no-worker") as (servers, _):
        for target, server in servers.items():
            answers[target] = {}
            for endpoint in sorted(asked[target], key=lambda e: e.body is not None):
                status, _, body = harness.request(
                    endpoint.method, server.base_url + endpoint.path, endpoint.body
                )
                answers[target][endpoint.key] = (status, mask(body))
    different, byte_different = [], []
    for key, (status, body) in answers["qai"].items():
        o_status, o_body = answers["original"][key]
        if (status, orjson.loads(body)) != (o_status, orjson.loads(o_body)):
            different.append(key)
            (runner.dir / f"diff-original-{key}.qai.json").write_bytes(body)
            (runner.dir / f"diff-original-{key}.original.json").write_bytes(o_body)
        elif body != o_body:
            byte_different.append(key)
    return {
        "compared": sorted(answers["qai"]),
        "different": different,
        "same_json_not_bytes": byte_different,
    }


def measure(runner: Runner) -> dict[str, Any]:
    """The phase: build, compare, load. Its results, or ``{"skipped": why}``."""
    options = runner.options
    anchor, how = build(options.original, options.original_cache)
    runner.say(f"original: {how}")
    if anchor is None:
        return {"skipped": how}
    chosen = [k for k in KEYS if not options.only or k in options.only]
    results: dict[str, Any] = {"build": how, "load": {}}
    results["same_json"] = checked = compare(runner, anchor)
    runner.say(
        f"original: {len(checked['compared'])} answers compared, "
        f"different: {checked['different'] or 'none'}"
    )
    for mode in MODES:
        for group in GROUPS:
            keys = [k for k in group if k in chosen]
            if not keys:
                continue
            with side_by_side(runner, anchor, mode) as (servers, qai_dsn):
                points = {
                    "qai": {e.key: e for e in endpoints("/api/trpc", runner)},
                    "original": {e.key: e for e in endpoints("/trpc", runner)},
                }
                # The original's loads first: QAI's runs of its own loads (which its workers
                # answer after them, on the same machine) must not run beside the original's.
                for target in ("original", "qai"):
                    server = servers[target]
                    for key in keys:
                        runner.wrk(
                            server, points[target][key], max(options.connections), options.warmup
                        )
                        for c in options.connections:
                            settled, unfinished = settle(qai_dsn, wait=mode != "api-only")
                            with Sampler(server) as sample:
                                result = runner.wrk(
                                    server, points[target][key], c, options.duration
                                )
                            entry = asdict(result) | {
                                "cpu_cores": round(sample.cpu_cores, 3),
                                "peak_rss_mb": round(sample.peak_rss_mb, 1),
                                "loadavg": os.getloadavg()[0],
                                "settled_s": round(settled, 2),
                                "qai_runs_unfinished_at_start": unfinished,
                            }
                            column = results["load"].setdefault(mode, {}).setdefault(target, {})
                            column.setdefault(key, {})[str(c)] = entry
                            errors = result.errors or result.non_2xx
                            runner.say(
                                f"  original phase, QAI {mode}: {target} {key} c={c}: "
                                f"{result.rps:.0f} req/s p50 {result.p50_ms:.2f} ms "
                                f"p99 {result.p99_ms:.2f} ms"
                                + (f" ERRORS {result.errors}/{result.non_2xx}" if errors else "")
                            )
                        time.sleep(0.2)
    return results


LABELS = {
    "project_get": "projects.getOne",
    "history": "messages.getMany (50 messages)",
    "message_create": "messages.create",
    "project_create": "projects.create",
}


def markdown(section: dict[str, Any]) -> list[str]:
    """The report's section on the original."""
    lines = ["## QAI's tRPC against the original's stack (same data, same requests, same run)", ""]
    if "skipped" in section:
        return [*lines, f"Not measured: {section['skipped']}.", ""]
    checked = section.get("same_json", {})
    lines += [
        f"Answers compared: {', '.join(checked.get('compared', []))}; different JSON: "
        f"{', '.join(checked.get('different', [])) or 'none'} (same JSON, other bytes: "
        f"{', '.join(checked.get('same_json_not_bytes', [])) or 'none'}).",
        "",
        "| procedure | QAI mode | c | QAI req/s | original req/s | QAI/original | QAI p99 ms "
        "| original p99 ms | QAI runs unfinished at start (QAI / original) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for mode, targets in section.get("load", {}).items():
        for key, label in LABELS.items():
            for c, q in targets.get("qai", {}).get(key, {}).items():
                o = targets.get("original", {}).get(key, {}).get(c)
                if o is None:
                    continue
                ratio = q["rps"] / o["rps"] if o["rps"] else float("inf")
                backlog = "{} / {}".format(
                    q.get("qai_runs_unfinished_at_start", "-"),
                    o.get("qai_runs_unfinished_at_start", "-"),
                )
                lines.append(
                    f"| {label} | {mode} | {c} | {q['rps']:,.0f} | {o['rps']:,.0f} | "
                    f"{ratio:.2f}x | {q['p99_ms']:.2f} | {o['p99_ms']:.2f} | {backlog} |"
                )
    lines += [
        "",
        "Each server pair is loaded original first, then QAI: QAI's workers answer the runs "
        "of its creates after its loads, on the same machine, never beside the original's. "
        "Before each of QAI's loads the bench waits (at most 20 s) for the runs of its loads "
        "before; the last column says how many were still unfinished when the load began. "
        "With `no-worker`, a `qai worker` (niced, `QAI_WORKER_NICE`) runs them on this "
        "machine; `api-only` is `qai serve --no-worker` with no worker here, as where the "
        "workers run on other machines (the original's runs are never on its API's machine): "
        "its runs are recorded and wait.",
    ]
    lines.append("")
    return lines
