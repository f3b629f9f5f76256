"""Templates, declared as data: starter files, how the server starts, its port, readiness.

A template with dependencies (``nextjs``) installs them once, with ``qai sandbox prepare``,
into a cache under the data directory keyed by the hash of its lock files; every sandbox of
the template gets that cache bind-mounted read-only, so nothing is downloaded again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import IO

from qai.sandbox._errors import SandboxError, TemplateNotFound, TemplateNotPrepared

STARTERS = Path(__file__).parent / "templates"


@dataclass(frozen=True, slots=True)
class Template:
    """How to make and run one kind of app.

    ``start`` is a shell command run in the sandbox's working directory with ``$PORT`` set to
    ``port``; the server is ready once it answers ``GET ready_path`` with any HTTP status.
    ``install`` (run by :func:`prepare_template` in a directory holding ``install_inputs``)
    produces ``cached``, a directory every sandbox of the template sees read-only.
    """

    name: str
    description: str
    starter: Path
    port: int | None = None
    start: str | None = None
    ready_path: str = "/"
    env: Mapping[str, str] = field(default_factory=dict)
    install: tuple[str, ...] = ()
    install_inputs: tuple[str, ...] = ()
    cached: str | None = None

    def cache_dir(self, data_dir: Path) -> Path | None:
        """Where the installed dependencies live: one directory per lock-file hash."""
        if self.cached is None:
            return None
        digest = hashlib.sha256()
        for name in self.install_inputs:
            digest.update(name.encode() + b"\0" + (self.starter / name).read_bytes() + b"\0")
        return data_dir / "cache" / "templates" / f"{self.name}-{digest.hexdigest()[:16]}"

    def cached_path(self, data_dir: Path) -> Path | None:
        """The prepared directory to mount, or None if the template needs none.

        Raises :class:`TemplateNotPrepared` when the template needs one that is not there.
        """
        cache = self.cache_dir(data_dir)
        if cache is None or self.cached is None:
            return None
        if not (cache / ".complete").exists():
            raise TemplateNotPrepared(
                f"template {self.name!r} is not prepared: run `qai sandbox prepare {self.name}` "
                "once (it downloads its dependencies)"
            )
        return cache / self.cached


TEMPLATES: Mapping[str, Template] = MappingProxyType(
    {
        "web": Template(
            name="web",
            description="Static HTML, CSS and JavaScript; no install step, served as files.",
            starter=STARTERS / "web",
            port=8080,
            start='exec python3 -m http.server --bind 127.0.0.1 "$PORT"',
        ),
        "nextjs": Template(
            name="nextjs",
            description=(
                "Next.js 16 (App Router, TypeScript) with Tailwind CSS 4, lucide-react, clsx, "
                "tailwind-merge and class-variance-authority; `next dev` on port 3000."
            ),
            starter=STARTERS / "nextjs",
            port=3000,
            start='exec next dev --hostname 127.0.0.1 --port "$PORT"',
            env={"NEXT_TELEMETRY_DISABLED": "1"},
            install=("npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"),
            install_inputs=("package.json", "package-lock.json"),
            cached="node_modules",
        ),
    }
)


def get_template(name: str, templates: Mapping[str, Template] = TEMPLATES) -> Template:
    try:
        return templates[name]
    except KeyError:
        known = ", ".join(sorted(templates))
        raise TemplateNotFound(f"unknown template {name!r}: choose one of {known}") from None


def prepare_template(
    template: Template, data_dir: Path, *, force: bool = False, output: IO[str] | None = None
) -> Path | None:
    """Install ``template``'s dependencies into its cache, once; return the cache directory.

    Returns at once when the cache is already complete (unless ``force``). The install runs
    on the host with network access, from the committed lock file, without package scripts.
    """
    cache = template.cache_dir(data_dir)
    if cache is None:
        return None
    if (cache / ".complete").exists() and not force:
        return cache
    cache.parent.mkdir(parents=True, exist_ok=True)
    with open(cache.parent / f".{template.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be preparing the same template
        if (cache / ".complete").exists() and not force:
            return cache
        work = cache.with_name(cache.name + f".tmp-{os.getpid()}")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        for name in template.install_inputs:
            shutil.copy2(template.starter / name, work / name)
        _run_install(template, work, data_dir, output or sys.stderr)
        # Sandboxes run under other uids and read the cache through a read-only bind.
        for directory, dirs, files in os.walk(work):
            for name in (*dirs, *files):
                path = os.path.join(directory, name)
                if not os.path.islink(path):
                    os.chmod(path, os.lstat(path).st_mode | 0o444 | (0o111 if name in dirs else 0))
        os.chmod(work, 0o755)
        (work / ".complete").touch()
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(cache)
        work.rename(cache)
    return cache


def _run_install(template: Template, work: Path, data_dir: Path, output: IO[str]) -> None:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(work),
        "LANG": "C.UTF-8",
        "npm_config_cache": str(data_dir / "cache" / "npm"),
        "npm_config_update_notifier": "false",
    }
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy"):
        if name in os.environ:
            env[name] = os.environ[name]
    output.write(f"$ {' '.join(template.install)}  (in {work})\n")
    output.flush()
    completed = subprocess.run(
        template.install,
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    output.write(completed.stdout)
    if completed.returncode != 0:
        tail = "\n".join(completed.stdout.splitlines()[-20:])
        raise SandboxError(
            f"preparing template {template.name!r} failed ({' '.join(template.install)} exited "
            f"with {completed.returncode}):\n{tail}"
        )
