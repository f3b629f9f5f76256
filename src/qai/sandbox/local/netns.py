"""Reach a server inside a sandbox from the host, through the sandbox's network namespace.

A sandbox's loopback is its own: nothing on the host can connect to it by address. QAI, as
root, opens the socket from a short-lived thread that has joined the sandbox's network
namespace with ``setns``; the socket keeps that namespace when handed back to the event loop.
Only that thread ever changes namespace (a pooled thread would carry it into unrelated work).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import socket
import threading

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _connect_in(netns: str | None, port: int, timeout: float) -> socket.socket:
    if netns is not None:
        fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if _libc.setns(fd, _CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns({netns}): {os.strerror(err)}")
        finally:
            os.close(fd)
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setblocking(False)
    return sock


async def open_socket(
    netns: str | None, port: int, *, connect_timeout: float = 5.0
) -> socket.socket:
    """A connected, non-blocking socket to 127.0.0.1:``port`` in network namespace ``netns``.

    ``netns`` is a path such as ``/proc/<pid>/ns/net``; None connects on the host. Raises
    OSError (ConnectionRefusedError when nothing listens, FileNotFoundError when the
    namespace is gone).
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[socket.socket] = loop.create_future()

    def settle(result: socket.socket | None, error: BaseException | None) -> None:
        if future.cancelled():
            if result is not None:
                result.close()
        elif error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def work() -> None:
        try:
            sock = _connect_in(netns, port, connect_timeout)
        except OSError as exc:
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, sock, None)

    threading.Thread(target=work, name=f"qai-netns-connect-{port}", daemon=True).start()
    return await future
