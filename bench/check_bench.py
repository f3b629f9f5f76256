"""Benchmark: how long the app check takes (the time a run spends after the agent's summary).

    PYTHONPATH=src:. .venv/bin/python -m bench.check_bench [--runs 10] [--templates web,nextjs]
        [--isolation bwrap|none] [--chromium /usr/bin/chromium]

For each template asked for, starts a real sandbox (bubblewrap needs root) with a small app and
checks it ``--runs`` times in headless Chromium, as a worker does, then checks a broken app of
the same template (its checks must find the error):

- ``web``: the first check launches the browser (``web_cold``), the others reuse it
  (``web_warm``: each opens a fresh browser context); ``web_broken`` has a script error.
- ``nextjs``: the template must be prepared (`qai sandbox prepare nextjs`; its cache in the
  default data directory is linked, not copied). ``nextjs_first`` is the first check of a fresh
  dev server (the page compiled on demand), ``nextjs_warm`` the next ones, each running the
  type check (``tsc --noEmit``) beside the page; ``nextjs_broken`` is a page that does not
  compile (Next's Build Error).

Prints JSON: per figure the median, p95, min and max in milliseconds and the number of runs.
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
from qai.sandbox import LocalSandboxManager, Sandbox, SandboxManager
from qai.sandbox._templates import TEMPLATES
from qai.settings import default_data_dir, load_settings

TEMPLATE_CHOICES = ("web", "nextjs")
# A Next.js dev server compiles a page on its first request: its first check gets this long.
NEXT_SECONDS = 120.0
WEB_SECONDS = 60.0

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
NEXT_BROKEN = {
    "app/page.tsx": (
        "export default function Page() {\n"
        "  return <main className='p-8'><h1>Benchmark {</h1></main>;\n}\n"
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


async def timed(sandbox: Sandbox, browser: Chromium, expect: str, seconds: float) -> float:
    started = time.monotonic()
    result: CheckResult = await check_app(sandbox, browser=browser, seconds=seconds)
    took = time.monotonic() - started
    if result.status != expect:
        raise SystemExit(f"expected the check to be {expect}, it was {result}")
    return took


async def web_figures(manager: SandboxManager, browser: Chromium, runs: int) -> dict[str, Any]:
    good = await manager.start("web", name="check-bench-good", files=APP)
    bad = await manager.start("web", name="check-bench-bad", files=BROKEN)
    await good.wait_ready(30)
    await bad.wait_ready(30)
    cold = [await timed(good, browser, "passed", WEB_SECONDS)]
    warm = [await timed(good, browser, "passed", WEB_SECONDS) for _ in range(runs)]
    broken = [await timed(bad, browser, "failed", WEB_SECONDS) for _ in range(max(3, runs // 3))]
    return {"web_cold": summary(cold), "web_warm": summary(warm), "web_broken": summary(broken)}


async def nextjs_figures(manager: SandboxManager, browser: Chromium, runs: int) -> dict[str, Any]:
    good = await manager.start("nextjs", name="check-bench-next", files=NEXT_PAGE)
    bad = await manager.start("nextjs", name="check-bench-next-bad", files=NEXT_BROKEN)
    await good.wait_ready(NEXT_SECONDS)
    await bad.wait_ready(NEXT_SECONDS)
    first = [await timed(good, browser, "passed", NEXT_SECONDS)]
    warm = [await timed(good, browser, "passed", NEXT_SECONDS) for _ in range(runs)]
    broken = [await timed(bad, browser, "failed", NEXT_SECONDS) for _ in range(max(3, runs // 3))]
    return {
        "nextjs_first": summary(first),
        "nextjs_warm": summary(warm),
        "nextjs_broken": summary(broken),
    }


def link_nextjs_cache(data_dir: Path) -> None:
    """The prepared nextjs cache of the default data directory, linked into ``data_dir``."""
    cache = TEMPLATES["nextjs"].cache_dir(default_data_dir())
    if cache is None or not (cache / ".complete").exists():
        raise SystemExit("the nextjs template is not prepared: run `qai sandbox prepare nextjs`")
    templates = data_dir / "cache" / "templates"
    templates.mkdir(parents=True, exist_ok=True)
    (templates / cache.name).symlink_to(cache)


async def run(runs: int, templates: list[str], isolation: str, chromium: Path) -> dict[str, Any]:
    results: dict[str, Any] = {"isolation": isolation}
    with tempfile.TemporaryDirectory(prefix="qai-check-bench-") as scratch:
        data_dir = Path(scratch)
        if "nextjs" in templates:
            link_nextjs_cache(data_dir)
        settings = load_settings(
            data_dir=data_dir,
            sandbox_isolation=isolation,
            sandbox_idle_seconds=600,
            sandbox_start_timeout=NEXT_SECONDS,
            sandbox_command_timeout=NEXT_SECONDS,
        )
        manager = LocalSandboxManager(settings)
        browser = Chromium(chromium)
        try:
            # The browser is launched by the first check: web's cold figure, when web runs.
            if "web" in templates:
                results |= await web_figures(manager, browser, runs)
            if "nextjs" in templates:
                results |= await nextjs_figures(manager, browser, runs)
        finally:
            await browser.close()
            for sandbox in await manager.list():
                await manager.stop(sandbox.name, delete_files=True)
            await manager.shutdown()
    return results


def templates_of(value: str) -> list[str]:
    chosen = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in TEMPLATE_CHOICES]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"templates are a comma-separated list of {', '.join(TEMPLATE_CHOICES)}"
        )
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.check_bench",
        description=__doc__.split("\n\n")[0]
        + " Figures for web (cold, warm, broken) and nextjs (first, warm, broken): median, p95, "
        "min, max in ms, as JSON.",
        epilog="Next.js: `qai sandbox prepare nextjs` once, then "
        "`python -m bench.check_bench --templates nextjs --runs 5` (or web,nextjs for both).",
    )
    parser.add_argument("--runs", type=int, default=10, help="warm checks per template (10)")
    parser.add_argument(
        "--templates",
        type=templates_of,
        default=["web"],
        help="comma-separated: web, nextjs (default: web); nextjs needs the prepared template",
    )
    parser.add_argument("--isolation", choices=("bwrap", "none"), default="bwrap")
    parser.add_argument("--chromium", type=Path, default=Path("/usr/bin/chromium"))
    args = parser.parse_args()
    result = asyncio.run(run(args.runs, args.templates, args.isolation, args.chromium))
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
