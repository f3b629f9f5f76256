"""`qai projects ...` and `qai messages ...`: the API from the command line."""

from __future__ import annotations

import typer

from qai.cli._output import age, print_json, print_table
from qai.client import Client
from qai.messages.rules import MessageRole

UrlOption = typer.Option(
    None, "--url", envvar="QAI_URL", help="QAI server [http://127.0.0.1:8000]."
)
JsonOption = typer.Option(False, "--json", help="Print JSON instead of a table.")

projects_app = typer.Typer(help="Projects on a running QAI server.", no_args_is_help=True)
messages_app = typer.Typer(
    help="Messages of a project on a running QAI server.", no_args_is_help=True
)


@projects_app.command("list")
def list_projects(
    limit: int = typer.Option(50, min=1, max=200, help="Projects per page."),
    cursor: str | None = typer.Option(None, help="nextCursor of a previous page."),
    url: str | None = UrlOption,
    as_json: bool = JsonOption,
) -> None:
    """List projects, newest first."""
    with Client(url) as client:
        page = client.list_projects(limit=limit, cursor=cursor)
    if as_json:
        print_json(page)
        return
    if not page.items:
        typer.echo("No projects yet")
        return
    print_table(
        ("ID", "NAME", "TEMPLATE", "CREATED"),
        [(p.id, p.name, p.template or "-", age(p.created_at)) for p in page.items],
    )
    if page.next_cursor:
        typer.echo(f"\nmore: qai projects list --cursor {page.next_cursor}")


@projects_app.command("create")
def create_project(
    prompt: str = typer.Argument(..., help="What to build (1..1000 characters)."),
    template: str | None = typer.Option(None, help="web or nextjs [QAI_DEFAULT_TEMPLATE]."),
    url: str | None = UrlOption,
    as_json: bool = JsonOption,
) -> None:
    """Create a project from a prompt; the agent starts building it."""
    with Client(url) as client:
        project = client.create_project(prompt, template=template)
    if as_json:
        print_json(project)
    else:
        typer.echo(f"created {project.name} ({project.id})")


@projects_app.command("show")
def show_project(
    project_id: str = typer.Argument(..., help="The project's id."),
    url: str | None = UrlOption,
    as_json: bool = JsonOption,
) -> None:
    """Show one project."""
    with Client(url) as client:
        project = client.get_project(project_id)
    if as_json:
        print_json(project)
        return
    print_table(
        ("FIELD", "VALUE"),
        [
            ("id", project.id),
            ("name", project.name),
            ("template", project.template or "-"),
            ("created", f"{project.created_at:%Y-%m-%d %H:%M:%S} UTC ({age(project.created_at)})"),
            ("updated", f"{project.updated_at:%Y-%m-%d %H:%M:%S} UTC"),
        ],
    )


@projects_app.command("rename")
def rename_project(
    project_id: str = typer.Argument(..., help="The project's id."),
    name: str = typer.Argument(..., help="The new name."),
    url: str | None = UrlOption,
    as_json: bool = JsonOption,
) -> None:
    """Rename a project."""
    with Client(url) as client:
        project = client.rename_project(project_id, name)
    if as_json:
        print_json(project)
    else:
        typer.echo(f"renamed to {project.name}")


@projects_app.command("delete")
def delete_project(
    project_id: str = typer.Argument(..., help="The project's id."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    url: str | None = UrlOption,
) -> None:
    """Delete a project with its messages and fragments."""
    if not yes:
        typer.confirm(f"Delete project {project_id} and everything in it?", abort=True)
    with Client(url) as client:
        client.delete_project(project_id)
    typer.echo("deleted")


@messages_app.command("list")
def list_messages(
    project_id: str = typer.Argument(..., help="The project's id."),
    limit: int = typer.Option(100, min=1, max=500, help="Messages per page."),
    cursor: str | None = typer.Option(None, help="nextCursor of a previous page."),
    url: str | None = UrlOption,
    as_json: bool = JsonOption,
) -> None:
    """List a project's messages, oldest first.

    A USER message's type is RESULT, the original app's convention: the type tells an
    ASSISTANT answer's RESULT from its ERROR.
    """
    with Client(url) as client:
        page = client.list_messages(project_id, limit=limit, cursor=cursor)
    if as_json:
        print_json(page)
        return
    if not page.items:
        typer.echo("No messages yet")
        return
    print_table(
        ("WHEN", "ROLE", "TYPE", "CONTENT", "FRAGMENT"),
        [
            (
                age(m.created_at),
                m.role.value,
                m.type.value,
                m.content if len(m.content) <= 80 else m.content[:77] + "...",
                f"{m.fragment.title} {m.fragment.sandbox_url}" if m.fragment else "",
            )
            for m in page.items
        ],
    )
    if any(m.role is MessageRole.USER for m in page.items):
        typer.echo(
            "\nUSER messages have type RESULT, as in the original app; the type tells an "
            "answer's RESULT from its ERROR."
        )
    if page.next_cursor:
        typer.echo(f"\nmore: qai messages list {project_id} --cursor {page.next_cursor}")


@messages_app.command("send")
def send_message(
    project_id: str = typer.Argument(..., help="The project's id."),
    prompt: str = typer.Argument(..., help="What to change (1..1000 characters)."),
    from_version: str | None = typer.Option(
        None, "--from-version", help="A version's fragment id: the agent builds on it."
    ),
    url: str | None = UrlOption,
    as_json: bool = JsonOption,
) -> None:
    """Send a message to a project's agent; a run starts (from the newest version, or the one
    given)."""
    with Client(url) as client:
        message = client.send_message(project_id, prompt, fragment_id=from_version)
    if as_json:
        print_json(message)
    else:
        typer.echo(f"sent ({message.id})")
