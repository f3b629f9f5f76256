"""QAI answers its own host names only (DNS rebinding), and writes from its own origin only."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from qai.api import create_app
from qai.context import AppContext
from qai.db import Database
from qai.settings import Settings, SettingsError, load_settings
from tests.api.test_errors import assert_error, count_rows
from tests.live import live_server

EVIL = "evil.example"

Serve = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def serve(settings: Settings) -> AsyncIterator[Serve]:
    """``serve(**settings)``: an in-process client of an app built with these settings on top
    of the test's (its database and data directory), as ``qai serve`` would build it."""
    opened: list[tuple[AppContext, httpx.AsyncClient]] = []

    async def open_client(**overrides: str) -> httpx.AsyncClient:
        context = AppContext.build(load_settings(**overrides), role="api")
        app = create_app(context)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        http = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000")
        opened.append((context, http))
        return http

    yield open_client
    for context, http in opened:
        await http.aclose()
        await context.close()


def assert_misdirected(response: httpx.Response, host: str) -> None:
    error = assert_error(response, 421, "BAD_REQUEST")
    assert repr(host) in error["message"]
    assert "QAI_ALLOWED_HOSTS" in error["message"]


async def test_a_foreign_host_is_refused_on_the_api_and_the_pages(
    client: httpx.AsyncClient, database: Database
) -> None:
    project = (await client.post("/api/projects", json={"value": "a board"})).json()
    evil = {"Host": EVIL}
    assert_misdirected(await client.get("/api/projects", headers=evil), EVIL)
    assert_misdirected(await client.get(f"/api/projects/{project['id']}", headers=evil), EVIL)
    created = await client.post("/api/projects", json={"value": "x"}, headers=evil)
    assert_misdirected(created, EVIL)
    deleted = await client.delete(f"/api/projects/{project['id']}", headers=evil)
    assert_misdirected(deleted, EVIL)
    for page in ("/", f"/projects/{project['id']}", "/ui/projects", "/openapi.json", "/metrics"):
        assert_misdirected(await client.get(page, headers=evil), EVIL)
    with_port = f"{EVIL}:8000"
    assert_misdirected(await client.get("/api/projects", headers={"Host": with_port}), with_port)
    # Nothing was created or deleted: the project and its first message are all there is.
    assert await count_rows(database) == (1, 1)
    assert (await client.get(f"/api/projects/{project['id']}")).status_code == 200


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.0.0.1:8000",
        "localhost",
        "localhost:8000",
        "LocalHost:9999",
        "localhost.",
        "[::1]",
        "[::1]:8000",
    ],
)
async def test_qai_s_own_names_are_answered_on_any_port(
    client: httpx.AsyncClient, host: str
) -> None:
    assert (await client.get("/api/projects", headers={"Host": host})).status_code == 200
    created = await client.post("/api/projects", json={"value": "x"}, headers={"Host": host})
    assert created.status_code == 201, created.text


@pytest.mark.parametrize(
    "host",
    [
        "localhost.evil.example",
        "127.0.0.1.evil.example",
        "foo.localhost",  # not a preview address: the preview middleware did not take it
        "192.168.1.5",  # an address QAI does not listen on
        "127.0.0.1:8000:1",
        "[::1",
        "localhost:port",
    ],
)
async def test_lookalike_and_malformed_hosts_are_refused(
    client: httpx.AsyncClient, host: str
) -> None:
    assert_error(await client.get("/api/projects", headers={"Host": host}), 421, "BAD_REQUEST")


