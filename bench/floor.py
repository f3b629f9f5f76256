"""The raw floor: a bare ASGI app on asyncpg and orjson answering the benchmarked requests with
the same JSON as QAI, byte for byte (the bench compares them). No framework, no ORM, no
validation library, no logging: what the hardware allows for the same SQL and the same bytes.

Run: ``python -m bench.floor --dsn postgresql://... --port 8101``.
"""

from __future__ import annotations

import argparse
import base64
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import asyncpg
import orjson
import uvicorn

from qai.projects.names import ADJECTIVES, NOUNS

PROJECT_COLUMNS = 'p.id, p.name, p."createdAt", p."updatedAt", o.template'
PROJECT_FROM = 'FROM "Project" p LEFT JOIN qai_project_options o ON o.project_id = p.id'
GET_PROJECT = f"SELECT {PROJECT_COLUMNS} {PROJECT_FROM} WHERE p.id = $1"
LIST_PROJECTS = (
    f'SELECT {PROJECT_COLUMNS} {PROJECT_FROM} ORDER BY p."createdAt" DESC, p.id DESC LIMIT $1'
)
HISTORY = (
    'SELECT m.id, m.content, m.role::text, m.type::text, m."createdAt", m."updatedAt", '
    'm."projectId", f.id, f."messageId", f."sandboxUrl", f.title, f.files::text, f.summary, '
    'f."createdAt", f."updatedAt", v."check"::text, COALESCE(v.unfinished, false), '
    "s.fragment_id IS NOT NULL "
    'FROM "Message" m LEFT JOIN "Fragment" f ON f."messageId" = m.id '
    "LEFT JOIN qai_version v ON v.fragment_id = f.id "
    "LEFT JOIN qai_screenshot s ON s.fragment_id = f.id "
    'WHERE m."projectId" = $1 ORDER BY m."createdAt", m.id LIMIT $2'
)
PROJECT_EXISTS = 'SELECT 1 FROM "Project" WHERE id = $1'
INSERT_MESSAGE = (
    'INSERT INTO "Message" (id, content, role, type, "createdAt", "updatedAt", "projectId") '
    "VALUES ($1, $2, 'USER', 'RESULT', $3, $3, $4)"
)
INSERT_PROJECT = (
    'INSERT INTO "Project" (id, name, "createdAt", "updatedAt") VALUES ($1, $2, $3, $3)'
)
INSERT_OPTIONS = "INSERT INTO qai_project_options (project_id, template) VALUES ($1, $2)"

JSON_HEADERS = [(b"content-type", b"application/json")]


