"""Fixtures for QAI_AUTH=accounts: the application with accounts on, and people in it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from qai.accounts import service
from qai.accounts.models import Role
from qai.db import Database
from qai.messages.models import Fragment, Message, MessageRole, MessageType, Screenshot
from qai.runs import send
from qai.settings import Settings, load_settings

PASSWORD = "correct horse battery"
ORIGIN = "http://127.0.0.1:8000"


@pytest.fixture
def settings(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("QAI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("QAI_AUTH", "accounts")
    monkeypatch.setenv("QAI_LOGIN_MAX_FAILURES", "3")
    return load_settings()


@dataclass
class Person:
    email: str
    user_id: str
    token: str
    token_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def make_person(database: Database, email: str, role: Role = Role.MEMBER) -> Person:
    async with database.session() as session:
        user = await service.create_user(session, email, password=PASSWORD, role=role)
        row, token = await service.create_token_for(session, user.id, "test")
    return Person(email, user.id, token, row.id)


@dataclass
class Objects:
    """One project of someone's with one of each thing it has."""

    project_id: str
    message_id: str
    fragment_id: str
    run_id: str


async def make_project(database: Database, owner: Person | None) -> Objects:
    project, first = await send.create_project(
        database, "a todo app", template="web", owner=owner.user_id if owner else None
    )
    async with database.session() as session:
        answer = Message(
            project_id=project.id,
            content="Here it is",
            role=MessageRole.ASSISTANT,
            type=MessageType.RESULT,
        )
        session.add(answer)
        await session.flush()
        fragment = Fragment(
            message_id=answer.id,
            sandbox_url="http://x.preview.localhost:8000",
            title="Todo",
            files={"index.html": "<h1>todo</h1>"},
        )
        session.add(fragment)
        await session.flush()
        fragment_id = fragment.id
        # A checked version has a screenshot: every read of the fragment has something to show.
        session.add(Screenshot(fragment_id=fragment_id, png=b"\x89PNG\r\n\x1a\n"))
        await session.flush()
    return Objects(project.id, first.id, fragment_id, first.id)


@pytest.fixture
async def alice(database: Database) -> Person:
    return await make_person(database, "alice@example.com")


@pytest.fixture
async def bob(database: Database) -> Person:
    return await make_person(database, "bob@example.com")


@pytest.fixture
async def admin(database: Database) -> Person:
    return await make_person(database, "admin@example.com", Role.ADMIN)


CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF_FIELD.search(html)
    assert found, html
    return found.group(1)


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> httpx.Response:
    """The sign-in form, as a browser fills it in (the cookie jar keeps the session)."""
    page = await client.get("/login")
    assert page.status_code == 200, page.text
    return await client.post(
        "/login",
        data={"email": email, "password": password, "csrf": csrf_of(page.text), "next": "/"},
        headers={"Origin": ORIGIN},
    )
