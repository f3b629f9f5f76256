"""What one version changed against another: files added, removed, changed, with line diffs."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Change = Literal["added", "removed", "changed"]
CONTEXT_LINES = 3


@dataclass(frozen=True)
class FileDiff:
    path: str
    status: Change
    additions: int
    deletions: int
    diff: str  # unified, with "a/<path>" and "b/<path>" headers, as git writes it


def _unified(path: str, old: str | None, new: str | None) -> tuple[str, int, int]:
    before = (old or "").splitlines(keepends=True)
    after = (new or "").splitlines(keepends=True)
    lines = list(
        difflib.unified_diff(
            before,
            after,
            fromfile=f"a/{path}" if old is not None else "/dev/null",
            tofile=f"b/{path}" if new is not None else "/dev/null",
            n=CONTEXT_LINES,
        )
    )
    additions = sum(1 for line in lines[2:] if line.startswith("+"))
    deletions = sum(1 for line in lines[2:] if line.startswith("-"))
    # A last line without its newline still ends the line in the diff's text.
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    return text, additions, deletions


def diff_files(old: Mapping[str, str], new: Mapping[str, str]) -> list[FileDiff]:
    """Every path whose content differs, in path order."""
    found = []
    for path in sorted({*old, *new}):
        before, after = old.get(path), new.get(path)
        if before == after:
            continue
        status: Change = "added" if before is None else "removed" if after is None else "changed"
        text, additions, deletions = _unified(path, before, after)
        found.append(FileDiff(path, status, additions, deletions, text))
    return found
