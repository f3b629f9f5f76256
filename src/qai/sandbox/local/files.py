"""File verbs on a sandbox directory, done by QAI on the host and confined to that directory.

The directory is writable by the sandbox's own processes, so it may hold symlinks pointing
anywhere and may change while QAI walks it. Paths are therefore resolved one component at a
time from an open directory descriptor, never following a symlink implicitly (``O_NOFOLLOW``):
a symlink met on the way is read and followed only while it stays inside the directory, and
``..`` is a step back up the stack of directories already opened, never past its root.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import NamedTuple, Protocol

from qai.sandbox._errors import SandboxFileNotFound, SandboxPathError
from qai.sandbox._model import READ_LIMIT, WORKDIR

#: Directories :func:`list_files` leaves out besides dot directories: installed packages and
#: build output, which are noise to someone reading an app's source.
SKIPPED_DIRS = frozenset({"node_modules", "__pycache__"})

#: Most paths :func:`list_files` returns.
LIST_LIMIT = 5000

#: Directories nested deeper than this are not walked into (by :func:`list_files`,
#: :func:`tree_size`, :func:`chown_tree`): the walk holds a descriptor open per level.
MAX_WALK_DEPTH = 100

_MAX_SYMLINKS = 40
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

Owner = tuple[int, int] | None


def owner_of(uid: int | None) -> Owner:
    """The owner of a sandbox's files: its uid and gid (None: QAI's own user)."""
    return (uid, uid) if uid is not None else None


def relative_path(path: str) -> str:
    """Normalise a path given to a file verb into one relative to the sandbox directory.

    ``app/page.tsx``, ``./app/page.tsx`` and ``/home/user/app/page.tsx`` are the same file.
    Any other absolute path, a ``..`` component and an empty path are refused.
    """
    if not path or "\0" in path:
        raise SandboxPathError(f"invalid path {path!r}: empty or contains a NUL byte")
    pure = PurePosixPath(path)
    if pure.is_absolute():
        try:
            pure = pure.relative_to(WORKDIR)
        except ValueError:
            raise SandboxPathError(
                f"path {path!r} is outside the sandbox: give a path relative to {WORKDIR}"
            ) from None
    if ".." in pure.parts:
        raise SandboxPathError(f"path {path!r} leaves the sandbox directory through '..'")
    if not pure.parts or pure == PurePosixPath("."):
        raise SandboxPathError(f"path {path!r} names the sandbox directory, not a file")
    return pure.as_posix()


def check_paths(paths: Iterable[str]) -> None:
    """Refuse the first path :func:`relative_path` refuses: called before writing anything."""
    for path in paths:
        relative_path(path)


class _Walker:
    """Resolves a relative path inside ``root`` to (open parent directory, final name)."""

    def __init__(self, root: Path, original: str, owner: Owner) -> None:
        self.original = original
        self.owner = owner
        self.stack = [os.open(root, _DIR_FLAGS)]
        self.symlinks = 0

    def close(self) -> None:
        for fd in self.stack:
            os.close(fd)
        self.stack.clear()

    @property
    def fd(self) -> int:
        return self.stack[-1]

    def _escape(self, detail: str) -> SandboxPathError:
        return SandboxPathError(f"path {self.original!r} leads outside the sandbox: {detail}")

    def _expand(self, name: str, rest: list[str]) -> list[str]:
        """Components to walk instead of symlink ``name`` followed by ``rest``."""
        self.symlinks += 1
        if self.symlinks > _MAX_SYMLINKS:
            raise SandboxPathError(f"path {self.original!r}: too many levels of symlinks")
        target = PurePosixPath(os.readlink(name, dir_fd=self.fd))
        if target.is_absolute():
            try:
                target = target.relative_to(WORKDIR)
            except ValueError:
                raise self._escape(f"{name!r} is a symlink to {str(target)!r}") from None
            # An absolute target restarts at the root of the sandbox directory.
            for fd in self.stack[1:]:
                os.close(fd)
            del self.stack[1:]
        return [*target.parts, *rest]

    def _up(self) -> None:
        if len(self.stack) == 1:
            raise self._escape("'..' climbs above the sandbox directory")
        os.close(self.stack.pop())

    def _open_dir(self, name: str, *, create: bool) -> int | None:
        """Open directory ``name`` in :attr:`fd`; None when it is a symlink."""
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=self.fd)
        except FileNotFoundError:
            if not create:
                raise SandboxFileNotFound(f"no such file in the sandbox: {self.original}") from None
            os.mkdir(name, 0o755, dir_fd=self.fd)
            fd = os.open(name, _DIR_FLAGS, dir_fd=self.fd)
            if self.owner is not None:
                os.fchown(fd, *self.owner)
            return fd
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            if stat.S_ISLNK(os.stat(name, dir_fd=self.fd, follow_symlinks=False).st_mode):
                return None
            raise SandboxPathError(
                f"path {self.original!r}: {name!r} is a file, not a directory"
            ) from None

    def resolve(self, rel: str, *, create_dirs: bool) -> str:
        """Walk to the last component of ``rel`` and return its name in directory :attr:`fd`.

        Symlinks on the way, the last one included, are followed while they stay inside; the
        returned name is not a symlink (or does not exist yet).
        """
        parts = list(PurePosixPath(rel).parts)
        while parts:
            part = parts.pop(0)
            if part == "..":
                self._up()
            elif not parts and part != ".":
                try:
                    mode = os.stat(part, dir_fd=self.fd, follow_symlinks=False).st_mode
                except FileNotFoundError:
                    return part
                if not stat.S_ISLNK(mode):
                    return part
                parts = self._expand(part, [])
            elif part != ".":
                fd = self._open_dir(part, create=create_dirs)
                if fd is None:
                    parts = self._expand(part, parts)
                else:
                    self.stack.append(fd)
        raise SandboxPathError(f"path {self.original!r} names a directory, not a file")


@contextlib.contextmanager
def _walk(root: Path, path: str, owner: Owner, *, create_dirs: bool) -> Iterator[tuple[int, str]]:
    walker = _Walker(root, path, owner)
    try:
        name = walker.resolve(relative_path(path), create_dirs=create_dirs)
        yield walker.fd, name
    finally:
        walker.close()


def write_file(root: Path, path: str, content: str, owner: Owner) -> None:
    """Write ``content`` (UTF-8) to ``path`` inside ``root``, creating parent directories.

    The file is written under a temporary name and renamed into place, so a dev server
    watching the directory never reads half a file. New files and directories belong to
    ``owner`` (the sandbox's uid and gid) when given.
    """
    data = content.encode()
    with _walk(root, path, owner, create_dirs=True) as (dir_fd, name):
        temp = f".{name[:200]}.qai-{secrets.token_hex(4)}"
        fd = os.open(
            temp,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o644,
            dir_fd=dir_fd,
        )
        try:
            with os.fdopen(fd, "wb", closefd=False) as file:
                file.write(data)
            if owner is not None:
                os.fchown(fd, *owner)
        except BaseException:
            os.close(fd)
            os.unlink(temp, dir_fd=dir_fd)
            raise
        os.close(fd)
        try:
            os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except IsADirectoryError:
            os.unlink(temp, dir_fd=dir_fd)
            raise SandboxPathError(f"path {path!r} is a directory") from None


def read_file(root: Path, path: str) -> str:
    """Return the text of regular file ``path`` inside ``root`` (bad UTF-8 replaced)."""
    return _read_bytes(root, path).decode(errors="replace")


def _read_bytes(root: Path, path: str) -> bytes:
    with _walk(root, path, None, create_dirs=False) as (dir_fd, name):
        try:
            fd = os.open(
                name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd
            )
        except FileNotFoundError:
            raise SandboxFileNotFound(f"no such file in the sandbox: {path}") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise SandboxPathError(f"path {path!r} is not a regular file")
            if info.st_size > READ_LIMIT:
                raise SandboxPathError(
                    f"file {path!r} is {info.st_size} bytes; files over {READ_LIMIT} bytes "
                    "are not read"
                )
            data = os.read(fd, READ_LIMIT + 1)
            while len(data) <= READ_LIMIT and (more := os.read(fd, READ_LIMIT + 1 - len(data))):
                data += more
        finally:
            os.close(fd)
        return data[:READ_LIMIT]


def read_files(
    root: Path, paths: Sequence[str], *, max_files: int, max_bytes: int
) -> dict[str, str]:
    """:func:`read_file` of each of ``paths``, at most ``max_files`` of them and ``max_bytes``
    bytes in all (QAI_SANDBOX_READ_MAX_FILES, QAI_SANDBOX_READ_MAX_MB): past either, nothing
    is returned and :class:`SandboxPathError` says which bound was passed."""
    if len(paths) > max_files:
        raise SandboxPathError(
            f"{len(paths)} files asked for at once; at most {max_files} are read per call "
            "(QAI_SANDBOX_READ_MAX_FILES): read fewer at a time"
        )
    found: dict[str, str] = {}
    total = 0
    for path in paths:
        data = _read_bytes(root, path)
        total += len(data)
        if total > max_bytes:
            raise SandboxPathError(
                f"the files asked for hold over {max_bytes} bytes; at most that much is read "
                "per call (QAI_SANDBOX_READ_MAX_MB): read fewer at a time"
            )
        found[path] = data.decode(errors="replace")
    return found


def _walk_tree(
    root: Path,
    enter: Callable[[str], bool] = lambda _: True,
    too_deep: Callable[[str], None] = lambda _: None,
) -> Iterator[_Entry]:
    """Every entry under ``root`` (depth first, ``root`` itself not included), found through
    directory descriptors: each directory is opened from its parent's descriptor with
    ``O_NOFOLLOW``, so a directory swapped for a symlink meanwhile is skipped, never followed.

    Directories whose name ``enter`` refuses are yielded but not entered, nor are directories
    nested deeper than :data:`MAX_WALK_DEPTH` (each level holds a descriptor open): ``too_deep``
    is told of each such directory (it may raise to end the walk).
    """
    stack: list[tuple[int, _Entries, str]] = []
    try:
        top = os.open(root, _DIR_FLAGS)
    except FileNotFoundError:
        return  # nothing to walk, as with os.walk
    try:
        try:
            stack.append((top, os.scandir(top), ""))
        except BaseException:
            os.close(top)
            raise
        while stack:
            fd, entries, base = stack[-1]
            entry = next(entries, None)
            if entry is None:
                stack.pop()
                _close_level(fd, entries)
                continue
            try:
                info = entry.stat(follow_symlinks=False)  # fstatat(fd, name, NOFOLLOW)
            except FileNotFoundError:
                continue  # removed while walking
            relative = f"{base}{entry.name}"
            yield _Entry(fd, entry.name, relative, info)
            if not stat.S_ISDIR(info.st_mode) or not enter(entry.name):
                continue
            if len(stack) > MAX_WALK_DEPTH:
                too_deep(relative)
                continue
            try:
                child = os.open(entry.name, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
                    continue  # swapped for a symlink or a file, or removed, since its stat
                raise
            try:
                stack.append((child, os.scandir(child), f"{relative}/"))
            except BaseException:
                os.close(child)
                raise
    finally:
        for fd, entries, _ in stack:
            _close_level(fd, entries)


class _Entries(Protocol):
    """An open ``os.scandir`` of a directory descriptor."""

    def __next__(self) -> os.DirEntry[str]: ...

    def close(self) -> None: ...


class _Entry(NamedTuple):
    dir_fd: int  # the open directory holding it
    name: str
    relative: str  # its path under the walked root
    stat: os.stat_result  # of the entry itself (a symlink is not followed)


def _close_level(fd: int, entries: _Entries) -> None:
    entries.close()
    os.close(fd)


def list_files(root: Path) -> list[str]:
    """Relative paths of the regular files under ``root``, sorted, without noise.

    Dot directories (``.next``, ``.git``...), ``node_modules`` and ``__pycache__`` are left
    out; symlinks are not followed nor listed; at most :data:`LIST_LIMIT` paths are returned.
    """
    found: list[str] = []
    for entry in _walk_tree(root, _listed_dir):
        if stat.S_ISREG(entry.stat.st_mode):
            found.append(entry.relative)
            if len(found) >= LIST_LIMIT:
                break
    return sorted(found)


def _listed_dir(name: str) -> bool:
    return not name.startswith(".") and name not in SKIPPED_DIRS


class TreeTooDeep(Exception):
    """A directory tree nests deeper than :data:`MAX_WALK_DEPTH`: what lies below that depth
    cannot be measured, so no size can be trusted (a sandbox could hide any amount there)."""


def tree_size(root: Path) -> int:
    """Bytes of disk used under ``root`` (symlinks not followed); raises :class:`TreeTooDeep`
    if the tree goes deeper than the walk does."""

    def too_deep(relative: str) -> None:
        raise TreeTooDeep(f"directories nested deeper than {MAX_WALK_DEPTH} levels")

    return sum(entry.stat.st_blocks * 512 for entry in _walk_tree(root, too_deep=too_deep))


def chown_tree(root: Path, owner: tuple[int, int]) -> None:
    """Give everything under ``root`` (itself included) to ``owner``, links not followed."""
    os.lchown(root, *owner)
    for entry in _walk_tree(root):
        with contextlib.suppress(FileNotFoundError):  # removed while walking
            os.chown(entry.name, *owner, dir_fd=entry.dir_fd, follow_symlinks=False)


def copy_starter(source: Path, target: Path) -> None:
    """Copy a template's starter files into a new sandbox directory."""
    shutil.copytree(source, target, dirs_exist_ok=True, symlinks=True)
