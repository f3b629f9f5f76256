"""One memory and process budget per sandbox, from the kernel's cgroups.

Every process of a sandbox (its init, and every command entering it) is placed in a cgroup of
its own, made below QAI's own cgroup (so sandboxes stay within whatever QAI itself is given):

* cgroup v2: one cgroup with ``memory.max`` (anonymous and shared memory, tmpfs pages, page
  cache and kernel memory: all of it), ``memory.swap.max`` 0 and ``pids.max``;
* cgroup v1 (the ``memory`` and ``pids`` controllers mounted apart, as on hybrid hosts): a
  memory cgroup with ``memory.limit_in_bytes`` (and ``memory.memsw.limit_in_bytes`` where swap
  is accounted), which counts shared memory and tmpfs pages too, and a pids cgroup;
* neither (QAI not root, no controller, a v2 cgroup QAI may not delegate from): no cgroup;
  the per-process rlimits stay the only bound, and QAI says so in its log.

A process is placed before it execs anything of the sandbox's: :func:`join_argv` is a prefix
that writes its own pid into the cgroup, then execs the rest, so no child escapes by forking
early. The sandbox's cgroup is named after its host uid, which no other running sandbox has.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

logger = logging.getLogger("qai.sandbox")

CGROUP_PREFIX = "qai-sandbox-"
CONTROLLERS = ("memory", "pids")

# Writes its own pid into each file given before "--" (a cgroup's cgroup.procs), then execs
# the rest of its arguments; it stops at the first write that fails.
_JOIN_SCRIPT = 'set -e; while [ "$1" != -- ]; do echo $$ > "$1"; shift; done; shift; exec "$@"'


@dataclass(frozen=True, slots=True)
class Budget:
    """What one sandbox may use in all: bytes of memory, and processes (threads included)."""

    memory_bytes: int
    processes: int


@dataclass(frozen=True, slots=True)
class Mount:
    """Where a cgroup hierarchy is mounted, and which cgroup its mount root is."""

    point: Path
    root: str


def join_argv(procs: Sequence[Path]) -> list[str]:
    """The prefix that puts the process it starts into the cgroups of ``procs`` first."""
    if not procs:
        return []
    return ["/bin/sh", "-c", _JOIN_SCRIPT, "qai-cgroup", *map(str, procs), "--"]


class Cgroups:
    """The cgroups of this host that sandboxes get: one directory per controller (v1) or one
    (v2) below QAI's own cgroup, under which each sandbox gets ``qai-sandbox-<uid>``."""

    def __init__(
        self,
        version: Literal["v1", "v2"],
        mounts: Mapping[str, Mount],
        parents: Mapping[str, Path],
    ) -> None:
        self.version = version
        # By controller ("" for v2): where its hierarchy is mounted, and QAI's own cgroup in it.
        self._mounts = dict(mounts)
        self._parents = dict(parents)

    def __repr__(self) -> str:
        return f"<Cgroups {self.version} {sorted(map(str, self._parents.values()))}>"

    @classmethod
    def detect(cls, proc: Path = Path("/proc/self")) -> tuple[Cgroups | None, str]:
        """The cgroups this process can give sandboxes, or None and why not."""
        if os.geteuid() != 0:
            return None, "QAI does not run as root"
        try:
            own = _own_cgroups((proc / "cgroup").read_text())
            mounts = _mounts((proc / "mountinfo").read_text())
        except OSError as error:
            return None, f"the cgroups of QAI's process are unreadable ({error})"
        v2 = mounts.get("")
        if v2 is not None and "" in own:
            directory = _below(v2, own[""])
            if directory is not None:
                enabled, why = _delegate_v2(directory)
                if enabled:
                    return cls("v2", {"": v2}, {"": directory}), ""
                v2_reason = why
            else:
                v2_reason = "QAI's cgroup v2 is outside the mounted hierarchy"
        else:
            v2_reason = "no cgroup v2 hierarchy with the memory and pids controllers"
        parents: dict[str, Path] = {}
        for controller in CONTROLLERS:
            mount = mounts.get(controller)
            path = own.get(controller)
            directory = _below(mount, path) if mount is not None and path is not None else None
            if directory is None or not os.access(directory, os.W_OK):
                return None, f"{v2_reason}; no writable cgroup v1 {controller} controller"
            parents[controller] = directory
        return cls("v1", mounts, parents), ""

    def _directories(self, uid: int) -> dict[str, Path]:
        return {c: parent / f"{CGROUP_PREFIX}{uid}" for c, parent in self._parents.items()}

    def create(self, uid: int, budget: Budget) -> list[Path]:
        """Make (or reset) the cgroup of the sandbox of host ``uid``, with ``budget``; return
        the files a process writes its pid into to join it."""
        self.remove(uid)  # what a QAI process that died left, if anything
        procs = []
        try:
            for controller, directory in self._directories(uid).items():
                directory.mkdir()
                if controller in ("", "memory"):
                    self._limit_memory(directory, budget.memory_bytes)
                if controller in ("", "pids"):
                    _write(directory / "pids.max", budget.processes)
                procs.append(directory / "cgroup.procs")
        except OSError:
            self.remove(uid)
            raise
        return procs

    def _limit_memory(self, directory: Path, limit: int) -> None:
        if self.version == "v2":
            _write(directory / "memory.max", limit)
            if (directory / "memory.swap.max").exists():
                _write(directory / "memory.swap.max", 0)
            return
        _write(directory / "memory.limit_in_bytes", limit)
        # Memory+swap no larger than memory: swapped-out pages count against the budget too.
        if (directory / "memory.memsw.limit_in_bytes").exists():
            _write(directory / "memory.memsw.limit_in_bytes", limit)

    def procs_of(self, pid: int) -> list[Path] | None:
        """The cgroup.procs files of the sandbox cgroup process ``pid`` is in; None if it is
        in none of QAI's (it was started without one) or is gone."""
        try:
            own = _own_cgroups(Path(f"/proc/{pid}/cgroup").read_text())
        except (FileNotFoundError, ProcessLookupError):
            return None
        found = []
        for controller in self._parents:
            path = own.get(controller, "")
            directory = _below(self._mounts[controller], path)
            if directory is None or not directory.name.startswith(CGROUP_PREFIX):
                return None
            found.append(directory / "cgroup.procs")
        return found

    def leftovers(self) -> list[int]:
        """The uids of the sandbox cgroups below QAI's that no process is in: a QAI process
        that was killed leaves them (its sandboxes die with it), and a stop that was cut short."""
        uids: set[int] = set()
        for parent in self._parents.values():
            with contextlib.suppress(FileNotFoundError):
                for entry in os.scandir(parent):
                    suffix = entry.name.removeprefix(CGROUP_PREFIX)
                    if suffix != entry.name and suffix.isdigit() and entry.is_dir():
                        uids.add(int(suffix))
        return sorted(uid for uid in uids if self._empty(uid))

    def remove_if_empty(self, uid: int) -> bool:
        """Remove the cgroup of ``uid`` if no process is in it (none is killed); whether it is
        gone. Call it holding the uid's reservation, so no sandbox is being started in it."""
        if not self._empty(uid):
            return False
        for directory in self._directories(uid).values():
            try:
                directory.rmdir()
            except FileNotFoundError:
                continue
            except OSError:
                return False  # a process joined it since (EBUSY)
        return True

    def _empty(self, uid: int) -> bool:
        for directory in self._directories(uid).values():
            try:
                if (directory / "cgroup.procs").read_text().strip():
                    return False
            except FileNotFoundError:
                continue
        return True

    def remove(self, uid: int, *, deadline: float = 5.0) -> bool:
        """Kill whatever runs in the cgroup of ``uid`` and remove it; whether it is gone."""
        gone = True
        for directory in self._directories(uid).values():
            if directory.exists() and not _kill_and_remove(directory, deadline):
                logger.warning(
                    "cgroup %s could not be removed: processes are left in it", directory
                )
                gone = False
        return gone


