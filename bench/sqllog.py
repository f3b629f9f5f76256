"""SQL statements per request, read from PostgreSQL's statement log.

The bench turns on ``log_statement = 'all'`` for its own database only (``ALTER DATABASE ... SET``,
so it applies to connections opened afterwards), notes where the server's log file ends, runs a
load, and counts the statements logged for that database since (lines ``user@database LOG:
statement: ...`` and ``... LOG: execute <name>: ...``, as ``log_line_prefix`` '%m [%p] %q%u@%d '
writes them, Debian's default). DBOS keeps its system tables in a sibling database, which is not
counted.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

_LINE = re.compile(
    r"\[\d+\] (?P<user>[^@\s]*)@(?P<db>\S+) LOG:  (?:statement|execute [^:]*): (?P<sql>.*)"
)

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


@dataclass
class StatementLog:
    path: Path
    database: str

    def mark(self) -> int:
        return self.path.stat().st_size

    def count_since(self, offset: int, *, settle: float = 0.5) -> tuple[Counter[str], list[str]]:
        """Statements of the database logged since ``offset``, by kind, and a sample of them."""
        time.sleep(settle)  # let the server's stderr reach the file
        with self.path.open("rb") as log:
            log.seek(offset)
            data = log.read().decode("utf-8", "replace")
        kinds: Counter[str] = Counter()
        sample: list[str] = []
        for line in data.splitlines():
            match = _LINE.search(line)
            if match is None or match.group("db") != self.database:
                continue
            sql = match.group("sql")
            kinds[classify(sql)] += 1
            if len(sample) < 12 and sql not in sample:
                sample.append(sql[:200])
        return kinds, sample
