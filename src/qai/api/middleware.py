"""The outermost HTTP layer: request ids, QAI's host names and the origin of writes, body size
limit, metrics, access log, last-resort 500.

Written as plain ASGI (no BaseHTTPMiddleware) so it adds little to every request.
"""

from __future__ import annotations

import logging
import random
import re
import time
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qai.api.hosts import ANY_HOST_PATHS, SAFE_METHODS, HostPolicy
from qai.api.metrics import Metrics
from qai.common.hot import HotRead
from qai.db import Database
from qai.errors import QaiError
from qai.logs import access_log
from qai.projects.router import HOT_READS

log = logging.getLogger("qai.api")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
UNEXPECTED = "Internal server error; quote the request id when reporting it"


class BodyTooLarge(Exception):
    pass


def _error_body(
    code: str, message: str, request_id: str, issues: list[dict[str, Any]] | None = None
) -> bytes:
    """The error shape, as ``qai.api.errors.error_response`` writes it."""
    body: dict[str, Any] = {"code": code, "message": message}
    if issues is not None:
        body["issues"] = issues
    body["requestId"] = request_id
    return orjson.dumps({"error": body})


class RequestContextMiddleware:
    """``hot_reads`` are the API's most frequent reads, answered here when they can be (see
    ``qai.common.hot``), on ``database``. A request for a host ``hosts`` does not answer gets a
    421, a write from an origin it refuses a 403 (see ``qai.api.hosts``), before anything else
    sees them."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        max_body_bytes: int,
        database: Database,
        hosts: HostPolicy,
        hot_reads: tuple[HotRead, ...] = HOT_READS,
    ) -> None:
        self.app = app
        self.hosts = hosts
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.database = database
        self.hot_reads = hot_reads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        request_id = ""
        content_length = host = origin = fetch_site = None
        for name, value in scope["headers"]:
            if name == b"host":
                if host is None:  # the first, as the preview middleware and Starlette read it
                    host = value
            elif name == b"x-request-id":
                candidate = value.decode("latin-1")
                if _REQUEST_ID.match(candidate):
                    request_id = candidate
            elif name == b"content-length":
                content_length = value
            elif name == b"origin":
                origin = value
            elif name == b"sec-fetch-site":
                fetch_site = value
        if not request_id:
            # A correlation id, not a secret: no need for the OS's randomness on every request.
            request_id = f"{random.getrandbits(128):032x}"
        scope.setdefault("state", {})["request_id"] = request_id
        header = (b"x-request-id", request_id.encode())
        # A request without a Host (HTTP/1.0) is answered: browsers always send one.
        if (
            host is not None
            and not self.hosts.answers(host)
            and scope["path"] not in ANY_HOST_PATHS
        ):
            await self._refuse(
                scope, send, header, started_at, 421, "BAD_REQUEST", self.hosts.host_refusal(host)
            )
            return
        method = scope["method"]
        if method not in SAFE_METHODS and (origin is not None or fetch_site is not None):
            refusal = self.hosts.write_refusal(host, origin, fetch_site)
            if refusal is not None:
                await self._refuse(scope, send, header, started_at, 403, "FORBIDDEN", refusal)
                return
        if method == "GET" and content_length is None:
            hot = self._hot_read(scope)
            if hot is not None:
                await self._answer_hot(scope, send, request_id, header, started_at, *hot)
                return
        status = 500
        response_started = False
        received = 0
        limit = self.max_body_bytes

        too_large = False

        async def send_with_id(message: Message) -> None:
            if too_large:
                # The app saw the body cut short (and may have answered 400): the real cause
                # is the size, whatever the app made of it.
                if not response_started:
                    await send_too_large()
                return
            await send_raw(message)

        async def send_raw(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        async def send_error(code_status: int, code: str, message: str) -> None:
            body = _error_body(code, message, request_id)
            await send_raw(_json_start(code_status, body))
            await send_raw({"type": "http.response.body", "body": body})

        async def send_too_large() -> None:
            await send_error(413, "PAYLOAD_TOO_LARGE", f"Request body larger than {limit} bytes")

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise BodyTooLarge
            return message

        try:
            if content_length is not None and _too_large(content_length, limit):
                await send_too_large()
            else:
                await self.app(scope, limited_receive, send_with_id)
        except BodyTooLarge:
            if not response_started:
                await send_too_large()
        except Exception:
            if response_started:
                # Answered already (FastAPI's handler logged it with the request id, then
                # re-raised for the server), or broken mid-stream: the server logs it.
                raise
            log.exception("request %s failed unexpectedly", request_id)
            await send_error(500, "INTERNAL_SERVER_ERROR", UNEXPECTED)
        finally:
            self._observe(scope, request_id, status, started_at)

    def _observe(self, scope: Scope, request_id: str, status: int, started_at: float) -> None:
        """Count the request in the metrics and write its access-log line."""
        elapsed = time.perf_counter() - started_at
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        self.metrics.observe_request(scope["method"], template, status, elapsed)
        sink = access_log()
        if sink is not None:
            sink.record(request_id, scope["method"], scope["path"], status, elapsed * 1000)

    async def _refuse(
        self,
        scope: Scope,
        send: Send,
        header: tuple[bytes, bytes],
        started_at: float,
        status: int,
        code: str,
        message: str,
    ) -> None:
        """Answer a request the app must not see, in the error shape."""
        request_id = header[1].decode()
        body = _error_body(code, message, request_id)
        try:
            start = _json_start(status, body)
            start["headers"].append(header)
            await send(start)
            await send({"type": "http.response.body", "body": body})
        finally:
            self._observe(scope, request_id, status, started_at)

    async def _answer_hot(
        self,
        scope: Scope,
        send: Send,
        request_id: str,
        header: tuple[bytes, bytes],
        started_at: float,
        read: HotRead,
        arguments: dict[str, Any],
    ) -> None:
        """Answer a hot read: its response, or its error as FastAPI's handlers would answer it
        (a QAI error in the error shape; anything else logged, as a 500)."""
        scope["route"] = read  # its ``path`` names the route in metrics, as FastAPI's
        status = 500
        try:
            try:
                response = await read.answer(arguments, self.database)
                status, headers, body = response.status_code, response.raw_headers, response.body
            except QaiError as exc:
                if exc.status >= 500:
                    log.error("request %s failed: %s", request_id, exc.message)
                status, body = (
                    exc.status,
                    _error_body(exc.code, exc.message, request_id, exc.issues),
                )
                headers = _json_start(status, body)["headers"]
            except Exception:
                log.exception("request %s failed unexpectedly", request_id)
                status, body = 500, _error_body("INTERNAL_SERVER_ERROR", UNEXPECTED, request_id)
                headers = _json_start(status, body)["headers"]
            await send(
                {"type": "http.response.start", "status": status, "headers": [*headers, header]}
            )
            await send({"type": "http.response.body", "body": body})
        finally:
            self._observe(scope, request_id, status, started_at)

    def _hot_read(self, scope: Scope) -> tuple[HotRead, dict[str, Any]] | None:
        """The hot read (``qai.common.hot``) that takes this request, with its arguments."""
        for read in self.hot_reads:
            arguments = read.arguments(scope)
            if arguments is not None:
                return read, arguments
        return None


def _json_start(status: int, body: bytes) -> Message:
    return {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }


def _too_large(content_length: bytes, limit: int) -> bool:
    try:
        return int(content_length) > limit
    except ValueError:
        return False


__all__: list[Any] = ["RequestContextMiddleware"]
