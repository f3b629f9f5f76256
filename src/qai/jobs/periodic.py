"""Periodic background tasks of a process (heartbeats, repair, pruning): each one a loop that
runs its work every so often and survives its failures. The tasks are given to it; it knows
nothing of what they do."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger("qai.jobs")


@dataclass(frozen=True)
class Periodic:
    """``work`` every ``every_seconds``, the first time after ``first_after_seconds`` (default:
    one period); ``failure`` is what the log says when it raises."""

    name: str
    every_seconds: float
    work: Callable[[], Awaitable[object]]
    failure: str
    first_after_seconds: float | None = None


class Background:
    """The process's periodic tasks, started together and stopped together."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, periodic: Sequence[Periodic]) -> None:
        for task in periodic:
            self._tasks.append(asyncio.create_task(_every(task), name=f"qai-{task.name}"))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _every(task: Periodic) -> None:
    first = task.first_after_seconds
    await asyncio.sleep(task.every_seconds if first is None else first)
    while True:
        try:
            await task.work()
        except Exception:
            log.warning("%s; will try again", task.failure, exc_info=True)
        await asyncio.sleep(task.every_seconds)
