"""Versions made by a person (restore, edit, fork) name that person, and a fork belongs to
whoever made it: with QAI_AUTH=accounts, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx

from qai.db import Database
from tests.accounts.conftest import Person, make_project


async def test_a_fork_belongs_to_who_made_it_and_hand_made_versions_name_them(
    client: httpx.AsyncClient, database: Database, alice: Person, bob: Person
) -> None:
    objects = await make_project(database, alice)
    fragment = f"/api/fragments/{objects.fragment_id}"

    fork = await client.post(f"{fragment}/fork", headers=alice.headers)
    assert fork.status_code == 201, fork.text
    fork_id = fork.json()["id"]
    assert (await client.get(f"/api/projects/{fork_id}", headers=alice.headers)).status_code == 200
    listed = await client.get("/api/projects", headers=alice.headers)
    assert fork_id in [p["id"] for p in listed.json()["items"]]
    # Bob cannot see Alice's fork, nor fork her version himself.
    assert (await client.get(f"/api/projects/{fork_id}", headers=bob.headers)).status_code == 404
    assert (await client.post(f"{fragment}/fork", headers=bob.headers)).status_code == 404

    restored = await client.post(f"{fragment}/restore", headers=alice.headers)
    assert restored.status_code == 201, restored.text
    edited = await client.post(
        f"{fragment}/edit", json={"files": {"a.txt": "by hand"}}, headers=alice.headers
    )
    assert edited.status_code == 201, edited.text
    versions = await client.get(
        f"/api/projects/{objects.project_id}/versions", headers=alice.headers
    )
    authors = {v["origin"]: v["author"] for v in versions.json()["items"]}
    assert authors == {
        "agent": None,
        "restore": "alice <alice@example.com>",
        "edit": "alice <alice@example.com>",
    }
    forked = await client.get(f"/api/projects/{fork_id}/versions", headers=alice.headers)
    assert [v["author"] for v in forked.json()["items"]] == ["alice <alice@example.com>"]
