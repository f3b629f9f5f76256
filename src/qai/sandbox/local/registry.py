"""Sandboxes on disk: what runs, who owns it, its log — readable by every QAI process.

``<data_dir>/sandboxes/<name>/`` is a sandbox's directory (its ``/home/user``);
``<data_dir>/sandboxes/.run/`` holds, per running sandbox, ``<name>.json`` (its record),
``<name>.lock`` (flock held by the owning process; its mtime is the last use) and
``<name>.log`` (its server's output and late output of background commands). The server, a
worker and the CLI each have a manager; through these files each can list, use, preview and
stop the others' sandboxes. Host uids are reserved machine-wide, by ``uid-<uid>.lock`` files
in one directory for all data directories (:func:`reserve_uid`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import time
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from qai.sandbox._model import SandboxStatus, is_name
from qai.sandbox.local.procs import is_alive, pids_of_uid

logger = logging.getLogger("qai.sandbox")

UID_SLOTS = 65536
LOG_LIMIT = 256 * 1024


@dataclass(slots=True)
class Record:
    """What a running sandbox's ``.run/<name>.json`` says."""

    name: str
    template: str
    isolation: str
    uid: int | None
    pid: int  # the launcher (bwrap's outer process, or the init in isolation "none")
    init_pid: int  # a process inside the sandbox's namespaces, to enter them
    init_start: int  # its start time in clock ticks: tells it from a later process with its pid
    owner_pid: int
    started_at: str
    status: SandboxStatus
    host_port: int | None = None  # on the host's network: where the template's server listens
    detail: str = ""

    def server_port(self, template_port: int) -> int:
        """Where the template's server listens: its own port, or the free one it was given."""
        return self.host_port or template_port

    @property
    def netns(self) -> str | None:
        return f"/proc/{self.init_pid}/ns/net" if self.isolation == "bwrap" else None

    @property
    def started(self) -> datetime:
        return datetime.fromisoformat(self.started_at)

    def alive(self) -> bool:
        return is_alive(self.init_pid, self.init_start)

    @staticmethod
    def now() -> str:
        return datetime.now(UTC).isoformat()


