"""`qai versions ...` and the client's version verbs against a real server process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qai.client import ApiError, Client
from tests.api.test_live import qai
from tests.live import live_server
from tests.versions.support import seed_project


def test_versions_from_the_command_line_and_the_client(database_url: str, tmp_path: Path) -> None:
    project_id, v1 = seed_project(database_url, tmp_path / "data", {"index.html": "<h1>one</h1>"})
    local = tmp_path / "page.html"
    local.write_text("<h1>two</h1>\n")
    with live_server(database_url, tmp_path / "data") as server:
        edited = qai(
            "versions", "edit", v1, "--put", f"index.html={local}", "--put",
            f"extra.css={local}", "--json", url=server.url,
        )  # fmt: skip
        assert edited.returncode == 0, edited.stderr
        v2 = json.loads(edited.stdout)["fragment"]
        assert v2["version"]["number"] == 2
        assert v2["files"] == {"index.html": "<h1>two</h1>\n", "extra.css": "<h1>two</h1>\n"}

        deleted = qai("versions", "edit", v2["id"], "--delete", "extra.css", url=server.url)
        assert deleted.returncode == 0, deleted.stderr
        assert deleted.stdout.startswith("made v3 (")

        restored = qai("versions", "restore", v1, url=server.url)
        assert restored.stdout.startswith("made v4 ("), restored.stderr
        assert "Restored v1" in restored.stdout

        table = qai("versions", "list", project_id, url=server.url).stdout
        for number, origin in ((1, "agent"), (2, "edit"), (3, "edit"), (4, "restore")):
            assert f"v{number}" in table
            assert origin in table
        listed = json.loads(qai("versions", "list", project_id, "--json", url=server.url).stdout)
        assert [v["origin"] for v in listed["items"]] == ["agent", "edit", "edit", "restore"]

        forked = qai("versions", "fork", v2["id"], "--json", url=server.url)
        assert json.loads(forked.stdout)["name"].endswith("(fork)")

        bad = qai("versions", "edit", v1, "--put", "../x=" + str(local), url=server.url)
        assert bad.returncode == 1
        assert "BAD_REQUEST" in bad.stderr
        unreadable = qai("versions", "edit", v1, "--put", "a.txt=/nope", url=server.url)
        assert unreadable.returncode == 2
        assert "cannot read /nope" in unreadable.stderr
        missing = qai("versions", "restore", "nope", url=server.url)
        assert missing.returncode == 1
        assert "NOT_FOUND" in missing.stderr

        with Client(server.url) as client:
            page = client.list_versions(project_id)
            assert [v.number for v in page.items] == [1, 2, 3, 4]
            again = client.restore(v2["id"])
            assert again.fragment is not None
            assert again.fragment.version.number == 5
            made = client.edit(v1, {"index.html": "<h1>three</h1>"})
            assert made.fragment is not None
            assert made.fragment.files["index.html"] == "<h1>three</h1>"
            project = client.fork(v1)
            assert client.list_versions(project.id).items[0].origin == "fork"
            # A follow-up from a chosen version names it; one of another project is refused.
            sent = client.send_message(project_id, "make it blue", fragment_id=v1)
            assert sent.content == "make it blue"
            with pytest.raises(ApiError) as caught:
                client.send_message(project.id, "and green", fragment_id=v1)
            assert caught.value.status == 400
