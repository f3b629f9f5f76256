"""`qai versions ...`: a project's versions on a running QAI server (list, restore, edit, fork)."""

from __future__ import annotations

from pathlib import Path

import typer

from qai.cli._output import age, print_json, print_table
from qai.cli.projects import JsonOption, UrlOption
from qai.client import Client
from qai.versions.schemas import MessageWithVersion, VersionPage

versions_app = typer.Typer(
    help="A project's versions on a running QAI server.", no_args_is_help=True
)


@versions_app.command("list")
def list_versions(
    project_id: str = typer.Argument(..., help="The project's id."),
    url: str | None = UrlOption,
    as_json: bool = JsonOption,
) -> None:
    """The project's versions, v1 first, with who made each."""
    items = []
    with Client(url) as client:
        after: int | None = 0
        while after is not None:
            page = client.list_versions(project_id, limit=500, after=after)
            items.extend(page.items)
            after = page.next_after
    if as_json:
        print_json(VersionPage(items=items, next_after=None))
        return
    print_table(
        ("VERSION", "FRAGMENT", "ORIGIN", "CHECK", "MADE", "TITLE"),
        [
            (
                f"v{v.number}" + (" (unfinished)" if v.unfinished else ""),
                v.fragment_id,
                v.origin + (f" by {v.author}" if v.author else ""),
                (v.check or {}).get("status", "-"),
                age(v.created_at),
                v.title,
            )
            for v in items
        ],
    )


def _made(version: MessageWithVersion, as_json: bool) -> None:
    if as_json:
        print_json(version)
        return
    fragment = version.fragment
    assert fragment is not None  # a restore and an edit always make a version
    typer.echo(f"made v{fragment.version.number} ({fragment.id}): {version.content}")


@versions_app.command("restore")
def restore(
    fragment_id: str = typer.Argument(..., help="The version's fragment id."),
    url: str | None = UrlOption,
    as_json: bool = JsonOption,
) -> None:
    """Make a new version with this version's files (history is kept)."""
    with Client(url) as client:
        _made(client.restore(fragment_id), as_json)


@versions_app.command("edit")
def edit(
    fragment_id: str = typer.Argument(..., help="The version's fragment id."),
    put: list[str] = typer.Option(
        [], "--put", help="PATH=LOCAL_FILE: the version's PATH gets LOCAL_FILE's text (repeatable)."
    ),
    delete: list[str] = typer.Option([], "--delete", help="A PATH to delete (repeatable)."),
    url: str | None = UrlOption,
    as_json: bool = JsonOption,
) -> None:
    """Make a new version: this version's files with files put or deleted by hand."""
    files: dict[str, str | None] = {}
    for given in put:
        path, sep, local = given.partition("=")
        if not sep or not path or not local:
            raise typer.BadParameter(f"{given!r}: expected PATH=LOCAL_FILE", param_hint="--put")
        try:
            files[path] = Path(local).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise typer.BadParameter(f"cannot read {local}: {exc}", param_hint="--put") from None
    for path in delete:
        files[path] = None
    if not files:
        raise typer.BadParameter("give at least one --put or --delete")
    with Client(url) as client:
        _made(client.edit(fragment_id, files), as_json)


@versions_app.command("fork")
def fork(
    fragment_id: str = typer.Argument(..., help="The version's fragment id."),
    url: str | None = UrlOption,
    as_json: bool = JsonOption,
) -> None:
    """Start a new project whose first version is this version's files."""
    with Client(url) as client:
        project = client.fork(fragment_id)
    if as_json:
        print_json(project)
    else:
        typer.echo(f"forked: {project.name} ({project.id})")
