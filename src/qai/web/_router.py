"""HTTP: the pages, the HTML pieces their scripts fetch, and the download of a fragment."""

from __future__ import annotations

import asyncio
import hashlib
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

import pygments
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.templating import Jinja2Templates

from qai.common.deps import DatabaseDep, ModelsDep, SettingsDep, context_of
from qai.common.principal import PrincipalDep
from qai.errors import QaiError
from qai.messages import service as messages
from qai.runs import service as runs
from qai.versions import service as versions
from qai.web import _views as views
from qai.web._download import archive_name, zip_files
from qai.web._examples import EXAMPLES
from qai.web._render import highlight_css, jinja_filters

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"

router = APIRouter(include_in_schema=False)

Tab = Literal["preview", "code", "changes"]

# The pages run only our own scripts and styles; a preview lives in a frame on its own origin.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "frame-src http: https:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


@cache
def asset_version(name: str) -> str:
    """A short hash of a static file, so browsers fetch it again when it changes."""
    return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]


def static_url(name: str) -> str:
    return f"/static/{name}?v={asset_version(name)}"


def preview_src(request: Request, url: str | None) -> str:
    """How a page opens the preview at ``url``: the address itself or, where previews require
    sign-in, through ``/preview-auth`` on the page's own origin (whose session the browser
    holds), which lets the browser into the preview's origin."""
    if not url or request.app.state.preview_sign_in is None:
        return url or ""
    return "/preview-auth?to=" + quote(url, safe="")


def _templates() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(jinja_filters())
    env.globals["static_url"] = static_url
    env.globals["preview_src"] = preview_src
    env.globals["highlight_version"] = pygments.__version__
    return Jinja2Templates(env=env)


templates = _templates()


