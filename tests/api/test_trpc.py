"""/api/trpc: tRPC v11's HTTP protocol with superjson, through HTTP on SQLite and PostgreSQL.

The expected bodies are the original's (its stand-in, ../shared/anchor, answered each of these
shapes byte for byte: the envelope, superjson's annotations, zod 4's issues as the message).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import quote

import httpx
import orjson
import pytest

from qai.db import Database
from qai.messages.service import FragmentDraft, save_assistant_result
from qai.trpc.superjson import UNDEFINED, InvalidPayload, deserialize, parse_path, serialize

TRPC = "/api/trpc"
JSON = {"content-type": "application/json"}


def query(path: str, value: object, *, batch: bool = False) -> str:
    payload: object = {"json": value}
    if batch:
        payload = {"0": payload}
    suffix = "?batch=1&input=" if batch else "?input="
    return f"{TRPC}/{path}{suffix}{quote(json.dumps(payload))}"


async def create_project(client: httpx.AsyncClient, value: str = "a kanban board") -> dict:
    response = await client.post(f"{TRPC}/projects.create", json={"json": {"value": value}})
    assert response.status_code == 200, response.text
    return response.json()["result"]["data"]["json"]


def zod_message(*issues: dict) -> str:
    return json.dumps(list(issues), indent=2)


def too_small(field: str, message: str) -> dict:
    return {
        "origin": "string",
        "code": "too_small",
        "minimum": 1,
        "inclusive": True,
        "path": [field],
        "message": message,
    }


def error(message: str, code: str, status: int, path: str | None) -> dict:
    numbers = {"BAD_REQUEST": -32600, "NOT_FOUND": -32004, "METHOD_NOT_SUPPORTED": -32005}
    data: dict = {"code": code, "httpStatus": status}
    if path is not None:
        data["path"] = path
    return {"error": {"json": {"message": message, "code": numbers[code], "data": data}}}


async def test_get_one_answers_the_original_envelope(client: httpx.AsyncClient) -> None:
    project = await create_project(client)
    assert list(project) == ["id", "name", "createdAt", "updatedAt"]  # no QAI template
    response = await client.get(query("projects.getOne", {"id": project["id"]}))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["vary"] == "trpc-accept, accept"
    rest = (await client.get(f"/api/projects/{project['id']}")).json()
    expected = {
        "result": {
            "data": {
                "json": {k: rest[k] for k in ("id", "name", "createdAt", "updatedAt")},
                "meta": {"values": {"createdAt": ["Date"], "updatedAt": ["Date"]}, "v": 1},
            }
        }
    }
    assert response.content == orjson.dumps(expected)


async def test_history_annotates_every_date_and_carries_fragments(
    client: httpx.AsyncClient, database: Database
) -> None:
    project = await create_project(client)
    async with database.session() as session:
        await save_assistant_result(
            session,
            project["id"],
            "Here is your board.",
            FragmentDraft(
                title="Board", sandbox_url="http://f.preview.localhost", files={"a.html": "<h1>"}
            ),
        )
    body = (await client.get(query("messages.getMany", {"projectId": project["id"]}))).json()
    data = body["result"]["data"]
    first, answer = data["json"]
    assert first["fragment"] is None
    assert answer["fragment"]["files"] == {"a.html": "<h1>"}
    assert data["meta"] == {
        "values": {
            "0.createdAt": ["Date"],
            "0.updatedAt": ["Date"],
            "1.createdAt": ["Date"],
            "1.updatedAt": ["Date"],
            "1.fragment.createdAt": ["Date"],
            "1.fragment.updatedAt": ["Date"],
        },
        "v": 1,
    }
    rest = (await client.get(f"/api/projects/{project['id']}/messages")).json()["items"]
    # The JSON API's answers with the original's fields only: QAI's own (the check, the
    # screenshot, unfinished) are not the original's.
    qai_own = {"check", "screenshotUrl", "unfinished"}
    for message in rest:
        if message["fragment"] is not None:
            message["fragment"] = {k: v for k, v in message["fragment"].items() if k not in qai_own}
    assert data["json"] == rest
    # The original answers an empty list for a project that does not exist.
    empty = (await client.get(query("messages.getMany", {"projectId": "nope"}))).json()
    assert empty == {"result": {"data": {"json": []}}}


async def test_a_batch_of_two_queries_is_one_request(client: httpx.AsyncClient) -> None:
    project = await create_project(client)
    inputs = {"0": {"json": {"id": project["id"]}}, "1": {"json": {"projectId": project["id"]}}}
    url = f"{TRPC}/projects.getOne,messages.getMany?batch=1&input={quote(json.dumps(inputs))}"
    response = await client.get(url)
    assert response.status_code == 200
    one, history = response.json()
    assert one["result"]["data"]["json"]["id"] == project["id"]
    assert [m["content"] for m in history["result"]["data"]["json"]] == ["a kanban board"]

    # One answer fails, the other does not: 207, each entry its own.
    inputs = {"0": {"json": {"id": project["id"]}}, "1": {"json": {"id": "missing"}}}
    mixed = await client.get(
        f"{TRPC}/projects.getOne,projects.getOne?batch=1&input={quote(json.dumps(inputs))}"
    )
    assert mixed.status_code == 207
    assert mixed.json()[1] == error("Project not found", "NOT_FOUND", 404, "projects.getOne")
    # No input at all, as the client sends a procedure without one (superjson's undefined).
    undefined = {"0": {"meta": {"values": ["undefined"], "v": 1}}}
    listed = await client.get(
        f"{TRPC}/projects.getMany?batch=1&input={quote(json.dumps(undefined))}"
    )
    assert [p["id"] for p in listed.json()[0]["result"]["data"]["json"]] == [project["id"]]


async def test_mutations_batched_and_not(client: httpx.AsyncClient) -> None:
    project = await create_project(client)
    body = {"0": {"json": {"value": "make it blue", "projectId": project["id"]}}}
    response = await client.post(f"{TRPC}/messages.create?batch=1", json=body)
    assert response.status_code == 200
    [created] = response.json()
    message = created["result"]["data"]["json"]
    assert list(message) == [
        "id",
        "content",
        "role",
        "type",
        "createdAt",
        "updatedAt",
        "projectId",
    ]
    assert (message["content"], message["role"], message["type"]) == (
        "make it blue",
        "USER",
        "RESULT",
    )
    runs = (await client.get(f"/api/projects/{project['id']}/runs")).json()["items"]
    assert message["id"] in {run["messageId"] for run in runs}  # the run was queued


async def test_validation_errors_carry_the_original_texts(client: httpx.AsyncClient) -> None:
    blank_id = await client.get(query("projects.getOne", {"id": ""}))
    assert blank_id.status_code == 400
    assert blank_id.json() == error(
        zod_message(too_small("id", "Project ID is required")),
        "BAD_REQUEST",
        400,
        "projects.getOne",
    )
    both = await client.post(
        f"{TRPC}/messages.create", json={"json": {"value": "", "projectId": ""}}
    )
    assert both.json() == error(
        zod_message(
            too_small("value", "Prompt is required"),
            too_small("projectId", "Project ID is required"),
        ),
        "BAD_REQUEST",
        400,
        "messages.create",
    )
    long = await client.post(f"{TRPC}/projects.create", json={"json": {"value": "x" * 1001}})
    too_big = {
        "origin": "string",
        "code": "too_big",
        "maximum": 1000,
        "inclusive": True,
        "path": ["value"],
        "message": "Prompt must be less than 1000 characters",
    }
    assert long.json() == error(zod_message(too_big), "BAD_REQUEST", 400, "projects.create")
    missing = await client.get(f"{TRPC}/projects.getOne")
    invalid = {
        "expected": "object",
        "code": "invalid_type",
        "path": [],
        "message": "Invalid input: expected object, received undefined",
    }
    assert missing.json() == error(zod_message(invalid), "BAD_REQUEST", 400, "projects.getOne")
    # QAI's own rule (a blank prompt) comes from the service, in the same shape.
    blank = await client.post(f"{TRPC}/projects.create", json={"json": {"value": "   "}})
    assert blank.status_code == 400
    assert "Prompt is required" in blank.json()["error"]["json"]["message"]


async def test_not_found_and_protocol_errors(client: httpx.AsyncClient) -> None:
    unknown = await client.post(
        f"{TRPC}/messages.create", json={"json": {"value": "hi", "projectId": "missing"}}
    )
    assert unknown.status_code == 404
    assert unknown.json() == error("Project not found", "NOT_FOUND", 404, "messages.create")
    absent = await client.get(query("projects.getOne", {"id": "missing"}))
    assert absent.json() == error("Project not found", "NOT_FOUND", 404, "projects.getOne")

    wrong_method = await client.get(query("messages.create", {"value": "x", "projectId": "p"}))
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"
    assert wrong_method.json() == error(
        'Unsupported GET-request to mutation procedure at path "messages.create"',
        "METHOD_NOT_SUPPORTED",
        405,
        "messages.create",
    )
    nowhere = await client.get(f"{TRPC}/projects.nope")
    assert nowhere.json() == error(
        'No procedure found on path "projects.nope"', "NOT_FOUND", 404, "projects.nope"
    )
    bad_json = await client.get(f"{TRPC}/projects.getOne?input=xx")
    assert bad_json.status_code == 400
    assert bad_json.json()["error"]["json"]["data"]["path"] == "projects.getOne"
    no_type = await client.post(f"{TRPC}/projects.create", content=b'{"json":{"value":"x"}}')
    assert no_type.status_code == 415
    assert no_type.json()["error"]["json"]["data"] == {
        "code": "UNSUPPORTED_MEDIA_TYPE",
        "httpStatus": 415,
    }
    mixed = await client.post(
        f"{TRPC}/projects.getOne,projects.create?batch=1", json={}, headers=JSON
    )
    assert mixed.status_code == 400
    assert "Cannot mix procedure types" in mixed.json()["error"]["json"]["message"]
    assert (await client.head(f"{TRPC}/projects.getMany")).status_code == 204


async def test_writes_from_another_origin_are_refused(client: httpx.AsyncClient) -> None:
    refused = await client.post(
        f"{TRPC}/projects.create",
        json={"json": {"value": "x"}},
        headers={"Origin": "http://evil.example"},
    )
    assert refused.status_code == 403
    listed = (await client.get(f"{TRPC}/projects.getMany")).json()
    assert listed["result"]["data"]["json"] == []


def test_superjson_round_trip() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 678000)
    written = serialize({"a.b": [moment, {"c": None}], "n": 1})
    assert written == {
        "json": {"a.b": ["2026-01-02T03:04:05.678Z", {"c": None}], "n": 1},
        "meta": {"values": {"a\\.b.0": ["Date"]}, "v": 1},
    }
    assert deserialize(written) == {"a.b": [moment.replace(tzinfo=UTC), {"c": None}], "n": 1}
    assert serialize("plain") == {"json": "plain"}
    assert deserialize({"meta": {"values": ["undefined"], "v": 1}}) is UNDEFINED
    assert parse_path("a\\.b.0", legacy=False) == ["a.b", "0"]
    with pytest.raises(InvalidPayload):
        deserialize({"json": {}, "meta": {"values": {"x": ["map"]}, "v": 1}})
    with pytest.raises(InvalidPayload):
        deserialize({"json": [1], "meta": {"values": {"0": ["set"]}, "v": 1}})


HOSTILE_QUERIES = [
    query("projects.getOne", {"id": "\x00"}),
    query("messages.getMany", {"projectId": "a\x00b"}),
    query("projects.getOne", {"id": ["x"]}),
    query("projects.getOne", {"id": "x" * 5000}),
    query("projects.getOne", [1, 2]),
    f"{TRPC}/projects.getOne?input=" + quote('{"json":{"id":"x"},"meta":{"values":5}}'),
    f"{TRPC}/projects.getOne?input=" + quote('{"json":{"id":"x"},"meta":{"values":{"id":[7]}}}'),
    f"{TRPC}/projects.getOne?input="
    + quote('{"json":{"id":"x"},"meta":{"values":{"a.b":["Date"]}}}'),
    f"{TRPC}/projects.getOne?input="
    + quote('{"json":{"id":"x"},"meta":{"values":{"id":["Date"]}}}'),
    f"{TRPC}/projects.getOne?input=" + quote('{"json":{"id":"x"},"meta":"no"}'),
    f"{TRPC}/projects.getOne?input=" + quote('{"json":1,"meta":{"values":{"\\\\q":["Date"]}}}'),
    f"{TRPC}/projects.getOne?input=" + quote('"just a string"'),
    f"{TRPC}/projects.getOne?batch=1&input=" + quote("[1]"),
    f"{TRPC}/projects.getOne?batch=1&input=" + quote('{"0":5}'),
    f"{TRPC}/,,?batch=1",
    f"{TRPC}/projects.getOne%00?input=" + quote('{"json":{"id":"x"}}'),
    f"{TRPC}/projects.getOne?input=" + quote('{"json":{"id":"x"}}') + "&input=2",
    f"{TRPC}/projects.getMany?batch=2",
]


async def test_hostile_inputs_get_a_4xx_in_trpc_shape(client: httpx.AsyncClient) -> None:
    for url in HOSTILE_QUERIES:
        response = await client.get(url)
        assert response.status_code < 500, (url, response.text)
        body = response.json()
        entries = body if isinstance(body, list) else [body]
        for entry in entries:
            assert "result" in entry or entry["error"]["json"]["data"]["httpStatus"] < 500, url
    for body in (b"", b"[", b"null", b'{"json":{"value":"\\u0000"}}', b'{"0":{"json":{}}}'):
        for path in ("projects.create", "messages.create?batch=1"):
            response = await client.post(f"{TRPC}/{path}", content=body, headers=JSON)
            assert 400 <= response.status_code < 500, (path, body, response.text)


async def test_a_batch_is_bounded(client: httpx.AsyncClient) -> None:
    paths = ",".join(["projects.getMany"] * 21)
    response = await client.get(f"{TRPC}/{paths}?batch=1")
    assert response.status_code == 400
    assert response.json()["error"]["json"]["message"] == "Batch call exceeds maximum size"
    fine = await client.get(f"{TRPC}/{','.join(['projects.getMany'] * 20)}?batch=1")
    assert fine.status_code == 200
    assert len(fine.json()) == 20


async def test_an_id_with_a_nul_is_a_missing_project(client: httpx.AsyncClient) -> None:
    """PostgreSQL's text cannot hold a NUL: such an id names no project (not a 500)."""
    for url in ("/api/projects/%00", "/api/projects/a%00/messages"):
        assert (await client.get(url)).status_code == 404, url
    sent = await client.post("/api/projects/%00/messages", json={"value": "x"})
    assert sent.status_code == 404
    nul = await client.get(query("projects.getOne", {"id": "\x00"}))
    assert nul.json() == error("Project not found", "NOT_FOUND", 404, "projects.getOne")
    created = await client.post(
        f"{TRPC}/messages.create", json={"json": {"value": "x", "projectId": "\x00"}}
    )
    assert created.status_code == 404
