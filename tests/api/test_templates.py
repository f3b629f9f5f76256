"""A template whose dependencies are not installed is not offered, and not accepted: the
picker says how to prepare it, the API refuses it with a 400 that says the same, and no run
is started to fail on it."""

from __future__ import annotations

import re

import httpx
import pytest

from qai.settings import Settings
from tests.needs import mark_prepared

OPTION = re.compile(r"<option ([^>]*)>([^<]*)</option>")


def options(page: str) -> dict[str, tuple[str, str]]:
    """value -> (attributes, label) of the template picker's options."""
    found = {}
    for attributes, label in OPTION.findall(page):
        value = re.search(r'value="([^"]+)"', attributes)
        assert value is not None
        found[value.group(1)] = (attributes, label)
    return found


async def test_an_unprepared_template_is_refused_with_how_to_prepare_it(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/projects", json={"value": "a shop", "template": "nextjs"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "BAD_REQUEST"
    assert "The nextjs template is not prepared on this server" in error["message"]
    assert "`qai sandbox prepare nextjs`" in error["message"]
    assert error["requestId"]
    assert (await client.get("/api/projects")).json()["items"] == []


async def test_the_default_template_is_checked_too(
    client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "default_template", "nextjs")
    response = await client.post("/api/projects", json={"value": "a shop"})
    assert response.status_code == 400
    assert "not prepared" in response.json()["error"]["message"]


async def test_the_picker_offers_only_prepared_templates_and_says_how(
    client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "default_template", "nextjs")
    page = (await client.get("/")).text
    picker = options(page)
    assert "disabled" in picker["nextjs"][0]
    assert picker["nextjs"][1] == "Next.js (not prepared)"
    assert "selected" in picker["web"][0]  # the default is not offered: web is chosen
    assert "<code>qai sandbox prepare nextjs</code>" in page
    assert "<code>.venv/bin/qai sandbox prepare nextjs</code>" in page

    mark_prepared(settings.data_dir, "nextjs")
    page = (await client.get("/")).text
    picker = options(page)
    assert "disabled" not in picker["nextjs"][0]
    assert "selected" in picker["nextjs"][0]
    assert picker["nextjs"][1] == "Next.js"
    assert "sandbox prepare" not in page
    created = await client.post("/api/projects", json={"value": "a shop", "template": "nextjs"})
    assert created.status_code == 201
