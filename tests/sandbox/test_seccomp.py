"""The syscall filter: calls the profile denies fail inside a real sandbox (in its init and in
every command), while ordinary commands, node and npm work."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from qai.sandbox import LocalSandbox, LocalSandboxManager
from qai.sandbox.local import seccomp
from qai.sandbox.local.isolation import is_filtered
from tests.needs import require_bwrap

from .conftest import TEST_TEMPLATES, make_settings

pytestmark = pytest.mark.bwrap

# Each call as ctypes.syscall(number, *args) on x86_64 and aarch64, and its outcome as
# (return value, errno name).
PROBE = r"""
import ctypes, errno, json, platform
libc = ctypes.CDLL(None, use_errno=True)
NR = {
    "x86_64": dict(io_uring_setup=425, add_key=248, keyctl=250, ptrace=101, unshare=272,
                   clone3=435, personality=135, bpf=321, perf_event_open=298, userfaultfd=323,
                   setns=308, getpid=39),
    "aarch64": dict(io_uring_setup=425, add_key=217, keyctl=219, ptrace=117, unshare=97,
                    clone3=435, personality=92, bpf=280, perf_event_open=241, userfaultfd=282,
                    setns=268, getpid=172),
}[platform.machine()]
params = ctypes.create_string_buffer(120)
calls = {
    "io_uring_setup": (NR["io_uring_setup"], 1, params),
    "add_key": (NR["add_key"], b"user", b"qai", b"x", 1, ctypes.c_long(-2)),
    "keyctl": (NR["keyctl"], 0, ctypes.c_long(-2), 0),
    "ptrace": (NR["ptrace"], 0, 0, 0, 0),
    "unshare": (NR["unshare"], 0x10000000),
    "clone3": (NR["clone3"], 0, 0),
    "personality": (NR["personality"], 0x0008),
    "personality_linux": (NR["personality"], 0),
    "bpf": (NR["bpf"], 0, 0, 0),
    "perf_event_open": (NR["perf_event_open"], 0, 0, -1, -1, 0),
    "userfaultfd": (NR["userfaultfd"], 0),
    "setns": (NR["setns"], 0, 0),
    "getpid": (NR["getpid"],),
}
out = {}
for name, (number, *args) in calls.items():
    ctypes.set_errno(0)
    result = libc.syscall(number, *args)
    out[name] = [result, errno.errorcode.get(ctypes.get_errno(), "") if result == -1 else ""]
