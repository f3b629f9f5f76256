"""Throttling of wrong passwords, per account and per address, in this process's memory."""

from __future__ import annotations

import math
import time
from collections import deque


class Throttle:
    """At most ``max_failures`` failures per key within ``window_seconds``; past that the key
    waits until the oldest failure leaves the window."""

    def __init__(self, max_failures: int, window_seconds: float) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, *keys: str) -> int | None:
        """Seconds to wait before any of ``keys`` may try again, or None."""
        now = time.monotonic()
        waits = []
        for key in keys:
            failures = self._recent(key, now)
            if len(failures) >= self.max_failures:
                waits.append(failures[0] + self.window - now)
        return max(1, math.ceil(max(waits))) if waits else None

    def fail(self, *keys: str) -> None:
        now = time.monotonic()
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.get(key, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            self._failures.pop(key, None)
        return failures
