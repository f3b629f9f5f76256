"""The app check of a run, with scripted models, real sandboxes and real Chromium: a broken app
is fixed within the same run, a never-fixed one is delivered with an answer that says so, a
blank page is caught, and the check is stored with the version and served by the API."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models.function import AgentInfo, FunctionModel

from qai.messages.models import MessageType
from qai.runs import service as runs
from qai.settings import Settings
from tests.agent.support import (
    StartWorker,
    assert_one_answer_each,
    create_project,
    prompts_in,
    summary,
    turn_of,
    wait_for_answer,
    write,
)
from tests.sandbox.conftest import prepared_nextjs_cache
from tests.web.browser import require_chromium

PAGE = (
    "<!doctype html><html lang='en'><title>Counter</title>"
    "<body><h1 id='count'>0</h1><script src='app.js'></script></body></html>"
)
BROKEN = "const count = document.getElementById('count');\ncount.onclick = () => { count.textContent = ;\n"
FIXED = "const count = document.getElementById('count');\ncount.onclick = () => { count.textContent++; };\n"
BLANK = (
    "<!doctype html><html lang='en'><title>Empty</title><body><div id='root'></div></body></html>"
)

FIX_MARK = "QAI opened the app in a browser"


@pytest.fixture(autouse=True)
def _needs_chromium() -> None:
    require_chromium()


class Builder:
    """A scripted model: writes ``first`` files and ends; after each fix prompt (which it
    keeps) writes the next of ``fixes`` (the last again when they run out) and ends."""

    def __init__(self, first: dict[str, str], *fixes: dict[str, str]) -> None:
        self.first = first
        self.fixes = fixes
        self.fix_prompts: list[str] = []

    def model(self) -> FunctionModel:
        return FunctionModel(self.respond)

    def respond(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        prompt = prompts_in(messages)[-1]
        turn = turn_of(messages)
        if FIX_MARK not in prompt:
            return write(self.first) if turn == 0 else summary("A counter.")
        if turn == 0:
            self.fix_prompts.append(prompt)
            return write(self.fixes[min(len(self.fix_prompts), len(self.fixes)) - 1])
        return summary("Fixed the counter's script.")


async def fragment_over_http(client: httpx.AsyncClient, fragment_id: str) -> dict[str, object]:
    response = await client.get(f"/api/fragments/{fragment_id}")
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_a_broken_app_is_fixed_in_the_same_run_with_the_browsers_error_text(
    start_worker: StartWorker, client: httpx.AsyncClient
) -> None:
    builder = Builder({"index.html": PAGE, "app.js": BROKEN}, {"app.js": FIXED})
    worker = await start_worker(builder.model(), check_enabled=True)
    db = worker.database
    project_id, message_id = await create_project(db, "Build a counter")

    answer = await wait_for_answer(db, message_id, within=120)

    assert answer.type is MessageType.RESULT, answer.content
    # The model's next request carried the browser's error, verbatim.
    assert len(builder.fix_prompts) == 1
    assert "SyntaxError: Unexpected token ';'" in builder.fix_prompts[0]
    assert "Uncaught exception" in builder.fix_prompts[0]
    assert answer.fragment is not None
    assert answer.fragment.files["app.js"] == FIXED
    assert "errors" not in answer.content
    fragment = await fragment_over_http(client, answer.fragment.id)
    check = fragment["check"]
    assert isinstance(check, dict)
    assert check["status"] == "passed"
    assert check["problems"] == []
    assert check["attempts"] == 2
    assert check["httpStatus"] == 200
    # The screenshot is served, a PNG of the page as the check saw it.
    assert fragment["screenshotUrl"] == f"/api/fragments/{answer.fragment.id}/screenshot"
    shot = await client.get(str(fragment["screenshotUrl"]))
    assert shot.status_code == 200
    assert shot.headers["content-type"] == "image/png"
    assert shot.content.startswith(b"\x89PNG\r\n\x1a\n")
    # The history carries the check too.
    page = (await client.get(f"/api/projects/{project_id}/messages")).json()
    listed = [m["fragment"] for m in page["items"] if m["fragment"] is not None]
    assert [f["check"]["status"] for f in listed] == ["passed"]
    # Both checks are steps of the run, the first one failed.
    async with db.read() as session:
        steps = (await runs.get_run(session, message_id)).steps
    checks = [(s.label, s.outcome.value) for s in steps if s.kind == "check"]
    assert checks == [
        ("Checking the app in a browser", "failed"),
        ("Checking the app in a browser (after fix 1)", "ok"),
    ]
    await assert_one_answer_each(db)


async def test_a_never_fixed_app_is_delivered_with_an_answer_that_names_its_error(
    start_worker: StartWorker, client: httpx.AsyncClient
) -> None:
    builder = Builder({"index.html": PAGE, "app.js": BROKEN}, {"app.js": BROKEN})
    worker = await start_worker(builder.model(), check_enabled=True, run_max_fixes=2)
    db = worker.database
    _, message_id = await create_project(db, "Build a counter")

    answer = await wait_for_answer(db, message_id, within=120)

    # Bounded: two fixes, then the answer.
    assert len(builder.fix_prompts) == 2
    assert answer.type is MessageType.RESULT, answer.content
    assert "still has errors" in answer.content
    assert "SyntaxError: Unexpected token ';'" in answer.content
    assert "after 2 attempts" in answer.content
    assert answer.fragment is not None
    assert answer.fragment.files["app.js"] == BROKEN
    check = (await fragment_over_http(client, answer.fragment.id))["check"]
    assert isinstance(check, dict)
    assert check["status"] == "failed"
    assert check["attempts"] == 3
    kinds = [problem["kind"] for problem in check["problems"]]
    assert "exception" in kinds
    assert any("SyntaxError" in problem["message"] for problem in check["problems"])


async def test_a_blank_page_is_caught(start_worker: StartWorker, client: httpx.AsyncClient) -> None:
    builder = Builder({"index.html": BLANK, "script.js": "", "style.css": ""})
    worker = await start_worker(builder.model(), check_enabled=True, run_max_fixes=0)
    db = worker.database
    _, message_id = await create_project(db, "Build a page")

    answer = await wait_for_answer(db, message_id, within=120)

    assert builder.fix_prompts == []
    assert answer.fragment is not None
    check = (await fragment_over_http(client, answer.fragment.id))["check"]
    assert isinstance(check, dict)
    assert check["status"] == "failed"
    assert [problem["kind"] for problem in check["problems"]] == ["blank"]
    assert "Blank page" in answer.content


async def test_without_a_browser_the_check_is_skipped_and_the_answer_says_so(
    start_worker: StartWorker, client: httpx.AsyncClient
) -> None:
    builder = Builder({"index.html": PAGE, "app.js": FIXED})
    worker = await start_worker(
        builder.model(), check_enabled=True, check_browser=Path("/nonexistent/chromium")
    )
    db = worker.database
    _, message_id = await create_project(db, "Build a counter")

    answer = await wait_for_answer(db, message_id, within=120)

    assert answer.type is MessageType.RESULT
    assert "could not open the app" in answer.content
    assert answer.fragment is not None
    fragment = await fragment_over_http(client, answer.fragment.id)
    check = fragment["check"]
    assert isinstance(check, dict)
    assert check["status"] == "skipped"
    assert "/nonexistent/chromium" in check["reason"]
    assert fragment["screenshotUrl"] is None
    missing = await client.get(f"/api/fragments/{answer.fragment.id}/screenshot")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"


NEXT_BROKEN = (
    "export default function Page() {\n"
    "  const count: number = 'zero';\n"
    "  return <main><h1>Count {count}</h1></main>;\n"
    "}\n"
)
NEXT_FIXED = (
    "export default function Page() {\n"
    "  const count: number = 0;\n"
    "  return <main><h1>Count {count}</h1></main>;\n"
    "}\n"
)


def link_nextjs_cache(settings: Settings) -> None:
    """The prepared nextjs template, linked into the test's data directory (or a skip)."""
    cache = prepared_nextjs_cache()
    if cache is None:
        pytest.skip("the nextjs template is not prepared: run `qai sandbox prepare nextjs`")
    templates = settings.data_dir / "cache" / "templates"
    templates.mkdir(parents=True, exist_ok=True)
    (templates / cache.name).symlink_to(cache)


