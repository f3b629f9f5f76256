"""The docs stay true: every CLI command is documented and answers --help."""

from __future__ import annotations

from pathlib import Path

import typer.main
from typer.testing import CliRunner

from qai.cli import app

DOCS = Path(__file__).parents[1] / "docs"


def command_paths(command: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(getattr(command, "commands", None), dict):
        paths: list[tuple[str, ...]] = []
        for name, sub in command.commands.items():  # type: ignore[attr-defined]
            paths += command_paths(sub, (*prefix, name))
        return paths
    return [prefix]


def test_every_command_is_documented_and_has_help() -> None:
    cli_docs = (DOCS / "cli.md").read_text()
    root = typer.main.get_command(app)
    paths = command_paths(root)
    assert ("serve",) in paths
    assert ("db", "adopt") in paths
    runner = CliRunner()
    for path in paths:
        assert f"qai {' '.join(path)}" in cli_docs, f"docs/cli.md misses `qai {' '.join(path)}`"
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output


def test_readme_quick_start_is_two_commands() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = readme.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make serve", "make test"]
    for link in ("docs/settings.md", "docs/api.md", "docs/cli.md", "docs/database.md"):
        assert (Path(__file__).parents[1] / link).exists()
