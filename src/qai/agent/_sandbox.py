"""The one way the agent reaches a sandbox: by name, started from its files if it is not up."""

from __future__ import annotations

from collections.abc import Mapping

from qai.sandbox import Sandbox, get_sandbox_manager


async def open_sandbox(name: str, template: str, files: Mapping[str, str]) -> Sandbox:
    """The running sandbox ``name``; started from ``template`` and ``files`` if it is not."""
    return await get_sandbox_manager().ensure(name, template, files)
