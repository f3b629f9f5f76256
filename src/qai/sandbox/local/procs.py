"""Host-side process bookkeeping: find and kill a command's whole tree, pid identity."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProcStat:
    pid: int
    ppid: int
    session: int
    state: str
    start_time: int


def read_stat(pid: int) -> ProcStat | None:
    """The fields of ``/proc/<pid>/stat`` QAI uses, or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            raw = file.read().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return ProcStat(
        pid=pid,
        state=fields[0],
        ppid=int(fields[1]),
        session=int(fields[3]),
        start_time=int(fields[19]),
    )


def all_stats() -> list[ProcStat]:
    stats = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (found := read_stat(int(entry))) is not None:
            stats.append(found)
    return stats


def is_alive(pid: int, start_time: int | None = None) -> bool:
    """Whether ``pid`` runs (not a zombie) and, if given, is the process started at that time."""
    found = read_stat(pid)
    if found is None or found.state in ("Z", "X"):
        return False
    return start_time is None or found.start_time == start_time


def _tree(root: int, session: int | None, stats: list[ProcStat]) -> set[int]:
    """``root``, its descendants, and every process of ``session``; zombies left out."""
    live = [s for s in stats if s.state not in ("Z", "X")]
    children: dict[int, list[int]] = {}
    for s in live:
        children.setdefault(s.ppid, []).append(s.pid)
    found = {s.pid for s in live if session is not None and s.session == session}
    if any(s.pid == root for s in live):
        found.add(root)
    todo = list(found)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def kill_tree(root: int, *, session: int | None = None, deadline: float = 5.0) -> None:
    """SIGKILL ``root``, all its descendants and (if given) every process of ``session``.

    A command runs in a session of its own, which its background children keep unless they
    call setsid() themselves; a process reparented to the sandbox's init is still found by
    its session. Repeats until nothing is left, because a process may fork while its tree is
    being killed (a fork bomb does), until ``deadline`` seconds have passed.
    """
    _kill_until_gone(lambda: _tree(root, session, all_stats()), deadline)


def _kill_until_gone(find: Callable[[], Iterable[int]], deadline: float) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        pids = list(find())
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
        time.sleep(0.005)  # let the kernel tear the killed processes down before looking again


def exit_code(returncode: int) -> int:
    """A subprocess return code as a shell reports it: 128+N for death by signal N."""
    return 128 - returncode if returncode < 0 else returncode


def pids_of_uid(uid: int) -> list[int]:
    """Processes whose effective uid is ``uid``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    found.append(int(entry))
            except FileNotFoundError:
                continue
    return found


def kill_uid(uid: int, *, deadline: float = 5.0) -> None:
    """SIGKILL every process of ``uid`` until none is left (or ``deadline`` seconds passed)."""
    _kill_until_gone(lambda: [pid for pid in pids_of_uid(uid) if is_alive(pid)], deadline)
