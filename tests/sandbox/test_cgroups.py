"""How QAI finds the cgroups it gives sandboxes, from /proc's view of the host.

This machine has cgroup v1 (tests/sandbox/test_budget.py runs real sandboxes in it); a v2 host
is laid out here as files, which is what the kernel's cgroup file system looks like to QAI.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qai.sandbox.local.cgroups import Budget, Cgroups

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="cgroups are QAI's only as root")


def fake_proc(tmp_path: Path, mountinfo: str, cgroup: str) -> Path:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "mountinfo").write_text(mountinfo)
    (proc / "cgroup").write_text(cgroup)
    return proc


def test_a_v2_host_gives_each_sandbox_memory_max_and_pids_max(tmp_path: Path) -> None:
    unified = tmp_path / "cgroup"
    own = unified / "qai.service"
    own.mkdir(parents=True)
    (own / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (own / "cgroup.subtree_control").write_text("\n")
    proc = fake_proc(
        tmp_path,
        f"30 23 0:26 / {unified} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
        "0::/qai.service\n",
    )
    cgroups, reason = Cgroups.detect(proc)
    assert cgroups is not None, reason
    assert cgroups.version == "v2"
    assert (own / "cgroup.subtree_control").read_text().split() == ["+memory", "+pids"]
    procs = cgroups.create(4242, Budget(memory_bytes=64 << 20, processes=50))
    sandbox = own / "qai-sandbox-4242"
    assert procs == [sandbox / "cgroup.procs"]
    assert (sandbox / "memory.max").read_text() == f"{64 << 20}\n"
    assert (sandbox / "pids.max").read_text() == "50\n"


def test_a_host_without_the_controllers_falls_back_and_says_why(tmp_path: Path) -> None:
    unified = tmp_path / "unified"
    unified.mkdir()
    (unified / "cgroup.controllers").write_text("\n")  # hybrid: the controllers are on v1
    proc = fake_proc(
        tmp_path,
        f"41 31 0:38 / {unified} rw,relatime - cgroup2 cgroup2 rw\n"
        f"32 31 0:29 / {tmp_path}/cpu rw,relatime - cgroup cgroup rw,cpu\n",
        "1:cpu:/\n0::/\n",
    )
    cgroups, reason = Cgroups.detect(proc)
    assert cgroups is None
    assert "memory" in reason
    assert "v1 memory controller" in reason


def test_this_host_is_found_as_it_is() -> None:
    cgroups, reason = Cgroups.detect()
    mounted = Path("/proc/self/mountinfo").read_text()
    if " - cgroup cgroup " in mounted and ",memory" in mounted and ",pids" in mounted:
        assert cgroups is not None, reason
        assert cgroups.version in ("v1", "v2")
