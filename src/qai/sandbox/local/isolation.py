"""How sandbox processes are launched: under bubblewrap (``bwrap``) or, for development, not.

bwrap mode, per sandbox (QAI runs as root):

* an *init* process holds the namespaces: ``unshare --mount`` gives the launch a private mount
  namespace in which the sandbox directory (and the template cache, and QAI's generated
  ``/etc`` files) are bind-mounted under ``/mnt``, because the data directory may sit under a
  path only root can traverse (``/root``); ``setpriv`` then drops to the sandbox's own host uid
  and execs ``bwrap``, which creates user, pid, mount, network, ipc, uts and cgroup namespaces,
  builds a root from read-only system directories, the sandbox directory as ``/home/user``
  (the only writable host directory) and a private ``/tmp``, and runs ``sleep infinity``;
* every command, the template's server included, enters those namespaces with ``nsenter`` as
  the sandbox user (uid 1000 inside, the sandbox's host uid outside), under ``prlimit``
  limits and a clean environment.

The root bwrap builds is remounted read-only: only the sandbox directory, a sized ``/tmp`` and a
sized ``/dev/shm`` are writable. Where the host has cgroups (:mod:`.cgroups`), the init and every
command join the sandbox's cgroup before they exec, which bounds the memory (shared memory and
tmpfs included) and the processes of the whole sandbox; the syscall filter (:mod:`.seccomp`)
goes to bwrap for the init and to a loader run after nsenter for each command.

The host uid is what makes the process limit bind (RLIMIT_NPROC counts the processes of a uid
and does not bind root) and keeps one sandbox's processes from counting against another's.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from qai.sandbox._errors import IsolationUnavailable
from qai.sandbox._model import WORKDIR
from qai.sandbox.local import seccomp
from qai.sandbox.local.cgroups import Budget, Cgroups, join_argv

logger = logging.getLogger("qai.sandbox")

# The environment of QAI's helper processes (prlimit, nsenter, bwrap); never QAI's own.
HOST_ENV: Mapping[str, str] = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}

#: uid and gid of the sandbox user, as processes inside the sandbox see them.
INNER_ID = 1000

BASE_ENV: Mapping[str, str] = {
    "PATH": f"{WORKDIR}/node_modules/.bin:/usr/local/bin:/usr/bin:/bin",
    "HOME": WORKDIR,
    "USER": "user",
    "LOGNAME": "user",
    "LANG": "C.UTF-8",
    "TERM": "dumb",
    "npm_config_cache": "/tmp/.npm",
    "npm_config_update_notifier": "false",
}

# Files QAI writes once and every sandbox sees read-only in /etc: the sandbox user's name,
# "localhost" on the loopback, and resolution limited to those files (no host services).
ETC_FILES: Mapping[str, str] = {
    "passwd": (
        "root:x:0:0:root:/root:/usr/sbin/nologin\n"
        f"user:x:{INNER_ID}:{INNER_ID}:sandbox user:{WORKDIR}:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    ),
    "group": f"root:x:0:\nuser:x:{INNER_ID}:\nnogroup:x:65534:\n",
    "hosts": "127.0.0.1 localhost sandbox\n::1 localhost ip6-localhost ip6-loopback\n",
    "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\n",
}

# The init of a sandbox: "ready" tells QAI that its root is in place; then it holds the
# namespaces open until it is killed.
_INIT = "echo ready && exec sleep infinity"

# Host files and directories a sandbox may read, when present.
_SYSTEM_RO = (
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/alternatives",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/mime.types",
)
_NETWORK_RO = ("/etc/resolv.conf", "/etc/gai.conf")

# The compiled seccomp program, beside the ETC_FILES, and where the loader of commands reads it.
SECCOMP_FILE = "seccomp.bpf"
_SECCOMP_INSIDE = "/etc/qai-seccomp.bpf"
# The interpreter that runs seccomp.LOADER inside the sandbox (the system's, under /usr).
_PYTHON = "/usr/bin/python3"

# Run by `sh -c` as root in the launch's private mount namespace: bind each source given
# before "--" onto /mnt/<index> (a fresh tmpfs, so the host's /mnt is untouched), then exec
# the rest of the arguments.
_STAGE_SCRIPT = """set -e
mount -t tmpfs -o mode=0755,size=64k qai-stage /mnt
i=0
while [ "$1" != "--" ]; do
  if [ -d "$1" ]; then mkdir "/mnt/$i"; else touch "/mnt/$i"; fi
  mount --bind "$1" "/mnt/$i"
  i=$((i + 1))
  shift
