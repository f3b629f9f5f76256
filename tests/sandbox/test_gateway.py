"""The preview gateway, through a real uvicorn server: each preview on its own origin, served
from inside its sandbox, and re-created from stored files once its sandbox is gone.

Clients connect to 127.0.0.1 and send the preview's Host header (Python does not resolve
``*.localhost`` names here; browsers do).
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from qai.sandbox import LocalSandbox, LocalSandboxManager, PreviewSpec, SandboxStatus

from .conftest import ManagerFactory, serve_gateway

pytestmark = pytest.mark.bwrap

# A server a generated app could start itself: HTTP echo, a streamed response, a websocket.
TEST_SERVER = r"""
import base64, hashlib, http.server, json, struct, sys, time

def read_frame(f):
    b1, b2 = f.read(2)
    n = b2 & 0x7F
    if n == 126:
        n = struct.unpack(">H", f.read(2))[0]
    elif n == 127:
        n = struct.unpack(">Q", f.read(8))[0]
    mask = f.read(4) if b2 & 0x80 else b"\0\0\0\0"
    return b1 & 0x0F, bytes(c ^ mask[i % 4] for i, c in enumerate(f.read(n)))

def send_frame(f, op, data):
    n = len(data)
    head = bytes([0x80 | op]) + (bytes([n]) if n < 126 else bytes([126]) + struct.pack(">H", n))
    f.write(head + data)
    f.flush()

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, kind="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        if "Content-Length" in self.headers:
            return self.rfile.read(int(self.headers["Content-Length"]))
        data = b""
        while (size := int(self.rfile.readline(), 16)):
            data += self.rfile.read(size)
            self.rfile.readline()
        self.rfile.readline()
        return data

    def do_POST(self):
        self.reply(201, json.dumps({"body": self.body().decode(),
                                    "host": self.headers["Host"],
                                    "path": self.path,
                                    "forwarded": self.headers["X-Forwarded-Host"]}).encode())

    def do_GET(self):
        if self.headers.get("Upgrade", "").lower() == "websocket":
            key = self.headers["Sec-WebSocket-Key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept",
                             base64.b64encode(hashlib.sha1(key.encode()).digest()).decode())
            self.end_headers()
            self.wfile.flush()
            while True:
                op, data = read_frame(self.rfile)
                if op == 8:
                    send_frame(self.wfile, 8, data[:2])
                    break
                send_frame(self.wfile, op, (b"echo:" + data))
            self.close_connection = True
        elif self.path == "/hang-up":
            self.close_connection = True  # no answer at all
        elif self.path == "/stream":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(3):
                chunk = f"data: {i}\n\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
                time.sleep(0.4)
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.reply(200, f"hello from port {sys.argv[1]}".encode(), "text/plain")

http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


async def start_test_server(sandbox: LocalSandbox, port: int) -> None:
    await sandbox.write_files({"server/testserver.py": TEST_SERVER})
    result = await sandbox.exec(
        f"nohup python3 server/testserver.py {port} >server/log.txt 2>&1 & "
        f'for i in $(seq 100); do python3 -c "import socket; '
        f"socket.create_connection(('127.0.0.1', {port}))\" 2>/dev/null && exit 0; sleep 0.05; "
        "done; cat server/log.txt; exit 1"
    )
    assert result.ok, result


@pytest.fixture
async def site(manager: LocalSandboxManager) -> LocalSandbox:
    sandbox = await manager.start("web", name="site", files={"index.html": "<h1>site</h1>"})
    assert isinstance(sandbox, LocalSandbox)
    return sandbox


async def test_web_preview_on_its_own_origin(
    manager: LocalSandboxManager, site: LocalSandbox
) -> None:
    async with serve_gateway(manager) as gw, httpx.AsyncClient(base_url=gw.base_url) as client:
        page = await client.get("/", headers={"host": gw.host("site")})
        assert page.status_code == 200
        assert page.text == "<h1>site</h1>"
        assert page.headers["cache-control"] == "no-cache"
        style = await client.get("/style.css", headers={"host": gw.host("site")})
        assert "font-family" in style.text
        qai = await client.get("/")
        assert qai.text == "QAI itself"
        assert gw.resolver.calls == []  # a running sandbox needs no lookup


async def test_a_file_rewritten_within_the_same_second_is_served_new(
    manager: LocalSandboxManager, site: LocalSandbox
) -> None:
    """An agent rewrites a file right after the browser loaded it: HTTP dates have whole
    seconds, so the browser's If-Modified-Since would get a 304 for the old copy."""
    async with serve_gateway(manager) as gw, httpx.AsyncClient(base_url=gw.base_url) as client:
        first = await client.get("/", headers={"host": gw.host("site")})
        assert first.text == "<h1>site</h1>"
        await site.write_files({"index.html": "<h1>rewritten</h1>"})
        again = await client.get(
            "/",
            headers={"host": gw.host("site"), "if-modified-since": first.headers["last-modified"]},
        )
        assert again.status_code == 200
        assert again.text == "<h1>rewritten</h1>"


