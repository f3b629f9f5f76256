"""QAI_SANDBOX_ISOLATION=none: plain processes for development, loudly, same verbs."""

from __future__ import annotations

import logging

import httpx
import pytest

from qai.sandbox import LocalSandbox, SandboxStatus
from qai.sandbox.local.procs import is_alive

from .conftest import ManagerFactory, serve_gateway


async def test_unisolated_sandbox_runs_and_previews(
    make_manager: ManagerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="qai.sandbox"):
        manager = await make_manager(sandbox_isolation="none")
    assert "development only" in caplog.text
    sandbox = await manager.start("web", name="dev", files={"index.html": "unisolated"})
    assert isinstance(sandbox, LocalSandbox)
    assert sandbox.uid is None
    assert await sandbox.wait_ready(10) is SandboxStatus.READY
    result = await sandbox.exec("pwd; echo $HOME; env | grep -c QAI_ || true")
    assert result.stdout.split() == [str(sandbox.directory), "/home/user", "0"]
    async with serve_gateway(manager) as gw, httpx.AsyncClient(base_url=gw.base_url) as client:
        page = await client.get("/", headers={"host": gw.host("dev")})
        assert page.text == "unisolated"
    pid = sandbox.pid
    await sandbox.stop()
    assert not is_alive(pid)
