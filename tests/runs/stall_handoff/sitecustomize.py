"""Put on a test server's PYTHONPATH: its hand-off task never hands a run over, so a test can
kill the process in the window between a message's commit and its run's hand-off."""

import asyncio

from qai.runs.dispatch import RunDispatch


async def _never(self: RunDispatch, limit: int) -> int:
    await asyncio.Event().wait()
    return 0


RunDispatch.hand_off = _never  # type: ignore[method-assign]
