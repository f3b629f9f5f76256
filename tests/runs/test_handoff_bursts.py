"""The hand-off in a burst of new messages: a message after a quiet moment is handed over at
once; during a burst the hand-off waits for a pause (at most QAI_HANDOFF_BURST_SECONDS, then one
batch), so the burst's writes keep the database; once it eases, every recorded run goes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from qai.runs.dispatch import HandOff


class Recorded:
    """What the hand-off sees of the dispatch: runs recorded, taken ``limit`` at a time."""

    def __init__(self) -> None:
        self.pending = 0
        self.calls: list[tuple[float, int]] = []
        self.database = self

    async def listen(self, _channel: str, _callback: Any) -> None:
        return None  # SQLite's way: no NOTIFY, wake-ups from this process only

    async def hand_off(self, limit: int) -> int:
        taken = min(limit, self.pending)
        self.pending -= taken
        self.calls.append((time.monotonic(), taken))
        return taken


async def started(recorded: Recorded, burst_seconds: float) -> HandOff:
    handoff = HandOff(recorded, batch_size=10, poll_seconds=30, burst_seconds=burst_seconds)  # type: ignore[arg-type]
    await handoff.start()
    await asyncio.sleep(0.1)  # its first pass, at start
    recorded.calls.clear()
    return handoff


async def test_a_message_after_a_quiet_moment_is_handed_over_at_once() -> None:
    recorded = Recorded()
    handoff = await started(recorded, burst_seconds=5)
    try:
        recorded.pending = 1
        woken = time.monotonic()
        handoff.wake()
        for _ in range(100):
            if recorded.calls:
                break
            await asyncio.sleep(0.01)
        [(at, taken)] = recorded.calls
        assert taken == 1
        assert at - woken < 0.5  # not the burst's wait of 5 s
    finally:
        await handoff.stop()


async def test_a_burst_waits_for_its_pause_then_every_run_goes() -> None:
    recorded = Recorded()
    handoff = await started(recorded, burst_seconds=0.6)
    try:
        wakes = 0
        ends = time.monotonic() + 1.5
        while time.monotonic() < ends:  # a message every 5 ms for 1.5 s
            recorded.pending += 1
            handoff.wake()
            wakes += 1
            await asyncio.sleep(0.005)
        during = list(recorded.calls)
        # Not a hand-off per message: the first at once, then a batch per burst_seconds (a
        # loaded machine's slow loop may make a pause or two of its own).
        assert wakes > 100
        assert len(during) <= 8, during
        assert all(taken <= 10 for _, taken in during)
        assert recorded.pending > 0
        for _ in range(200):  # the pause: everything recorded is handed over
            if recorded.pending == 0:
                break
            await asyncio.sleep(0.01)
        assert recorded.pending == 0
    finally:
        await handoff.stop()


async def test_without_burst_seconds_every_wake_up_hands_over() -> None:
    recorded = Recorded()
    handoff = await started(recorded, burst_seconds=0)
    try:
        for _ in range(20):
            recorded.pending += 1
            handoff.wake()
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert recorded.pending == 0
        assert len(recorded.calls) >= 10
    finally:
        await handoff.stop()
