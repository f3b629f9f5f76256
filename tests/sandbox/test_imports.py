"""The sandbox package's shape: imports that point one way, small files, no private pokes."""

from __future__ import annotations

import ast
from pathlib import Path

import qai.sandbox

ROOT = Path(qai.sandbox.__file__).parent
# What the sandbox package may import of QAI besides itself: no domain package, ever.
ALLOWED = {"qai.settings", "qai.errors", "qai.logs"}
MAX_LINES = 800


def module_name(path: Path) -> str:
    parts = ["qai", "sandbox", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def runtime_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """The imports a module runs: module-level ones, not those under ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
    return found


def imported(node: ast.Import | ast.ImportFrom) -> list[str]:
    """The modules an import statement loads (``from a import b``: ``a.b`` if it is one)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text())
        edges[name] = {
            target
            for node in runtime_imports(tree)
            for target in imported(node)
            if target in MODULES and target != name
        }
    return edges


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``edges``, or None."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def part(module: str) -> str:
    """The sub-package (``qai.sandbox.local``) or top-level module a module belongs to."""
    return ".".join(module.split(".")[:3])


def test_no_two_modules_import_each_other() -> None:
    assert cycle(graph()) is None


def test_sub_packages_point_one_way() -> None:
    parts: dict[str, set[str]] = {}
    for source, targets in graph().items():
        if source == "qai.sandbox":
            continue  # the package's face imports every part it shows
        parts.setdefault(part(source), set()).update(
            part(t) for t in targets if part(t) != part(source)
        )
    assert cycle(parts) is None
    assert "qai.sandbox.local" not in parts.get("qai.sandbox.preview", set())


def test_no_domain_package_is_imported_anywhere() -> None:
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in imported(node):
                    if target.startswith("qai.") and not target.startswith("qai.sandbox"):
                        assert target in ALLOWED, f"{name} imports {target}"


def test_imports_are_at_module_level() -> None:
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text())
        top = set(runtime_imports(tree))
        for statement in tree.body:
            if isinstance(statement, ast.If) and is_type_checking(statement):
                top.update(n for n in statement.body if isinstance(n, ast.Import | ast.ImportFrom))
            if isinstance(statement, ast.Try):  # an optional system library, tried at import
                top.update(n for n in statement.body if isinstance(n, ast.Import | ast.ImportFrom))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                assert node in top, f"{name}:{node.lineno} imports inside a function"


def test_files_stay_small() -> None:
    for name, path in MODULES.items():
        lines = len(path.read_text().splitlines())
        assert lines <= MAX_LINES, f"{name} has {lines} lines: split it"


def test_no_class_reaches_into_another_objects_private_state() -> None:
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                raise AssertionError(f"{name}:{node.lineno} reads .{node.attr} of another object")
