"""SQL statements per request, read from PostgreSQL's statement log.

The bench turns on ``log_statement = 'all'`` for its own database only (``ALTER DATABASE ... SET``,
so it applies to connections opened afterwards), notes where the server's log file ends, runs a
load, and counts the statements logged for that database since (lines ``user@database LOG:
statement: ...`` and ``... LOG: execute <name>: ...``, as ``log_line_prefix`` '%m [%p] %q%u@%d '
writes them, Debian's default). DBOS keeps its system tables in a sibling database, which is not
counted.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import asyncpg

_LINE = re.compile(
    r"\[\d+\] (?P<user>[^@\s]*)@(?P<db>\S+) LOG:  (?:statement|execute [^:]*): (?P<sql>.*)"
)

# What the bench's own marks in the log say (see StatementLog).
_MARK = "qai-bench-mark"

_RESET = (
    "RESET",
    "DISCARD",
    "UNLISTEN",
    "CLOSE ALL",
    "SET SESSION",
    "SELECT PG_ADVISORY_UNLOCK_ALL",
)
# The log shows a statement's first line: asyncpg's type introspection starts
# "WITH RECURSIVE typeinfo_tree(".
_INTROSPECTION = (
    "PG_CATALOG",
    "PG_TYPE",
    "PG_ATTRIBUTE",
    "TYPEINFO",
    "SHOW ",
    "CURRENT_SCHEMA",
    "VERSION()",
)


def find_log_file(override: str | None = None) -> Path | None:
    """The PostgreSQL server's log file: the override, else the one Debian's pg_lsclusters names."""
    if override:
        return Path(override)
    try:
        out = subprocess.run(
            ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 7 and fields[2] == "5432" and fields[3] == "online":
            return Path(fields[6])
    return None


def classify(sql: str) -> str:
    head = sql.lstrip().upper()
    if head.startswith(("BEGIN", "START TRANSACTION")):
        return "begin"
    if head.startswith("COMMIT"):
        return "commit"
    if head.startswith("ROLLBACK"):
        return "rollback"
    if head.startswith(_RESET):
        return "reset"
    if any(word in head for word in _INTROSPECTION):
        return "introspection"
    for verb in ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH"):
        if head.startswith(verb):
            return verb.lower()
    return "other"


MARK_TIMEOUT_SECONDS = 30.0


@dataclass
class StatementLog:
    """The statements of ``database`` (reached at ``dsn``) in the server's log at ``path``.

    A count runs between two marks: a statement the bench itself runs on the database and
    waits to see in the log, so what was logged before (a warm-up's last requests) or is still
    on its way (the count's own) lands on the right side whatever the machine's load."""

    path: Path
    database: str
    dsn: str

    def mark(self) -> int:
        """Log a mark; returns the log's offset just after it."""
        return self._mark()

    def count_since(self, offset: int) -> tuple[Counter[str], list[str]]:
        """Statements of the database logged since ``offset`` (a mark), up to a new mark, by
        kind, and a sample of them."""
        end = self._mark()
        with self.path.open("rb") as log:
            log.seek(offset)
            data = log.read(max(end - offset, 0)).decode("utf-8", "replace")
        kinds: Counter[str] = Counter()
        sample: list[str] = []
        for line in data.splitlines():
            match = _LINE.search(line)
            if match is None or match.group("db") != self.database or _MARK in line:
                continue
            sql = match.group("sql")
            kinds[classify(sql)] += 1
            if len(sample) < 12 and sql not in sample:
                sample.append(sql[:200])
        return kinds, sample

    def _mark(self) -> int:
        token = f"{_MARK}-{uuid.uuid4().hex}"

        async def run() -> None:
            connection = await asyncpg.connect(self.dsn)
            try:
                await connection.execute(f"SELECT '{token}'")
            finally:
                await connection.close()

        start = self.path.stat().st_size  # the mark is logged after this
        asyncio.run(run())
        deadline = time.monotonic() + MARK_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            with self.path.open("rb") as log:
                log.seek(start)
                data = log.read()
            found = data.find(token.encode())
            if found >= 0:
                line_end = data.find(b"\n", found)
                return start + (len(data) if line_end < 0 else line_end + 1)
            time.sleep(0.1)
        raise RuntimeError(f"the statement log never showed the bench's mark: {self.path}")
