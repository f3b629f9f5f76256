"""Pages of accounts (``QAI_AUTH=accounts`` only): sign in (with a password, or through single
sign-on), sign out, the first-run setup of the first admin, a person's own API tokens, and the
way into previews that require sign-in.

Forms post ``application/x-www-form-urlencoded`` bodies and carry a CSRF token: before sign-in
a random one that must match the ``qai_csrf`` cookie (double submit), after it one derived
from the session (``secrets.csrf_token``).
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from qai.accounts import secrets, service
from qai.accounts.models import Role
from qai.accounts.oidc import CALLBACK_PATH, FLOW_SECONDS, LoginFlow, SingleSignOn
from qai.accounts.previews import PreviewSignIn
from qai.accounts.service import Accounts
from qai.common.deps import DatabaseDep
from qai.common.principal import Principal, PrincipalDep
from qai.errors import BadRequest, Forbidden, NotFound, QaiError
from qai.web import render_page

SESSION_COOKIE = "qai_session"
CSRF_COOKIE = "qai_csrf"
# A sign-in through single sign-on in progress (its state, nonce and PKCE verifier).
SSO_COOKIE = "qai_sso"
SSO_PATH = "/auth/oidc/"
FORM_LIMIT = 16_384

router = APIRouter(include_in_schema=False)


class CsrfRefused(Forbidden):
    default_message = "The form was too old or not QAI's: reload the page and try again"


def accounts_of(request: Request) -> Accounts:
    accounts: Accounts = request.app.state.accounts
    return accounts


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def is_loopback_client(request: Request) -> bool:
    try:
        return ipaddress.ip_address(client_address(request)).is_loopback
    except ValueError:
        return False


def is_https(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "")
    return request.url.scheme == "https" or forwarded.split(",")[0].strip() == "https"


async def read_form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > FORM_LIMIT:
        raise BadRequest("Form too large")
    try:
        parsed = parse_qs(body.decode(), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("Malformed form") from None
    return {key: values[0] for key, values in parsed.items()}


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path of QAI's own, never another site."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/"


def set_session_cookie(request: Request, response: Response, secret: str, hours: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=hours * 3600,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path="/",
    )


def _form_page(
    request: Request,
    *,
    heading: str,
    action: str,
    submit: str,
    fields: list[dict[str, Any]],
    intro: str = "",
    error: str = "",
    next_path: str = "",
    status_code: int = 200,
    sso: dict[str, str] | None = None,
) -> HTMLResponse:
    """A form shown before sign-in, with a fresh double-submit CSRF token (and a button for
    single sign-on: ``sso``, its label and address)."""
    token = secrets.new_secret()
    response = render_page(
        request,
        "account_form.html",
        {
            "heading": heading,
            "action": action,
            "submit": submit,
            "fields": fields,
            "intro": intro,
            "error": error,
            "next": next_path,
            "csrf": token,
            "sso": sso,
        },
        status_code=status_code,
    )
    response.set_cookie(
        CSRF_COOKIE, token, httponly=True, samesite="strict", secure=is_https(request), path="/"
    )
    return response


def check_double_submit(request: Request, form: dict[str, str]) -> None:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not secrets.same(cookie, form.get("csrf", "")):
        raise CsrfRefused()


def check_session_csrf(principal: Principal, form: dict[str, str]) -> None:
    if principal.session_hash is None:
        return  # a Bearer token: not something a browser sends on its own
    if not secrets.same(secrets.csrf_token(principal.session_hash), form.get("csrf", "")):
        raise CsrfRefused()


LOGIN_FIELDS: list[dict[str, Any]] = [
    {
        "label": "Email",
        "name": "email",
        "type": "email",
        "required": True,
        "autocomplete": "username",
    },
    {
        "label": "Password",
        "name": "password",
        "type": "password",
        "required": True,
        "autocomplete": "current-password",
    },
]


def _sso_button(request: Request, **query: str) -> dict[str, str] | None:
    sso = accounts_of(request).sso
    if sso is None:
        return None
    query = {key: value for key, value in query.items() if value and value != "/"}
    href = SSO_PATH + "login" + ("?" + urlencode(query) if query else "")
    return {"label": sso.button_label, "href": href}


def _login_page(
    request: Request, next_path: str, error: str = "", status_code: int = 200
) -> HTMLResponse:
    return _form_page(
        request,
        heading="Sign in",
        action="/login",
        submit="Sign in",
        fields=LOGIN_FIELDS,
        error=error,
        next_path=next_path,
        status_code=status_code,
        sso=_sso_button(request, next=next_path),
    )


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    return _login_page(request, safe_next(next))


@router.post("/login")
async def login(request: Request) -> Response:
    form = await read_form(request)
    check_double_submit(request, form)
    accounts = accounts_of(request)
    next_path = safe_next(form.get("next"))
    try:
        secret = await accounts.sign_in(
            form.get("email", ""), form.get("password", ""), client_address(request)
        )
    except QaiError as error:
        refused = _login_page(request, next_path, error.message, error.status)
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            refused.headers["Retry-After"] = str(retry_after)
        return refused
    response = RedirectResponse(next_path, status_code=303)
    set_session_cookie(request, response, secret, accounts.session_hours)
    return response


def _sso_of(request: Request) -> SingleSignOn:
    sso = accounts_of(request).sso
    if sso is None:
        raise NotFound("Single sign-on is not configured (QAI_OIDC_ISSUER)")
    return sso


def _callback_url(request: Request, sso: SingleSignOn) -> str:
    """The address the issuer sends the browser back to: as registered there."""
    if sso.redirect_url:
        return sso.redirect_url
    scheme = "https" if is_https(request) else request.url.scheme
    return f"{scheme}://{request.url.netloc}{CALLBACK_PATH}"


@router.get(SSO_PATH + "login")
async def sso_login(request: Request, next: str | None = None, invite: str = "") -> Response:
    """Send the browser to the issuer; it keeps the flow in a cookie until the callback."""
    sso = _sso_of(request)
    next_path = safe_next(next)
    try:
        url, flow = await sso.begin(_callback_url(request, sso), next_path, invite[:200])
    except QaiError as error:
        return _login_page(request, next_path, error.message, error.status)
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        SSO_COOKIE,
        flow.to_cookie(),
        max_age=FLOW_SECONDS,
        httponly=True,
        # Lax: the issuer's redirect back is a top-level navigation from its site.
        samesite="lax",
        secure=is_https(request),
        path=SSO_PATH,
    )
    return response


@router.get(CALLBACK_PATH)
async def sso_callback(request: Request) -> Response:
    """Where the issuer sends the browser back: signed in, or the sign-in page saying why not."""
    accounts = accounts_of(request)
    _sso_of(request)  # a 404 without single sign-on
    flow = LoginFlow.from_cookie(request.cookies.get(SSO_COOKIE))
    response: Response
    try:
        secret, flow = await accounts.sign_in_with_sso(
            request.query_params, flow, client_address(request)
        )
    except QaiError as error:
        next_path = safe_next(flow.next if flow else None)
        response = _login_page(request, next_path, error.message, error.status)
    else:
        response = RedirectResponse(safe_next(flow.next), status_code=303)
        set_session_cookie(request, response, secret, accounts.session_hours)
    response.delete_cookie(SSO_COOKIE, path=SSO_PATH)
    return response


@router.get("/logout", response_class=HTMLResponse)
async def logout_page(request: Request, principal: PrincipalDep) -> Response:
    if principal.session_hash is None:
        return RedirectResponse("/login", status_code=303)
    return render_page(
        request,
        "account_form.html",
        {
            "heading": "Sign out",
            "action": "/logout",
            "submit": "Sign out",
            "fields": [],
            "csrf": secrets.csrf_token(principal.session_hash),
        },
    )


@router.post("/logout")
async def logout(request: Request, principal: PrincipalDep) -> Response:
    form = await read_form(request)
    if principal.session_hash is not None:
        check_session_csrf(principal, form)
        await accounts_of(request).sign_out(principal.session_hash)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


SETUP_FIELDS: list[dict[str, Any]] = [
    {"label": "Your name", "name": "name", "type": "text"},
    {
        "label": "Email",
        "name": "email",
        "type": "email",
        "required": True,
        "autocomplete": "username",
    },
    {
        "label": "Password (at least 8 characters)",
        "name": "password",
        "type": "password",
        "required": True,
        "autocomplete": "new-password",
    },
]


async def _check_setup(request: Request, db: DatabaseDep) -> None:
    """The first-run setup is for a person at the server itself, and only until an account
    exists."""
    async with db.read() as session:
        if await service.has_users(session):
            raise NotFound("The first admin exists already: sign in at /login")
    if not is_loopback_client(request):
        raise Forbidden(
            "The first-run setup answers only on this machine (127.0.0.1): open it there, "
            "or run `qai users create EMAIL --admin`"
        )


@router.get("/setup", response_class=HTMLResponse)
async def setup_page(request: Request, db: DatabaseDep) -> HTMLResponse:
    await _check_setup(request, db)
    return _form_page(
        request,
        heading="Make the first admin",
        action="/setup",
        submit="Make the account",
        fields=SETUP_FIELDS,
        intro="QAI has no account yet. The first one is an admin, and owns every project so far.",
    )


@router.post("/setup")
async def setup(request: Request, db: DatabaseDep) -> Response:
    await _check_setup(request, db)
    form = await read_form(request)
    check_double_submit(request, form)
    accounts = accounts_of(request)
    try:
        async with db.session() as session:
            user = await service.create_user(
                session,
                form.get("email", ""),
                password=form.get("password", ""),
                role=Role.ADMIN,
                display_name=form.get("name", ""),
            )
            secret = await accounts.open_session(session, user.id)
    except QaiError as error:
        return _form_page(
            request,
            heading="Make the first admin",
            action="/setup",
            submit="Make the account",
            fields=SETUP_FIELDS,
            error=error.message,
            status_code=error.status,
        )
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(request, response, secret, accounts.session_hours)
    return response


async def _tokens_page(
    request: Request, db: DatabaseDep, principal: Principal, new_token: str = ""
) -> HTMLResponse:
    async with db.read() as session:
        tokens = await service.list_tokens(session, principal.user_id)
    return render_page(
        request,
        "tokens.html",
        {
            "principal": principal,
            "tokens": tokens,
            "new_token": new_token,
            "csrf": secrets.csrf_token(principal.session_hash or ""),
        },
    )


@router.get("/account/tokens", response_class=HTMLResponse)
async def tokens_page(request: Request, db: DatabaseDep, principal: PrincipalDep) -> HTMLResponse:
    return await _tokens_page(request, db, principal)


@router.post("/account/tokens", response_class=HTMLResponse)
async def make_token(request: Request, db: DatabaseDep, principal: PrincipalDep) -> HTMLResponse:
    form = await read_form(request)
    check_session_csrf(principal, form)
    assert principal.user_id is not None  # the middleware let only a signed-in person in
    async with db.session() as session:
        _, token = await service.create_token_for(session, principal.user_id, form.get("name", ""))
    return await _tokens_page(request, db, principal, token)


@router.post("/account/tokens/{token_id}/revoke")
async def revoke_token(
    request: Request, token_id: str, db: DatabaseDep, principal: PrincipalDep
) -> Response:
    form = await read_form(request)
    check_session_csrf(principal, form)
    async with db.session() as session:
        await service.revoke_token(session, token_id, principal.user_id)
    return RedirectResponse("/account/tokens", status_code=303)


SIGNUP_FIELDS: list[dict[str, Any]] = [
    {"label": "Invitation code", "name": "code", "type": "text", "required": True},
    *SETUP_FIELDS,
]


def _signup_page(
    request: Request, code: str, error: str = "", status_code: int = 200
) -> HTMLResponse:
    fields = [dict(field) for field in SIGNUP_FIELDS]
    fields[0]["value"] = code
    return _form_page(
        request,
        heading="Make your account",
        action="/signup",
        submit="Make the account",
        fields=fields,
        error=error,
        status_code=status_code,
        # With the invitation's link: the account can be made through single sign-on instead.
        sso=_sso_button(request, invite=code) if code else None,
    )


@router.get("/signup", response_class=HTMLResponse)
async def signup_page(request: Request, code: str = "") -> HTMLResponse:
    return _signup_page(request, code)


@router.post("/signup")
async def signup(request: Request, db: DatabaseDep) -> Response:
    form = await read_form(request)
    check_double_submit(request, form)
    accounts = accounts_of(request)
    try:
        async with db.session() as session:
            user = await service.sign_up(
                session,
                form.get("code", ""),
                form.get("email", ""),
                form.get("password", ""),
                form.get("name", ""),
            )
            secret = await accounts.open_session(session, user.id)
    except QaiError as error:
        return _signup_page(request, form.get("code", ""), error.message, error.status)
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(request, response, secret, accounts.session_hours)
    return response


@router.get("/preview-auth")
async def preview_auth(request: Request, principal: PrincipalDep, to: str = "") -> Response:
    """Into the preview at address ``to``, for its project's owner or an admin (anyone else:
    404): the preview origin's sign-in path, with a ticket (see qai.accounts.previews)."""
    sign_in: PreviewSignIn | None = request.app.state.preview_sign_in
    if sign_in is None:
        raise NotFound(
            "Previews need no sign-in on this server (QAI_PREVIEW_REQUIRES_SIGN_IN is off): "
            "open the preview's own address"
        )
    return RedirectResponse(await sign_in.ticket_url(principal, to), status_code=303)
