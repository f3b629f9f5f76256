"""Ownership over the whole surface: every operation of the OpenAPI document, and every page,
whose path names a project, message, fragment or run answers 404 to another member for one of
alice's objects, and works for alice and for an admin. An endpoint added later without the
ownership mechanism (``qai.accounts.ownership``) fails here; so does one whose path names an
object by a parameter the mechanism does not know."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from qai.accounts.ownership import KIND_OF_PARAMETER, SELF_SCOPED_PARAMETERS
from qai.db import Database
from tests.accounts.conftest import Objects, Person, make_project

PARAMETER = re.compile(r"\{([^}]+)\}")
# Streams: answered as a stream for the owner (a 200 that does not end); only the refusal is
# read here. The stream for the owner is tested in tests/api/test_live.py.
STREAMS = ("/events",)
# Path parameters that name no object: what a request for one of alice's objects puts there.
NOT_OBJECTS = {"rest:path": "info/refs"}
# tRPC names its objects in its input, not its path: tested on its own below.
TRPC = "/api/trpc/{procedures}"


def _walk(routes: list[Any], prefix: str) -> Iterator[tuple[str, str]]:
    for route in routes:
        if isinstance(route, APIRoute):
            if prefix + route.path == TRPC:
                continue
            for method in sorted(route.methods - {"HEAD"}):
                yield method, prefix + route.path
        elif hasattr(route, "original_router"):  # FastAPI's included router
            yield from _walk(route.original_router.routes, prefix + route.include_context.prefix)


def operations(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path template) of every route, the pages' included."""
    found = list(_walk(app.routes, ""))
    assert len(found) > 10, found
    # Deletes last: a delete let through must not hide what the others let through.
    return sorted(found, key=lambda operation: operation[0] == "DELETE")


