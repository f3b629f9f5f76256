"""`qai settings`: the effective settings, or their reference as Markdown."""

from __future__ import annotations

import typer

from qai.cli._output import print_table
from qai.settings import load_settings, settings_table

SECRET_HINTS = ("password", "key", "secret", "token")


def show_settings(
    docs: bool = typer.Option(False, "--docs", help="Print the reference table as Markdown."),
) -> None:
    """Show the settings QAI would start with (from the environment and .env)."""
    if docs:
        typer.echo("| Variable | Default | Meaning |\n|---|---|---|")
        for env, default, description in settings_table():
            typer.echo(f"| `{env}` | `{default}` | {description} |")
        return
    settings = load_settings()
    rows = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        shown = "***" if any(h in name for h in SECRET_HINTS) and value else str(value)
        if name == "database_url" and value and "@" in str(value):
            shown = "://".join([str(value).split("://")[0], "***@" + str(value).split("@", 1)[1]])
        rows.append((name, shown))
    print_table(("SETTING", "VALUE"), rows)
