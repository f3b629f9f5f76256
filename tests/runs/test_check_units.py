"""The app check's reports without a browser: tsc's output read as problems, the stored form,
and the "Try to fix" message cut to the prompt limit."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from qai.checks import (
    BrowserUnavailable,
    CheckResult,
    Chromium,
    Problem,
    check_page,
    fix_request,
    typescript_problems,
)
from qai.messages.rules import PROMPT_MAX

TSC = """app/page.tsx(2,9): error TS2322: Type 'string' is not assignable to type 'number'.
components/list.tsx(10,3): error TS2741: Property 'key' is missing in type '{}' but required
  in type 'Props'.
"""


def test_tsc_errors_become_problems_with_file_and_line() -> None:
    problems = typescript_problems(TSC)
    assert [(p.kind, p.file, p.line) for p in problems] == [
        ("typescript", "app/page.tsx", 2),
        ("typescript", "components/list.tsx", 10),
    ]
    assert problems[0].message == "TS2322: Type 'string' is not assignable to type 'number'."
    assert problems[1].message.endswith("required\n  in type 'Props'.")
    assert problems[0].describe() == (
        "TypeScript error (app/page.tsx:2): TS2322: Type 'string' is not assignable to type "
        "'number'."
    )


def test_output_tsc_did_not_shape_as_errors_is_kept_whole() -> None:
    assert [p.message for p in typescript_problems("error: cannot find tsconfig.json")] == [
        "error: cannot find tsconfig.json"
    ]


def test_long_texts_and_many_problems_are_bounded() -> None:
    problems = typescript_problems("\n".join(f"a.ts({i},1): error TS1: x" for i in range(50)))
    assert len(problems) == 10
    assert len(Problem.of("console", "x" * 10_000).message) <= 2000


def test_the_stored_check_round_trips_and_the_fix_request_fits_a_prompt() -> None:
    check = CheckResult(
        "failed",
        [Problem.of("exception", "SyntaxError: " + "y" * 3000), Problem.of("blank", "nothing")],
        http_status=200,
        attempt=3,
    ).as_json()
    assert check["status"] == "failed"
    assert check["attempts"] == 3
    assert [Problem.from_json(p).kind for p in check["problems"]] == ["exception", "blank"]
    message = fix_request(check, PROMPT_MAX)
    assert len(message) <= PROMPT_MAX
    assert message.startswith("The app still has errors.")
    assert "- Uncaught exception: SyntaxError: yyy" in message
    assert "- Blank page: nothing" in message


async def test_a_browser_that_cannot_start_is_reported_not_raised_as_a_crash() -> None:
    async def connect() -> socket.socket:
        raise AssertionError("no page may be requested")

    browser = Chromium(Path("/bin/false"))
    try:
        with pytest.raises(BrowserUnavailable, match="/bin/false did not start"):
            await check_page(
                "http://app.preview.localhost:8000/", connect, browser=browser, seconds=5
            )
    finally:
        await browser.close()
