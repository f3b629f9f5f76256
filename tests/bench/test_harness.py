"""The bench harness runs end to end (tiny durations, no timing asserted): seeding, the floor's
answers byte-equal to QAI's, statement counting from PostgreSQL's log, wrk loads, the report."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_postgres

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.postgres
@pytest.mark.timeout(120)
def test_bench_runs_and_reports(tmp_path: Path) -> None:
    require_postgres()
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install wrk)")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--phases",
            "load",
            "--only",
            "project_get",
            "--connections",
            "2",
            "--duration",
            "1",
            "--warmup",
            "1",
            "--count-requests",
            "20",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / "latest" / "report.json").read_text())
    assert report["checks"]["same_json"]["different"] == []
    for target in ("qai", "floor"):
        entry = report["load"][target]["project_get"]["2"]
        assert entry["requests"] > 0
        assert entry["errors"] == entry["non_2xx"] == 0
    if report["sql"]:  # only where the server's log file could be found
        assert report["sql"]["qai"]["project_get"]["2"]["per_request"] == 1
    assert "| project get | 2 |" in (tmp_path / "latest" / "report.md").read_text()


@pytest.mark.postgres
@pytest.mark.timeout(120)
def test_the_original_column_says_why_it_is_missing(tmp_path: Path) -> None:
    """Without the original's stand-in the phase reports why and the bench still succeeds (the
    phase itself, building the stand-in with npm, is `make bench`'s, not the suite's)."""
    require_postgres()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--phases",
            "original",
            "--original",
            str(tmp_path / "no-anchor"),
            "--original-cache",
            str(tmp_path / "cache"),
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / "latest" / "report.json").read_text())
    skipped = report["original"]["skipped"]
    assert "no-anchor" in skipped or "node" in skipped
    assert "Not measured:" in (tmp_path / "latest" / "report.md").read_text()
