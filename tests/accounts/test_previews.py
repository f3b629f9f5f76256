"""QAI_PREVIEW_REQUIRES_SIGN_IN through a real `qai serve` with accounts: a preview origin lets
in only a browser its project's owner (or an admin) signed in, through QAI's /preview-auth and
a single-use ticket exchanged for a cookie of that one origin; sign-out ends it. Without the
setting a preview stays a capability URL."""

from __future__ import annotations

import asyncio
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from sqlalchemy import update
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from qai.accounts.models import PreviewGrant, Role
from qai.accounts.previews import PREVIEW_COOKIE, SIGN_IN_PATH, _take_cookies
from qai.accounts.repository import AccountReads
from qai.cli.serve import refusal_to_start
from qai.db import Database, create_database
from qai.messages.service import FragmentDraft, save_assistant_result
from qai.runs import send
from qai.runs.models import Run, RunStatus
from qai.sandbox import LocalSandbox, make_sandbox_manager
from qai.settings import Settings
from tests.accounts.conftest import PASSWORD, csrf_of, make_person, make_project
from tests.conftest import ENGINES, create_pg_database, drop_pg_database, pg_url
from tests.live import LiveServer, live_server
from tests.needs import require_bwrap
from tests.sandbox.test_gateway import TEST_SERVER

PAGE = "<!doctype html><title>t</title><h1>Alice's stored app</h1>"
ALICE, BOB, ADMIN = "alice@example.com", "bob@example.com", "admin@example.com"


@dataclass
class Served:
    server: LiveServer
    url: str  # the database's
    data_dir: Path
    fragment_id: str
    project_id: str

    def preview_host(self, name: str) -> str:
        return f"{name}.preview.localhost:{self.server.port}"

    def preview_url(self, name: str) -> str:
        return f"http://{self.preview_host(name)}"


async def _prepare(url: str, data_dir: Path) -> tuple[str, str]:
    """alice, bob and an admin; alice's project with one version."""
    database = create_database(Settings(database_url=url, data_dir=data_dir))
    try:
        alice = await make_person(database, ALICE)
        await make_person(database, BOB)
        await make_person(database, ADMIN, Role.ADMIN)
        project, _ = await send.create_project(
            database, "a page", template="web", owner=alice.user_id
        )
        async with database.session() as session:
            answer = await save_assistant_result(
                session,
                project.id,
                "Here it is.",
                FragmentDraft(
                    title="Alice's page",
                    sandbox_url="(unused)",
                    files={"index.html": PAGE, "app.js": "console.log('alice')"},
                ),
            )
        assert answer.fragment is not None
        return answer.fragment.id, project.id
    finally:
        await database.dispose()


