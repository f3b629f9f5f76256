"""The `qai` command: serve, worker, db, sandbox, projects, messages, versions, users, tokens,
invites."""

from __future__ import annotations

import gc

import typer

from qai.cli import db, sandbox, worker
from qai.cli._common import run_cli
from qai.cli.projects import messages_app, projects_app
from qai.cli.serve import serve
from qai.cli.settings import show_settings
from qai.cli.users import invites_app, tokens_app, users_app
from qai.cli.versions import versions_app

app = typer.Typer(
    name="qai",
    help="QAI: type what you want, watch a code agent build it in an isolated sandbox.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _loaded(context: typer.Context) -> None:
    # `python -m qai` starts with the collector off (qai.__main__); `qai serve` turns it on
    # once its app is built, every other command now.
    if context.invoked_subcommand != "serve":
        gc.enable()


app.add_typer(db.app, name="db")
app.add_typer(sandbox.app, name="sandbox")
app.add_typer(projects_app, name="projects")
app.add_typer(messages_app, name="messages")
app.add_typer(versions_app, name="versions")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(invites_app, name="invites")
app.command()(serve)
app.command("settings")(show_settings)
app.command("worker")(worker.worker)


def main() -> None:
    run_cli(app)
