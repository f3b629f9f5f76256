"""Model faults through the real OpenAI client against the fake OpenAI-compatible server: every
USER message still gets exactly one answer, and it says what went wrong and what to do."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic_ai import models

from qai.messages.models import MessageType
from tests.agent.support import StartWorker, assert_one_answer_each, create_project, wait_for_answer
from tests.fakes.openai_server import FakeOpenAI

WRITE_PAGE = {
    "tool_calls": [
        {
            "name": "createOrUpdateFiles",
            "arguments": {"files": [{"path": "index.html", "content": "<h1>Hi</h1>"}]},
        }
    ]
}
DONE = {"text": "Finished.\n<task_summary>A page that says hi.</task_summary>"}


@pytest.fixture
def fake_openai(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", True)  # the fake server is local
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FakeOpenAI({"api_key": "sk-test", "conversations": []}) as fake:
        yield fake


async def run_one(
    start_worker: StartWorker, fake: FakeOpenAI, script: dict[str, Any], **settings: Any
) -> tuple[str, float]:
    fake.set_script(script)
    chosen = {
        "model": "openai:gpt-fake",
        "openai_base_url": fake.base_url,
        "model_max_retries": 1,
        **settings,
    }
    worker = await start_worker(None, **chosen)
    db = worker.database
    started = time.monotonic()
    _, message_id = await create_project(db, "Build a page that says hi")
    answer = await wait_for_answer(db, message_id)
    await assert_one_answer_each(db)
    assert answer.type is MessageType.ERROR or answer.fragment is not None
    return (answer.content if answer.type is MessageType.ERROR else "RESULT"), (
        time.monotonic() - started
    )


async def test_a_scripted_run_through_the_real_client_succeeds(
    start_worker: StartWorker, fake_openai: FakeOpenAI
) -> None:
    script = {"api_key": "sk-test", "conversations": [{"turns": [WRITE_PAGE, DONE]}]}
    outcome, _ = await run_one(start_worker, fake_openai, script, model="openai-chat:gpt-fake")
    assert outcome == "RESULT"
    assert [r["path"] for r in fake_openai.requests] == ["/v1/chat/completions"] * 2


async def test_a_passing_server_error_is_retried_and_the_run_succeeds(
    start_worker: StartWorker, fake_openai: FakeOpenAI
) -> None:
    flaky = {**WRITE_PAGE, "fail": {"status": 503, "times": 1}}
    script = {"api_key": "sk-test", "conversations": [{"turns": [flaky, DONE]}]}
    outcome, _ = await run_one(start_worker, fake_openai, script)
    assert outcome == "RESULT"
    assert [r["status"] for r in fake_openai.requests] == [503, 200, 200]


async def test_a_model_server_that_keeps_failing_gets_an_error_answer(
    start_worker: StartWorker, fake_openai: FakeOpenAI
) -> None:
    script = {"api_key": "sk-test", "fail": {"status": 500}, "conversations": [{"turns": [DONE]}]}
    outcome, _ = await run_one(start_worker, fake_openai, script)
    assert "kept failing (HTTP 500) even after retries" in outcome
    assert "Try again" in outcome
    assert [r["status"] for r in fake_openai.requests] == [500, 500]  # 1 + QAI_MODEL_MAX_RETRIES


async def test_a_model_server_that_hangs_gets_an_error_answer_in_bounded_time(
    start_worker: StartWorker, fake_openai: FakeOpenAI
) -> None:
    script = {"api_key": "sk-test", "hang": 5, "conversations": [{"turns": [DONE]}]}
    outcome, elapsed = await run_one(start_worker, fake_openai, script, model_timeout_seconds=0.5)
    assert "did not answer in time" in outcome
    assert "QAI_MODEL_TIMEOUT_SECONDS" in outcome
    assert elapsed < 5
    assert len(fake_openai.requests) == 2


async def test_a_rejected_api_key_gets_an_error_answer_without_retries(
    start_worker: StartWorker, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    script = {"api_key": "sk-test", "conversations": [{"turns": [DONE]}]}
    outcome, _ = await run_one(start_worker, fake_openai, script)
    assert "rejected the API key" in outcome
    assert "OPENAI_API_KEY" in outcome
    assert [r["status"] for r in fake_openai.requests] == [401]
