"""`qai serve`: the API, the pages and a worker in one process."""

from __future__ import annotations

import gc
import ipaddress
import logging
import os
from types import FrameType

import typer

from qai.errors import QaiError
from qai.jobs import Role
from qai.settings import Settings, load_settings

log = logging.getLogger("qai")

# What QAI writes (its databases, DBOS's, logs, sandbox records) is for its own user alone.
PRIVATE_UMASK = 0o077


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refusal_to_start(settings: Settings) -> str | None:
    """Why this server must not start: without accounts, only a loopback address (and no
    previews that require sign-in); single sign-on only when it is configured whole."""
    if settings.oidc_problem is not None:
        return f"QAI cannot start: {settings.oidc_problem}."
    if settings.auth == "none" and not is_loopback(settings.host):
        return (
            f"Refusing to listen on {settings.host} with QAI_AUTH=none: anyone who can reach "
            "it could read, change and delete every project and run code in its sandboxes. "
            "Set QAI_AUTH=accounts (then make the first admin: `qai users create EMAIL "
            "--admin`, see docs/accounts.md), or listen on 127.0.0.1."
        )
    if settings.preview_requires_sign_in and settings.auth != "accounts":
        return (
            "QAI_PREVIEW_REQUIRES_SIGN_IN=true needs QAI_AUTH=accounts: without accounts "
            "nobody signs in, so no preview could be opened. Set QAI_AUTH=accounts, or "
            "QAI_PREVIEW_REQUIRES_SIGN_IN=false."
        )
    return None


def warn_if_exposed(settings: Settings) -> None:
    if not is_loopback(settings.host):
        banner = "!" * 78
        log.warning(
            "\n%s\nQAI is listening on %s, reachable from other machines: people sign in\n"
            "(QAI_AUTH=accounts). Serve it behind HTTPS so that passwords and session cookies\n"
            "do not cross the network in clear.\n%s",
            banner,
            settings.host,
            banner,
        )


def _describe_database(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(settings.sqlalchemy_url)
    if url.get_backend_name() == "sqlite":
        return f"SQLite {url.database}"
    return f"PostgreSQL {url.host or 'localhost'}:{url.port or 5432}/{url.database}"


def run_server(settings: Settings, *, role: Role) -> None:
    import uvicorn

    from qai.api import create_app
    from qai.context import AppContext
    from qai.logs import configure_logging

    refusal = refusal_to_start(settings)
    if refusal is not None:
        typer.secho(refusal, fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    os.umask(PRIVATE_UMASK)
    configure_logging(settings)
    context = AppContext.build(settings, role=role)

    class ShutdownAwareServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            # Open event streams would otherwise hold the graceful shutdown to its timeout.
            context.hub.begin_shutdown()
            super().handle_exit(sig, frame)

    # The logging HOWTO's "Optimization": QAI's log formats show no caller, thread or process,
    # so do not collect them for every record (one access-log line per request).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    warn_if_exposed(settings)
    try:
        context.migrate()
    except QaiError as exc:
        typer.echo(f"QAI cannot start: {exc.message}", err=True)
        raise typer.Exit(1) from None
    app = create_app(context)
    log.info(
        "QAI on http://%s:%d (database: %s)",
        settings.host,
        settings.port,
        _describe_database(settings),
    )
    # The ~200,000 objects made by importing QAI's libraries live as long as the process: keep
    # them out of the collector's full passes, each of which would otherwise stall every
    # request in flight for a few hundred milliseconds. (`qai` starts with the collector off:
    # qai.__main__.)
    gc.collect()
    gc.freeze()
    gc.enable()
    # loop and http "auto" pick uvloop and httptools, which uvicorn[standard] installs.
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )
    ShutdownAwareServer(config).run()


def serve(
    host: str | None = typer.Option(None, help="Address to listen on [QAI_HOST; 127.0.0.1]."),
    port: int | None = typer.Option(None, help="Port to listen on [QAI_PORT; 8000]."),
    no_worker: bool = typer.Option(
        False, "--no-worker", help="Serve the API only; runs are left to `qai worker` processes."
    ),
) -> None:
    """Run QAI: the web app, the JSON API and a worker for agent runs, in one process.

    On first start it creates and migrates the database (SQLite in the data directory unless
    DATABASE_URL is set).
    """
    overrides = {key: value for key, value in {"host": host, "port": port}.items() if value}
    run_server(load_settings(**overrides), role="api" if no_worker else "serve")
