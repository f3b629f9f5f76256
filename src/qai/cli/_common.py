"""What every CLI command shares: settings errors and QAI errors printed, not tracebacks."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer

from qai.errors import QaiError
from qai.settings import SettingsError


def fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def run_cli(app: typer.Typer) -> None:
    try:
        app()
    except SettingsError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        sys.exit(2)
    except QaiError as exc:
        typer.secho(f"{exc.code}: {exc.message}", fg=typer.colors.RED, err=True)
        sys.exit(1)
