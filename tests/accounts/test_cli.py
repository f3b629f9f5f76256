"""`qai users ...`, `qai tokens ...` and the refusal to listen beyond loopback without
accounts: the real command, in a process of its own."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from qai import cli
from qai.api import create_app
from qai.context import AppContext
from qai.settings import Settings
from tests.accounts.conftest import ORIGIN, csrf_of
from tests.live import base_env

PASSWORD = "a long enough password"


def qai(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qai", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_serve_on_all_addresses_without_accounts_refuses_to_start(tmp_path: Path) -> None:
    env = base_env(f"sqlite:///{tmp_path / 'qai.db'}", tmp_path / "data")
    done = qai(env, "serve", "--host", "0.0.0.0", "--port", "1")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "QAI_AUTH=accounts" in done.stderr
    assert "0.0.0.0" in done.stderr


def run(env: dict[str, str], *args: str, stdin: str = "") -> Result:
    """The `qai` command in this process (a process each costs seconds of imports)."""
    return CliRunner().invoke(cli.app, list(args), input=stdin, env=env)


async def status_with(token: str, settings: Settings) -> int:
    context = AppContext.build(settings, role="api")
    app = create_app(context)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
                headers = {"Authorization": f"Bearer {token}"}
                return (await http.get("/api/projects", headers=headers)).status_code
    finally:
        await context.close()


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_users_and_tokens_from_the_command_line(database_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": database_url, "QAI_DATA_DIR": str(tmp_path / "data")}
    settings = Settings(database_url=database_url, data_dir=tmp_path / "data", auth="accounts")
    made = run(
        env,
        "users",
        "create",
        "Eve@Example.com",
        "--admin",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert made.exit_code == 0, made.output
    assert "created admin eve@example.com" in made.stdout
    again = run(env, "users", "create", "eve@example.com", "--password-stdin", stdin=PASSWORD)
    assert again.exit_code != 0
    assert "exists already" in str(again.exception)
    short = run(env, "users", "create", "x@example.com", "--password-stdin", stdin="short")
    assert short.exit_code != 0
    assert "at least 8 characters" in str(short.exception)
    listed = run(env, "users", "list")
    assert "eve@example.com" in listed.stdout
    assert "admin" in listed.stdout

    token_out = run(env, "tokens", "create", "eve@example.com", "--name", "ci")
    assert token_out.exit_code == 0, token_out.output
    token = token_out.stdout.strip().splitlines()[-1]
    assert token.startswith("qai_")
    assert asyncio.run(status_with(token, settings)) == 200
    tokens = run(env, "tokens", "list")
    assert "ci" in tokens.stdout
    assert token not in tokens.stdout  # shown once, stored hashed
    token_id = token_out.stdout.split()[1]
    assert run(env, "tokens", "revoke", token_id).exit_code == 0
    assert asyncio.run(status_with(token, settings)) == 401

    member = run(env, "users", "create", "m@example.com", "--password-stdin", stdin=PASSWORD)
    assert member.exit_code == 0, member.output
    assert run(env, "users", "set-role", "m@example.com", "admin").exit_code == 0
    assert run(env, "users", "disable", "m@example.com").exit_code == 0
    assert "disabled" in run(env, "users", "list").stdout
    assert run(env, "users", "enable", "m@example.com").exit_code == 0


async def sign_up_with(code: str, email: str, settings: Settings) -> int:
    """The status of signing up with ``code`` through the /signup form (303: an account)."""
    context = AppContext.build(settings, role="api")
    app = create_app(context)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as http:
                page = await http.get(f"/signup?code={code}")
                form = {"code": code, "email": email, "password": PASSWORD}
                done = await http.post(
                    "/signup", data=form | {"csrf": csrf_of(page.text)}, headers={"Origin": ORIGIN}
                )
                return done.status_code
    finally:
        await context.close()


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_invitations_from_the_command_line(database_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": database_url, "QAI_DATA_DIR": str(tmp_path / "data")}
    settings = Settings(database_url=database_url, data_dir=tmp_path / "data", auth="accounts")
    assert "No invitations yet" in run(env, "invites", "list").stdout

    made = run(env, "invites", "create", "--uses", "2", "--days", "1", "--role", "admin")
    assert made.exit_code == 0, made.output
    lines = made.stdout.strip().splitlines()
    link = lines[-1]
    assert link.startswith("http://127.0.0.1:8000/signup?code=")
    code = link.split("code=")[1]
    invite_id = lines[0].split()[1].rstrip(":")
    assert f"qai invites revoke {invite_id}" in made.stdout
    assert "2 use(s) as admin, for 24 hour(s)" in made.stdout

    with_url = run(env, "invites", "create", "--url", "https://qai.example.com/")
    assert (
        with_url.stdout.strip().splitlines()[-1].startswith("https://qai.example.com/signup?code=")
    )

    assert asyncio.run(sign_up_with(code, "ann@example.com", settings)) == 303
    listed = run(env, "invites", "list").stdout
    row = next(line for line in listed.splitlines() if line.startswith(invite_id))
    assert row.split()[1:3] == ["admin", "1/2"]
    assert row.rstrip().endswith("active")
    assert code not in listed  # the code is shown once, never stored
    users = run(env, "users", "list").stdout
    assert any("ann@example.com" in line and "admin" in line for line in users.splitlines())

    revoked = run(env, "invites", "revoke", invite_id)
    assert revoked.exit_code == 0, revoked.output
    assert asyncio.run(sign_up_with(code, "bob@example.com", settings)) == 400
    row = next(
        line for line in run(env, "invites", "list").stdout.splitlines() if invite_id in line
    )
    assert row.rstrip().endswith("expired")
    unknown = run(env, "invites", "revoke", "ffffffffffff")
    assert unknown.exit_code != 0
    assert "No such invitation" in str(unknown.exception)
    bad = run(env, "invites", "create", "--role", "owner")
    assert bad.exit_code == 2
