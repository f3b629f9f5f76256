"""The code agent with scripted models (FunctionModel) on the real database and real sandboxes:
runs as `qai worker` runs them, durable steps included."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import pytest
from dbos import DBOS
from dbos._error import DBOSNonExistentWorkflowError
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models.function import AgentInfo, FunctionModel

from qai.context import AppContext
from qai.events import CodeAgentRun
from qai.llm import NO_MODEL_CONFIGURED
from qai.messages import service as messages
from qai.messages.models import MessageType
from qai.projects import service as projects
from qai.runs import dispatch as run_dispatch
from qai.runs import service as runs
from qai.runs import workflow as run_workflow
from qai.runs.models import RunStatus, StepOutcome
from tests.agent.support import (
    StartWorker,
    assert_one_answer_each,
    call,
    create_project,
    events_of,
    kinds,
    last_tool_returns,
    prompts_in,
    say,
    scripted,
    summary,
    turn_of,
    wait_for_answer,
    write,
)

PAGE = "<!doctype html><title>Counter</title><h1>Counter</h1><script src='app.js'></script>"
SCRIPT = "let n = 0; document.querySelector('h1').onclick = () => n++;"


async def test_a_run_writes_files_and_ends_with_a_summary(start_worker: StartWorker) -> None:
    model = scripted(
        write({"index.html": PAGE, "./app.js": SCRIPT}),
        call("terminal", command="ls"),
        summary("A counter page: click the heading to count."),
    )
    worker = await start_worker(model)
    db = worker.database
    project_id, message_id = await create_project(db, "Build a counter app with a big button")

    answer = await wait_for_answer(db, message_id)

    assert answer.type is MessageType.RESULT
    assert "counter page" in answer.content
    assert "preview" in answer.content
    fragment = answer.fragment
    assert fragment is not None
    assert uuid.UUID(fragment.id).version == 4
    assert fragment.sandbox_url.startswith(f"http://{fragment.id}.preview.localhost:")
    assert fragment.files == {"app.js": SCRIPT, "index.html": PAGE}
    assert fragment.summary == "A counter page: click the heading to count."
    assert fragment.title == "Counter App"
    manager = worker.sandboxes
    assert fragment.sandbox_url == manager.preview_url(fragment.id)
    sandbox = await manager.get(fragment.id)
    assert sandbox is not None
    assert (await sandbox.read_files(["index.html"]))["index.html"] == PAGE

    async with db.read() as session:
        found = await runs.get_run(session, message_id)
    run = found.run
    assert run.status is RunStatus.SUCCEEDED
    assert run.answer_message_id == answer.id
    assert run.turns == 3
    assert run.input_tokens > 0
    assert run.output_tokens > 0
    assert run.model == "test:scripted"
    assert run.started_at is not None
    assert run.finished_at is not None
    assert [(s.seq, s.kind, s.label, s.outcome, s.attempts) for s in found.steps] == [
        (1, "model", "Asking the model (turn 1)", StepOutcome.OK, 1),
        (2, "write", "Writing index.html and 1 more file", StepOutcome.OK, 1),
        (3, "model", "Asking the model (turn 2)", StepOutcome.OK, 1),
        (4, "terminal", "Running ls", StepOutcome.OK, 1),
        (5, "model", "Asking the model (turn 3)", StepOutcome.OK, 1),
    ]
    log = await events_of(db, project_id)
    assert kinds(log) == [
        "message.created",  # the USER message
        "run.updated",  # queued
        "run.updated",  # running
        "run.updated",  # its sandbox is up: previewUrl
        *["run.step"] * 10,  # 3 model calls and 2 tool calls, each started then finished
        "message.created",  # the answer, with its fragment
        "run.updated",  # succeeded
    ]
    assert log[-2].data["fragment"]["sandboxUrl"] == fragment.sandbox_url
    assert log[-1].data["status"] == "succeeded"
    await assert_one_answer_each(db)


async def test_a_run_that_never_summarises_stops_at_the_turn_limit(
    start_worker: StartWorker,
) -> None:
    model = scripted(
        write({"index.html": PAGE}),
        say("I think that is it."),  # no <task_summary>: told to go on
        then=call("terminal", command="echo still working"),
    )
    worker = await start_worker(model, run_max_turns=4)
    db = worker.database
    _, message_id = await create_project(db, "Build a todo list")

    answer = await wait_for_answer(db, message_id)

    assert answer.type is MessageType.ERROR
    # What it wrote is kept as an unfinished version.
    assert answer.fragment is not None
    assert answer.fragment.files == {"index.html": PAGE}
    assert "4 model turns" in answer.content
    assert "QAI_RUN_MAX_TURNS" in answer.content
    async with db.read() as session:
        run = (await runs.get_run(session, message_id)).run
    assert run.status is RunStatus.FAILED
    assert run.turns == 4
    assert run.error == answer.content
    await assert_one_answer_each(db)


async def test_a_tool_failure_goes_back_to_the_model_which_recovers(
    start_worker: StartWorker,
) -> None:
    seen: list[str] = []

    def after_failure(history: list[ModelMessage]) -> ModelResponse:
        seen.extend(last_tool_returns(history))
        return write({"index.html": PAGE})

    def after_bad_path(history: list[ModelMessage]) -> ModelResponse:
        seen.extend(last_tool_returns(history))
        return summary("A counter page.")

    model = scripted(
        call("terminal", command="cat missing.txt"),
        after_failure,
        write({"../outside.txt": "no"}),
        after_bad_path,
    )
    worker = await start_worker(model)
    db = worker.database
    _, message_id = await create_project(db, "Build a counter")

    answer = await wait_for_answer(db, message_id)

    assert answer.type is MessageType.RESULT
    assert seen[0].startswith("Command failed: exit code 1")
    assert "missing.txt" in seen[0]
    assert seen[1].startswith("Could not write the files:")
    assert answer.fragment is not None
    assert answer.fragment.files == {"index.html": PAGE}
    async with db.read() as session:
        steps = [s for s in (await runs.get_run(session, message_id)).steps if s.kind != "model"]
    assert [s.outcome for s in steps] == [
        StepOutcome.FAILED,
        StepOutcome.OK,
        StepOutcome.FAILED,
    ]
    assert steps[0].detail is not None
    assert "exit code 1" in steps[0].detail


async def test_a_follow_up_starts_from_the_previous_fragment(start_worker: StartWorker) -> None:
    read_back: list[str] = []
    histories: list[list[str]] = []

    def read_and_extend(history: list[ModelMessage]) -> ModelResponse:
        read_back.extend(last_tool_returns(history))
        return write({"app.js": SCRIPT})

    def first_turn(history: list[ModelMessage]) -> ModelResponse:
        histories.append(prompts_in(history))
        if len(histories) == 1:
            return write({"index.html": PAGE})
        return call("readFiles", files=["index.html"])

    model = scripted(
        first_turn,
        lambda history: (
            summary("A counter page.") if len(histories) == 1 else read_and_extend(history)
        ),
        summary("Added a script that counts clicks."),
    )
    worker = await start_worker(model)
    db = worker.database
    project_id, first = await create_project(db, "Build a counter page")
    first_answer = await wait_for_answer(db, first)
    async with db.session() as session:
        follow_up = await messages.create_user_message(session, project_id, "Make it count clicks")

    answer = await wait_for_answer(db, follow_up.id)

    assert answer.type is MessageType.RESULT
    assert answer.fragment is not None
    assert json.loads(read_back[0]) == [{"path": "index.html", "content": PAGE}]
    # Memory: the second run saw the first exchange before its own prompt.
    assert histories[1] == ["Build a counter page", "Make it count clicks"]
    assert first_answer.fragment is not None
    # The new fragment holds every file written in the project so far, in its own sandbox.
    assert answer.fragment.files == {"index.html": PAGE, "app.js": SCRIPT}
    assert answer.fragment.id != first_answer.fragment.id
    sandbox = await worker.sandboxes.get(answer.fragment.id)
    assert sandbox is not None
    assert await sandbox.read_files(["index.html", "app.js"]) == answer.fragment.files
    await assert_one_answer_each(db)


async def test_without_a_model_every_message_is_answered_with_how_to_set_one(
    start_worker: StartWorker,
) -> None:
    worker = await start_worker(None)
    db = worker.database
    _, message_id = await create_project(db, "Build anything")

    answer = await wait_for_answer(db, message_id)

    assert answer.type is MessageType.ERROR
    assert answer.content == NO_MODEL_CONFIGURED
    assert "QAI_MODEL=openai:gpt-4.1" in answer.content
    assert "OPENAI_API_KEY" in answer.content
    await assert_one_answer_each(db)


async def test_sending_an_event_again_starts_no_second_run(start_worker: StartWorker) -> None:
    model = scripted(write({"index.html": PAGE}), summary("A page."))
    worker = await start_worker(model)
    db = worker.database
    project_id, message_id = await create_project(db, "Build a page")
    event = CodeAgentRun(project_id=project_id, message_id=message_id, value="Build a page")
    await asyncio.gather(worker.runs.dispatch(event), worker.runs.dispatch(event))
    answer = await wait_for_answer(db, message_id)

    await worker.runs.dispatch(event)
    await asyncio.sleep(0.5)

    assert answer.type is MessageType.RESULT
    history = await messages.history_page(db, project_id, limit=10)
    assert [m.role for m in history.items] == ["USER", "ASSISTANT"]
    await assert_one_answer_each(db)


async def test_a_message_committed_but_never_enqueued_is_answered_at_start(
    start_worker: StartWorker, context: AppContext
) -> None:
    # No worker yet: the events of the (not started) context are kept in memory; dropping them
    # is the crash between the commit and the enqueue.
    project_id, first = await create_project(context.database, "Build a page")
    async with context.database.session() as session:
        second = await messages.create_user_message(session, project_id, "Make it blue")
    assert len(context.events.take_undelivered()) == 2

    worker = await start_worker(scripted(write({"index.html": PAGE}), summary("A page.")))
    db = worker.database

    assert (await wait_for_answer(db, first)).type is MessageType.RESULT
    assert (await wait_for_answer(db, second.id)).type is MessageType.RESULT
    await assert_one_answer_each(db)


async def test_a_message_whose_enqueue_failed_is_answered_without_a_restart(
    start_worker: StartWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_dispatch, "REPAIR_EVERY_SECONDS", 0.2)
    worker = await start_worker(scripted(write({"index.html": PAGE}), summary("A page.")))
    db = worker.database

    real_enqueue = worker.jobs.enqueue
    attempts: list[str] = []

    async def enqueue_failing_once(*args: Any, **kwargs: Any) -> Any:
        attempts.append(kwargs["workflow_id"])
        if len(attempts) == 1:
            raise ConnectionError("the durable-run database is down")
        return await real_enqueue(*args, **kwargs)

    # The hand-off's enqueue after the commit fails (it logs it); the message is saved, and
    # the running worker must still give it its run, without a restart (its repair does).
    monkeypatch.setattr(worker.jobs, "enqueue", enqueue_failing_once)
    _, message_id = await create_project(db, "Build a page")
    answer = await wait_for_answer(db, message_id)
    assert answer.type is MessageType.RESULT
    assert attempts[:2] == [message_id, message_id]
    await assert_one_answer_each(db)


async def test_runs_of_a_project_go_in_order_and_projects_in_parallel(
    start_worker: StartWorker,
) -> None:
    spans: dict[str, tuple[float, float]] = {}

    async def slow(history: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        prompt = prompts_in(history)[-1]
        started = time.monotonic()
        await asyncio.sleep(0.4)
        first_start = spans.get(prompt, (started, 0.0))[0]
        spans[prompt] = (first_start, time.monotonic())  # from its first turn to its last
        if turn_of(history) == 0:
            return write({"index.html": prompt})
        return summary(prompt)

    worker = await start_worker(FunctionModel(slow))
    db = worker.database
    project_a, a1 = await create_project(db, "A one")
    async with db.session() as session:
        a2 = await messages.create_user_message(session, project_a, "A two")
    _, b1 = await create_project(db, "B one")

    for message_id in (a1, a2.id, b1):
        await wait_for_answer(db, message_id)

    assert spans["A one"][1] <= spans["A two"][0], "runs of one project overlapped"
    assert spans["B one"][0] < spans["A one"][1], "projects did not run in parallel"
    await assert_one_answer_each(db)


async def test_a_small_model_writes_the_title_and_the_reply(start_worker: StartWorker) -> None:
    asked: list[str] = []

    def small(history: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        prompt = prompts_in(history)[-1]
        asked.append(prompt)
        if prompt.startswith("Write a title"):
            return say('"Click Counter App Deluxe"')
        return say("Your click counter is ready: give it a try!")

    worker = await start_worker(scripted(write({"index.html": PAGE}), summary("A counter.")))
    # The same worker, now with a small model for titles and replies.
    await worker.close()
    again = AppContext.build(
        worker.settings,
        role="worker",
        model=scripted(write({"index.html": PAGE}), summary("A counter.")),
        small_model=FunctionModel(small),
    )
    async with again.running():
        db = again.database
        _, message_id = await create_project(db, "Build a counter")

        answer = await wait_for_answer(db, message_id)

    assert answer.content == "Your click counter is ready: give it a try!"
    assert answer.fragment is not None
    assert answer.fragment.title == "Click Counter App"
    assert len(asked) == 2
    assert "Summary: A counter." in asked[1]


async def test_deleting_a_project_during_its_run_ends_the_run_quietly(
    start_worker: StartWorker,
) -> None:
    thinking = asyncio.Event()
    release = asyncio.Event()

    async def slow(history: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        thinking.set()
        await release.wait()
        return summary("A page.") if turn_of(history) else write({"index.html": PAGE})

    worker = await start_worker(FunctionModel(slow))

    db = worker.database
    project_id, message_id = await create_project(db, "Build a page")
    await asyncio.wait_for(thinking.wait(), 30)
    async with db.session() as session:
        await projects.delete_project(session, project_id)
    release.set()

    # The deletion cancelled the run and deleted DBOS's records of it (deleting deletes).
    with pytest.raises(DBOSNonExistentWorkflowError):
        await DBOS.retrieve_workflow_async(message_id)
    environment = run_workflow.current()
    assert environment is not None
    if environment.in_flight:
        _, running = await asyncio.wait(list(environment.in_flight), timeout=30)
        assert not running, "the run went on after its project was deleted"
    async with db.read() as session:
        assert await runs.answer_of(session, message_id) is None


async def test_the_fragment_holds_the_files_as_commands_left_them(
    start_worker: StartWorker,
) -> None:
    model = scripted(
        write({"index.html": PAGE, "notes.txt": "draft"}),
        call("terminal", command="rm notes.txt && sed -i s/Counter/Clicks/g index.html"),
        summary("A clicks page."),
    )
    worker = await start_worker(model)
    db = worker.database
    _, message_id = await create_project(db, "Build a counter")

    answer = await wait_for_answer(db, message_id)

    assert answer.fragment is not None
    assert answer.fragment.files == {"index.html": PAGE.replace("Counter", "Clicks")}