class Browser:
    """A browser's cookies: QAI's (a client on QAI's origin, 127.0.0.1) and one per preview
    origin. Python does not resolve *.localhost, so preview requests go to 127.0.0.1 with
    the preview's Host, as tests/api/test_previews.py does."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.port = served.server.port
        self.qai = httpx.Client(base_url=served.server.url, timeout=30)
        self.cookies: dict[str, str] = {}
        self.set_cookie = ""

    def sign_in(self, email: str) -> None:
        page = self.qai.get("/login")
        response = self.qai.post(
            "/login",
            data={"email": email, "password": PASSWORD, "csrf": csrf_of(page.text), "next": "/"},
            headers={"Origin": self.served.server.url},
        )
        assert response.status_code == 303, response.text

    def sign_out(self) -> None:
        page = self.qai.get("/logout")
        response = self.qai.post(
            "/logout", data={"csrf": csrf_of(page.text)}, headers={"Origin": self.served.server.url}
        )
        assert response.status_code == 303, response.text

    def preview(
        self,
        host: str,
        path: str = "/",
        method: str = "GET",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One request on a preview origin with its cookie, if any; no redirect followed."""
        sent = {"Host": host, **(headers or {})}
        if host in self.cookies:
            sent["Cookie"] = f"{PREVIEW_COOKIE}={self.cookies[host]}"
        return httpx.request(
            method, f"http://127.0.0.1:{self.port}{path}", headers=sent, timeout=60
        )

    def served_page(self, host: str, path: str) -> httpx.Response:
        """``path`` on the preview origin, waited for while its sandbox starts (503)."""
        deadline = time.monotonic() + 60
        while True:
            response = self.preview(host, path)
            if response.status_code != 503 or time.monotonic() > deadline:
                return response
            time.sleep(0.3)

    def entry(self, host: str, path: str = "/") -> str:
        """Where the preview origin sends a browser without its cookie (a path of QAI's)."""
        response = self.preview(host, path)
        assert response.status_code == 303, response.text
        location = response.headers["location"]
        assert location == f"http://localhost:{self.port}/preview-auth?to=" + quote(
            f"http://{host}{path}", safe=""
        )
        return location.removeprefix(f"http://localhost:{self.port}")

    def ticket(self, entry: str) -> str:
        """The preview origin's sign-in address /preview-auth answers for a signed-in owner."""
        response = self.qai.get(entry)
        assert response.status_code == 303, response.text
        location = response.headers["location"]
        assert SIGN_IN_PATH in location, location
        return location

    def exchange(self, location: str, *, frame: bool = False) -> httpx.Response:
        parts = urlsplit(location)
        headers = {"Sec-Fetch-Dest": "iframe" if frame else "document"}
        response = self.preview(parts.netloc, f"{parts.path}?{parts.query}", headers=headers)
        if response.status_code == 303:
            self.set_cookie = response.headers["set-cookie"]
            name, _, rest = self.set_cookie.partition("=")
            assert name == PREVIEW_COOKIE
            self.cookies[parts.netloc] = rest.split(";")[0]
        return response

    def open(self, host: str, path: str = "/", *, frame: bool = False) -> httpx.Response:
        """Open a preview address as a browser does, following every redirect."""
        exchanged = self.exchange(self.ticket(self.entry(host, path)), frame=frame)
        assert exchanged.status_code == 303, exchanged.text
        assert exchanged.headers["location"] == path
        return self.served_page(host, path)


def _database_url(
    request: pytest.FixtureRequest, sqlite_template: Path, data_dir: Path
) -> tuple[str, str | None]:
    if request.param == "sqlite":
        path = data_dir / "qai.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite:///{path}", None
    name = create_pg_database(template=request.getfixturevalue("postgres_template"))
    return pg_url(name), name


