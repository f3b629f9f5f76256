"""Open one page in headless Chromium and say what is wrong with it.

The browser never reaches the network: every request to the page's own origin is answered
through ``connect`` (a socket to the app's server, e.g. a sandbox's), and so are its websockets
(a dev server's hot reload: Next.js sends its build errors, and draws its error overlay, through
one); everything else is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    Playwright,
    Request,
    Response,
    Route,
    WebSocketRoute,
    async_playwright,
)

from qai.checks._report import MAX_PROBLEMS, PageReport, Problem, ProblemKind
from qai.sandbox.preview.proxy import Message, proxy_http, proxy_websocket

Connect = Callable[[], Awaitable[socket.socket]]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
]
VIEWPORT = {"width": 1280, "height": 800}
# After the page's load event: time for scripts to run and for a dev server's error overlay to
# show; spent only while requests are still in flight.
SETTLE_SECONDS = 2.0
QUIET_SECONDS = 0.3
# How long a failed Next.js page may take to draw its error overlay after it settled.
OVERLAY_SECONDS = 3.0
MAX_SCREENSHOT_BYTES = 1_500_000
LAUNCH_SECONDS = 60.0


class BrowserUnavailable(Exception):
    """The browser could not be started: the page was not checked."""


_BLANK = """() => {
  const body = document.body;
  if (!body) return true;
  if ((body.innerText || "").trim()) return false;
  const media = body.querySelectorAll(
    "img, svg, canvas, video, iframe, input, button, select, textarea"
  );
  for (const element of media) {
    const box = element.getBoundingClientRect();
    if (box.width > 1 && box.height > 1) return false;
  }
  return true;
}"""

# Next.js draws its build and runtime error overlay in the shadow root of <nextjs-portal>; the
# portal itself is always there in development (its dev-tools badge), the dialog only on error
# (Next.js 16: the dialog is [data-nextjs-dialog], drawn once the dev server has sent the error
# through its hot-reload websocket).
_OVERLAY_SELECTOR = (
    "[data-nextjs-dialog], [data-nextjs-dialog-content], .nextjs-container-errors-body"
)
_HAS_PORTAL = """() => document.querySelector("nextjs-portal") !== null"""
_HAS_OVERLAY = """(selector) => Array.from(document.querySelectorAll("nextjs-portal")).some(
  (portal) => portal.shadowRoot && portal.shadowRoot.querySelector(selector)
)"""
_OVERLAY = """(selector) => {
  const found = [];
  for (const portal of document.querySelectorAll("nextjs-portal")) {
    const root = portal.shadowRoot;
    if (!root) continue;
    const dialog = root.querySelector(selector);
    if (dialog) found.push((dialog.innerText || dialog.textContent || "").trim());
  }
  return found;
}"""


class _Findings:
    """What the page's events reported, in order, bounded."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.problems: list[Problem] = []
        self.in_flight = 0

    def add(self, kind: ProblemKind, message: str, **where: Any) -> None:
        if len(self.problems) < MAX_PROBLEMS and not any(
            p.kind == kind and p.message == message for p in self.problems
        ):
            self.problems.append(Problem.of(kind, message, **where))

    def own(self, url: str) -> bool:
        return _origin(url) == self.origin

    def console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        text = message.text
        # Failed loads are reported as requests (own origin) or are outside the app's reach.
        if text.startswith("Failed to load resource"):
            return
        location = message.location
        self.add("console", text, **_where(location.get("url"), location.get("lineNumber")))

    def page_error(self, error: Error) -> None:
        text = error.stack or f"{error.name}: {error.message}"
        self.add("exception", text)

    def response(self, response: Response) -> None:
        # The page's own status is reported as such (kind "http").
        if response.request.is_navigation_request():
            return
        if response.status >= 400 and self.own(response.url):
            self.add(
                "request",
                f"{response.request.method} {_path(response.url)} answered HTTP {response.status}",
                url=response.url,
            )

    def request_failed(self, request: Request) -> None:
        if self.own(request.url):
            self.add(
                "request",
                f"{request.method} {_path(request.url)} failed: {request.failure or 'no answer'}",
                url=request.url,
            )


class Chromium:
    """One headless Chromium for a process's checks, launched on first use (and again if it
    died), each check in a fresh browser context; :meth:`close` at shutdown."""

    def __init__(self, executable: Path) -> None:
        self.executable = executable
        self._lock = asyncio.Lock()
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None

    async def context(self) -> BrowserContext:
        async with self._lock:
            if self._browser is None or not self._browser.is_connected():
                await self._close()
                self._playwright = await async_playwright().start()
                self._browser = await self._playwright.chromium.launch(
                    executable_path=str(self.executable), args=CHROMIUM_ARGS
                )
            return await self._browser.new_context(
                viewport=VIEWPORT,  # type: ignore[arg-type]
                service_workers="block",
            )

    async def close(self) -> None:
        async with self._lock:
            await self._close()

    async def _close(self) -> None:
        browser, playwright = self._browser, self._playwright
        self._browser = self._playwright = None
        if browser is not None:
            with contextlib.suppress(Error):
                await browser.close()
        if playwright is not None:
            with contextlib.suppress(Error):
                await playwright.stop()


