"""Launching a sandbox: its directory prepared, its init started under the isolation (the
argv is the isolation's), its "ready" line awaited, then its template's server started."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from pathlib import Path

from qai.sandbox._errors import SandboxError
from qai.sandbox._model import SandboxStatus
from qai.sandbox._templates import Template
from qai.sandbox.local.cgroups import Budget
from qai.sandbox.local.context import Context
from qai.sandbox.local.files import chown_tree, copy_starter, owner_of, write_file
from qai.sandbox.local.isolation import HOST_ENV, InitSpec
from qai.sandbox.local.owned import OwnedSandboxes
from qai.sandbox.local.procs import kill_uid, read_stat
from qai.sandbox.local.registry import FileLock, Log, Record
from qai.sandbox.local.sandbox import LocalSandbox, Operations, Owned
from qai.sandbox.local.server import start_server

INIT_TIMEOUT = 30.0

# Bytes of the init's output (its "ready" line, or why it failed) and of bwrap's --info-fd
# JSON held in memory; more of the init's output goes to the sandbox log.
INIT_OUTPUT_LIMIT = 4096


class Launcher:
    """Starts the processes of a new sandbox of this process; the caller holds its locks."""

    def __init__(self, context: Context, operations: Operations, owned: OwnedSandboxes) -> None:
        self._context = context
        self._operations = operations
        self._owned = owned

    async def launch(
        self,
        template: Template,
        name: str,
        files: dict[str, str],
        *,
        cached: Path | None,
        uid: int | None,
        name_lock: FileLock,
        uid_lock: FileLock | None,
    ) -> LocalSandbox:
        """Start sandbox ``name`` (as host ``uid``; ``cached``: the template's prepared
        directory) and return it once its init runs and its server was started."""
        context = self._context
        registry = context.registry
        isolation = context.isolation
        workspace = registry.workspace(name)
        await asyncio.to_thread(prepare_directory, template, workspace, files, uid)
        registry.remove(name)  # the record and log of an earlier run, if any
        log = Log(registry.log_path(name))
        # Sharing the host's network (no isolation, or the network opt-in), servers of two
        # sandboxes would fight for the template's port: each gets a free one instead.
        shares_host_net = isolation.name == "none" or context.settings.sandbox_network
        host_port = _free_port() if shares_host_net and template.port else None
        bwrap = context.bwrap
        settings = context.settings
        if bwrap and settings.sandbox_seccomp:
            isolation.check_seccomp()
        budget = Budget(settings.sandbox_memory_mb << 20, settings.sandbox_max_processes)
        cgroup_procs = await asyncio.to_thread(isolation.confine, uid, budget)
        info_read, info_write = os.pipe() if bwrap else (-1, -1)
        spec = InitSpec(
            workspace=workspace,
            etc_dir=registry.etc,
            cached=cached,
            uid=uid,
            network=settings.sandbox_network,
            tmp_bytes=settings.sandbox_tmp_mb << 20,
            shm_bytes=settings.sandbox_shm_mb << 20,
            seccomp=bwrap and settings.sandbox_seccomp,
            info_fd=info_write if bwrap else None,
            cgroup_procs=cgroup_procs,
        )
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        try:
            launcher = await asyncio.create_subprocess_exec(
                *isolation.init_argv(spec),
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
            await asyncio.to_thread(isolation.release, uid)
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
            await asyncio.to_thread(isolation.release, uid)
            raise
        init = read_stat(init_pid)
        record = Record(
            name=name,
            template=template.name,
            isolation=isolation.name,
            uid=uid,
            pid=launcher.pid,
            init_pid=init_pid,
            init_start=init.start_time if init is not None else 0,
            owner_pid=os.getpid(),
            started_at=Record.now(),
            status=SandboxStatus.STARTING if template.start else SandboxStatus.READY,
            host_port=host_port,
        )
        owned = Owned(
            launcher=launcher,
            name_lock=name_lock,
            uid_lock=uid_lock,
            log=log,
            sessions={launcher.pid},
        )
        sandbox = LocalSandbox(context, self._operations, record, owned)
        self._owned.add(sandbox)
        registry.write(record)
        registry.touch(name)
        log.note(f"sandbox {name} started from template {template.name} ({isolation.name})")
        sandbox.spawn(self._watch_launcher(sandbox))
        try:
            if template.start:
                await start_server(context, sandbox, template)
            else:
                sandbox.mark_ready()
        except BaseException:
            await self._owned.stop(sandbox, "its server could not be started")
            raise
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

        # The init's pipes stay open as long as it runs, and a process that gets hold of one
        # (by ptrace) writes what it likes: past the first line (or the first bytes of an
        # error), what comes goes to the capped log, and nothing more is kept.
        def on_out(data: bytes) -> None:
            if ready.done():
                log.write(data)
                return
            stdout.extend(data[: INIT_OUTPUT_LIMIT - len(stdout)])
            if b"\n" in stdout or len(stdout) >= INIT_OUTPUT_LIMIT:
                ready.set_result(True)

        def on_err(data: bytes) -> None:
            stderr.extend(data[: INIT_OUTPUT_LIMIT - len(stderr)])
            log.write(data)

        out = self._context.loop.read_pipe(out_read, on_out)
        err = self._context.loop.read_pipe(err_read, on_err)
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

    async def _watch_launcher(self, sandbox: LocalSandbox) -> None:
        code = await sandbox.launcher_exited()
        if not sandbox.stopping:
            await self._owned.stop(sandbox, f"its init exited with code {code}")


def prepare_directory(
    template: Template, workspace: Path, files: dict[str, str], uid: int | None
) -> None:
    """A new directory gets the template's starter files; ``files`` are written over it."""
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


def _read_all(fd: int) -> bytes:
    """What is written to ``fd`` until end of file, up to :data:`INIT_OUTPUT_LIMIT` bytes."""
    data = b""
    try:
        while len(data) < INIT_OUTPUT_LIMIT and (chunk := os.read(fd, INIT_OUTPUT_LIMIT)):
            data += chunk
    finally:
        os.close(fd)
    return data[:INIT_OUTPUT_LIMIT]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
