"""Every table, imported in one place so the metadata is complete (Alembic reads it)."""

from qai.accounts.models import (
    ApiToken,
    AuditEntry,
    Invite,
    OidcIdentity,
    PreviewGrant,
    Session,
    User,
)
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
from qai.projects.models import Project, ProjectOptions, ProjectOwner
from qai.runs.models import Run, RunStep
from qai.workers.models import Worker

__all__ = [
    "ApiToken",
    "AuditEntry",
    "Base",
    "ChosenVersion",
    "Event",
    "Fragment",
    "Invite",
    "Message",
    "MessageRole",
    "MessageType",
    "OidcIdentity",
    "PreviewGrant",
    "Project",
    "ProjectOptions",
    "ProjectOwner",
    "Run",
    "RunStep",
    "Screenshot",
    "Session",
    "User",
    "Version",
    "VersionOrigin",
    "Worker",
]