class FileLock:
    """An exclusive flock on a file that is unlinked when released.

    Another process may open the path just before it is unlinked; after taking the lock each
    holder checks that the path still names the file it locked, and tries again if not.
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd

    @classmethod
    def try_acquire(cls, path: Path) -> FileLock | None:
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return cls(path, fd)
            os.close(fd)

    def release(self) -> None:
        if self.fd < 0:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self.fd)
        self.fd = -1


def is_locked(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


class Registry:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.run = root / ".run"
        self.etc = root / ".system" / "etc"

    def setup(self) -> None:
        self.run.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        os.chmod(self.run, 0o700)

    def workspace(self, name: str) -> Path:
        return self.root / name

    def lock_path(self, name: str) -> Path:
        return self.run / f"{name}.lock"

    def log_path(self, name: str) -> Path:
        return self.run / f"{name}.log"

    def _record_path(self, name: str) -> Path:
        return self.run / f"{name}.json"

    def read(self, name: str) -> Record | None:
        try:
            raw = json.loads(self._record_path(name).read_text())
        except FileNotFoundError:
            return None
        raw["status"] = SandboxStatus(raw["status"])
        return Record(**raw)

    def write(self, record: Record) -> None:
        path = self._record_path(record.name)
        temp = path.with_suffix(f".tmp-{os.getpid()}")
        temp.write_text(json.dumps(asdict(record)))
        temp.replace(path)

    def remove(self, name: str, *, keep_log: bool = False) -> None:
        """Forget a sandbox's record and, unless ``keep_log``, its log."""
        log = self.log_path(name)
        paths = [self._record_path(name)]
        if not keep_log:
            paths += [log, log.with_name(log.name + ".1")]
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.run.glob("*.json"))

    def running(self) -> list[Record]:
        """Records of the sandboxes running now; records left by a dead owner are removed."""
        found = []
        for name in self.names():
            record = self.read(name)
            if record is None:
                continue
            if record.alive():
                found.append(record)
            elif not is_alive(record.owner_pid) or not is_locked(self.lock_path(name)):
                self.remove(name, keep_log=True)
        return found

    def last_used(self, name: str) -> float:
        try:
            return self.lock_path(name).stat().st_mtime
        except FileNotFoundError:
            return 0.0

    def touch(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.utime(self.lock_path(name))

    def last_active(self, name: str) -> float:
        """When sandbox ``name`` last changed on disk: the newest mtime of its directory and of
        its log (kept when it stops; its last line says why), or 0.0 when it has neither."""
        times = []
        for path in (self.workspace(name), self.log_path(name)):
            with contextlib.suppress(FileNotFoundError):
                times.append(path.lstat().st_mtime)
        return max(times, default=0.0)

    def prune(self, max_age: float) -> list[str]:
        """Remove the directory and kept log of every sandbox that does not run and was last
        active (:meth:`last_active`) over ``max_age`` seconds ago; return their names.

        Each is removed holding its name's lock, as a start holds it: a name running or being
        started by any process is skipped, and a start of it meanwhile finds the name taken.
        Only real directories with sandbox names count: not symlinks, not ``.run`` or other
        dot directories. A directory that cannot be removed is logged and skipped.
        """
        cutoff = time.time() - max_age
        try:
            with os.scandir(self.root) as entries:
                names = sorted(
                    entry.name
                    for entry in entries
                    if is_name(entry.name) and entry.is_dir(follow_symlinks=False)
                )
        except FileNotFoundError:
            return []
        removed = []
        for name in names:
            if self.last_active(name) > cutoff:
                continue  # the common case, told without taking the lock
            try:
                if self._prune_one(name, cutoff):
                    removed.append(name)
            except OSError:
                logger.exception("could not remove the directory of stopped sandbox %s", name)
        return removed

    def _prune_one(self, name: str, cutoff: float) -> bool:
        lock = FileLock.try_acquire(self.lock_path(name))
        if lock is None:
            return False  # it runs, or a process is starting it
        try:
            record = self.read(name)
            if record is not None and record.alive():
                return False  # its processes outlived their owner (no isolation)
            last_active = self.last_active(name)
            if last_active > cutoff:
                return False  # it ran again since the first look
            shutil.rmtree(self.workspace(name))  # refuses a symlink; follows none inside
            self.remove(name)
        finally:
            lock.release()
        logger.info(
            "removed the directory of sandbox %s, stopped and unused since %s",
            name,
            datetime.fromtimestamp(last_active, UTC).isoformat(timespec="seconds"),
        )
        return True


def reserve_uid(directory: Path, name: str, base: int) -> tuple[int, FileLock]:
    """A host uid for sandbox ``name`` that no other running sandbox on the machine has,
    with the lock that reserves it while the sandbox runs.

    ``directory`` (QAI_SANDBOX_UID_DIR) is one for the whole machine, so sandboxes started
    from different data directories never share a uid (stopping one kills its uid's
    processes). The search starts at a slot hashed from the name, so a name usually gets the
    same uid again, and skips a uid that is locked or still has processes (left by a QAI
    that kept its locks elsewhere, or not yet reaped).
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    first = zlib.crc32(name.encode()) % UID_SLOTS
    for step in range(UID_SLOTS):
        uid = base + (first + step) % UID_SLOTS
        lock = FileLock.try_acquire(directory / f"uid-{uid}.lock")
        if lock is None:
            continue
        if pids_of_uid(uid):
            lock.release()
            continue
        return uid, lock
    raise RuntimeError("all sandbox uids are taken")


@contextlib.contextmanager
def reserved_if_free(directory: Path, uid: int) -> Iterator[bool]:
    """Hold the reservation of ``uid`` in ``directory`` (QAI_SANDBOX_UID_DIR) for the block if
    no running sandbox has it (True); False, and nothing held, if one has."""
    try:
        lock = FileLock.try_acquire(directory / f"uid-{uid}.lock")
    except FileNotFoundError:  # no uid was ever reserved on this machine
        lock = None
    if lock is None:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


class Log:
    """A sandbox's log file, capped: past :data:`LOG_LIMIT` bytes it rolls over to ``.1``, so
    the two hold at most twice that. Several processes may write one log (each has a
    :class:`Log` of it): the size is the file's own, read at each write, not a count of
    what this one wrote."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, data: bytes) -> None:
        data = data[-LOG_LIMIT:]
        with open(self.path, "ab") as file:
            if os.fstat(file.fileno()).st_size + len(data) <= LOG_LIMIT:
                file.write(data)
                return
        with contextlib.suppress(FileNotFoundError):
            os.replace(self.path, self.path.with_name(self.path.name + ".1"))
        with open(self.path, "ab") as file:
            file.write(data)

    def note(self, line: str) -> None:
        """A line from QAI itself (not from the sandbox), marked as such."""
        self.write(f"[qai] {line}\n".encode())


def tail(path: Path, lines: int) -> list[str]:
    """The last ``lines`` lines of a sandbox log (across its roll-over)."""
    data = b""
    for part in (path.with_name(path.name + ".1"), path):
        with contextlib.suppress(FileNotFoundError), open(part, "rb") as file:
            file.seek(0, os.SEEK_END)
            file.seek(max(0, file.tell() - 32 * 1024))
            data = data[-32 * 1024 :] + file.read()
    text = data.decode(errors="replace")
    return text.splitlines()[-lines:]
