"""The manager's verbs and lifecycle: start, get, list, ensure, rename, stop, reaping."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from qai.sandbox import (
    InvalidSandboxName,
    IsolationUnavailable,
    LocalSandbox,
    LocalSandboxManager,
    SandboxNameTaken,
    SandboxNotFound,
    SandboxPathError,
    SandboxStatus,
    TemplateNotFound,
    TemplateNotPrepared,
)
from qai.sandbox.local.procs import is_alive

from .conftest import ManagerFactory, make_settings

pytestmark = pytest.mark.bwrap


async def test_start_writes_files_and_serves(manager: LocalSandboxManager) -> None:
    sandbox = await manager.start("web", name="site", files={"index.html": "<h1>Hi</h1>"})
    assert sandbox.name == "site"
    assert await sandbox.wait_ready(10) is SandboxStatus.READY
    assert await sandbox.list_files() == ["index.html", "script.js", "style.css"]
    assert await sandbox.read_files(["index.html"]) == {"index.html": "<h1>Hi</h1>"}
    served = await sandbox.exec(
        'python3 -c "import urllib.request as u; '
        "print(u.urlopen('http://127.0.0.1:8080/').read().decode())\""
    )
    assert served.stdout.strip() == "<h1>Hi</h1>"
    assert sandbox.preview_url() == "http://site.preview.localhost:8000"
    assert sandbox.preview_url(8080) == "http://site.preview.localhost:8000"
    assert sandbox.preview_url(3001) == "http://3001-site.preview.localhost:8000"


async def test_get_list_stop(manager: LocalSandboxManager) -> None:
    first = await manager.start("web", name="one")
    await manager.start("web")
    infos = await manager.list()
    assert len(infos) == 2
    assert "one" in [info.name for info in infos]
    info = next(i for i in infos if i.name == "one")
    assert (info.template, info.isolation, info.owner_pid) == ("web", "bwrap", os.getpid())
    assert await manager.get("one") is first
    assert await manager.stop("one") is True
    assert await manager.get("one") is None
    assert await first.status() is SandboxStatus.STOPPED
    assert not is_alive(first.pid)
    assert (first.directory / "index.html").exists()  # stopping keeps the directory
    assert await manager.stop("one") is False
    with pytest.raises(SandboxNotFound):
        await first.exec("true")
    with pytest.raises(SandboxNotFound):
        await first.write_files({"a.txt": "x"})


async def test_stop_with_delete_files(manager: LocalSandboxManager) -> None:
    sandbox = await manager.start("web", name="gone")
    assert isinstance(sandbox, LocalSandbox)
    await manager.stop("gone", delete_files=True)
    assert not sandbox.directory.exists()


async def test_restart_keeps_the_directory(manager: LocalSandboxManager) -> None:
    sandbox = await manager.start("web", name="again")
    await sandbox.exec("echo kept > notes.txt")
    await sandbox.stop()
    again = await manager.start("web", name="again", files={"index.html": "new"})
    assert await again.read_files(["notes.txt", "index.html"]) == {
        "notes.txt": "kept\n",
        "index.html": "new",
    }


async def test_bad_requests_are_refused_before_anything_runs(
    manager: LocalSandboxManager,
) -> None:
    with pytest.raises(TemplateNotFound, match="choose one of"):
        await manager.start("rails")
    with pytest.raises(InvalidSandboxName):
        await manager.start("web", name="Not A Name")
    with pytest.raises(InvalidSandboxName):
        await manager.start("web", name="8000-looks-like-a-port")
    with pytest.raises(SandboxPathError, match=r"'\.\.'"):
        await manager.start("web", name="bad-files", files={"../x": "y"})
    await manager.start("web", name="taken")
    with pytest.raises(SandboxNameTaken):
        await manager.start("web", name="taken")
    assert [i.name for i in await manager.list()] == ["taken"]


async def test_unprepared_template_says_how_to_prepare(manager: LocalSandboxManager) -> None:
    with pytest.raises(TemplateNotPrepared, match="qai sandbox prepare nextjs"):
        await manager.start("nextjs")


async def test_missing_bubblewrap_says_how_to_install(
    make_manager: ManagerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    manager = await make_manager()
    with pytest.raises(IsolationUnavailable, match="apt-get install bubblewrap") as caught:
        await manager.start("web")
    assert "QAI_SANDBOX_ISOLATION=none" in caught.value.message
    assert caught.value.status == 503


async def test_ensure_starts_once(manager: LocalSandboxManager) -> None:
    results = await asyncio.gather(
        *(manager.ensure("shared", "web", {"index.html": str(i)}) for i in range(5))
    )
    assert all(result is results[0] for result in results)
    assert len(await manager.list()) == 1
    assert await manager.ensure("shared", "web", {}) is results[0]


async def test_rename_keeps_the_sandbox_running(manager: LocalSandboxManager) -> None:
    sandbox = await manager.start("web", name="work", files={"index.html": "live"})
    await sandbox.wait_ready(10)
    pid = sandbox.pid
    renamed = await manager.rename("work", "fragment-1")
    assert renamed is sandbox
    assert renamed.name == "fragment-1"
    assert await manager.get("work") is None
    assert await manager.get("fragment-1") is sandbox
    assert pid == renamed.pid
    assert is_alive(pid)
    assert await renamed.read_files(["index.html"]) == {"index.html": "live"}
    assert (await renamed.exec("cat index.html")).stdout == "live"
    with pytest.raises(SandboxNotFound):
        await manager.rename("work", "other")
    await manager.start("web", name="busy")
    with pytest.raises(SandboxNameTaken):
        await manager.rename("fragment-1", "busy")


async def test_idle_sandboxes_are_stopped(make_manager: ManagerFactory) -> None:
    manager = await make_manager(sandbox_idle_seconds=0.6, reap_interval=0.1)
    idle = await manager.start("web", name="idle")
    busy = await manager.start("web", name="busy")
    async with asyncio.timeout(10):
        while await idle.status() is not SandboxStatus.STOPPED:
            await busy.exec("true")  # each use resets its idle clock
            await asyncio.sleep(0.1)
    assert await busy.status() is not SandboxStatus.STOPPED
    assert any("idle for" in line for line in await idle.logs())


async def test_a_running_command_keeps_its_sandbox_from_the_idle_reaper(
    make_manager: ManagerFactory,
) -> None:
    manager = await make_manager(sandbox_idle_seconds=0.3, reap_interval=0.1)
    sandbox = await manager.start("web", name="long")
    result = await sandbox.exec("sleep 1.5 && echo done")  # five idle limits long
    assert result.exit_code == 0
    assert result.stdout == "done\n"
    assert not any("idle for" in line for line in await sandbox.logs())


async def test_least_recently_used_stops_first(make_manager: ManagerFactory) -> None:
    manager = await make_manager(sandbox_max_running=2)
    oldest = await manager.start("web", name="a")
    newer = await manager.start("web", name="b")
    await oldest.exec("true")  # now "b" is the least recently used
    await manager.start("web", name="c")
    names = sorted(info.name for info in await manager.list())
    assert names == ["a", "c"]
    assert await newer.status() is SandboxStatus.STOPPED


async def test_manager_works_from_several_event_loops(tmp_path: Path) -> None:
    manager = LocalSandboxManager(make_settings(tmp_path / "data"))

    def in_new_loop(command: str) -> str:
        async def run() -> str:
            sandbox = await manager.ensure("loops", "web", {})
            return (await sandbox.exec(command)).stdout

        return asyncio.run(run())

    try:
        outputs = await asyncio.gather(
            asyncio.to_thread(in_new_loop, "echo one"), asyncio.to_thread(in_new_loop, "echo two")
        )
        assert sorted(outputs) == ["one\n", "two\n"]
    finally:
        await manager.shutdown()


async def test_sandboxes_die_with_their_owner(make_manager: ManagerFactory, tmp_path: Path) -> None:
    """A sandbox never outlives the QAI process that started it; another process's manager
    then forgets it and can start it again from the same name."""
    env = {**os.environ, "QAI_DATA_DIR": str(tmp_path / "data")}
    owner = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "qai", "sandbox", "start", "web", "--name", "orphan", "--json"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert owner.stdout is not None
        line = await asyncio.wait_for(owner.stdout.readline(), 30)
        assert b'"name": "orphan"' in line
        manager = await make_manager()
        sandbox = await manager.get("orphan")
        assert sandbox is not None
        assert (await sandbox.exec("echo from another process")).stdout == "from another process\n"
        owner.send_signal(signal.SIGKILL)
        await owner.wait()
        async with asyncio.timeout(10):
            await sandbox.wait_stopped()  # killed with its owner (bwrap --die-with-parent)
        assert await manager.get("orphan") is None
        assert await manager.list() == []
        again = await manager.ensure("orphan", "web", {})
        assert (await again.exec("echo back")).stdout == "back\n"
    finally:
        if owner.returncode is None:
            owner.kill()
            await owner.wait()
