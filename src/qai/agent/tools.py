"""The agent's three tools. Each call is one durable step: a resumed run replays finished calls
from their checkpoints and only re-runs the one that was in flight.

Failures (a command's non-zero exit, a bad path, a sandbox error) go back to the model as text it
can act on; they never end the run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from dbos import DBOS
from pydantic import BaseModel, Field
from pydantic_ai import RunContext, Tool

from qai.agent._sandbox import SandboxSpec
from qai.errors import QaiError

log = logging.getLogger("qai.agent")

MAX_OUTPUT_CHARS = 12_000
StepKind = Literal["terminal", "write", "read", "check", "model"]


class StepLog(Protocol):
    """Where tool and model calls are recorded (the run's steps, shown live to the user)."""

    async def started(self, seq: int, kind: StepKind, label: str) -> None: ...

    async def retrying(self, seq: int, *, retry: int, max_retries: int) -> None:
        """The model call ``seq`` failed and is being sent again: retry ``retry`` of
        ``max_retries``."""

    async def finished(
        self,
        seq: int,
        *,
        ok: bool,
        detail: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
    ) -> None: ...


@dataclass
class AgentDeps:
    """What the tools of one run share. Lives in the workflow: rebuilt identically on replay."""

    sandbox: SandboxSpec
    steps: StepLog
    base_files: dict[str, str]
    command_timeout: float
    written: dict[str, str] = field(default_factory=dict)
    seq: int = 0
    model_turns: int = 0
    # The step of the model call in flight (its retries are recorded on it).
    model_step: int = 0

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def seed_files(self) -> dict[str, str]:
        """What a sandbox that had to be rebuilt mid-run must contain."""
        return {**self.base_files, **self.written}


@dataclass(frozen=True)
class ToolResult:
    text: str
    ok: bool


class FileEntry(BaseModel):
    path: str = Field(description="Relative to the app's root, e.g. app/page.tsx")
    content: str


def normalise_path(path: str) -> str:
    path = path.strip()
    while path.startswith("./"):
        path = path[2:]
    return path


def _clip(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n... ({len(text) - limit} characters cut) ...\n{text[-half:]}"


def _files_label(verb: str, paths: list[str]) -> str:
    if not paths:
        return f"{verb} no files"
    more = len(paths) - 1
    return f"{verb} {paths[0]}" + (
        f" and {more} more file{'s' if more > 1 else ''}" if more else ""
    )


def _command_label(command: str) -> str:
    flat = " ".join(command.split())
    return f"Running {flat if len(flat) <= 80 else flat[:77] + '...'}"


@DBOS.step(name="qai.agent.terminal")
async def terminal_step(
    spec: SandboxSpec,
    seed: Mapping[str, str],
    steps: StepLog,
    seq: int,
    command: str,
    command_timeout: float,
) -> ToolResult:
    await steps.started(seq, "terminal", _command_label(command))
    try:
        sandbox = await spec.open(seed)
        result = await sandbox.exec(command, timeout=command_timeout)
    except QaiError as exc:
        await steps.finished(seq, ok=False, detail=exc.message)
        return ToolResult(f"Command failed: the sandbox could not run it: {exc.message}", False)
    except Exception as exc:
        await steps.finished(seq, ok=False, detail=f"sandbox failure: {exc}")
        raise
    if result.exit_code == 0 and not result.timed_out:
        await steps.finished(seq, ok=True)
        output = result.stdout if result.stdout.strip() else "(no output)"
        if result.stderr.strip():
            output += f"\nstderr:\n{result.stderr}"
        return ToolResult(_clip(output), True)
    reason = (
        f"timed out after {command_timeout:g} seconds and was stopped"
        if result.timed_out
        else f"exit code {result.exit_code}"
    )
    await steps.finished(seq, ok=False, detail=f"{reason}: {result.stderr.strip()[:500]}")
    return ToolResult(
        _clip(f"Command failed: {reason}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"),
        False,
    )


@DBOS.step(name="qai.agent.write")
async def write_step(
    spec: SandboxSpec,
    seed: Mapping[str, str],
    steps: StepLog,
    seq: int,
    files: dict[str, str],
) -> ToolResult:
    paths = list(files)
    await steps.started(seq, "write", _files_label("Writing", paths))
    try:
        sandbox = await spec.open(seed)
        await sandbox.write_files(files)
    except QaiError as exc:
        await steps.finished(seq, ok=False, detail=exc.message)
        return ToolResult(f"Could not write the files: {exc.message}", False)
    except Exception as exc:
        await steps.finished(seq, ok=False, detail=f"sandbox failure: {exc}")
        raise
    await steps.finished(seq, ok=True)
    return ToolResult("Written: " + ", ".join(paths), True)


@DBOS.step(name="qai.agent.read")
async def read_step(
    spec: SandboxSpec,
    seed: Mapping[str, str],
    steps: StepLog,
    seq: int,
    paths: list[str],
) -> ToolResult:
    await steps.started(seq, "read", _files_label("Reading", paths))
    try:
        sandbox = await spec.open(seed)
        found = await sandbox.read_files(paths)
    except QaiError as exc:
        await steps.finished(seq, ok=False, detail=exc.message)
        return ToolResult(f"Could not read the files: {exc.message}", False)
    except Exception as exc:
        await steps.finished(seq, ok=False, detail=f"sandbox failure: {exc}")
        raise
    await steps.finished(seq, ok=True)
    return ToolResult(
        json.dumps([{"path": path, "content": found[path]} for path in paths if path in found]),
        True,
    )


async def terminal(ctx: RunContext[AgentDeps], command: str) -> str:
    """Run a shell command in the app's root directory and return its output."""
    deps = ctx.deps
    result = await terminal_step(
        deps.sandbox, deps.seed_files(), deps.steps, deps.next_seq(), command, deps.command_timeout
    )
    return result.text


async def create_or_update_files(ctx: RunContext[AgentDeps], files: list[FileEntry]) -> str:
    """Create or overwrite files; paths are relative to the app's root."""
    deps = ctx.deps
    if not files:
        return "No files given: pass at least one {path, content}."
    batch = {normalise_path(entry.path): entry.content for entry in files}
    result = await write_step(deps.sandbox, deps.seed_files(), deps.steps, deps.next_seq(), batch)
    if result.ok:
        deps.written.update(batch)
    return result.text


async def read_files(ctx: RunContext[AgentDeps], files: list[str]) -> str:
    """Read files; returns a JSON list of {path, content}."""
    deps = ctx.deps
    if not files:
        return "No files given: pass at least one path."
    paths = [normalise_path(path) for path in files]
    result = await read_step(deps.sandbox, deps.seed_files(), deps.steps, deps.next_seq(), paths)
    return result.text


TOOLS: list[Tool[AgentDeps]] = [
    Tool(terminal, name="terminal"),
    Tool(create_or_update_files, name="createOrUpdateFiles"),
    Tool(read_files, name="readFiles"),
]
