"""Signing in and out, sessions, API tokens, CSRF, throttling, disabled accounts, the first-run
setup: through HTTP on the application with QAI_AUTH=accounts, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from qai.accounts import service
from qai.accounts.models import Invite, Session
from qai.db import Database, utcnow
from tests.accounts.conftest import ORIGIN, PASSWORD, Person, csrf_of, make_project, sign_in


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.text


async def test_the_api_needs_a_credential_and_pages_send_to_login(
    client: httpx.AsyncClient, alice: Person
) -> None:
    assert_error(await client.get("/api/projects"), 401, "UNAUTHORIZED")
    bad = {"Authorization": "Bearer qai_not-a-token"}
    assert_error(await client.get("/api/projects", headers=bad), 401, "UNAUTHORIZED")
    page = await client.get("/projects/abc?tab=code")
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fprojects%2Fabc%3Ftab%3Dcode"
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/api/projects", headers=alice.headers)).status_code == 200


async def test_sign_in_sets_a_strict_session_cookie_and_sign_out_ends_it(
    client: httpx.AsyncClient, alice: Person
) -> None:
    response = await sign_in(client, alice.email)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("qai_session=")
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie  # plain HTTP here; behind HTTPS it is Secure
    home = await client.get("/")
    assert home.status_code == 200
    assert alice.email in home.text
    tokens = await client.get("/account/tokens")
    out = await client.post(
        "/logout", data={"csrf": csrf_of(tokens.text)}, headers={"Origin": ORIGIN}
    )
    assert out.status_code == 303
    assert out.headers["location"] == "/login"
    # The cookie the browser had is revoked on the server, not only deleted from the jar.
    secret = response.cookies["qai_session"]
    client.cookies.set("qai_session", secret)
    assert (await client.get("/")).status_code == 303


async def test_a_session_behind_https_gets_a_secure_cookie(
    client: httpx.AsyncClient, alice: Person
) -> None:
    page = await client.get("/login")
    response = await client.post(
        "/login",
        data={"email": alice.email, "password": PASSWORD, "csrf": csrf_of(page.text)},
        headers={"Origin": ORIGIN, "X-Forwarded-Proto": "https"},
    )
    assert response.status_code == 303
    assert "Secure" in response.headers["set-cookie"]


async def test_wrong_password_is_refused(client: httpx.AsyncClient, alice: Person) -> None:
    response = await sign_in(client, alice.email, "wrong password")
    assert response.status_code == 401
    assert "Wrong email or password" in response.text
    assert "qai_session" not in response.cookies
    assert (await client.get("/")).status_code == 303


async def test_expired_and_revoked_sessions_do_not_work(
    client: httpx.AsyncClient, alice: Person, database: Database
) -> None:
    assert (await sign_in(client, alice.email)).status_code == 303
    assert (await client.get("/")).status_code == 200
    async with database.session() as session:
        await session.execute(update(Session).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert (await client.get("/")).status_code == 303
    assert_error(await client.get("/api/projects"), 401, "UNAUTHORIZED")

    client.cookies.clear()
    assert (await sign_in(client, alice.email)).status_code == 303
    assert (await client.get("/")).status_code == 200
    async with database.session() as session:
        await session.execute(update(Session).values(revoked=True))
    assert (await client.get("/")).status_code == 303


async def test_csrf_cookie_writes_need_an_origin_and_forms_a_token(
    client: httpx.AsyncClient, alice: Person
) -> None:
    assert (await sign_in(client, alice.email)).status_code == 303
    body = {"value": "a todo app"}
    # A cookie-authenticated write that no browser page of QAI's sent: refused.
    assert_error(await client.post("/api/projects", json=body), 403, "FORBIDDEN")
    # From another site: refused by the origin check.
    evil = {"Origin": "http://evil.example"}
    assert_error(await client.post("/api/projects", json=body, headers=evil), 403, "FORBIDDEN")
    created = await client.post("/api/projects", json=body, headers={"Origin": ORIGIN})
    assert created.status_code == 201, created.text
    # A form without its token, or with another's: refused even from QAI's origin.
    for data in ({}, {"csrf": "forged"}):
        response = await client.post("/logout", data=data, headers={"Origin": ORIGIN})
        assert_error(response, 403, "FORBIDDEN")
    response = await client.post("/account/tokens", data={"name": "x"}, headers={"Origin": ORIGIN})
    assert_error(response, 403, "FORBIDDEN")
    # The sign-in form's double-submit token must match its cookie.
    client.cookies.clear()
    await client.get("/login")
    response = await client.post(
        "/login",
        data={"email": alice.email, "password": PASSWORD, "csrf": "forged"},
        headers={"Origin": ORIGIN},
    )
    assert_error(response, 403, "FORBIDDEN")


async def test_wrong_passwords_are_throttled_per_account_and_per_address(
    client: httpx.AsyncClient, alice: Person, bob: Person
) -> None:
    for _ in range(3):  # QAI_LOGIN_MAX_FAILURES=3 in these tests
        assert (await sign_in(client, alice.email, "wrong")).status_code == 401
    throttled = await sign_in(client, alice.email)  # even the right password
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0
    assert "Too many wrong passwords" in throttled.text
    # The same address is throttled for other accounts too.
    assert (await sign_in(client, bob.email)).status_code == 429
    # Another address may still sign in as bob.
    transport = httpx.ASGITransport(app=client._transport.app, client=("10.0.0.9", 5000))  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as other:
        assert (await sign_in(other, bob.email)).status_code == 303
        # ... but not as alice, whose account is throttled wherever the attempts come from.
        assert (await sign_in(other, alice.email)).status_code == 429


async def test_a_disabled_account_can_neither_sign_in_nor_use_its_token(
    client: httpx.AsyncClient, alice: Person, database: Database
) -> None:
    assert (await sign_in(client, alice.email)).status_code == 303
    async with database.session() as session:
        await service.set_disabled(session, alice.email, True)
    assert_error(await client.get("/api/projects", headers=alice.headers), 401, "UNAUTHORIZED")
    assert (await client.get("/")).status_code == 303
    client.cookies.clear()
    assert (await sign_in(client, alice.email)).status_code == 401
    async with database.session() as session:
        await service.set_disabled(session, alice.email, False)
    assert (await client.get("/api/projects", headers=alice.headers)).status_code == 200


async def test_tokens_made_and_revoked_on_the_tokens_page(
    client: httpx.AsyncClient, alice: Person
) -> None:
    assert (await sign_in(client, alice.email)).status_code == 303
    page = await client.get("/account/tokens")
    made = await client.post(
        "/account/tokens",
        data={"name": "laptop", "csrf": csrf_of(page.text)},
        headers={"Origin": ORIGIN},
    )
    assert made.status_code == 200
    token = made.text.split('<code id="new-token">')[1].split("</code>")[0]
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/projects", headers=headers)).status_code == 200
    [revoke_path] = [
        part.split('"')[0] for part in made.text.split('action="')[1:] if "/revoke" in part
    ][-1:]
    revoked = await client.post(
        revoke_path, data={"csrf": csrf_of(page.text)}, headers={"Origin": ORIGIN}
    )
    assert revoked.status_code == 303
    assert_error(await client.get("/api/projects", headers=headers), 401, "UNAUTHORIZED")


async def test_first_run_setup_only_for_a_loopback_client_and_only_once(
    app: FastAPI, database: Database
) -> None:
    before = await make_project(database, None)  # made before accounts: nobody owns it
    remote = httpx.ASGITransport(app=app, client=("192.0.2.7", 4000))
    async with httpx.AsyncClient(transport=remote, base_url=ORIGIN) as http:
        assert_error(await http.get("/setup"), 403, "FORBIDDEN")
        assert_error(await http.post("/setup", data={}), 403, "FORBIDDEN")
    local = httpx.ASGITransport(app=app, client=("127.0.0.1", 4000))
    async with httpx.AsyncClient(transport=local, base_url=ORIGIN) as http:
        page = await http.get("/setup")
        assert page.status_code == 200
        made = await http.post(
            "/setup",
            data={
                "name": "Ada",
                "email": "ada@example.com",
                "password": PASSWORD,
                "csrf": csrf_of(page.text),
            },
            headers={"Origin": ORIGIN},
        )
        assert made.status_code == 303, made.text
        # Signed in as the first admin, who owns what was there before.
        listed = (await http.get("/api/projects")).json()["items"]
        assert [p["id"] for p in listed] == [before.project_id]
        assert_error(await http.get("/setup"), 404, "NOT_FOUND")


async def test_over_a_quota_creating_or_sending_is_a_429_and_saves_nothing(
    client: httpx.AsyncClient, alice: Person, admin: Person, database: Database
) -> None:
    async with database.session() as session:
        user = await service.get_user(session, alice.email)
        user.quota_runs_per_day = 1  # an admin's override; the default is no limit
    made = await client.post("/api/projects", json={"value": "a clock"}, headers=alice.headers)
    assert made.status_code == 201, made.text
    project_id = made.json()["id"]
    refused = await client.post("/api/projects", json={"value": "a clock"}, headers=alice.headers)
    assert_error(refused, 429, "TOO_MANY_REQUESTS")
    assert refused.json()["error"]["message"] == (
        "You have used your 1 runs for today; more at 00:00 UTC"
    )
    assert 0 < int(refused.headers["retry-after"]) <= 86_400
    sent = await client.post(
        f"/api/projects/{project_id}/messages", json={"value": "make it red"}, headers=alice.headers
    )
    assert_error(sent, 429, "TOO_MANY_REQUESTS")
    # Nothing was saved: still one project, with its one message.
    listed = (await client.get("/api/projects", headers=alice.headers)).json()["items"]
    assert [p["id"] for p in listed] == [project_id]
    history = await client.get(f"/api/projects/{project_id}/messages", headers=alice.headers)
    assert len(history.json()["items"]) == 1
    # Another person's quota is their own.
    other = await client.post("/api/projects", json={"value": "a clock"}, headers=admin.headers)
    assert other.status_code == 201


async def test_an_invitation_makes_accounts_until_it_expires_or_is_used_up(
    client: httpx.AsyncClient, admin: Person, database: Database
) -> None:
    made = await client.post("/admin/invites", data={"uses": "1"}, headers=admin.headers)
    assert made.status_code == 200
    link = made.text.split('<code id="invite-link">')[1].split("</code>")[0]
    code = link.split("code=")[1]

    async def sign_up(email: str, invite: str) -> httpx.Response:
        client.cookies.clear()
        page = await client.get(f"/signup?code={invite}")
        assert page.status_code == 200
        return await client.post(
            "/signup",
            data={"code": invite, "email": email, "password": PASSWORD, "csrf": csrf_of(page.text)},
            headers={"Origin": ORIGIN},
        )

    joined = await sign_up("carol@example.com", code)
    assert joined.status_code == 303, joined.text
    assert (await client.get("/")).status_code == 200  # signed in as carol
    # Single use: the second person is refused.
    again = await sign_up("dave@example.com", code)
    assert again.status_code == 400
    assert "expired or been used up" in again.text
    # An expired invitation is refused too.
    async with database.session() as session:
        expired = await service.create_invite(session, created_by=admin.user_id, max_uses=5)
        await session.execute(update(Invite).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert (await sign_up("erin@example.com", expired)).status_code == 400
    async with database.session() as session:
        emails = [user.email for user in await service.list_users(session)]
    assert "carol@example.com" in emails
    assert "dave@example.com" not in emails
    assert "erin@example.com" not in emails