print(json.dumps(out))
"""

DENIED_WITH_EPERM = (
    "io_uring_setup",
    "add_key",
    "keyctl",
    "ptrace",
    "unshare",
    "personality",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "setns",
)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSandbox]:
    """One sandbox for the module (the manager runs on a loop of its own)."""
    require_bwrap()  # a module's fixture starts before the bwrap marker's skip is looked at
    data_dir = tmp_path_factory.mktemp("seccomp") / "data"
    manager = LocalSandboxManager(make_settings(data_dir), templates=TEST_TEMPLATES)
    try:
        started = asyncio.run(manager.start("web", name="filtered"))
        assert isinstance(started, LocalSandbox)
        yield started
    finally:
        asyncio.run(manager.shutdown())


def proc_status(pid: int) -> str:
    return Path(f"/proc/{pid}/status").read_text()


async def probe(sandbox: LocalSandbox) -> dict[str, list[object]]:
    await sandbox.write_files({"probe.py": PROBE})
    result = await sandbox.exec("python3 probe.py")
    assert result.ok, result
    found: dict[str, list[object]] = json.loads(result.stdout)
    return found


async def test_denied_calls_fail_with_eperm_in_a_command(sandbox: LocalSandbox) -> None:
    found = await probe(sandbox)
    for name in DENIED_WITH_EPERM:
        assert found[name] == [-1, "EPERM"], (name, found)
    assert found["clone3"] == [-1, "ENOSYS"], found  # glibc falls back to clone
    assert found["personality_linux"][0] != -1, found  # PER_LINUX stays allowed
    assert found["getpid"][0] > 0, found


async def test_the_init_and_its_server_are_filtered(sandbox: LocalSandbox) -> None:
    assert is_filtered(sandbox.pid)
    assert sandbox.server is not None
    assert "Seccomp:\t2" in proc_status(sandbox.pid)  # SECCOMP_MODE_FILTER
    # Every process of the sandbox runs filtered, but for the moment between a command's
    # entering the sandbox and its loader's installing the filter (the loader is QAI's, run
    # before the command: `python3 -I -S -c <loader> /etc/qai-seccomp.bpf ...`).
    ps = await sandbox.exec(
        "for d in /proc/[0-9]*; do "
        "printf '%s %s ' \"${d#/proc/}\" \"$(grep '^Seccomp:' $d/status 2>/dev/null | cut -f2)\"; "
        "tr '\\0' ' ' < $d/cmdline 2>/dev/null; echo; done"
    )
    assert ps.ok, ps
    rows = [line.split(" ", 2) for line in ps.stdout.splitlines() if line.strip()]
    assert any(row[1] == "2" for row in rows), ps.stdout
    unfiltered = [row for row in rows if row[1] == "0"]
    assert all(
        "/etc/qai-seccomp.bpf" in row[2] and row[2].startswith("/usr/bin/python3 -I -S -c")
        for row in unfiltered
    ), unfiltered


async def test_ordinary_commands_node_and_npm_work(sandbox: LocalSandbox) -> None:
    result = await sandbox.exec(
        "set -e; ls -la >/dev/null; echo hi | sed s/hi/sed/; python3 -c 'print(1 + 1)'; "
        "node -e \"const fs = require('fs'); fs.writeFileSync('/tmp/n', 'node');"
        " fs.promises.readFile('/tmp/n', 'utf8').then((t) => console.log(t));"
        " require('child_process').execFileSync('true');"
        " new (require('worker_threads').Worker)('1', { eval: true });\"; "
        "npm --version >/dev/null; cd /tmp && npm init -y >/dev/null && "
        "npm pkg set scripts.hello='echo npm-ran' && npm run -s hello"
    )
    assert result.ok, result
    assert result.stdout.split() == ["sed", "2", "node", "npm-ran"], result


def test_the_profile_compiles_and_lists_what_it_denies() -> None:
    program = seccomp.compile_bpf()
    assert program
    assert len(program) % 8 == 0  # whole BPF instructions
    for name in ("io_uring_setup", "add_key", "ptrace", "unshare", "mount", "bpf", "kexec_load"):
        assert name in seccomp.DENIED


async def test_the_filter_can_be_turned_off(tmp_path: Path) -> None:
    manager = LocalSandboxManager(
        make_settings(tmp_path / "data", sandbox_seccomp=False), templates=TEST_TEMPLATES
    )
    try:
        sandbox = await manager.start("web", name="unfiltered")
        assert isinstance(sandbox, LocalSandbox)
        assert not is_filtered(sandbox.pid)
        found = await probe(sandbox)
        assert found["add_key"][1] != "EPERM", found
    finally:
        await manager.shutdown()


async def test_commands_keep_default_signal_dispositions(sandbox: LocalSandbox) -> None:
    # SigIgn is the mask of ignored signals: the filter's loader must not leave SIGPIPE (13)
    # or SIGXFSZ (25) ignored, or `yes | head` and the file-size limit behave otherwise.
    result = await sandbox.exec("grep SigIgn /proc/self/status; yes | head -n 1")
    assert result.ok, result
    ignored = int(result.stdout.split()[1], 16)
    assert not ignored & (1 << (13 - 1) | 1 << (25 - 1)), result.stdout


async def test_modules_in_the_sandbox_directory_cannot_stop_the_loader(
    sandbox: LocalSandbox,
) -> None:
    # The loader runs in /home/user before the filter is installed: a ctypes.py or signal.py
    # there must not be what it imports.
    hijack = "import os, sys; print('hijacked'); os.execv(sys.argv[2], sys.argv[2:])\n"
    await sandbox.write_files({"ctypes.py": hijack, "signal.py": hijack})
    try:
        result = await sandbox.exec("grep '^Seccomp:' /proc/self/status")
    finally:
        await sandbox.exec("rm -f ctypes.py signal.py")
    assert result.stdout == "Seccomp:\t2\n", result
