"""A sandbox's template server: started, watched until it answers, probed, started again.

Nothing signals that a server is ready: it is READY once it answers an HTTP request (any
status), FAILED when it exits or does not answer within ``sandbox_start_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from qai.sandbox._model import SandboxStatus
from qai.sandbox._templates import Template
from qai.sandbox.local.commands import start_process
from qai.sandbox.local.context import Context
from qai.sandbox.local.netns import open_socket
from qai.sandbox.local.procs import exit_code
from qai.sandbox.local.sandbox import LocalSandbox

# A template server that exited is started again by a preview request at most this often.
SERVER_RESTART_AFTER = 10.0


async def start_server(context: Context, sandbox: LocalSandbox, template: Template) -> None:
    """Start the template's server in an owned sandbox, and watch it until it answers."""
    assert template.start is not None
    assert template.port is not None
    port = sandbox.port()
    env = context.env(template, PORT=str(port))
    log = sandbox.log_file()
    log.note(f"server: {template.start} (PORT={port})")
    server, _ = await start_process(
        context, sandbox, template.start, env, on_stdout=log.write, on_stderr=None, server=True
    )
    sandbox.server_started(server)
    sandbox.spawn(_watch(context, sandbox, template, server))


async def _watch(
    context: Context,
    sandbox: LocalSandbox,
    template: Template,
    server: asyncio.subprocess.Process,
) -> None:
    timeout = context.settings.sandbox_start_timeout
    deadline = time.monotonic() + timeout
    delay = 0.005
    while sandbox.current_status is SandboxStatus.STARTING:
        if server.returncode is not None:
            break
        if await answers(sandbox, template, deadline):
            sandbox.set_status(SandboxStatus.READY)
            break
        if time.monotonic() >= deadline:
            sandbox.set_status(
                SandboxStatus.FAILED, f"the server did not answer within {timeout:g}s"
            )
            break
        await asyncio.sleep(delay)  # poll until the deadline: nothing signals readiness
        delay = min(delay * 1.5, 0.05)
    code = exit_code(await server.wait())
    if sandbox.is_current_server(server):
        sandbox.set_status(SandboxStatus.FAILED, f"the server exited with code {code}")


async def answers(sandbox: LocalSandbox, template: Template, deadline: float) -> bool:
    """Whether the template's server answers an HTTP request (any status).

    The probe is not a use: it goes to the server's socket without touching the sandbox, so
    a sandbox nobody has used since it started stays the least recently used one.
    """
    try:
        sock = await open_socket(sandbox.netns, sandbox.port())
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


async def recover(context: Context, sandbox: LocalSandbox) -> None:
    """Start a failed server again if it exited (at most every SERVER_RESTART_AFTER
    seconds); mark it ready if it answers after all (it was slower than the timeout)."""
    template = context.templates.get(sandbox.template)
    if sandbox.current_status is not SandboxStatus.FAILED or template is None:
        return
    server = sandbox.server
    if server is None or server.returncode is not None:
        if sandbox.server_age >= SERVER_RESTART_AFTER:
            await start_server(context, sandbox, template)
    elif await answers(sandbox, template, time.monotonic() + 1.0):
        sandbox.set_status(SandboxStatus.READY)