NEXTJS_TIMEOUTS = {"check_timeout_seconds": 180.0, "sandbox_start_timeout": 180.0}


@pytest.mark.nextjs
async def test_a_nextjs_type_error_is_caught_and_fixed(
    start_worker: StartWorker, settings: Settings, client: httpx.AsyncClient
) -> None:
    link_nextjs_cache(settings)
    builder = Builder({"app/page.tsx": NEXT_BROKEN}, {"app/page.tsx": NEXT_FIXED})
    worker = await start_worker(builder.model(), check_enabled=True, **NEXTJS_TIMEOUTS)
    db = worker.database
    _, message_id = await create_project(db, "Build a counter", template="nextjs")

    answer = await wait_for_answer(db, message_id, within=400)

    assert answer.type is MessageType.RESULT, answer.content
    assert len(builder.fix_prompts) == 1
    # tsc's error, with its file and line, reached the model.
    assert "TypeScript error (app/page.tsx:2)" in builder.fix_prompts[0]
    assert "TS2322" in builder.fix_prompts[0]
    assert answer.fragment is not None
    check = (await fragment_over_http(client, answer.fragment.id))["check"]
    assert isinstance(check, dict)
    assert check["status"] == "passed", check


# Does not compile: Next's dev server answers 500 and draws its "Build Error" overlay.
NEXT_SYNTAX_ERROR = (
    "export default function Page() {\n  return <main><h1>Count {count</h1></main>;\n}\n"
)


