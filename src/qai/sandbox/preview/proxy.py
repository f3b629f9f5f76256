"""Pass an HTTP request or a websocket through to a server, over a socket already connected.

HTTP/1.1 is spoken with h11, one request per connection, and the response is streamed back
as it arrives. Websockets are relayed message by message with the ``websockets`` client.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import h11
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Origin

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# The ASGI server sends its own.
_SERVER_OWN = frozenset({b"date", b"server"})
# Never passed to an app's server: a file written in the same second as the copy a browser
# holds has the same Last-Modified (HTTP dates have whole seconds), so a dev server such as
# Python's http.server would answer 304 and the browser would show the old file. Content-based
# validators (If-None-Match, ETags) pass through.
_STALE_VALIDATORS = frozenset({b"if-modified-since"})
_WS_OWN = frozenset({b"host", b"origin", b"user-agent", b"sec-websocket-protocol"})
MAX_WS_MESSAGE = 16 * 1024 * 1024


def _forwarded(scope: Scope) -> list[tuple[bytes, bytes]]:
    client = scope.get("client")
    host = dict(scope["headers"]).get(b"host", b"")
    extra = [
        (b"x-forwarded-proto", b"https" if scope.get("scheme") in ("https", "wss") else b"http"),
        (b"x-forwarded-host", host),
    ]
    if client:
        extra.append((b"x-forwarded-for", str(client[0]).encode()))
    return extra


def _request_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    raw: list[tuple[bytes, bytes]] = [(k.lower(), v) for k, v in scope["headers"]]
    named = {
        token.strip().lower().encode()
        for k, v in raw
        if k == b"connection"
        for token in v.decode("latin-1").split(",")
    }
    headers = [
        (k, v)
        for k, v in raw
        if k not in HOP_BY_HOP
        and k not in named
        and k not in _STALE_VALIDATORS
        and not k.startswith(b"x-forwarded-")
    ]
    if not any(k == b"content-length" for k, _ in headers) and any(
        k == b"transfer-encoding" for k, _ in raw
    ):
        headers.append((b"transfer-encoding", b"chunked"))
    return [*headers, *_forwarded(scope), (b"connection", b"close")]


def _target(scope: Scope) -> bytes:
    path: bytes = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope.get("query_string", b"")
    return path + (b"?" + query if query else b"")


async def proxy_http(scope: Scope, receive: Receive, send: Send, sock: socket.socket) -> None:
    """Send the request in ``scope`` over ``sock`` and stream the response to ``send``.

    The socket is closed when done. A client that goes away mid-response stops the relay; a
    server that breaks the connection before answering gives a 502.
    """
    reader, writer = await asyncio.open_connection(sock=sock, limit=2**20)
    conn = h11.Connection(our_role=h11.CLIENT, max_incomplete_event_size=64 * 1024)
    relay = _Relay(conn, reader, send)
    try:
        writer.write(
            conn.send(
                h11.Request(
                    method=scope["method"], target=_target(scope), headers=_request_headers(scope)
                )
            )
            or b""
        )
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            if body:
                writer.write(conn.send(h11.Data(data=body)) or b"")
                await writer.drain()
            if not message.get("more_body", False):
                break
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()
        responding = asyncio.ensure_future(relay.run())
        gone = asyncio.ensure_future(_client_gone(receive))
        try:
            await asyncio.wait({responding, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            if not responding.done():
                responding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await responding
    except (OSError, h11.ProtocolError) as exc:
        await relay.broken(exc)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _client_gone(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        continue


class _Relay:
    """Streams an h11 response to an ASGI ``send``."""

    def __init__(self, conn: h11.Connection, reader: asyncio.StreamReader, send: Send) -> None:
        self.conn = conn
        self.reader = reader
        self.send = send
        self.started = False
        self.ended = False

    async def run(self) -> None:
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(await self.reader.read(65536))
            elif isinstance(event, h11.Response):
                headers = [
                    (k.lower(), v)
                    for k, v in event.headers
                    if k.lower() not in HOP_BY_HOP and k.lower() not in _SERVER_OWN
                ]
                if not any(k == b"cache-control" for k, _ in headers):
                    # A preview shows the files as they are now, not as a browser cached them.
                    headers.append((b"cache-control", b"no-cache"))
                await self.send(
                    {"type": "http.response.start", "status": event.status_code, "headers": headers}
                )
                self.started = True
            elif isinstance(event, h11.Data):
                await self.send(
                    {"type": "http.response.body", "body": bytes(event.data), "more_body": True}
                )
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                await self._end()
                return

    async def _end(self) -> None:
        if self.started and not self.ended:
            self.ended = True
            await self.send({"type": "http.response.body", "body": b"", "more_body": False})

    async def broken(self, error: BaseException) -> None:
        """The server broke the exchange: a 502 if nothing was sent yet, else end the body."""
        if self.started:
            await self._end()
            return
        body = f"The app's server broke the connection without answering ({error}).\n".encode()
        self.started = self.ended = True
        await self.send(
            {
                "type": "http.response.start",
                "status": 502,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")],
            }
        )
        await self.send({"type": "http.response.body", "body": body})


async def proxy_websocket(scope: Scope, receive: Receive, send: Send, sock: socket.socket) -> None:
    """Open the websocket in ``scope`` upstream over ``sock``, then relay both ways."""
    first = await receive()
    if first["type"] != "websocket.connect":
        sock.close()
        return
    raw = [(k.lower(), v) for k, v in scope["headers"]]
    headers = dict(raw)
    extra = [
        (k.decode("latin-1"), v.decode("latin-1"))
        for k, v in raw
        if k not in HOP_BY_HOP
        and k not in _WS_OWN
        and not k.startswith(b"sec-websocket-")
        and not k.startswith(b"x-forwarded-")
    ]
    extra += [(k.decode(), v.decode("latin-1")) for k, v in _forwarded(scope)]
    host = headers.get(b"host", b"localhost").decode("latin-1")
    origin = headers.get(b"origin")
    try:
        upstream = await connect(
            f"ws://{host}{_target(scope).decode('latin-1')}",
            sock=sock,
            origin=Origin(origin.decode("latin-1")) if origin else None,
            subprotocols=scope.get("subprotocols") or None,
            additional_headers=extra,
            user_agent_header=headers.get(b"user-agent", b"").decode("latin-1") or None,
            compression=None,
            max_size=MAX_WS_MESSAGE,
            ping_interval=None,
            proxy=None,
            open_timeout=10,
        )
    except (OSError, InvalidHandshake, TimeoutError):
        sock.close()
        await send({"type": "websocket.close", "code": 1011})
        return
    async with upstream:
        await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})
        up = asyncio.ensure_future(_client_to_upstream(receive, upstream))
        down = asyncio.ensure_future(_upstream_to_client(upstream, send))
        done, pending = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            task.result()


async def _client_to_upstream(receive: Receive, upstream: ClientConnection) -> None:
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            await upstream.close(code=message.get("code", 1000))
            return
        try:
            if message.get("text") is not None:
                await upstream.send(message["text"])
            elif message.get("bytes") is not None:
                await upstream.send(message["bytes"])
        except ConnectionClosed:
            return  # the other direction relays the close


async def _upstream_to_client(upstream: ClientConnection, send: Send) -> None:
    try:
        async for data in upstream:
            if isinstance(data, str):
                await send({"type": "websocket.send", "text": data})
            else:
                await send({"type": "websocket.send", "bytes": data})
    except ConnectionClosed:
        pass  # the close is relayed below like a clean one
    code = upstream.close_code or 1000
    await send(
        {
            "type": "websocket.close",
            "code": code if code != 1005 else 1000,
            "reason": upstream.close_reason or "",
        }
    )
