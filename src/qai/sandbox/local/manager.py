"""The local backend's manager: the verbs of :class:`SandboxManager`, and the name locks.

A manager runs its work on an event loop of its own, in a thread that lives as long as the
manager: sandbox processes are children of that thread (bubblewrap's ``--die-with-parent`` is
tied to the thread that forked it), their output is read there after a command returns, and
callers on any event loop (the web server's, a worker's, the CLI's) await the same manager.
"""

from __future__ import annotations

import asyncio
import builtins
import secrets
import shutil
import time
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

from qai.sandbox._base import Sandbox, SandboxManager
from qai.sandbox._errors import SandboxError, SandboxNameTaken, SandboxNotFound
from qai.sandbox._model import CommandResult, SandboxInfo, check_name
from qai.sandbox._templates import TEMPLATES, Template, get_template
from qai.sandbox.local.commands import run_command
from qai.sandbox.local.context import Context
from qai.sandbox.local.files import check_paths
from qai.sandbox.local.isolation import Isolation, make_isolation, write_etc_files
from qai.sandbox.local.launch import INIT_TIMEOUT, Launcher
from qai.sandbox.local.loop import ManagerLoop
from qai.sandbox.local.owned import OwnedSandboxes
from qai.sandbox.local.reaper import PRUNE_INTERVAL, Reaper
from qai.sandbox.local.registry import FileLock, Registry, is_locked, reserve_uid
from qai.sandbox.local.sandbox import LocalSandbox, sandbox_info
from qai.sandbox.local.server import recover
from qai.sandbox.preview.hosts import PreviewHosts
from qai.settings import Settings

T = TypeVar("T")


