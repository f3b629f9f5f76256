"""What the browser tests and the screenshot script share: Chromium, the scripted model, and a
real QAI server that uses it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, sync_playwright

from tests.fakes.openai_server import FakeOpenAI
from tests.live import LiveServer, live_server
from tests.needs import missing

CHROMIUM = Path(os.environ.get("QAI_TEST_CHROMIUM", "/usr/bin/chromium"))
REQUIRE_BROWSER = os.environ.get("QAI_TEST_REQUIRE_BROWSER") == "1"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def preview_is_served(server: LiveServer, sandbox_url: str) -> bool:
    """Whether the preview gateway answers ``sandbox_url`` (until it is mounted in the app,
    QAI answers a preview address with its own pages)."""
    host = sandbox_url.removeprefix("http://").removeprefix("https://").rstrip("/")
    response = httpx.get(server.url + "/", headers={"Host": host}, timeout=60)
    return "Build something with QAI" not in response.text


def require_chromium() -> None:
    """Skip without Chromium, unless QAI_TEST_REQUIRE_BROWSER=1 (CI), where that fails."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return
    message = f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
    missing(message, required=REQUIRE_BROWSER, variable="QAI_TEST_REQUIRE_BROWSER")


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _app(heading: str, accent: str) -> dict[str, str]:
    """A small kanban app in three files, as an agent would write it."""
    index = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Kanban</title>
  <link rel="stylesheet" href="style.css">
</head>
<body>
  <header><h1>{heading}</h1></header>
  <main id="board"></main>
  <script src="script.js"></script>
</body>
</html>
"""
    style = f"""body {{ margin: 0; font-family: system-ui, sans-serif; background: #f4f5f7; }}
header {{ padding: 20px 24px; background: {accent}; color: #fff; }}
h1 {{ margin: 0; font-size: 24px; }}
main {{ display: grid; grid-template-columns: repeat(3, 1fr); gap: 16px; padding: 24px; }}
.column {{ background: #ebecf0; border-radius: 10px; padding: 12px; }}
.column h2 {{ margin: 0 0 10px; font-size: 14px; text-transform: uppercase; color: #5e6c84; }}
.card {{ background: #fff; border-radius: 8px; padding: 10px 12px; margin-bottom: 8px;
        box-shadow: 0 1px 2px rgba(9, 30, 66, 0.25); color: #172b4d; }}
"""
    script = """const columns = {
  "To do": ["Write the launch post", "Plan the sprint"],
  "In progress": ["Design the landing page"],
  "Done": ["Set up the repository", "Pick a name"],
};

const board = document.getElementById("board");
for (const [name, cards] of Object.entries(columns)) {
  const column = document.createElement("section");
  column.className = "column";
  column.innerHTML = `<h2>${name}</h2>`;
  for (const text of cards) {
    const card = document.createElement("article");
    card.className = "card";
    card.textContent = text;
    column.append(card);
  }
  board.append(column);
}
"""
    return {"index.html": index, "style.css": style, "script.js": script}


KANBAN_APP = _app("Kanban from QAI", "#4338ca")
GREEN_APP = _app("Green kanban from QAI", "#067647")
MODEL_FAILURE_PROMPT = "explode"
STOPPABLE_PROMPT = "stoppable"


def _build(match: str, files: dict[str, str], summary: str) -> dict[str, Any]:
    written = [{"path": path, "content": content} for path, content in files.items()]
    return {
        "match": match,
        "turns": [
            {
                "tool_calls": [{"name": "createOrUpdateFiles", "arguments": {"files": written}}],
                "delay": 0.3,
            },
            # Long enough for the page to show the step before the answer.
            {"text": f"Done. <task_summary>{summary}</task_summary>", "delay": 1.5},
        ],
    }


# The scripted model: the newest user message picks the conversation by the text it contains.
SCRIPT: dict[str, Any] = {
    "conversations": [
        _build("green", GREEN_APP, "Made the kanban board's header green."),
        {
            # Writes the app, then the model hangs: the run is watched live, then stopped.
            "match": STOPPABLE_PROMPT,
            "turns": [
                {
                    "tool_calls": [
                        {
                            "name": "createOrUpdateFiles",
                            "arguments": {
                                "files": [{"path": p, "content": c} for p, c in KANBAN_APP.items()]
                            },
                        }
                    ],
                },
                {"text": "never sent", "hang": 120, "hang_times": 1000},
            ],
        },
        {
            "match": MODEL_FAILURE_PROMPT,
            "turns": [{"fail": {"status": 401, "times": 1000, "message": "Incorrect API key"}}],
        },
        _build("", KANBAN_APP, "A kanban board with To do, In progress and Done columns."),
    ]
}


@contextmanager
def fake_model() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(SCRIPT) as fake:
        yield fake


@contextmanager
def qai_server(
    sqlite_template: Path | None,
    data_dir: Path,
    fake: FakeOpenAI,
    *,
    port: int = 0,
    **extra_env: str,
) -> Iterator[LiveServer]:
    """A real `qai serve` whose model is the scripted fake (``extra_env``: more settings). Its
    SQLite database (in ``data_dir``) is a copy of the migrated template the first time
    (without one, the server migrates it), and is kept for a server started again on the same
    ``data_dir``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    database = data_dir / "qai.db"
    if sqlite_template is not None and not database.exists():
        shutil.copyfile(sqlite_template, database)
    env = {
        "QAI_MODEL": "openai:fake-model",
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "test",
        "QAI_MODEL_MAX_RETRIES": "0",
        "QAI_ACCESS_LOG": "false",
        # Each run's app check opens its own Chromium; test_check_ui.py tests it in the UI, and
        # these tests' timings stay those of the runs alone.
        "QAI_CHECK_ENABLED": "false",
    }
    if port:
        env["QAI_PORT"] = str(port)
    env.update(extra_env)
    with live_server(f"sqlite:///{database}", data_dir, **env) as server:
        yield server
