"""One error shape on every error path, with the original's codes and messages."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from qai.db import Database
from qai.messages.models import Message
from qai.projects.models import Project


def assert_error(
    response: httpx.Response, status: int, code: str, message: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]
    assert error["requestId"] == response.headers["x-request-id"]
    if message is not None:
        assert error["message"] == message
    return error


async def count_rows(database: Database) -> tuple[int, int]:
    from sqlalchemy import func, select

    async with database.read() as session:
        projects = await session.scalar(select(func.count()).select_from(Project))
        messages = await session.scalar(select(func.count()).select_from(Message))
    return int(projects or 0), int(messages or 0)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"value": ""}, "Prompt is required"),
        ({"value": "   "}, "Prompt is required"),
        ({}, "Prompt is required"),
        ({"value": "x" * 1001}, "Prompt must be less than 1000 characters"),
    ],
)
async def test_prompt_validation_on_both_creates(
    client: httpx.AsyncClient, body: dict[str, str], message: str, database: Database
) -> None:
    error = assert_error(await client.post("/api/projects", json=body), 400, "BAD_REQUEST", message)
    assert error["issues"][0]["path"] == ["value"]
    assert error["issues"][0]["message"] == message
    project = (await client.post("/api/projects", json={"value": "ok"})).json()
    assert_error(
        await client.post(f"/api/projects/{project['id']}/messages", json=body),
        400,
        "BAD_REQUEST",
        message,
    )
    assert await count_rows(database) == (1, 1)


async def test_wrong_types_and_unknown_template(
    client: httpx.AsyncClient, database: Database
) -> None:
    assert_error(await client.post("/api/projects", json={"value": 5}), 400, "BAD_REQUEST")
    assert_error(await client.post("/api/projects", json=["value"]), 400, "BAD_REQUEST")
    error = assert_error(
        await client.post("/api/projects", json={"value": "x", "template": "cobol"}),
        400,
        "BAD_REQUEST",
    )
    assert error["issues"][0]["path"] == ["template"]
    assert await count_rows(database) == (0, 0)


async def test_project_id_required(client: httpx.AsyncClient) -> None:
    for method in ("GET", "POST"):
        assert_error(
            await client.request(method, "/api/projects//messages", json={"value": "x"}),
            400,
            "BAD_REQUEST",
            "Project ID is required",
        )
    assert_error(
        await client.get("/api/projects/%20"), 400, "BAD_REQUEST", "Project ID is required"
    )


async def test_unknown_project(client: httpx.AsyncClient, database: Database) -> None:
    for response in (
        await client.get("/api/projects/missing"),
        await client.get("/api/projects/missing/messages"),
        await client.post("/api/projects/missing/messages", json={"value": "hi"}),
        await client.patch("/api/projects/missing", json={"name": "x"}),
        await client.delete("/api/projects/missing"),
    ):
        assert_error(response, 404, "NOT_FOUND", "Project not found")
    assert await count_rows(database) == (0, 0)


async def test_rename_validation(client: httpx.AsyncClient) -> None:
    project = (await client.post("/api/projects", json={"value": "ok"})).json()
    assert_error(
        await client.patch(f"/api/projects/{project['id']}", json={"name": " "}),
        400,
        "BAD_REQUEST",
        "Name is required",
    )
    assert_error(
        await client.patch(f"/api/projects/{project['id']}", json={"name": "n" * 101}),
        400,
        "BAD_REQUEST",
        "Name must be at most 100 characters",
    )


async def test_unknown_route_and_wrong_method(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/nothing-here"), 404, "NOT_FOUND", "Not found")
    error = assert_error(await client.put("/api/projects"), 405, "METHOD_NOT_SUPPORTED")
    assert error["message"] == "Method not allowed"


async def test_malformed_json(client: httpx.AsyncClient, database: Database) -> None:
    response = await client.post(
        "/api/projects", content=b'{"value": ', headers={"content-type": "application/json"}
    )
    assert_error(response, 400, "BAD_REQUEST", "Malformed JSON body")
    assert await count_rows(database) == (0, 0)


async def test_not_json_at_all(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/projects", content=b"value=hello", headers={"content-type": "text/plain"}
    )
    assert_error(response, 400, "BAD_REQUEST")


async def test_too_large(client: httpx.AsyncClient, database: Database) -> None:
    big = b'{"value": "' + b"x" * 2_000_000 + b'"}'
    response = await client.post(
        "/api/projects", content=big, headers={"content-type": "application/json"}
    )
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")

    async def chunks() -> Any:
        for _ in range(40):
            yield b"x" * 65536

    chunked = await client.post(
        "/api/projects", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_error(chunked, 413, "PAYLOAD_TOO_LARGE")
    assert await count_rows(database) == (0, 0)


async def test_bad_cursor_and_limits(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/projects", params={"cursor": "!!!"}), 400, "BAD_REQUEST")
    assert_error(await client.get("/api/projects", params={"limit": 0}), 400, "BAD_REQUEST")
    assert_error(await client.get("/api/projects", params={"limit": "x"}), 400, "BAD_REQUEST")


async def test_unexpected_failure_is_500_without_internals(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/api/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    with caplog.at_level(logging.ERROR):
        response = await client.get("/api/boom")
    error = assert_error(response, 500, "INTERNAL_SERVER_ERROR")
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert any(error["requestId"] in record.getMessage() for record in caplog.records)


async def test_openapi_documents_errors_not_422(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    create = schema["paths"]["/api/projects"]["post"]["responses"]
    assert {"201", "400", "413", "500"} <= set(create)
    assert "422" not in create
    for path in schema["paths"].values():
        for operation in path.values():
            assert "422" not in operation["responses"]
            assert "500" in operation["responses"] or operation.get("tags") == ["operations"]
