"""What an app check found: its problems, bounded, and the check as stored with a version."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

ProblemKind = Literal[
    "http", "exception", "console", "request", "overlay", "blank", "typescript", "timeout"
]
CheckStatus = Literal["passed", "failed", "skipped"]

MAX_PROBLEMS = 10
MAX_MESSAGE_CHARS = 2000


def clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    return text[: limit - 40].rstrip() + f"\n... ({len(text) - limit + 40} characters cut)"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the app: its kind, the error text as the browser or the compiler
    gave it, and where, when known."""

    kind: ProblemKind
    message: str
    file: str | None = None
    line: int | None = None
    url: str | None = None

    @classmethod
    def of(cls, kind: ProblemKind, message: str, **where: Any) -> Problem:
        return cls(kind, clip(message), **where)

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> Problem:
        """A problem as :meth:`as_json` stored it (unknown keys ignored)."""
        kind = stored.get("kind")
        return cls(
            kind if kind in _LABELS else "console",
            str(stored.get("message", "")),
            file=stored.get("file"),
            line=stored.get("line"),
            url=stored.get("url"),
        )

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "message": self.message}
        for key in ("file", "line", "url"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    def describe(self) -> str:
        """One line for a person or a model: where, then the text."""
        where = self.file or ""
        if where and self.line is not None:
            where += f":{self.line}"
        label = _LABELS[self.kind]
        return f"{label}{f' ({where})' if where else ''}: {self.message}"


_LABELS: dict[str, str] = {
    "http": "HTTP error",
    "exception": "Uncaught exception",
    "console": "Console error",
    "request": "Failed request",
    "overlay": "Next.js error overlay",
    "blank": "Blank page",
    "typescript": "TypeScript error",
    "timeout": "Timeout",
}


@dataclass(frozen=True)
class PageReport:
    """What the browser saw of one page."""

    http_status: int | None
    problems: list[Problem]
    screenshot: bytes | None
    seconds: float


@dataclass(frozen=True)
class CheckResult:
    """One check of a version: ``passed`` (opened, nothing wrong), ``failed`` (``problems``
    say what) or ``skipped`` (``reason`` says why it could not be opened)."""

    status: CheckStatus
    problems: list[Problem] = field(default_factory=list)
    reason: str | None = None
    http_status: int | None = None
    seconds: float = 0.0
    attempt: int = 1
    screenshot: bytes | None = field(default=None, repr=False)

    def as_json(self) -> dict[str, Any]:
        """The check as ``qai_version.check`` stores it and the API shows it."""
        out: dict[str, Any] = {
            "status": self.status,
            "problems": [problem.as_json() for problem in self.problems],
            "httpStatus": self.http_status,
            "seconds": self.seconds,
            "attempts": self.attempt,
        }
        if self.reason is not None:
            out["reason"] = self.reason
        return out

    def problem_list(self) -> str:
        return "\n".join(f"- {problem.describe()}" for problem in self.problems)


FIX_REQUEST = (
    "The app still has errors. QAI opened it in a browser and found:\n{problems}\nPlease fix them."
)


def fix_request(check: dict[str, Any], limit: int) -> str:
    """The follow-up message that asks the agent to fix a stored check's problems, at most
    ``limit`` characters (each problem's line is cut to fit)."""
    problems = [Problem.from_json(p) for p in check.get("problems", []) if isinstance(p, dict)]
    frame = len(FIX_REQUEST.format(problems=""))
    room = max(0, limit - frame)
    each = max(60, room // max(1, len(problems)) - 3)
    lines: list[str] = []
    used = 0
    for problem in problems:
        line = " ".join(problem.describe().split())
        line = line if len(line) <= each else line[: each - 3].rstrip() + "..."
        if used + len(line) + 3 > room:
            break
        lines.append(f"- {line}")
        used += len(line) + 3
    return FIX_REQUEST.format(problems="\n".join(lines))


# tsc --pretty false: "app/page.tsx(12,7): error TS2322: Type 'string' is not ..."
_TSC_LINE = re.compile(r"^(?P<file>[^\s(][^(]*)\((?P<line>\d+),(?P<col>\d+)\): error (?P<text>.*)$")


def typescript_problems(output: str) -> list[Problem]:
    """The errors of ``tsc --noEmit --pretty false`` (continuation lines joined to theirs)."""
    problems: list[Problem] = []
    current: dict[str, Any] | None = None
    for raw in output.splitlines():
        found = _TSC_LINE.match(raw)
        if found:
            if current is not None:
                problems.append(Problem.of("typescript", **current))
            current = {
                "message": found["text"],
                "file": found["file"].strip(),
                "line": int(found["line"]),
            }
        elif current is not None and raw.startswith(" "):
            current["message"] += "\n" + raw.rstrip()
    if current is not None:
        problems.append(Problem.of("typescript", **current))
    if not problems and output.strip():
        problems.append(Problem.of("typescript", output))
    return problems[:MAX_PROBLEMS]
