"""Previews that require sign-in (``QAI_PREVIEW_REQUIRES_SIGN_IN=true`` with accounts).

A preview is an origin of its own, which never sees QAI's session cookie (it is host-only, on
QAI's origin). So a browser is let into a preview origin in three hops:

1. A request on the preview origin without a valid cookie of that origin is sent (GET, HEAD)
   to QAI's own ``/preview-auth?to=<the preview address>``; other methods, websockets and
   frames are refused with a page that links there. QAI's pages link their previews (and
   start their frames) through ``/preview-auth`` directly.
2. ``/preview-auth`` needs the QAI session (else ``/login``, then back), checks that the person
   may see the preview's project (its owner, or an admin; anyone else gets a 404), and sends
   the browser on to the preview origin's :data:`SIGN_IN_PATH` with a ticket: random, for that
   one origin, valid :data:`TICKET_SECONDS`, usable once. Only its SHA-256 is stored.
3. The preview origin exchanges the ticket for its cookie, :data:`PREVIEW_COOKIE`, and
   redirects to the address first asked for. The cookie is ``HttpOnly`` and ``SameSite=Lax``
   at the top level; in a frame (the project page's), where a browser sends and stores only
   ``SameSite=None`` cookies of another site, it is ``SameSite=None; Secure; Partitioned``
   (kept for frames under QAI's pages only).

Every request after that (the page, its sub-resources, websockets) carries the cookie, which is
checked against the session it was given to (one indexed query): signing out, the session's
end or a disabled account ends it. The cookie never reaches the app: it is taken off the
request before the request is passed on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from qai.accounts import secrets
from qai.accounts.models import PreviewGrant
from qai.accounts.repository import AccountReads, AccountRepository
from qai.common.principal import Principal
from qai.db import Database, utcnow
from qai.errors import BadRequest, NotFound
from qai.sandbox.preview import PreviewHosts
from qai.sandbox.preview.pages import refused
from qai.sandbox.preview.proxy import Scope, Send

logger = logging.getLogger("qai.accounts")

PREVIEW_COOKIE = "qai_preview"
# On the preview origin: where a ticket is exchanged for the cookie. Apps do not use it.
SIGN_IN_PATH = "/.qai-preview/sign-in"
TICKET_SECONDS = 60
# Cookies of this name tried per request: a preview's code may set look-alikes on the
# preview domain, which must not push the real one out.
MAX_COOKIES = 4
FRAMES = frozenset({b"iframe", b"frame"})
# What stays as it is when a decoded path goes back into a Location header.
_PATH_SAFE = "/?&=:@!$'()*+,;~%"

Headers = list[tuple[bytes, bytes]]


class PreviewNotFound(NotFound):
    default_message = "No such preview"


@dataclass(frozen=True)
class PreviewSignIn:
    """Keeps previews closed to anyone not signed in as their project's owner or an admin: the
    preview gateway's guard (:class:`qai.sandbox.PreviewGuard`), and the tickets that let a
    browser in."""

    database: Database
    hosts: PreviewHosts
    # QAI's own address, where a preview origin sends a browser to sign in.
    qai_url: str

    def entry_url(self, preview_url: str) -> str:
        """The address on QAI's origin that lets a browser into ``preview_url``."""
        return f"{self.qai_url}/preview-auth?to={quote(preview_url, safe='')}"

    async def ticket_url(self, principal: Principal, to: str) -> str:
        """Where to send ``principal``'s browser to open the preview at address ``to``: the
        preview origin's sign-in path with a new ticket. Raises :class:`PreviewNotFound` for a
        preview ``principal`` may not see (or that does not exist)."""
        parts = urlsplit(to)
        label = (
            self.hosts.label(parts.hostname or "") if parts.scheme in ("http", "https") else None
        )
        target = self.hosts.target(label) if label is not None else None
        if label is None or target is None:
            raise BadRequest(
                f"to={to[:200]!r} is not a preview address (e.g. {self.hosts.url('<name>')}/path)"
            )
        if principal.session_hash is None:
            raise BadRequest("A preview opens in a browser signed in to QAI, not with an API token")
        if not principal.admin:
            exists, owner = await AccountReads(self.database).owner_of_preview(
                target.name, self.hosts.url(target.name)
            )
            if not exists or owner != principal.user_id:
                raise PreviewNotFound()
        ticket = secrets.new_secret()
        now = utcnow()
        async with self.database.session() as session:
            repository = AccountRepository(session)
            await repository.forget_stale_tickets(principal.session_hash, now)
            await repository.add(
                PreviewGrant(
                    ticket_hash=secrets.digest(ticket),
                    session_hash=principal.session_hash,
                    host=label,
                    ticket_expires_at=now + timedelta(seconds=TICKET_SECONDS),
                )
            )
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        origin = self.hosts.url(target.name, target.port).rstrip("/")
        return f"{origin}{SIGN_IN_PATH}?{urlencode({'ticket': ticket, 'next': path})}"

    async def admit(self, label: str, name: str, scope: Scope, send: Send) -> Scope | None:
        if scope["type"] == "http" and scope["path"] == SIGN_IN_PATH:
            await self._exchange(label, scope, send)
            return None
        values, headers = _take_cookies(scope["headers"])
        for value in values[:MAX_COOKIES]:
            if await self._session_end(value, label) is not None:
                return {**scope, "headers": headers}
        await self._keep_out(label, scope, send)
        return None

    async def _session_end(self, cookie: str, label: str) -> datetime | None:
        """When the session behind a preview cookie of origin ``label`` ends; None when the
        cookie is not one, or its session has ended."""
        row = await AccountReads(self.database).by_preview_cookie(secrets.digest(cookie), label)
        if row is None:
            return None
        expires_at, revoked, disabled = row
        assert isinstance(expires_at, datetime)
        if revoked or disabled or expires_at <= utcnow():
            return None
        return expires_at

    def _address(self, label: str, path: str) -> str:
        """``path`` (with its query) on the preview origin ``label``."""
        target = self.hosts.target(label)
        assert target is not None  # the gateway answered a label without one itself
        return self.hosts.url(target.name, target.port).rstrip("/") + path

    async def _keep_out(self, label: str, scope: Scope, send: Send) -> None:
        if scope["type"] == "websocket":
            # Not accepted: the ASGI server answers the handshake with 403.
            await send({"type": "websocket.close", "code": 1008})
            return
        entry = self.entry_url(self._address(label, _request_path(scope)))
        # A frame is never sent round: QAI's pages start their frames at /preview-auth, so a
        # frame here without the cookie is one whose browser did not keep it, and sending it
        # round again would loop. Its page links to the preview at the top level instead.
        framed = dict(scope["headers"]).get(b"sec-fetch-dest", b"") in FRAMES
        if scope["method"] in ("GET", "HEAD") and not framed:
            await _answer(send, 303, _sign_in_needed(entry), [(b"location", entry.encode())])
        else:
            await _answer(send, 403, _sign_in_needed(entry))

    async def _exchange(self, label: str, scope: Scope, send: Send) -> None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        ticket = (query.get("ticket") or [""])[0]
        next_path = _local_path((query.get("next") or ["/"])[0])
        headers = dict(scope["headers"])
        framed = headers.get(b"sec-fetch-dest", b"") in FRAMES
        https = self.hosts.url_template.startswith("https:")
        partitioned = framed and (https or _is_localhost(headers.get(b"host", b"")))
        cookie = secrets.new_secret()
        grant = None
        # GET only: a HEAD (a link checker's) must not use the ticket up.
        if ticket and scope["method"] == "GET":
            async with self.database.session() as session:
                grant = await AccountRepository(session).use_ticket(
                    secrets.digest(ticket), label, secrets.digest(cookie), partitioned, utcnow()
                )
        ends = await self._session_end(cookie, label) if grant is not None else None
        if ends is None:
            logger.info("preview %s: a sign-in ticket was refused", label)
            entry = self.entry_url(self._address(label, next_path))
            await _answer(send, 403, _ticket_refused(entry))
            return
        attributes = ["HttpOnly", "Path=/", f"Max-Age={int((ends - utcnow()).total_seconds())}"]
        if partitioned:
            attributes += ["SameSite=None", "Secure", "Partitioned"]
        else:
            attributes += ["SameSite=Lax", *(["Secure"] if https else [])]
        set_cookie = "; ".join([f"{PREVIEW_COOKIE}={cookie}", *attributes])
        location = quote(next_path, safe=_PATH_SAFE).encode()
        await _answer(
            send,
            303,
            "",
            [(b"location", location), (b"set-cookie", set_cookie.encode())],
        )


