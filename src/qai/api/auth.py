"""Who a request acts for (``QAI_AUTH=accounts``): a browser's session cookie or an API token
(``Authorization: Bearer``), resolved once per request into ``scope["state"]["principal"]``.

Without a valid credential the JSON API answers 401 ``UNAUTHORIZED`` in the error shape and a
page redirects to ``/login``. A write authenticated by the cookie must say where it comes from
(``Origin`` or ``Sec-Fetch-Site``, which the host policy has already checked is QAI's own
origin): a browser always does, so a request that does not is not a page of QAI's. Forms carry
a token on top (see ``qai.accounts.router``). Bearer tokens are not sent by browsers on their
own, so they need neither.
"""

from __future__ import annotations

from urllib.parse import quote

import orjson
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qai.accounts.router import SESSION_COOKIE
from qai.accounts.service import Accounts
from qai.api.hosts import SAFE_METHODS
from qai.common.principal import Principal
from qai.errors import Unauthorized

# Reached without signing in: the sign-in and first-run pages, probes, the static files and
# the schema (which holds no data).
PUBLIC_PATHS = frozenset(
    {"/login", "/logout", "/setup", "/signup", "/healthz", "/readyz", "/openapi.json"}
)
PUBLIC_PREFIXES = ("/static/", "/ui/highlight.css", "/auth/oidc/")
CROSS_SITE = (
    "Refused: a write signed in by cookie must come from a QAI page (no Origin or "
    "Sec-Fetch-Site header); scripts and tools use Authorization: Bearer <token>"
)


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def is_api(path: str) -> bool:
    """Answered with a 401 rather than a redirect: the JSON API, metrics, and git's smart
    HTTP (``/projects/{project_id}.git/...``), whose clients are not browsers."""
    return (
        path.startswith("/api/")
        or path in ("/api", "/metrics")
        or ".git/" in path
        or (path.endswith(".git"))
    )


class AuthenticationMiddleware:
    def __init__(self, app: ASGIApp, *, accounts: Accounts) -> None:
        self.app = app
        self.accounts = accounts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        authorization = cookie = None
        has_origin = False
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"cookie":
                cookie = value.decode("latin-1")
            elif name in (b"origin", b"sec-fetch-site"):
                has_origin = True
        principal: Principal | None = None
        by_cookie = False
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                principal = await self.accounts.principal_for_token(token.strip())
            if principal is None:
                # A credential that does not work is refused everywhere, public paths too:
                # a client sending one must learn it is wrong.
                await self._unauthorized(scope, send, "Invalid or revoked API token")
                return
        elif cookie is not None:
            secret = cookie_parser(cookie).get(SESSION_COOKIE)
            if secret:
                principal = await self.accounts.principal_for_session(secret)
                by_cookie = principal is not None
        path: str = scope["path"]
        if principal is not None:
            scope.setdefault("state", {})["principal"] = principal
        elif not is_public(path):
            if is_api(path):
                await self._unauthorized(scope, send, Unauthorized.default_message)
            else:
                await self._to_login(scope, send)
            return
        method = scope["method"]
        if method in SAFE_METHODS or principal is None:
            await self.app(scope, receive, send)
            return
        if by_cookie and not has_origin:
            await _json_error(scope, send, 403, "FORBIDDEN", CROSS_SITE)
            return
        status = 0

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, send_noting_status)
        if 200 <= status < 300 and is_api(path):
            await self._audit(scope, principal)

    async def _audit(self, scope: Scope, principal: Principal) -> None:
        """A change through the API, in the audit log: who, which route, which project."""
        route = scope.get("route")
        template = getattr(route, "path", None) or scope["path"]
        params = scope.get("path_params") or {}
        project_id = params.get("project_id")
        await self.accounts.audit_change(
            principal, f"{scope['method']} {template}", project_id, params
        )

    async def _unauthorized(self, scope: Scope, send: Send, message: str) -> None:
        await _json_error(
            scope, send, 401, "UNAUTHORIZED", message, [(b"www-authenticate", b"Bearer")]
        )

    async def _to_login(self, scope: Scope, send: Send) -> None:
        target = scope["path"]
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        location = "/login?next=" + quote(target, safe="")
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", location.encode()),
                    (b"content-length", b"0"),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})


async def _json_error(
    scope: Scope,
    send: Send,
    status: int,
    code: str,
    message: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    error: dict[str, str] = {"code": code, "message": message}
    request_id = scope.get("state", {}).get("request_id")
    if request_id:
        error["requestId"] = request_id
    body = orjson.dumps({"error": error})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(extra or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
