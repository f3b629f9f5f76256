"""One budget per sandbox: its cgroup bounds all of its memory (shared memory included) and its
processes; every writable place is sized; the root is read-only; the cgroup goes at stop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from qai.sandbox import LocalSandbox, LocalSandboxManager
from qai.sandbox.local.cgroups import Budget, Cgroups
from qai.sandbox.local.registry import reserve_uid

from .conftest import ManagerFactory

pytestmark = pytest.mark.bwrap

BUDGET = {
    "sandbox_memory_mb": 128,
    "sandbox_max_processes": 40,
    "sandbox_file_size_mb": 8,
    "sandbox_tmp_mb": 16,
    "sandbox_shm_mb": 16,
}

# Touches every page of 1 GiB of shared anonymous memory: RLIMIT_DATA does not count it.
TOUCH_SHARED = (
    "import mmap\n"
    "size = 1 << 30\n"
    "m = mmap.mmap(-1, size, mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)\n"
    "for i in range(0, size, 4096): m[i] = 1\n"
    'print("touched", size)\n'
)


@pytest.fixture
def cgroups() -> Cgroups:
    found, reason = Cgroups.detect()
    if found is None:
        pytest.skip(f"this host gives sandboxes no cgroup: {reason}")
    return found


async def start(make_manager: ManagerFactory, name: str = "budget") -> LocalSandbox:
    manager = await make_manager(**BUDGET)
    sandbox = await manager.start("web", name=name)
    assert isinstance(sandbox, LocalSandbox)
    return sandbox


def cgroup_dirs(manager_or_cgroups: Cgroups, pid: int) -> list[Path]:
    procs = manager_or_cgroups.procs_of(pid)
    assert procs, f"process {pid} is in no sandbox cgroup"
    return [path.parent for path in procs]


def owner(pid: int) -> int:
    return Path(f"/proc/{pid}").stat().st_uid


def members(directories: list[Path]) -> set[int]:
    return {int(pid) for d in directories for pid in (d / "cgroup.procs").read_text().split()}


async def test_shared_memory_counts_against_the_budget(
    make_manager: ManagerFactory, cgroups: Cgroups
) -> None:
    sandbox = await start(make_manager)
    result = await sandbox.exec(f"python3 -c '{TOUCH_SHARED}'")
    assert "touched" not in result.stdout, result
    # The kernel's OOM killer stops it (SIGKILL), or the allocation fails.
    assert result.exit_code == 128 + 9 or "MemoryError" in result.stderr, result
    after = await sandbox.exec("echo alive")
    assert after.stdout == "alive\n"


async def test_dev_shm_and_tmp_are_sized(make_manager: ManagerFactory) -> None:
    sandbox = await start(make_manager)
    for place in ("/dev/shm", "/tmp"):
        fill = await sandbox.exec(
            f"for i in 1 2 3; do head -c 7M /dev/zero > {place}/f$i || exit 9; done"
        )
        assert fill.exit_code == 9, (place, fill)
        assert "No space left on device" in fill.stderr


async def test_only_the_app_directory_tmp_and_shm_are_writable(
    make_manager: ManagerFactory,
) -> None:
    sandbox = await start(make_manager)
    for path in ("/x", "/dev/x", "/etc/x", "/usr/x", "/home/x"):
        result = await sandbox.exec(f"mkdir {path} || touch {path}")
        assert result.exit_code != 0, path
        assert "Read-only file system" in result.stderr or "denied" in result.stderr, (path, result)
    writable = await sandbox.exec(
        "touch /home/user/a /tmp/a /dev/shm/a && echo ok; echo x > /dev/null && echo null"
    )
    assert writable.stdout == "ok\nnull\n", writable


async def test_a_fork_bomb_stops_at_the_cgroup_pids_limit(
    make_manager: ManagerFactory, cgroups: Cgroups
) -> None:
    sandbox = await start(make_manager)
    directories = cgroup_dirs(cgroups, sandbox.pid)
    pids = next(d for d in directories if (d / "pids.max").exists())
    assert (pids / "pids.max").read_text().strip() == str(BUDGET["sandbox_max_processes"])
    script = "import os, time\nwhile True:\n try: os.fork()\n except OSError: time.sleep(0.01)"
    result = await sandbox.exec(f"python3 -c '{script}'", timeout=3)
    assert result.timed_out
    events = (pids / "pids.events").read_text().split()
    assert int(events[events.index("max") + 1]) > 0, "the pids limit never refused a fork"
    assert (await sandbox.exec("echo recovered")).stdout == "recovered\n"


async def test_every_process_is_in_the_cgroup_which_goes_at_stop(
    make_manager: ManagerFactory, cgroups: Cgroups
) -> None:
    manager: LocalSandboxManager = await make_manager(**BUDGET)
    sandbox = await manager.start("web", name="member")
    assert isinstance(sandbox, LocalSandbox)
    directories = cgroup_dirs(cgroups, sandbox.pid)
    memory = next(
        d
        for d in directories
        if (d / "memory.limit_in_bytes").exists() or (d / "memory.max").exists()
    )
    limit_file = "memory.max" if (memory / "memory.max").exists() else "memory.limit_in_bytes"
    assert int((memory / limit_file).read_text()) == BUDGET["sandbox_memory_mb"] << 20
    background = await sandbox.exec("sleep 60 & echo $!")
    assert background.ok
    await asyncio.sleep(0.1)
    inside = members(directories)
    assert sandbox.pid in inside
    assert sandbox.server is not None
    assert sandbox.server.pid in inside
    # Every member is the sandbox's own: its uid, or QAI's entering helpers (nsenter).
    assert {owner(pid) for pid in inside} <= {sandbox.uid, 0}
    await manager.stop("member")
    assert not any(d.exists() for d in directories), directories


async def test_tmp_pages_count_against_the_memory_budget(
    make_manager: ManagerFactory, cgroups: Cgroups
) -> None:
    manager = await make_manager(**{**BUDGET, "sandbox_tmp_mb": 512})
    victim, bystander = [await manager.start("web", name=n) for n in ("tmpfill", "bystander")]
    assert isinstance(victim, LocalSandbox)
    # /tmp may hold 512 MiB, but its pages are memory the 128 MiB budget counts: the filler
    # is killed (and with it, when nothing else can be freed, the sandbox).
    fill = await victim.exec(
        "for i in $(seq 1 40); do head -c 7M /dev/zero > /tmp/f$i || exit 9; done; echo filled"
    )
    assert fill.exit_code in (9, 128 + 9), fill
    assert "filled" not in fill.stdout
    assert (await bystander.exec("echo fine")).stdout == "fine\n"


async def test_cgroups_left_by_killed_sandboxes_are_removed_and_no_others(
    make_manager: ManagerFactory, cgroups: Cgroups
) -> None:
    manager: LocalSandboxManager = await make_manager(**BUDGET)
    running = await manager.start("web", name="running")
    assert isinstance(running, LocalSandbox)
    kept = cgroup_dirs(cgroups, running.pid)
    uid_dir, base = manager.settings.sandbox_uid_dir, manager.settings.sandbox_uid_base
    # Left by a QAI killed with its sandbox: the cgroup is empty and nobody holds the uid.
    left_uid, left_lock = reserve_uid(uid_dir, "left-by-a-killed-qai", base)
    cgroups.create(left_uid, Budget(memory_bytes=64 << 20, processes=8))
    left_lock.release()
    # Being started: the cgroup is made, nothing has joined it yet, the uid is reserved.
    starting_uid, starting_lock = reserve_uid(uid_dir, "being-started", base)
    try:
        starting = [p.parent for p in cgroups.create(starting_uid, Budget(64 << 20, 8))]
        assert left_uid in cgroups.leftovers()
        assert starting_uid in cgroups.leftovers()
        assert running.uid not in cgroups.leftovers()  # its processes are in it

        removed = await asyncio.to_thread(manager.reaper.remove_leftover_cgroups)

        assert removed >= 1  # others may be left on this machine by earlier test runs
        assert left_uid not in cgroups.leftovers()
        assert all(d.exists() for d in starting), "removed while its uid was reserved"
        assert all(d.exists() for d in kept), "a running sandbox's cgroup was removed"
        assert (await running.exec("echo still here")).stdout.strip() == "still here"
    finally:
        cgroups.remove(starting_uid)
        starting_lock.release()
