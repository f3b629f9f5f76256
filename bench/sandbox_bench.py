"""Benchmark: how fast a `web` sandbox starts and serves its first preview byte.

    .venv/bin/python bench/sandbox_bench.py [--runs 30] [--isolation bwrap|none]

Runs real sandboxes (bubblewrap needs root) behind the preview gateway on a real uvicorn
server, on a scratch data directory, and prints JSON: per metric the median, p95, min and max
in milliseconds over the runs.

- ``start``: ``manager.start("web", files=...)`` returns (directory, namespaces, init).
- ``ready``: from the start call until the template's server answers inside the sandbox.
- ``first_byte``: from the start call until the first byte of the page arrives through the
  gateway (what a user waits for after the agent's sandbox starts).
- ``cold_preview``: a request for a preview whose sandbox is not running, until its first
  byte: resolve the stored files, re-create the sandbox, serve (a preview that never dies).
- ``warm_request``: a request to a running preview, through the gateway and the sandbox's
  network namespace.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from qai.sandbox import (
    LocalSandboxManager,
    PreviewGateway,
    PreviewHostMiddleware,
    PreviewSpec,
    Sandbox,
)
from qai.settings import load_settings

Scope = MutableMapping[str, Any]
PAGE = "<!doctype html><h1>benchmark page</h1>"


async def not_found(
    scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
) -> None:
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def summary(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    p95 = statistics.quantiles(ms, n=20, method="inclusive")[-1] if len(ms) > 1 else ms[0]
    return {
        "median": round(statistics.median(ms), 1),
        "p95": round(p95, 1),
        "min": round(ms[0], 1),
        "max": round(ms[-1], 1),
    }


async def first_byte(client: httpx.AsyncClient, host: str) -> float:
    """The time (perf_counter) the first byte of a 200 page arrives, past status pages."""
    while True:
        async with client.stream("GET", "/", headers={"host": host}) as response:
            arrived = time.perf_counter()  # the headers are in: the first byte came
            if response.status_code == 200:
                await response.aread()
                return arrived
            await response.aread()
        await asyncio.sleep(0.01)  # a status page: the sandbox is still starting


async def ready_time(sandbox: Sandbox) -> float:
    await sandbox.wait_ready(30)
    return time.perf_counter()


async def run(runs: int, isolation: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="qai-bench-") as scratch:
        settings = load_settings(
            data_dir=Path(scratch),
            sandbox_isolation=isolation,
            sandbox_max_running=4,
            sandbox_idle_seconds=600,
        )
        manager = LocalSandboxManager(settings)
        stored = {f"cold-{i}": PreviewSpec("web", {"index.html": PAGE}) for i in range(runs)}

        async def resolve(name: str) -> PreviewSpec | None:
            return stored.get(name)

        gateway = PreviewGateway(manager, resolve, url_template=settings.preview_url_template)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(
                PreviewHostMiddleware(not_found, gateway),
                host="127.0.0.1",
                port=port,
                log_level="warning",
                lifespan="off",
            )
        )
        serving = asyncio.create_task(server.serve())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not serving.done():
            if server.started:
                break
            await asyncio.sleep(0.01)  # uvicorn offers no event for "listening"
        else:
            raise SystemExit("the benchmark's server did not start")
        metrics: dict[str, list[float]] = {
            "start": [],
            "ready": [],
            "first_byte": [],
            "cold_preview": [],
            "warm_request": [],
        }
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                for i in range(runs):
                    name = f"bench-{i}"
                    host = f"{name}.preview.localhost:{port}"
                    began = time.perf_counter()
                    sandbox = await manager.start("web", name=name, files={"index.html": PAGE})
                    metrics["start"].append(time.perf_counter() - began)
                    watcher = asyncio.create_task(ready_time(sandbox))
                    metrics["first_byte"].append(await first_byte(client, host) - began)
                    metrics["ready"].append(await watcher - began)
                    for _ in range(5):
                        sent = time.perf_counter()
                        metrics["warm_request"].append(await first_byte(client, host) - sent)
                    await manager.stop(name, delete_files=True)

                    cold = f"cold-{i}.preview.localhost:{port}"
                    sent = time.perf_counter()
                    metrics["cold_preview"].append(await first_byte(client, cold) - sent)
                    await manager.stop(f"cold-{i}", delete_files=True)
        finally:
            server.should_exit = True
            await serving
            await manager.shutdown()
    return {
        "benchmark": "sandbox",
        "template": "web",
        "isolation": isolation,
        "runs": runs,
        "cpus": os.cpu_count(),
        "unit": "ms",
        "metrics": {key: summary(values) for key, values in metrics.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--isolation", choices=("bwrap", "none"), default="bwrap")
    args = parser.parse_args()
    result = asyncio.run(run(args.runs, args.isolation))
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
