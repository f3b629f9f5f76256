"""A follow-up sent with a chosen version starts from that version's files (the scripted model
reads them back), on both engines; the version queries answer the same on both."""

from __future__ import annotations

import json

from pydantic_ai.messages import ModelMessage, ModelResponse

from qai.db import create_database
from qai.messages import service as messages
from qai.messages.limits import FragmentLimits
from qai.messages.models import MessageType
from qai.messages.service import FragmentDraft, save_assistant_result
from qai.runs import send
from qai.settings import Settings
from qai.versions import git
from qai.versions import service as versions
from tests.agent.support import (
    StartWorker,
    call,
    create_project,
    fast_runtime,
    last_tool_returns,
    scripted,
    start_worker,
    summary,
    wait_for_answer,
    write,
)

__all__ = ["fast_runtime", "start_worker"]

V1_PAGE = "<h1>version one</h1>"
V2_PAGE = "<h1>version two, edited by hand</h1>"
LIMITS = FragmentLimits(max_bytes=1_000_000, max_files=100, max_file_bytes=500_000)


async def test_a_follow_up_from_a_chosen_version_reads_that_versions_files(
    start_worker: StartWorker,
) -> None:
    runs = 0
    read_back: list[str] = []

    def first_turn(history: list[ModelMessage]) -> ModelResponse:
        nonlocal runs
        runs += 1
        if runs == 1:
            return write({"index.html": V1_PAGE})
        return call("readFiles", files=["index.html"])

    def second_turn(history: list[ModelMessage]) -> ModelResponse:
        if runs == 1:
            return summary("A page.")
        read_back.extend(last_tool_returns(history))
        return write({"extra.js": "1"})

    worker = await start_worker(scripted(first_turn, second_turn, summary("Added a script.")))
    db = worker.database
    project_id, first = await create_project(db, "Build a page")
    v1 = (await wait_for_answer(db, first)).fragment
    assert v1 is not None
    async with db.session() as session:
        _, v2 = await versions.edit(
            session,
            db,
            v1.id,
            {"index.html": V2_PAGE},
            limits=LIMITS,
            preview_url=worker.sandboxes.hosts.url,
        )
    assert v2.number == 2

    async with db.session() as session:
        follow_up = await messages.create_user_message(
            session, project_id, "Add a script", fragment_id=v1.id
        )
    answer = await wait_for_answer(db, follow_up.id)

    assert answer.type is MessageType.RESULT
    assert json.loads(read_back[0]) == [{"path": "index.html", "content": V1_PAGE}]
    assert answer.fragment is not None
    assert answer.fragment.files == {"index.html": V1_PAGE, "extra.js": "1"}
    rows, after = await versions.list_versions(db, project_id, limit=10)
    assert [(row.number, row.origin, row.prompt) for row in rows] == [
        (1, "agent", "Build a page"),
        (2, "edit", None),
        (3, "agent", "Add a script"),
    ]
    assert after is None
    assert (await versions.get_version(db, v1.id)).number == 1


async def test_restore_fork_compare_and_git_history_on_each_engine(settings: Settings) -> None:
    database = create_database(settings)
    try:
        project, _ = await send.create_project(database, "a page", template="web")
        async with database.session() as session:
            first = await save_assistant_result(
                session,
                project.id,
                "Here.",
                FragmentDraft("Page", "http://x", {"index.html": V1_PAGE}),
            )
        assert first.fragment is not None
        v1 = first.fragment.id

        def url(name: str) -> str:
            return f"http://{name}.preview.localhost:8000"

        async with database.session() as session:
            _, v2 = await versions.edit(
                session, database, v1, {"index.html": V2_PAGE}, limits=LIMITS, preview_url=url
            )
        async with database.session() as session:
            restored, v3 = await versions.restore(session, database, v1, preview_url=url)
        assert restored.content == "Restored v1: Page"
        assert (v3.number, v3.origin, v3.based_on_id) == (3, "restore", v1)
        comparison = await versions.compare(database, v2.fragment_id, None)
        assert comparison.against is not None
        assert comparison.against.fragment_id == v1
        assert [(f.path, f.status) for f in comparison.files] == [("index.html", "changed")]
        async with database.session() as session:
            forked = await versions.fork(session, database, v2.fragment_id, preview_url=url)
        rows, _ = await versions.list_versions(database, forked.id, limit=5)
        assert [(r.number, r.origin, r.based_on_id) for r in rows] == [(1, "fork", v2.fragment_id)]
        history = await versions.history(database, project.id)
        assert [h.row.number for h in history] == [1, 2, 3]
        assert [h.files() for h in history] == [
            {"index.html": V1_PAGE},
            {"index.html": V2_PAGE},
            {"index.html": V1_PAGE},
        ]
        repo = git.build_repository(git.commit_specs(history))
        head = repo[repo.refs[git.BRANCH]]
        assert head.message.decode().startswith("Restored v1: Page")
    finally:
        await database.dispose()
