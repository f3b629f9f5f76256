"""Shared fixtures: real, migrated databases on SQLite and PostgreSQL, one fresh per test.

PostgreSQL is the server at ``QAI_TEST_POSTGRES_URL`` (default the machine's 127.0.0.1:5432).
Its tests skip when it is unreachable, unless ``QAI_TEST_REQUIRE_POSTGRES=1`` (set by CI), in
which case they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from pydantic_ai import models as pydantic_ai_models
from sqlalchemy.engine import make_url

from qai.api import create_app
from qai.context import AppContext
from qai.db import Database, migrate
from qai.settings import Settings, load_settings

PG_ADMIN_URL = os.environ.get(
    "QAI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("QAI_TEST_REQUIRE_POSTGRES") == "1"

# No test may reach a real model provider: pydantic-ai refuses model requests unless a test
# allows them (for the local fake server only), and no real key is in the environment.
pydantic_ai_models.ALLOW_MODEL_REQUESTS = False
os.environ.pop("OPENAI_API_KEY", None)
os.environ.pop("ANTHROPIC_API_KEY", None)
for name in list(os.environ):
    if name.startswith("QAI_") and not name.startswith("QAI_TEST_"):
        del os.environ[name]
os.environ.pop("DATABASE_URL", None)


def _pg_conninfo(database: str | None = None) -> str:
    url = make_url(PG_ADMIN_URL)
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False).replace("postgresql+psycopg", "postgresql")


def postgres_reachable() -> bool:
    try:
        with psycopg.connect(_pg_conninfo(), connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def require_postgres() -> None:
    if postgres_reachable():
        return
    if REQUIRE_POSTGRES:
        pytest.fail(f"PostgreSQL required (QAI_TEST_REQUIRE_POSTGRES=1) but {PG_ADMIN_URL} is down")
    pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}")


def pg_execute(sql: str, database: str | None = None) -> None:
    with psycopg.connect(_pg_conninfo(database), autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def pg_url(database: str) -> str:
    return _pg_conninfo(database)


def create_pg_database(template: str | None = None) -> str:
    name = f"qai_test_{uuid.uuid4().hex[:12]}"
    pg_execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return name


def drop_pg_database(name: str) -> None:
    """Drop a test database and the durable-run database QAI made beside it, if any."""
    pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    pg_execute(f'DROP DATABASE IF EXISTS "{name}_dbos" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once; each test gets a copy."""
    directory = tmp_path_factory.mktemp("sqlite-template")
    path = directory / "qai.db"
    migrate.upgrade(load_settings(database_url=f"sqlite:///{path}", data_dir=directory))
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A PostgreSQL database migrated to head once; each test gets a copy (CREATE ... TEMPLATE)."""
    require_postgres()
    name = create_pg_database()
    migrate.upgrade(load_settings(database_url=pg_url(name)))
    yield name
    drop_pg_database(name)


ENGINES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(engine_name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database at the migrations' head, on the engine of the test's parameter."""
    if engine_name == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "qai.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    name = create_pg_database(template=request.getfixturevalue("postgres_template"))
    yield pg_url(name)
    drop_pg_database(name)


@pytest.fixture
def settings(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings pointing at the test's database and data directory, built as a command builds
    them (from the environment, which processes a test starts inherit)."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("QAI_DATA_DIR", str(tmp_path / "data"))
    return load_settings()


@pytest.fixture
async def context(settings: Settings) -> AsyncIterator[AppContext]:
    """The test process's parts, as `qai serve --no-worker` builds them (API role: runs are
    queued, not executed); not started (the ``app`` fixture starts it), closed at the end."""
    built = AppContext.build(settings, role="api")
    yield built
    await built.close()


@pytest.fixture
def database(context: AppContext) -> Database:
    """The test's database, as the process's parts use it."""
    return context.database


@pytest.fixture
async def app(context: AppContext) -> AsyncIterator[FastAPI]:
    """QAI's application on the test's context, its lifespan running."""
    application = create_app(context)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP through the application, in process."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
        yield http
