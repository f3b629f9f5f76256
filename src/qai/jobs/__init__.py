"""Durable background work (DBOS): the queue of runs, its workers, enqueueing.

``runtime.start``/``runtime.stop`` bring it up and down inside a process; :class:`Jobs` is the
process's handle on DBOS.
"""

from qai.jobs._dbos import TERMINAL_STATUSES, Jobs, Role

__all__ = ["TERMINAL_STATUSES", "Jobs", "Role"]
