"""The local backend: sandboxes on this machine, under bubblewrap (see ``_isolation``).

A manager runs its work on an event loop of its own, in a thread that lives as long as the
manager: sandbox processes are children of that thread (bubblewrap's ``--die-with-parent`` is
tied to the thread that forked it), their output is read there after a command returns, and
callers on any event loop (the web server's, a worker's, the CLI's) await the same manager.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import logging
import math
import os
import secrets
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from qai.sandbox._base import Sandbox, SandboxManager
from qai.sandbox._errors import (
    SandboxError,
    SandboxNameTaken,
    SandboxNotFound,
)
from qai.sandbox._model import (
    CommandResult,
    SandboxInfo,
    SandboxStatus,
    check_name,
)
from qai.sandbox._templates import TEMPLATES, Template, get_template
from qai.sandbox.local.files import (
    check_paths,
    chown_tree,
    copy_starter,
    owner_of,
    tree_size,
    write_file,
)
from qai.sandbox.local.isolation import (
    InitSpec,
    Isolation,
    Limits,
    clean_env,
    make_isolation,
    write_etc_files,
)
from qai.sandbox.local.loop import LoopThread, PipeReader
from qai.sandbox.local.netns import open_socket
from qai.sandbox.local.procs import exit_code, is_alive, kill_tree, kill_uid, read_stat
from qai.sandbox.local.registry import FileLock, Log, Record, Registry, is_locked
from qai.sandbox.local.sandbox import CommandOutput, LocalSandbox, Owned
from qai.sandbox.preview.hosts import PreviewHosts
from qai.settings import Settings

logger = logging.getLogger("qai.sandbox")

T = TypeVar("T")

# The environment of QAI's helper processes (prlimit, nsenter, bwrap); never QAI's own.
HOST_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
# Output a command's background processes write within this time after it exits is still its.
OUTPUT_GRACE = 0.1
# A template server that exited is started again by a preview request at most this often.
SERVER_RESTART_AFTER = 10.0
INIT_TIMEOUT = 30.0
# The reaper removes old stopped sandboxes' directories at most this often (seconds).
PRUNE_INTERVAL = 300.0


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
        self.reap_interval = reap_interval or min(max(settings.sandbox_idle_seconds / 4, 0.1), 5)
        self.prune_interval = prune_interval
        self.templates = templates
        self.registry = Registry(settings.data_dir / "sandboxes")
        self.hosts = PreviewHosts(settings.preview_url_template, settings.port)
        self.isolation: Isolation = make_isolation(settings.sandbox_isolation)
        self._thread: LoopThread | None = None
        self._thread_lock = threading.Lock()
        self._owned: dict[str, LocalSandbox] = {}
        self._name_locks: dict[str, asyncio.Lock] = {}
        self._readers: set[PipeReader] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self._reaper: asyncio.Task[None] | None = None
        self._pruned_at = -math.inf  # time.monotonic() of the reaper's last prune
        self._touched: dict[str, float] = {}

    # --- plumbing -----------------------------------------------------------------------------

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the manager's own loop and await it from the caller's."""
        with self._thread_lock:
            if self._thread is None:
                self.registry.setup()
                write_etc_files(self.registry.etc)
                self._thread = LoopThread()
            thread = self._thread
        return await thread.call(coro)

    def _spawn(self, coro: Coroutine[Any, Any, Any], owned: Owned | None = None) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        tasks: set[asyncio.Task[Any]] = owned.tasks if owned is not None else self._background
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        task.add_done_callback(_log_failure)

    def _read_pipe(self, fd: int, sink: Callable[[bytes], None]) -> PipeReader:
        reader = PipeReader(asyncio.get_running_loop(), fd, sink)
        self._readers.add(reader)
        self._spawn(self._forget_reader(reader))
        return reader

    async def _forget_reader(self, reader: PipeReader) -> None:
        await reader.done.wait()
        self._readers.discard(reader)

    def _name_lock(self, name: str) -> asyncio.Lock:
        return self._name_locks.setdefault(name, asyncio.Lock())

    @property
    def _bwrap(self) -> bool:
        """Sandboxes run under bubblewrap: each in namespaces of its own, as a uid of its own."""
        return self.isolation.name == "bwrap"

    def _limits(self, *, server: bool) -> Limits:
        s = self.settings
        return Limits(
            memory_bytes=s.sandbox_memory_mb << 20,
            # Without isolation commands run as QAI's own user: a process limit would count
            # every process of that user, so none is set.
            processes=s.sandbox_max_processes if self._bwrap else None,
            file_size_bytes=s.sandbox_file_size_mb << 20,
            cpu_seconds=None if server else s.sandbox_cpu_seconds,
        )

    def _env(self, template: Template | None, **extra: str) -> dict[str, str]:
        """The whole environment of a sandbox process: nothing of QAI's own."""
        own = template.env if template is not None else {}
        return clean_env({**own, "PREVIEW_HOSTS": self.hosts.wildcard, **extra})

    def touch(self, name: str) -> None:
        """Note a use of sandbox ``name`` (idle sandboxes are stopped)."""
        now = time.time()
        sandbox = self._owned.get(name)
        if sandbox is not None and sandbox._owned is not None:
            sandbox._owned.last_used = now
        if now - self._touched.get(name, 0.0) >= 1.0:
            self._touched[name] = now
            self.registry.touch(name)

    def _last_used(self, name: str) -> float:
        """When sandbox ``name`` was last used by any process (by this one: exactly)."""
        sandbox = self._owned.get(name)
        mine = sandbox._owned.last_used if sandbox is not None and sandbox._owned else 0.0
        return max(mine, self.registry.last_used(name))

    def preview_url(self, name: str, port: int | None = None) -> str:
        return self.hosts.url(name, port)

    def info_of(self, record: Record) -> SandboxInfo:
        last_used = max(self.registry.last_used(record.name), record.started.timestamp())
        return SandboxInfo(
            name=record.name,
            template=record.template,
            status=record.status,
            isolation=record.isolation,
            started_at=record.started,
            last_used_at=datetime.fromtimestamp(last_used, UTC),
            preview_url=self.preview_url(record.name),
            directory=self.registry.workspace(record.name),
            pid=record.init_pid,
            uid=record.uid,
            owner_pid=record.owner_pid,
            detail=record.detail,
        )

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
        return await self.call(asyncio.to_thread(self.registry.prune, older_than_hours * 3600))

    async def shutdown(self) -> None:
        with self._thread_lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        await thread.call(self._shutdown())
        await asyncio.to_thread(thread.stop)

    # --- on the manager's loop ----------------------------------------------------------------

    async def _get(self, name: str) -> LocalSandbox | None:
        sandbox = self._owned.get(name)
        if sandbox is not None and sandbox._owned is not None:
            if not sandbox._owned.stopping:
                return sandbox
            await sandbox._owned.stopped.wait()  # being stopped: it is not running any more
            return None
        record = self.registry.read(name)
        if record is None or not record.alive():
            return None
        return LocalSandbox(self, record, None)

    async def _list(self) -> builtins.list[SandboxInfo]:
        records = await asyncio.to_thread(self.registry.running)
        return [self.info_of(record) for record in records]

    async def _start(self, template_name: str, name: str, files: dict[str, str]) -> LocalSandbox:
        async with self._name_lock(name):
            return await self._start_locked(template_name, name, files)

    async def _ensure(self, name: str, template: str, files: dict[str, str]) -> LocalSandbox:
        deadline = time.monotonic() + INIT_TIMEOUT
        while True:
            async with self._name_lock(name):
                found = await self._get(name)
                if found is not None:
                    self.touch(name)  # just asked for: not one for the reaper to pick now
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
        await self._make_room(exclude=name)
        name_lock = FileLock.try_acquire(self.registry.lock_path(name))
        if name_lock is None:
            raise SandboxNameTaken(f"another QAI process is starting a sandbox named {name!r}")
        uid_lock: FileLock | None = None
        try:
            uid: int | None = None
            if self._bwrap:
                uid, uid_lock = self.registry.reserve_uid(name, self.settings.sandbox_uid_base)
            return await self._launch(template, name, files, cached, uid, name_lock, uid_lock)
        except BaseException:
            name_lock.release()
            if uid_lock is not None:
                uid_lock.release()
            raise

    def _prepare_directory(
        self, template: Template, workspace: Path, files: dict[str, str], uid: int | None
    ) -> None:
        owner = owner_of(uid)
        if not workspace.exists():
            workspace.mkdir(mode=0o755)
            copy_starter(template.starter, workspace)
            if owner is not None:
                chown_tree(workspace, owner)
        elif owner is not None and workspace.stat().st_uid != uid:
            chown_tree(workspace, owner)  # the sandbox ran before under another uid
        for path, content in files.items():
            write_file(workspace, path, content, owner)

    async def _launch(
        self,
        template: Template,
        name: str,
        files: dict[str, str],
        cached: Path | None,
        uid: int | None,
        name_lock: FileLock,
        uid_lock: FileLock | None,
    ) -> LocalSandbox:
        workspace = self.registry.workspace(name)
        await asyncio.to_thread(self._prepare_directory, template, workspace, files, uid)
        self.registry.remove(name)  # the record and log of an earlier run, if any
        log = Log(self.registry.log_path(name))
        # Sharing the host's network (no isolation, or the network opt-in), servers of two
        # sandboxes would fight for the template's port: each gets a free one instead.
        shares_host_net = self.isolation.name == "none" or self.settings.sandbox_network
        host_port = _free_port() if shares_host_net and template.port else None
        bwrap = self._bwrap
        info_read, info_write = os.pipe() if bwrap else (-1, -1)
        spec = InitSpec(
            workspace=workspace,
            etc_dir=self.registry.etc,
            cached=cached,
            uid=uid,
            network=self.settings.sandbox_network,
            tmp_bytes=self.settings.sandbox_tmp_mb << 20,
            info_fd=info_write if bwrap else None,
        )
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        try:
            launcher = await asyncio.create_subprocess_exec(
                *self.isolation.init_argv(spec),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out_write,
                stderr=err_write,
                env=HOST_ENV,
                cwd=workspace,
                start_new_session=True,
                pass_fds=(info_write,) if bwrap else (),
            )
        except BaseException:
            for fd in (out_read, err_read, info_read):
                if fd >= 0:
                    os.close(fd)
            raise
        finally:
            for fd in (out_write, err_write, info_write):
                if fd >= 0:
                    os.close(fd)
        try:
            init_pid = await self._await_init(launcher, out_read, err_read, info_read, log)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                launcher.kill()
            await launcher.wait()
            if uid is not None:
                await asyncio.to_thread(kill_uid, uid)
            raise
        init = read_stat(init_pid)
        record = Record(
            name=name,
            template=template.name,
            isolation=self.isolation.name,
            uid=uid,
            pid=launcher.pid,
            init_pid=init_pid,
            init_start=init.start_time if init is not None else 0,
            owner_pid=os.getpid(),
            started_at=Record.now(),
            status=SandboxStatus.STARTING if template.start else SandboxStatus.READY,
            host_port=host_port,
        )
        owned = Owned(launcher=launcher, name_lock=name_lock, uid_lock=uid_lock, log=log)
        owned.sessions.add(launcher.pid)
        sandbox = LocalSandbox(self, record, owned)
        self._owned[name] = sandbox
        self.registry.write(record)
        self.registry.touch(name)
        log.note(f"sandbox {name} started from template {template.name} ({self.isolation.name})")
        self._spawn(self._watch_launcher(sandbox), owned)
        try:
            if template.start:
                await self._start_server(sandbox, template)
            else:
                owned.ready.set()
        except BaseException:
            await self._stop_owned(sandbox, "its server could not be started")
            raise
        self._ensure_reaper()
        return sandbox

    async def _await_init(
        self,
        launcher: asyncio.subprocess.Process,
        out_read: int,
        err_read: int,
        info_read: int,
        log: Log,
    ) -> int:
        """Wait for the init's "ready" line; return the pid to enter its namespaces through."""
        ready = asyncio.get_running_loop().create_future()
        stdout = bytearray()
        stderr = bytearray()

        def on_out(data: bytes) -> None:
            stdout.extend(data)
            if b"\n" in stdout and not ready.done():
                ready.set_result(True)

        def on_err(data: bytes) -> None:
            stderr.extend(data[:4096])
            log.write(data)

        out = self._read_pipe(out_read, on_out)
        err = self._read_pipe(err_read, on_err)
        exited = asyncio.ensure_future(launcher.wait())
        try:
            done, _ = await asyncio.wait(
                {ready, exited}, timeout=INIT_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
            )
            if ready in done and bytes(stdout).strip() == b"ready":
                if info_read < 0:
                    return launcher.pid
                raw = await asyncio.to_thread(_read_all, info_read)
                info_read = -1  # closed by _read_all
                return int(json.loads(raw)["child-pid"])
            with contextlib.suppress(ProcessLookupError):
                launcher.kill()
            await launcher.wait()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(err.done.wait(), 1.0)  # the rest of its error output
            message = stderr.decode(errors="replace").strip() or "no output"
            raise SandboxError(f"the sandbox failed to start: {message}")
        finally:
            exited.cancel()
            if info_read >= 0:
                os.close(info_read)
            if not ready.done():
                out.close()

    async def _start_server(self, sandbox: LocalSandbox, template: Template) -> None:
        owned = sandbox._owned
        assert owned is not None
        assert template.start is not None
        assert template.port is not None
        record = sandbox._record
        port = record.server_port(template.port)
        env = self._env(template, PORT=str(port))
        owned.log.note(f"server: {template.start} (PORT={port})")
        server, _ = await self._run_in(
            sandbox, template.start, env, on_stdout=owned.log.write, on_stderr=None, server=True
        )
        owned.server = server
        owned.server_started = time.monotonic()
        owned.sessions.add(server.pid)
        owned.ready.clear()
        self._set_status(sandbox, SandboxStatus.STARTING)
        self._spawn(self._watch_server(sandbox, template, server), owned)

    async def _watch_server(
        self, sandbox: LocalSandbox, template: Template, server: asyncio.subprocess.Process
    ) -> None:
        deadline = time.monotonic() + self.settings.sandbox_start_timeout
        delay = 0.005
        while sandbox._record.status is SandboxStatus.STARTING:
            if server.returncode is not None:
                break
            if await self._answers(sandbox, template, deadline):
                self._set_status(sandbox, SandboxStatus.READY)
                break
            if time.monotonic() >= deadline:
                self._set_status(
                    sandbox,
                    SandboxStatus.FAILED,
                    f"the server did not answer within {self.settings.sandbox_start_timeout:g}s",
                )
                break
            await asyncio.sleep(delay)  # poll until the deadline: nothing signals readiness
            delay = min(delay * 1.5, 0.05)
        code = exit_code(await server.wait())
        owned = sandbox._owned
        if owned is not None and not owned.stopping and owned.server is server:
            self._set_status(sandbox, SandboxStatus.FAILED, f"the server exited with code {code}")

    async def _answers(self, sandbox: LocalSandbox, template: Template, deadline: float) -> bool:
        """Whether the template's server answers an HTTP request (any status).

        The probe is not a use: it goes to the server's socket without touching the sandbox, so
        a sandbox nobody has used since it started stays the least recently used one.
        """
        try:
            sock = await open_socket(sandbox._record.netns, sandbox._port())
        except OSError:
            return False
        writer: asyncio.StreamWriter | None = None
        try:
            reader, writer = await asyncio.open_connection(sock=sock)
            writer.write(
                f"GET {template.ready_path} HTTP/1.1\r\nHost: 127.0.0.1:{template.port}\r\n"
                "User-Agent: qai-readiness\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
            wait = max(0.5, deadline - time.monotonic())
            return (await asyncio.wait_for(reader.read(5), wait)).startswith(b"HTTP/")
        except (OSError, TimeoutError):
            return False
        finally:
            if writer is None:
                sock.close()
            else:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()

    def _set_status(self, sandbox: LocalSandbox, status: SandboxStatus, detail: str = "") -> None:
        record = sandbox._record
        record.status = status
        record.detail = detail
        owned = sandbox._owned
        if owned is not None:
            if detail:
                owned.log.note(detail)
            if status is not SandboxStatus.STARTING:
                owned.ready.set()
        if status is not SandboxStatus.STOPPED:
            self.registry.write(record)

    async def _watch_launcher(self, sandbox: LocalSandbox) -> None:
        owned = sandbox._owned
        assert owned is not None
        code = exit_code(await owned.launcher.wait())
        if not owned.stopping:
            await self._stop_owned(sandbox, f"its init exited with code {code}")

    async def status_of(self, sandbox: LocalSandbox) -> SandboxStatus:
        if sandbox._owned is not None:
            return sandbox._record.status
        record = self.registry.read(sandbox.name)
        if record is None or not record.alive():
            return SandboxStatus.STOPPED
        sandbox._record = record
        return record.status

    async def wait_ready(self, sandbox: LocalSandbox, seconds: float) -> SandboxStatus:
        owned = sandbox._owned
        if owned is None:
            deadline = time.monotonic() + seconds
            while (status := await self.status_of(sandbox)) is SandboxStatus.STARTING:
                if time.monotonic() >= deadline:
                    break
                await asyncio.sleep(0.05)  # another process owns it: poll its record
            return status
        await self._recover(sandbox, owned)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(owned.ready.wait(), seconds)
        return sandbox._record.status

    async def wait_stopped(self, sandbox: LocalSandbox) -> None:
        if sandbox._owned is not None:
            await sandbox._owned.stopped.wait()
            return
        while sandbox._record.alive():  # noqa: ASYNC110 - another process owns it: no event
            await asyncio.sleep(0.2)

    async def _recover(self, sandbox: LocalSandbox, owned: Owned) -> None:
        """Start a failed server again if it exited (at most every SERVER_RESTART_AFTER
        seconds); mark it ready if it answers after all (it was slower than the timeout)."""
        template = self.templates.get(sandbox.template)
        if sandbox._record.status is not SandboxStatus.FAILED or template is None:
            return
        if owned.server is None or owned.server.returncode is not None:
            if time.monotonic() - owned.server_started >= SERVER_RESTART_AFTER:
                await self._start_server(sandbox, template)
        elif await self._answers(sandbox, template, time.monotonic() + 1.0):
            self._set_status(sandbox, SandboxStatus.READY)

    async def _run_in(
        self,
        sandbox: LocalSandbox,
        command: str,
        env: Mapping[str, str],
        *,
        on_stdout: Callable[[bytes], None],
        on_stderr: Callable[[bytes], None] | None,
        server: bool = False,
    ) -> tuple[asyncio.subprocess.Process, builtins.list[PipeReader]]:
        """Start ``sh -c command`` in the sandbox, in a session of its own, under its limits.

        Its output is read into ``on_stdout`` and ``on_stderr`` (None: stderr joins stdout).
        Returns the process and the readers of its pipes.
        """
        argv = self.isolation.command_argv(
            sandbox._record.init_pid, ["/bin/sh", "-c", command], env, self._limits(server=server)
        )
        pipes = [os.pipe() for _ in range(1 if on_stderr is None else 2)]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=pipes[0][1],
                stderr=pipes[-1][1],
                env=HOST_ENV,
                cwd=sandbox.directory,
                start_new_session=True,
            )
        except BaseException:
            for read, _ in pipes:
                os.close(read)
            raise
        finally:
            for _, write in pipes:
                os.close(write)
        sinks = [on_stdout] if on_stderr is None else [on_stdout, on_stderr]
        return proc, [
            self._read_pipe(read, sink) for (read, _), sink in zip(pipes, sinks, strict=True)
        ]

    async def exec_in(
        self, sandbox: LocalSandbox, command: str, seconds: float | None
    ) -> CommandResult:
        sandbox._check_running()
        record = sandbox._record
        env = self._env(self.templates.get(record.template))
        limit = seconds if seconds is not None else self.settings.sandbox_command_timeout
        log = (
            sandbox._owned.log
            if sandbox._owned is not None
            else Log(self.registry.log_path(sandbox.name))
        )
        stdout, stderr = CommandOutput(log), CommandOutput(log)
        proc, readers = await self._run_in(
            sandbox, command, env, on_stdout=stdout.feed, on_stderr=stderr.feed
        )
        owned = sandbox._owned
        if owned is not None:
            owned.sessions.add(proc.pid)
            owned.commands += 1
        timed_out = False
        try:
            await asyncio.wait_for(proc.wait(), limit)
        except TimeoutError:
            timed_out = True
            await asyncio.to_thread(kill_tree, proc.pid, session=proc.pid)
            await proc.wait()
        except asyncio.CancelledError:
            kill_tree(proc.pid, session=proc.pid)
            raise
        finally:
            if owned is not None:
                owned.sessions.discard(proc.pid)
                owned.commands -= 1
        # Output still in the pipes is the command's; background processes that keep them open
        # write what follows to the sandbox log.
        waits = [asyncio.ensure_future(r.done.wait()) for r in readers]
        _, pending = await asyncio.wait(waits, timeout=OUTPUT_GRACE)
        for waiter in pending:
            waiter.cancel()
        stdout.sealed = stderr.sealed = True
        assert proc.returncode is not None
        self.touch(sandbox.name)
        return CommandResult(
            exit_code=124 if timed_out else exit_code(proc.returncode),
            stdout=stdout.text(),
            stderr=stderr.text(),
            timed_out=timed_out,
            truncated=stdout.truncated or stderr.truncated,
        )

    async def _stop(self, name: str, delete_files: bool) -> bool:
        sandbox = self._owned.get(name)
        if sandbox is not None:
            await self._stop_owned(sandbox, "stopped on request", delete_files=delete_files)
            return True
        was_running = await self._stop_other(name)
        if delete_files:
            await asyncio.to_thread(shutil.rmtree, self.registry.workspace(name), True)
            self.registry.remove(name)
        return was_running

    async def _stop_owned(
        self, sandbox: LocalSandbox, reason: str, *, delete_files: bool = False
    ) -> None:
        owned = sandbox._owned
        assert owned is not None
        if owned.stopping:
            await owned.stopped.wait()
            return
        owned.stopping = True
        name = sandbox.name
        record = sandbox._record
        logger.info("stopping sandbox %s: %s", name, reason)
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
        record.status = SandboxStatus.STOPPED
        owned.ready.set()
        self._owned.pop(name, None)
        # The log stays until the name starts again or its directory is deleted: it says why.
        self.registry.remove(name, keep_log=not delete_files)
        owned.name_lock.release()
        if owned.uid_lock is not None:
            owned.uid_lock.release()
        if delete_files:
            await asyncio.to_thread(shutil.rmtree, sandbox.directory, True)
        owned.stopped.set()

    async def _stop_other(self, name: str) -> bool:
        """Stop a sandbox another process started: kill its init; its owner cleans up."""
        record = self.registry.read(name)
        if record is None:
            return False
        running = record.alive()
        if running:
            os.kill(record.init_pid, signal.SIGKILL)
            if record.uid is not None:
                await asyncio.to_thread(kill_uid, record.uid)
        deadline = time.monotonic() + 5.0
        while self.registry.read(name) is not None and is_alive(record.owner_pid):
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.02)  # the owner notices its init's death and removes the record
        if not is_alive(record.owner_pid):
            self.registry.remove(name, keep_log=True)
        return running

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
            owned = sandbox._owned
            assert owned is not None
            existing = self.registry.read(new)
            if new in self._owned or (existing is not None and existing.alive()):
                raise SandboxNameTaken(f"a sandbox named {new!r} already runs")
            new_lock = FileLock.try_acquire(self.registry.lock_path(new))
            if new_lock is None:
                raise SandboxNameTaken(f"another QAI process is starting a sandbox named {new!r}")
            target = self.registry.workspace(new)
            await asyncio.to_thread(shutil.rmtree, target, True)  # what a stopped one left
            os.rename(sandbox.directory, target)
            self.registry.remove(new)
            log = self.registry.log_path(old)
            if log.exists():
                os.rename(log, self.registry.log_path(new))
            owned.log.path = self.registry.log_path(new)
            sandbox._record.name = new
            self.registry.write(sandbox._record)
            self.registry.remove(old)
            owned.name_lock.release()
            owned.name_lock = new_lock
            self._owned[new] = self._owned.pop(old)
            owned.log.note(f"renamed from {old} to {new}")
            self.touch(new)
        return sandbox

    async def _make_room(self, exclude: str) -> None:
        """Stop least recently used sandboxes until one more may run."""
        running = [r for r in await asyncio.to_thread(self.registry.running) if r.name != exclude]
        running.sort(key=lambda r: self._last_used(r.name))
        while len(running) >= self.settings.sandbox_max_running:
            victim = running.pop(0)
            reason = f"at most {self.settings.sandbox_max_running} sandboxes run at once"
            sandbox = self._owned.get(victim.name)
            if sandbox is not None:
                await self._stop_owned(sandbox, f"least recently used: {reason}")
            else:
                await self._stop_other(victim.name)

    def _ensure_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())

    async def _reap_forever(self) -> None:
        interval = self.reap_interval
        while True:
            await asyncio.sleep(interval)
            try:
                await self._reap_once()
            except (OSError, SandboxError):
                logger.exception("the sandbox reaper failed; it tries again in %ss", interval)
            await self._prune_now_and_then()

    async def _prune_now_and_then(self) -> None:
        """Remove the directories of sandboxes stopped longer than QAI_SANDBOX_KEEP_STOPPED_HOURS
        (0: never), at most every ``prune_interval`` seconds."""
        hours = self.settings.sandbox_keep_stopped_hours
        if hours == 0 or time.monotonic() - self._pruned_at < self.prune_interval:
            return
        self._pruned_at = time.monotonic()
        try:
            await asyncio.to_thread(self.registry.prune, hours * 3600)
        except Exception:
            # Housekeeping only: whatever fails here, the reaper goes on stopping idle sandboxes.
            logger.exception(
                "pruning stopped sandboxes failed; tried again in %ss", self.prune_interval
            )

    async def _reap_once(self) -> None:
        now = time.time()
        for sandbox in builtins.list(self._owned.values()):
            owned = sandbox._owned
            if owned is None or owned.stopping:
                continue
            used = self._last_used(sandbox.name)
            if not owned.commands and now - used > self.settings.sandbox_idle_seconds:
                await self._stop_owned(sandbox, f"idle for {now - used:.0f}s")
                continue
            size = await asyncio.to_thread(tree_size, sandbox.directory)
            if size > self.settings.sandbox_disk_mb << 20:
                await self._stop_owned(
                    sandbox,
                    f"its directory holds {size >> 20} MiB, over the "
                    f"{self.settings.sandbox_disk_mb} MiB limit (QAI_SANDBOX_DISK_MB)",
                )

    async def _shutdown(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        for sandbox in builtins.list(self._owned.values()):
            await self._stop_owned(sandbox, "QAI is shutting down")
        for reader in builtins.list(self._readers):
            reader.close()
        tasks = builtins.list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._reaper is not None:
            await asyncio.gather(self._reaper, return_exceptions=True)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        logger.error("sandbox background task failed", exc_info=error)


def _read_all(fd: int) -> bytes:
    chunks = []
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