def iso(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds") + "Z"


def now() -> datetime:
    at = datetime.now(UTC).replace(tzinfo=None)
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def cursor(created_at: datetime, ident: str) -> str:
    raw = f"{created_at.isoformat(timespec='milliseconds')}|{ident}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def project_json(row: Any) -> dict[str, Any]:
    return {
        "id": row[0],
        "name": row[1],
        "createdAt": iso(row[2]),
        "updatedAt": iso(row[3]),
        "template": row[4],
    }


def message_json(row: Any) -> dict[str, Any]:
    fragment = None
    if row[7] is not None:
        fragment = {
            "id": row[7],
            "messageId": row[8],
            "sandboxUrl": row[9],
            "title": row[10],
            "files": orjson.Fragment(row[11]),
            "summary": row[12],
            "createdAt": iso(row[13]),
            "updatedAt": iso(row[14]),
            # QAI's own columns (its version table): the app check, the screenshot, unfinished.
            "check": orjson.Fragment(row[15]) if row[15] else None,
            "screenshotUrl": f"/api/fragments/{row[7]}/screenshot" if row[17] else None,
            "unfinished": row[16],
        }
    return {
        "id": row[0],
        "content": row[1],
        "role": row[2],
        "type": row[3],
        "createdAt": iso(row[4]),
        "updatedAt": iso(row[5]),
        "projectId": row[6],
        "fragment": fragment,
    }


class Floor:
    def __init__(self, dsn: str, pool_size: int) -> None:
        self.dsn = dsn
        self.pool_size = pool_size
        self.pool: asyncpg.Pool | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        status, body = await self.route(scope, receive)
        headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.pool = await asyncpg.create_pool(
                    self.dsn, min_size=self.pool_size, max_size=self.pool_size, reset=keep_session
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.pool is not None:
                    await self.pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def route(self, scope: dict[str, Any], receive: Any) -> tuple[int, bytes]:
        parts = scope["path"].split("/")  # "", "api", "projects", id?, "messages"?
        method = scope["method"]
        if len(parts) < 3 or parts[1] != "api" or parts[2] != "projects":
            return error(404, "NOT_FOUND", "Not found")
        query = parse_qs(scope["query_string"].decode())
        if len(parts) == 3:
            if method == "GET":
                return await self.list_projects(int(query.get("limit", ["50"])[0]))
            return await self.create_project(await read_json(receive))
        if len(parts) == 4:
            return await self.get_project(parts[3])
        if method == "GET":
            return await self.history(parts[3], int(query.get("limit", ["100"])[0]))
        return await self.create_message(parts[3], await read_json(receive))

    async def get_project(self, project_id: str) -> tuple[int, bytes]:
        assert self.pool is not None
        row = await self.pool.fetchrow(GET_PROJECT, project_id)
        if row is None:
            return error(404, "NOT_FOUND", "Project not found")
        return 200, orjson.dumps(project_json(row))

    async def list_projects(self, limit: int) -> tuple[int, bytes]:
        assert self.pool is not None
        rows = await self.pool.fetch(LIST_PROJECTS, limit + 1)
        items = rows[:limit]
        more = len(rows) > limit
        next_cursor = cursor(items[-1][2], items[-1][0]) if more and items else None
        return 200, orjson.dumps(
            {"items": [project_json(r) for r in items], "nextCursor": next_cursor}
        )

    async def history(self, project_id: str, limit: int) -> tuple[int, bytes]:
        assert self.pool is not None
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(HISTORY, project_id, limit + 1)
            if not rows and await conn.fetchval(PROJECT_EXISTS, project_id) is None:
                return error(404, "NOT_FOUND", "Project not found")
        items = rows[:limit]
        more = len(rows) > limit
        next_cursor = cursor(items[-1][4], items[-1][0]) if more and items else None
        return 200, orjson.dumps(
            {
                "items": [message_json(r) for r in items],
                "nextCursor": next_cursor,
                "prevCursor": None,
            }
        )

    async def create_message(self, project_id: str, body: Any) -> tuple[int, bytes]:
        assert self.pool is not None
        value = prompt(body)
        if value is None:
            return error(400, "BAD_REQUEST", "Prompt is required")
        message_id, at = str(uuid.uuid4()), now()
        try:
            await self.pool.execute(INSERT_MESSAGE, message_id, value, at, project_id)
        except asyncpg.ForeignKeyViolationError:
            return error(404, "NOT_FOUND", "Project not found")
        stamp = iso(at)
        return 201, orjson.dumps(
            {
                "id": message_id,
                "content": value,
                "role": "USER",
                "type": "RESULT",
                "createdAt": stamp,
                "updatedAt": stamp,
                "projectId": project_id,
                "fragment": None,
            }
        )

    async def create_project(self, body: Any) -> tuple[int, bytes]:
        assert self.pool is not None
        value = prompt(body)
        if value is None:
            return error(400, "BAD_REQUEST", "Prompt is required")
        template = body.get("template") or "web"
        project_id, message_id, at = str(uuid.uuid4()), str(uuid.uuid4()), now()
        name = f"{secrets.choice(ADJECTIVES)}-{secrets.choice(NOUNS)}"
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(INSERT_PROJECT, project_id, name, at)
            await conn.execute(INSERT_OPTIONS, project_id, template)
            await conn.execute(INSERT_MESSAGE, message_id, value, at, project_id)
        stamp = iso(at)
        return 201, orjson.dumps(
            {
                "id": project_id,
                "name": name,
                "createdAt": stamp,
                "updatedAt": stamp,
                "template": template,
            }
        )


async def keep_session(_connection: Any) -> None:
    """No reset on release (asyncpg's default costs a statement per request): these connections
    run only autocommit statements and short transactions that always end."""


def prompt(body: Any) -> str | None:
    value = body.get("value") if isinstance(body, dict) else None
    if not isinstance(value, str) or not value.strip() or len(value) > 1000:
        return None
    return value


def error(status: int, code: str, message: str) -> tuple[int, bytes]:
    return status, orjson.dumps({"error": {"code": code, "message": message}})


async def read_json(receive: Any) -> Any:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    try:
        return orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8101)
    parser.add_argument("--pool-size", type=int, default=20)
    args = parser.parse_args()
    uvicorn.run(
        Floor(args.dsn, args.pool_size),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        server_header=False,
        date_header=True,
    )


if __name__ == "__main__":
    main()
