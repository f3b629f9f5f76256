"""Numbers out of range are a 400, never a 500; HTML pieces carry the pages' headers; no page QAI
serves loads anything from a CDN."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import httpx
import pytest

from qai.db import Database
from qai.live.router import EVENT_ID_MAX
from qai.web._router import CONTENT_SECURITY_POLICY
from tests.api.test_errors import assert_error
from tests.live import live_server
from tests.web.conftest import answer, make_project

HUGE = [
    str(2**63),
    str(2**64 + 1),
    "9" * 40,
    "9" * 5000,  # past Python's default limit for converting a string to an int
    "-1",
    "+1",
    "1e3",
    "0x10",
    " 1",
    "\uff11",  # a fullwidth 1: str.isdigit() says yes, the database would not
    "\u00b2",  # a superscript 2: str.isdigit() says yes, int() does not
    "\u0661\u0662",  # Arabic-Indic 12
]
# A limit is validated as an integer: "+1" and " 1" are the number 1, so not out of range.
OUT_OF_RANGE_LIMITS = [value for value in HUGE if value not in ("+1", " 1")]


def cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize("value", HUGE)
async def test_event_ids_out_of_range_are_a_400(client: httpx.AsyncClient, value: str) -> None:
    project = (await client.post("/api/projects", json={"value": "a board"})).json()
    url = f"/api/projects/{project['id']}/events"
    error = assert_error(await client.get(url, params={"after": value}), 400, "BAD_REQUEST")
    assert error["issues"][0]["path"] == ["after"]
    assert str(EVENT_ID_MAX) in error["message"]
    if value.isascii() and value.isprintable() and value == value.strip():
        error = assert_error(
            await client.get(url, headers={"Last-Event-ID": value}), 400, "BAD_REQUEST"
        )
        assert error["issues"][0]["path"] == ["Last-Event-ID"]


@pytest.mark.parametrize("value", OUT_OF_RANGE_LIMITS)
async def test_limits_out_of_range_are_a_400(client: httpx.AsyncClient, value: str) -> None:
    project = (await client.post("/api/projects", json={"value": "a board"})).json()
    for path in (
        "/api/projects",
        f"/api/projects/{project['id']}/messages",
        f"/api/projects/{project['id']}/runs",
    ):
        response = await client.get(path, params={"limit": value})
        assert_error(response, 400, "BAD_REQUEST")
    for value_ in ("0", "201"):
        assert_error(
            await client.get("/api/projects", params={"limit": value_}), 400, "BAD_REQUEST"
        )


@pytest.mark.parametrize("value", [str(2**31), str(2**62), *OUT_OF_RANGE_LIMITS])
async def test_version_numbers_out_of_range_are_a_400(
    client: httpx.AsyncClient, value: str
) -> None:
    """A version number is a 32-bit column: a larger ``after`` is refused, not sent to it."""
    project = (await client.post("/api/projects", json={"value": "a board"})).json()
    url = f"/api/projects/{project['id']}/versions"
    error = assert_error(await client.get(url, params={"after": value}), 400, "BAD_REQUEST")
    assert error["issues"][0]["path"][-1] == "after"
    assert (await client.get(url, params={"after": str(2**31 - 1)})).status_code == 200


async def test_a_fragment_id_with_a_nul_is_a_fragment_that_does_not_exist(
    client: httpx.AsyncClient,
) -> None:
    """PostgreSQL's text cannot hold a NUL: such a fragmentId is answered, never sent to it."""
    project = (await client.post("/api/projects", json={"value": "a board"})).json()
    url = f"/api/projects/{project['id']}/messages"
    sent = await client.post(url, json={"value": "make it blue", "fragmentId": "a\u0000b"})
    assert_error(sent, 404, "NOT_FOUND")
    history = (await client.get(url)).json()["items"]
    assert [m["content"] for m in history if m["role"] == "USER"] == ["a board"]  # nothing saved


