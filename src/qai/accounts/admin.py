"""The pages of what people used and of the server's admins: ``/account/usage`` for everyone
signed in, ``/admin`` for admins only (anyone else gets the 404 of a page that does not
exist). The admin's changes post back: ``/admin/users`` with the account's email,
``/admin/invites``, ``/admin/runs/stop`` with a run's id, ``/admin/sandboxes/stop`` with a
sandbox's name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from qai.accounts import secrets, service
from qai.accounts.models import Role
from qai.accounts.quotas import usage
from qai.accounts.router import accounts_of, check_session_csrf, read_form
from qai.common.deps import DatabaseDep, context_of
from qai.common.principal import Principal, PrincipalDep
from qai.db import utcnow
from qai.db.readiness import readiness_problem
from qai.errors import BadRequest, NotFound
from qai.runs import service as runs
from qai.web import render_page
from qai.workers import service as worker_service
from qai.workers.models import Worker

router = APIRouter(include_in_schema=False)

ACTIONS = ("disable", "enable", "admin", "member", "quotas")


def _require_admin(principal: Principal) -> None:
    if not principal.admin:
        raise NotFound()


@router.get("/account/usage", response_class=HTMLResponse)
async def usage_page(request: Request, principal: PrincipalDep) -> HTMLResponse:
    accounts = accounts_of(request)
    assert principal.user_id is not None
    used = await usage(accounts.database, principal.user_id, accounts.quotas)
    return render_page(request, "usage.html", {"principal": principal, "usage": used})


@router.get("/admin", response_class=HTMLResponse)
async def admin_page(request: Request, db: DatabaseDep, principal: PrincipalDep) -> HTMLResponse:
    _require_admin(principal)
    return await _admin_page(request, db, principal)


@dataclass(frozen=True)
class WorkerHealth:
    worker: Worker
    alive: bool


@dataclass(frozen=True)
class Health:
    """What /readyz and /metrics say, and more: the database, the workers, the sandboxes."""

    database_problem: str | None
    workers: list[WorkerHealth]
    runs_by_status: dict[str, int]
    sandboxes_running: int
    sandboxes_max: int

    @property
    def workers_alive(self) -> int:
        return sum(1 for worker in self.workers if worker.alive)


def _minutes_since(moment: datetime) -> int:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return max(0, int((datetime.now(UTC) - aware).total_seconds() // 60))


async def _admin_page(
    request: Request, db: DatabaseDep, principal: Principal, invite_link: str = ""
) -> HTMLResponse:
    accounts = accounts_of(request)
    context = context_of(request)
    now = utcnow()
    async with db.read() as session:
        users = await service.list_users(session)
        log = await service.audit_log(session, 200)
        in_flight = await service.runs_in_flight(session)
        workers = await worker_service.list_workers(session)
        counts = await runs.count_by_status(session)
    # One query per person: an admin page of a team's server, not a hot path.
    usages = [await usage(db, user.id, accounts.quotas) for user in users]
    sandboxes = await context.sandboxes.list()
    dead_seconds = context.settings.worker_dead_seconds
    health = Health(
        database_problem=await readiness_problem(db, request.app.state.head_revision),
        workers=[
            WorkerHealth(w, worker_service.is_alive(w, dead_seconds=dead_seconds, now=now))
            for w in workers
        ],
        runs_by_status=counts,
        sandboxes_running=len(sandboxes),
        sandboxes_max=context.settings.sandbox_max_running,
    )
    return render_page(
        request,
        "admin.html",
        {
            "principal": principal,
            "people": list(zip(users, usages, strict=True)),
            "audit": log,
            "csrf": secrets.csrf_token(principal.session_hash or ""),
            "invite_link": invite_link,
            "runs": in_flight,
            "sandboxes": [(box, _minutes_since(box.started_at)) for box in sandboxes],
            "health": health,
        },
    )


def _quota(value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"{value!r} is not a whole number") from None
    if number < 0:
        raise BadRequest("A quota cannot be negative")
    return number


@router.post("/admin/users")
async def change_user(request: Request, db: DatabaseDep, principal: PrincipalDep) -> Response:
    _require_admin(principal)
    form = await read_form(request)
    check_session_csrf(principal, form)
    action, email = form.get("action", ""), form.get("email", "")
    if action not in ACTIONS:
        raise BadRequest(f"Unknown action {action!r}")
    async with db.session() as session:
        if action in ("disable", "enable"):
            await service.set_disabled(session, email, action == "disable")
        elif action in ("admin", "member"):
            await service.set_role(session, email, Role(action))
        else:
            user = await service.get_user(session, email)
            user.quota_runs_per_day = _quota(form.get("runs_per_day"))
            user.quota_runs_at_once = _quota(form.get("runs_at_once"))
            user.quota_tokens_per_month = _quota(form.get("tokens_per_month"))
            await service.audit(session, "user.quotas", user_id=user.id)
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/invites", response_class=HTMLResponse)
async def make_invite(request: Request, db: DatabaseDep, principal: PrincipalDep) -> HTMLResponse:
    """A new invitation: the page again, with its link shown once."""
    _require_admin(principal)
    form = await read_form(request)
    check_session_csrf(principal, form)
    async with db.session() as session:
        code = await service.create_invite(
            session,
            created_by=principal.user_id,
            hours=_quota(form.get("hours")) or 72,
            max_uses=_quota(form.get("uses")) or 1,
        )
    link = f"{request.base_url}signup?code={code}"
    return await _admin_page(request, db, principal, invite_link=link)


@router.post("/admin/runs/stop")
async def stop_run(request: Request, db: DatabaseDep, principal: PrincipalDep) -> Response:
    """Stop a run in flight: the same request as ``POST /api/runs/{run_id}/cancel``."""
    _require_admin(principal)
    form = await read_form(request)
    check_session_csrf(principal, form)
    run_id = form.get("run_id", "")
    async with db.session() as session:
        run = await runs.request_cancel(session, run_id)
        await service.audit(
            session, "run.stop", user_id=principal.user_id, project_id=run.project_id
        )
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/sandboxes/stop")
async def stop_sandbox(request: Request, db: DatabaseDep, principal: PrincipalDep) -> Response:
    """Stop a running sandbox (its files stay: a preview opened later starts it again)."""
    _require_admin(principal)
    form = await read_form(request)
    check_session_csrf(principal, form)
    name = form.get("name", "")
    if not await context_of(request).sandboxes.stop(name):
        raise NotFound(f"No sandbox {name!r} is running")
    async with db.session() as session:
        await service.audit(session, "sandbox.stop", user_id=principal.user_id, detail=name)
    return RedirectResponse("/admin", status_code=303)
