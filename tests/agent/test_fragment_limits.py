"""A version keeps a bounded set of text files: a run's collect step leaves out binary files,
oversized files and files past the version's total or count, the answer says which, and the
live event of the answer carries no files."""

from __future__ import annotations

import json

from pydantic_ai.models.function import FunctionModel
from sqlalchemy import Text, cast, func, select

from qai.live.models import Event
from qai.messages.limits import FragmentLimits, LeftOut, keep_within, left_out_note
from qai.messages.models import MessageType
from tests.agent.support import (
    StartWorker,
    call,
    create_project,
    events_of,
    scripted,
    summary,
    wait_for_answer,
    write,
)

PAGE = "<!doctype html><title>Notes</title><h1>Notes</h1>"
SMALL = {f"z{n}.txt": f"note {n}" for n in range(10)}
PARTS = {"part1.txt": "p" * 1500, "part2.txt": "q" * 1500, "part3.txt": "r" * 1500}


async def test_a_version_keeps_what_fits_and_the_answer_says_what_was_left_out(
    start_worker: StartWorker,
) -> None:
    model = scripted_run()
    worker = await start_worker(
        model, fragment_max_files=6, fragment_max_bytes=4096, fragment_max_file_bytes=2048
    )
    db = worker.database
    project_id, message_id = await create_project(db, "Build a notes page")

    answer = await wait_for_answer(db, message_id)

    assert answer.type is MessageType.RESULT, answer.content
    assert answer.fragment is not None
    assert answer.fragment.files == {
        "index.html": PAGE,
        "part1.txt": PARTS["part1.txt"],
        "part2.txt": PARTS["part2.txt"],
        "z0.txt": "note 0",
        "z1.txt": "note 1",
        "z2.txt": "note 2",
    }
    note = answer.content.split("Note: ", 1)[1]
    assert note.startswith("12 files were left out of this version")
    assert "binary (not UTF-8 text): `blob.bin`, `latin1.txt`" in note
    assert "larger than 2 KiB each: `a-grown.txt`, `b-wide.txt`" in note
    assert "past the version's total of 4 KiB: `part3.txt`" in note
    assert "past the version's 6 files: `z3.txt`, `z4.txt`, `z5.txt`, `z6.txt`, `z7.txt`" in note
    assert "and 2 more" in note

    events = await events_of(db, project_id)
    created = [event for event in events if event.kind == "message.created"]
    assert created[-1].data["id"] == answer.id
    assert created[-1].data["fragment"]["files"] == {}
    assert created[-1].data["fragment"]["filesOmitted"] is True
    assert created[-1].data["fragment"]["id"] == answer.fragment.id
    async with db.read() as session:
        largest = (
            await session.execute(select(func.max(func.length(cast(Event.data, Text)))))
        ).scalar()
    assert largest is not None
    assert largest < 4096, "an event row holds a version's files"
    assert all(len(json.dumps(event.data)) < 4096 for event in events)


async def test_a_run_whose_files_are_all_left_out_answers_with_an_error(
    start_worker: StartWorker,
) -> None:
    model = scripted(
        write({"app.bin": "x"}),
        call("terminal", command="head -c 2000000 /dev/zero > app.bin"),
        summary("An app."),
    )
    worker = await start_worker(model)
    db = worker.database
    _, message_id = await create_project(db, "Build an app")

    answer = await wait_for_answer(db, message_id)

    assert answer.type is MessageType.ERROR
    assert "none of them could be kept" in answer.content
    assert "larger than 1 MiB each: `app.bin`" in answer.content


def test_the_limits_apply_in_path_order() -> None:
    limits = FragmentLimits(max_bytes=10, max_files=2, max_file_bytes=6)
    kept = keep_within({"c": "ccc", "a": "aaaaaa", "b": "bbbbbbb", "d": "d\x00", "e": "é"}, limits)
    assert kept.files == {"a": "aaaaaa", "c": "ccc"}
    assert kept.left_out == (
        ("b", LeftOut.FILE_TOO_LARGE),
        ("d", LeftOut.TOO_MANY_FILES),
        ("e", LeftOut.TOO_MANY_FILES),
    )
    assert left_out_note((), limits) is None
    assert left_out_note(kept.left_out, limits) == (
        "Note: 3 files were left out of this version, so the code view and the next version "
        "do not have them — larger than 6 bytes each: `b`; past the version's 2 files: `d`, `e`."
    )


def scripted_run() -> FunctionModel:
    commands = " && ".join(
        [
            "head -c 3000000 /dev/zero > a-grown.txt",
            "printf 'a\\000b' > blob.bin",
            "printf '\\351t\\351' > latin1.txt",
        ]
    )
    return scripted(
        write(
            {
                "index.html": PAGE,
                "a-grown.txt": "small for now",
                "b-wide.txt": "w" * 3000,
                "blob.bin": "x",
                "latin1.txt": "x",
                **PARTS,
                **SMALL,
            }
        ),
        call("terminal", command=commands),
        summary("A notes page."),
    )
