"""Access lines: the same shape as every log line, written in batches, never lost while idle."""

from __future__ import annotations

import io
import json
import re
import time

from qai.logs import AccessLog


def wait_for(stream: io.StringIO, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while not stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    return stream.getvalue()


def test_a_lone_line_is_written_once_the_batch_interval_passes() -> None:
    stream = io.StringIO()
    log = AccessLog(stream, json=False, flush_seconds=0.05)
    log.record("abc", "GET", "/api/projects", 200, 1.26)
    text = wait_for(stream)
    assert re.fullmatch(
        r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO    qai\.access: abc "GET /api/projects" 200 1\.3ms\n',
        text,
    )


def test_a_full_batch_is_written_at_once_as_json_lines() -> None:
    stream = io.StringIO()
    log = AccessLog(stream, json=True, flush_seconds=3600, max_pending=3)
    for index in range(3):
        log.record(f"r{index}", "POST", "/api/projects", 201, 2.5)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["request_id"] for line in lines] == ["r0", "r1", "r2"]
    assert lines[0] | {"time": None} == {
        "time": None,
        "level": "info",
        "logger": "qai.access",
        "message": 'r0 "POST /api/projects" 201 2.5ms',
        "request_id": "r0",
        "method": "POST",
        "path": "/api/projects",
        "status": 201,
        "duration_ms": 2.5,
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", lines[0]["time"])
    log.record("r3", "GET", "/", 200, 1.0)
    assert "r3" not in stream.getvalue()
    log.flush()
    assert '"r3"' in stream.getvalue()
