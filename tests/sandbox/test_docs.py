"""docs/sandbox.md documents every sandbox setting, CLI command, template and error."""

from __future__ import annotations

from pathlib import Path

import typer.main

import qai.sandbox
from qai.cli.sandbox import app
from qai.sandbox import TEMPLATES, SandboxError
from qai.settings import Settings

DOC = (Path(__file__).parents[2] / "docs" / "sandbox.md").read_text()


def test_every_sandbox_setting_is_documented() -> None:
    names = [n for n in Settings.model_fields if n.startswith("sandbox_")]
    names += ["default_template", "preview_url_template"]
    assert len(names) > 10
    for name in names:
        assert f"`QAI_{name.upper()}`" in DOC, f"docs/sandbox.md misses QAI_{name.upper()}"


def test_every_command_template_and_error_is_documented() -> None:
    group = typer.main.get_command(app)
    for command in group.commands:  # type: ignore[attr-defined]
        assert f"qai sandbox {command}" in DOC, f"docs/sandbox.md misses `qai sandbox {command}`"
    for template in TEMPLATES:
        assert f"`{template}`" in DOC
    errors = [
        name
        for name in qai.sandbox.__all__
        if isinstance(getattr(qai.sandbox, name), type)
        and issubclass(getattr(qai.sandbox, name), SandboxError)
    ]
    for name in errors:
        assert f"`{name}`" in DOC, f"docs/sandbox.md misses {name}"