def _take_cookies(headers: Headers) -> tuple[list[str], Headers]:
    """The values of :data:`PREVIEW_COOKIE` in the request, and its headers without them."""
    values: list[str] = []
    kept: Headers = []
    for key, value in headers:
        if key.lower() != b"cookie":
            kept.append((key, value))
            continue
        others: list[str] = []
        for pair in value.decode("latin-1").split(";"):
            name, _, content = pair.strip().partition("=")
            if name == PREVIEW_COOKIE:
                values.append(content.strip())
            elif pair.strip():
                others.append(pair.strip())
        if others:
            kept.append((key, "; ".join(others).encode("latin-1")))
    return values, kept


def _request_path(scope: Scope) -> str:
    """The path and query of a request, as it was sent."""
    path: bytes = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope.get("query_string") or b""
    return (path + (b"?" + query if query else b"")).decode("latin-1")


def _local_path(value: str) -> str:
    """A path on this origin (never another site): ``value``, or ``/``."""
    if value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/"


def _is_localhost(host: bytes) -> bool:
    """Whether a Host header names ``localhost`` or a name under it, which browsers treat as a
    secure context (so they keep ``Secure`` cookies from it over plain HTTP)."""
    name = host.decode("latin-1").rsplit(":", 1)[0].lower().rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


def _sign_in_needed(entry: str) -> str:
    return refused(
        "Sign in to see this preview",
        "This server shows previews only to their project's owner, signed in to QAI.",
        entry,
        "Sign in and open it",
    )


def _ticket_refused(entry: str) -> str:
    return refused(
        "This sign-in link has expired",
        "A link into a preview works once, for a minute, and only while you are signed in.",
        entry,
        "Open the preview again",
    )


async def _answer(send: Send, status: int, html: str, extra: Headers | None = None) -> None:
    body = html.encode()
    headers: Headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"referrer-policy", b"no-referrer"),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