done
shift
exec "$@"
"""


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-process limits, applied with prlimit to every process a sandbox starts."""

    memory_bytes: int
    processes: int | None
    file_size_bytes: int
    cpu_seconds: int | None

    def prlimit(self) -> list[str]:
        args = [
            "prlimit",
            f"--data={self.memory_bytes}",
            f"--fsize={self.file_size_bytes}",
            "--core=0",
        ]
        if self.processes is not None:
            args.append(f"--nproc={self.processes}")
        if self.cpu_seconds is not None:
            # SIGXCPU at the limit (a process may catch it and clean up), SIGKILL a second on.
            args.append(f"--cpu={self.cpu_seconds}:{self.cpu_seconds + 1}")
        return [*args, "--"]


@dataclass(frozen=True, slots=True)
class InitSpec:
    """What one sandbox's init needs: its directory, uid and mounts."""

    workspace: Path
    etc_dir: Path
    cached: Path | None
    uid: int | None
    network: bool
    tmp_bytes: int
    shm_bytes: int
    seccomp: bool
    info_fd: int | None = None  # bwrap writes the init's pid there, as JSON
    cgroup_procs: tuple[Path, ...] = ()  # the init joins these cgroups first (Isolation.confine)


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {**BASE_ENV, **(extra or {})}


def _env_argv(env: Mapping[str, str]) -> list[str]:
    return ["/usr/bin/env", "-i", *(f"{key}={value}" for key, value in env.items())]


class Isolation:
    """Builds the argv of a sandbox's init and of each command run in it."""

    name = "none"

    @property
    def cgroups(self) -> Cgroups | None:
        """The host's cgroups sandboxes get (None: none)."""
        return None

    def check(self) -> None:
        """Raise :class:`IsolationUnavailable` when sandboxes cannot be started here."""

    def check_seccomp(self) -> None:
        """Raise :class:`IsolationUnavailable` when the syscall filter cannot be applied."""

    def confine(self, uid: int | None, budget: Budget) -> tuple[Path, ...]:
        """Make the cgroup of the sandbox of host ``uid``; return what its init joins (nothing
        where the host gives no cgroup: then the rlimits alone bound it)."""
        return ()

    def release(self, uid: int | None) -> None:
        """After the sandbox of ``uid`` stopped: kill what is left in its cgroup, remove it."""

    def init_argv(self, spec: InitSpec) -> list[str]:
        raise NotImplementedError

    def command_argv(
        self, init_pid: int, argv: Sequence[str], env: Mapping[str, str], limits: Limits
    ) -> list[str]:
        raise NotImplementedError


class NoIsolation(Isolation):
    """Plain host processes in the sandbox directory (QAI_SANDBOX_ISOLATION=none)."""

    name = "none"

    def init_argv(self, spec: InitSpec) -> list[str]:
        return ["/bin/sh", "-c", _INIT]

    def command_argv(
        self, init_pid: int, argv: Sequence[str], env: Mapping[str, str], limits: Limits
    ) -> list[str]:
        return [*limits.prlimit(), *_env_argv(env), *argv]