def with_ids(template: str, objects: Objects, owner: Person) -> str:
    """The path of one of ``owner``'s objects."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in SELF_SCOPED_PARAMETERS:
            return str(getattr(owner, name))
        if name in NOT_OBJECTS:
            return NOT_OBJECTS[name]
        assert name in KIND_OF_PARAMETER, (
            f"{template}: the path parameter {{{name}}} is not one the ownership mechanism "
            f"checks ({', '.join(KIND_OF_PARAMETER)}); name it so, or teach "
            "qai.accounts.ownership its kind"
        )
        return str(getattr(objects, name))

    return PARAMETER.sub(fill, template)


async def call(client: httpx.AsyncClient, method: str, path: str, person: Person) -> httpx.Response:
    return await client.request(method, path, headers=person.headers, json={})


@pytest.fixture
async def objects(database: Database, alice: Person) -> Objects:
    return await make_project(database, alice)


def test_the_walk_covers_the_api_and_the_pages(app: FastAPI) -> None:
    named = {path for _, path in operations(app) if PARAMETER.search(path)}
    documented = {path for path in app.openapi()["paths"] if PARAMETER.search(path)}
    assert documented <= named
    assert "/projects/{project_id}" in named  # a page
    assert "/fragments/{fragment_id}/download" in named


async def test_another_member_gets_404_everywhere(
    app: FastAPI, client: httpx.AsyncClient, objects: Objects, alice: Person, bob: Person
) -> None:
    refused_everywhere = []
    for method, template in operations(app):
        if not PARAMETER.search(template):
            continue
        path = with_ids(template, objects, alice)
        response = await call(client, method, path, bob)
        if response.status_code != 404:
            refused_everywhere.append(f"{method} {template}: {response.status_code}")
    assert not refused_everywhere, "reached another user's object:\n" + "\n".join(
        refused_everywhere
    )
    # And nothing changed: alice's project is still there, under its name.
    project = await client.get(f"/api/projects/{objects.project_id}", headers=alice.headers)
    assert project.status_code == 200


async def test_the_owner_and_an_admin_reach_every_read(
    app: FastAPI, client: httpx.AsyncClient, objects: Objects, alice: Person, admin: Person
) -> None:
    for method, template in operations(app):
        if method != "GET" or not PARAMETER.search(template) or template.endswith(STREAMS):
            continue
        path = with_ids(template, objects, alice)
        for person in (alice, admin):
            response = await call(client, method, path, person)
            assert response.status_code != 404, (person.email, template, response.text)
            assert response.status_code < 500, (person.email, template, response.text)


async def test_lists_show_only_ones_own_projects_and_admins_all(
    client: httpx.AsyncClient, database: Database, alice: Person, bob: Person, admin: Person
) -> None:
    mine = await make_project(database, alice)
    theirs = await make_project(database, bob)

    async def listed(person: Person) -> set[str]:
        response = await client.get("/api/projects", headers=person.headers)
        assert response.status_code == 200
        return {item["id"] for item in response.json()["items"]}

    assert await listed(alice) == {mine.project_id}
    assert await listed(bob) == {theirs.project_id}
    assert await listed(admin) >= {mine.project_id, theirs.project_id}
    # The home page's list too.
    home = await client.get("/ui/projects", headers=bob.headers)
    assert theirs.project_id in home.text
    assert mine.project_id not in home.text


async def test_a_project_made_through_the_api_belongs_to_its_maker(
    client: httpx.AsyncClient, alice: Person, bob: Person
) -> None:
    made = await client.post("/api/projects", json={"value": "a clock"}, headers=alice.headers)
    assert made.status_code == 201
    project_id = made.json()["id"]
    assert (await client.get(f"/api/projects/{project_id}", headers=alice.headers)).is_success
    response = await client.get(f"/api/projects/{project_id}", headers=bob.headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


async def test_admin_page_for_admins_only_with_people_usage_and_audit(
    client: httpx.AsyncClient, alice: Person, admin: Person
) -> None:
    made = await client.post("/api/projects", json={"value": "a clock"}, headers=alice.headers)
    project_id = made.json()["id"]
    renamed = await client.patch(
        f"/api/projects/{project_id}", json={"name": "Clock"}, headers=alice.headers
    )
    assert renamed.status_code == 200
    assert (await client.get("/admin", headers=alice.headers)).status_code == 404
    page = await client.get("/admin", headers=admin.headers)
    assert page.status_code == 200
    assert alice.email in page.text
    assert "POST /api/projects" in page.text
    assert "PATCH /api/projects/{project_id}" in page.text
    assert project_id in page.text
    assert alice.token not in page.text
    usage = await client.get("/account/usage", headers=alice.headers)
    assert usage.status_code == 200
    assert 'id="runs-today">1<' in usage.text
    changed = await client.post(
        "/admin/users",
        data={"email": alice.email, "action": "quotas", "runs_per_day": "0"},
        headers=admin.headers,
    )
    assert changed.status_code == 303
    refused = await client.post("/api/projects", json={"value": "x"}, headers=alice.headers)
    assert refused.status_code == 429
    disabled = await client.post(
        "/admin/users", data={"email": alice.email, "action": "disable"}, headers=admin.headers
    )
    assert disabled.status_code == 303
    assert (await client.get("/api/projects", headers=alice.headers)).status_code == 401


async def test_trpc_reaches_only_ones_own_projects(
    client: httpx.AsyncClient, objects: Objects, alice: Person, bob: Person, admin: Person
) -> None:
    """The original's procedures with accounts: another member's project is the original's
    answer for a missing one (NOT_FOUND, or an empty history), and lists are one's own."""

    async def query(person: Person, procedure: str, value: dict[str, str]) -> httpx.Response:
        return await client.get(
            f"/api/trpc/{procedure}",
            params={"input": json.dumps({"json": value})},
            headers=person.headers,
        )

    project = {"id": objects.project_id}
    refused = await query(bob, "projects.getOne", project)
    assert refused.status_code == 404
    assert refused.json()["error"]["json"]["data"]["code"] == "NOT_FOUND"
    history = await query(bob, "messages.getMany", {"projectId": objects.project_id})
    assert history.status_code == 200
    assert history.json()["result"]["data"]["json"] == []
    listed = await query(bob, "projects.getMany", {})
    assert objects.project_id not in listed.text
    for person in (alice, admin):
        assert (await query(person, "projects.getOne", project)).status_code == 200
        mine = await query(person, "messages.getMany", {"projectId": objects.project_id})
        assert len(mine.json()["result"]["data"]["json"]) == 2
    sent = await client.post(
        "/api/trpc/messages.create",
        json={"json": {"value": "make it blue", "projectId": objects.project_id}},
        headers=bob.headers,
    )
    assert sent.status_code == 404, sent.text
    after = await query(alice, "messages.getMany", {"projectId": objects.project_id})
    assert len(after.json()["result"]["data"]["json"]) == 2  # nothing was added
