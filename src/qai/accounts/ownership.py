"""Ownership as one mechanism: every route whose path names a project, message, fragment or run
(by the parameter names below) is checked before it runs, by :func:`owned_path`, installed on
the whole application. A member reaches only their own projects' objects; anything else is the
same 404 as an id that does not exist. Admins, and everyone in ``QAI_AUTH=none``, reach all.

A new route gets the check by naming its path parameters ``project_id``, ``message_id``,
``fragment_id`` or ``run_id``; an id that arrives another way (a body, a query, a tRPC input)
is checked with :func:`require`, and a list is filtered with ``Principal.owner_filter``.
"""

from __future__ import annotations

from fastapi import Request

from qai.accounts.quotas import check_can_start_run
from qai.accounts.service import Accounts
from qai.common.openapi import STARTS_A_RUN_KEY
from qai.common.principal import Principal, principal_of
from qai.errors import FragmentNotFound, NotFound, ProjectNotFound, RunNotFound

KIND_OF_PARAMETER = {
    "project_id": "project",
    "message_id": "message",
    "fragment_id": "fragment",
    "run_id": "run",
}

# Objects of a person's own account, not of a project: their services look them up among the
# principal's own (another's is the same 404 as one that does not exist).
SELF_SCOPED_PARAMETERS = frozenset({"token_id"})


class MessageNotFound(NotFound):
    default_message = "Message not found"


NOT_FOUND: dict[str, type[NotFound]] = {
    "project": ProjectNotFound,
    "message": MessageNotFound,
    "fragment": FragmentNotFound,
    "run": RunNotFound,
}


async def require(
    accounts: Accounts | None, principal: Principal, kind: str, object_id: str
) -> None:
    """Raise the object's 404 unless ``principal`` may reach it. ``kind``: project, message,
    fragment or run. Free for admins and without accounts (``accounts`` None)."""
    if principal.admin or accounts is None:
        return
    if not await accounts.may_reach(principal, kind, object_id):
        raise NOT_FOUND[kind]()


async def require_project(accounts: Accounts | None, principal: Principal, project_id: str) -> None:
    await require(accounts, principal, "project", project_id)


async def owned_path(request: Request) -> None:
    """The application-wide dependency: the objects the path names must be the principal's
    (an admin's are all), and a route that starts a run must be within their quotas."""
    principal = principal_of(request)
    if principal.user_id is None:  # without accounts
        return
    accounts: Accounts | None = getattr(request.app.state, "accounts", None)
    for name, value in request.path_params.items():
        kind = KIND_OF_PARAMETER.get(name)
        if kind is not None and isinstance(value, str):
            await require(accounts, principal, kind, value)
    route = request.scope.get("route")
    extra = getattr(route, "openapi_extra", None) or {}
    if accounts is not None and principal.user_id is not None and extra.get(STARTS_A_RUN_KEY):
        await check_can_start_run(accounts.database, principal.user_id, accounts.quotas)
