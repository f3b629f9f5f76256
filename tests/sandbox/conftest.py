"""Sandbox fixtures: real managers, real bubblewrap sandboxes, a real uvicorn server.

Tests marked ``bwrap`` need bubblewrap and root. They skip when bwrap is missing, unless CI
runs them (``QAI_TEST_REQUIRE_POSTGRES=1`` or ``QAI_TEST_REQUIRE_BWRAP=1``): then they fail.
Tests marked ``nextjs`` need the nextjs template prepared (``qai sandbox prepare nextjs``) in
the default data directory; they skip without it unless ``QAI_TEST_REQUIRE_NEXTJS=1``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from qai.sandbox import LocalSandboxManager, PreviewGateway, PreviewHostMiddleware, PreviewSpec
from qai.sandbox._templates import STARTERS, TEMPLATES, Template
from qai.settings import Settings, default_data_dir, load_settings

REQUIRE_BWRAP = any(
    os.environ.get(name) == "1" for name in ("QAI_TEST_REQUIRE_BWRAP", "QAI_TEST_REQUIRE_POSTGRES")
)
REQUIRE_NEXTJS = os.environ.get("QAI_TEST_REQUIRE_NEXTJS") == "1"

# Templates only tests use: a server that takes a while, and one that fails at once.
TEST_TEMPLATES: Mapping[str, Template] = {
    **TEMPLATES,
    "slow": Template(
        name="slow",
        description="web, with a server that starts after 1.5 seconds",
        starter=STARTERS / "web",
        port=8080,
        start='sleep 1.5 && exec python3 -m http.server --bind 127.0.0.1 "$PORT"',
    ),
    "broken": Template(
        name="broken",
        description="a server that fails at once",
        starter=STARTERS / "web",
        port=8080,
        start="echo 'boom: the app cannot start' >&2; exit 3",
    ),
}


def bwrap_missing_reason() -> str | None:
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed (apt-get install bubblewrap)"
    if os.geteuid() != 0:
        return "the bwrap sandbox backend needs root"
    return None


@pytest.fixture(autouse=True)
def _needs(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("bwrap") is not None:
        reason = bwrap_missing_reason()
        if reason is not None:
            if REQUIRE_BWRAP:
                pytest.fail(f"bwrap tests are required here, but {reason}")
            pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "sandbox_idle_seconds": 600,
        "sandbox_max_running": 8,
        "sandbox_start_timeout": 20,
        "sandbox_command_timeout": 20,
    }
    values.update(overrides)
    return load_settings(**values)


ManagerFactory = Callable[..., Awaitable[LocalSandboxManager]]


@pytest.fixture
async def make_manager(tmp_path: Path) -> AsyncIterator[ManagerFactory]:
    """Build managers on a fresh data directory; every one is shut down after the test."""
    made: list[LocalSandboxManager] = []

    async def make(**overrides: Any) -> LocalSandboxManager:
        intervals = {
            key: overrides.pop(key)
            for key in ("reap_interval", "prune_interval")
            if key in overrides
        }
        data_dir = overrides.pop("data_dir", tmp_path / "data")
        manager = LocalSandboxManager(
            make_settings(data_dir, **overrides), templates=TEST_TEMPLATES, **intervals
        )
        made.append(manager)
        return manager

    yield make
    for manager in made:
        await manager.shutdown()


@pytest.fixture
async def manager(make_manager: ManagerFactory) -> LocalSandboxManager:
    return await make_manager()


@dataclass
class Resolver:
    """A stand-in for the database: what each preview shows, and who asked."""

    specs: dict[str, PreviewSpec] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    async def __call__(self, name: str) -> PreviewSpec | None:
        self.calls.append(name)
        return self.specs.get(name)


@dataclass
class Gateway:
    port: int
    resolver: Resolver
    gateway: PreviewGateway

    def host(self, label: str) -> str:
        return f"{label}.preview.localhost:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def qai_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """QAI's own app, as far as these tests care: one page, on QAI's origin."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"QAI itself"})


@asynccontextmanager
async def serve_gateway(
    manager: LocalSandboxManager, *, ready_wait: float = 5.0
) -> AsyncIterator[Gateway]:
    """A real uvicorn server on a free port: QAI's app behind the preview middleware."""
    resolver = Resolver()
    gateway = PreviewGateway(
        manager,
        resolver,
        url_template=manager.settings.preview_url_template,
        ready_wait=ready_wait,
    )
    port = free_port()
    config = uvicorn.Config(
        PreviewHostMiddleware(qai_app, gateway),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
    try:
        yield Gateway(port=port, resolver=resolver, gateway=gateway)
    finally:
        server.should_exit = True
        await task


def prepared_nextjs_cache() -> Path | None:
    """The nextjs cache `qai sandbox prepare nextjs` made in the default data directory."""
    cache = TEMPLATES["nextjs"].cache_dir(default_data_dir())
    if cache is not None and (cache / ".complete").exists():
        return cache
    return None


@pytest.fixture
def nextjs_data_dir(tmp_path: Path) -> Path:
    """A data directory whose nextjs cache is the prepared one (linked, not copied)."""
    cache = prepared_nextjs_cache()
    if cache is None:
        message = "the nextjs template is not prepared: run `qai sandbox prepare nextjs`"
        if REQUIRE_NEXTJS:
            pytest.fail(message)
        pytest.skip(message)
    data_dir = tmp_path / "data"
    (data_dir / "cache" / "templates").mkdir(parents=True)
    (data_dir / "cache" / "templates" / cache.name).symlink_to(cache)
    return data_dir
