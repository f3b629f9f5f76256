"""Schemathesis against /openapi.json of a live server: no 500, no answer outside the schema."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qai.accounts import service as accounts
from qai.db import create_database
from qai.settings import Settings
from tests.live import live_server

FUZZ_SECONDS = os.environ.get("QAI_TEST_FUZZ_SECONDS", "45")
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "unsupported_method",
    ]
)


async def _member_token(database_url: str, data_dir: Path) -> str:
    """A member's API token, made on the server's database before it starts."""
    database = create_database(Settings(database_url=database_url, data_dir=data_dir))
    try:
        async with database.session() as session:
            user = await accounts.create_user(session, "fuzz@example.com", password=None)
            _, token = await accounts.create_token_for(session, user.id, "fuzz")
    finally:
        await database.dispose()
    return token


@pytest.mark.timeout(600)
def test_fuzzing_finds_no_server_error_and_no_schema_violation(
    database_url: str, tmp_path: Path
) -> None:
    run_fuzz(database_url, tmp_path)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_fuzzing_signed_in_with_accounts_finds_no_server_error(
    database_url: str, tmp_path: Path
) -> None:
    token = asyncio.run(_member_token(database_url, tmp_path / "data"))
    run_fuzz(
        database_url,
        tmp_path,
        ["--header", f"Authorization: Bearer {token}"],
        QAI_AUTH="accounts",
    )


def run_fuzz(
    database_url: str, tmp_path: Path, options: list[str] | None = None, **env: str
) -> None:
    with live_server(database_url, tmp_path / "data", **env) as server:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                CHECKS,
                "--max-time",
                FUZZ_SECONDS,
                # One worker: hypothesis parses lambda sources with ast, which is not
                # thread-safe on Python 3.11 ("AST constructor recursion depth mismatch").
                "--workers",
                "1",
                "--seed",
                "20261127",
                "--no-color",
                "--suppress-health-check",
                "all",
                "--exclude-path-regex",
                "^/(metrics|docs)",
                *(options or []),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=int(FUZZ_SECONDS) * 3 + 120,
            cwd=tmp_path,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-6000:]
        assert "generated" in output, output[-2000:]
        assert "Traceback" not in server.log(), server.log()[-4000:]
