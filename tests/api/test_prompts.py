"""A prompt or a name with a NUL character is refused with a 400 on both engines (PostgreSQL's text
cannot hold one: it was a 500 there, found by the fuzzer)."""

from __future__ import annotations

import httpx


async def test_a_prompt_with_a_nul_character_is_a_400(client: httpx.AsyncClient) -> None:
    refused = await client.post("/api/projects", json={"value": "a shop\u0000"})
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"] == "BAD_REQUEST"
    assert "NUL" in refused.json()["error"]["message"]
    project = (await client.post("/api/projects", json={"value": "a shop"})).json()
    message = await client.post(
        f"/api/projects/{project['id']}/messages", json={"value": "\u00ab\u0017\u00e0\u0000"}
    )
    assert message.status_code == 400, message.text
    assert "NUL" in message.json()["error"]["message"]


async def test_a_project_name_with_a_nul_character_is_a_400(client: httpx.AsyncClient) -> None:
    project = (await client.post("/api/projects", json={"value": "a shop"})).json()
    renamed = await client.patch(f"/api/projects/{project['id']}", json={"name": "a\u0000b"})
    assert renamed.status_code == 400, renamed.text
    assert "NUL" in renamed.json()["error"]["message"]
