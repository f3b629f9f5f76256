"""The sandbox interface: verbs with written return contracts, whatever the backend."""

from __future__ import annotations

import builtins
import socket
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from qai.sandbox._model import CommandResult, SandboxInfo, SandboxStatus

if TYPE_CHECKING:
    from qai.sandbox.preview.hosts import PreviewHosts


class Sandbox(ABC):
    """One running sandbox: a directory and the processes isolated around it."""

    @property
    @abstractmethod
    def name(self) -> str: ...

    @property
    @abstractmethod
    def template(self) -> str: ...

    @abstractmethod
    async def exec(self, command: str, *, timeout: float | None = None) -> CommandResult:  # noqa: ASYNC109
        """Run ``command`` with ``/bin/sh -c`` in the sandbox's working directory.

        Returns when the command exits or, after ``timeout`` seconds (default: the
        ``sandbox_command_timeout`` setting), when it and every process it started have been
        killed (then ``timed_out`` is true and ``exit_code`` 124). Processes it leaves in the
        background keep running; their later output goes to the sandbox log. Output is cut to
        :data:`~qai.sandbox.OUTPUT_LIMIT` bytes per stream. A failing command is a result,
        not an exception; :class:`SandboxError` means the sandbox itself is gone.
        """

    @abstractmethod
    async def write_files(self, files: Mapping[str, str]) -> None:
        """Write each text file (path → content, UTF-8), creating parent directories.

        Paths are relative to the working directory (``/home/user/...`` is accepted too).
        Raises :class:`SandboxPathError` naming the path, before writing anything, for a path
        that is absolute elsewhere or uses ``..``; and for one that leads outside through a
        symlink (files before it in ``files`` are then written).
        """

    @abstractmethod
    async def read_files(self, paths: Sequence[str]) -> dict[str, str]:
        """Return path → text of each file (bad UTF-8 replaced), in the order given.

        Raises :class:`SandboxFileNotFound` for a missing file, :class:`SandboxPathError` for
        a path leading outside, a directory, a file over :data:`~qai.sandbox.READ_LIMIT`, or
        a call past ``sandbox_read_max_files`` files or ``sandbox_read_max_mb`` bytes in all.
        """

    @abstractmethod
    async def list_files(self) -> builtins.list[str]:
        """Sorted relative paths of the app's files: regular files only, without dot
        directories, ``node_modules`` and ``__pycache__``; at most 5000."""

    @abstractmethod
    def preview_url(self, port: int | None = None) -> str:
        """The public address of the server on ``port`` (default: the template's server)."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop every process of the sandbox; its directory stays. Idempotent."""

    @abstractmethod
    async def status(self) -> SandboxStatus:
        """STARTING until the template's server answers, then READY; FAILED when it exited or
        did not answer within ``sandbox_start_timeout``; STOPPED once the sandbox is gone."""

    @abstractmethod
    async def wait_ready(self, seconds: float) -> SandboxStatus:
        """Wait up to ``seconds`` for the status to leave STARTING; return it."""

    @abstractmethod
    async def wait_stopped(self) -> None:
        """Return once the sandbox has stopped (on request, idle, or its processes died)."""

    @abstractmethod
    async def logs(self, lines: int = 40) -> builtins.list[str]:
        """The last lines of the sandbox log: its server's output, then late output of
        background commands, and QAI's notes about the sandbox."""

    @abstractmethod
    async def info(self) -> SandboxInfo: ...

    @abstractmethod
    async def open_socket(self, port: int | None = None) -> socket.socket:
        """A connected non-blocking socket to ``port`` (default: the template's server) on
        the sandbox's own loopback. Raises OSError when nothing listens there."""


class SandboxManager(ABC):
    """Starts, finds and stops sandboxes. One per process, built by ``make_sandbox_manager``."""

    # The preview addresses of its sandboxes: what preview_url makes, what the gateway reads.
    hosts: PreviewHosts

    @abstractmethod
    async def start(
        self, template: str, *, name: str | None = None, files: Mapping[str, str] | None = None
    ) -> Sandbox:
        """Start a sandbox from ``template`` and return it once its processes run.

        A new directory gets the template's starter files; an existing one (a sandbox of that
        name ran before) is kept. ``files`` are then written over it and the template's
        server is started (see :meth:`Sandbox.status`). ``name`` defaults to a random one.
        At most ``sandbox_max_running`` sandboxes run: the least recently used are stopped.
        Raises :class:`SandboxNameTaken`, :class:`TemplateNotFound`,
        :class:`TemplateNotPrepared`, :class:`IsolationUnavailable` or :class:`SandboxError`.
        """

    @abstractmethod
    async def get(self, name: str) -> Sandbox | None:
        """The running sandbox called ``name`` (started by any QAI process), or None."""

    @abstractmethod
    async def list(self) -> builtins.list[SandboxInfo]:
        """Every running sandbox, by name."""

    @abstractmethod
    async def stop(self, name: str, *, delete_files: bool = False) -> bool:
        """Stop sandbox ``name``; with ``delete_files`` remove its directory too.

        Returns whether it was running."""

    @abstractmethod
    async def prune(self, older_than_hours: float) -> builtins.list[str]:
        """Remove what sandboxes that do not run left behind (their directories and logs),
        when unused for more than ``older_than_hours`` (0: every one); return their names.

        A name running or being started by any process is never touched.
        """

    @abstractmethod
    async def ensure(self, name: str, template: str, files: Mapping[str, str]) -> Sandbox:
        """The running sandbox ``name``, or one started as by ``start(template, name=name,
        files=files)``. Concurrent calls for one name start it once."""

    @abstractmethod
    async def rename(self, old: str, new: str) -> Sandbox:
        """Give running sandbox ``old`` the name ``new`` (its directory moves, its processes
        and servers keep running), so a preview address made for ``new`` serves it.

        Raises :class:`SandboxNotFound` or :class:`SandboxNameTaken`."""

    @abstractmethod
    def preview_url(self, name: str, port: int | None = None) -> str:
        """The public address of sandbox ``name``'s server on ``port`` (default: the
        template's), following the ``preview_url_template`` setting."""

    @abstractmethod
    async def shutdown(self) -> None:
        """Stop the sandboxes this process started, and the manager's background work."""
