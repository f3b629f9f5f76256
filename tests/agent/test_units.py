"""The agent's pure parts: memory budget, summaries, titles and replies, model choice, failures."""

from __future__ import annotations

import pytest
from pydantic_ai.exceptions import (
    ModelAuthenticationError,
    ModelHTTPError,
    ModelTimeoutError,
    UnexpectedModelBehavior,
)
from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, UserPromptPart

from qai.agent import PastMessage, conversation_history, derive_reply, derive_title, extract_summary
from qai.agent.prompts import existing_files_note, system_prompt
from qai.agent.tools import normalise_path
from qai.llm import NO_MODEL_CONFIGURED, choose_model, describe_failure
from qai.settings import load_settings


def texts(history: list[object]) -> list[tuple[str, str]]:
    out = []
    for message in history:
        if isinstance(message, ModelRequest):
            out += [
                ("user", str(p.content)) for p in message.parts if isinstance(p, UserPromptPart)
            ]
        else:
            assert isinstance(message, ModelResponse)
            out += [("assistant", p.content) for p in message.parts if isinstance(p, TextPart)]
    return out


def test_memory_keeps_the_newest_messages_that_fit_and_starts_with_the_user() -> None:
    past = [
        PastMessage("USER", "a" * 50),
        PastMessage("ASSISTANT", "b" * 50),
        PastMessage("USER", "c" * 10),
        PastMessage("ASSISTANT", "d" * 10),
    ]
    assert texts(conversation_history(past, 1000)) == [
        ("user", "a" * 50),
        ("assistant", "b" * 50),
        ("user", "c" * 10),
        ("assistant", "d" * 10),
    ]
    # 70 characters: "b"*50 + "c"*10 + "d"*10 fit, then the leading answer is dropped too.
    assert texts(conversation_history(past, 70)) == [("user", "c" * 10), ("assistant", "d" * 10)]
    assert conversation_history(past, 5) == []


def test_memory_marks_failed_answers_and_merges_consecutive_messages() -> None:
    past = [
        PastMessage("USER", "first"),
        PastMessage("USER", "second"),
        PastMessage("ASSISTANT", "No model configured", failed=True),
    ]
    history = conversation_history(past, 1000)
    assert len(history) == 2
    assert texts(history) == [
        ("user", "first"),
        ("user", "second"),
        ("assistant", "(That attempt failed: No model configured)"),
    ]


def test_summary_is_taken_from_the_tag() -> None:
    assert extract_summary("Done.\n<task_summary>\nA todo app.\n</task_summary>") == "A todo app."
    assert extract_summary("<task_summary>Unclosed summary") == "Unclosed summary"
    assert extract_summary("no tag here") is None
    assert extract_summary("<task_summary>  </task_summary>") is None


@pytest.mark.parametrize(
    ("prompt", "title"),
    [
        ("Build a todo app with dark mode", "Todo App"),
        ("Please create me a simple Kanban board for my team", "Kanban Board"),
        ("make a landing page for a coffee shop", "Landing Page"),
        ("weather dashboard showing a seven day forecast", "Weather Dashboard Showing"),
        ("build", "Counter"),
    ],
)
def test_titles_have_at_most_three_words(prompt: str, title: str) -> None:
    assert derive_title(prompt, "A counter.") == title
    assert len(derive_title(prompt, "A counter.").split()) <= 3


def test_reply_is_friendly_and_short() -> None:
    reply = derive_reply("- Built a todo app.\n- Tasks persist in localStorage.\n- Third point.")
    assert reply.startswith("Here it is! Built a todo app. Tasks persist in localStorage.")
    assert "preview" in reply
    assert len(derive_reply("x " * 1000)) < 500


def test_prompts_differ_per_template_and_name_the_rules() -> None:
    web, nextjs = system_prompt("web"), system_prompt("nextjs")
    assert "index.html" in web
    assert "no npm packages" in web
    assert "use client" in nextjs
    assert "npm run dev" in nextjs
    assert "shadcn" not in nextjs
    for prompt in (web, nextjs):
        assert "<task_summary>" in prompt
        assert "createOrUpdateFiles" in prompt
    assert existing_files_note([]) is None
    note = existing_files_note(["styles.css", "index.html"])
    assert note is not None
    assert note.index("index.html") < note.index("styles.css")


def test_paths_lose_their_leading_dot_slash() -> None:
    assert normalise_path("./app/page.tsx") == "app/page.tsx"
    assert normalise_path(" index.html ") == "index.html"


def test_model_choice_explains_what_to_set() -> None:
    assert choose_model(load_settings()).problem == NO_MODEL_CONFIGURED
    assert "`make serve`" in NO_MODEL_CONFIGURED  # the command a checkout's user has
    assert "`qai serve`" in NO_MODEL_CONFIGURED
    assert choose_model(load_settings(), small=True).problem is None
    bad = choose_model(load_settings(model="gpt-4.1"))
    assert bad.model is None
    assert bad.problem is not None
    assert "provider:model" in bad.problem
    keyless = choose_model(load_settings(model="openai:gpt-4.1"))
    assert keyless.problem is not None
    assert "OPENAI_API_KEY" in keyless.problem
    unknown = choose_model(load_settings(model="nosuch:model"))
    assert unknown.problem is not None
    assert "Supported providers" in unknown.problem


async def test_local_servers_need_no_key() -> None:
    local = choose_model(load_settings(model="openai-chat:qwen", openai_base_url="http://x/v1"))
    ollama = choose_model(load_settings(model="ollama:qwen2.5-coder"))
    try:
        assert local.model is not None
        assert local.problem is None
        assert local.model.system == "openai"
        assert ollama.model is not None
        assert ollama.model.model_name == "qwen2.5-coder"
    finally:
        await local.aclose()
        await ollama.aclose()


def test_failures_are_said_in_plain_words() -> None:
    auth = describe_failure(ModelAuthenticationError("gpt", "bad key"), model_id="openai:gpt")
    assert auth is not None
    assert "API key" in auth
    assert "openai:gpt" in auth
    server = describe_failure(ModelHTTPError(500, "gpt", body={"message": "boom"}))
    assert server is not None
    assert "HTTP 500" in server
    assert "retries" in server
    timeout = describe_failure(ModelTimeoutError("gpt", "read timed out"))
    assert timeout is not None
    assert "in time" in timeout
    odd = describe_failure(UnexpectedModelBehavior("Tool 'x' exceeded max retries"))
    assert odd is not None
    assert "could not be used" in odd
    assert describe_failure(ValueError("not a model failure")) is None
