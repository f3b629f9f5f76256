"""Single sign-on through OpenID Connect against a local issuer (tests/fakes/oidc_issuer.py): a
real `qai serve` with QAI_AUTH=accounts and QAI_OIDC_*, the browser's redirects followed with
httpx; and, in process on SQLite and PostgreSQL, the mapping of the issuer's subject to an
account."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from qai.accounts import service
from qai.accounts.models import AuditEntry, OidcIdentity, Role, User
from qai.api import create_app
from qai.context import AppContext
from qai.db import Database, create_database
from qai.settings import Settings, load_settings
from tests.accounts.conftest import PASSWORD
from tests.conftest import free_port
from tests.fakes.oidc_issuer import FakeIssuer, IssuerUser
from tests.live import LiveServer, base_env, live_server
from tests.web.browser import chromium, require_chromium


@dataclass
class Sso:
    """A QAI server whose single sign-on is the fake issuer, and the people it has."""

    server: LiveServer
    issuer: FakeIssuer
    database_url: str
    data_dir: Path
    tokens: dict[str, str]

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.server.url, timeout=30)

    async def rows(self, statement: Any) -> list[Any]:
        database = create_database(Settings(database_url=self.database_url, data_dir=self.data_dir))
        try:
            async with database.read() as session:
                return list((await session.execute(statement)).all())
        finally:
            await database.dispose()


PEOPLE = {
    "known@example.com": Role.MEMBER,
    "disabled@example.com": Role.MEMBER,
    "admin@example.com": Role.ADMIN,
}


async def _make_people(url: str, data_dir: Path) -> dict[str, str]:
    database = create_database(Settings(database_url=url, data_dir=data_dir))
    tokens = {}
    try:
        async with database.session() as session:
            for email, role in PEOPLE.items():
                user = await service.create_user(session, email, password=PASSWORD, role=role)
                _, tokens[email] = await service.create_token_for(session, user.id, "test")
        async with database.session() as session:
            await service.set_disabled(session, "disabled@example.com", True)
    finally:
        await database.dispose()
    return tokens


@pytest.fixture(scope="module")
def issuer() -> Iterator[FakeIssuer]:
    with FakeIssuer() as running:
        yield running


def _start_qai(
    issuer: FakeIssuer, sqlite_template: Path, data_dir: Path, **env: str
) -> Iterator[Sso]:
    database = data_dir / "qai.db"
    shutil.copyfile(sqlite_template, database)
    url = f"sqlite:///{database}"
    with ThreadPoolExecutor(1) as pool:
        tokens = pool.submit(asyncio.run, _make_people(url, data_dir)).result()
    settings = {
        "QAI_AUTH": "accounts",
        "QAI_OIDC_ISSUER": issuer.url,
        "QAI_OIDC_CLIENT_ID": issuer.client_id,
        "QAI_OIDC_CLIENT_SECRET": issuer.client_secret,
        "QAI_ACCESS_LOG": "false",
        **env,
    }
    with live_server(url, data_dir, **settings) as server:
        yield Sso(server, issuer, url, data_dir, tokens)


@pytest.fixture(scope="module")
def qai(
    issuer: FakeIssuer, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Sso]:
    """Single sign-on for people who have an account (QAI_OIDC_ALLOW_SIGNUP off)."""
    yield from _start_qai(issuer, sqlite_template, tmp_path_factory.mktemp("qai-sso"))


@pytest.fixture(scope="module")
def qai_signup(
    issuer: FakeIssuer, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Sso]:
    """Single sign-on that makes an account for a new verified email."""
    data_dir = tmp_path_factory.mktemp("qai-sso-signup")
    yield from _start_qai(issuer, sqlite_template, data_dir, QAI_OIDC_ALLOW_SIGNUP="true")


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


async def through_issuer(
    qai: httpx.AsyncClient, start: str = "/auth/oidc/login", **tamper: str
) -> httpx.Response:
    """What a browser does from QAI's SSO button: to the issuer, which sends it straight back
    to QAI's callback (its address changed by ``tamper``); QAI's answer there."""
    to_issuer = await qai.get(start)
    assert to_issuer.status_code == 303, to_issuer.text
    assert "qai_sso" in to_issuer.headers.get("set-cookie", "")
    async with httpx.AsyncClient(timeout=30) as browser_at_issuer:
        back = await browser_at_issuer.get(to_issuer.headers["location"])
    assert back.status_code == 302, back.text
    callback = back.headers["location"]
    assert callback.startswith(str(qai.base_url).rstrip("/") + "/auth/oidc/callback?")
    return await qai.get(_with_query(callback, **tamper) if tamper else callback)


def assert_refused(response: httpx.Response, status: int, message: str) -> None:
    assert response.status_code == status, response.text
    assert message in response.text
    assert "qai_session=" not in response.headers.get("set-cookie", "")
    assert 'action="/login"' in response.text  # the sign-in page, saying why


async def assert_signed_out(qai: httpx.AsyncClient) -> None:
    assert (await qai.get("/")).status_code == 303


async def test_the_sign_in_page_shows_the_button_and_sso_signs_in_to_that_account(
    qai: Sso,
) -> None:
    qai.issuer.reset(IssuerUser("sub-known", "Known@Example.com", name="Known"))
    async with qai.client() as http:
        token = {"Authorization": f"Bearer {qai.tokens['known@example.com']}"}
        made = await http.post("/api/projects", json={"value": "a todo app"}, headers=token)
        assert made.status_code == 201, made.text
        project_id = made.json()["id"]

        page = await http.get("/login?next=/account/tokens")
        assert "Sign in with SSO" in page.text
        assert 'href="/auth/oidc/login?next=%2Faccount%2Ftokens"' in page.text

        signed_in = await through_issuer(http, "/auth/oidc/login?next=/account/tokens")
        assert signed_in.status_code == 303, signed_in.text
        assert signed_in.headers["location"] == "/account/tokens"
        cookies = signed_in.headers.get_list("set-cookie")
        session = next(c for c in cookies if c.startswith("qai_session="))
        assert "HttpOnly" in session
        assert "samesite=lax" in session.lower()
        # The flow's cookie is spent.
        assert any(c.startswith("qai_sso=") and "Max-Age=0" in c for c in cookies)

        home = await http.get("/")
        assert home.status_code == 200
        assert "known@example.com" in home.text
        assert f"/projects/{project_id}" in home.text

    authorize = qai.issuer.authorize_requests[-1]
    assert authorize["code_challenge_method"] == "S256"
    assert authorize["nonce"]
    assert authorize["state"]
    assert authorize["scope"] == "openid email profile"
    assert qai.issuer.token_requests[-1]["code_verifier"]
    audit = await qai.rows(
        select(AuditEntry.action, AuditEntry.detail).where(AuditEntry.email == "known@example.com")
    )
    assert ("sign-in", "sso") in [tuple(row) for row in audit]
    linked = await qai.rows(select(OidcIdentity.issuer, OidcIdentity.subject))
    assert (qai.issuer.url, "sub-known") in [tuple(row) for row in linked]
    assert qai.issuer.client_secret not in qai.server.log()


async def test_a_wrong_or_missing_state_is_refused(qai: Sso) -> None:
    qai.issuer.reset(IssuerUser("sub-known", "known@example.com"))
    async with qai.client() as http:
        refused = await through_issuer(http, state="forged")
        assert_refused(refused, 400, "state does not match")
        await assert_signed_out(http)
    # A callback in a browser that did not start the sign-in (no flow cookie): refused.
    async with qai.client() as starter, qai.client() as other:
        to_issuer = await starter.get("/auth/oidc/login")
        async with httpx.AsyncClient() as browser_at_issuer:
            back = await browser_at_issuer.get(to_issuer.headers["location"])
        refused = await other.get(back.headers["location"])
        assert_refused(refused, 400, "not started here")
        await assert_signed_out(other)


async def test_denied_consent_is_said_plainly(qai: Sso) -> None:
    qai.issuer.reset(IssuerUser("sub-known", "known@example.com"))
    qai.issuer.deny = True
    async with qai.client() as http:
        assert_refused(await through_issuer(http), 403, "You did not allow the sign-in")
        await assert_signed_out(http)


async def test_an_issuers_error_is_shown_only_to_the_browser_that_started(qai: Sso) -> None:
    qai.issuer.reset(IssuerUser("sub-known", "known@example.com"))
    said = {"error": "temporarily_unavailable", "error_description": "Call 555-0100 now"}
    async with qai.client() as http:
        assert_refused(await through_issuer(http, **said), 400, "refused: Call 555-0100 now")
    # A crafted link to the callback puts no text of its own on QAI's page.
    async with qai.client() as http:
        refused = await http.get("/auth/oidc/callback?" + urlencode(said))
        assert_refused(refused, 400, "not started here")
        assert "555-0100" not in refused.text


@pytest.mark.parametrize(
    "forgery",
    [
        pytest.param({"claims": {"aud": "another-client"}}, id="wrong-audience"),
        pytest.param(
            {"claims": {"aud": ["another-client"], "azp": "qai-test"}},
            id="wrong-audience-our-azp",
        ),
        pytest.param({"claims": {"exp": int(time.time()) - 3600}}, id="expired"),
        pytest.param({"claims": {"iss": "http://127.0.0.1:1"}}, id="wrong-issuer"),
        pytest.param({"claims": {"nonce": "replayed"}}, id="wrong-nonce"),
        pytest.param({"sign_with_stranger": True}, id="bad-signature"),
    ],
)
async def test_id_tokens_that_do_not_check_out_are_refused(
    qai: Sso, forgery: dict[str, Any]
) -> None:
    qai.issuer.reset(IssuerUser("sub-known", "known@example.com"))
    for name, value in forgery.items():
        setattr(qai.issuer, name, value)
    async with qai.client() as http:
        assert_refused(await through_issuer(http), 400, "did not check out")
        await assert_signed_out(http)


async def test_after_the_issuer_rotates_its_key_qai_reads_the_new_one(qai: Sso) -> None:
    qai.issuer.reset(IssuerUser("sub-known", "known@example.com"))
    async with qai.client() as http:
        assert (await through_issuer(http)).status_code == 303  # the first key, read and kept
    qai.issuer.rotate_key()
    async with qai.client() as http:
        signed_in = await through_issuer(http)
        assert signed_in.status_code == 303, signed_in.text
        assert (await http.get("/")).status_code == 200


async def test_an_unverified_email_is_refused(qai: Sso) -> None:
    qai.issuer.reset(IssuerUser("sub-unverified", "known@example.com", email_verified=False))
    async with qai.client() as http:
        assert_refused(await through_issuer(http), 403, "has not verified your email")
        await assert_signed_out(http)


async def test_without_signup_an_unknown_email_is_refused_and_audited(qai: Sso) -> None:
    qai.issuer.reset(IssuerUser("sub-stranger", "stranger@example.com"))
    async with qai.client() as http:
        assert_refused(await through_issuer(http), 403, "no account for stranger@example.com")
        await assert_signed_out(http)
    assert not await qai.rows(select(User.id).where(User.email == "stranger@example.com"))
    failures = await qai.rows(
        select(AuditEntry.detail).where(
            AuditEntry.action == "sign-in.failed", AuditEntry.email == "stranger@example.com"
        )
    )
    assert len(failures) == 1
    assert failures[0][0].startswith("sso: There is no account")


async def test_a_disabled_account_cannot_sign_in_through_sso(qai: Sso) -> None:
    qai.issuer.reset(IssuerUser("sub-disabled", "disabled@example.com"))
    async with qai.client() as http:
        assert_refused(await through_issuer(http), 403, "This account is disabled")
        await assert_signed_out(http)


async def test_an_invitation_makes_the_account_through_sso(qai: Sso) -> None:
    database = create_database(Settings(database_url=qai.database_url, data_dir=qai.data_dir))
    try:
        async with database.session() as session:
            code = await service.create_invite(session, created_by=None, role=Role.MEMBER)
    finally:
        await database.dispose()
    qai.issuer.reset(IssuerUser("sub-invited", "invited@example.com", name="Invited Person"))
    async with qai.client() as http:
        page = await http.get(f"/signup?code={code}")
        start = f"/auth/oidc/login?{urlencode({'invite': code})}"
        assert f'href="{start}"' in page.text
        signed_in = await through_issuer(http, start)
        assert signed_in.status_code == 303, signed_in.text
        assert "invited@example.com" in (await http.get("/")).text
    users = await qai.rows(
        select(User.role, User.password_hash, User.display_name).where(
            User.email == "invited@example.com"
        )
    )
    assert [tuple(row) for row in users] == [("member", None, "Invited Person")]
    # The invitation had one use: another person cannot use it again.
    qai.issuer.reset(IssuerUser("sub-second", "second@example.com"))
    async with qai.client() as http:
        start = f"/auth/oidc/login?{urlencode({'invite': code})}"
        assert_refused(await through_issuer(http, start), 403, "invitation does not work")


async def test_with_signup_a_new_verified_email_gets_a_member_account(qai_signup: Sso) -> None:
    qai_signup.issuer.reset(IssuerUser("sub-new", "new@example.com", name="New Person"))
    async with qai_signup.client() as http:
        signed_in = await through_issuer(http)
        assert signed_in.status_code == 303, signed_in.text
        home = await http.get("/")
        assert home.status_code == 200
        assert "new@example.com" in home.text
        assert (await http.get("/admin")).status_code == 404  # a member, not an admin
    users = await qai_signup.rows(
        select(User.role, User.password_hash).where(User.email == "new@example.com")
    )
    assert [tuple(row) for row in users] == [("member", None)]
    # An unverified email still gets nothing.
    qai_signup.issuer.reset(IssuerUser("sub-other", "other@example.com", email_verified=False))
    async with qai_signup.client() as http:
        assert_refused(await through_issuer(http), 403, "has not verified your email")
    assert not await qai_signup.rows(select(User.id).where(User.email == "other@example.com"))


def test_serve_refuses_an_issuer_without_its_client(tmp_path: Path) -> None:
    env = base_env(
        f"sqlite:///{tmp_path / 'qai.db'}",
        tmp_path / "data",
        QAI_AUTH="accounts",
        QAI_OIDC_ISSUER="https://sso.example.com/realms/team",
        QAI_OIDC_CLIENT_ID="qai",
    )
    done = subprocess.run(
        [sys.executable, "-m", "qai", "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "QAI_OIDC_CLIENT_SECRET" in lines[0]
    assert "QAI_OIDC_CLIENT_ID" not in lines[0]


# --- in process, on SQLite and PostgreSQL ---------------------------------------------------


@pytest.fixture
def settings(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, issuer: FakeIssuer
) -> Settings:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("QAI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("QAI_AUTH", "accounts")
    monkeypatch.setenv("QAI_OIDC_ISSUER", issuer.url)
    monkeypatch.setenv("QAI_OIDC_CLIENT_ID", issuer.client_id)
    monkeypatch.setenv("QAI_OIDC_CLIENT_SECRET", issuer.client_secret)
    return load_settings()


async def test_the_issuers_subject_keeps_the_account_when_the_email_changes(
    client: httpx.AsyncClient, database: Database, issuer: FakeIssuer
) -> None:
    async with database.session() as session:
        await service.create_user(session, "first@example.com", password=PASSWORD)
        await service.create_user(session, "renamed@example.com", password=PASSWORD)
    issuer.reset(IssuerUser("sub-1", "first@example.com"))
    assert (await through_issuer(client)).status_code == 303
    assert "first@example.com" in (await client.get("/")).text

    # The person's email changes at the issuer, even to another account's: still theirs.
    client.cookies.clear()
    issuer.reset(IssuerUser("sub-1", "renamed@example.com"))
    assert (await through_issuer(client)).status_code == 303
    home = (await client.get("/")).text
    assert "first@example.com" in home
    assert "renamed@example.com" not in home

    # Someone else at the issuer with the first email cannot take the linked account.
    client.cookies.clear()
    issuer.reset(IssuerUser("sub-2", "first@example.com"))
    assert_refused(await through_issuer(client), 403, "signs in as another person")
    async with database.read() as session:
        linked = (await session.execute(select(OidcIdentity.subject, OidcIdentity.email))).all()
    assert [tuple(row) for row in linked] == [("sub-1", "renamed@example.com")]


async def test_a_garbled_flow_cookie_or_a_bare_callback_is_a_plain_400(
    client: httpx.AsyncClient,
) -> None:
    for cookie in ("", "not base64!", "bm90IGpzb24", "WzEsMl0"):  # "not json", "[1,2]"
        client.cookies.set("qai_sso", cookie, path="/auth/oidc/")
        response = await client.get("/auth/oidc/callback?code=x&state=y")
        assert_refused(response, 400, "not started here")
    client.cookies.clear()
    assert_refused(await client.get("/auth/oidc/callback"), 400, "not started here")


@asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """QAI's application on ``settings``, in process."""
    context = AppContext.build(settings, role="api")
    app = create_app(context)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
                yield http
    finally:
        await context.close()