@pytest.mark.nextjs
async def test_a_nextjs_compile_error_is_caught_by_its_overlay_and_fixed(
    start_worker: StartWorker, settings: Settings, client: httpx.AsyncClient
) -> None:
    link_nextjs_cache(settings)
    builder = Builder({"app/page.tsx": NEXT_SYNTAX_ERROR}, {"app/page.tsx": NEXT_FIXED})
    worker = await start_worker(builder.model(), check_enabled=True, **NEXTJS_TIMEOUTS)
    db = worker.database
    _, message_id = await create_project(db, "Build a counter", template="nextjs")

    answer = await wait_for_answer(db, message_id, within=400)

    assert answer.type is MessageType.RESULT, answer.content
    assert len(builder.fix_prompts) == 1
    prompt = builder.fix_prompts[0]
    # Next's Build Error overlay, as the browser showed it: its title, the compiler's message,
    # the file and position, and the code frame, verbatim.
    assert "- Next.js error overlay: Build Error\nUnknown regular expression flags." in prompt
    assert "./app/page.tsx (2:33)" in prompt
    assert "> 2 |   return <main><h1>Count {count</h1></main>;" in prompt
    assert "Parsing ecmascript source code failed" in prompt
    # The page's status and tsc's error too.
    assert "HTTP error: The page answered HTTP 500" in prompt
    assert "TypeScript error (app/page.tsx:2): TS1005: '}' expected." in prompt
    assert answer.fragment is not None
    assert answer.fragment.files["app/page.tsx"] == NEXT_FIXED
    check = (await fragment_over_http(client, answer.fragment.id))["check"]
    assert isinstance(check, dict)
    assert check["status"] == "passed", check
    assert check["httpStatus"] == 200
    async with db.read() as session:
        steps = (await runs.get_run(session, message_id)).steps
    checks = [(s.outcome.value if s.outcome else None) for s in steps if s.kind == "check"]
    assert checks == ["failed", "ok"]
