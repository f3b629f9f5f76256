"""The one place a sandbox backend is chosen from the settings."""

from __future__ import annotations

from qai.sandbox._base import SandboxManager
from qai.sandbox.local.manager import LocalSandboxManager
from qai.settings import Settings


def make_sandbox_manager(settings: Settings) -> SandboxManager:
    """A new manager for the backend ``settings`` choose (``sandbox_backend``).

    Build one per process, where the process is wired, and ``await manager.shutdown()`` at
    its exit: that stops the sandboxes it started.
    """
    match settings.sandbox_backend:
        case "local":
            return LocalSandboxManager(settings)