@pytest.mark.parametrize(
    "raw",
    [
        "9999-12-31T23:59:59.999-23:59|x",  # past the largest date once in UTC
        "0001-01-01T00:00:00+23:59|x",  # before the smallest
        "9999-12-31T23:59:59.999999|x",
        "0001-01-01T00:00:00|x",
        "2026-01-01T00:00:00|" + "9" * 5000,
    ],
)
async def test_cursors_at_the_ends_of_time_are_no_500(
    client: httpx.AsyncClient, database: Database, raw: str
) -> None:
    project = await make_project(database)
    token = cursor(raw)
    for path, params in (
        ("/api/projects", {"cursor": token}),
        (f"/api/projects/{project.id}/messages", {"cursor": token}),
        (f"/api/projects/{project.id}/messages", {"before": token}),
        (f"/api/projects/{project.id}/runs", {"cursor": token}),
        ("/ui/projects", {"cursor": token}),
        (f"/ui/projects/{project.id}/messages", {"before": token}),
        (f"/ui/projects/{project.id}/messages", {"after": token}),
        ("/", {"cursor": token}),
    ):
        response = await client.get(path, params=params)
        assert response.status_code in (200, 400), (path, raw, response.text[:300])


async def test_html_pieces_carry_the_pages_headers(
    client: httpx.AsyncClient, database: Database
) -> None:
    project = await make_project(database)
    message = await answer(database, project.id)
    assert message.fragment is not None
    fragment_id = message.fragment.id
    for path in (
        "/ui/projects",
        f"/ui/projects/{project.id}/messages",
        f"/ui/fragments/{fragment_id}/workspace",
        f"/ui/fragments/{fragment_id}/file?path=app.js",
    ):
        response = await client.get(path)
        assert response.status_code == 200, (path, response.text)
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["cache-control"] == "no-store", path
    css = await client.get("/ui/highlight.css")
    assert css.headers["x-content-type-options"] == "nosniff"


async def test_no_docs_page_loads_scripts_from_a_cdn(
    client: httpx.AsyncClient, database: Database
) -> None:
    """FastAPI's /docs and /redoc load Swagger UI and ReDoc from a CDN: they are not served;
    the schema is."""
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert_error(await client.get(path), 404, "NOT_FOUND")
    assert (await client.get("/openapi.json")).json()["info"]["title"] == "QAI"
    project = await make_project(database)
    message = await answer(database, project.id)
    assert message.fragment is not None
    pages = ["/", f"/projects/{project.id}", f"/projects/{project.id}?tab=code", "/ui/projects"]
    for path in pages:
        html = (await client.get(path)).text
        sources = re.findall(r"""(?:src|href)=["']([^"']+)""", html)
        assert sources, path
        loaded = [
            source
            for source in sources
            if re.match(r"(https?:)?//", source)
            and not re.match(r"https?://[^/]+\.preview\.localhost:8000$", source)  # the preview
            and source != "https://ollama.com"  # a link on the home page, not loaded
        ]
        assert not loaded, (path, loaded)
        assert "cdn" not in html.lower(), path


def test_numbers_through_a_real_server(database_url: str, tmp_path: Path) -> None:
    with (
        live_server(database_url, tmp_path / "data") as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        project = http.post("/api/projects", json={"value": "a board"}).json()
        url = f"/api/projects/{project['id']}/events"
        for value in (str(2**64), "9" * 5000, "-1"):
            assert_error(http.get(url, params={"after": value}), 400, "BAD_REQUEST")
            assert_error(http.get(url, headers={"Last-Event-ID": value}), 400, "BAD_REQUEST")
            assert_error(http.get("/api/projects", params={"limit": value}), 400, "BAD_REQUEST")
        # The largest event id is a valid one: the stream opens, with nothing after it yet.
        with http.stream("GET", url, params={"after": str(EVENT_ID_MAX)}) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
        piece = http.get("/ui/projects")
        assert piece.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert piece.headers["x-content-type-options"] == "nosniff"
        assert http.get("/docs").status_code == 404
        assert "Traceback" not in server.log(), server.log()[-4000:]
