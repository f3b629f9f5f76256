"""The cost of authentication per request: the same reads on one database, served by QAI with
``QAI_AUTH=none`` and with ``QAI_AUTH=accounts`` and an API token (``Authorization: Bearer``).

    python -m bench.auth [--seconds 8] [--connections 16]

Both servers answer the same bytes (checked first); with accounts, the hot reads (answered
before FastAPI's routing, see docs/benchmarks.md) are off, so a hot read pays for FastAPI too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from bench.harness import Endpoint, WrkResult, parse_wrk, start_server

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env_for(data_dir: Path, auth: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "PYTHONPATH": str(ROOT / "src"),
        "QAI_DATA_DIR": str(data_dir),
        "QAI_AUTH": auth,
        "QAI_ACCESS_LOG": "false",
        "QAI_SANDBOX_ISOLATION": "none",
    }


def qai(env: dict[str, str], *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [sys.executable, "-m", "qai", *args], env=env, input=stdin, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return done.stdout


def get(url: str, headers: dict[str, str]) -> bytes:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as answer:
        return bytes(answer.read())


def wrk(url: str, headers: dict[str, str], seconds: float, connections: int) -> WrkResult:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds:.0f}s", "--latency"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.auth", description=__doc__)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--connections", type=int, default=16)
    options = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="qai-bench-auth-"))
    try:
        accounts_env = env_for(work, "accounts")
        qai(
            accounts_env, "users", "create", "bench@example.com", "--password-stdin", stdin="x" * 12
        )
        token = qai(accounts_env, "tokens", "create", "bench@example.com").strip().splitlines()[-1]
        bearer = {"Authorization": f"Bearer {token}"}
        results: dict[str, dict[str, tuple[bytes, WrkResult]]] = {}
        project_id = ""
        for auth, headers in (("accounts", bearer), ("none", {})):
            port = free_port()
            server = start_server(
                f"qai-{auth}",
                [sys.executable, "-m", "qai", "serve", "--no-worker", "--port", str(port)],
                env=env_for(work, auth),
                port=port,
                log_path=work / f"{auth}.log",
                ready_path="/healthz",
            )
            try:
                if not project_id:
                    request = urllib.request.Request(
                        server.base_url + "/api/projects",
                        data=json.dumps({"value": "a todo app"}).encode(),
                        headers={**bearer, "Content-Type": "application/json"},
                        method="POST",
                    )
                    with urllib.request.urlopen(request) as answer:
                        project_id = json.loads(answer.read())["id"]
                endpoints = [
                    Endpoint(
                        "project (hot read without accounts)", "GET", f"/api/projects/{project_id}"
                    ),
                    Endpoint("runs of a project", "GET", f"/api/projects/{project_id}/runs"),
                ]
                results[auth] = {}
                for endpoint in endpoints:
                    url = server.base_url + endpoint.path
                    results[auth][endpoint.key] = (
                        get(url, headers),
                        wrk(url, headers, options.seconds, options.connections),
                    )
            finally:
                server.stop()
        print(f"wrk -c{options.connections}, {options.seconds:.0f} s each, SQLite, one process")
        header = ("none req/s", "token req/s", "ratio", "p50 none", "p50 token")
        print(f"{'endpoint':40} " + " ".join(f"{name:>11}" for name in header))
        for key, (body_none, none) in results["none"].items():
            body_token, token_result = results["accounts"][key]
            assert body_none == body_token, (key, body_none, body_token)
            print(
                f"{key:40} {none.rps:11.0f} {token_result.rps:11.0f} "
                f"{token_result.rps / none.rps:11.2f} {none.p50_ms:9.2f}ms "
                f"{token_result.p50_ms:9.2f}ms"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
