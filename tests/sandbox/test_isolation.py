"""Escape tests: each fails if a sandbox can reach what isolation must keep from it.

Every check runs real code inside a real bubblewrap sandbox, and first makes sure that the
thing it hides really is there on the host, so a passing test means "hidden", not "absent".
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from qai.sandbox import LocalSandbox, LocalSandboxManager, SandboxPathError, SandboxStatus
from qai.sandbox.local.procs import pids_of_uid
from tests.needs import require_bwrap

from .conftest import TEST_TEMPLATES, ManagerFactory, make_settings, serve_gateway

pytestmark = pytest.mark.bwrap

SECRET = f"secret-{uuid.uuid4().hex}"
LEAKY_ENV = {"QAI_TEST_LEAK": SECRET, "OPENAI_API_KEY": SECRET, "ANTHROPIC_API_KEY": SECRET}


class Host:
    """What the host holds that sandboxes must not reach."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        data_dir.mkdir(parents=True)
        self.database = data_dir / "qai.db"
        self.database.write_text(f"SQLite format 3 {SECRET}")
        self.home_file = Path.home() / f".qai-sandbox-test-{uuid.uuid4().hex}"
        self.home_file.write_text(SECRET)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.shadow = Path("/etc/shadow").read_text()
        self.passwd = Path("/etc/passwd").read_text()
        self.addresses = subprocess.run(
            ["hostname", "-I"], capture_output=True, text=True, check=False
        ).stdout.split()

    def unchanged(self) -> bool:
        """Whether the files sandboxes try to overwrite are as they were."""
        return (
            SECRET in self.database.read_text()
            and Path("/etc/passwd").read_text() == self.passwd
            and not (self.data_dir.parent / "outside.txt").exists()
        )

    @staticmethod
    def exists(*paths: str) -> list[str]:
        return [path for path in paths if Path(path).exists()]

    def close(self) -> None:
        self.home_file.unlink()
        self.listener.close()


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    require_bwrap()  # here: a module fixture starts before the bwrap marker's check
    host = Host(tmp_path_factory.mktemp("isolation") / "data")
    yield host
    host.close()


@pytest.fixture(scope="module")
def sandboxes(host: Host) -> Iterator[tuple[LocalSandbox, LocalSandbox]]:
    """Two sandboxes, started while QAI's environment holds secrets."""
    saved = {k: os.environ.get(k) for k in LEAKY_ENV}
    os.environ.update(LEAKY_ENV)
    manager = LocalSandboxManager(make_settings(host.data_dir), templates=TEST_TEMPLATES)

    async def start() -> tuple[LocalSandbox, LocalSandbox]:
        first = await manager.start("web", name="first")
        second = await manager.start("web", name="second")
        assert isinstance(first, LocalSandbox)
        assert isinstance(second, LocalSandbox)
        return first, second

    try:
        yield asyncio.run(start())
    finally:
        asyncio.run(manager.shutdown())
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def sandbox(sandboxes: tuple[LocalSandbox, LocalSandbox]) -> LocalSandbox:
    return sandboxes[0]


async def test_host_shadow_file_is_not_readable(sandbox: LocalSandbox, host: Host) -> None:
    assert "root:" in host.shadow
    result = await sandbox.exec("cat /etc/shadow")
    assert result.exit_code != 0
    assert "root:" not in result.stdout
    listing = await sandbox.exec("ls -a /etc")
    assert "shadow" not in listing.stdout


async def test_qai_database_is_not_reachable(sandbox: LocalSandbox, host: Host) -> None:
    result = await sandbox.exec(
        f"cat {host.database}; ls {host.data_dir}; "
        "find / -path /proc -prune -o -path /usr -prune -o -name 'qai.db' -print"
    )
    assert SECRET not in result.stdout
    assert "qai.db" not in result.stdout
    assert "No such file" in result.stderr


async def test_home_directory_is_not_reachable(sandbox: LocalSandbox, host: Host) -> None:
    result = await sandbox.exec(f"cat {host.home_file}; ls -a {Path.home()}; ls /home")
    assert SECRET not in result.stdout
    assert host.home_file.name not in result.stdout
    assert result.stdout.split() == ["user"]


async def test_host_services_on_loopback_are_not_reachable(
    sandbox: LocalSandbox, host: Host
) -> None:
    with socket.create_connection(("127.0.0.1", host.port), timeout=2):
        pass  # the host itself reaches its listener
    script = (
        "import socket\n"
        f"for port in ({host.port}, 5432):\n"
        "    try:\n"
        "        socket.create_connection(('127.0.0.1', port), timeout=2)\n"
        "        print('reached', port)\n"
        "    except OSError as exc:\n"
        "        print('refused', port, exc.errno)\n"
    )
    result = await sandbox.exec(f'python3 -c "{script}"')
    assert result.stdout.split("\n")[:2] == [f"refused {host.port} 111", "refused 5432 111"]


async def test_outside_network_is_not_reachable(sandbox: LocalSandbox, host: Host) -> None:
    targets = [*[a for a in host.addresses if ":" not in a][:1], "1.1.1.1", "8.8.8.8"]
    script = (
        "import socket\n"
        "try:\n"
        "    print('resolved', socket.getaddrinfo('pypi.org', 443))\n"
        "except OSError as exc:\n"
        "    print('no dns', exc)\n"
        f"for address in {targets!r}:\n"
        "    try:\n"
        "        socket.create_connection((address, 443), timeout=2)\n"
        "        print('reached', address)\n"
        "    except OSError as exc:\n"
        "        print('unreachable', address, exc.errno)\n"
    )
    result = await sandbox.exec(f'python3 -c "{script}"; cat /proc/net/dev')
    assert "resolved" not in result.stdout
    assert "reached" not in result.stdout.replace("unreachable", "")
    for address in targets:
        assert f"unreachable {address} 101" in result.stdout  # ENETUNREACH
    interfaces = [
        line.split(":")[0].strip()
        for line in result.stdout.splitlines()
        if ":" in line and line.split(":")[0].strip().isalnum()
    ]
    assert interfaces == ["lo"]


