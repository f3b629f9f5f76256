"""What the versions tests share: a project with a first version written straight to the
database (no run, no model), as the original app's rows would be."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from qai.db import create_database
from qai.messages.service import FragmentDraft, save_assistant_result
from qai.runs import send
from qai.settings import load_settings


async def _seed(
    database_url: str, data_dir: Path, files: dict[str, str], template: str
) -> tuple[str, str]:
    database = create_database(load_settings(database_url=database_url, data_dir=data_dir))
    try:
        project, _ = await send.create_project(database, "a counter page", template=template)
        async with database.session() as session:
            answer = await save_assistant_result(
                session,
                project.id,
                "Here it is.",
                FragmentDraft(title="Counter", sandbox_url="http://x", files=files),
            )
        assert answer.fragment is not None
        return project.id, answer.fragment.id
    finally:
        await database.dispose()


def seed_project(
    database_url: str, data_dir: Path, files: dict[str, str], template: str = "web"
) -> tuple[str, str]:
    """(project id, the fragment id of its v1). In a thread of its own: a caller may be running
    an event loop already (Playwright's sync API does)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _seed(database_url, data_dir, files, template)).result()