async def check_page(
    url: str, connect: Connect, *, browser: Chromium, seconds: float, settle: float = SETTLE_SECONDS
) -> PageReport:
    """Open ``url`` and report its HTTP status, uncaught exceptions, console errors, failed
    requests to its own origin, a Next.js error overlay and a page with nothing visible, with a
    screenshot. Never raises for what the page does; the whole visit takes at most
    ``seconds`` (a page still loading then is a problem of kind ``timeout``)."""
    findings = _Findings(_origin(url))
    outcome: dict[str, Any] = {}
    # The browser's launch (a worker's first check) is not the page's time.
    try:
        context = await asyncio.wait_for(browser.context(), LAUNCH_SECONDS)
    except (Error, TimeoutError) as exc:
        reason = getattr(exc, "message", None) or f"no answer within {LAUNCH_SECONDS:g} seconds"
        raise BrowserUnavailable(
            f"Chromium at {browser.executable} did not start: {reason}"
        ) from exc
    started = time.monotonic()
    try:
        await asyncio.wait_for(
            _visit(context, url, connect, findings, outcome, settle, seconds), seconds
        )
    except TimeoutError:
        findings.add("timeout", f"The page did not finish loading within {seconds:g} seconds.")
    finally:
        with contextlib.suppress(Error):
            await context.close()
    return PageReport(
        http_status=outcome.get("status"),
        problems=findings.problems,
        screenshot=outcome.get("screenshot"),
        seconds=round(time.monotonic() - started, 3),
    )


async def _visit(
    context: BrowserContext,
    url: str,
    connect: Connect,
    findings: _Findings,
    outcome: dict[str, Any],
    settle: float,
    seconds: float,
) -> None:
    sockets = _WebSockets(connect, findings.origin)
    await context.route("**/*", _Responder(connect, findings).handle)
    await context.route_web_socket("**/*", sockets.handle)
    try:
        await _open(context, url, findings, outcome, settle, seconds)
    finally:
        await sockets.close()


async def _open(
    context: BrowserContext,
    url: str,
    findings: _Findings,
    outcome: dict[str, Any],
    settle: float,
    seconds: float,
) -> None:
    page = await context.new_page()
    page.on("console", findings.console)
    page.on("pageerror", findings.page_error)
    page.on("response", findings.response)
    page.on("requestfailed", findings.request_failed)
    page.on("request", lambda _request: _count(findings, +1))
    page.on("requestfinished", lambda _request: _count(findings, -1))
    page.on("requestfailed", lambda _request: _count(findings, -1))
    try:
        response = await page.goto(url, wait_until="load", timeout=seconds * 1000)
    except Error as exc:
        findings.add("request", f"The page could not be opened: {exc.message}")
        return
    if response is not None:
        outcome["status"] = response.status
        if response.status >= 400:
            findings.add("http", f"The page answered HTTP {response.status} {response.status_text}")
    await _settle(page, findings, settle)
    await _inspect(page, findings)
    with contextlib.suppress(Error):
        png = await page.screenshot(type="png", timeout=5000)
        if len(png) <= MAX_SCREENSHOT_BYTES:
            outcome["screenshot"] = png


def _count(findings: _Findings, delta: int) -> None:
    findings.in_flight = max(0, findings.in_flight + delta)


async def _settle(page: Page, findings: _Findings, settle: float) -> None:
    """Wait until no request has been in flight for a moment, for at most ``settle`` seconds."""
    deadline = time.monotonic() + settle
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        now = time.monotonic()
        if findings.in_flight == 0:
            quiet_since = quiet_since or now
            if now - quiet_since >= QUIET_SECONDS:
                return
        else:
            quiet_since = None
        await page.wait_for_timeout(50)


async def _inspect(page: Page, findings: _Findings) -> None:
    try:
        await _await_overlay(page, findings)
        overlays: list[str] = await page.evaluate(_OVERLAY, _OVERLAY_SELECTOR)
        blank: bool = await page.evaluate(_BLANK)
    except Error as exc:
        findings.add("exception", f"The page could not be inspected: {exc.message}")
        return
    for text in overlays:
        findings.add("overlay", text or "Next.js shows its error overlay.")
    # A page that failed to load or shows an error says more than "blank" would.
    if (
        blank
        and not overlays
        and not any(p.kind in ("http", "exception") for p in findings.problems)
    ):
        findings.add("blank", "The page shows nothing: no visible text or image was rendered.")


