"""Commands in a sandbox: a process started in its namespaces under its limits, and
:meth:`Sandbox.exec` (a command run to its end or its timeout, its output kept and cut)."""

from __future__ import annotations

import asyncio
import builtins
import os
from collections.abc import Callable, Mapping

from qai.sandbox._model import OUTPUT_LIMIT, CommandResult
from qai.sandbox.local.context import Context
from qai.sandbox.local.isolation import HOST_ENV
from qai.sandbox.local.loop import PipeReader
from qai.sandbox.local.procs import exit_code, kill_tree
from qai.sandbox.local.registry import Log
from qai.sandbox.local.sandbox import LocalSandbox

# Output a command's background processes write within this time after it exits is still its.
OUTPUT_GRACE = 0.1


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


async def start_process(
    context: Context,
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
    argv = context.isolation.command_argv(
        sandbox.pid, ["/bin/sh", "-c", command], env, context.limits(server=server)
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
        context.loop.read_pipe(read, sink) for (read, _), sink in zip(pipes, sinks, strict=True)
    ]


async def run_command(
    context: Context, sandbox: LocalSandbox, command: str, seconds: float | None
) -> CommandResult:
    """:meth:`Sandbox.exec` on the manager's loop, for a sandbox known to run."""
    env = context.env(context.templates.get(sandbox.template))
    limit = seconds if seconds is not None else context.settings.sandbox_command_timeout
    log = sandbox.log_file()
    stdout, stderr = CommandOutput(log), CommandOutput(log)
    proc, readers = await start_process(
        context, sandbox, command, env, on_stdout=stdout.feed, on_stderr=stderr.feed
    )
    timed_out = False
    with sandbox.running_command(proc.pid):
        try:
            await asyncio.wait_for(proc.wait(), limit)
        except TimeoutError:
            timed_out = True
            await asyncio.to_thread(kill_tree, proc.pid, session=proc.pid)
            await proc.wait()
        except asyncio.CancelledError:
            kill_tree(proc.pid, session=proc.pid)
            raise
    # Output still in the pipes is the command's; background processes that keep them open
    # write what follows to the sandbox log.
    waits = [asyncio.ensure_future(r.done.wait()) for r in readers]
    _, pending = await asyncio.wait(waits, timeout=OUTPUT_GRACE)
    for waiter in pending:
        waiter.cancel()
    stdout.sealed = stderr.sealed = True
    context.loop.linger(sandbox.name, readers)
    assert proc.returncode is not None
    sandbox.touch()
    return CommandResult(
        exit_code=124 if timed_out else exit_code(proc.returncode),
        stdout=stdout.text(),
        stderr=stderr.text(),
        timed_out=timed_out,
        truncated=stdout.truncated or stderr.truncated,
    )
