"""Previews that never die: what a fragment's preview address shows, from the stored files."""

from __future__ import annotations

from sqlalchemy import select

from qai.db import read_session
from qai.messages.models import Fragment, Message
from qai.messages.service import files_of
from qai.projects.models import ProjectOptions
from qai.sandbox import PreviewSpec

# A project the original app made has no template of ours: its fragments are Next.js apps.
ORIGINAL_TEMPLATE = "nextjs"


async def fragment_preview(name: str) -> PreviewSpec | None:
    """The preview named ``name`` (a fragment id): its project's template and its files."""
    async with read_session() as session:
        row = (
            await session.execute(
                select(Fragment, ProjectOptions.template)
                .join(Message, Message.id == Fragment.message_id)
                .outerjoin(ProjectOptions, ProjectOptions.project_id == Message.project_id)
                .where(Fragment.id == name)
            )
        ).first()
    if row is None:
        return None
    fragment, template = row
    return PreviewSpec(template=template or ORIGINAL_TEMPLATE, files=files_of(fragment))
