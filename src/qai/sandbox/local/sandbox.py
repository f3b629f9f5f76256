"""A sandbox of the local backend, as its callers hold it."""

from __future__ import annotations

import asyncio
import builtins
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from qai.sandbox._base import Sandbox
from qai.sandbox._errors import SandboxError, SandboxNotFound
from qai.sandbox._model import OUTPUT_LIMIT, CommandResult, SandboxInfo, SandboxStatus
from qai.sandbox.local.files import check_paths, list_files, owner_of, read_file, write_file
from qai.sandbox.local.netns import open_socket
from qai.sandbox.local.registry import FileLock, Log, Record, tail

if TYPE_CHECKING:
    from qai.sandbox.local.manager import LocalSandboxManager


class CommandOutput:
    """One stream of a command: head and tail kept up to :data:`OUTPUT_LIMIT` bytes."""

    def __init__(self, overflow: Log) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self.sealed = False
        self.overflow = overflow

    def feed(self, data: bytes) -> None:
        if self.sealed:
            self.overflow.write(data)
            return
        half = OUTPUT_LIMIT // 2
        self.total += len(data)
        room = half - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            del self.tail[:-half]

    @property
    def truncated(self) -> bool:
        return self.total > OUTPUT_LIMIT

    def text(self) -> str:
        if not self.truncated:
            return (self.head + self.tail).decode(errors="replace")
        dropped = self.total - len(self.head) - len(self.tail)
        return (
            self.head.decode(errors="replace")
            + f"\n[... {dropped} bytes of output left out ...]\n"
            + self.tail.decode(errors="replace")
        )


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
    """A sandbox of the local backend: started by this process (owned) or by another."""

    def __init__(self, manager: LocalSandboxManager, record: Record, owned: Owned | None):
        self._manager = manager
        self._record = record
        self._owned = owned

    def __repr__(self) -> str:
        return f"<LocalSandbox {self.name} ({self.template}, {self._record.isolation})>"

    @property
    def name(self) -> str:
        return self._record.name

    @property
    def template(self) -> str:
        return self._record.template

    @property
    def directory(self) -> Path:
        return self._manager.registry.workspace(self.name)

    @property
    def uid(self) -> int | None:
        """The host uid its processes run as (None without isolation)."""
        return self._record.uid

    @property
    def pid(self) -> int:
        """A host pid inside the sandbox's namespaces (its init)."""
        return self._record.init_pid

    def _check_running(self) -> None:
        if not self._record.alive():
            raise SandboxNotFound(f"sandbox {self.name!r} is not running")
        self._manager.touch(self.name)

    async def exec(self, command: str, *, timeout: float | None = None) -> CommandResult:  # noqa: ASYNC109
        return await self._manager.call(self._manager.exec_in(self, command, timeout))

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
        return await asyncio.to_thread(lambda: {p: read_file(self.directory, p) for p in paths})

    async def list_files(self) -> builtins.list[str]:
        self._check_running()
        return await asyncio.to_thread(list_files, self.directory)

    def preview_url(self, port: int | None = None) -> str:
        template = self._manager.templates.get(self.template)
        if template is not None and port == template.port:
            port = None
        return self._manager.preview_url(self.name, port)

    async def stop(self) -> None:
        await self._manager.stop(self.name)

    async def status(self) -> SandboxStatus:
        return await self._manager.call(self._manager.status_of(self))

    async def wait_ready(self, seconds: float) -> SandboxStatus:
        return await self._manager.call(self._manager.wait_ready(self, seconds))

    async def wait_stopped(self) -> None:
        await self._manager.call(self._manager.wait_stopped(self))

    async def logs(self, lines: int = 40) -> builtins.list[str]:
        path = self._manager.registry.log_path(self.name)
        return await asyncio.to_thread(tail, path, lines)

    async def info(self) -> SandboxInfo:
        return self._manager.info_of(self._record)

    async def open_socket(self, port: int | None = None) -> socket.socket:
        port = self._port(port)
        self._manager.touch(self.name)
        return await open_socket(self._record.netns, port)

    def _port(self, port: int | None = None) -> int:
        """The port to reach in the sandbox: the template server's unless ``port`` is another."""
        record = self._record
        template = self._manager.templates.get(record.template)
        if port is None or (template is not None and port == template.port):
            if template is None or template.port is None:
                raise SandboxError(f"template {record.template!r} runs no server")
            port = record.server_port(template.port)
        return port
