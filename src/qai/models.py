"""Every table, imported in one place so the metadata is complete (Alembic reads it)."""

from qai.db.base import Base
from qai.live.models import Event
from qai.messages.chosen import ChosenVersion
from qai.messages.models import (
    Fragment,
    Message,
    MessageRole,
    MessageType,
    Screenshot,
    Version,
    VersionOrigin,
)
from qai.projects.models import Project, ProjectOptions
from qai.runs.models import Run, RunStep
from qai.workers.models import Worker

__all__ = [
    "Base",
    "ChosenVersion",
    "Event",
    "Fragment",
    "Message",
    "MessageRole",
    "MessageType",
    "Project",
    "ProjectOptions",
    "Run",
    "RunStep",
    "Screenshot",
    "Version",
    "VersionOrigin",
    "Worker",
]
