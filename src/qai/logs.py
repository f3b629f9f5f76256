"""Logging: readable lines by default, one JSON object per line with QAI_LOG_FORMAT=json."""

from __future__ import annotations

import atexit
import logging
import re
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson
from dbos import DBOS
from dbos._error import (
    DBOSAwaitedWorkflowCancelledError,
    DBOSNonExistentWorkflowError,
    DBOSWorkflowCancelledError,
)

from qai.settings import Settings

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class AccessLog:
    """One line per HTTP request, written in batches instead of one write per request.

    The lines look exactly like the other log lines (text or JSON). They reach the stream at
    least every ``flush_seconds`` (and at exit), so after a crash the last fraction of a second
    of access lines can be missing, as with a buffered web-server access log. Writing each line
    at once cost about a quarter of the CPU of a small API read.
    """

    def __init__(
        self, stream: TextIO, *, json: bool, flush_seconds: float = 0.5, max_pending: int = 256
    ) -> None:
        self.stream = stream
        self.json = json
        self.flush_seconds = flush_seconds
        self.max_pending = max_pending
        self._pending: list[str] = []
        self._lock = threading.Lock()
        self._flushed_at = time.monotonic()
        self._wake = threading.Event()
        self._second = -1
        self._iso_second = self._local_second = ""
        threading.Thread(target=self._flush_while_idle, name="qai-access-log", daemon=True).start()
        atexit.register(self.flush)

    def record(
        self, request_id: str, method: str, path: str, status: int, duration_ms: float
    ) -> None:
        now = time.time()
        second = int(now)
        if second != self._second:
            # Formatting a time costs more than the rest of the line: once a second is enough.
            self._second = second
            self._iso_second = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._local_second = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        millis = int((now - second) * 1000)
        message = f'{request_id} "{method} {path}" {status} {duration_ms:.1f}ms'
        if self.json:
            line = orjson.dumps(
                {
                    "time": f"{self._iso_second}.{millis:03d}+00:00",
                    "level": "info",
                    "logger": "qai.access",
                    "message": message,
                    "request_id": request_id,
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": round(duration_ms, 2),
                }
            ).decode()
        else:
            line = f"{self._local_second},{millis:03d} INFO    qai.access: {message}"
        with self._lock:
            self._pending.append(line)
            due = (
                len(self._pending) >= self.max_pending
                or time.monotonic() - self._flushed_at >= self.flush_seconds
            )
        if due:
            self.flush()
        else:
            self._wake.set()

    def flush(self) -> None:
        with self._lock:
            lines, self._pending = self._pending, []
            self._flushed_at = time.monotonic()
        if lines:
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()

    def _flush_while_idle(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            time.sleep(self.flush_seconds)
            self.flush()


class CancelledStepLine(logging.Filter):
    """DBOS warns of a cancelled step with the repr of its call, arguments included: for a
    model request that is the whole conversation, the prompt several times over (one Ctrl-C
    during a run logged a 23 KB line). Keep the function's name and the run's id instead."""

    PREFIX = "Asyncio task cancelled for workflow or step "
    FUNCTION = re.compile(r"<function ([\w.<>]+) at 0x")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(self.PREFIX):
            found = self.FUNCTION.search(message)
            record.msg = "%s%s (workflow %s)"
            record.args = (
                self.PREFIX,
                found.group(1) if found else "(a callable)",
                DBOS.workflow_id or "unknown",
            )
        return True


_CANCELLED = (
    DBOSAwaitedWorkflowCancelledError,
    DBOSWorkflowCancelledError,
    DBOSNonExistentWorkflowError,
)


class CancelledWorkflowLine(logging.Filter):
    """QAI cancels a workflow only when its project is deleted (``runs.purge``): the run ends
    as it should, and DBOS's error with a traceback ("Awaited workflow ... was cancelled",
    a workflow deleted under it) becomes one line of information."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, _CANCELLED):
            record.msg = "workflow %s ended: it was cancelled with its deleted project (%s)"
            record.args = (DBOS.workflow_id or "unknown", error)
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


_access_log: AccessLog | None = None

# The name of the console handler DBOS gives its logger when it has none (dbos._logger).
_DBOS_CONSOLE = "__dbos_console_log_handler__"


def access_log() -> AccessLog | None:
    """The process's access log: None until logging is configured with access logs on."""
    return _access_log


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers = [handler]
    level = logging.getLevelNamesMapping()[settings.log_level.upper()]
    # Libraries (DBOS's schema migrations, uvicorn's start-up chatter...) speak at WARNING and
    # above unless QAI is asked for debug logs; QAI's own loggers use the level asked for.
    root.setLevel(level if level <= logging.DEBUG else max(level, logging.WARNING))
    logging.getLogger("qai").setLevel(level)
    global _access_log
    if _access_log is not None:
        _access_log.flush()
    _access_log = (
        AccessLog(sys.stderr, json=settings.log_format == "json") if settings.access_log else None
    )
    for noisy in ("uvicorn.access", "httpx", "httpcore", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    dbos = logging.getLogger("dbos")
    # DBOS's lines go through QAI's handler, in QAI's format (JSON too), not through a console
    # handler of DBOS's own: a handler of any kind keeps DBOS from adding its own at launch.
    dbos.handlers = [h for h in dbos.handlers if h.name != _DBOS_CONSOLE]
    if not dbos.handlers:
        dbos.addHandler(logging.NullHandler())
    dbos.propagate = True
    if not any(isinstance(f, CancelledStepLine) for f in dbos.filters):
        dbos.addFilter(CancelledStepLine())
    if not any(isinstance(f, CancelledWorkflowLine) for f in dbos.filters):
        dbos.addFilter(CancelledWorkflowLine())
