"""QAI's walks of a sandbox directory (as root, on the host) go by descriptor: a sandbox process
swapping a directory for a symlink to a host directory, as fast as it can, while QAI chowns,
sizes and lists the tree, never redirects them there."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from qai.sandbox import LocalSandbox, LocalSandboxManager
from qai.sandbox.local.files import (
    MAX_WALK_DEPTH,
    TreeTooDeep,
    chown_tree,
    list_files,
    tree_size,
)

pytestmark = pytest.mark.bwrap

# In the sandbox: race/d is a directory holding files named like the host directory's, then
# (two renames later) a symlink to the host directory, then a directory again, for ever.
SWAPPER = """
import os, sys
os.makedirs("race/d/deeper", exist_ok=True)
for name in ("marker.txt", "big.bin", "deeper/marker.txt"):
    open("race/d/" + name, "w").close()
os.symlink(sys.argv[1], "race/link")
open("race/started", "w").close()
while True:
    os.rename("race/d", "race/tmp")
    os.rename("race/link", "race/d")
    os.rename("race/d", "race/link")
    os.rename("race/tmp", "race/d")
"""

ROUNDS = 300
HOST_BYTES = 8 << 20


@pytest.fixture
def host_dir(tmp_path: Path) -> Path:
    """A host directory the sandbox cannot reach: files named like the sandbox's (to be
    chowned or sized through the swapped link) and files only the host has (to be listed)."""
    outside = tmp_path / "outside"
    (outside / "deeper").mkdir(parents=True)
    for name in ("marker.txt", "deeper/marker.txt", "host-only.txt", "deeper/host-only.txt"):
        (outside / name).write_text("host secret")
    (outside / "big.bin").write_bytes(os.urandom(HOST_BYTES))
    return outside


async def test_walks_are_not_redirected_by_a_swapped_symlink(
    manager: LocalSandboxManager, host_dir: Path
) -> None:
    sandbox = await manager.start("web", name="swapper", files={"swap.py": SWAPPER})
    assert isinstance(sandbox, LocalSandbox)
    assert sandbox.uid is not None
    owner = (sandbox.uid, sandbox.uid)
    before = owners(host_dir)
    swapper = asyncio.create_task(sandbox.exec(f"python3 swap.py {host_dir}", timeout=120))
    try:
        await asyncio.to_thread(wait_for, sandbox.directory / "race" / "started")

        def walk_many() -> tuple[set[str], int, int]:
            listed: set[str] = set()
            largest = 0
            chowns = 0
            deadline = time.monotonic() + 60
            for _ in range(ROUNDS):
                chown_tree(sandbox.directory, owner)
                chowns += 1
                largest = max(largest, tree_size(sandbox.directory))
                listed.update(list_files(sandbox.directory))
                if time.monotonic() > deadline:
                    break
            return listed, largest, chowns

        listed, largest, chowns = await asyncio.to_thread(walk_many)
        listed.update(await sandbox.list_files())
    finally:
        swapper.cancel()
        await manager.stop("swapper")
    assert chowns > 50
    assert not [path for path in listed if "host-" in path], listed
    assert largest < HOST_BYTES // 2, f"{largest} bytes counted: the host's file among them"
    assert owners(host_dir) == before, "a host file was given to the sandbox's uid"
    # The walks did reach the sandbox's own files.
    assert "swap.py" in listed
    assert (sandbox.directory / "swap.py").stat().st_uid == sandbox.uid


def owners(directory: Path) -> dict[Path, tuple[int, int]]:
    return {p: (p.lstat().st_uid, p.lstat().st_gid) for p in [directory, *directory.rglob("*")]}


def wait_for(path: Path) -> None:
    deadline = time.monotonic() + 10
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def test_walks_skip_what_is_nested_too_deep_and_its_size_is_not_trusted(tmp_path: Path) -> None:
    """A sandbox can nest directories as deep as it likes; the walks (a descriptor open per
    level) go down to MAX_WALK_DEPTH and no further, instead of failing. What lies deeper is
    not measured, so the size of such a tree is refused rather than undercounted (the reaper
    stops the sandbox: bytes hidden below the walk would escape the disk limit)."""
    root = tmp_path / "deep"
    root.mkdir()
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(MAX_WALK_DEPTH + 50):
            os.mkdir("d", dir_fd=fd)
            next_fd = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        with open(os.open("bottom.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as f:
            f.write("deep")
    finally:
        os.close(fd)
    (root / "top.txt").write_text("top")
    assert list_files(root) == ["top.txt"]
    with pytest.raises(TreeTooDeep):
        tree_size(root)
    chown_tree(root, (os.getuid(), os.getgid()))  # goes down as far as it can, no error


def test_a_tree_exactly_as_deep_as_the_walk_is_measured(tmp_path: Path) -> None:
    root = tmp_path / "deep"
    path = root
    for _ in range(MAX_WALK_DEPTH):
        path = path / "d"
    path.mkdir(parents=True)
    (path / "bottom.txt").write_text("x" * 10_000)
    assert tree_size(root) >= 10_000


def test_walks_of_a_missing_directory_find_nothing(tmp_path: Path) -> None:
    assert list_files(tmp_path / "gone") == []
    assert tree_size(tmp_path / "gone") == 0
