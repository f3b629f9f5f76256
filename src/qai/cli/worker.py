"""`qai worker`: run agent work only, no HTTP. Several workers can share one PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from qai.errors import QaiError
from qai.settings import Settings, load_settings

log = logging.getLogger("qai")


async def run_worker(settings: Settings) -> None:
    """Take runs from the queue until SIGTERM or SIGINT."""
    from qai.context import AppContext

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    context = AppContext.build(settings, role="worker")
    try:
        await asyncio.to_thread(context.migrate)
    except QaiError as exc:
        await context.close()
        raise SystemExit(f"QAI cannot start: {exc.message}") from None
    async with context.running():
        log.info("worker ready; stop it with Ctrl-C (runs in flight resume when a worker restarts)")
        await stopping.wait()


def worker() -> None:
    """Run a worker: it takes agent runs from the queue, at most QAI_WORKER_CONCURRENCY at a
    time (one per project), at the CPU priority QAI_WORKER_NICE (below the API's). Use with
    `qai serve --no-worker`, or to add capacity; give each worker sharing a PostgreSQL its own
    QAI_WORKER_ID."""
    from qai.cli.serve import PRIVATE_UMASK
    from qai.logs import configure_logging

    os.umask(PRIVATE_UMASK)
    settings = load_settings()
    configure_logging(settings)
    if settings.worker_nice:
        os.nice(settings.worker_nice)
    asyncio.run(run_worker(settings))
