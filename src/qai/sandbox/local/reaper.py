"""The reaper: stops this process's idle and oversized sandboxes, makes room for one more
under ``sandbox_max_running``, and removes what stopped sandboxes left behind."""

from __future__ import annotations

import asyncio
import builtins
import logging
import math
import time

from qai.sandbox._errors import SandboxError
from qai.sandbox.local.context import Context
from qai.sandbox.local.files import TreeTooDeep, tree_size
from qai.sandbox.local.owned import OwnedSandboxes
from qai.sandbox.local.registry import reserved_if_free
from qai.sandbox.local.sandbox import LocalSandbox

logger = logging.getLogger("qai.sandbox")

# The reaper removes old stopped sandboxes' directories at most this often (seconds).
PRUNE_INTERVAL = 300.0


class Reaper:
    def __init__(
        self,
        context: Context,
        owned: OwnedSandboxes,
        *,
        interval: float | None = None,
        prune_interval: float = PRUNE_INTERVAL,
    ) -> None:
        """``interval``: seconds between looks for idle or oversized sandboxes (default: a
        quarter of ``sandbox_idle_seconds``, between 0.1 and 5); ``prune_interval``: least
        seconds between two removals of old stopped sandboxes."""
        settings = context.settings
        self._context = context
        self._owned = owned
        self.interval = interval or min(max(settings.sandbox_idle_seconds / 4, 0.1), 5)
        self.prune_interval = prune_interval
        self._task: asyncio.Task[None] | None = None
        self._pruned_at = -math.inf  # time.monotonic() of the last prune

    def ensure_running(self) -> None:
        """Start reaping on the running (the manager's) loop, unless it reaps already."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._reap_forever())

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def join(self) -> None:
        """Wait until the reaping ends (after :meth:`cancel`)."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def make_room(self, exclude: str) -> None:
        """Stop least recently used sandboxes (of any process) until one more may run."""
        registry = self._context.registry
        limit = self._context.settings.sandbox_max_running
        running = [r for r in await asyncio.to_thread(registry.running) if r.name != exclude]
        running.sort(key=lambda r: self._owned.last_used(r.name))
        while len(running) >= limit:
            victim = running.pop(0)
            reason = f"at most {limit} sandboxes run at once"
            sandbox = self._owned.get(victim.name)
            if sandbox is not None:
                await self._stop(sandbox, f"least recently used: {reason}")
            else:
                await self._owned.stop_other(victim.name)

    async def prune(self, older_than_hours: float) -> builtins.list[str]:
        """:meth:`SandboxManager.prune`: each name is removed holding its start lock."""
        return await asyncio.to_thread(self._context.registry.prune, older_than_hours * 3600)

    def remove_leftover_cgroups(self) -> int:
        """Remove the empty sandbox cgroups no running sandbox has (a QAI process killed with
        its sandboxes leaves them); how many. Each is removed holding its uid's reservation."""
        cgroups = self._context.isolation.cgroups
        if cgroups is None:
            return 0
        removed = 0
        for uid in cgroups.leftovers():
            with reserved_if_free(self._context.settings.sandbox_uid_dir, uid) as free:
                if free and cgroups.remove_if_empty(uid):
                    removed += 1
        return removed

    async def prune_now_and_then(self) -> None:
        """Remove the directories of sandboxes stopped longer than QAI_SANDBOX_KEEP_STOPPED_HOURS
        (0: never) and the cgroups left by killed sandboxes, at most every ``prune_interval``
        seconds."""
        hours = self._context.settings.sandbox_keep_stopped_hours
        if time.monotonic() - self._pruned_at < self.prune_interval:
            return
        self._pruned_at = time.monotonic()
        try:
            if hours:
                await self.prune(hours)
            removed = await asyncio.to_thread(self.remove_leftover_cgroups)
            if removed:
                logger.info("removed %d empty cgroups left by sandboxes that were killed", removed)
        except Exception:
            # Housekeeping only: whatever fails here, the reaper goes on stopping idle sandboxes.
            logger.exception(
                "pruning stopped sandboxes failed; tried again in %ss", self.prune_interval
            )

    async def _stop(self, sandbox: LocalSandbox, reason: str) -> None:
        """Stop ``sandbox`` to the end even if the caller is cancelled (the reaper at shutdown,
        a request that made room and went away): a stop cut short would leave it marked
        stopping for ever, and the shutdown's own stop of it would wait for ever."""
        await asyncio.shield(self._owned.stop(sandbox, reason))

    async def _reap_forever(self) -> None:
        interval = self.interval
        while True:
            await asyncio.sleep(interval)
            try:
                await self.reap_once()
            except (OSError, SandboxError):
                logger.exception("the sandbox reaper failed; it tries again in %ss", interval)
            await self.prune_now_and_then()

    async def reap_once(self) -> None:
        """Stop each sandbox of this process idle for over ``sandbox_idle_seconds`` (one with
        a command running is in use) or whose directory outgrew ``sandbox_disk_mb``."""
        settings = self._context.settings
        now = time.time()
        for sandbox in self._owned.all():
            if sandbox.stopping:
                continue
            used = self._owned.last_used(sandbox.name)
            if not sandbox.busy and now - used > settings.sandbox_idle_seconds:
                await self._stop(sandbox, f"idle for {now - used:.0f}s")
                continue
            try:
                size = await asyncio.to_thread(tree_size, sandbox.directory)
            except TreeTooDeep as exc:
                await self._stop(sandbox, f"its directory cannot be measured: {exc}")
                continue
            if size > settings.sandbox_disk_mb << 20:
                await self._stop(
                    sandbox,
                    f"its directory holds {size >> 20} MiB, over the "
                    f"{settings.sandbox_disk_mb} MiB limit (QAI_SANDBOX_DISK_MB)",
                )
