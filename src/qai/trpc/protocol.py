"""tRPC v11's HTTP protocol, as ``@trpc/server``'s ``resolveResponse`` speaks it to
``httpLink`` and ``httpBatchLink``, with the superjson transformer.

A request names one procedure (``/api/trpc/projects.getOne``) or, with ``?batch=1``, several
joined by commas (``/api/trpc/projects.getOne,messages.getMany``). Queries are GET with the
input in ``?input=`` (URL-encoded JSON), mutations POST with it as the JSON body; in a batch the
input is an object keyed by position (``{"0": ..., "1": ...}``), each entry a superjson payload.
The answer is ``{"result": {"data": <superjson>}}`` or ``{"error": <superjson of the error
shape>}``, a list of them for a batch; its status is the one status all its entries share, 207
when they differ. Streaming (``httpBatchStreamLink``'s JSON lines) and subscriptions are not
offered: the original's client uses neither.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from starlette.responses import Response

from qai.errors import QaiError
from qai.trpc.superjson import UNDEFINED, Annotated, InvalidPayload, deserialize

ProcedureType = Literal["query", "mutation"]

# tRPC's codes: JSON-RPC 2.0 numbers and HTTP statuses (its rpc/codes.ts, getHTTPStatusCode.ts).
RPC_NUMBERS: dict[str, int] = {
    "PARSE_ERROR": -32700,
    "BAD_REQUEST": -32600,
    "INTERNAL_SERVER_ERROR": -32603,
    "NOT_IMPLEMENTED": -32603,
    "SERVICE_UNAVAILABLE": -32603,
    "UNAUTHORIZED": -32001,
    "FORBIDDEN": -32003,
    "NOT_FOUND": -32004,
    "METHOD_NOT_SUPPORTED": -32005,
    "TIMEOUT": -32008,
    "CONFLICT": -32009,
    "PAYLOAD_TOO_LARGE": -32013,
    "UNSUPPORTED_MEDIA_TYPE": -32015,
    "UNPROCESSABLE_CONTENT": -32022,
    "TOO_MANY_REQUESTS": -32029,
}
HTTP_STATUSES: dict[str, int] = {
    "PARSE_ERROR": 400,
    "BAD_REQUEST": 400,
    "INTERNAL_SERVER_ERROR": 500,
    "NOT_IMPLEMENTED": 501,
    "SERVICE_UNAVAILABLE": 503,
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "METHOD_NOT_SUPPORTED": 405,
    "TIMEOUT": 408,
    "CONFLICT": 409,
    "PAYLOAD_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "UNPROCESSABLE_CONTENT": 422,
    "TOO_MANY_REQUESTS": 429,
}
# tRPC's maxBatchSize: one request must not fan out into any number of statements.
MAX_BATCH = 20
_ACCEPTED_METHOD: dict[ProcedureType, str] = {"query": "GET", "mutation": "POST"}
log = logging.getLogger("qai.trpc")
_HEADERS = {"content-type": "application/json", "vary": "trpc-accept, accept"}


class TrpcError(Exception):
    """An error as tRPC's ``TRPCError``: a code from :data:`RPC_NUMBERS` and a message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def status(self) -> int:
        return HTTP_STATUSES.get(self.code, 500)

    def shape(self, path: str | None) -> dict[str, Any]:
        """tRPC's default error shape (no stack: the original runs in production)."""
        data: dict[str, Any] = {"code": self.code, "httpStatus": self.status}
        if path is not None:
            data["path"] = path
        return {"message": self.message, "code": RPC_NUMBERS.get(self.code, -32603), "data": data}

    @classmethod
    def of(cls, error: QaiError) -> TrpcError:
        """A QAI error in tRPC's terms: same code and status; a validation error's message is
        its issues as zod writes them (``JSON.stringify(issues, null, 2)``)."""
        message = error.message
        if error.code == "BAD_REQUEST" and error.issues:
            message = issues_message([{"code": "custom", **issue} for issue in error.issues])
        return cls(error.code, message)


def issues_message(issues: Sequence[Mapping[str, Any]]) -> str:
    """A ZodError's message: its issues as ``JSON.stringify(issues, null, 2)`` writes them."""
    return orjson.dumps(list(issues), option=orjson.OPT_INDENT_2).decode()


Handler = Callable[[Any], Awaitable[Annotated]]


@dataclass(frozen=True, slots=True)
class Procedure:
    type: ProcedureType
    handler: Handler


@dataclass(frozen=True, slots=True)
class Request:
    """What the protocol reads of an HTTP request to ``/api/trpc/<paths>``."""

    method: str
    paths: str  # the path after the prefix, URL-decoded
    batch: str | None  # ``?batch=``
    input: str | None  # ``?input=`` (GET)
    body: bytes | None = None  # POST
    content_type: str | None = None


