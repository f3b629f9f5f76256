"""App checks: a version's app opened in headless Chromium (and type-checked where its template
has types) before QAI announces it. Infrastructure: imports no domain code."""

from qai.checks._app import TYPE_CHECKS, check_app, unavailable
from qai.checks._browser import BrowserUnavailable, Chromium, check_page
from qai.checks._report import (
    MAX_PROBLEMS,
    CheckResult,
    CheckStatus,
    PageReport,
    Problem,
    ProblemKind,
    fix_request,
    typescript_problems,
)

__all__ = [
    "MAX_PROBLEMS",
    "TYPE_CHECKS",
    "BrowserUnavailable",
    "CheckResult",
    "CheckStatus",
    "Chromium",
    "PageReport",
    "Problem",
    "ProblemKind",
    "check_app",
    "check_page",
    "fix_request",
    "typescript_problems",
    "unavailable",
]
