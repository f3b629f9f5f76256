"""The file verbs stay inside the sandbox directory, whatever the directory holds.

These run QAI's host-side file code on a plain directory: a sandbox's processes can put any
symlink in their directory, so each case plants one and checks nothing outside is touched.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from qai.sandbox import READ_LIMIT, SandboxFileNotFound, SandboxPathError
from qai.sandbox.local.files import list_files, read_file, read_files, relative_path, write_file


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "sandbox"
    root.mkdir()
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("host secret")
    return outside


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("app/page.tsx", "app/page.tsx"),
        ("./app//page.tsx", "app/page.tsx"),
        ("/home/user/app/page.tsx", "app/page.tsx"),
    ],
)
def test_relative_paths(given: str, expected: str) -> None:
    assert relative_path(given) == expected


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("/etc/passwd", "outside the sandbox"),
        ("/home/userx/a", "outside the sandbox"),
        ("../escape.txt", "'..'"),
        ("app/../../escape.txt", "'..'"),
        ("/home/user/../../etc/passwd", "'..'"),
        ("", "empty"),
        (".", "directory"),
        ("/home/user", "directory"),
        ("a\0b", "NUL"),
    ],
)
def test_paths_leaving_the_sandbox_are_refused(root: Path, given: str, says: str) -> None:
    with pytest.raises(SandboxPathError, match=says) as caught:
        write_file(root, given, "x", None)
    assert caught.value.code == "BAD_REQUEST"
    assert repr(given) in caught.value.message
    assert list(root.iterdir()) == []


def test_write_then_read_creates_directories(root: Path) -> None:
    write_file(root, "app/components/ui/button.tsx", "export const é = 1;\n", None)
    assert read_file(root, "/home/user/app/components/ui/button.tsx") == "export const é = 1;\n"
    assert sorted(p.name for p in root.rglob("*")) == ["app", "button.tsx", "components", "ui"]


def test_write_gives_new_files_to_the_owner(root: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("changing owners needs root")
    write_file(root, "a/b.txt", "x", (4242, 4243))
    assert (root / "a").stat().st_uid == 4242
    assert (root / "a" / "b.txt").stat().st_gid == 4243


def test_symlinked_directory_leading_outside_is_refused(root: Path, outside: Path) -> None:
    (root / "evil").symlink_to(outside)
    with pytest.raises(SandboxPathError, match="leads outside"):
        write_file(root, "evil/planted.txt", "x", None)
    with pytest.raises(SandboxPathError, match="leads outside"):
        read_file(root, "evil/secret.txt")
    assert not (outside / "planted.txt").exists()


def test_relative_symlink_climbing_out_is_refused(root: Path, outside: Path) -> None:
    (root / "sub").mkdir()
    (root / "sub" / "up").symlink_to("../../outside")
    with pytest.raises(SandboxPathError, match="climbs above"):
        read_file(root, "sub/up/secret.txt")
    with pytest.raises(SandboxPathError, match="climbs above"):
        write_file(root, "sub/up/planted.txt", "x", None)
    assert not (outside / "planted.txt").exists()


def test_symlinked_file_leading_outside_is_refused(root: Path, outside: Path) -> None:
    (root / "link.txt").symlink_to(outside / "secret.txt")
    with pytest.raises(SandboxPathError, match="leads outside"):
        read_file(root, "link.txt")
    with pytest.raises(SandboxPathError, match="leads outside"):
        write_file(root, "link.txt", "overwritten", None)
    assert (outside / "secret.txt").read_text() == "host secret"


def test_symlinks_inside_the_sandbox_are_followed(root: Path) -> None:
    (root / "real").mkdir()
    (root / "alias").symlink_to("real")
    (root / "absolute").symlink_to("/home/user/real")
    write_file(root, "alias/a.txt", "one", None)
    write_file(root, "absolute/b.txt", "two", None)
    assert sorted(p.name for p in (root / "real").iterdir()) == ["a.txt", "b.txt"]
    assert read_file(root, "absolute/a.txt") == "one"


def test_symlink_loops_end(root: Path) -> None:
    (root / "a").symlink_to("b")
    (root / "b").symlink_to("a")
    with pytest.raises(SandboxPathError, match="too many levels"):
        read_file(root, "a/x")


def test_missing_file_and_directory(root: Path) -> None:
    with pytest.raises(SandboxFileNotFound, match=r"missing\.txt"):
        read_file(root, "missing.txt")
    with pytest.raises(SandboxFileNotFound):
        read_file(root, "no/such/dir.txt")
    (root / "dir").mkdir()
    with pytest.raises(SandboxPathError, match="not a regular file"):
        read_file(root, "dir")
    with pytest.raises(SandboxPathError, match="is a directory"):
        write_file(root, "dir", "x", None)


def test_a_fifo_is_not_read(root: Path) -> None:
    os.mkfifo(root / "pipe")
    outcome: list[BaseException] = []
    reader = threading.Thread(target=lambda: _capture(outcome, root), daemon=True)
    reader.start()
    reader.join(timeout=5)
    assert not reader.is_alive(), "reading a FIFO blocked"
    assert isinstance(outcome[0], SandboxPathError)


def _capture(outcome: list[BaseException], root: Path) -> None:
    try:
        read_file(root, "pipe")
    except SandboxPathError as exc:
        outcome.append(exc)


def test_large_files_are_not_read(root: Path) -> None:
    (root / "big.bin").write_bytes(b"x" * (READ_LIMIT + 1))
    with pytest.raises(SandboxPathError, match="over"):
        read_file(root, "big.bin")


def test_list_files_leaves_out_noise(root: Path, outside: Path) -> None:
    for path in (
        "index.html",
        ".env",
        "app/page.tsx",
        "node_modules/x/index.js",
        ".next/cache/a",
        ".git/HEAD",
        "app/__pycache__/m.pyc",
    ):
        write_file(root, path, "x", None)
    (root / "link").symlink_to(outside)
    (root / "link.txt").symlink_to(outside / "secret.txt")
    assert list_files(root) == [".env", "app/page.tsx", "index.html"]


def test_reads_are_capped_per_call(root: Path) -> None:
    for name in ("a.txt", "b.txt", "c.txt"):
        (root / name).write_bytes(b"\xff" * 1000)  # bad UTF-8 counts as the bytes read
    with pytest.raises(SandboxPathError, match="QAI_SANDBOX_READ_MAX_FILES"):
        read_files(root, ["a.txt", "b.txt", "c.txt"], max_files=2, max_bytes=10_000)
    with pytest.raises(SandboxPathError, match="QAI_SANDBOX_READ_MAX_MB"):
        read_files(root, ["a.txt", "b.txt", "c.txt"], max_files=3, max_bytes=2500)
    found = read_files(root, ["a.txt", "b.txt"], max_files=2, max_bytes=2000)
    assert list(found) == ["a.txt", "b.txt"]
