"""The manager's own event loop thread, the tasks and pipes read on it."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

logger = logging.getLogger("qai.sandbox")

T = TypeVar("T")

#: Pipes of finished commands still read per sandbox (see :meth:`ManagerLoop.linger`).
LINGERING_PIPES = 16


class LoopThread:
    """An event loop in a thread of its own, which lives until :meth:`stop`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="qai-sandboxes", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


class PipeReader:
    """Reads a pipe on the manager's loop into ``sink`` until end of file."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int, sink: Callable[[bytes], None]):
        self.loop = loop
        self.fd = fd
        self.sink = sink
        self.done = asyncio.Event()
        self.lingers_for: str | None = None  # see ManagerLoop.linger
        os.set_blocking(fd, False)
        loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        if data:
            self.sink(data)
        else:
            self.close()

    def close(self) -> None:
        if self.fd >= 0:
            self.loop.remove_reader(self.fd)
            os.close(self.fd)
            self.fd = -1
            self.done.set()


class ManagerLoop:
    """A manager's own loop: its thread (started on first use, ``on_start`` run first), and
    the background tasks and pipe readers that live on it until :meth:`shutdown`."""

    def __init__(self, on_start: Callable[[], None]) -> None:
        self._on_start = on_start
        self._thread: LoopThread | None = None
        self._lock = threading.Lock()
        self._loops: set[asyncio.AbstractEventLoop] = set()  # of threads not yet stopped
        self._readers: set[PipeReader] = set()
        self._lingering: dict[str, list[PipeReader]] = {}
        self._background: set[asyncio.Task[Any]] = set()

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the manager's loop and await it from the caller's (on that loop
        itself, even while it shuts down: directly)."""
        if _running_loop() in self._loops:
            return await coro
        with self._lock:
            if self._thread is None:
                self._on_start()
                self._thread = LoopThread()
                self._loops.add(self._thread.loop)
            thread = self._thread
        return await thread.call(coro)

    def spawn(
        self, coro: Coroutine[Any, Any, Any], tasks: set[asyncio.Task[None]] | None = None
    ) -> None:
        """Run ``coro`` as a task of the running (the manager's) loop, kept in ``tasks``
        (default: the manager's background tasks) while it runs; its failure is logged."""
        task = asyncio.get_running_loop().create_task(coro)
        kept: set[asyncio.Task[Any]] = tasks if tasks is not None else self._background
        kept.add(task)
        task.add_done_callback(kept.discard)
        task.add_done_callback(_log_failure)

    def read_pipe(self, fd: int, sink: Callable[[bytes], None]) -> PipeReader:
        """Read ``fd`` into ``sink`` on the running (the manager's) loop until end of file."""
        reader = PipeReader(asyncio.get_running_loop(), fd, sink)
        self._readers.add(reader)
        self.spawn(self._forget_reader(reader))
        return reader

    def linger(self, key: str, readers: Iterable[PipeReader]) -> None:
        """Keep reading ``readers``, pipes of a command that returned which its background
        processes still hold, as at most :data:`LINGERING_PIPES` per ``key`` (a sandbox):
        past that the oldest are closed (their writers get EPIPE), so that a sandbox cannot
        make QAI hold a descriptor per command it ever ran."""
        kept = self._lingering.setdefault(key, [])
        for reader in readers:
            if not reader.done.is_set():
                reader.lingers_for = key
                kept.append(reader)
        while len(kept) > LINGERING_PIPES:
            oldest = kept.pop(0)
            oldest.lingers_for = None
            oldest.close()

    async def _forget_reader(self, reader: PipeReader) -> None:
        await reader.done.wait()
        self._readers.discard(reader)
        key = reader.lingers_for
        if key is not None and (kept := self._lingering.get(key)) is not None:
            kept.remove(reader)
            if not kept:
                del self._lingering[key]

    async def shutdown(self, last: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``last()`` on the loop, then close the pipes still read, cancel the background
        tasks and stop the thread. A later :meth:`call` starts a new one."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        await thread.call(self._close(last()))
        await asyncio.to_thread(thread.stop)
        self._loops.discard(thread.loop)

    async def _close(self, last: Coroutine[Any, Any, None]) -> None:
        await last
        for reader in list(self._readers):
            reader.close()
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        logger.error("sandbox background task failed", exc_info=error)
