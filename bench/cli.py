"""``python -m bench``: seed, run QAI and the floor in turn under wrk, report.

Every load phase starts its server on a fresh copy of the seeded database (``CREATE DATABASE ...
TEMPLATE``), so QAI and the floor see the same rows, and a phase's writes (and the runs QAI's
writes enqueue) never leak into the next phase.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from bench import harness, original, report, workload
from bench.harness import Endpoint, Sampler, Server, mask
from bench.sqllog import StatementLog, find_log_file

ROOT = Path(__file__).resolve().parent.parent
# Another bench on the same machine picks other ports with these.
QAI_PORT = int(os.environ.get("QAI_BENCH_QAI_PORT", "8111"))
FLOOR_PORT = int(os.environ.get("QAI_BENCH_FLOOR_PORT", "8112"))
TARGETS = ("qai", "floor")
MESSAGE_BODY = b'{"value":"add a dark mode toggle to the board"}'
PROJECT_BODY = b'{"value":"a kanban board with drag and drop"}'


def endpoints(w: workload.Workload) -> list[Endpoint]:
    return [
        Endpoint("project_get", "GET", f"/api/projects/{w.project_id}"),
        Endpoint("project_list", "GET", "/api/projects"),
        Endpoint("history", "GET", f"/api/projects/{w.history_project_id}/messages"),
        Endpoint(
            "message_create",
            "POST",
            f"/api/projects/{w.inbox_project_id}/messages",
            MESSAGE_BODY,
        ),
        Endpoint("project_create", "POST", "/api/projects", PROJECT_BODY),
    ]


# Reads share one server start; each write gets its own, so the rows (and agent runs) one
# write phase leaves behind do not weigh on the next.
GROUPS = (("project_get", "project_list", "history"), ("message_create",), ("project_create",))


@dataclass
class Options:
    pg: str
    duration: float
    warmup: float
    count_requests: int
    connections: list[int]
    threads: int
    targets: list[str]
    only: list[str] | None
    phases: list[str]
    runs: int
    out: Path
    pg_log: str | None
    profile: bool
    keep: bool
    qai_env: dict[str, str]
    original: Path
    original_cache: Path
    qai_mode: str = "serve"


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description="QAI's benchmarks.")
    parser.add_argument(
        "--pg",
        default=os.environ.get("QAI_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="Admin DSN of the PostgreSQL server; the bench makes and drops its own databases.",
    )
    parser.add_argument("--duration", type=float, default=10, help="Seconds per load (default 10).")
    parser.add_argument("--warmup", type=float, default=3, help="Warm-up seconds per endpoint.")
    parser.add_argument(
        "--count-requests",
        type=int,
        default=1000,
        help="Requests per endpoint and concurrency while counting SQL statements.",
    )
    parser.add_argument("--connections", default="16,64", help="wrk concurrencies (default 16,64).")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads.")
    parser.add_argument("--targets", default="qai,floor", help="qai, floor or both.")
    parser.add_argument("--only", default=None, help="Comma-separated endpoint keys.")
    parser.add_argument(
        "--phases",
        default="load,original,scale,runs",
        help="Which phases to run: load (QAI vs floor), original (QAI's tRPC vs the original's "
        "stack), scale (10k/100k), runs (agent runs).",
    )
    parser.add_argument(
        "--runs", type=int, default=30, help="Scripted agent runs to time (0: skip)."
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"), help="Where reports go.")
    parser.add_argument(
        "--pg-log", default=None, help="PostgreSQL's log file (default: from pg_lsclusters)."
    )
    parser.add_argument("--profile", action="store_true", help="py-spy profiles of QAI under load.")
    parser.add_argument("--keep", action="store_true", help="Keep the bench databases.")
    parser.add_argument(
        "--qai-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="A setting for every QAI server (repeatable): QAI_QUEUE_POLL_SECONDS=0.05",
    )
    parser.add_argument(
        "--original",
        default=str(ROOT.parent / "shared" / "anchor"),
        help="The original's stand-in (tRPC + Prisma on Node) to build and run (default "
        "../shared/anchor).",
    )
    parser.add_argument(
        "--original-cache",
        default=str(ROOT / ".cache"),
        help="Where the original's stand-in is built, once (default .cache).",
    )
    parser.add_argument(
        "--qai-mode",
        choices=("serve", "no-worker"),
        default="serve",
        help="QAI as one `qai serve` (API + in-process worker), or `qai serve --no-worker` "
        "beside a `qai worker` process (runs handed off across processes).",
    )
    args = parser.parse_args(argv)
    return Options(
        pg=args.pg,
        duration=args.duration,
        warmup=args.warmup,
        count_requests=args.count_requests,
        connections=[int(c) for c in args.connections.split(",")],
        threads=args.threads,
        targets=[t for t in args.targets.split(",") if t],
        only=args.only.split(",") if args.only else None,
        phases=[p for p in args.phases.split(",") if p],
        runs=args.runs,
        out=Path(args.out),
        pg_log=args.pg_log,
        profile=args.profile,
        keep=args.keep,
        qai_env=dict(item.split("=", 1) for item in args.qai_env),
        original=Path(args.original),
        original_cache=Path(args.original_cache),
        qai_mode=args.qai_mode,
    )


def dsn_for(admin: str, database: str) -> str:
    base, _, rest = admin.partition("?")
    return base.rsplit("/", 1)[0] + f"/{database}" + (f"?{rest}" if rest else "")


class Databases:
    """The bench's databases on the server: made from a seeded template, always dropped."""

    def __init__(self, admin: str, prefix: str) -> None:
        self.admin = admin
        self.prefix = prefix
        self.made: list[str] = []
        self.counter = 0

    async def _exec(self, *sql: str) -> None:
        conn = await asyncpg.connect(self.admin)
        try:
            for statement in sql:
                await conn.execute(statement)
        finally:
            await conn.close()

    def run(self, *sql: str) -> None:
        asyncio.run(self._exec(*sql))

    def template(self, name: str, *, scale: bool) -> tuple[str, workload.Workload]:
        database = f"{self.prefix}_{name}"
        self.run(
            f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)', f'CREATE DATABASE "{database}"'
        )
        self.made.append(database)
        dsn = dsn_for(self.admin, database)
        # Seeded as the original app would have left it, then taken over by QAI: the newest
        # migrations (runs) see the history and record it as answered.
        migrate(dsn, workload.SEED_REVISION)
        seeded = asyncio.run(workload.seed(dsn, scale=scale))
        migrate(dsn, "head")
        return database, seeded

    def copy(self, template: str, *, log_statements: bool = False) -> str:
        self.counter += 1
        database = f"{self.prefix}_{self.counter}"
        statements = [f'CREATE DATABASE "{database}" TEMPLATE "{template}"']
        if log_statements:
            statements.append(f"ALTER DATABASE \"{database}\" SET log_statement = 'all'")
        self.run(*statements)
        self.made.append(database)
        return database

    def drop(self, database: str) -> None:
        self.run(
            f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)',
            f'DROP DATABASE IF EXISTS "{database}_dbos" WITH (FORCE)',
        )
        if database in self.made:
            self.made.remove(database)

    def drop_all(self) -> None:
        for database in list(reversed(self.made)):
            self.drop(database)


