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

from qai.db import Database
from qai.live.repository import EventRepository

log = logging.getLogger("qai.live")

# Where a session of the hub's database finds the hub (``Database.session_info``), to wake the
# streams once an event it appended commits.
HUB = "qai.live.hub"


class Hub:
    """The process's live streams. One per process, made by the wiring root; it serves the
    sessions of ``database`` (an event appended in one wakes the project's streams)."""

    def __init__(self, database: Database, poll_seconds: float) -> None:
        self.database = database
        self.poll_seconds = poll_seconds
        self.closing = False
        self._signals: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._poller: asyncio.Task[None] | None = None
        # The loop the streams wait on, known from the first stream (``qai serve`` makes the
        # hub before its server's loop runs).
        self._loop: asyncio.AbstractEventLoop | None = None
        database.session_info[HUB] = self

    def wake(self, project_id: str) -> None:
        """Wake ``project_id``'s open streams (called on the streams' loop)."""
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

    def begin_shutdown(self) -> None:
        """:meth:`end_streams`, from a signal handler or another thread, so a graceful shutdown
        does not wait on open streams; clients reconnect (with Last-Event-ID) to whichever
        server answers next."""
        if self._loop is None:
            self.closing = True
        else:
            self._loop.call_soon_threadsafe(self.end_streams)

    @contextlib.asynccontextmanager
    async def subscribe(self, project_id: str) -> AsyncIterator[asyncio.Event]:
        """An event set whenever ``project_id`` may have new events (clear it before reading)."""
        self._loop = asyncio.get_running_loop()
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
        self.database.session_info.pop(HUB, None)
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        self._wake_all()

    async def _poll(self) -> None:
        async with self.database.read() as session:
            seen = await EventRepository(session).latest_id()
        # Streams that read before ``seen`` was taken may have missed an event up to it.
        self._wake_all()
        while self._signals:
            await asyncio.sleep(self.poll_seconds)
            try:
                async with self.database.read() as session:
                    found = await EventRepository(session).projects_after(seen)
            except Exception:
                # The database may be briefly unreachable; streams keep their place and the
                # next poll catches up.
                log.warning("live poller could not read events", exc_info=True)
                continue
            for project_id, newest in found:
                seen = max(seen, newest)
                self.wake(project_id)
