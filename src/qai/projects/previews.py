"""Previews that never die: what a fragment's preview address shows, from the stored files."""

from __future__ import annotations

from sqlalchemy import Text, bindparam, cast, select

from qai.db import Database
from qai.messages.models import Fragment, Message
from qai.messages.repository import decode_files
from qai.projects.models import ProjectOptions
from qai.sandbox import PreviewSpec, Resolve
from qai.sandbox.preview import Alias

# A project the original app made has no template of ours: its fragments are Next.js apps.
ORIGINAL_TEMPLATE = "nextjs"

_PREVIEW = (
    select(cast(Fragment.files, Text), ProjectOptions.template)
    .join(Message, Message.id == Fragment.message_id)
    .outerjoin(ProjectOptions, ProjectOptions.project_id == Message.project_id)
    .where(Fragment.id == bindparam("fragment_id"))
)


_NEWEST_FRAGMENT = (
    select(Fragment.id)
    .join(Message, Message.id == Fragment.message_id)
    .where(Message.project_id == bindparam("project_id"))
    .order_by(Message.created_at.desc(), Message.id.desc())
    .limit(1)
)


async def newest_version(database: Database, project_id: str) -> str | None:
    """The id of the project's newest fragment (the version its own address serves)."""
    rows = await database.rows(_NEWEST_FRAGMENT, {"project_id": project_id})
    return str(rows[0][0]) if rows else None


def project_previews(database: Database) -> Alias:
    """The preview gateway's aliases: a project's id names its newest version's preview, so
    ``http://<project-id>.preview.localhost:<port>`` follows the project (the app's saved data,
    kept per origin, survives new versions)."""

    async def newest(name: str) -> str | None:
        return await newest_version(database, name)

    return newest


def fragment_previews(database: Database) -> Resolve:
    """The preview gateway's resolver: the preview named ``name`` (a fragment id) is its
    project's template and its files, or None for no such fragment."""

    async def fragment_preview(name: str) -> PreviewSpec | None:
        rows = await database.rows(_PREVIEW, {"fragment_id": name})
        if not rows:
            return None
        files_json, template = rows[0]
        return PreviewSpec(template=template or ORIGINAL_TEMPLATE, files=decode_files(files_json))

    return fragment_preview