def _page(
    request: Request, name: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    return templates.TemplateResponse(
        request, name, context, status_code=status_code, headers=PAGE_HEADERS
    )


def render_page(
    request: Request, name: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    """A page of QAI's, with the pages' headers (for the pages other packages serve)."""
    return _page(request, name, context, status_code=status_code)


def _piece(
    request: Request, name: str, context: dict[str, Any], headers: dict[str, str] | None = None
) -> HTMLResponse:
    """An HTML piece for a page's script, with the pages' headers (a piece opened on its own
    is a page too); cursors travel in headers."""
    extra = {key: value for key, value in (headers or {}).items() if value}
    return templates.TemplateResponse(request, name, context, headers={**PAGE_HEADERS, **extra})


def _preview_url(request: Request) -> views.PreviewUrl:
    return context_of(request).sandboxes.hosts.url


def _error_page(request: Request, error: QaiError) -> HTMLResponse:
    return _page(request, "error.html", {"error": error}, status_code=error.status)


def error_page(request: Request, error: QaiError) -> HTMLResponse:
    """A QAI error as a page, for a browser that asked for one."""
    return _error_page(request, error)


@router.get("/", response_class=HTMLResponse)
async def home(
    request: Request,
    db: DatabaseDep,
    settings: SettingsDep,
    models: ModelsDep,
    principal: PrincipalDep,
    cursor: str | None = None,
) -> HTMLResponse:
    try:
        listed = await views.project_list(db, cursor, principal.owner_filter)
    except QaiError as error:
        return _error_page(request, error)
    return _page(
        request,
        "home.html",
        {
            "page": listed.page,
            "thumbnails": listed.thumbnails,
            "model_missing": not settings.model,
            "default_template": settings.default_template,
            "templates": views.template_choices(settings.data_dir),
            "examples": EXAMPLES,
            "models": runs.model_list(models),
        },
    )


@router.get("/ui/projects", response_class=HTMLResponse)
async def project_items(
    request: Request, db: DatabaseDep, principal: PrincipalDep, cursor: str | None = None
) -> HTMLResponse:
    listed = await views.project_list(db, cursor, principal.owner_filter)
    return _piece(
        request,
        "_project_items.html",
        {"projects": listed.page.items, "thumbnails": listed.thumbnails},
        {"QAI-Next-Cursor": listed.page.next_cursor or ""},
    )


@router.get("/projects/{project_id}", response_class=HTMLResponse)
async def project(
    request: Request,
    project_id: str,
    db: DatabaseDep,
    models: ModelsDep,
    fragment: str | None = None,
    file: str | None = None,
    tab: Tab = "preview",
) -> HTMLResponse:
    try:
        page = await views.project_page(
            db, project_id, fragment_id=fragment, path=file, preview_url=_preview_url(request)
        )
    except QaiError as error:
        return _error_page(request, error)
    return _page(
        request,
        "project.html",
        {
            "page": page,
            "tab": tab,
            "models": runs.model_list(models),
            "model_selected": views.last_model(page),
        },
    )


@router.get("/ui/projects/{project_id}/messages", response_class=HTMLResponse)
async def message_items(
    request: Request,
    project_id: str,
    db: DatabaseDep,
    before: Annotated[str | None, Query(description="older than this cursor")] = None,
    after: Annotated[str | None, Query(description="newer than this cursor")] = None,
) -> HTMLResponse:
    if before is not None:
        page = await views.history_before(db, project_id, before)
    else:
        page = await views.history_after(db, project_id, after)
    newest = views.cursor_of(page.items[-1]) if page.items else ""
    numbered = await versions.numbers_of(db, project_id, page.items)
    answered = await views.runs_by_answer(db, page.items)
    return _piece(
        request,
        "_messages.html",
        {
            "messages": page.items,
            "selected_fragment_id": None,
            "versions": numbered,
            "answered": answered,
        },
        {
            "QAI-Prev-Cursor": page.prev_cursor or "",
            "QAI-Newest-Cursor": newest,
            "QAI-More": "1" if page.next_cursor else "",
        },
    )


@router.get("/ui/fragments/{fragment_id}/workspace", response_class=HTMLResponse)
async def workspace_piece(
    request: Request,
    fragment_id: str,
    db: DatabaseDep,
    file: str | None = None,
    tab: Tab = "preview",
) -> HTMLResponse:
    fragment = await messages.get_fragment(db, fragment_id)
    workspace = await views.workspace_of(db, fragment, file, _preview_url(request))
    return _piece(request, "_workspace.html", {"workspace": workspace, "tab": tab})


@router.get("/ui/fragments/{fragment_id}/diff", response_class=HTMLResponse)
async def diff_piece(
    request: Request, fragment_id: str, db: DatabaseDep, against: str | None = None
) -> HTMLResponse:
    comparison = await versions.compare(db, fragment_id, against or None)
    choices, _ = await versions.list_versions(
        db, comparison.version.project_id, limit=views.VERSION_CHOICES
    )
    return _piece(request, "_diff.html", {"comparison": comparison, "choices": choices})


@router.get("/ui/runs/{run_id}/live", response_class=HTMLResponse)
async def live_preview_piece(request: Request, run_id: str, db: DatabaseDep) -> HTMLResponse:
    """The Preview tab while a run builds: its sandbox's own preview, which reloads itself."""
    run = await views.live_run(db, run_id)
    # The project's own address serves the run's sandbox while it builds (then its versions).
    app_url = _preview_url(request)(run.project_id) if run.preview_url else None
    return _piece(request, "_live_preview.html", {"run": run, "app_url": app_url})


@router.get("/ui/fragments/{fragment_id}/file", response_class=HTMLResponse)
async def file_piece(
    request: Request, fragment_id: str, path: str, db: DatabaseDep
) -> HTMLResponse:
    fragment = await messages.get_fragment(db, fragment_id)
    file = await asyncio.to_thread(views.code_file, fragment.files(), path)
    return _piece(request, "_code_file.html", {"fragment": fragment, "file": file})


@router.get("/fragments/{fragment_id}/download")
async def download(fragment_id: str, db: DatabaseDep) -> Response:
    title, files = await versions.download(db, fragment_id)
    content = await asyncio.to_thread(zip_files, files)
    return Response(
        content,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{archive_name(title)}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/ui/highlight.css")
async def highlight_stylesheet() -> Response:
    return Response(
        highlight_css(),
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )
