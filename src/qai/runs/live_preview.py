"""A project's own preview address during a run: the run's live sandbox."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import bindparam, select

from qai.db import Database
from qai.runs.models import Run
from qai.sandbox import SandboxManager
from qai.sandbox.preview import Alias

# The project's run in flight that has a sandbox (a project's runs go one at a time).
_LIVE = (
    select(Run.preview_url)
    .where(
        Run.project_id == bindparam("project_id"),
        Run.preview_url.is_not(None),
        Run.finished_at.is_(None),
    )
    .order_by(Run.created_at.desc())
    .limit(1)
)


def live_previews(database: Database, sandboxes: SandboxManager, otherwise: Alias) -> Alias:
    """The preview gateway's aliases: while a project's run builds in a running sandbox, the
    project's address serves that sandbox (the app's saved data is the same origin's as the
    versions before and after); otherwise what ``otherwise`` says (its newest version)."""

    async def live_or_otherwise(name: str) -> str | None:
        rows = await database.rows(_LIVE, {"project_id": name})
        if rows:
            live = sandboxes.hosts.name(urlsplit(str(rows[0][0])).netloc)
            if live is not None and await sandboxes.get(live) is not None:
                return live
        return await otherwise(name)

    return live_or_otherwise
