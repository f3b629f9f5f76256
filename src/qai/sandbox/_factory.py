"""The one place a sandbox backend is chosen from the settings."""

from __future__ import annotations

import threading

from qai.sandbox._base import SandboxManager
from qai.sandbox.local.manager import LocalSandboxManager
from qai.settings import Settings, get_settings

_manager: SandboxManager | None = None
_lock = threading.Lock()


def make_sandbox_manager(settings: Settings) -> SandboxManager:
    """A new manager for the backend ``settings`` choose (``sandbox_backend``)."""
    match settings.sandbox_backend:
        case "local":
            return LocalSandboxManager(settings)


def get_sandbox_manager() -> SandboxManager:
    """This process's sandbox manager, built from :func:`qai.settings.get_settings` on first use."""
    global _manager
    with _lock:
        if _manager is None:
            _manager = make_sandbox_manager(get_settings())
        return _manager


async def shutdown_sandbox_manager() -> None:
    """Stop the sandboxes this process started and forget the manager (a later
    :func:`get_sandbox_manager` builds a new one)."""
    global _manager
    with _lock:
        manager, _manager = _manager, None
    if manager is not None:
        await manager.shutdown()
