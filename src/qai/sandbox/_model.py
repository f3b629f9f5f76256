"""Values the sandbox verbs return."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from qai.sandbox._errors import InvalidSandboxName

#: Each of a command's stdout and stderr is cut to this many bytes: the first and the last half
#: are kept, with a line saying how much was dropped between them.
OUTPUT_LIMIT = 64 * 1024

#: Largest file :meth:`Sandbox.read_files` returns.
READ_LIMIT = 1024 * 1024

#: The sandbox's working directory, as its processes see it. Paths given to the file verbs are
#: relative to it; absolute paths under it are accepted too.
WORKDIR = "/home/user"

# A DNS label (so the name fits a preview host name) that never starts like "<port>-", which
# preview host names use to address another port of a sandbox.
_NAME = re.compile(r"^(?![0-9]{1,5}-)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def is_name(name: str) -> bool:
    """Whether ``name`` can name a sandbox."""
    return _NAME.match(name) is not None and "--" not in name


def check_name(name: str) -> str:
    """Return ``name`` if it can name a sandbox, else raise :class:`InvalidSandboxName`."""
    if not is_name(name):
        raise InvalidSandboxName(
            f"invalid sandbox name {name!r}: use 1-63 lowercase letters, digits and single "
            "hyphens, starting and ending with a letter or digit, not starting with <digits>-"
        )
    return name


class SandboxStatus(StrEnum):
    """Where a sandbox's template server is: the preview shows the app only when READY."""

    STARTING = "starting"
    READY = "ready"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What :meth:`Sandbox.exec` returns.

    ``exit_code`` is the command's exit status; 128+N when a signal N killed it (SIGXFSZ,
    SIGXCPU, SIGKILL...); 124 when it ran past its timeout (then ``timed_out`` is true).
    ``stdout``/``stderr`` are decoded as UTF-8 (bad bytes replaced) and each cut to
    :data:`OUTPUT_LIMIT` bytes (``truncated`` says whether either was).
    """

    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool = False
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


@dataclass(frozen=True, slots=True)
class SandboxInfo:
    """One running sandbox, as :meth:`SandboxManager.list` reports it."""

    name: str
    template: str
    status: SandboxStatus
    isolation: str
    started_at: datetime
    last_used_at: datetime
    preview_url: str
    directory: Path
    pid: int
    uid: int | None
    owner_pid: int
    detail: str = ""  # why the status is FAILED


@dataclass(frozen=True, slots=True)
class PreviewSpec:
    """How to re-create a sandbox for a preview: its template and the files written over it."""

    template: str
    files: dict[str, str] = field(default_factory=dict)