async def test_environment_is_clean(sandbox: LocalSandbox) -> None:
    assert os.environ["OPENAI_API_KEY"] == SECRET
    result = await sandbox.exec("env; cat /proc/[0-9]*/environ | tr '\\0' '\\n'")
    assert result.ok, result.stderr
    assert SECRET not in result.stdout
    names = {line.split("=", 1)[0] for line in result.stdout.splitlines() if "=" in line}
    assert not [n for n in names if n.startswith("QAI_") or n.endswith("_API_KEY")]
    assert {"PATH", "HOME", "LANG"} <= names


async def test_host_filesystem_is_read_only(sandbox: LocalSandbox, host: Host) -> None:
    marker = f"qai-escape-{uuid.uuid4().hex}"
    result = await sandbox.exec(
        f"touch /usr/{marker}; touch /home/user/../../{marker}; mkdir -p /etc/{marker}; "
        f"touch /tmp/{marker}; touch {host.data_dir}/{marker}"
    )
    assert "Read-only file system" in result.stderr
    places = ("/usr", "/", "/etc", "/tmp", str(host.data_dir))
    assert host.exists(*(f"{place}/{marker}" for place in places)) == []


async def test_host_processes_are_invisible(sandbox: LocalSandbox) -> None:
    result = await sandbox.exec("ps -eo pid,comm --no-headers")
    commands = [line.split(None, 1)[1] for line in result.stdout.strip().splitlines()]
    assert "pytest" not in " ".join(commands)
    assert len(commands) < 10, commands


async def test_sandbox_processes_run_as_their_own_unprivileged_uid(
    sandboxes: tuple[LocalSandbox, LocalSandbox],
) -> None:
    first, second = sandboxes
    assert first.uid is not None
    assert second.uid is not None
    assert first.uid != second.uid
    assert first.uid >= 1000
    assert (first.directory / "index.html").stat().st_uid == first.uid
    inside = await first.exec("id -u; sleep 0.5 & echo $!")
    assert inside.stdout.split()[0] == "1000"
    # Seen from the host, every process of the sandbox runs as its uid, none as root.
    running = pids_of_uid(first.uid)
    assert len(running) >= 3  # its init, its server, the sleep
    assert not set(running) & set(pids_of_uid(second.uid))


async def test_sandboxes_do_not_see_each_other(
    sandboxes: tuple[LocalSandbox, LocalSandbox],
) -> None:
    first, second = sandboxes
    await first.write_files({"only-first.txt": "mine"})
    started = await first.exec(
        "python3 -m http.server 9123 --bind 127.0.0.1 >/dev/null 2>&1 & "
        'for i in $(seq 50); do python3 -c "import socket; '
        "socket.create_connection(('127.0.0.1', 9123))\" 2>/dev/null && break; sleep 0.1; done"
    )
    assert started.ok
    probe = await second.exec(
        "ls /home/user; python3 -c \"import socket; socket.create_connection(('127.0.0.1', 9123))\""
    )
    assert "only-first.txt" not in probe.stdout
    assert "ConnectionRefusedError" in probe.stderr


async def test_file_verbs_refuse_paths_leading_outside(sandbox: LocalSandbox, host: Host) -> None:
    made = await sandbox.exec(
        f"ln -sfn /etc evil-abs; ln -sfn ../../.. evil-up; ln -sfn {host.data_dir} evil-data"
    )
    assert made.ok, made.stderr
    attempts = {
        "../outside.txt": "'..'",
        "/etc/passwd": "outside the sandbox",
        "evil-abs/passwd": "leads outside",
        "evil-up/etc/passwd": "leads outside",
        "evil-data/qai.db": "leads outside",
    }
    for path, says in attempts.items():
        with pytest.raises(SandboxPathError, match=says):
            await sandbox.write_files({path: "overwritten"})
        with pytest.raises(SandboxPathError, match=says):
            await sandbox.read_files([path])
    assert host.unchanged()


async def test_network_opt_in_shares_the_host_network(make_manager: ManagerFactory) -> None:
    """QAI_SANDBOX_NETWORK=true: what the docs warn of (host services are reachable), and
    two sandboxes' servers still get ports of their own."""
    manager = await make_manager(sandbox_network=True)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        first = await manager.start("web", name="net-one", files={"index.html": "one"})
        second = await manager.start("web", name="net-two", files={"index.html": "two"})
        reach = await first.exec(
            f"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}))\""
        )
        assert reach.ok, reach.stderr
    async with serve_gateway(manager) as gw, httpx.AsyncClient(base_url=gw.base_url) as client:
        for sandbox, text in ((first, "one"), (second, "two")):
            assert await sandbox.wait_ready(10) is SandboxStatus.READY
            page = await client.get("/", headers={"host": gw.host(sandbox.name)})
            assert page.text == text


async def test_processes_learn_the_preview_hosts(sandbox: LocalSandbox) -> None:
    result = await sandbox.exec("echo $PREVIEW_HOSTS")
    assert result.stdout == "*.preview.localhost\n"
