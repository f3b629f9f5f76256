"""The sandboxes this process started, by name, and how a sandbox stops: one of them by
killing its processes and letting its name go; another process's by killing its init."""

from __future__ import annotations

import asyncio
import builtins
import os
import signal
import time

from qai.sandbox.local.procs import is_alive, kill_uid
from qai.sandbox.local.registry import Registry
from qai.sandbox.local.sandbox import LocalSandbox


class OwnedSandboxes:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._by_name: dict[str, LocalSandbox] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def get(self, name: str) -> LocalSandbox | None:
        return self._by_name.get(name)

    def all(self) -> builtins.list[LocalSandbox]:
        return builtins.list(self._by_name.values())

    def add(self, sandbox: LocalSandbox) -> None:
        self._by_name[sandbox.name] = sandbox

    def renamed(self, old: str, new: str) -> None:
        """The sandbox called ``old`` took the name ``new`` (:meth:`LocalSandbox.take_name`)."""
        self._by_name[new] = self._by_name.pop(old)

    def last_used(self, name: str) -> float:
        """When sandbox ``name`` was last used by any process (by this one: exactly)."""
        sandbox = self._by_name.get(name)
        mine = sandbox.last_used if sandbox is not None else 0.0
        return max(mine, self._registry.last_used(name))

    async def stop(self, sandbox: LocalSandbox, reason: str, *, delete_files: bool = False) -> None:
        """Stop a sandbox of this process (``reason`` goes to the log); once stopped, its name
        is free. A second stop waits for the first."""
        if sandbox.stopping:
            await sandbox.wait_stopped()
            return
        await sandbox.kill(reason)
        self._by_name.pop(sandbox.name, None)
        await sandbox.release(delete_files=delete_files)

    async def stop_other(self, name: str) -> bool:
        """Stop a sandbox another process started: kill its init; its owner cleans up.

        Returns whether it was running."""
        registry = self._registry
        record = registry.read(name)
        if record is None:
            return False
        running = record.alive()
        if running:
            os.kill(record.init_pid, signal.SIGKILL)
            if record.uid is not None:
                await asyncio.to_thread(kill_uid, record.uid)
        deadline = time.monotonic() + 5.0
        while registry.read(name) is not None and is_alive(record.owner_pid):
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.02)  # the owner notices its init's death and removes the record
        if not is_alive(record.owner_pid):
            registry.remove(name, keep_log=True)
        return running