class LocalSandboxManager(SandboxManager):
    """Sandboxes on this machine, one directory each under ``<data_dir>/sandboxes``."""

    def __init__(
        self,
        settings: Settings,
        *,
        templates: Mapping[str, Template] = TEMPLATES,
        reap_interval: float | None = None,
        prune_interval: float = PRUNE_INTERVAL,
    ) -> None:
        """``reap_interval``: seconds between looks for idle or oversized sandboxes (default:
        a quarter of ``sandbox_idle_seconds``, between 0.1 and 5); ``prune_interval``: least
        seconds between two removals of old stopped sandboxes by the reaper."""
        self.settings = settings
        self.templates = templates
        self.registry = Registry(settings.data_dir / "sandboxes")
        self.hosts = PreviewHosts(settings.preview_url_template, settings.port)
        self.isolation: Isolation = make_isolation(settings.sandbox_isolation)
        self._loop = ManagerLoop(on_start=self._set_up)
        self._context = Context(
            settings=settings,
            templates=templates,
            registry=self.registry,
            hosts=self.hosts,
            isolation=self.isolation,
            loop=self._loop,
        )
        self._owned = OwnedSandboxes(self.registry)
        self._launcher = Launcher(self._context, self, self._owned)
        self.reaper = Reaper(
            self._context, self._owned, interval=reap_interval, prune_interval=prune_interval
        )
        self._name_locks: dict[str, asyncio.Lock] = {}

    def _set_up(self) -> None:
        self.registry.setup()
        write_etc_files(self.registry.etc)

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the manager's own loop and await it from the caller's."""
        return await self._loop.call(coro)

    def _name_lock(self, name: str) -> asyncio.Lock:
        return self._name_locks.setdefault(name, asyncio.Lock())

    def preview_url(self, name: str, port: int | None = None) -> str:
        return self.hosts.url(name, port)

    # --- public verbs -------------------------------------------------------------------------

    async def start(
        self, template: str, *, name: str | None = None, files: Mapping[str, str] | None = None
    ) -> Sandbox:
        chosen = check_name(name) if name is not None else f"sb-{secrets.token_hex(6)}"
        return await self.call(self._start(template, chosen, dict(files or {})))

    async def get(self, name: str) -> Sandbox | None:
        return await self.call(self._get(name))

    async def list(self) -> builtins.list[SandboxInfo]:
        return await self.call(self._list())

    async def stop(self, name: str, *, delete_files: bool = False) -> bool:
        return await self.call(self._stop(name, delete_files))

    async def ensure(self, name: str, template: str, files: Mapping[str, str]) -> Sandbox:
        check_name(name)
        return await self.call(self._ensure(name, template, dict(files)))

    async def rename(self, old: str, new: str) -> Sandbox:
        check_name(new)
        return await self.call(self._rename(old, new))

    async def prune(self, older_than_hours: float) -> builtins.list[str]:
        return await self.call(self.reaper.prune(older_than_hours))

    async def shutdown(self) -> None:
        await self._loop.shutdown(self._shutdown)

    # --- what its sandboxes ask of it (see sandbox.Operations) -----------------------------

    async def run_command(
        self, sandbox: LocalSandbox, command: str, seconds: float | None
    ) -> CommandResult:
        return await run_command(self._context, sandbox, command, seconds)

    async def recover_server(self, sandbox: LocalSandbox) -> None:
        await recover(self._context, sandbox)

    # --- on the manager's loop ----------------------------------------------------------------

    async def _get(self, name: str) -> LocalSandbox | None:
        sandbox = self._owned.get(name)
        if sandbox is not None:
            if not sandbox.stopping:
                return sandbox
            await sandbox.wait_stopped()  # being stopped: it is not running any more
            return None
        record = self.registry.read(name)
        if record is None or not record.alive():
            return None
        return LocalSandbox(self._context, self, record, None)

    async def _list(self) -> builtins.list[SandboxInfo]:
        records = await asyncio.to_thread(self.registry.running)
        return [sandbox_info(self._context, record) for record in records]

    async def _start(self, template_name: str, name: str, files: dict[str, str]) -> LocalSandbox:
        async with self._name_lock(name):
            return await self._start_locked(template_name, name, files)

    async def _ensure(self, name: str, template: str, files: dict[str, str]) -> LocalSandbox:
        deadline = time.monotonic() + INIT_TIMEOUT
        while True:
            async with self._name_lock(name):
                found = await self._get(name)
                if found is not None:
                    found.touch()  # just asked for: not one for the reaper to pick now
                    return found
                try:
                    return await self._start_locked(template, name, files)
                except SandboxNameTaken:
                    pass  # another process holds the name: wait until it runs or is let go
            # Once the name is let go with nothing running (the other start failed, or it was
            # a prune removing the name's old directory), the loop starts it here.
            while is_locked(self.registry.lock_path(name)):
                found = await self._get(name)
                if found is not None:
                    return found
                if time.monotonic() >= deadline:
                    raise SandboxError(
                        f"sandbox {name!r} was being started by another process, which did not "
                        f"finish within {INIT_TIMEOUT:g}s"
                    )
                await asyncio.sleep(0.05)

    async def _start_locked(
        self, template_name: str, name: str, files: dict[str, str]
    ) -> LocalSandbox:
        template = get_template(template_name, self.templates)
        check_paths(files)
        cached = template.cached_path(self.settings.data_dir)
        self.isolation.check()
        existing = self.registry.read(name)
        if name in self._owned or (existing is not None and existing.alive()):
            raise SandboxNameTaken(f"a sandbox named {name!r} already runs")
        await self.reaper.make_room(exclude=name)
        name_lock = FileLock.try_acquire(self.registry.lock_path(name))
        if name_lock is None:
            raise SandboxNameTaken(f"another QAI process is starting a sandbox named {name!r}")
        uid_lock: FileLock | None = None
        try:
            uid: int | None = None
            if self._context.bwrap:
                uid, uid_lock = reserve_uid(
                    self.settings.sandbox_uid_dir, name, self.settings.sandbox_uid_base
                )
            sandbox = await self._launcher.launch(
                template,
                name,
                files,
                cached=cached,
                uid=uid,
                name_lock=name_lock,
                uid_lock=uid_lock,
            )
        except BaseException:
            name_lock.release()
            if uid_lock is not None:
                uid_lock.release()
            raise
        self.reaper.ensure_running()
        return sandbox

    async def _stop(self, name: str, delete_files: bool) -> bool:
        sandbox = self._owned.get(name)
        if sandbox is not None:
            await self._owned.stop(sandbox, "stopped on request", delete_files=delete_files)
            return True
        was_running = await self._owned.stop_other(name)
        if delete_files:
            await asyncio.to_thread(shutil.rmtree, self.registry.workspace(name), True)
            self.registry.remove(name)
        return was_running

    async def _rename(self, old: str, new: str) -> LocalSandbox:
        sandbox = self._owned.get(old)
        if sandbox is None:
            record = self.registry.read(old)
            if record is not None and record.alive():
                raise SandboxError(
                    f"sandbox {old!r} was started by process {record.owner_pid}; rename it there"
                )
            raise SandboxNotFound(f"no running sandbox named {old!r}")
        if old == new:
            return sandbox
        first, second = sorted((old, new))
        async with self._name_lock(first), self._name_lock(second):
            existing = self.registry.read(new)
            if new in self._owned or (existing is not None and existing.alive()):
                raise SandboxNameTaken(f"a sandbox named {new!r} already runs")
            new_lock = FileLock.try_acquire(self.registry.lock_path(new))
            if new_lock is None:
                raise SandboxNameTaken(f"another QAI process is starting a sandbox named {new!r}")
            await sandbox.take_name(new, new_lock)
            self._owned.renamed(old, new)
            sandbox.touch()
        return sandbox

    async def _shutdown(self) -> None:
        self.reaper.cancel()
        for sandbox in self._owned.all():
            await self._owned.stop(sandbox, "QAI is shutting down")
        await self.reaper.join()