def clean_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("QAI_")
        and k not in {"DATABASE_URL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL"}
    }
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def migrate(dsn: str, revision: str) -> None:
    env = clean_env() | {"DATABASE_URL": dsn}
    subprocess.run(
        [sys.executable, "-m", "qai", "db", "upgrade", revision],
        env=env,
        check=True,
        capture_output=True,
    )


def qai_env(
    dsn: str, data_dir: Path, port: int, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """QAI as a user runs it in production: ``qai serve`` (API + in-process worker), production
    settings, one JSON access-log line per request on stderr (which the bench sends to a file, as
    a service manager would)."""
    return (
        clean_env()
        | {
            "DATABASE_URL": dsn,
            "QAI_ENVIRONMENT": "production",
            "QAI_LOG_FORMAT": "json",
            "QAI_LOG_LEVEL": "info",
            "QAI_ACCESS_LOG": "true",
            "QAI_DATA_DIR": str(data_dir),
            "QAI_PORT": str(port),
            # Runs are handed off when a commit (or, across processes, a NOTIFY) wakes the
            # hand-off; its fallback poll would only add statements to the per-request count.
            "QAI_HANDOFF_POLL_SECONDS": "30",
        }
        | (extra or {})
    )


class Runner:
    def __init__(self, options: Options) -> None:
        self.options = options
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.dir = options.out / stamp
        self.dir.mkdir(parents=True, exist_ok=True)
        self.databases = Databases(options.pg, f"qai_bench_{os.getpid()}")
        log_file = find_log_file(options.pg_log)
        self.log_file = log_file if log_file is not None and log_file.exists() else None
        self.results: dict[str, Any] = {
            "started": stamp,
            "machine": machine(),
            "options": {k: str(v) for k, v in asdict(options).items()},
            "load": {},
            "sql": {},
            "scale": {},
            "runs": {},
            "checks": {},
            "original": {},
        }

    def dsn(self, database: str) -> str:
        return dsn_for(self.options.pg, database)

    def say(self, text: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {text}", flush=True)

    @contextmanager
    def server(
        self,
        target: str,
        database: str,
        *,
        extra: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
        worker: bool | None = None,
    ) -> Iterator[Server]:
        """``target`` on ``database``; ``args`` go to ``qai serve`` (``--no-worker``). With
        ``--no-worker`` a ``qai worker`` runs beside it unless ``worker`` is False (None: as
        ``--qai-mode`` says)."""
        dsn = self.dsn(database)
        log_path = self.dir / f"{target}.log"
        worker_process: subprocess.Popen[bytes] | None = None
        if target == "qai":
            port = QAI_PORT
            argv = [sys.executable, "-m", "qai", "serve", *args]
            env = qai_env(dsn, self.dir / "data", port, self.options.qai_env | (extra or {}))
            ready = "/readyz"
            if self.options.qai_mode == "no-worker" and "--no-worker" not in args:
                argv.append("--no-worker")
            if "--no-worker" in argv and worker is not False:
                # The API alone (what the load measures), its runs handed off by a worker.
                with (self.dir / "qai-worker.log").open("ab") as worker_log:
                    worker_process = subprocess.Popen(
                        [sys.executable, "-m", "qai", "worker"],
                        env=env,
                        stdout=worker_log,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                    )
        else:
            port = FLOOR_PORT
            argv = [
                sys.executable,
                "-m",
                "bench.floor",
                "--dsn",
                dsn,
                "--port",
                str(port),
                "--pool-size",
                "20",
            ]
            env = clean_env()
            ready = "/api/projects?limit=1"
        server = harness.start_server(
            target, argv, env=env, port=port, log_path=log_path, ready_path=ready
        )
        try:
            yield server
        finally:
            server.stop()
            if worker_process is not None:
                worker_process.terminate()
                try:
                    worker_process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    worker_process.kill()
                    worker_process.wait(timeout=10)

    def wrk(
        self, server: Server, endpoint: Endpoint, connections: int, seconds: float
    ) -> harness.WrkResult:
        return harness.run_wrk(
            server.base_url,
            endpoint,
            connections=connections,
            seconds=seconds,
            threads=self.options.threads,
            scripts=self.dir,
        )

    # --- phases ---------------------------------------------------------------------------

    def run(self) -> int:
        try:
            self.say(f"seeding the standard workload (results in {self.dir})")
            self.template, self.workload = self.databases.template("tpl", scale=False)
            points = [
                e
                for e in endpoints(self.workload)
                if not self.options.only or e.key in self.options.only
            ]
            if "load" in self.options.phases:
                self.verify(points)
                for group in GROUPS:
                    chosen = [e for e in points if e.key in group]
                    if chosen:
                        self.load_group(chosen)
            if "original" in self.options.phases:
                self.results["original"] = original.measure(self)
            if "scale" in self.options.phases and "qai" in self.options.targets:
                self.scale()
            if "runs" in self.options.phases and self.options.runs > 0:
                from bench import runpath

                self.results["runs"] = runpath.measure(self, self.options.runs)
        finally:
            if not self.options.keep:
                self.databases.drop_all()
        self.results["targets"] = report.judge(self.results)
        (self.dir / "report.json").write_bytes(
            orjson.dumps(self.results, option=orjson.OPT_INDENT_2)
        )
        markdown = report.markdown(self.results, self.dir)
        (self.dir / "report.md").write_text(markdown)
        latest = self.options.out / "latest"
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(self.dir.name)
        print(markdown)
        self.say(f"report: {self.dir / 'report.md'} and report.json")
        return 0

    def verify(self, points: list[Endpoint]) -> None:
        """Both servers on one database: the same requests must give the same bytes."""
        if set(self.options.targets) != set(TARGETS):
            return
        self.say("comparing QAI's and the floor's answers byte for byte")
        answers: dict[str, dict[str, tuple[int, str, bytes]]] = {}
        for target in TARGETS:
            with self.server_on_copy(target, self.template) as (server, _):
                answers[target] = sample_answers(server, points, self.workload)
        differences = []
        for key, (status, ctype, body) in answers["qai"].items():
            f_status, f_ctype, f_body = answers["floor"][key]
            if key.endswith("create"):
                body, f_body = mask(body), mask(f_body)
            if (status, ctype.split(";")[0], body) != (f_status, f_ctype.split(";")[0], f_body):
                differences.append(key)
                (self.dir / f"diff-{key}.qai.json").write_bytes(body)
                (self.dir / f"diff-{key}.floor.json").write_bytes(f_body)
        self.results["checks"]["same_json"] = {
            "compared": sorted(answers["qai"]),
            "different": differences,
        }
        if differences:
            raise SystemExit(
                f"QAI and the floor answer differently: {differences} (see {self.dir}/diff-*)"
            )
        self.say(f"same bytes on {len(answers['qai'])} answers")

    def load_group(self, points: list[Endpoint]) -> None:
        """Count the statements, then load, for these endpoints on every target.

        Both servers run side by side (each on its own copy of the database) and take turns
        per endpoint and concurrency, so a change in the machine's background load weighs on
        QAI and the floor alike.
        """
        conns = self.options.connections
        names = ", ".join(e.key for e in points)
        if self.log_file is not None:
            self.say(f"counting SQL statements: {names}")
            with self.servers(log_statements=True) as running:
                for endpoint in points:
                    for target, (server, database) in running.items():
                        self.wrk(server, endpoint, max(conns), self.options.warmup)
                        statements = StatementLog(self.log_file, database, self.dsn(database))
                        for c in conns:
                            offset = statements.mark()
                            done = harness.count_requests(
                                server.base_url,
                                endpoint,
                                total=self.options.count_requests,
                                concurrency=c,
                            )
                            kinds, sample = statements.count_since(offset)
                            entry = sql_entry(done, kinds, sample)
                            self.record("sql", target, endpoint, c, entry)
        self.say(f"load: {names} at {conns}")
        with self.servers() as running:
            for endpoint in points:
                for server, _ in running.values():
                    self.wrk(server, endpoint, max(conns), self.options.warmup)
                for c in conns:
                    for target, (server, _) in running.items():
                        profile = self.profiler(server, target, endpoint, c)
                        with Sampler(server) as sample:
                            result = self.wrk(server, endpoint, c, self.options.duration)
                        if profile is not None:
                            profile.wait()
                        entry = asdict(result) | {
                            "cpu_cores": round(sample.cpu_cores, 3),
                            "cpu_ms_per_request": round(
                                sample.cpu_cores * result.seconds / max(result.requests, 1) * 1000,
                                3,
                            ),
                            "peak_rss_mb": round(sample.peak_rss_mb, 1),
                            "process_peak_rss_mb": round(server.peak_rss_mb(), 1),
                            "loadavg": os.getloadavg()[0],
                        }
                        self.record("load", target, endpoint, c, entry)
                        errors = result.errors or result.non_2xx
                        self.say(
                            f"  {target} {endpoint.key} c={c}: {result.rps:.0f} req/s "
                            f"p50 {result.p50_ms:.2f} ms p99 {result.p99_ms:.2f} ms "
                            f"cpu {sample.cpu_cores:.2f} "
                            f"({entry['cpu_ms_per_request']:.3f} ms/req) "
                            f"rss {sample.peak_rss_mb:.0f} MB load {entry['loadavg']:.1f}"
                            + (f" ERRORS {result.errors}/{result.non_2xx}" if errors else "")
                        )

    def record(self, kind: str, target: str, endpoint: Endpoint, c: int, entry: Any) -> None:
        self.results[kind].setdefault(target, {}).setdefault(endpoint.key, {})[str(c)] = entry

    @contextmanager
    def server_on_copy(
        self,
        target: str,
        template: str,
        *,
        log_statements: bool = False,
        extra: dict[str, str] | None = None,
    ) -> Iterator[tuple[Server, str]]:
        """``target`` on a fresh copy of ``template`` (the server and the copy's name); the copy
        is dropped afterwards."""
        database = self.databases.copy(template, log_statements=log_statements)
        try:
            with self.server(target, database, extra=extra) as server:
                yield server, database
        finally:
            self.databases.drop(database)

    @contextmanager
    def servers(self, *, log_statements: bool = False) -> Iterator[dict[str, tuple[Server, str]]]:
        """Every target, each on a fresh copy of the seeded database."""
        with ExitStack() as stack:
            yield {
                target: stack.enter_context(
                    self.server_on_copy(target, self.template, log_statements=log_statements)
                )
                for target in self.options.targets
            }

    def profiler(self, server: Server, target: str, endpoint: Endpoint, c: int) -> Any:
        if not (self.options.profile and target == "qai" and c == max(self.options.connections)):
            return None
        import shutil

        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        out = self.dir / f"profile-{endpoint.key}.txt"
        seconds = max(int(self.options.duration) - 2, 1)
        return subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(server.pid),
                "--duration",
                str(seconds),
                "--format",
                "raw",
                "--rate",
                "200",
                "--output",
                str(out),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def scale(self) -> None:
        self.say("scale checks: seeding 100,000 projects and a 10,000-message history")
        large, big = self.databases.template("scale", scale=True)
        assert big.scale_project_id is not None
        cases = {
            "small": (self.template, self.workload.history_project_id),
            "large": (large, big.scale_project_id),
        }
        for size, (template, history_project) in cases.items():
            with self.server_on_copy("qai", template) as (server, _):
                checks = [
                    Endpoint("project_list", "GET", "/api/projects?limit=50"),
                    Endpoint(
                        "history", "GET", f"/api/projects/{history_project}/messages?limit=50"
                    ),
                    Endpoint(
                        "history_latest",
                        "GET",
                        f"/api/projects/{history_project}/messages?limit=50&latest=true",
                    ),
                ]
                for endpoint in checks:
                    self.wrk(server, endpoint, 16, self.options.warmup)
                    result = self.wrk(server, endpoint, 16, self.options.duration)
                    self.results["scale"].setdefault(endpoint.key, {})[size] = asdict(result)
                    self.say(
                        f"  scale {size} {endpoint.key}: {result.rps:.0f} req/s "
                        f"p50 {result.p50_ms:.2f} ms"
                    )


def sql_entry(done: int, kinds: Any, sample: list[str]) -> dict[str, Any]:
    total = sum(kinds.values())
    requests = max(done, 1)
    return {
        "requests": done,
        "statements": total,
        "per_request": round(total / requests, 3),
        "by_kind": {k: round(v / requests, 3) for k, v in sorted(kinds.items())},
        "sample": sample,
    }


def sample_answers(
    server: Server, points: list[Endpoint], w: workload.Workload
) -> dict[str, tuple[int, str, bytes]]:
    """Every endpoint's answer, plus a few more pages and an error; the reads come first, so
    that they see the seeded rows only."""
    extra = [
        Endpoint(
            "history_page_2", "GET", f"/api/projects/{w.history_project_id}/messages?limit=20"
        ),
        Endpoint("project_list_10", "GET", "/api/projects?limit=10"),
        Endpoint("history_unknown", "GET", "/api/projects/no-such-project/messages"),
        Endpoint("project_unknown", "GET", "/api/projects/no-such-project"),
    ]
    answers = {}
    for endpoint in sorted([*points, *extra], key=lambda e: e.body is not None):
        status, ctype, body = harness.request(
            endpoint.method, server.base_url + endpoint.path, endpoint.body
        )
        answers[endpoint.key] = (status, ctype, mask(body) if status >= 400 else body)
    return answers


def machine() -> dict[str, Any]:
    import platform

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "loadavg": round(os.getloadavg()[0], 1),
    }


def main(argv: list[str] | None = None) -> int:
    return Runner(parse_args(argv)).run()