async def _await_overlay(page: Page, findings: _Findings) -> None:
    """On a Next.js page that has already failed (an error status, an uncaught exception), give
    its error overlay a moment to be drawn: it comes through the hot-reload websocket, after
    the load. A page without errors is not kept waiting."""
    failed = any(p.kind in ("http", "exception") for p in findings.problems)
    if not failed or not await page.evaluate(_HAS_PORTAL):
        return
    with contextlib.suppress(Error):
        await page.wait_for_function(
            _HAS_OVERLAY, arg=_OVERLAY_SELECTOR, timeout=OVERLAY_SECONDS * 1000
        )


class _Responder:
    """Answers the browser's requests: the page's origin through ``connect``, nothing else."""

    def __init__(self, connect: Connect, findings: _Findings) -> None:
        self.connect = connect
        self.findings = findings

    async def handle(self, route: Route) -> None:
        request = route.request
        if not self.findings.own(request.url):
            await route.abort("blockedbyclient")
            return
        try:
            status, headers, body = await self._fetch(request)
        except OSError as exc:
            await route.fulfill(status=502, body=f"The app's server did not answer ({exc}).")
            return
        with contextlib.suppress(Error):
            await route.fulfill(status=status, headers=headers, body=body)

    async def _fetch(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(request.url)
        headers = {k: v for k, v in (await request.all_headers()).items() if not k.startswith(":")}
        headers.pop("accept-encoding", None)  # the body goes to the browser as it is
        headers["host"] = parts.netloc
        body = request.post_data_buffer or b""
        headers.pop("content-length", None)  # the browser's may count a body it re-encoded
        if body or request.method not in ("GET", "HEAD"):
            headers["content-length"] = str(len(body))
        scope = {
            "type": "http",
            "method": request.method,
            "path": parts.path or "/",
            "raw_path": (parts.path or "/").encode(),
            "query_string": parts.query.encode(),
            "headers": [(k.encode(), v.encode("latin-1", "replace")) for k, v in headers.items()],
            "scheme": parts.scheme,
            "client": ("127.0.0.1", 0),
        }
        sent = False
        never = asyncio.Event()

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await never.wait()
            return {"type": "http.disconnect"}

        answer: dict[str, Any] = {"status": 502, "headers": {}, "body": bytearray()}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["headers"] = {
                    k.decode("latin-1"): v.decode("latin-1")
                    for k, v in message.get("headers", [])
                    if k.lower() != b"content-length"
                }
            elif message["type"] == "http.response.body":
                answer["body"] += message.get("body", b"")

        await proxy_http(scope, receive, send, await self.connect())
        return int(answer["status"]), answer["headers"], bytes(answer["body"])


class _WebSockets:
    """Relays the page's websockets on its own origin to the app's server through ``connect``
    (others are refused); each relay ends with the visit."""

    def __init__(self, connect: Connect, origin: str) -> None:
        self.connect = connect
        self.origin = origin
        self.relays: set[asyncio.Task[None]] = set()

    async def handle(self, route: WebSocketRoute) -> None:
        parts = urlsplit(route.url)
        scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
        if f"{scheme}://{parts.netloc}".lower() != self.origin:
            await route.close(code=1008, reason="Only the app's own server is reachable.")
            return
        inbox: asyncio.Queue[Message] = asyncio.Queue()
        inbox.put_nowait({"type": "websocket.connect"})
        route.on_message(lambda data: inbox.put_nowait(_received(data)))
        route.on_close(
            lambda code, _reason: inbox.put_nowait(
                {"type": "websocket.disconnect", "code": code or 1000}
            )
        )

        async def send(message: Message) -> None:
            with contextlib.suppress(Error):
                if message["type"] == "websocket.send":
                    text = message.get("text")
                    route.send(text if text is not None else message.get("bytes", b""))
                elif message["type"] == "websocket.close":
                    await route.close(code=message.get("code"), reason=message.get("reason"))

        scope = {
            "type": "websocket",
            "scheme": parts.scheme,
            "path": parts.path or "/",
            "raw_path": (parts.path or "/").encode(),
            "query_string": parts.query.encode(),
            "headers": [(b"host", parts.netloc.encode()), (b"origin", self.origin.encode())],
            "subprotocols": route.protocols,
            "client": ("127.0.0.1", 0),
        }
        try:
            sock = await self.connect()
        except OSError:
            await route.close(code=1011, reason="The app's server did not answer.")
            return
        relay = asyncio.ensure_future(proxy_websocket(scope, inbox.get, send, sock))
        self.relays.add(relay)
        relay.add_done_callback(self.relays.discard)

    async def close(self) -> None:
        relays = list(self.relays)
        for relay in relays:
            relay.cancel()
        await asyncio.gather(*relays, return_exceptions=True)


def _received(data: str | bytes) -> Message:
    if isinstance(data, str):
        return {"type": "websocket.receive", "text": data}
    return {"type": "websocket.receive", "bytes": data}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _where(url: str | None, line: int | None) -> dict[str, Any]:
    if not url:
        return {}
    path = urlsplit(url).path.lstrip("/") or None
    return {"file": path, "line": line + 1 if line is not None else None}
