"""Access lines: the same shape as every log line, written in batches, never lost while idle."""

from __future__ import annotations

import io
import json
import logging
import re
import time

import pytest
from dbos._error import DBOSAwaitedWorkflowCancelledError
from dbos._logger import init_logger

from qai.logs import AccessLog, configure_logging
from qai.settings import load_settings


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


def test_a_workflow_cancelled_with_its_project_is_one_line_without_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """DBOS logs the end of a cancelled workflow as an error with a traceback; QAI cancels
    only the runs of a deleted project, so that is one line of information."""
    root, qai, dbos = (logging.getLogger(name) for name in ("", "qai", "dbos"))
    handlers, levels, filters = root.handlers[:], (root.level, qai.level), dbos.filters[:]
    dbos_handlers, dbos_propagates = dbos.handlers[:], dbos.propagate
    dbos_level = dbos.level
    # As a DBOS launched before leaves its logger: a console handler of its own, at WARNING.
    dbos.handlers, dbos.propagate = [], True
    init_logger()
    dbos.setLevel(logging.WARNING)
    for handler in dbos.handlers:
        handler.setLevel(logging.WARNING)
    configure_logging(load_settings(log_format="text", access_log=False))
    init_logger()  # a DBOS launched after adds no handler of its own
    try:
        try:
            raise DBOSAwaitedWorkflowCancelledError("wf-1")
        except DBOSAwaitedWorkflowCancelledError:
            dbos.exception("Exception encountered in asynchronous workflow:")
        try:
            raise ValueError("a real failure")
        except ValueError:
            dbos.exception("Exception encountered in asynchronous workflow:")
    finally:  # the process's logging as it was
        root.handlers, dbos.filters = handlers, filters
        dbos.handlers, dbos.propagate = dbos_handlers, dbos_propagates
        dbos.setLevel(dbos_level)
        root.setLevel(levels[0])
        qai.setLevel(levels[1])
    err = capsys.readouterr().err
    cancelled, failed = err.split("ValueError: a real failure")[0].split("\n", 1)
    assert "INFO" in cancelled
    assert "ended: it was cancelled with its deleted project" in cancelled
    assert "Awaited workflow wf-1 was cancelled" in cancelled
    # Any other workflow error keeps its level and traceback.
    assert "ERROR" in failed
    assert failed.count("Traceback") == 1
