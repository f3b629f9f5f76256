"""A follow-up sent with a chosen version starts from that version's files (the scripted model
reads them back), on both engines; the version queries answer the same on both."""

from __future__ import annotations

import json

from pydantic_ai.messages import ModelMessage, ModelResponse

from qai.messages import service as messages
from qai.messages.limits import FragmentLimits
from qai.messages.models import MessageType
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
