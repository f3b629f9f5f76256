"""The import rules of ARCHITECTURE.md ("Layering"), read from the source with `ast`: nothing is
imported, so a rule broken today fails with the list of offending lines, not an ImportError.

An import under ``if TYPE_CHECKING:`` is not a dependency at run time and does not count; an
import inside a function does (it is how a cycle hides)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = SRC / "qai"

INFRASTRUCTURE = ("qai.db", "qai.sandbox", "qai.llm", "qai.jobs", "qai.common", "qai.checks")
# qai.models counts as domain code here: it is the table list, importing every domain's models.
DOMAIN = (
    *("qai.projects", "qai.messages", "qai.conversations", "qai.runs", "qai.workers"),
    "qai.versions",
    *("qai.live", "qai.agent", "qai.web", "qai.api", "qai.cli", "qai.trpc", "qai.accounts"),
    *("qai.context", "qai.client", "qai.models"),
)
# Alembic loads env.py and the revisions by path and nothing imports them, so they cannot take
# part in an import cycle; env.py needs every table (qai.models) to compare metadata.
EXCLUDED = (ROOT / "db" / "migrations",)
MAX_LINES = 800
SETTINGS_READERS = (ROOT / "cli", ROOT / "settings.py")  # the wiring root may read the settings


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    module: str  # the most specific module of qai's that exists, or the name as written

    def __str__(self) -> str:
        return f"{self.path.relative_to(SRC)}:{self.line} -> {self.module}"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def source_files() -> tuple[Path, ...]:
    return tuple(
        path
        for path in sorted(ROOT.rglob("*.py"))
        if not any(path.is_relative_to(excluded) for excluded in EXCLUDED)
    )


@cache
def modules() -> frozenset[str]:
    return frozenset(module_name(path) for path in source_files())


def is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


class ImportCollector(ast.NodeVisitor):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.package = module_name(path).split(".")
        if path.name != "__init__.py":
            self.package = self.package[:-1]
        self.found: list[Import] = []

    def add(self, line: int, module: str) -> None:
        self.found.append(Import(self.path, line, module))

    def visit_If(self, node: ast.If) -> None:
        for child in node.orelse if is_type_checking(node.test) else [*node.body, *node.orelse]:
            self.visit(child)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.add(node.lineno, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            parent = self.package[: len(self.package) - node.level + 1]
            base = ".".join([*parent, *([base] if base else [])])
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            self.add(node.lineno, submodule if submodule in modules() else base)


@cache
def imports_of(path: Path) -> tuple[Import, ...]:
    collector = ImportCollector(path)
    collector.visit(ast.parse(path.read_text(), str(path)))
    return tuple(dict.fromkeys(collector.found))  # `from m import a, b` is one import of m


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def child_of(module: str, package: str) -> str | None:
    """The direct child of ``package`` that ``module`` lies in (None: outside, or the package)."""
    if not module.startswith(package + "."):
        return None
    return f"{package}.{module[len(package) + 1 :].split('.')[0]}"


def packages() -> list[str]:
    return sorted(module_name(path) for path in source_files() if path.name == "__init__.py")


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path (first node repeated at the end), or None."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for target in sorted(edges.get(node, ())):
            if state.get(target) == "open":
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target, [*path, target])):
                return cycle
        state[node] = "done"
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def test_infrastructure_imports_no_domain_code() -> None:
    offenders = [
        str(found)
        for path in source_files()
        if any(within(module_name(path), infra) for infra in INFRASTRUCTURE)
        for found in imports_of(path)
        if any(within(found.module, domain) for domain in DOMAIN)
    ]
    assert not offenders, "infrastructure imports domain code:\n" + "\n".join(offenders)


@pytest.mark.parametrize("package", packages())
def test_the_children_of_a_package_import_each_other_without_a_cycle(package: str) -> None:
    """For ``qai`` the children are the top-level packages and modules (settings, errors, ...).
    The package's own ``__init__`` is left out: re-exporting its children is not a cycle."""
    edges: dict[str, set[str]] = {}
    lines: dict[tuple[str, str], list[str]] = {}
    for path in source_files():
        source = child_of(module_name(path), package)
        if source is None:
            continue
        for found in imports_of(path):
            target = child_of(found.module, package)
            if target is not None and target != source:
                edges.setdefault(source, set()).add(target)
                lines.setdefault((source, target), []).append(str(found))
    report: list[str] = []
    while cycle := find_cycle(edges):
        report.append("cycle: " + " -> ".join(cycle))
        for source, target in pairwise(cycle):
            report.extend(
                f"    {line}"
                for line in lines.pop((source, target), [f"{source} -> {target} (listed above)"])
            )
        edges[cycle[0]].discard(cycle[1])  # break it, to report the next one too
    assert not report, f"import cycles among the children of {package}:\n" + "\n".join(report)


def test_no_source_file_passes_the_line_limit() -> None:
    counts = {path: len(path.read_text().splitlines()) for path in sorted(ROOT.rglob("*.py"))}
    offenders = [
        f"{path.relative_to(SRC)}: {count} lines"
        for path, count in counts.items()
        if count > MAX_LINES
    ]
    assert not offenders, f"files over {MAX_LINES} lines (split them):\n" + "\n".join(offenders)


def test_only_the_cli_reads_the_settings() -> None:
    offenders = []
    for path in source_files():
        if any(path.is_relative_to(allowed) for allowed in SETTINGS_READERS):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.Name):
                names = [node.id]
            elif isinstance(node, ast.Attribute):
                names = [node.attr]
            else:
                continue
            if "get_settings" in names:
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno} -> get_settings")
    assert not offenders, "modules outside the CLI read the settings:\n" + "\n".join(offenders)


def test_the_client_imports_neither_the_database_nor_the_server() -> None:
    code = (
        "import qai.client, sys; print(sorted(m for m in sys.modules"
        " if m.startswith(('sqlalchemy', 'qai.db', 'dbos', 'fastapi'))))"
        "; print(sorted(m for m in sys.modules if m.startswith('qai.')))"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    forbidden, loaded = (ast.literal_eval(line) for line in done.stdout.splitlines())
    roots = sorted({name if name.startswith("qai.") else name.split(".")[0] for name in forbidden})
    assert not forbidden, (
        f"`import qai.client` loads {len(forbidden)} modules it must not, from: {', '.join(roots)}"
        f"\n(qai modules it loads: {', '.join(loaded)})"
    )
