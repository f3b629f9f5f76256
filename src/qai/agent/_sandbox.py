"""The few sandbox verbs the agent uses (``qai.sandbox``'s interface), in one place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol


class CommandResult(Protocol):
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool
    truncated: bool


class Sandbox(Protocol):
    # The sandbox kills the command itself when ``timeout`` passes.
    async def exec(
        self,
        command: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> CommandResult: ...

    async def write_files(self, files: Mapping[str, str]) -> object: ...

    async def read_files(self, paths: Sequence[str]) -> dict[str, str]: ...

    def preview_url(self, port: int | None = None) -> str: ...


async def open_sandbox(name: str, template: str, files: Mapping[str, str]) -> Sandbox:
    """The running sandbox ``name``; started from ``template`` and ``files`` if it is not."""
    from qai.sandbox import get_sandbox_manager

    sandbox: Sandbox = await get_sandbox_manager().ensure(name, template, dict(files))
    return sandbox
