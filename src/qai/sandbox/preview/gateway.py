"""The preview gateway: each sandbox's server on an origin of its own, in front of an ASGI app."""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Protocol

from qai.errors import QaiError
from qai.sandbox._base import Sandbox, SandboxManager
from qai.sandbox._model import PreviewSpec, SandboxStatus
from qai.sandbox.preview.hosts import PreviewHosts, PreviewTarget
from qai.sandbox.preview.pages import failed, not_found, starting, unavailable
from qai.sandbox.preview.proxy import Receive, Scope, Send, proxy_http, proxy_websocket

logger = logging.getLogger("qai.sandbox")

Resolve = Callable[[str], Awaitable[PreviewSpec | None]]
# A preview name that stands for another (a project's address for its newest version's
# sandbox): the name it stands for, or None if it is no alias.
Alias = Callable[[str], Awaitable[str | None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOG_LINES = 30


class PreviewGuard(Protocol):
    """Who may reach a preview, decided before the gateway looks for its sandbox."""

    async def admit(self, label: str, name: str, scope: Scope, send: Send) -> Scope | None:
        """The request to pass on to preview ``label`` (of sandbox ``name``): ``scope``, or a
        copy without the guard's own credentials; None once the guard has answered it itself
        (a redirect to sign in, a refusal)."""
        ...


class PreviewGateway:
    """Serves requests whose Host is a preview address from the sandbox it names.

    A running sandbox of that name serves at once. Otherwise ``resolve(name)`` says what the
    preview shows (template and files, e.g. a fragment's stored files) and the sandbox is
    started from it; None means there is no such preview (404). While the template's server
    starts (up to ``ready_wait`` seconds are waited), a page that reloads itself is shown; a
    failed server shows its last log lines. Requests, streamed responses and websockets pass
    through to the server inside the sandbox, reached through its network namespace.

    ``alias(name)`` may say that a name stands for another sandbox's (a project's address for
    its newest version): that sandbox serves the request, on the alias's own origin.

    ``guard`` may keep requests out (a preview that requires sign-in): it sees each request
    first, before any sandbox is looked for or started.

    The preview addresses are the manager's (``manager.hosts``), so the gateway reads back the
    addresses ``preview_url`` makes; ``url_template`` replaces the manager's template.
    """

    def __init__(
        self,
        manager: SandboxManager,
        resolve: Resolve,
        *,
        url_template: str | None = None,
        ready_wait: float = 2.0,
        alias: Alias | None = None,
        guard: PreviewGuard | None = None,
    ) -> None:
        self.manager = manager
        self.resolve = resolve
        self.alias = alias
        self.guard = guard
        self.hosts = (
            manager.hosts
            if url_template is None
            else PreviewHosts(url_template, manager.hosts.qai_port)
        )
        self.ready_wait = ready_wait

    def label(self, scope: Scope) -> str | None:
        """The ``{sandbox}`` part of the Host of an HTTP or websocket request for a preview
        address; None for any other request."""
        if scope["type"] not in ("http", "websocket"):
            return None
        return self.hosts.label(_host(scope))

    def handles(self, scope: Scope) -> bool:
        """Whether ``scope`` is an HTTP or websocket request for a preview address."""
        return self.label(scope) is not None

    async def serve(self, label: str, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a request for the preview address ``label`` (see :meth:`label`)."""
        target = self.hosts.target(label)
        if target is None:
            await _respond(scope, send, 404, not_found(label))
            return
        if self.guard is not None:
            admitted = await self.guard.admit(label, target.name, scope, send)
            if admitted is None:
                return
            scope = admitted
        try:
            sandbox = await self._sandbox(target.name)
        except QaiError as exc:
            logger.warning("preview %s cannot start: %s", target.name, exc.message)
            await _respond(scope, send, 503, unavailable(target.name, exc.message))
            return
        if sandbox is None:
            await _respond(scope, send, 404, not_found(target.name))
            return
        sock = await self._connect(scope, send, sandbox, target)
        if sock is None:
            return
        if scope["type"] == "websocket":
            await proxy_websocket(scope, receive, send, sock)
        else:
            await proxy_http(scope, receive, send, sock)

    async def _sandbox(self, name: str) -> Sandbox | None:
        sandbox = await self.manager.get(name)
        if sandbox is not None:
            return sandbox
        if self.alias is not None and (aliased := await self.alias(name)) is not None:
            # The same origin serves whatever sandbox the alias names now.
            name = aliased
            sandbox = await self.manager.get(name)
            if sandbox is not None:
                return sandbox
        spec = await self.resolve(name)
        if spec is None:
            return None
        logger.info("re-creating sandbox %s for its preview (template %s)", name, spec.template)
        return await self.manager.ensure(name, spec.template, spec.files)

    async def _connect(
        self, scope: Scope, send: Send, sandbox: Sandbox, target: PreviewTarget
    ) -> socket.socket | None:
        """A socket to the server, or None after answering with a status or error page."""
        if target.port is None:
            status = await sandbox.wait_ready(self.ready_wait)
            if status is not SandboxStatus.READY:
                logs = await sandbox.logs(LOG_LINES)
                if status is SandboxStatus.FAILED:
                    detail = (await sandbox.info()).detail
                    await _respond(scope, send, 502, failed(sandbox.name, detail, logs))
                else:
                    await _respond(scope, send, 503, starting(sandbox.name, sandbox.template, logs))
                return None
        try:
            return await sandbox.open_socket(target.port)
        except (OSError, QaiError) as exc:
            where = f"port {target.port}" if target.port else "its server's port"
            page = failed(
                sandbox.name, f"nothing answers on {where} ({exc})", await sandbox.logs(LOG_LINES)
            )
            await _respond(scope, send, 502, page)
            return None


class PreviewHostMiddleware:
    """Sends preview requests (by Host) to ``gateway`` and everything else to ``app``.

    ``app.add_middleware(PreviewHostMiddleware, gateway=gateway)`` in FastAPI/Starlette.
    """

    def __init__(self, app: ASGIApp, gateway: PreviewGateway) -> None:
        self.app = app
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        label = self.gateway.label(scope)
        if label is None:
            await self.app(scope, receive, send)
        else:
            await self.gateway.serve(label, scope, receive, send)


def _host(scope: Scope) -> str:
    for key, value in scope.get("headers", ()):
        if key.lower() == b"host":
            return str(value.decode("latin-1"))
    return ""


async def _respond(scope: Scope, send: Send, status: int, html: str) -> None:
    if scope["type"] == "websocket":
        # Not accepted: the ASGI server answers the handshake with 403.
        await send({"type": "websocket.close", "code": 1013 if status == 503 else 1011})
        return
    body = html.encode()
    headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if status == 503:
        headers.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
