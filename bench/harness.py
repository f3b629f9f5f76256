"""Processes, load and measurements: servers started and watched through /proc, wrk runs."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass
class Server:
    """A server process started by the bench, its output in ``log_path``."""

    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime

    def rss_mb(self) -> float:
        return _status_kb(self.pid, "VmRSS") / 1024

    def peak_rss_mb(self) -> float:
        return _status_kb(self.pid, "VmHWM") / 1024

    def stop(self, timeout: float = 20.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def start_server(
    name: str, argv: list[str], *, env: dict[str, str], port: int, log_path: Path, ready_path: str
) -> Server:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    server = Server(name, process, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(server.base_url + ready_path, timeout=2) as answer:
                if answer.status < 500:
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{name} did not become ready in 90 s; see {log_path}")


def request(method: str, url: str, body: bytes | None = None) -> tuple[int, str, bytes]:
    """One HTTP request: status, content type, body (errors are answers too)."""
    headers = {"content-type": "application/json"} if body is not None else {}
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as answer:
            return answer.status, answer.headers.get("content-type", ""), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("content-type", ""), exc.read()


@dataclass
class Sampler:
    """Samples a server's RSS every ``interval`` seconds while a load runs; CPU from /proc."""

    server: Server
    interval: float = 0.1
    peak_rss_mb: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _cpu0: float = 0.0
    _t0: float = 0.0
    cpu_cores: float = 0.0

    def __enter__(self) -> Sampler:
        self._cpu0 = self.server.cpu_seconds()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_rss_mb = max(self.peak_rss_mb, self.server.rss_mb())
            self._stop.wait(self.interval)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        elapsed = time.monotonic() - self._t0
        self.cpu_cores = (self.server.cpu_seconds() - self._cpu0) / elapsed
        self.peak_rss_mb = max(self.peak_rss_mb, self.server.rss_mb())


@dataclass(frozen=True)
class Endpoint:
    """One benchmarked request."""

    key: str
    method: str
    path: str
    body: bytes | None = None


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    non_2xx: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def lua_script(endpoint: Endpoint, directory: Path) -> Path | None:
    if endpoint.body is None:
        return None
    path = directory / f"{endpoint.key}.lua"
    body = endpoint.body.decode().replace("\\", "\\\\").replace("'", "\\'")
    path.write_text(
        f'wrk.method = "{endpoint.method}"\n'
        f"wrk.body = '{body}'\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    return path


def run_wrk(
    base_url: str,
    endpoint: Endpoint,
    *,
    connections: int,
    seconds: float,
    threads: int,
    scripts: Path,
) -> WrkResult:
    argv = [
        "wrk",
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{max(seconds, 1):.0f}s",
        "--timeout",
        "10s",
        "--latency",
    ]
    script = lua_script(endpoint, scripts)
    if script is not None:
        argv += ["-s", str(script)]
    argv.append(base_url + endpoint.path)
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


def parse_wrk(out: str) -> WrkResult:
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    if not (total and rps and p50 and p99):
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return WrkResult(
        requests=int(total.group(1)),
        seconds=_ms(total.group(2) + total.group(3)) / 1000,
        rps=float(rps.group(1)),
        p50_ms=_ms(p50.group(1)),
        p99_ms=_ms(p99.group(1)),
        errors=sum(int(g) for g in errors.groups()) if errors else 0,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
    )


def count_requests(base_url: str, endpoint: Endpoint, *, total: int, concurrency: int) -> int:
    """Send exactly ``total`` requests, ``concurrency`` at a time; returns how many succeeded.

    The statement counts divide by this exact number (wrk stops mid-flight)."""
    import asyncio

    import httpx

    async def run() -> int:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        headers = {"content-type": "application/json"} if endpoint.body is not None else None
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:
            queue: asyncio.Queue[int] = asyncio.Queue()
            for n in range(total):
                queue.put_nowait(n)
            ok = 0

            async def worker() -> None:
                nonlocal ok
                while not queue.empty():
                    queue.get_nowait()
                    answer = await client.request(
                        endpoint.method, endpoint.path, content=endpoint.body, headers=headers
                    )
                    ok += answer.status_code < 400

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return ok

    return asyncio.run(run())


_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_STAMP = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
_NAME = re.compile(rb'"name":"[a-z]+-[a-z]+"')
_REQUEST_ID = re.compile(rb',"requestId":"[^"]*"')


def mask(body: bytes) -> bytes:
    """What must match between two answers of a create: all but fresh ids, times and names."""
    body = _UUID.sub(b"<uuid>", body)
    body = _STAMP.sub(b"<time>", body)
    body = _NAME.sub(b'"name":"<name>"', body)
    return _REQUEST_ID.sub(b"", body)
