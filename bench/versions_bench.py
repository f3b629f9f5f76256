"""Versions: how long a restore and a hand edit take through the API, and how long `git clone`
of a project with 50 versions takes (the real git client against `qai serve`).

    PYTHONPATH=src python -m bench.versions_bench [--versions 50]

Prints JSON: milliseconds per edit and restore (median, p95), the clone's seconds, and the
number of commits the clone got (which must equal the number of versions).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.harness import start_server
from qai.db import create_database, migrate
from qai.messages.service import FragmentDraft, save_assistant_result
from qai.runs import send
from qai.settings import load_settings

FILES = {
    "index.html": "<!doctype html>\n<h1>Counter</h1>\n<script src='app.js'></script>\n",
    "style.css": "h1 { font-family: system-ui; }\n" * 20,
    "app.js": "let count = 0;\n" + "console.log(count);\n" * 200,
}


async def seed(database_url: str, data_dir: Path) -> tuple[str, str]:
    database = create_database(load_settings(database_url=database_url, data_dir=data_dir))
    try:
        project, _ = await send.create_project(database, "a counter", template="web")
        async with database.session() as session:
            answer = await save_assistant_result(
                session, project.id, "Here.", FragmentDraft("Counter", "http://x", FILES)
            )
        assert answer.fragment is not None
        return project.id, answer.fragment.id
    finally:
        await database.dispose()


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 1),
    }


def run(versions: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        database_url = f"sqlite:///{directory / 'qai.db'}"
        migrate.upgrade(load_settings(database_url=database_url, data_dir=directory / "data"))
        project_id, v1 = asyncio.run(seed(database_url, directory / "data"))
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": tmp,
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            "DATABASE_URL": database_url,
            "QAI_DATA_DIR": str(directory / "data"),
            "QAI_PORT": str(port),
            "QAI_SANDBOX_ISOLATION": "none",
        }
        server = start_server(
            "qai",
            [sys.executable, "-m", "qai", "serve", "--no-worker"],
            env=env,
            port=port,
            log_path=directory / "server.log",
            ready_path="/healthz",
        )
        try:
            edits: list[float] = []
            restores: list[float] = []
            latest = v1
            with httpx.Client(base_url=server.base_url, timeout=30) as http:
                for number in range(2, versions + 1):
                    started = time.perf_counter()
                    if number % 5 == 0:
                        response = http.post(f"/api/fragments/{v1}/restore")
                        restores.append(time.perf_counter() - started)
                    else:
                        body = {"files": {"app.js": f"let count = {number};\n"}}
                        response = http.post(f"/api/fragments/{latest}/edit", json=body)
                        edits.append(time.perf_counter() - started)
                    response.raise_for_status()
                    latest = response.json()["fragment"]["id"]
            started = time.perf_counter()
            subprocess.run(
                ["git", "clone", "-q", f"{server.base_url}/projects/{project_id}.git", "app"],
                cwd=tmp,
                check=True,
                env={"PATH": "/usr/bin:/bin", "HOME": tmp},
            )
            clone_seconds = time.perf_counter() - started
            commits = subprocess.run(
                ["git", "rev-list", "--count", "HEAD"],
                cwd=directory / "app",
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
        finally:
            server.stop()
    return {
        "versions": versions,
        "edit": summary(edits),
        "restore": summary(restores),
        "clone_seconds": round(clone_seconds, 3),
        "commits_cloned": int(commits),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", type=int, default=50)
    args = parser.parse_args()
    json.dump(run(args.versions), sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
