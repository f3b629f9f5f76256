"""Limits bind: a fork bomb, a memory hog, a disk filler and a CPU burner are stopped, while
the host and another sandbox keep working; a command past its timeout dies with its tree."""

from __future__ import annotations

import asyncio
import time

import pytest

from qai.sandbox import OUTPUT_LIMIT, LocalSandbox, SandboxStatus
from qai.sandbox.local.procs import pids_of_uid

from .conftest import ManagerFactory

pytestmark = pytest.mark.bwrap

LIMITS = {
    "sandbox_max_processes": 40,
    "sandbox_memory_mb": 128,
    "sandbox_file_size_mb": 8,
    "sandbox_tmp_mb": 16,
    "sandbox_cpu_seconds": 1,
}


async def start_two(make_manager: ManagerFactory, **overrides: object) -> list[LocalSandbox]:
    manager = await make_manager(**{**LIMITS, **overrides})
    started = [await manager.start("web", name=name) for name in ("victim", "bystander")]
    assert all(isinstance(s, LocalSandbox) for s in started)
    return started  # type: ignore[return-value]


async def host_and_bystander_work(bystander: LocalSandbox) -> None:
    host_process = await asyncio.create_subprocess_exec("true")
    assert await host_process.wait() == 0
    result = await bystander.exec("echo fine; ls /home/user | wc -l")
    assert result.ok, result
    assert result.stdout.startswith("fine")


async def test_fork_bomb_is_contained(make_manager: ManagerFactory) -> None:
    victim, bystander = await start_two(make_manager, sandbox_cpu_seconds=60)
    assert victim.uid is not None
    # Every process forks for ever, and keeps trying when the limit refuses it.
    script = "import os, time\nwhile True:\n try: os.fork()\n except OSError: time.sleep(0.01)"
    bomb = asyncio.create_task(victim.exec(f"python3 -c '{script}'", timeout=4))
    deadline = time.monotonic() + 10
    while len(pids_of_uid(victim.uid)) < LIMITS["sandbox_max_processes"] - 5:
        assert time.monotonic() < deadline, "the fork bomb never reached its limit"
        await asyncio.sleep(0.05)
    # At its limit the bomb can fork no more (a process entering the sandbox is counted once
    # it has its uid, so the count may pass the limit by one or two); the host and the other
    # sandbox are unaffected.
    assert len(pids_of_uid(victim.uid)) <= LIMITS["sandbox_max_processes"] + 2
    await host_and_bystander_work(bystander)
    result = await bomb
    assert result.timed_out
    assert result.exit_code == 124
    # The timeout killed the bomb's whole session: the sandbox works again.
    after = await victim.exec("echo recovered")
    assert after.stdout == "recovered\n"
    assert len(pids_of_uid(victim.uid)) < 10


async def test_memory_hog_is_stopped(make_manager: ManagerFactory) -> None:
    victim, bystander = await start_two(make_manager)
    result = await victim.exec("python3 -c 'x = bytearray(1 << 30); print(len(x))'")
    assert result.exit_code == 1
    assert "MemoryError" in result.stderr
    await host_and_bystander_work(bystander)


async def test_disk_filler_is_stopped_by_file_size_and_tmp_limits(
    make_manager: ManagerFactory,
) -> None:
    victim, bystander = await start_two(make_manager)
    big = await victim.exec("head -c 50M /dev/zero > big.bin")
    assert big.exit_code == 128 + 25  # SIGXFSZ
    assert (victim.directory / "big.bin").stat().st_size == 8 << 20
    tmp = await victim.exec("for i in 1 2 3; do head -c 7M /dev/zero > /tmp/f$i || exit 9; done")
    assert tmp.exit_code == 9
    assert "No space left on device" in tmp.stderr
    await host_and_bystander_work(bystander)


async def test_oversized_sandbox_directory_stops_the_sandbox(
    make_manager: ManagerFactory,
) -> None:
    manager = await make_manager(**LIMITS, sandbox_disk_mb=12, reap_interval=0.1)
    victim = await manager.start("web", name="filler")
    # The reaper may stop it while the command still writes (then the command is killed).
    await victim.exec("for i in 1 2 3; do head -c 6M /dev/zero > f$i; done")
    async with asyncio.timeout(10):
        await victim.wait_stopped()
    assert await victim.status() is SandboxStatus.STOPPED
    assert await manager.get("filler") is None
    assert any("over the 12 MiB limit" in line for line in await victim.logs())


async def test_cpu_burner_is_stopped(make_manager: ManagerFactory) -> None:
    victim, bystander = await start_two(make_manager)
    result = await victim.exec("python3 -c 'while True: pass'", timeout=30)
    assert result.exit_code == 128 + 24  # SIGXCPU, long before the timeout
    await host_and_bystander_work(bystander)


async def test_timeout_kills_the_whole_tree(make_manager: ManagerFactory) -> None:
    manager = await make_manager()
    sandbox = await manager.start("web", name="slow")
    result = await sandbox.exec("sleep 61 & (sleep 62 &) ; echo started; sleep 63", timeout=0.5)
    assert result.timed_out
    assert result.stdout == "started\n"
    left = await sandbox.exec("ps -eo args --no-headers")
    assert "sleep 6" not in left.stdout


async def test_background_processes_outlive_their_command(make_manager: ManagerFactory) -> None:
    manager = await make_manager()
    sandbox = await manager.start("web", name="bg")
    started = time.monotonic()
    result = await sandbox.exec("sleep 30 & echo launched")
    assert result.stdout == "launched\n"
    assert time.monotonic() - started < 5
    assert "sleep 30" in (await sandbox.exec("ps -eo args --no-headers")).stdout


async def test_output_is_cut_to_the_limit(make_manager: ManagerFactory) -> None:
    manager = await make_manager()
    sandbox = await manager.start("web", name="chatty")
    result = await sandbox.exec(
        "printf 'first-line\\n'; head -c 300000 /dev/zero | tr '\\0' x; printf '\\nlast-line\\n'"
    )
    assert result.truncated
    assert result.stdout.startswith("first-line\n")
    assert result.stdout.endswith("last-line\n")
    assert "bytes of output left out" in result.stdout
    assert len(result.stdout) < OUTPUT_LIMIT + 200
    small = await sandbox.exec("echo out; echo err >&2; exit 7")
    assert (small.exit_code, small.stdout, small.stderr, small.truncated) == (
        7,
        "out\n",
        "err\n",
        False,
    )