async def test_server_started_in_the_sandbox_passes_through(
    manager: LocalSandboxManager, site: LocalSandbox
) -> None:
    await start_test_server(site, 9000)
    host = None
    async with serve_gateway(manager) as gw, httpx.AsyncClient(base_url=gw.base_url) as client:
        host = gw.host("9000-site")
        assert site.preview_url(9000) == f"http://9000-site.preview.localhost:{8000}"
        hello = await client.get("/", headers={"host": host})
        assert hello.text == "hello from port 9000"
        echoed = await client.post("/submit?x=1", content=b"payload", headers={"host": host})
        assert echoed.status_code == 201
        assert echoed.json() == {
            "body": "payload",
            "host": host,
            "path": "/submit?x=1",
            "forwarded": host,
        }

        async def chunks() -> object:
            for part in (b"chunked ", b"upload"):
                yield part

        streamed_up = await client.post("/up", content=chunks(), headers={"host": host})
        assert streamed_up.json()["body"] == "chunked upload"

        arrivals: list[tuple[float, bytes]] = []
        async with client.stream("GET", "/stream", headers={"host": host}) as response:
            async for chunk in response.aiter_raw():
                arrivals.append((time.monotonic(), chunk))
        assert b"".join(c for _, c in arrivals) == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
        # Streamed as produced: the first event arrived long before the last.
        assert arrivals[-1][0] - arrivals[0][0] > 0.6

        hung_up = await client.get("/hang-up", headers={"host": host})
        assert hung_up.status_code == 502
        assert "broke the connection without answering" in hung_up.text


async def test_websocket_passes_through(manager: LocalSandboxManager, site: LocalSandbox) -> None:
    await start_test_server(site, 9001)
    async with serve_gateway(manager) as gw:
        uri = f"ws://{gw.host('9001-site')}/ws"
        async with connect(uri, host="127.0.0.1", port=gw.port, proxy=None) as ws:
            await ws.send("ping")
            assert await ws.recv() == "echo:ping"
            await ws.send(b"\x00\x01")
            assert await ws.recv() == b"echo:\x00\x01"
        with pytest.raises(InvalidStatus):
            async with connect(
                f"ws://{gw.host('nobody')}/ws", host="127.0.0.1", port=gw.port, proxy=None
            ):
                pass


async def test_preview_is_rebuilt_from_stored_files(manager: LocalSandboxManager) -> None:
    name = "0f8fad5b-d9cb-469f-a165-70867728950e"  # fragment ids are uuid4s
    async with serve_gateway(manager) as gw, httpx.AsyncClient(base_url=gw.base_url) as client:
        gw.resolver.specs[name] = PreviewSpec(
            "web", {"index.html": "<p>stored</p>", "about.html": "about"}
        )
        first = await client.get("/", headers={"host": gw.host(name)})
        assert (first.status_code, first.text) == (200, "<p>stored</p>")
        assert gw.resolver.calls == [name]
        sandbox = await manager.get(name)
        assert isinstance(sandbox, LocalSandbox)
        directory = sandbox.directory

        await manager.stop(name, delete_files=True)
        assert not directory.exists()
        again = await client.get("/", headers={"host": gw.host(name)})
        assert (again.status_code, again.text) == (200, "<p>stored</p>")
        assert (await client.get("/about.html", headers={"host": gw.host(name)})).text == "about"
        assert gw.resolver.calls == [name, name]


async def test_unknown_previews_are_clear_404s(manager: LocalSandboxManager) -> None:
    async with serve_gateway(manager) as gw, httpx.AsyncClient(base_url=gw.base_url) as client:
        for label in ("nobody", "Bad_Name", "99999-nobody"):
            page = await client.get("/", headers={"host": gw.host(label)})
            assert page.status_code == 404
            assert "No such preview" in page.text
        assert gw.resolver.calls == ["nobody"]


async def test_nothing_listening_shows_an_error_page(
    manager: LocalSandboxManager, site: LocalSandbox
) -> None:
    async with serve_gateway(manager) as gw, httpx.AsyncClient(base_url=gw.base_url) as client:
        page = await client.get("/", headers={"host": gw.host("9555-site")})
        assert page.status_code == 502
        assert "nothing answers on port 9555" in page.text


