"""Durable background work (DBOS) and periodic tasks; knows nothing of the domain.

:class:`Jobs` is the process's handle on DBOS (its queue, enqueueing the workflows it is given,
workflow statuses, taking workflows over); :class:`Background` runs the periodic tasks it is
given.
"""

from qai.jobs._dbos import TERMINAL_STATUSES, Jobs, Role, system_database_file
from qai.jobs.periodic import Background, Periodic

__all__ = [
    "TERMINAL_STATUSES",
    "Background",
    "Jobs",
    "Periodic",
    "Role",
    "system_database_file",
]
