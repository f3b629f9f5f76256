"""Fixtures for the web UI: the app in-process for page tests, and data made through the
services (as the agent's runs make it)."""

from __future__ import annotations

from qai.db import Database
from qai.messages import service as messages
from qai.messages.models import Message
from qai.messages.repository import MessageRow
from qai.messages.service import FragmentDraft
from qai.projects.repository import ProjectRow
from qai.runs import send

KANBAN_FILES = {
    "index.html": '<!doctype html>\n<h1>Kanban</h1>\n<script src="app.js"></script>\n',
    "app.js": "const columns = ['To do', 'Doing', 'Done'];\nconsole.log(columns);\n",
    "styles/main.css": "h1 { color: rebeccapurple; }\n",
}


async def make_project(db: Database, prompt: str = "Build a kanban board") -> ProjectRow:
    project, _ = await make_project_and_message(db, prompt)
    return project


async def make_project_and_message(
    db: Database, prompt: str = "Build a kanban board"
) -> tuple[ProjectRow, MessageRow]:
    return await send.create_project(db, prompt, template="web")


async def answer(
    db: Database,
    project_id: str,
    reply: str = "I built it.",
    *,
    title: str = "Kanban Board",
    files: dict[str, str] | None = None,
) -> Message:
    """An ASSISTANT answer with a fragment, as a successful run writes it."""
    draft = FragmentDraft(
        title=title,
        sandbox_url="http://fragment.preview.localhost:8000",
        files=KANBAN_FILES if files is None else files,
    )
    async with db.session() as session:
        return await messages.save_assistant_result(session, project_id, reply, draft)


async def fail(db: Database, project_id: str, cause: str) -> Message:
    async with db.session() as session:
        return await messages.save_assistant_error(session, project_id, cause)


async def ask(db: Database, project_id: str, value: str) -> Message:
    async with db.session() as session:
        return await messages.create_user_message(session, project_id, value)
