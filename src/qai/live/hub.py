"""Wake the event streams of a project as soon as it has new events.

Events written by this process wake its streams right after commit. Events written by another
process (a separate ``qai worker``) are found by one poller per process, which runs only while
streams are open and costs one small query per interval, whatever the number of streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator

from qai.db import read_session
from qai.live.repository import EventRepository

log = logging.getLogger("qai.live")


class Hub:
    def __init__(self, poll_seconds: float) -> None:
        self.poll_seconds = poll_seconds
        self._signals: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._poller: asyncio.Task[None] | None = None
        self._loop = asyncio.get_running_loop()
        self.closing = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def wake(self, project_id: str) -> None:
        for signal in self._signals.get(project_id, ()):
            signal.set()

    def _wake_all(self) -> None:
        for signals in self._signals.values():
            for signal in signals:
                signal.set()

    def end_streams(self) -> None:
        """The server is shutting down: every open stream ends, new ones end at once."""
        self.closing = True
        self._wake_all()

    @contextlib.asynccontextmanager
    async def subscribe(self, project_id: str) -> AsyncIterator[asyncio.Event]:
        """An event set whenever ``project_id`` may have new events (clear it before reading)."""
        signal = asyncio.Event()
        self._signals[project_id].add(signal)
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll(), name="qai-live-poller")
        try:
            yield signal
        finally:
            signals = self._signals.get(project_id)
            if signals is not None:
                signals.discard(signal)
                if not signals:
                    del self._signals[project_id]

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        self._wake_all()

    async def _poll(self) -> None:
        async with read_session() as session:
            seen = await EventRepository(session).latest_id()
        # Streams that read before ``seen`` was taken may have missed an event up to it.
        self._wake_all()
        while self._signals:
            await asyncio.sleep(self.poll_seconds)
            try:
                async with read_session() as session:
                    found = await EventRepository(session).projects_after(seen)
            except Exception:
                # The database may be briefly unreachable; streams keep their place and the
                # next poll catches up.
                log.warning("live poller could not read events", exc_info=True)
                continue
            for project_id, newest in found:
                seen = max(seen, newest)
                self.wake(project_id)


_hub: Hub | None = None


def get_hub(poll_seconds: float) -> Hub:
    """The hub of the running event loop (tests run one loop per test)."""
    global _hub
    if _hub is None or _hub.loop is not asyncio.get_running_loop():
        _hub = Hub(poll_seconds)
    return _hub


def wake(project_id: str) -> None:
    """Wake ``project_id``'s streams in this process, if any are open on this loop."""
    if _hub is not None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            return
        if _hub.loop is running:
            _hub.wake(project_id)


def begin_shutdown() -> None:
    """End this process's event streams, so a graceful shutdown does not wait on them.

    Safe from a signal handler or another thread; clients reconnect (with Last-Event-ID) to
    whichever server answers next.
    """
    if _hub is not None:
        _hub.loop.call_soon_threadsafe(_hub.end_streams)


async def close_hub() -> None:
    global _hub
    if _hub is not None:
        hub, _hub = _hub, None
        if hub.loop is asyncio.get_running_loop():
            await hub.close()