async def test_an_issuer_that_does_not_answer_is_a_plain_503(settings: Settings) -> None:
    dead = settings.model_copy(update={"oidc_issuer": f"http://127.0.0.1:{free_port()}"})
    async with served(dead) as http:
        page = await http.get("/login")
        assert "Sign in with SSO" in page.text
        response = await http.get("/auth/oidc/login")
    assert response.status_code == 503, response.text
    assert "did not answer" in response.text


async def test_the_callback_address_is_the_configured_one_or_the_requests(
    settings: Settings,
) -> None:
    async with served(settings) as http:
        to_issuer = await http.get("/auth/oidc/login", headers={"X-Forwarded-Proto": "https"})
        assert "Secure" in to_issuer.headers["set-cookie"]
    sent = parse_qs(urlsplit(to_issuer.headers["location"]).query)
    assert sent["redirect_uri"] == ["https://127.0.0.1/auth/oidc/callback"]
    registered = "https://qai.example.com/auth/oidc/callback"
    async with served(settings.model_copy(update={"oidc_redirect_url": registered})) as http:
        to_issuer = await http.get("/auth/oidc/login")
    assert parse_qs(urlsplit(to_issuer.headers["location"]).query)["redirect_uri"] == [registered]


@pytest.mark.browser
def test_in_a_browser_the_sso_button_signs_in(qai: Sso) -> None:
    require_chromium()
    qai.issuer.reset(IssuerUser("sub-known", "known@example.com"))
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        page.goto(qai.server.url + "/")
        expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
        page.get_by_role("link", name="Sign in with SSO").click()
        expect(page.get_by_role("heading", name="Build something with QAI")).to_be_visible()
        expect(page.get_by_role("link", name="known@example.com")).to_be_visible()
        assert page.url == qai.server.url + "/"