@pytest.fixture(scope="module", params=ENGINES)
def served(
    request: pytest.FixtureRequest,
    sqlite_template: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    """A server with QAI_PREVIEW_REQUIRES_SIGN_IN=true, alice's project with a version."""
    require_bwrap()  # the previews run in real sandboxes
    data_dir = tmp_path_factory.mktemp("previews")
    url, pg_name = _database_url(request, sqlite_template, data_dir)
    try:
        fragment_id, project_id = asyncio.run(_prepare(url, data_dir))
        env = {
            "QAI_AUTH": "accounts",
            "QAI_PREVIEW_REQUIRES_SIGN_IN": "true",
            "QAI_ACCESS_LOG": "false",
        }
        with live_server(url, data_dir, **env) as server:
            yield Served(server, url, data_dir, fragment_id, project_id)
    finally:
        if pg_name is not None:
            drop_pg_database(pg_name)


@pytest.fixture
def new_browser(served: Served) -> Iterator[Callable[[], Browser]]:
    """Browsers on the served server, closed at the end of the test."""
    made: list[Browser] = []

    def new() -> Browser:
        made.append(Browser(served))
        return made[-1]

    yield new
    for browser in made:
        browser.qai.close()


def websocket_status(port: int, host: str, cookie: str | None = None) -> str:
    """The status line a websocket handshake for ``host`` is answered with."""
    lines = [
        "GET / HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        *([f"Cookie: {PREVIEW_COOKIE}={cookie}"] if cookie else []),
    ]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return sock.recv(256).decode("latin-1").split("\r\n")[0]


def test_without_its_cookie_a_preview_sends_the_browser_to_sign_in(
    served: Served, new_browser: Callable[[], Browser]
) -> None:
    browser = new_browser()
    host = served.preview_host(served.fragment_id)
    entry = browser.entry(host, "/app.js?x=1")
    # QAI's /preview-auth needs the session: the sign-in page first, then back.
    response = browser.qai.get(entry)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=" + quote(entry, safe="")
    # What is no page load is refused, not redirected: writes and websockets.
    write = browser.preview(host, "/", method="POST")
    assert write.status_code == 403
    assert "Sign in to see this preview" in write.text
    assert " 403 " in websocket_status(served.server.port, host)
    # Nor is a frame: QAI's pages start theirs at /preview-auth, so a frame without the cookie
    # is one whose browser did not keep it, and a redirect would go round and round.
    framed = browser.preview(host, "/", headers={"Sec-Fetch-Dest": "iframe"})
    assert framed.status_code == 403
    assert 'target="_top"' in framed.text
    assert quote(f"http://{host}/", safe="") in framed.text
    # A made-up cookie is no way in.
    browser.cookies[host] = "made-up"
    assert browser.preview(host).status_code == 303
    assert " 403 " in websocket_status(served.server.port, host, "made-up")


def test_the_owner_sees_the_preview_after_the_ticket_and_its_cookie_opens_that_origin_only(
    served: Served, new_browser: Callable[[], Browser]
) -> None:
    browser = new_browser()
    browser.sign_in(ALICE)
    host = served.preview_host(served.fragment_id)
    page = browser.open(host, "/")
    assert page.status_code == 200, page.text[:500]
    assert "Alice's stored app" in page.text
    cookie = browser.set_cookie.lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/" in cookie
    assert "partitioned" not in cookie
    assert "secure" not in cookie  # plain HTTP
    # The address first asked for, path and query, is where the browser ends.
    deep = new_browser()
    deep.sign_in(ALICE)
    assert deep.open(host, "/app.js?v=1&w=%C3%A9").text == "console.log('alice')"
    # Sub-resources carry the cookie too.
    script = browser.preview(host, "/app.js")
    assert script.status_code == 200
    assert script.text == "console.log('alice')"
    # The cookie is of that one origin: the project's address needs its own.
    project_host = served.preview_host(served.project_id)
    browser.cookies[project_host] = browser.cookies[host]
    assert browser.preview(project_host).status_code == 303
    del browser.cookies[project_host]
    aliased = browser.open(project_host, "/")
    assert "Alice's stored app" in aliased.text
    # In a frame (the project page's), the cookie is one a browser keeps for a frame of
    # another site: SameSite=None, Secure (*.localhost is a secure context), Partitioned.
    framed = new_browser()
    framed.sign_in(ALICE)
    assert "Alice's stored app" in framed.open(host, "/", frame=True).text
    cookie = framed.set_cookie.lower()
    assert "samesite=none" in cookie
    assert "secure" in cookie
    assert "partitioned" in cookie


def test_another_member_gets_a_404_and_an_admin_gets_in(
    served: Served, new_browser: Callable[[], Browser]
) -> None:
    host = served.preview_host(served.fragment_id)
    bob = new_browser()
    bob.sign_in(BOB)
    for name in (served.fragment_id, served.project_id):
        refused = bob.qai.get(bob.entry(served.preview_host(name)))
        assert refused.status_code == 404
        assert "No such preview" in refused.text
    # Not a preview address: a 400 that says so.
    wrong = bob.qai.get("/preview-auth", params={"to": "https://example.com/"})
    assert wrong.status_code == 400
    assert "not a preview address" in wrong.text
    admin = new_browser()
    admin.sign_in(ADMIN)
    assert "Alice's stored app" in admin.open(host).text


def _expire_tickets(served: Served) -> None:
    async def expire() -> None:
        database: Database = create_database(
            Settings(database_url=served.url, data_dir=served.data_dir)
        )
        try:
            async with database.session() as session:
                await session.execute(
                    update(PreviewGrant)
                    .where(PreviewGrant.cookie_hash.is_(None))
                    .values(ticket_expires_at=PreviewGrant.created_at)
                )
        finally:
            await database.dispose()

    asyncio.run(expire())


def test_a_replayed_forged_misdirected_or_expired_ticket_is_refused(
    served: Served, new_browser: Callable[[], Browser]
) -> None:
    alice = new_browser()
    alice.sign_in(ALICE)
    host = served.preview_host(served.fragment_id)
    project_host = served.preview_host(served.project_id)
    entry = alice.entry(host)
    # Used once, then never again (another browser replaying the address gets nothing).
    location = alice.ticket(entry)
    assert alice.exchange(location).status_code == 303
    thief = new_browser()
    replayed = thief.exchange(location)
    assert replayed.status_code == 403
    assert "This sign-in link has expired" in replayed.text
    assert host not in thief.cookies
    # A ticket nobody made.
    parts = urlsplit(location)
    forged = location.replace(parse_qs(parts.query)["ticket"][0], "qai-forged-ticket")
    assert thief.exchange(forged).status_code == 403
    # A ticket is for one origin: at another preview's it is refused (and stays unused).
    location = alice.ticket(entry)
    elsewhere = location.replace(host, project_host)
    assert thief.exchange(elsewhere).status_code == 403
    assert thief.exchange(location).status_code == 303
    # A ticket past its minute.
    location = alice.ticket(entry)
    _expire_tickets(served)
    late = new_browser()
    assert late.exchange(location).status_code == 403


# A server the app starts itself: it answers a GET with the Cookie header it was sent, and
# echoes websocket messages (tests/sandbox/test_gateway.py's, which tells its port otherwise).
APP_SERVER = TEST_SERVER.replace(
    'f"hello from port {sys.argv[1]}"', "f\"cookie: {self.headers.get('Cookie', '')}\""
)


def start_app_server(served: Served, port: int) -> None:
    """Start APP_SERVER in the preview's running sandbox (a manager of this process finds the
    server's sandboxes, as `qai sandbox` does)."""

    async def start() -> None:
        settings = Settings(
            database_url=served.url, data_dir=served.data_dir, port=served.server.port
        )
        manager = make_sandbox_manager(settings)
        try:
            sandbox = await manager.get(served.fragment_id)
            assert isinstance(sandbox, LocalSandbox), "the preview's sandbox is not running"
            await sandbox.write_files({"server/app.py": APP_SERVER})
            result = await sandbox.exec(
                f"nohup python3 server/app.py {port} >server/log.txt 2>&1 & "
                f'for i in $(seq 100); do python3 -c "import socket; '
                f"socket.create_connection(('127.0.0.1', {port}))\" 2>/dev/null && exit 0; "
                "sleep 0.05; done; cat server/log.txt; exit 1"
            )
            assert result.ok, result
        finally:
            await manager.shutdown()

    asyncio.run(start())


def test_websockets_and_other_ports_carry_the_cookie_which_never_reaches_the_app(
    served: Served, new_browser: Callable[[], Browser]
) -> None:
    browser = new_browser()
    browser.sign_in(ALICE)
    assert browser.open(served.preview_host(served.fragment_id)).status_code == 200
    start_app_server(served, 9001)
    host = served.preview_host(f"9001-{served.fragment_id}")  # the app's own server
    assert browser.preview(host).status_code == 303  # an origin of its own: its own cookie
    page = browser.open(host)
    assert page.status_code == 200, page.text[:300]
    assert page.text == "cookie: "  # taken off before the request reached the app
    both = new_browser().preview(host, headers={"Cookie": f"theme=dark; {PREVIEW_COOKIE}=x"})
    assert both.status_code == 303  # a wrong cookie alone is no way in
    browser.cookies[host] += "; theme=dark"
    assert browser.preview(host).text == "cookie: theme=dark"  # the app's own cookies pass

    async def echo(cookie: str | None) -> str:
        headers = {"Cookie": f"{PREVIEW_COOKIE}={cookie}"} if cookie else {}
        async with connect(
            f"ws://{host}/ws",
            host="127.0.0.1",
            port=served.server.port,
            proxy=None,
            additional_headers=headers,
        ) as ws:
            await ws.send("ping")
            return str(await ws.recv())

    cookie = browser.cookies[host].split(";")[0]
    assert asyncio.run(echo(cookie)) == "echo:ping"
    with pytest.raises(InvalidStatus):
        asyncio.run(echo(None))


def test_signing_out_ends_the_preview(served: Served, new_browser: Callable[[], Browser]) -> None:
    browser = new_browser()
    browser.sign_in(ALICE)
    host = served.preview_host(served.fragment_id)
    assert browser.open(host).status_code == 200
    browser.sign_out()
    after = browser.preview(host)
    assert after.status_code == 303
    assert "/preview-auth?to=" in after.headers["location"]
    assert " 403 " in websocket_status(served.server.port, host, browser.cookies[host])


def test_without_the_setting_a_preview_is_a_capability_url(
    sqlite_template: Path, tmp_path: Path
) -> None:
    require_bwrap()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copyfile(sqlite_template, data_dir / "qai.db")
    url = f"sqlite:///{data_dir / 'qai.db'}"
    fragment_id, _ = asyncio.run(_prepare(url, data_dir))
    with live_server(url, data_dir, QAI_AUTH="accounts", QAI_ACCESS_LOG="false") as server:
        served = Served(server, url, data_dir, fragment_id, "")
        stranger = Browser(served)  # signed in nowhere
        page = stranger.served_page(served.preview_host(fragment_id), "/")
        assert page.status_code == 200
        assert "Alice's stored app" in page.text
        stranger.sign_in(ALICE)
        to = served.preview_url(fragment_id)
        assert stranger.qai.get("/preview-auth", params={"to": to}).status_code == 404
        stranger.qai.close()


async def test_a_preview_name_leads_to_its_project_owner(database: Database) -> None:
    alice = await make_person(database, ALICE)
    objects = await make_project(database, alice)
    reads = AccountReads(database)
    unused = "http://unused.preview.localhost:8000"
    assert await reads.owner_of_preview(objects.fragment_id, unused) == (True, alice.user_id)
    assert await reads.owner_of_preview(objects.project_id, unused) == (True, alice.user_id)
    # A run's live sandbox, before its version exists: by the preview address it recorded.
    live = "http://live-sandbox.preview.localhost:8000"
    async with database.session() as session:
        await session.execute(
            update(Run)
            .where(Run.id == objects.run_id)
            .values(preview_url=live, status=RunStatus.RUNNING)
        )
    assert await reads.owner_of_preview("live-sandbox", live) == (True, alice.user_id)
    assert await reads.owner_of_preview("nothing-known", unused) == (False, None)


def test_the_preview_cookie_never_reaches_the_app() -> None:
    values, headers = _take_cookies(
        [
            (b"host", b"a.preview.localhost"),
            (b"cookie", b"theme=dark; qai_preview=secret-1; qai_preview=secret-2; cart=3"),
            (b"cookie", b"qai_preview=secret-3"),
        ]
    )
    assert values == ["secret-1", "secret-2", "secret-3"]
    assert headers == [(b"host", b"a.preview.localhost"), (b"cookie", b"theme=dark; cart=3")]


def test_the_setting_without_accounts_refuses_to_start() -> None:
    refusal = refusal_to_start(Settings(auth="none", preview_requires_sign_in=True))
    assert refusal is not None
    assert "QAI_AUTH=accounts" in refusal
    assert refusal_to_start(Settings(auth="accounts", preview_requires_sign_in=True)) is None


def test_the_public_url_is_an_address_of_qais() -> None:
    assert Settings(public_url="https://qai.example.com/").qai_url == "https://qai.example.com"
    assert Settings(port=8123).qai_url == "http://localhost:8123"
    with pytest.raises(ValueError, match="http:// or https://"):
        Settings(public_url="qai.example.com")
