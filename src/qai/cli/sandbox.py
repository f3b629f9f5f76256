"""`qai sandbox ...`: list, start, exec, stop, prune, prepare, templates."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from qai.cli._common import fail
from qai.sandbox import (
    TEMPLATES,
    CommandResult,
    SandboxInfo,
    SandboxManager,
    TemplateNotPrepared,
    get_template,
    make_sandbox_manager,
    prepare_template,
)
from qai.settings import Settings, load_settings

app = typer.Typer(help="Sandboxes: isolated places where generated apps run.", no_args_is_help=True)

T = TypeVar("T")

JSON_HELP = "Print JSON instead of text."


def _run(work: Callable[[SandboxManager], Awaitable[T]], settings: Settings | None = None) -> T:
    """``work`` on a sandbox manager made from this command's settings (loaded here unless the
    command has them already), shut down after."""

    async def main() -> T:
        manager = make_sandbox_manager(settings or load_settings())
        try:
            return await work(manager)
        finally:
            await manager.shutdown()

    return asyncio.run(main())


def _info_dict(info: SandboxInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "template": info.template,
        "status": info.status.value,
        "detail": info.detail,
        "isolation": info.isolation,
        "started_at": info.started_at.isoformat(),
        "last_used_at": info.last_used_at.isoformat(),
        "preview_url": info.preview_url,
        "directory": str(info.directory),
        "pid": info.pid,
        "uid": info.uid,
        "owner_pid": info.owner_pid,
    }


@app.command("list")
def list_sandboxes(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List the running sandboxes, whichever QAI process started them.

    Preview addresses carry this shell's QAI_PORT (8000 unless set): export the port the
    server runs on, or read the address off the server's pages.
    """
    settings = load_settings()
    infos = _run(lambda manager: manager.list(), settings)
    if as_json:
        typer.echo(json.dumps([_info_dict(info) for info in infos], indent=2))
        return
    if not infos:
        typer.echo("No sandbox is running.")
        return
    rows = [("NAME", "TEMPLATE", "STATUS", "STARTED", "LAST USED", "PREVIEW")]
    for info in infos:
        rows.append(
            (
                info.name,
                info.template,
                info.status.value,
                info.started_at.astimezone().strftime("%H:%M:%S"),
                info.last_used_at.astimezone().strftime("%H:%M:%S"),
                info.preview_url,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        typer.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
            + "  "
            + row[-1]
        )
    # The port a preview is served on is the server's; this command only knows its own settings.
    typer.secho(
        f"Preview addresses use port {settings.port} (QAI_PORT in this shell); a server on "
        "another port serves them on its own: export its QAI_PORT to list them right.",
        err=True,
    )


def _read_directory(source: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if any(p.startswith(".") or p == "node_modules" for p in relative.parts[:-1]):
            continue
        if path.is_file() and not path.is_symlink():
            try:
                files[relative.as_posix()] = path.read_text()
            except UnicodeDecodeError:
                typer.secho(f"skipped {relative}: not UTF-8 text", err=True)
    return files


@app.command()
def start(
    template: str = typer.Argument(None, help="web or nextjs; default: QAI_DEFAULT_TEMPLATE."),
    name: str = typer.Option(None, "--name", help="Sandbox name; default: a random one."),
    source: Path = typer.Option(
        None, "--from", exists=True, file_okay=False, help="Copy this directory's text files in."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the sandbox as JSON once ready."),
) -> None:
    """Start a sandbox and keep it running until Ctrl-C (or `qai sandbox stop NAME`).

    Its processes belong to this command: they stop when it ends. Its preview is served by
    `qai serve` at the printed address.
    """
    settings = load_settings()
    chosen = template or settings.default_template
    files = _read_directory(source) if source is not None else {}

    async def work(manager: SandboxManager) -> None:
        sandbox = await manager.start(chosen, name=name, files=files)
        status = await sandbox.wait_ready(settings.sandbox_start_timeout)
        info = await sandbox.info()
        if as_json:
            typer.echo(json.dumps(_info_dict(info)))
        else:
            typer.echo(f"Sandbox {sandbox.name} ({chosen}) is {status.value}.")
            typer.echo(f"  directory: {info.directory}")
            typer.echo(f"  preview:   {info.preview_url} (served by `qai serve`)")
            typer.echo("Press Ctrl-C to stop it.")
        sys.stdout.flush()
        await sandbox.wait_stopped()  # from elsewhere, or Ctrl-C cancels this
        typer.echo(f"Sandbox {sandbox.name} stopped.")

    try:
        _run(work, settings)
    except KeyboardInterrupt:
        typer.echo("Stopped.")


@app.command("exec")
def exec_command(
    name: str = typer.Argument(..., help="Sandbox name."),
    command: str = typer.Argument(..., help="Shell command, run with /bin/sh -c."),
    timeout: float = typer.Option(None, "--timeout", help="Seconds; default from settings."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Run a command in a running sandbox; exit with its exit code."""

    async def work(manager: SandboxManager) -> CommandResult | None:
        sandbox = await manager.get(name)
        if sandbox is None:
            return None
        return await sandbox.exec(command, timeout=timeout)

    result = _run(work)
    if result is None:
        fail(f"No running sandbox is named {name!r} (see `qai sandbox list`).")
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(result)))
    else:
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        if result.timed_out:
            typer.secho("(timed out: the command and its processes were killed)", err=True)
    raise typer.Exit(result.exit_code)


@app.command()
def stop(
    name: str = typer.Argument(..., help="Sandbox name."),
    delete: bool = typer.Option(False, "--delete", help="Remove its directory too."),
) -> None:
    """Stop a sandbox (whichever QAI process started it)."""
    was_running = _run(lambda manager: manager.stop(name, delete_files=delete))
    typer.echo(f"Stopped {name}." if was_running else f"{name} was not running.")


@app.command()
def prune(
    older_than_hours: float | None = typer.Option(
        None,
        "--older-than-hours",
        min=0,
        metavar="H",
        help="Remove those unused for more than H hours (0: all); default: "
        "QAI_SANDBOX_KEEP_STOPPED_HOURS.",
    ),
) -> None:
    """Remove the directories and logs of sandboxes that do not run and were unused for long.

    A sandbox running or being started (by any QAI process) is never touched. QAI's reapers do
    this every few minutes too, unless QAI_SANDBOX_KEEP_STOPPED_HOURS is 0.
    """
    settings = load_settings()
    hours = older_than_hours
    if hours is None:
        hours = settings.sandbox_keep_stopped_hours
        if hours == 0:
            typer.echo(
                "Pruning is off (QAI_SANDBOX_KEEP_STOPPED_HOURS=0); "
                "pass --older-than-hours H to prune anyway."
            )
            return
    removed = _run(lambda manager: manager.prune(hours), settings)
    if not removed:
        typer.echo(f"Nothing to remove: no stopped sandbox was unused for over {hours:g} hours.")
    for name in removed:
        typer.echo(f"Removed {name}: its directory and log.")


@app.command()
def prepare(
    template: str = typer.Argument(
        None, help="Template to prepare, e.g. nextjs; none: list the templates."
    ),
    force: bool = typer.Option(False, "--force", help="Install again even if prepared."),
) -> None:
    """Install a template's dependencies once, into the cache every sandbox reuses.

    Without a template, list the templates and whether each is prepared.
    """
    data_dir = load_settings().data_dir
    if template is None:
        for found in TEMPLATES.values():
            try:
                found.cached_path(data_dir)
                state = "ready"
            except TemplateNotPrepared:
                state = f"needs `qai sandbox prepare {found.name}`"
            typer.echo(f"{found.name:8} port {found.port}  {state}  - {found.description}")
        return
    cache = prepare_template(get_template(template), data_dir, force=force, output=sys.stderr)
    if cache is None:
        typer.echo(f"Template {template} has nothing to prepare.")
    else:
        typer.echo(f"Template {template} is prepared: {cache}")
