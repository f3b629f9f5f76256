"""What the parts of one local manager share: its settings, templates, registry, preview
hosts, isolation and loop, and the limits and environment every sandbox process gets."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from qai.sandbox._templates import Template
from qai.sandbox.local.isolation import Isolation, Limits, clean_env
from qai.sandbox.local.loop import ManagerLoop
from qai.sandbox.local.registry import Registry
from qai.sandbox.preview.hosts import PreviewHosts
from qai.settings import Settings

# A use is noted on disk (for other processes, and for the idle reaper) at most this often.
USE_NOTE_INTERVAL = 1.0


@dataclass(frozen=True, eq=False)
class Context:
    settings: Settings
    templates: Mapping[str, Template]
    registry: Registry
    hosts: PreviewHosts
    isolation: Isolation
    loop: ManagerLoop
    _noted: dict[str, float] = field(default_factory=dict, init=False, repr=False)

    @property
    def bwrap(self) -> bool:
        """Sandboxes run under bubblewrap: each in namespaces of its own, as a uid of its own."""
        return self.isolation.name == "bwrap"

    def limits(self, *, server: bool) -> Limits:
        s = self.settings
        return Limits(
            memory_bytes=s.sandbox_memory_mb << 20,
            # Without isolation commands run as QAI's own user: a process limit would count
            # every process of that user, so none is set.
            processes=s.sandbox_max_processes if self.bwrap else None,
            file_size_bytes=s.sandbox_file_size_mb << 20,
            cpu_seconds=None if server else s.sandbox_cpu_seconds,
        )

    def env(self, template: Template | None, **extra: str) -> dict[str, str]:
        """The whole environment of a sandbox process: nothing of QAI's own."""
        own = template.env if template is not None else {}
        return clean_env({**own, "PREVIEW_HOSTS": self.hosts.wildcard, **extra})

    def note_use(self, name: str, now: float | None = None) -> None:
        """Record on disk that sandbox ``name`` was used (at most every USE_NOTE_INTERVAL)."""
        now = time.time() if now is None else now
        if now - self._noted.get(name, 0.0) >= USE_NOTE_INTERVAL:
            self._noted[name] = now
            self.registry.touch(name)