async def test_status_page_while_the_server_starts(make_manager: ManagerFactory) -> None:
    manager = await make_manager()
    async with (
        serve_gateway(manager, ready_wait=0.1) as gw,
        httpx.AsyncClient(base_url=gw.base_url) as client,
    ):
        gw.resolver.specs["slowpoke"] = PreviewSpec("slow", {"index.html": "finally"})
        first = await client.get("/", headers={"host": gw.host("slowpoke")})
        assert first.status_code == 503
        assert '<meta http-equiv="refresh" content="1">' in first.text
        assert "Starting" in first.text
        assert first.headers["retry-after"] == "1"
        async with asyncio.timeout(15):
            while True:
                page = await client.get("/", headers={"host": gw.host("slowpoke")})
                if page.status_code != 503:
                    break
                await asyncio.sleep(0.1)  # as the status page's refresh does
        assert (page.status_code, page.text) == (200, "finally")


async def test_failing_app_shows_its_last_log_lines(make_manager: ManagerFactory) -> None:
    manager = await make_manager()
    async with serve_gateway(manager) as gw, httpx.AsyncClient(base_url=gw.base_url) as client:
        gw.resolver.specs["crashes"] = PreviewSpec("broken", {})
        page = await client.get("/", headers={"host": gw.host("crashes")})
        assert page.status_code == 502
        assert "boom: the app cannot start" in page.text
        assert "the server exited with code 3" in page.text
        sandbox = await manager.get("crashes")
        assert sandbox is not None
        assert await sandbox.status() is SandboxStatus.FAILED


async def test_renamed_working_sandbox_serves_the_fragment_address(
    manager: LocalSandboxManager,
) -> None:
    work = await manager.start("web", name="run-42", files={"index.html": "live work"})
    await manager.rename("run-42", "fragment-42")
    async with serve_gateway(manager) as gw, httpx.AsyncClient(base_url=gw.base_url) as client:
        page = await client.get("/", headers={"host": gw.host("fragment-42")})
        assert page.text == "live work"
        assert gw.resolver.calls == []
        await work.write_files({"index.html": "edited"})
        assert (await client.get("/", headers={"host": gw.host("fragment-42")})).text == "edited"


async def test_gateway_serves_sandboxes_of_other_processes(
    make_manager: ManagerFactory, manager: LocalSandboxManager, site: LocalSandbox
) -> None:
    """The server's gateway reaches a sandbox a worker (another manager) started."""
    other = await make_manager()  # same data directory, its own manager, as another process
    assert other is not manager  # the manager that started site
    async with serve_gateway(other) as gw, httpx.AsyncClient(base_url=gw.base_url) as client:
        page = await client.get("/", headers={"host": gw.host("site")})
        assert page.text == "<h1>site</h1>"
        assert gw.resolver.calls == []


def test_gateway_handles_only_preview_hosts(manager: LocalSandboxManager) -> None:
    async def resolve(name: str) -> PreviewSpec | None:
        return None

    from qai.sandbox import PreviewGateway

    gateway = PreviewGateway(manager, resolve)

    def scope(host: str, kind: str = "http") -> dict[str, object]:
        return {"type": kind, "headers": [(b"host", host.encode())]}

    assert gateway.handles(scope("abc.preview.localhost:8000"))
    assert gateway.handles(scope("ABC.Preview.Localhost", "websocket"))
    assert gateway.handles(scope("3000-abc.preview.localhost:8000"))
    assert not gateway.handles(scope("localhost:8000"))
    assert not gateway.handles(scope("preview.localhost:8000"))
    assert not gateway.handles(scope("a.b.preview.localhost:8000"))
    assert not gateway.handles(scope("abc.preview.localhost.evil.com"))
    assert not gateway.handles({"type": "lifespan"})


def test_preview_host_name(manager: LocalSandboxManager) -> None:
    name = manager.hosts.name  # the preview addresses the default settings make

    assert name("abc.preview.localhost:8000") == "abc"
    assert name("3001-abc.preview.localhost:8000") == "abc"
    assert (
        name("0f8fad5b-d9cb-469f-a165-70867728950e.preview.localhost")
        == "0f8fad5b-d9cb-469f-a165-70867728950e"
    )
    assert name("localhost:8000") is None
    assert name("bad_name.preview.localhost") is None


def test_preview_template_must_put_the_sandbox_in_the_host() -> None:
    from qai.sandbox.preview import PreviewHosts
    from qai.settings import SettingsError

    with pytest.raises(SettingsError, match="host name"):
        PreviewHosts("http://localhost:{port}/preview/{sandbox}", 8000)
    hosts = PreviewHosts("https://{sandbox}.apps.example.com", 8000)
    assert hosts.url("abc") == "https://abc.apps.example.com"
    assert hosts.label("abc.apps.example.com") == "abc"
    assert hosts.wildcard == "*.apps.example.com"
    assert PreviewHosts("http://app-{sandbox}.example.com", 80).wildcard == "*.example.com"