class BwrapIsolation(Isolation):
    name = "bwrap"

    def __init__(self) -> None:
        self._checked = False
        self._cgroups: Cgroups | None = None

    @property
    def cgroups(self) -> Cgroups | None:
        """The host's cgroups sandboxes get (None: none; known after :meth:`check`)."""
        return self._cgroups

    def check(self) -> None:
        if self._checked:
            return
        if shutil.which("bwrap") is None:
            raise IsolationUnavailable()
        if os.geteuid() != 0:
            raise IsolationUnavailable(
                "the bwrap sandbox backend needs QAI to run as root (it gives every sandbox a "
                "host uid of its own and reaches its servers through its network namespace); "
                "run QAI as root, or set QAI_SANDBOX_ISOLATION=none for development"
            )
        missing = [
            t
            for t in ("unshare", "setpriv", "nsenter", "prlimit", "mount")
            if shutil.which(t) is None
        ]
        if missing:
            raise IsolationUnavailable(
                f"sandboxes need {', '.join(missing)} from util-linux: apt-get install util-linux"
            )
        usage = subprocess.run(["bwrap", "--help"], capture_output=True, text=True, check=False)
        if "--size" not in usage.stdout or "--seccomp" not in usage.stdout:
            raise IsolationUnavailable(
                "sandboxes need bubblewrap 0.5 or later (for --size and --seccomp): upgrade "
                "bubblewrap"
            )
        self._cgroups, reason = Cgroups.detect()
        if self._cgroups is None:
            logger.warning(
                "sandboxes get no cgroup (%s): each process is bounded by its rlimits only, "
                "not the sandbox as a whole (see docs/sandbox.md)",
                reason,
            )
        else:
            logger.info("sandboxes get a cgroup %s memory and pids budget", self._cgroups.version)
        self._checked = True

    def check_seccomp(self) -> None:
        """Raise :class:`IsolationUnavailable` when the syscall filter cannot be applied."""
        missing = seccomp.unavailable()
        if missing is not None:
            raise IsolationUnavailable(f"the sandboxes' syscall filter needs {missing}")
        if not Path(_PYTHON).exists():
            raise IsolationUnavailable(
                f"the seccomp filter of sandbox commands is installed by {_PYTHON}: "
                "apt-get install python3, or set QAI_SANDBOX_SECCOMP=false"
            )

    def confine(self, uid: int | None, budget: Budget) -> tuple[Path, ...]:
        if self._cgroups is None or uid is None:
            return ()
        try:
            return tuple(self._cgroups.create(uid, budget))
        except OSError as error:
            logger.warning(
                "the cgroup of the sandbox of uid %s could not be made (%s): its processes "
                "are bounded by their rlimits only",
                uid,
                error,
            )
            return ()

    def release(self, uid: int | None) -> None:
        if self._cgroups is not None and uid is not None:
            self._cgroups.remove(uid)

    def init_argv(self, spec: InitSpec) -> list[str]:
        assert spec.uid is not None
        sources: list[Path] = [spec.workspace, spec.etc_dir]
        if spec.cached is not None:
            sources.append(spec.cached)
        bwrap = [
            "bwrap", "--unshare-user", "--unshare-all", "--die-with-parent", "--new-session",
            "--disable-userns", "--uid", str(INNER_ID), "--gid", str(INNER_ID),
            "--hostname", "sandbox",
            "--ro-bind", "/usr", "/usr",
        ]  # fmt: skip
        if spec.network:
            bwrap.append("--share-net")
        for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            path = Path("/", top)
            if path.is_symlink():
                bwrap += ["--symlink", os.readlink(path), str(path)]
            elif path.is_dir():
                bwrap += ["--ro-bind", str(path), str(path)]
        for path in (*_SYSTEM_RO, *(_NETWORK_RO if spec.network else ())):
            bwrap += ["--ro-bind-try", path, path]
        for name in sorted(ETC_FILES):
            bwrap += ["--ro-bind", f"/mnt/1/{name}", f"/etc/{name}"]
        if spec.seccomp:
            bwrap += ["--ro-bind", f"/mnt/1/{SECCOMP_FILE}", _SECCOMP_INSIDE]
        # Every writable place is a sized tmpfs or the sandbox directory: bwrap's own root and
        # /dev are tmpfs without a size, so both are made read-only once they are built.
        bwrap += [
            "--proc", "/proc", "--dev", "/dev",
            "--size", str(spec.shm_bytes), "--perms", "1777", "--tmpfs", "/dev/shm",
            "--size", str(spec.tmp_bytes), "--perms", "1777", "--tmpfs", "/tmp",
            "--bind", "/mnt/0", WORKDIR,
        ]  # fmt: skip
        if spec.cached is not None:
            bwrap += ["--ro-bind", "/mnt/2", f"{WORKDIR}/{spec.cached.name}"]
        bwrap += ["--remount-ro", "/dev", "--remount-ro", "/"]
        bwrap += ["--chdir", WORKDIR, "--clearenv"]
        for key, value in BASE_ENV.items():
            bwrap += ["--setenv", key, value]
        if spec.info_fd is not None:
            bwrap += ["--info-fd", str(spec.info_fd)]
        # bwrap reads the program from a descriptor: a shell opens it (on a number the info
        # descriptor does not use) and execs bwrap, as the sandbox's uid, in the staged mounts.
        load = []
        if spec.seccomp:
            fd = 4 if spec.info_fd == 3 else 3
            bwrap += ["--seccomp", str(fd)]
            load = ["/bin/sh", "-c", f'exec "$@" {fd}< /mnt/1/{SECCOMP_FILE}', "qai-seccomp"]
        bwrap += ["--", "/bin/sh", "-c", _INIT]
        return [
            *join_argv(spec.cgroup_procs),
            "unshare", "--mount", "--propagation", "private", "--",
            "/bin/sh", "-c", _STAGE_SCRIPT, "qai-stage", *map(str, sources), "--",
            "setpriv", f"--reuid={spec.uid}", f"--regid={spec.uid}", "--clear-groups", "--",
            *load, *bwrap,
        ]  # fmt: skip

    def command_argv(
        self, init_pid: int, argv: Sequence[str], env: Mapping[str, str], limits: Limits
    ) -> list[str]:
        # A command gets what its sandbox's init got: its cgroup, and its syscall filter
        # (installed after nsenter, which needs setns and chroot itself).
        procs = self._cgroups.procs_of(init_pid) if self._cgroups is not None else None
        load = []
        if is_filtered(init_pid):
            load = [_PYTHON, "-I", "-S", "-c", seccomp.LOADER, _SECCOMP_INSIDE]
        return [
            *join_argv(procs or ()),
            *limits.prlimit(),
            "nsenter", "--target", str(init_pid),
            "--user", "--mount", "--net", "--pid", "--ipc", "--uts", "--cgroup",
            "--root", "--wd", f"--setuid={INNER_ID}", f"--setgid={INNER_ID}", "--",
            *load, *_env_argv(env), *argv,
        ]  # fmt: skip


