"""`qai` starts with Python's garbage collector off (its passes over the objects start-up makes
were 0.4 s of a 2.4 s start) and turns it back on before any command's work: `qai serve` once
its app is built, just before the server runs; every other command before it runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.live import base_env

# Run as `python -m qai` runs, with uvicorn's server replaced by a print of the collector's
# state at the moment it would start serving.
SERVE = """
import gc, sys, uvicorn
uvicorn.Server.run = lambda self: print("serving with gc enabled:", gc.isenabled())
sys.argv = ["qai", "serve"]
from qai.__main__ import run
run()
"""

COMMAND = """
import atexit, gc, sys
atexit.register(lambda: print("command ran with gc enabled:", gc.isenabled()))
sys.argv = ["qai", "settings"]
from qai.__main__ import run
run()
"""


def run_python(code: str, tmp_path: Path) -> str:
    env = base_env(f"sqlite:///{tmp_path / 'qai.db'}", tmp_path / "data")
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_serve_collects_garbage_again_once_its_app_is_built(tmp_path: Path) -> None:
    assert "serving with gc enabled: True" in run_python(SERVE, tmp_path)


def test_other_commands_collect_garbage_while_they_run(tmp_path: Path) -> None:
    assert "command ran with gc enabled: True" in run_python(COMMAND, tmp_path)


def test_the_entry_point_turns_the_collector_off_while_it_loads(tmp_path: Path) -> None:
    code = """
import gc, sys
import qai.cli
def main():
    print("loaded with gc enabled:", gc.isenabled())
qai.cli.main = main
from qai.__main__ import run
run()
"""
    assert "loaded with gc enabled: False" in run_python(code, tmp_path)
