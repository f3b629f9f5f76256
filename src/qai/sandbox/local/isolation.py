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
    info_fd: int | None = None  # bwrap writes the init's pid there, as JSON


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {**BASE_ENV, **(extra or {})}


def _env_argv(env: Mapping[str, str]) -> list[str]:
    return ["/usr/bin/env", "-i", *(f"{key}={value}" for key, value in env.items())]


class Isolation:
    """Builds the argv of a sandbox's init and of each command run in it."""

    name = "none"

    def check(self) -> None:
        """Raise :class:`IsolationUnavailable` when sandboxes cannot be started here."""

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
        self._tmp_size = False

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
        self._tmp_size = "--size" in usage.stdout
        self._checked = True

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
        bwrap += ["--proc", "/proc", "--dev", "/dev"]
        if self._tmp_size:
            bwrap += ["--size", str(spec.tmp_bytes)]
        bwrap += ["--tmpfs", "/tmp", "--bind", "/mnt/0", WORKDIR]
        if spec.cached is not None:
            bwrap += ["--ro-bind", "/mnt/2", f"{WORKDIR}/{spec.cached.name}"]
        bwrap += ["--chdir", WORKDIR, "--clearenv"]
        for key, value in BASE_ENV.items():
            bwrap += ["--setenv", key, value]
        if spec.info_fd is not None:
            bwrap += ["--info-fd", str(spec.info_fd)]
        bwrap += ["--", "/bin/sh", "-c", _INIT]
        return [
            "unshare", "--mount", "--propagation", "private", "--",
            "/bin/sh", "-c", _STAGE_SCRIPT, "qai-stage", *map(str, sources), "--",
            "setpriv", f"--reuid={spec.uid}", f"--regid={spec.uid}", "--clear-groups", "--",
            *bwrap,
        ]  # fmt: skip

    def command_argv(
        self, init_pid: int, argv: Sequence[str], env: Mapping[str, str], limits: Limits
    ) -> list[str]:
        return [
            *limits.prlimit(),
            "nsenter", "--target", str(init_pid),
            "--user", "--mount", "--net", "--pid", "--ipc", "--uts", "--cgroup",
            "--root", "--wd", f"--setuid={INNER_ID}", f"--setgid={INNER_ID}", "--",
            *_env_argv(env), *argv,
        ]  # fmt: skip


def make_isolation(kind: str) -> Isolation:
    if kind == "none":
        logger.warning(
            "QAI_SANDBOX_ISOLATION=none: generated code runs as plain processes of QAI's user, "
            "with QAI's access to files and network. Use it for development only."
        )
        return NoIsolation()
    return BwrapIsolation()


def write_etc_files(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o755)
    for name, text in ETC_FILES.items():
        path = directory / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        os.chmod(path, 0o644)
