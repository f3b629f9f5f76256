"""Output for client commands: JSON for scripts, tables for people."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import orjson
import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table


def print_json(value: BaseModel) -> None:
    data = value.model_dump(mode="json", by_alias=True)
    typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


def print_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    table = Table(*columns, show_edge=False, pad_edge=False, box=None, header_style="bold")
    for row in rows:
        table.add_row(*row)
    Console(soft_wrap=True).print(table)


def age(moment: datetime) -> str:
    seconds = (datetime.now(UTC).replace(tzinfo=None) - moment.replace(tzinfo=None)).total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"
