"""Sandbox uids are unique on the machine, whatever data directory started a sandbox: two
QAI installations side by side never share one, so stopping a sandbox of one (which kills
its uid's processes) leaves the other's same-named sandbox running."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import zlib
from pathlib import Path

import pytest

from qai.sandbox import LocalSandbox
from qai.sandbox.local.procs import is_alive
from qai.sandbox.local.registry import UID_SLOTS, reserve_uid

from .conftest import ManagerFactory

pytestmark = pytest.mark.bwrap


async def test_two_data_directories_never_share_a_uid(
    make_manager: ManagerFactory, tmp_path: Path
) -> None:
    first = await make_manager(data_dir=tmp_path / "one")
    second = await make_manager(data_dir=tmp_path / "two")
    assert first.settings.sandbox_uid_dir == second.settings.sandbox_uid_dir  # the default
    started = await asyncio.gather(
        first.start("web", name="same"), second.start("web", name="same")
    )
    mine, theirs = started
    assert isinstance(mine, LocalSandbox)
    assert isinstance(theirs, LocalSandbox)
    assert mine.uid is not None
    assert theirs.uid is not None
    assert mine.uid != theirs.uid
    assert oct(first.settings.sandbox_uid_dir.stat().st_mode & 0o777) == "0o700"
    await first.stop("same")
    assert is_alive(theirs.pid)
    result = await theirs.exec("echo still here")
    assert result.stdout == "still here\n"
    assert (await second.get("same")) is theirs


def test_a_uid_with_processes_left_is_skipped(tmp_path: Path) -> None:
    """A uid whose lock is free but whose processes still run (a QAI that kept its locks
    elsewhere, or processes not yet reaped) is not handed out."""
    if os.geteuid() != 0:
        pytest.skip("running a process as another uid needs root")
    base = 1_500_000
    hashed = base + zlib.crc32(b"busy") % UID_SLOTS
    leftover = subprocess.Popen(
        ["setpriv", f"--reuid={hashed}", f"--regid={hashed}", "--clear-groups", "sleep", "30"]
    )
    try:
        deadline = time.monotonic() + 10
        while os.stat(f"/proc/{leftover.pid}").st_uid != hashed:  # setpriv has not run yet
            assert time.monotonic() < deadline
            time.sleep(0.01)
        uid, lock = reserve_uid(tmp_path / "uids", "busy", base)
        try:
            assert uid != hashed
            assert (tmp_path / "uids" / f"uid-{uid}.lock").exists()
            again, other = reserve_uid(tmp_path / "uids", "busy", base)  # the first is held
            assert again not in (uid, hashed)
            other.release()
        finally:
            lock.release()
        assert not (tmp_path / "uids" / f"uid-{uid}.lock").exists()
    finally:
        leftover.kill()
        leftover.wait()
