"""Benchmark: how long the app check takes (the time a run spends after the agent's summary).

    .venv/bin/python bench/check_bench.py [--runs 10] [--isolation bwrap|none] [--nextjs]

Starts a real `web` sandbox (bubblewrap needs root) with a small app and checks it ``--runs``
times in headless Chromium, as a worker does: the first check launches the browser (``cold``),
the others reuse it (``warm``: each opens a fresh browser context). A broken app is checked
too (its checks find the error). ``--nextjs`` also checks a Next.js app (the template must be
prepared in the default data directory: `qai sandbox prepare nextjs`), type check included.
Prints JSON: per metric the median, p95, min and max in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from qai.checks import CheckResult, Chromium, check_app
from qai.sandbox import LocalSandboxManager, Sandbox
from qai.settings import default_data_dir, load_settings

APP = {
    "index.html": (
        "<!doctype html><html lang='en'><title>Bench</title><link rel='stylesheet' "
        "href='style.css'><body><h1>Benchmark</h1><ul id='list'></ul>"
        "<script src='script.js'></script></body></html>"
    ),
    "style.css": "body { font-family: system-ui; } h1 { color: #4338ca; }",
    "script.js": (
        "const list = document.getElementById('list');\n"
        "for (const item of ['one', 'two', 'three']) {\n"
        "  const li = document.createElement('li'); li.textContent = item; list.append(li);\n}\n"
    ),
}
BROKEN = {**APP, "script.js": "const list = ;\n"}
NEXT_PAGE = {
    "app/page.tsx": (
        "export default function Page() {\n"
        "  return <main className='p-8'><h1 className='text-2xl'>Benchmark</h1></main>;\n}\n"
    )
}


def summary(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    p95 = statistics.quantiles(ms, n=20, method="inclusive")[-1] if len(ms) > 1 else ms[0]
    return {
        "median_ms": round(statistics.median(ms), 1),
        "p95_ms": round(p95, 1),
        "min_ms": round(ms[0], 1),
        "max_ms": round(ms[-1], 1),
        "runs": len(ms),
    }


async def timed(sandbox: Sandbox, browser: Chromium, expect: str) -> float:
    started = time.monotonic()
    result: CheckResult = await check_app(sandbox, browser=browser, seconds=60)
    took = time.monotonic() - started
    if result.status != expect:
        raise SystemExit(f"expected the check to be {expect}, it was {result}")
    return took


async def run(runs: int, isolation: str, nextjs: bool, chromium: Path) -> dict[str, Any]:
    results: dict[str, Any] = {"isolation": isolation}
    with tempfile.TemporaryDirectory(prefix="qai-check-bench-") as scratch:
        settings = load_settings(
            data_dir=Path(scratch) if not nextjs else default_data_dir(),
            sandbox_isolation=isolation,
            sandbox_idle_seconds=600,
        )
        manager = LocalSandboxManager(settings)
        browser = Chromium(chromium)
        try:
            good = await manager.start("web", name="check-bench-good", files=APP)
            bad = await manager.start("web", name="check-bench-bad", files=BROKEN)
            await good.wait_ready(30)
            await bad.wait_ready(30)
            results["web_cold"] = summary([await timed(good, browser, "passed")])
            warm = [await timed(good, browser, "passed") for _ in range(runs)]
            results["web_warm"] = summary(warm)
            results["web_broken"] = summary(
                [await timed(bad, browser, "failed") for _ in range(max(3, runs // 3))]
            )
            if nextjs:
                app = await manager.start("nextjs", name="check-bench-next", files=NEXT_PAGE)
                await app.wait_ready(120)
                await timed(app, browser, "passed")  # the dev server compiles the page once
                results["nextjs_warm"] = summary(
                    [await timed(app, browser, "passed") for _ in range(max(3, runs // 2))]
                )
        finally:
            await browser.close()
            for name in ("check-bench-good", "check-bench-bad", "check-bench-next"):
                await manager.stop(name, delete_files=True)
            await manager.shutdown()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--isolation", choices=("bwrap", "none"), default="bwrap")
    parser.add_argument("--nextjs", action="store_true", help="also check a Next.js app")
    parser.add_argument("--chromium", type=Path, default=Path("/usr/bin/chromium"))
    args = parser.parse_args()
    result = asyncio.run(run(args.runs, args.isolation, args.nextjs, args.chromium))
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
