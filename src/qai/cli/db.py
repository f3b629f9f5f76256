"""`qai db ...`: migrations on the configured database."""

from __future__ import annotations

import typer

from qai.settings import load_settings

app = typer.Typer(
    help="Database migrations (SQLite or PostgreSQL, from settings).", no_args_is_help=True
)


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Migrate the database up to REVISION (default: the newest)."""
    from qai.db import migrate

    settings = load_settings()
    migrate.upgrade(settings, revision)
    typer.echo(f"database at {migrate.current(settings)}")


@app.command()
def downgrade(revision: str = typer.Argument(..., help="Target revision, or 'base'.")) -> None:
    """Migrate the database down to REVISION ('base' removes every table)."""
    from qai.db import migrate

    settings = load_settings()
    migrate.downgrade(settings, revision)
    typer.echo(f"database at {migrate.current(settings) or 'base'}")


@app.command()
def current() -> None:
    """Print the database's revision."""
    from qai.db import migrate

    typer.echo(migrate.current(load_settings()) or "base (not migrated)")


@app.command()
def history() -> None:
    """List every revision, oldest first."""
    from qai.db import migrate

    for line in migrate.history(load_settings()):
        typer.echo(line)


@app.command()
def revision(
    message: str = typer.Option(..., "-m", "--message", help="What the revision does."),
    autogenerate: bool = typer.Option(
        False, "--autogenerate", help="Compare the models with the database."
    ),
) -> None:
    """Write a new revision file (for QAI developers)."""
    from qai.db import migrate

    path = migrate.revision(load_settings(), message, autogenerate=autogenerate)
    typer.echo(path or "no revision written")


@app.command()
def reset(
    force: bool = typer.Option(False, "--force", help="Allow it in production."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Drop every table and migrate again: ALL DATA IS LOST."""
    from qai.db import migrate

    settings = load_settings()
    if not yes:
        typer.confirm("Delete every project, message and fragment?", abort=True)
    migrate.reset(settings, force=force)
    typer.echo("database reset")


@app.command()
def adopt() -> None:
    """Take over a PostgreSQL database made by the original app's Prisma migrations."""
    from qai.db import migrate

    report = migrate.adopt(load_settings())
    typer.echo(
        "adopted: Prisma migrations "
        + ", ".join(report.applied_prisma_migrations)
        + f" recognised; now at {report.head}; rows kept: "
        + ", ".join(f"{table} {count}" for table, count in report.rows.items())
    )
