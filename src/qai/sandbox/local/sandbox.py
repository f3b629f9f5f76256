"""A sandbox of the local backend: what its callers hold, and the state its owner keeps.

A :class:`LocalSandbox` owns its record (what ``.run/<name>.json`` says) and, in the process
that started it, its :class:`Owned` state: its processes, locks, log and events. The lifecycle
modules (launch, server, commands, reaper) change that state only through its verbs.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import os
import shutil
import signal
import socket
import time
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from qai.sandbox._base import Sandbox
from qai.sandbox._errors import SandboxError, SandboxNotFound
from qai.sandbox._model import CommandResult, SandboxInfo, SandboxStatus
from qai.sandbox.local.context import Context
from qai.sandbox.local.files import check_paths, list_files, owner_of, read_files, write_file
from qai.sandbox.local.netns import open_socket
from qai.sandbox.local.procs import exit_code, is_alive, kill_tree, kill_uid
from qai.sandbox.local.registry import FileLock, Log, Record, tail

logger = logging.getLogger("qai.sandbox")


class Operations(Protocol):
    """What a sandbox's verbs leave to its manager: running a command in it and recovering
    its server (the commands and server modules, which build on this one), and stopping it."""

    async def run_command(
        self, sandbox: LocalSandbox, command: str, seconds: float | None
    ) -> CommandResult: ...

    async def recover_server(self, sandbox: LocalSandbox) -> None: ...

    async def stop(self, name: str, *, delete_files: bool = False) -> bool: ...


@dataclass(eq=False)
class Owned:
    """What the process that started a sandbox keeps beyond its record."""

    launcher: asyncio.subprocess.Process
    name_lock: FileLock
    uid_lock: FileLock | None
    log: Log
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    server: asyncio.subprocess.Process | None = None
    server_started: float = 0.0
    sessions: set[int] = field(default_factory=set)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    last_used: float = field(default_factory=time.time)
    commands: int = 0  # commands of this process running in it now: it is in use meanwhile
    stopping: bool = False


class LocalSandbox(Sandbox):
    """A sandbox of the local backend: started by this process (owned) or by another.

    The verbs under "the owner's" are for the lifecycle modules, on the manager's loop, and
    only for an owned sandbox.
    """

    def __init__(
        self, context: Context, operations: Operations, record: Record, owned: Owned | None
    ) -> None:
        self._context = context
        self._operations = operations
        self._record = record
        self._owned = owned

    def __repr__(self) -> str:
        return f"<LocalSandbox {self.name} ({self.template}, {self._record.isolation})>"

    # --- what any holder reads ----------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._record.name

    @property
    def template(self) -> str:
        return self._record.template

    @property
    def directory(self) -> Path:
        return self._context.registry.workspace(self.name)

    @property
    def uid(self) -> int | None:
        """The host uid its processes run as (None without isolation)."""
        return self._record.uid

    @property
    def pid(self) -> int:
        """A host pid inside the sandbox's namespaces (its init)."""
        return self._record.init_pid

    @property
    def netns(self) -> str | None:
        """Its network namespace (None: it shares the host's network)."""
        return self._record.netns

    @property
    def owned(self) -> bool:
        """Whether this process started it (and so keeps its processes)."""
        return self._owned is not None

    @property
    def current_status(self) -> SandboxStatus:
        """Its status as this process knows it now (see :meth:`status` for a fresh one)."""
        return self._record.status

    @property
    def last_used(self) -> float:
        """When this process last used it (exactly; 0.0 when another process started it)."""
        return self._owned.last_used if self._owned is not None else 0.0

    def port(self, port: int | None = None) -> int:
        """The port to reach in the sandbox: the template server's unless ``port`` is another."""
        record = self._record
        template = self._context.templates.get(record.template)
        if port is None or (template is not None and port == template.port):
            if template is None or template.port is None:
                raise SandboxError(f"template {record.template!r} runs no server")
            port = record.server_port(template.port)
        return port

    def touch(self) -> None:
        """Note a use of the sandbox (idle sandboxes are stopped)."""
        now = time.time()
        if self._owned is not None:
            self._owned.last_used = now
        self._context.note_use(self.name, now)

    def log_file(self) -> Log:
        """Its log, where its server's output, late command output and QAI's notes go."""
        if self._owned is not None:
            return self._owned.log
        return Log(self._context.registry.log_path(self.name))

    def _check_running(self) -> None:
        if not self._record.alive():
            raise SandboxNotFound(f"sandbox {self.name!r} is not running")
        self.touch()

    # --- the owner's ------------------------------------------------------------------------

    def _own(self) -> Owned:
        assert self._owned is not None, f"sandbox {self.name} was started by another process"
        return self._owned

    @property
    def stopping(self) -> bool:
        """Whether this process is stopping it (or has stopped it)."""
        return self._owned is not None and self._owned.stopping

    @property
    def busy(self) -> bool:
        """Whether a command of this process runs in it now (it is in use meanwhile)."""
        return self._owned is not None and self._owned.commands > 0

    @contextlib.contextmanager
    def running_command(self, pid: int) -> Iterator[None]:
        """While a command (session ``pid``) runs: it is killed with the sandbox, and the
        sandbox is in use."""
        owned = self._owned
        if owned is None:
            yield
            return
        owned.sessions.add(pid)
        owned.commands += 1
        try:
            yield
        finally:
            owned.sessions.discard(pid)
            owned.commands -= 1

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as a task of the sandbox, cancelled when it stops."""
        self._context.loop.spawn(coro, self._own().tasks)

    def set_status(self, status: SandboxStatus, detail: str = "") -> None:
        record = self._record
        record.status = status
        record.detail = detail
        owned = self._owned
        if owned is not None:
            if detail:
                owned.log.note(detail)
            if status is not SandboxStatus.STARTING:
                owned.ready.set()
        if status is not SandboxStatus.STOPPED:
            self._context.registry.write(record)

    def mark_ready(self) -> None:
        """Its template has no server: it is ready as soon as it runs."""
        self._own().ready.set()

    @property
    def server(self) -> asyncio.subprocess.Process | None:
        """The template's server process this process started last, if any."""
        return self._owned.server if self._owned is not None else None

    @property
    def server_age(self) -> float:
        """Seconds since the template's server was last started."""
        return time.monotonic() - self._own().server_started

    def server_started(self, server: asyncio.subprocess.Process) -> None:
        """The template's server was (re)started as ``server``: it is STARTING until it answers."""
        owned = self._own()
        owned.server = server
        owned.server_started = time.monotonic()
        owned.sessions.add(server.pid)
        owned.ready.clear()
        self.set_status(SandboxStatus.STARTING)

    def is_current_server(self, server: asyncio.subprocess.Process) -> bool:
        """Whether ``server`` is the sandbox's server still (not replaced, not being stopped)."""
        owned = self._own()
        return not owned.stopping and owned.server is server

    async def launcher_exited(self) -> int:
        """Wait until its launcher (its init's parent) exits; return its exit code."""
        return exit_code(await self._own().launcher.wait())

    async def kill(self, reason: str) -> None:
        """Mark it stopping and kill all its processes; then its owner forgets it and calls
        :meth:`release`. Its tasks are cancelled, except the one calling."""
        owned = self._own()
        owned.stopping = True
        record = self._record
        logger.info("stopping sandbox %s: %s", self.name, reason)
        owned.log.note(f"stopping: {reason}")
        current = asyncio.current_task()
        for task in builtins.list(owned.tasks):
            if task is not current:
                task.cancel()
        if record.isolation == "bwrap" and is_alive(record.init_pid, record.init_start):
            os.kill(record.init_pid, signal.SIGKILL)  # the pid namespace dies with its init
        with contextlib.suppress(ProcessLookupError):
            owned.launcher.kill()
        for session in builtins.list(owned.sessions):
            await asyncio.to_thread(kill_tree, session, session=session)
        await owned.launcher.wait()
        if owned.server is not None:
            await owned.server.wait()
        if record.uid is not None:
            await asyncio.to_thread(kill_uid, record.uid)
        await asyncio.to_thread(self._context.isolation.release, record.uid)

    async def release(self, *, delete_files: bool) -> None:
        """After :meth:`kill`: STOPPED; its record, locks and (``delete_files``) directory go."""
        owned = self._own()
        self._record.status = SandboxStatus.STOPPED
        owned.ready.set()
        # The log stays until the name starts again or its directory is deleted: it says why.
        self._context.registry.remove(self.name, keep_log=not delete_files)
        owned.name_lock.release()
        if owned.uid_lock is not None:
            owned.uid_lock.release()
        if delete_files:
            await asyncio.to_thread(shutil.rmtree, self.directory, True)
        owned.stopped.set()

    async def take_name(self, new: str, lock: FileLock) -> None:
        """Be called ``new`` (whose name lock the caller took: it is the sandbox's now): the
        directory and log move, the record is rewritten, the old name's lock is let go."""
        owned = self._own()
        old = self.name
        registry = self._context.registry
        target = registry.workspace(new)
        await asyncio.to_thread(shutil.rmtree, target, True)  # what a stopped one left
        os.rename(self.directory, target)
        registry.remove(new)
        log = registry.log_path(old)
        if log.exists():
            os.rename(log, registry.log_path(new))
        owned.log.path = registry.log_path(new)
        self._record.name = new
        registry.write(self._record)
        registry.remove(old)
        owned.name_lock.release()
        owned.name_lock = lock
        owned.log.note(f"renamed from {old} to {new}")

    # --- the verbs of Sandbox ---------------------------------------------------------------

    async def exec(self, command: str, *, timeout: float | None = None) -> CommandResult:  # noqa: ASYNC109
        return await self._context.loop.call(self._exec(command, timeout))

    async def _exec(self, command: str, seconds: float | None) -> CommandResult:
        self._check_running()
        return await self._operations.run_command(self, command, seconds)

    async def write_files(self, files: Mapping[str, str]) -> None:
        check_paths(files)
        self._check_running()
        owner = owner_of(self._record.uid)

        def write_all() -> None:
            for path, content in files.items():
                write_file(self.directory, path, content, owner)

        await asyncio.to_thread(write_all)

    async def read_files(self, paths: Sequence[str]) -> dict[str, str]:
        self._check_running()
        settings = self._context.settings
        return await asyncio.to_thread(
            read_files,
            self.directory,
            paths,
            max_files=settings.sandbox_read_max_files,
            max_bytes=settings.sandbox_read_max_mb << 20,
        )

    async def list_files(self) -> builtins.list[str]:
        self._check_running()
        return await asyncio.to_thread(list_files, self.directory)

    def preview_url(self, port: int | None = None) -> str:
        template = self._context.templates.get(self.template)
        if template is not None and port == template.port:
            port = None
        return self._context.hosts.url(self.name, port)

    async def stop(self) -> None:
        await self._operations.stop(self.name)

    async def status(self) -> SandboxStatus:
        return await self._context.loop.call(self._status())

    async def _status(self) -> SandboxStatus:
        if self._owned is not None:
            return self._record.status
        record = self._context.registry.read(self.name)
        if record is None or not record.alive():
            return SandboxStatus.STOPPED
        self._record = record
        return record.status

    async def wait_ready(self, seconds: float) -> SandboxStatus:
        return await self._context.loop.call(self._wait_ready(seconds))

    async def _wait_ready(self, seconds: float) -> SandboxStatus:
        owned = self._owned
        if owned is None:
            deadline = time.monotonic() + seconds
            while (status := await self._status()) is SandboxStatus.STARTING:
                if time.monotonic() >= deadline:
                    break
                await asyncio.sleep(0.05)  # another process owns it: poll its record
            return status
        await self._operations.recover_server(self)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(owned.ready.wait(), seconds)
        return self._record.status

    async def wait_stopped(self) -> None:
        await self._context.loop.call(self._wait_stopped())

    async def _wait_stopped(self) -> None:
        if self._owned is not None:
            await self._owned.stopped.wait()
            return
        while self._record.alive():  # noqa: ASYNC110 - another process owns it: no event
            await asyncio.sleep(0.2)

    async def logs(self, lines: int = 40) -> builtins.list[str]:
        path = self._context.registry.log_path(self.name)
        return await asyncio.to_thread(tail, path, lines)

    async def info(self) -> SandboxInfo:
        return sandbox_info(self._context, self._record)

    async def open_socket(self, port: int | None = None) -> socket.socket:
        port = self.port(port)
        self.touch()
        return await open_socket(self._record.netns, port)


def sandbox_info(context: Context, record: Record) -> SandboxInfo:
    """What :meth:`SandboxManager.list` says of the sandbox ``record`` describes."""
    registry = context.registry
    last_used = max(registry.last_used(record.name), record.started.timestamp())
    return SandboxInfo(
        name=record.name,
        template=record.template,
        status=record.status,
        isolation=record.isolation,
        started_at=record.started,
        last_used_at=datetime.fromtimestamp(last_used, UTC),
        preview_url=context.hosts.url(record.name),
        directory=registry.workspace(record.name),
        pid=record.init_pid,
        uid=record.uid,
        owner_pid=record.owner_pid,
        detail=record.detail,
    )
