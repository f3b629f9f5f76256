"""The web UI: server-rendered pages, a little hand-written JavaScript and CSS, live updates."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Add the pages and static files to the application."""
