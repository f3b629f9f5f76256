"""How much of an app a version keeps: a bounded number of text files of bounded size.

A fragment row, the run's durable record of it and every read of the history carry a version's
files, so whatever a sandbox's code leaves behind (a binary, a file grown to megabytes of NUL
bytes, thousands of files) is cut here, once, and the answer says what was left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

# Files read back from a sandbox arrive decoded with bad UTF-8 replaced, so U+FFFD marks bytes
# that were not UTF-8; NUL never appears in source text.
_BINARY_MARKS = ("\x00", "\ufffd")
NAMED_PER_REASON = 5


class LeftOut(StrEnum):
    BINARY = "binary"
    FILE_TOO_LARGE = "file_too_large"
    TOTAL_TOO_LARGE = "total_too_large"
    TOO_MANY_FILES = "too_many_files"


@dataclass(frozen=True)
class FragmentLimits:
    max_bytes: int
    max_files: int
    max_file_bytes: int


@dataclass(frozen=True)
class KeptFiles:
    """The files a version keeps, and (path, reason) for each one it left out."""

    files: dict[str, str]
    left_out: tuple[tuple[str, LeftOut], ...] = ()


@dataclass
class FragmentFiles:
    """Builds a version's files within ``limits``, in the order they are offered."""

    limits: FragmentLimits
    files: dict[str, str] = field(default_factory=dict)
    left_out: list[tuple[str, LeftOut]] = field(default_factory=list)
    total: int = 0

    @property
    def full(self) -> bool:
        """No further file can be kept: the file count is reached."""
        return len(self.files) >= self.limits.max_files

    def offer(self, path: str, text: str) -> bool:
        """Keep ``path`` if it is text and fits; True if it was kept."""
        if self.full:
            return self.refuse(path, LeftOut.TOO_MANY_FILES)
        if any(mark in text for mark in _BINARY_MARKS):
            return self.refuse(path, LeftOut.BINARY)
        size = len(text.encode())
        if size > self.limits.max_file_bytes:
            return self.refuse(path, LeftOut.FILE_TOO_LARGE)
        if self.total + size > self.limits.max_bytes:
            return self.refuse(path, LeftOut.TOTAL_TOO_LARGE)
        self.files[path] = text
        self.total += size
        return True

    def refuse(self, path: str, reason: LeftOut) -> bool:
        self.left_out.append((path, reason))
        return False

    def kept(self) -> KeptFiles:
        return KeptFiles(dict(self.files), tuple(self.left_out))


def keep_within(files: dict[str, str], limits: FragmentLimits) -> KeptFiles:
    """``files`` (in path order) as far as ``limits`` allow."""
    builder = FragmentFiles(limits)
    for path in sorted(files):
        builder.offer(path, files[path])
    return builder.kept()


def _size(value: int) -> str:
    if value >= 1_000_000 and value % 1_048_576 == 0:
        return f"{value // 1_048_576} MiB"
    if value >= 1_000_000:
        return f"{value / 1_000_000:g} MB"
    if value % 1024 == 0:
        return f"{value // 1024} KiB"
    return f"{value:,} bytes"


def left_out_note(left_out: tuple[tuple[str, LeftOut], ...], limits: FragmentLimits) -> str | None:
    """What the user is told about the files a version left out; None if it kept them all."""
    if not left_out:
        return None
    why = {
        LeftOut.BINARY: "binary (not UTF-8 text)",
        LeftOut.FILE_TOO_LARGE: f"larger than {_size(limits.max_file_bytes)} each",
        LeftOut.TOTAL_TOO_LARGE: f"past the version's total of {_size(limits.max_bytes)}",
        LeftOut.TOO_MANY_FILES: f"past the version's {limits.max_files:,} files",
    }
    parts = []
    for reason in LeftOut:
        paths = [path for path, given in left_out if given is reason]
        if not paths:
            continue
        named = ", ".join(f"`{path}`" for path in paths[:NAMED_PER_REASON])
        more = len(paths) - NAMED_PER_REASON
        if more > 0:
            named += f" and {more:,} more"
        parts.append(f"{why[reason]}: {named}")
    count = len(left_out)
    files = "file was" if count == 1 else "files were"
    return (
        f"Note: {count:,} {files} left out of this version, so the code view and the next "
        f"version do not have them — {'; '.join(parts)}."
    )
