"""The outermost HTTP layer: request ids, QAI's host names and the origin of writes, body size
limit, metrics, access log, last-resort 500.

Written as plain ASGI (no BaseHTTPMiddleware) so it adds little to every request.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Awaitable
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qai.api.hosts import ANY_HOST_PATHS, SAFE_METHODS, HostPolicy
from qai.api.metrics import Metrics
from qai.common.hot import HotRead, HotWrite, WriteRequest
from qai.db import Database
from qai.errors import QaiError
from qai.llm import Models
from qai.logs import access_log
from qai.settings import Settings

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
    """``hot_reads`` are the API's most frequent reads and ``hot_writes`` its creates,
    answered here when they can be (see ``qai.common.hot``), on ``database``. A request for
    a host ``hosts`` does not answer gets a 421, a write from an origin it refuses a 403 (see
    ``qai.api.hosts``), before anything else sees them."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        max_body_bytes: int,
        database: Database,
        hosts: HostPolicy,
        settings: Settings,
        models: Models,
        hot_reads: tuple[HotRead, ...] = (),
        hot_writes: tuple[HotWrite, ...] = (),
    ) -> None:
        self.app = app
        self.hosts = hosts
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.database = database
        self.settings = settings
        self.models = models
        self.hot_reads = hot_reads
        self.hot_writes = hot_writes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        request_id = ""
        content_length = host = origin = fetch_site = content_type = None
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
            elif name == b"content-type":
                content_type = value
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
                read, arguments = hot
                answer = read.answer(arguments, self.database)
                await self._answer_hot(scope, send, request_id, header, started_at, read, answer)
                return
        limit = self.max_body_bytes
        if method == "POST" and content_length is not None and self.hot_writes:
            write = self._hot_write(scope)
            if write is not None and not _too_large(content_length, limit):
                body = await _read_body(receive)
                if body is None:
                    return  # the client went away before its body was whole
                route, params = write
                taken = route.endpoint(self._write_request(scope, params, body, content_type))
                if await self._answer_hot(
                    scope, send, request_id, header, started_at, route, taken
                ):
                    return
                receive = _replay(body, receive)
        status = 500
        response_started = False
        received = 0

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
        route: HotRead | HotWrite,
        answer: Awaitable[Response | None],
    ) -> bool:
        """Answer a hot read or write: its response, or its error as FastAPI's handlers would
        answer it (a QAI error in the error shape; anything else logged, as a 500). False when
        a write does not take the request as it is (nothing was written: FastAPI answers it)."""
        status, taken = 500, False
        try:
            try:
                response = await answer
                if response is None:
                    return False
                taken = True
                status, headers = response.status_code, response.raw_headers
                body = bytes(response.body)
            except QaiError as exc:
                taken = True
                if exc.status >= 500:
                    log.error("request %s failed: %s", request_id, exc.message)
                status = exc.status
                body = _error_body(exc.code, exc.message, request_id, exc.issues)
                headers = _json_start(status, body)["headers"]
            except Exception:
                taken = True
                log.exception("request %s failed unexpectedly", request_id)
                status, body = 500, _error_body("INTERNAL_SERVER_ERROR", UNEXPECTED, request_id)
                headers = _json_start(status, body)["headers"]
            scope["route"] = route  # its ``path`` names the route in metrics, as FastAPI's
            await send(
                {"type": "http.response.start", "status": status, "headers": [*headers, header]}
            )
            await send({"type": "http.response.body", "body": body})
            return True
        finally:
            if taken:
                self._observe(scope, request_id, status, started_at)

    def _write_request(
        self, scope: Scope, params: dict[str, str], body: bytes, content_type: bytes | None
    ) -> WriteRequest:
        return WriteRequest(
            path_params=params,
            query_string=scope["query_string"],
            content_type=content_type.decode("latin-1") if content_type is not None else None,
            body=body,
            database=self.database,
            settings=self.settings,
            models=self.models,
        )

    def _hot_write(self, scope: Scope) -> tuple[HotWrite, dict[str, str]] | None:
        for write in self.hot_writes:
            params = write.path_params(scope["path"])
            if params is not None:
                return write, params
        return None

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


async def _read_body(receive: Receive) -> bytes | None:
    """The request's whole body (its Content-Length is within the limit); None if the client
    disconnected first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the app after the body was read here: the body once, then the client."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _too_large(content_length: bytes, limit: int) -> bool:
    try:
        return int(content_length) > limit
    except ValueError:
        return False


__all__: list[Any] = ["RequestContextMiddleware"]
