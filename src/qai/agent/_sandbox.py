"""The one way the agent reaches a sandbox: by name, started from its files if it is not up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from qai.sandbox import Sandbox, SandboxManager


@dataclass(frozen=True)
class SandboxSpec:
    """The run's sandbox: its name, its template, and the process's manager that starts it."""

    name: str
    template: str
    manager: SandboxManager

    async def open(self, files: Mapping[str, str]) -> Sandbox:
        """The running sandbox; started from the template and ``files`` if it is not."""
        return await self.manager.ensure(self.name, self.template, files)
