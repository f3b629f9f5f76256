"""A real QAI server process for tests: `python -m qai serve` on a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

import qai
from tests.conftest import free_port

# The qai package this test run imported: a server started by a test runs the same code,
# wherever an editable install points (a git worktree puts its src first on PYTHONPATH).
QAI_SOURCE = str(Path(qai.__file__).resolve().parents[1])

START_TIMEOUT_SECONDS = 60.0


@dataclass
class LiveServer:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        self.process.send_signal(sig)
        self.process.wait(timeout=30)


def base_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "PYTHONPATH": QAI_SOURCE,
        "DATABASE_URL": database_url,
        "QAI_DATA_DIR": str(data_dir),
    }
    # Tests that turn the app check off (tests/agent/support.py) turn it off in their servers.
    if "QAI_CHECK_ENABLED" in os.environ:
        env["QAI_CHECK_ENABLED"] = os.environ["QAI_CHECK_ENABLED"]
    env.update(extra)
    return env


@contextmanager
def live_server(
    database_url: str,
    data_dir: Path,
    *,
    args: tuple[str, ...] = (),
    port_option: bool = False,
    **extra_env: str,
) -> Iterator[LiveServer]:
    """`qai serve` on a free port (or ``QAI_PORT``), given as QAI_PORT or, with
    ``port_option``, only as `--port`; stopped (or killed) at the end."""
    port = int(extra_env.pop("QAI_PORT", 0))
    if port:
        wait_until_bindable(port)  # a server on it before (a restart test) may still hold it
    else:
        port = free_port()
    if port_option:
        args = (*args, "--port", str(port))
        env = base_env(database_url, data_dir, **extra_env)
    else:
        env = base_env(database_url, data_dir, QAI_PORT=str(port), **extra_env)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "qai", "serve", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", port, process, log_path)
    try:
        wait_until_healthy(server)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def wait_until_bindable(port: int, timeout: float = 15.0) -> None:
    """Wait until a server could listen on ``port`` (as uvicorn binds: with SO_REUSEADDR)."""
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
                return
            except OSError:
                if time.monotonic() >= deadline:
                    raise
        time.sleep(0.1)


def wait_until_healthy(server: LiveServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"QAI exited with {server.process.returncode}:\n{server.log()}")
        try:
            if httpx.get(server.url + "/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"QAI did not become healthy in {START_TIMEOUT_SECONDS}s:\n{server.log()}")
