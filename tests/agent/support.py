"""What the agent and run tests share: an in-process worker on the test's database, scripted
models, and waiting for answers."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest
from pydantic_ai import models
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import Model
from pydantic_ai.models.function import AgentInfo, FunctionModel
from sqlalchemy import select
from sqlalchemy.engine import make_url

from qai.context import AppContext
from qai.db import Database
from qai.live.models import Event
from qai.messages.models import Message, MessageRole
from qai.messages.repository import MessageRepository
from qai.runs import send
from qai.runs.models import Run
from qai.settings import Settings
from tests.conftest import pg_execute

HAVE_BWRAP = shutil.which("bwrap") is not None

Turn = ModelResponse | Callable[[list[ModelMessage]], ModelResponse]


@pytest.fixture(autouse=True)
def fast_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs start within ~50 ms of their event, and no test reaches a real model."""
    monkeypatch.setenv("QAI_QUEUE_POLL_SECONDS", "0.05")
    monkeypatch.setenv("QAI_LIVE_POLL_SECONDS", "0.1")
    # The app check opens every version in Chromium: its own tests turn it on.
    monkeypatch.setenv("QAI_CHECK_ENABLED", "false")
    # CI installs bubblewrap; unisolated sandboxes only where it is missing locally.
    monkeypatch.setenv("QAI_SANDBOX_ISOLATION", "bwrap" if HAVE_BWRAP else "none")
    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", False)


StartWorker = Callable[..., Awaitable[AppContext]]


@pytest.fixture
async def start_worker(settings: Settings, database_url: str) -> AsyncIterator[StartWorker]:
    """Build and start a worker's parts in this process, as `qai worker` does, with a scripted
    model; closed at the end. Messages sent through its ``database`` reach its runs at once."""
    started: list[AppContext] = []

    async def start(
        scripted_model: Model | None = None,
        /,
        *,
        scripted_small: Model | None = None,
        **overrides: Any,
    ) -> AppContext:
        """``overrides`` replace settings (``model=...`` names a real model instead);
        ``scripted_small`` is the small model (titles and replies)."""
        chosen = settings.model_copy(update=overrides) if overrides else settings
        worker = AppContext.build(
            chosen, role="worker", model=scripted_model, small_model=scripted_small
        )
        started.append(worker)
        await worker.start()
        return worker

    yield start
    for worker in reversed(started):
        await worker.close()
    drop_system_database(database_url)


def drop_system_database(database_url: str) -> None:
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        pg_execute(f'DROP DATABASE IF EXISTS "{url.database}_dbos" WITH (FORCE)')


# --- scripted models -------------------------------------------------------------------------


def turn_of(messages: list[ModelMessage]) -> int:
    """Model replies since the newest user prompt (retry prompts are not user prompts)."""
    last_prompt = max(
        (
            index
            for index, message in enumerate(messages)
            if isinstance(message, ModelRequest)
            and any(isinstance(part, UserPromptPart) for part in message.parts)
        ),
        default=0,
    )
    return sum(1 for message in messages[last_prompt:] if isinstance(message, ModelResponse))


def prompts_in(messages: list[ModelMessage]) -> list[str]:
    """Every user prompt the model was shown, oldest first (memory included)."""
    return [
        str(part.content)
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, UserPromptPart)
    ]


def last_tool_returns(messages: list[ModelMessage]) -> list[str]:
    request = messages[-1]
    assert isinstance(request, ModelRequest)
    return [str(part.content) for part in request.parts if isinstance(part, ToolReturnPart)]


def scripted(*turns: Turn, then: Turn | None = None) -> FunctionModel:
    """A model that answers turn N with ``turns[N]`` (``then`` for any later turn)."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        turn = turn_of(messages)
        chosen = turns[turn] if turn < len(turns) else then
        assert chosen is not None, f"the script has no turn {turn}"
        return chosen(messages) if callable(chosen) else chosen

    return FunctionModel(respond)


def call(tool: str, **arguments: Any) -> ModelResponse:
    return ModelResponse(parts=[ToolCallPart(tool, arguments)])


def write(files: dict[str, str]) -> ModelResponse:
    entries = [{"path": path, "content": content} for path, content in files.items()]
    return call("createOrUpdateFiles", files=entries)


def say(text: str) -> ModelResponse:
    return ModelResponse(parts=[TextPart(text)])


def summary(text: str) -> ModelResponse:
    return say(f"All done.\n<task_summary>{text}</task_summary>")


# --- waiting and checking --------------------------------------------------------------------


async def create_project(db: Database, prompt: str, template: str = "web") -> tuple[str, str]:
    """(project id, first message id)."""
    project, message = await send.create_project(db, prompt, template=template)
    return project.id, message.id


async def wait_for_answer(db: Database, message_id: str, within: float = 60.0) -> Message:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        async with db.read() as session:
            run = await session.get(Run, message_id, populate_existing=True)
            if run is not None and run.answer_message_id is not None:
                answer = await MessageRepository(session).get(run.answer_message_id)
                assert answer is not None
                return answer
        await asyncio.sleep(0.05)
    raise AssertionError(f"message {message_id} got no answer within {within}s")


async def assert_one_answer_each(db: Database) -> None:
    """Invariant 1: every USER message has exactly one ASSISTANT answer, and every ASSISTANT
    message answers exactly one USER message."""
    async with db.read() as session:
        messages = list((await session.execute(select(Message))).scalars())
        runs = list((await session.execute(select(Run))).scalars())
    users = {m.id for m in messages if m.role is MessageRole.USER}
    assistants = sorted(m.id for m in messages if m.role is MessageRole.ASSISTANT)
    answered = {run.message_id: run.answer_message_id for run in runs}
    unanswered = [user for user in users if answered.get(user) is None]
    assert not unanswered, f"USER messages without an answer: {unanswered}"
    assert sorted(a for a in answered.values() if a is not None) == assistants


async def events_of(db: Database, project_id: str) -> list[Event]:
    async with db.read() as session:
        query = select(Event).where(Event.project_id == project_id).order_by(Event.id)
        return list((await session.execute(query)).scalars())


def kinds(events: Sequence[Event]) -> list[str]:
    return [event.kind for event in events]