def is_filtered(pid: int) -> bool:
    """Whether process ``pid`` runs under a seccomp filter."""
    try:
        with open(f"/proc/{pid}/status", "rb") as file:
            lines = file.readlines()
    except (FileNotFoundError, ProcessLookupError):
        return False  # gone: nsenter fails to enter it, nothing runs
    return any(line.split()[1:2] != [b"0"] for line in lines if line.startswith(b"Seccomp:"))


def make_isolation(kind: str) -> Isolation:
    if kind == "none":
        logger.warning(
            "QAI_SANDBOX_ISOLATION=none: generated code runs as plain processes of QAI's user, "
            "with QAI's access to files and network. Use it for development only."
        )
        return NoIsolation()
    return BwrapIsolation()


def write_etc_files(directory: Path) -> None:
    """Write the files every sandbox reads (and the compiled seccomp profile) to ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o755)
    files: dict[str, bytes] = {name: text.encode() for name, text in ETC_FILES.items()}
    if seccomp.unavailable() is None:  # else no sandbox starts filtered (check_seccomp says)
        files[SECCOMP_FILE] = seccomp.compile_bpf()
    for name, content in files.items():
        path = directory / name
        if not path.exists() or path.read_bytes() != content:
            path.write_bytes(content)
        os.chmod(path, 0o644)
