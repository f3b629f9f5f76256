"""Every channel from a sandbox back to QAI holds a fixed number of bytes: what a sandbox
writes into its init's pipes, late output of its background commands, its log, the
descriptors of pipes it keeps open, and its files read back."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from qai.sandbox import LocalSandbox, LocalSandboxManager, SandboxPathError
from qai.sandbox.local.loop import LINGERING_PIPES
from qai.sandbox.local.registry import LOG_LIMIT, Log

from .conftest import ManagerFactory

pytestmark = pytest.mark.bwrap

FLOOD = 200 << 20
# What QAI's process may grow by while a sandbox floods a channel (allocator slack, the
# manager's thread), far below the flood itself.
RSS_SLACK = 48 << 20


def rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) << 10
    raise AssertionError("no VmRSS in /proc/self/status")


def log_sizes(sandbox: LocalSandbox) -> list[int]:
    log = sandbox.log_file().path
    return [p.stat().st_size for p in (log, log.with_name(log.name + ".1")) if p.exists()]


def flood(path: str, total: int) -> None:
    chunk = b"x" * (1 << 20)
    with open(path, "wb", buffering=0) as pipe:
        for _ in range(total // len(chunk)):
            pipe.write(chunk)


async def started(manager: LocalSandboxManager, name: str) -> LocalSandbox:
    sandbox = await manager.start("web", name=name)
    assert isinstance(sandbox, LocalSandbox)
    return sandbox


async def test_the_init_pipes_after_ready_hold_nothing(manager: LocalSandboxManager) -> None:
    """The init's stdout and stderr stay open while it runs. The issue saw a sandbox process
    reach them by ptrace (which the seccomp filter now denies too); here the test writes into
    them from the host, through /proc, as such a process would."""
    sandbox = await started(manager, "flood-init")
    before = rss()
    for fd in (1, 2):
        await asyncio.to_thread(flood, f"/proc/{sandbox.pid}/fd/{fd}", FLOOD // 2)
    await asyncio.sleep(0.2)  # the last chunks read
    grown = rss() - before
    assert grown < RSS_SLACK, f"QAI grew by {grown >> 20} MiB"
    assert all(size <= LOG_LIMIT for size in log_sizes(sandbox)), log_sizes(sandbox)
    assert (await sandbox.exec("echo alive")).stdout == "alive\n"


async def test_late_output_of_background_commands_is_capped(
    manager: LocalSandboxManager,
) -> None:
    sandbox = await started(manager, "flood-late")
    before = rss()
    result = await sandbox.exec(
        "(sleep 0.3; head -c 100000000 /dev/zero; head -c 100000000 /dev/zero >&2; touch flooded) &"
    )
    assert result.ok
    await asyncio.to_thread(wait_for, sandbox.directory / "flooded", 60)
    await asyncio.sleep(0.2)
    grown = rss() - before
    assert grown < RSS_SLACK, f"QAI grew by {grown >> 20} MiB"
    sizes = log_sizes(sandbox)
    assert sizes
    assert all(size <= LOG_LIMIT for size in sizes), sizes
    # A command's own output is cut as before.
    big = await sandbox.exec("head -c 50000000 /dev/zero; head -c 50000000 /dev/zero >&2")
    assert big.truncated
    assert len(big.stdout) < 70_000
    assert len(big.stderr) < 70_000


async def test_pipes_kept_open_by_background_processes_are_bounded(
    manager: LocalSandboxManager,
) -> None:
    """Each command whose background process keeps its pipes would keep a descriptor of QAI
    open for as long as the sandbox runs; past LINGERING_PIPES per sandbox the oldest close."""
    sandbox = await started(manager, "lingering")
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(LINGERING_PIPES + 40):
        assert (await sandbox.exec("sleep 600 &")).ok
    opened = len(os.listdir("/proc/self/fd")) - before
    assert opened <= LINGERING_PIPES + 4, f"{opened} descriptors left open"
    assert (await sandbox.exec("echo fine")).stdout == "fine\n"


async def test_reads_are_capped_per_call(make_manager: ManagerFactory) -> None:
    manager = await make_manager(sandbox_read_max_files=3, sandbox_read_max_mb=1)
    sandbox = await started(manager, "reads")
    files = {f"f{i}.txt": "y" * 400_000 for i in range(4)}
    await sandbox.write_files(files)
    with pytest.raises(SandboxPathError, match="QAI_SANDBOX_READ_MAX_FILES") as many:
        await sandbox.read_files(list(files))
    assert many.value.code == "BAD_REQUEST"
    with pytest.raises(SandboxPathError, match="QAI_SANDBOX_READ_MAX_MB"):
        await sandbox.read_files(["f0.txt", "f1.txt", "f2.txt"])
    assert await sandbox.read_files(["f0.txt", "f1.txt"]) == {
        "f0.txt": files["f0.txt"],
        "f1.txt": files["f1.txt"],
    }


def test_a_log_written_by_several_processes_stays_capped(tmp_path: Path) -> None:
    """The server, a worker and the CLI may each write one sandbox's log (late output of the
    commands each ran): the cap is on the file, not on what one writer wrote."""
    path = tmp_path / "box.log"
    writers = [Log(path), Log(path)]
    for _ in range(40):
        for log in writers:
            log.write(b"z" * (LOG_LIMIT // 3))
        sizes = [p.stat().st_size for p in (path, path.with_name("box.log.1")) if p.exists()]
        assert all(size <= LOG_LIMIT for size in sizes), sizes
    Log(path).write(b"w" * (3 * LOG_LIMIT))  # one write bigger than the cap: its tail is kept
    assert path.stat().st_size == LOG_LIMIT


def wait_for(path: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)
