"""Every table, imported in one place so the metadata is complete (Alembic reads it)."""

from qai.db.base import Base
from qai.messages.models import Fragment, Message, MessageRole, MessageType
from qai.projects.models import Project, ProjectOptions

__all__ = ["Base", "Fragment", "Message", "MessageRole", "MessageType", "Project", "ProjectOptions"]