async def test_healthz_answers_any_host_for_load_balancers(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz", headers={"Host": EVIL})).status_code == 200
    assert_misdirected(await client.get("/readyz", headers={"Host": EVIL}), EVIL)


async def test_allowed_hosts_setting_adds_names(serve: Serve) -> None:
    http = await serve(allowed_hosts="qai.example.com, Other.Example.")
    for host in ("qai.example.com", "qai.example.com:443", "other.example", "localhost:8000"):
        response = await http.get("/api/projects", headers={"Host": host})
        assert response.status_code == 200, (host, response.text)
    assert_misdirected(await http.get("/api/projects", headers={"Host": EVIL}), EVIL)


async def test_a_wildcard_bind_answers_addresses_but_not_names(serve: Serve) -> None:
    http = await serve(host="0.0.0.0")
    for host in ("192.168.1.5:8000", "10.0.0.7", "[fe80::1]:8000", "localhost"):
        assert (await http.get("/api/projects", headers={"Host": host})).status_code == 200, host
    assert_misdirected(await http.get("/api/projects", headers={"Host": EVIL}), EVIL)


async def test_a_specific_bind_address_is_answered(serve: Serve) -> None:
    http = await serve(host="10.1.2.3")
    assert (await http.get("/api/projects", headers={"Host": "10.1.2.3:8000"})).status_code == 200
    assert_error(await http.get("/api/projects", headers={"Host": "10.1.2.4"}), 421, "BAD_REQUEST")


@pytest.mark.parametrize("value", ["http://qai.example.com", "qai.example.com:443", "a/b", "a b"])
def test_allowed_hosts_must_be_plain_names(value: str) -> None:
    with pytest.raises(SettingsError, match="QAI_ALLOWED_HOSTS"):
        load_settings(allowed_hosts=value)


# --- writes and their origin ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "said"),
    [
        ({"Origin": "http://evil.example"}, "another site"),
        ({"Origin": "http://localhost:3000"}, "another site"),  # another origin on the machine
        ({"Origin": "https://127.0.0.1:8000.evil.example"}, "another site"),
        ({"Origin": "http://site.preview.localhost:8000"}, "a preview"),
        ({"Origin": "http://3001-site.preview.localhost:8000"}, "a preview"),
        ({"Origin": "null"}, "opaque origin"),
        ({"Sec-Fetch-Site": "cross-site"}, "Sec-Fetch-Site: cross-site"),
        ({"Sec-Fetch-Site": "same-site"}, "Sec-Fetch-Site: same-site"),
        (
            {"Origin": "http://127.0.0.1:8000", "Sec-Fetch-Site": "cross-site"},
            "Sec-Fetch-Site: cross-site",
        ),
    ],
)
async def test_writes_from_other_origins_are_refused(
    client: httpx.AsyncClient, database: Database, headers: dict[str, str], said: str
) -> None:
    project = (await client.post("/api/projects", json={"value": "a board"})).json()
    url = f"/api/projects/{project['id']}"
    attempts = [
        await client.post("/api/projects", json={"value": "x"}, headers=headers),
        await client.post(f"{url}/messages", json={"value": "x"}, headers=headers),
        await client.patch(url, json={"name": "owned"}, headers=headers),
        await client.delete(url, headers=headers),
        await client.put(url, json={}, headers=headers),
    ]
    for response in attempts:
        error = assert_error(response, 403, "FORBIDDEN")
        assert said in error["message"], error["message"]
    assert await count_rows(database) == (1, 1)
    assert (await client.get(url)).json()["name"] == project["name"]
    # Reads are not writes: another origin cannot read them (no CORS headers), only load them.
    assert (await client.get(url, headers=headers)).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},  # the CLI, the Python client, curl
        {"Origin": "http://127.0.0.1:8000"},
        {"Origin": "http://127.0.0.1:8000", "Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},  # typed into the address bar or a bookmark
    ],
)
async def test_writes_from_qai_s_own_origin_and_from_non_browsers_go_through(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    created = await client.post("/api/projects", json={"value": "a board"}, headers=headers)
    assert created.status_code == 201, created.text
    url = f"/api/projects/{created.json()['id']}"
    renamed = await client.patch(url, json={"name": "Board"}, headers=headers)
    assert renamed.status_code == 200, renamed.text
    assert (await client.delete(url, headers=headers)).status_code == 204


async def test_same_origin_is_the_host_the_request_was_sent_to(client: httpx.AsyncClient) -> None:
    headers = {"Host": "localhost:8000", "Origin": "http://localhost:8000"}
    assert (await client.post("/api/projects", json={"value": "x"}, headers=headers)).is_success
    headers = {"Host": "localhost:8000", "Origin": "http://127.0.0.1:8000"}
    refused = await client.post("/api/projects", json={"value": "x"}, headers=headers)
    assert_error(refused, 403, "FORBIDDEN")


async def test_pages_on_allowed_hosts_may_write_through_a_proxy(serve: Serve) -> None:
    """Behind a proxy that sends its own Host upstream, the page's origin is an allowed name."""
    http = await serve(allowed_hosts="qai.example.com")
    headers = {"Origin": "https://qai.example.com", "Sec-Fetch-Site": "same-origin"}
    created = await http.post("/api/projects", json={"value": "x"}, headers=headers)
    assert created.status_code == 201, created.text
    refused = await http.post(
        "/api/projects", json={"value": "x"}, headers={"Origin": "https://evil.example"}
    )
    assert_error(refused, 403, "FORBIDDEN")


# --- through a real server ---------------------------------------------------------------------


def raw_request(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_hosts_and_origins_through_a_real_server(database_url: str, tmp_path: Path) -> None:
    with live_server(
        database_url, tmp_path / "data", QAI_ALLOWED_HOSTS="qai.example.com"
    ) as server:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            project = http.post("/api/projects", json={"value": "a board"}).json()
            url = f"/api/projects/{project['id']}"
            evil = {"Host": EVIL}
            assert_misdirected(http.get("/api/projects", headers=evil), EVIL)
            assert_misdirected(http.post("/api/projects", json={"value": "x"}, headers=evil), EVIL)
            assert_misdirected(http.delete(url, headers=evil), EVIL)
            assert_misdirected(http.get("/", headers=evil), EVIL)
            assert_misdirected(http.get(f"/projects/{project['id']}", headers=evil), EVIL)
            assert http.get("/healthz", headers=evil).status_code == 200
            for host in (f"localhost:{server.port}", "qai.example.com", f"[::1]:{server.port}"):
                assert http.get("/api/projects", headers={"Host": host}).status_code == 200
                assert http.get("/", headers={"Host": host}).status_code == 200

            origin = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
            assert_error(http.delete(url, headers=origin), 403, "FORBIDDEN")
            preview = {"Origin": f"http://{project['id']}.preview.localhost:{server.port}"}
            assert_error(http.patch(url, json={"name": "x"}, headers=preview), 403, "FORBIDDEN")
            own = {"Origin": server.url, "Sec-Fetch-Site": "same-origin"}
            assert http.patch(url, json={"name": "Board"}, headers=own).status_code == 200
            assert http.get(url).json()["name"] == "Board"

        # HTTP/1.0 has no Host header: no browser sends such a request, so it is answered.
        answer = raw_request(server.port, b"GET /api/projects HTTP/1.0\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        answer = raw_request(
            server.port, b"GET /api/projects HTTP/1.0\r\nHost: evil.example\r\n\r\n"
        )
        assert answer.startswith(b"HTTP/1.1 421"), answer[:200]
        assert b"Traceback" not in server.log().encode()