async def resolve(request: Request, procedures: Callable[[str], Procedure | None]) -> Response:
    """The answer to ``request``, with ``procedures`` naming the procedure at each path."""
    if request.method == "HEAD":
        return Response(status_code=204)
    try:
        calls, is_batch = _calls(request, procedures)
    except TrpcError as error:
        return _answer(error.status, {"error": {"json": error.shape(None)}})
    if not is_batch:
        item, status = await _run(calls[0], request.method)
        procedure = calls[0].procedure
        if status == 405 and procedure is not None:
            return _answer(status, item, {"allow": _ACCEPTED_METHOD[procedure.type]})
        return _answer(status, item)
    # Every call of a batch runs, concurrently, as tRPC's do; a failing one fails alone.
    results = await asyncio.gather(*(_run(call, request.method) for call in calls))
    statuses = {status for _, status in results}
    return _answer(statuses.pop() if len(statuses) == 1 else 207, [item for item, _ in results])


@dataclass(slots=True)
class _Call:
    path: str
    procedure: Procedure | None
    input: Any  # the deserialized input, UNDEFINED when none was sent
    input_error: TrpcError | None


def _calls(
    request: Request, procedures: Callable[[str], Procedure | None]
) -> tuple[list[_Call], bool]:
    is_batch = request.batch == "1"
    if request.method == "POST" and not (request.content_type or "").startswith("application/json"):
        raise TrpcError(
            "UNSUPPORTED_MEDIA_TYPE",
            f'Unsupported content-type "{request.content_type}'
            if request.content_type
            else "Missing content-type header",
        )
    names = request.paths.split(",") if is_batch else [request.paths]
    if len(names) > MAX_BATCH:
        raise TrpcError("BAD_REQUEST", "Batch call exceeds maximum size")
    found = [procedures(name) for name in names]
    types = {procedure.type for procedure in found if procedure is not None}
    if len(types) > 1:
        raise TrpcError("BAD_REQUEST", f"Cannot mix procedure types in call: {', '.join(types)}")
    inputs: dict[int, Any] = {}
    input_error = None
    try:
        inputs = _inputs(request, is_batch, len(names))
    except TrpcError as error:
        input_error = error
    return [
        _Call(name, procedure, inputs.get(index, UNDEFINED), input_error)
        for index, (name, procedure) in enumerate(zip(names, found, strict=True))
    ], is_batch


def _inputs(request: Request, is_batch: bool, count: int) -> dict[int, Any]:
    raw = request.input if request.method == "GET" else request.body
    if not raw:
        if request.method == "GET":
            return {}
        raise TrpcError("BAD_REQUEST", "Unexpected end of JSON input")
    try:
        decoded = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise TrpcError("BAD_REQUEST", f"Invalid JSON input: {exc.msg}") from None
    try:
        if not is_batch:
            return {0: deserialize(decoded)}
        if not isinstance(decoded, dict):
            raise TrpcError("BAD_REQUEST", '"input" needs to be an object when doing a batch call')
        return {
            index: deserialize(decoded[str(index)])
            for index in range(count)
            if str(index) in decoded
        }
    except InvalidPayload as exc:
        raise TrpcError("BAD_REQUEST", str(exc)) from None


async def _run(call: _Call, method: str) -> tuple[dict[str, Any], int]:
    try:
        if call.procedure is None:
            raise TrpcError("NOT_FOUND", f'No procedure found on path "{call.path}"')
        if _ACCEPTED_METHOD[call.procedure.type] != method:
            raise TrpcError(
                "METHOD_NOT_SUPPORTED",
                f"Unsupported {method}-request to {call.procedure.type} procedure"
                f' at path "{call.path}"',
            )
        if call.input_error is not None:
            raise call.input_error
        data = await call.procedure.handler(call.input)
    except TrpcError as error:
        return {"error": {"json": error.shape(call.path)}}, error.status
    except QaiError as error:
        trpc_error = TrpcError.of(error)
        return {"error": {"json": trpc_error.shape(call.path)}}, trpc_error.status
    except Exception:
        # One call of a batch failing unexpectedly must not take the others' answers with it:
        # it is logged and answered as tRPC answers it.
        log.exception("tRPC call %s failed unexpectedly", call.path)
        unexpected = TrpcError("INTERNAL_SERVER_ERROR", "Internal server error")
        return {"error": {"json": unexpected.shape(call.path)}}, 500
    return {"result": {"data": data.envelope()}}, 200


def _answer(status: int, body: Any, extra: Mapping[str, str] | None = None) -> Response:
    headers = _HEADERS if extra is None else {**extra, **_HEADERS}
    return Response(orjson.dumps(body), status_code=status, headers=headers)
