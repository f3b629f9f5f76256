"""The web UI: server-rendered pages, a little hand-written JavaScript and CSS, live updates."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from qai.web._router import STATIC_DIR, error_page, render_page, router

__all__ = ["error_page", "install", "render_page"]


def install(app: FastAPI) -> None:
    """Add the pages and static files to the application."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
