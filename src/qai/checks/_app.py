"""The check of an app running in a sandbox: its page in the browser, and for a template with
types its type check, within one time budget."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from qai.checks._browser import BrowserUnavailable, Chromium, check_page
from qai.checks._report import MAX_PROBLEMS, CheckResult, PageReport, Problem, typescript_problems
from qai.sandbox import Sandbox, SandboxStatus

# The type check of templates that have one, run in the app's root inside the sandbox.
TYPE_CHECKS = {"nextjs": "node_modules/.bin/tsc --noEmit --pretty false 2>&1"}
LOG_LINES = 20


def unavailable(browser: Path, *, enabled: bool) -> str | None:
    """Why no check can run with the Chromium at ``browser``, or None when one can."""
    if not enabled:
        return "App checks are off (QAI_CHECK_ENABLED=false)."
    if not (browser.is_file() and os.access(browser, os.X_OK)):
        return (
            f"No browser to open the app with: there is no Chromium at {browser} "
            "(apt-get install chromium, or set QAI_CHECK_BROWSER)."
        )
    return None


async def check_app(
    sandbox: Sandbox, *, browser: Chromium, seconds: float, enabled: bool = True, attempt: int = 1
) -> CheckResult:
    """Open the sandbox's app and say whether it works. Never raises for what the app does."""
    reason = unavailable(browser.executable, enabled=enabled)
    if reason is not None:
        return CheckResult("skipped", reason=reason, attempt=attempt)
    started = time.monotonic()
    status = await sandbox.wait_ready(seconds / 2)
    if status is not SandboxStatus.READY:
        detail = (await sandbox.info()).detail or status.value
        logs = "\n".join(await sandbox.logs(LOG_LINES))
        problem = Problem.of("http", f"The app's server is not running ({detail}).\n{logs}")
        return CheckResult("failed", [problem], seconds=_since(started), attempt=attempt)
    left = max(1.0, seconds - (time.monotonic() - started))
    page_check = check_page(
        sandbox.preview_url(), sandbox.open_socket, browser=browser, seconds=left
    )
    command = TYPE_CHECKS.get(sandbox.template)
    try:
        if command is None:
            page = await page_check
            types: list[Problem] = []
        else:
            page, types = await asyncio.gather(page_check, _type_check(sandbox, command, left))
    except BrowserUnavailable as exc:
        return CheckResult("skipped", reason=str(exc), seconds=_since(started), attempt=attempt)
    problems = [*types, *page.problems][:MAX_PROBLEMS]
    return _result(page, problems, _since(started), attempt)


async def _type_check(sandbox: Sandbox, command: str, seconds: float) -> list[Problem]:
    result = await sandbox.exec(command, timeout=seconds)
    if result.timed_out:
        return [Problem.of("timeout", f"The type check did not finish within {seconds:g} seconds.")]
    if result.exit_code == 0:
        return []
    return typescript_problems(result.stdout + result.stderr)


def _result(page: PageReport, problems: list[Problem], seconds: float, attempt: int) -> CheckResult:
    return CheckResult(
        "failed" if problems else "passed",
        problems,
        http_status=page.http_status,
        seconds=seconds,
        attempt=attempt,
        screenshot=page.screenshot,
    )


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)
