"""Directories of stopped sandboxes are removed once unused for long; running ones never are."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qai.sandbox import LocalSandboxManager, SandboxNameTaken, SandboxStatus
from qai.sandbox.local.registry import FileLock
from qai.settings import SettingsError, load_settings

from .conftest import ManagerFactory

DAY = 24 * 3600


def make_old(*paths: Path, days: float = 8) -> None:
    """Give each path (not what a symlink points to) a modification time ``days`` ago."""
    then = time.time() - days * DAY
    for path in paths:
        os.utime(path, (then, then), follow_symlinks=False)


def stopped_directory(manager: LocalSandboxManager, name: str, *, days: float = 8) -> Path:
    """What a sandbox stopped ``days`` ago leaves: its directory and its kept log."""
    manager.registry.setup()
    workspace = manager.registry.workspace(name)
    workspace.mkdir()
    (workspace / "index.html").write_text("<h1>old work</h1>")
    log = manager.registry.log_path(name)
    log.write_text("[qai] stopping: idle for 900s\n")
    make_old(workspace, log, days=days)
    return workspace


def test_the_setting_defaults_to_a_week_and_refuses_negative_hours(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings().sandbox_keep_stopped_hours == 168
    monkeypatch.setenv("QAI_SANDBOX_KEEP_STOPPED_HOURS", "-1")
    with pytest.raises(SettingsError, match="QAI_SANDBOX_KEEP_STOPPED_HOURS='-1'"):
        load_settings()


@pytest.mark.bwrap
async def test_an_old_stopped_sandbox_is_removed_with_its_log(
    manager: LocalSandboxManager,
) -> None:
    old = await manager.start("web", name="old")
    await old.exec("echo work > notes.txt")
    await old.stop()
    recent = await manager.start("web", name="recent")
    await recent.stop()
    registry = manager.registry
    old_log = registry.log_path("old")
    rotated = old_log.with_name("old.log.1")
    rotated.write_text("earlier output\n")
    assert any("stopping" in line for line in old_log.read_text().splitlines())  # kept on stop
    make_old(old.directory, old_log, rotated)

    assert await manager.prune(168) == ["old"]
    assert not old.directory.exists()
    assert not old_log.exists()
    assert not rotated.exists()
    assert (recent.directory / "index.html").exists()
    assert registry.log_path("recent").exists()
    assert await manager.prune(168) == []


async def test_a_recent_log_keeps_an_old_directory(make_manager: ManagerFactory) -> None:
    manager = await make_manager()
    workspace = stopped_directory(manager, "stopped-late")
    os.utime(manager.registry.log_path("stopped-late"))  # its last activity is now
    assert await manager.prune(24) == []
    assert workspace.exists()
    make_old(manager.registry.log_path("stopped-late"), days=2)
    assert await manager.prune(24) == ["stopped-late"]
    assert not workspace.exists()


@pytest.mark.bwrap
async def test_a_running_sandbox_is_never_removed(manager: LocalSandboxManager) -> None:
    running = await manager.start("web", name="running")
    make_old(running.directory, manager.registry.log_path("running"), days=365)
    assert await manager.prune(0) == []
    assert await running.status() is not SandboxStatus.STOPPED
    assert (await running.exec("cat index.html")).exit_code == 0


async def test_a_name_being_started_is_skipped(make_manager: ManagerFactory) -> None:
    manager = await make_manager()
    workspace = stopped_directory(manager, "starting")
    lock = FileLock.try_acquire(manager.registry.lock_path("starting"))
    assert lock is not None  # what a start holds, in this or any other process
    try:
        assert await manager.prune(0) == []
        assert (workspace / "index.html").exists()
    finally:
        lock.release()
    assert await manager.prune(0) == ["starting"]
    assert not workspace.exists()


async def test_only_sandbox_directories_are_looked_at(
    make_manager: ManagerFactory, tmp_path: Path
) -> None:
    manager = await make_manager()
    manager.registry.setup()
    root = manager.registry.root
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("not a sandbox's")
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / ".cache").mkdir()
    (root / "Not_A_Name").mkdir()
    (root / "a-file").write_text("")
    make_old(
        outside, root / "link", root / ".cache", root / "Not_A_Name", root / "a-file", root / ".run"
    )
    assert await manager.prune(0) == []
    assert (outside / "precious.txt").exists()
    assert (root / "link").is_symlink()
    for kept in (".cache", "Not_A_Name", "a-file", ".run", ".system"):
        assert (root / kept).exists(), kept


@pytest.mark.bwrap
async def test_ensure_waits_for_a_prune_then_starts_afresh(
    manager: LocalSandboxManager,
) -> None:
    workspace = stopped_directory(manager, "pruned")
    lock = FileLock.try_acquire(manager.registry.lock_path("pruned"))
    assert lock is not None  # as Registry.prune holds it while it removes the directory
    with pytest.raises(SandboxNameTaken):
        await manager.start("web", name="pruned")
    ensuring = asyncio.create_task(manager.ensure("pruned", "web", {"app.js": "new"}))
    await asyncio.sleep(0.3)
    assert not ensuring.done()
    (workspace / "index.html").unlink()
    workspace.rmdir()
    lock.release()
    async with asyncio.timeout(10):
        sandbox = await ensuring
    assert await sandbox.list_files() == ["app.js", "index.html", "script.js", "style.css"]


@pytest.mark.bwrap
async def test_the_reaper_prunes_now_and_then(make_manager: ManagerFactory) -> None:
    manager = await make_manager(
        sandbox_keep_stopped_hours=24, reap_interval=0.05, prune_interval=0
    )
    stale = stopped_directory(manager, "stale")
    live = await manager.start("web", name="live")  # its reaper starts with it
    make_old(live.directory, days=2)
    log = manager.registry.log_path("stale")
    # The prune removes the directory, then its records: wait for the whole prune (under load
    # the reaper's thread can be seen between the two).
    async with asyncio.timeout(10):
        while stale.exists() or log.exists():  # noqa: ASYNC110 - the reaper runs on the manager's loop
            await asyncio.sleep(0.05)
    assert not manager.registry.log_path("stale").exists()
    assert (await live.exec("true")).exit_code == 0


async def test_the_reaper_prunes_at_most_every_interval(make_manager: ManagerFactory) -> None:
    manager = await make_manager(sandbox_keep_stopped_hours=24, prune_interval=3600)
    first = stopped_directory(manager, "first")
    await manager.call(manager.reaper.prune_now_and_then())
    assert not first.exists()
    second = stopped_directory(manager, "second")
    await manager.call(manager.reaper.prune_now_and_then())
    assert second.exists()  # the next prune is an hour away


async def test_the_reaper_does_not_prune_when_keeping_for_ever(
    make_manager: ManagerFactory,
) -> None:
    manager = await make_manager(sandbox_keep_stopped_hours=0)
    kept = stopped_directory(manager, "kept", days=3650)
    await manager.call(manager.reaper.prune_now_and_then())
    assert kept.exists()


async def test_a_failing_prune_is_logged_not_raised(
    make_manager: ManagerFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    manager = await make_manager(prune_interval=0)

    def broken(max_age: float) -> list[str]:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(manager.registry, "prune", broken)
    with caplog.at_level(logging.ERROR, logger="qai.sandbox"):
        await manager.call(manager.reaper.prune_now_and_then())
    assert "pruning stopped sandboxes failed" in caplog.text
    assert "disk on fire" in caplog.text


def test_the_cli_prunes_and_says_what_it_removed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    root = data_dir / "sandboxes"
    (root / "old-one").mkdir(parents=True)
    (root / "fresh-one").mkdir()
    make_old(root / "old-one", days=3)
    env = {**os.environ, "QAI_DATA_DIR": str(data_dir)}

    def prune(*args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "qai", "sandbox", "prune", *args],
            env={**env, **extra_env}, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    off = prune(QAI_SANDBOX_KEEP_STOPPED_HOURS="0")
    assert off.returncode == 0, off.stderr
    assert "Pruning is off" in off.stdout
    assert (root / "old-one").exists()

    none = prune("--older-than-hours", "100")
    assert none.stdout.strip() == (
        "Nothing to remove: no stopped sandbox was unused for over 100 hours."
    )
    assert (root / "old-one").exists()

    done = prune(QAI_SANDBOX_KEEP_STOPPED_HOURS="48")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Removed old-one: its directory and log."
    assert not (root / "old-one").exists()
    assert (root / "fresh-one").exists()

    bad = prune("--older-than-hours", "-1")
    assert bad.returncode == 2
    assert (root / "fresh-one").exists()
