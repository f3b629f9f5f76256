"""Start and stop the job runtime inside a process (`qai serve` or `qai worker`)."""

from __future__ import annotations

from typing import Literal

from qai.settings import Settings

Role = Literal["serve", "worker", "api"]


async def start(settings: Settings, *, role: Role) -> None:
    """Launch the durable runtime and install the ``code-agent/run`` dispatcher."""


async def stop() -> None:
    """Stop taking work and release the runtime."""
