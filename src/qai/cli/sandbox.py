"""`qai sandbox ...`: list, start, exec, stop, prepare."""

from __future__ import annotations

import typer

app = typer.Typer(help="Sandboxes: isolated places where generated apps run.", no_args_is_help=True)
