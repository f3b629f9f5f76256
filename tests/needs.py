"""What a test needs from the machine, checked the same way everywhere: a test that needs
something missing skips with the reason, unless CI requires it (``QAI_TEST_REQUIRE_*=1``),
where the same absence fails the test."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from qai.sandbox import TEMPLATES

# CI runs the sandbox tests whenever it runs the PostgreSQL ones (see tests/sandbox/conftest.py).
REQUIRE_BWRAP = any(
    os.environ.get(name) == "1" for name in ("QAI_TEST_REQUIRE_BWRAP", "QAI_TEST_REQUIRE_POSTGRES")
)


def missing(reason: str, *, required: bool, variable: str) -> None:
    if required:
        pytest.fail(f"{variable}=1 but {reason}")
    pytest.skip(reason)


def require_bwrap() -> None:
    """Skip without bubblewrap (and root), unless CI requires it."""
    if shutil.which("bwrap") is None:
        reason = "bubblewrap is not installed (apt-get install bubblewrap)"
    elif os.geteuid() != 0:
        reason = "the bwrap sandbox backend needs root"
    else:
        return
    missing(reason, required=REQUIRE_BWRAP, variable="QAI_TEST_REQUIRE_BWRAP")


def mark_prepared(data_dir: Path, template: str) -> Path:
    """Make ``template`` count as prepared in ``data_dir`` (its cache's marker, no install): for
    tests of what is offered and accepted, not of running the template."""
    found = TEMPLATES[template]
    cache = found.cache_dir(data_dir)
    assert cache is not None
    assert found.cached is not None
    (cache / found.cached).mkdir(parents=True, exist_ok=True)
    (cache / ".complete").touch()
    return cache


REQUIRE_NODE = os.environ.get("QAI_TEST_REQUIRE_NODE") == "1"


def require_node() -> tuple[str, str]:
    """The paths of node and npm (the original's client runs on them); skip without them,
    unless CI requires them (``QAI_TEST_REQUIRE_NODE=1``)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing(
            "node and npm are not installed (apt-get install nodejs npm)",
            required=REQUIRE_NODE,
            variable="QAI_TEST_REQUIRE_NODE",
        )
    assert node is not None
    assert npm is not None
    return node, npm