def _kill_and_remove(directory: Path, deadline: float) -> bool:
    kill = directory / "cgroup.kill"  # v2 on Linux 5.14+: the kernel kills them all at once
    end = time.monotonic() + deadline
    while True:
        try:
            pids = [int(line) for line in (directory / "cgroup.procs").read_text().split()]
        except FileNotFoundError:
            return True
        if not pids:
            try:
                directory.rmdir()
                return True
            except FileNotFoundError:
                return True
            except OSError:
                pass  # EBUSY: a process that was leaving is not quite gone
        elif kill.exists():
            _write(kill, 1)
        else:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    continue
        if time.monotonic() >= end:
            return False
        time.sleep(0.005)  # let the kernel tear the killed processes down before looking again


def _write(path: Path, value: int) -> None:
    with open(path, "w") as file:
        file.write(f"{value}\n")


def _own_cgroups(text: str) -> dict[str, str]:
    """``/proc/<pid>/cgroup`` as controller -> path (v2's unified hierarchy as "")."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            found[controller] = path
    return found


def _mounts(text: str) -> dict[str, Mount]:
    """The cgroup hierarchies in ``/proc/<pid>/mountinfo``, by controller ("" for v2)."""
    found: dict[str, Mount] = {}
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields, after = left.split(), right.split()
        if len(fields) < 5 or len(after) < 3:
            continue
        kind, options = after[0], after[2].split(",")
        mount = Mount(point=Path(fields[4]), root=fields[3])
        if kind == "cgroup2":
            found.setdefault("", mount)
        elif kind == "cgroup":
            for controller in CONTROLLERS:
                if controller in options:
                    found.setdefault(controller, mount)
    return found


def _below(mount: Mount, path: str) -> Path | None:
    """The directory of cgroup ``path`` in the hierarchy mounted at ``mount``."""
    root = mount.root.rstrip("/")
    if path != root and not path.startswith(root + "/"):
        return None
    return mount.point / path[len(root) :].lstrip("/")


def _delegate_v2(directory: Path) -> tuple[bool, str]:
    """Enable the memory and pids controllers for the children of ``directory`` (v2)."""
    try:
        available = (directory / "cgroup.controllers").read_text().split()
    except OSError as error:
        return False, f"cgroup v2 unreadable ({error})"
    missing = [c for c in CONTROLLERS if c not in available]
    if missing:
        return False, f"cgroup v2 lacks the {', '.join(missing)} controller"
    try:
        enabled = (directory / "cgroup.subtree_control").read_text().split()
        wanted = [c for c in CONTROLLERS if c not in enabled]
        if wanted:
            with open(directory / "cgroup.subtree_control", "w") as file:
                file.write(" ".join(f"+{c}" for c in wanted))
    except OSError as error:
        # EBUSY: the cgroup holds processes (QAI's own) and is not the root, so v2 forbids it
        # children with controllers; QAI needs a cgroup delegated to it (e.g. systemd's
        # Delegate=yes on a service whose processes sit in a leaf).
        return False, f"cgroup v2 {directory} cannot give its children controllers ({error})"
    return True, ""
