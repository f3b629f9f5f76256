"""`qai users ...`, `qai tokens ...` and `qai invites ...`: accounts, on the configured database
directly (run them on the server's machine, with its settings)."""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from qai.accounts import service
from qai.accounts.models import Role
from qai.cli._common import fail
from qai.cli._output import print_table
from qai.db import create_database, migrate, utcnow
from qai.settings import load_settings

T = TypeVar("T")

users_app = typer.Typer(help="Accounts (QAI_AUTH=accounts).", no_args_is_help=True)
tokens_app = typer.Typer(
    help="API tokens (Authorization: Bearer, QAI_TOKEN).", no_args_is_help=True
)
invites_app = typer.Typer(
    help="Invitations: links that let people make their own account.", no_args_is_help=True
)


def in_transaction(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction on the configured database, migrated first."""
    settings = load_settings()
    if settings.auto_migrate:
        migrate.upgrade(settings)

    async def run() -> T:
        database = create_database(settings)
        try:
            async with database.session() as session:
                return await work(session)
        finally:
            await database.dispose()

    return asyncio.run(run())


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        fail("No terminal to ask for the password: pass --password-stdin and pipe it in")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        fail("The two passwords differ")
    return first


@users_app.command("create")
def create_user(
    email: str = typer.Argument(..., help="The person's email: what they sign in with."),
    admin: bool = typer.Option(False, "--admin", help="An admin (sees every project)."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of stdin."
    ),
    name: str = typer.Option("", "--name", help="Display name [the email's local part]."),
) -> None:
    """Make an account. The first admin is given every project nobody owns yet."""
    password = read_password(password_stdin)
    role = Role.ADMIN if admin else Role.MEMBER

    async def work(session: AsyncSession) -> str:
        user = await service.create_user(
            session, email, password=password, role=role, display_name=name
        )
        return user.email

    typer.echo(f"created {role.value} {in_transaction(work)}")


@users_app.command("list")
def list_users() -> None:
    """List the accounts."""

    async def work(session: AsyncSession) -> list[tuple[str, ...]]:
        return [
            (u.email, u.display_name, u.role, "disabled" if u.disabled else "active")
            for u in await service.list_users(session)
        ]

    rows = in_transaction(work)
    if not rows:
        typer.echo("No accounts yet: qai users create EMAIL --admin")
        return
    print_table(("EMAIL", "NAME", "ROLE", "STATE"), rows)


@users_app.command("disable")
def disable(email: str = typer.Argument(..., help="The account's email.")) -> None:
    """Disable an account: its sessions end and its tokens stop working at once."""
    in_transaction(lambda session: service.set_disabled(session, email, True))
    typer.echo(f"disabled {email}")


@users_app.command("enable")
def enable(email: str = typer.Argument(..., help="The account's email.")) -> None:
    """Enable a disabled account again."""
    in_transaction(lambda session: service.set_disabled(session, email, False))
    typer.echo(f"enabled {email}")


@users_app.command("set-role")
def set_role(
    email: str = typer.Argument(..., help="The account's email."),
    role: Role = typer.Argument(..., help="admin or member."),
) -> None:
    """Make an account an admin or a member."""
    in_transaction(lambda session: service.set_role(session, email, role))
    typer.echo(f"{email} is now {role.value}")


@tokens_app.command("create")
def create_token(
    email: str = typer.Argument(..., help="Whose token."),
    name: str = typer.Option("", "--name", help="What the token is for."),
) -> None:
    """Make an API token; it is printed once, on the last line, and stored only hashed."""

    async def work(session: AsyncSession) -> tuple[str, str]:
        row, token = await service.create_token(session, email, name)
        return row.id, token

    token_id, token = in_transaction(work)
    typer.echo(f"token {token_id} for {email} (shown once; revoke: qai tokens revoke {token_id}):")
    typer.echo(token)


@tokens_app.command("list")
def list_tokens() -> None:
    """List the API tokens (never the tokens themselves)."""

    async def work(session: AsyncSession) -> list[tuple[str, ...]]:
        return [
            (
                token.id,
                email,
                token.name or "-",
                token.created_at.strftime("%Y-%m-%d %H:%M"),
                "revoked" if token.revoked else "active",
            )
            for token, email in await service.list_tokens(session)
        ]

    rows = in_transaction(work)
    if not rows:
        typer.echo("No tokens yet")
        return
    print_table(("ID", "EMAIL", "NAME", "CREATED (UTC)", "STATE"), rows)


@tokens_app.command("revoke")
def revoke_token(
    token_id: str = typer.Argument(..., help="The token's id (qai tokens list)."),
) -> None:
    """Revoke an API token: it stops working at once."""
    in_transaction(lambda session: service.revoke_token(session, token_id))
    typer.echo(f"revoked {token_id}")


@invites_app.command("create")
def create_invite(
    uses: int = typer.Option(1, "--uses", min=1, help="How many accounts it can make."),
    days: float = typer.Option(3.0, "--days", min=0.05, help="How long it works, in days."),
    role: Role = typer.Option(Role.MEMBER, "--role", help="The accounts' role: member or admin."),
    url: str = typer.Option(
        "",
        "--url",
        help="The server's address as people reach it [http://QAI_HOST:QAI_PORT, or the first "
        "of QAI_ALLOWED_HOSTS].",
    ),
) -> None:
    """Make an invitation (as /admin does); its link is printed once, on the last line."""
    settings = load_settings()
    hours = max(1, round(days * 24))

    async def work(session: AsyncSession) -> str:
        return await service.create_invite(
            session, created_by=None, hours=hours, max_uses=uses, role=role
        )

    code = in_transaction(work)
    base = url or _server_address(settings.host, settings.port, settings.allowed_host_names)
    made = service.invite_id_of_code(code)
    typer.echo(
        f"invitation {made}: {uses} use(s) as {role.value}, for {hours} hour(s) (shown once; "
        f"revoke: qai invites revoke {made}). Its access code: {code}; its link:"
    )
    typer.echo(f"{base.rstrip('/')}/signup?code={code}")


def _server_address(host: str, port: int, allowed: tuple[str, ...]) -> str:
    if allowed:
        return f"http://{allowed[0]}:{port}"
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{f'[{shown}]' if ':' in shown else shown}:{port}"


@invites_app.command("list")
def list_invites() -> None:
    """List the invitations (their codes are never stored: only their ids)."""

    async def work(session: AsyncSession) -> list[tuple[str, ...]]:
        now = utcnow()
        return [
            (
                service.invite_id(invite),
                invite.role,
                f"{invite.uses}/{invite.max_uses}",
                invite.expires_at.strftime("%Y-%m-%d %H:%M"),
                service.invite_state(invite, now),
            )
            for invite in await service.list_invites(session)
        ]

    rows = in_transaction(work)
    if not rows:
        typer.echo("No invitations yet: qai invites create")
        return
    print_table(("ID", "ROLE", "USED", "EXPIRES (UTC)", "STATE"), rows)


@invites_app.command("revoke")
def revoke_invite(
    invitation_id: str = typer.Argument(..., help="The invitation's id (qai invites list)."),
) -> None:
    """End an invitation at once: nobody can make an account with it any more."""
    in_transaction(lambda session: service.revoke_invite(session, invitation_id, by=None))
    typer.echo(f"revoked invitation {invitation_id}")
