"""HTTP: ``/api/trpc``, the original's five procedures in tRPC v11's protocol with superjson
(see ``qai.trpc.protocol``), answered by the same services as the JSON API.

Queries by GET are also a hot read (``qai.common.hot``): the outermost middleware answers them
before FastAPI's routing, as it answers the JSON API's frequent reads.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import QueryParams
from starlette.responses import Response

from qai.accounts.ownership import require
from qai.accounts.quotas import check_can_start_run
from qai.accounts.service import Accounts
from qai.common.deps import DatabaseDep, SettingsDep
from qai.common.hot import HotRead, HotWrite, WriteRequest, text
from qai.common.ids import check_possible_id
from qai.common.principal import LOCAL, Principal, principal_of
from qai.db import Database
from qai.errors import NotFound
from qai.messages import service as messages
from qai.projects import service as projects
from qai.runs import send
from qai.runs.creates import check_prepared
from qai.settings import Settings
from qai.trpc import encode
from qai.trpc import protocol as trpc
from qai.trpc.inputs import PROJECT_ID, PROMPT, parse_object
from qai.trpc.superjson import Annotated

router = APIRouter()

PREFIX = "/api/trpc/"
# The original answers whole lists; QAI's lists are pages, so these answer the first page: the
# newest projects, and a project's newest messages (oldest first, as the original's).
PROJECTS_MAX = 200
HISTORY_MAX = 500


class Procedures:
    """The procedures of one request's process: its database and settings, and who the
    request acts for (with accounts, a member reaches their own projects only: another's is
    the original's answer for a missing one)."""

    def __init__(
        self,
        database: Database,
        settings: Settings | None,
        principal: Principal = LOCAL,
        accounts: Accounts | None = None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.principal = principal
        self.accounts = accounts
        self.table: dict[str, trpc.Procedure] = {
            "projects.getOne": trpc.Procedure("query", self.get_project),
            "projects.getMany": trpc.Procedure("query", self.list_projects),
            "projects.create": trpc.Procedure("mutation", self.create_project),
            "messages.getMany": trpc.Procedure("query", self.history),
            "messages.create": trpc.Procedure("mutation", self.create_message),
        }

    def get(self, path: str) -> trpc.Procedure | None:
        return self.table.get(path)

    async def get_project(self, value: Any) -> Annotated:
        project_id = check_possible_id(parse_object(value, {"id": PROJECT_ID})["id"])
        await require(self.accounts, self.principal, "project", project_id)
        return encode.project(await projects.get_project(self.database, project_id))

    async def list_projects(self, value: Any) -> Annotated:
        page = await projects.list_projects(
            self.database, limit=PROJECTS_MAX, owner=self.principal.owner_filter
        )
        return encode.projects(page.items)

    async def history(self, value: Any) -> Annotated:
        project_id = parse_object(value, {"projectId": PROJECT_ID})["projectId"]
        if "\x00" in project_id:  # no project has it: the original's answer for one missing
            return encode.history([])
        try:
            await require(self.accounts, self.principal, "project", project_id)
        except NotFound:
            return encode.history([])
        page = await messages.history_page(
            self.database, project_id, limit=HISTORY_MAX, latest=True
        )
        return encode.history(page.items)

    async def create_project(self, value: Any) -> Annotated:
        prompt = parse_object(value, {"value": PROMPT})["value"]
        settings = self._settings()
        template = settings.default_template
        check_prepared(template, settings)
        await self._check_quota()
        project, _ = await send.create_project(
            self.database, prompt, template=template, owner=self.principal.user_id
        )
        return encode.project(project)

    async def create_message(self, value: Any) -> Annotated:
        fields = parse_object(value, {"value": PROMPT, "projectId": PROJECT_ID})
        check_possible_id(fields["projectId"])
        await require(self.accounts, self.principal, "project", fields["projectId"])
        await self._check_quota()
        message = await send.send_message(self.database, fields["projectId"], fields["value"])
        return encode.new_message(message)

    async def _check_quota(self) -> None:
        if self.accounts is not None and self.principal.user_id is not None:
            await check_can_start_run(self.database, self.principal.user_id, self.accounts.quotas)

    def _settings(self) -> Settings:
        # Only the hot read builds Procedures without settings, and it takes only GET, which
        # no mutation accepts.
        assert self.settings is not None
        return self.settings


async def answer_query(
    procedures: str,
    db: Database,
    settings: Settings | None = None,
    batch: str | None = None,
    input: str | None = None,
) -> Response:
    """A GET of ``/api/trpc/<procedures>?batch=&input=``, as the hot read takes it."""
    request = trpc.Request("GET", procedures, batch, input)
    return await trpc.resolve(request, Procedures(db, settings).get)


@router.api_route(
    "/api/trpc/{procedures}", methods=["GET", "POST", "HEAD"], include_in_schema=False
)
async def answer(
    procedures: str, request: Request, db: DatabaseDep, settings: SettingsDep
) -> Response:
    query = request.query_params
    call = trpc.Request(
        request.method,
        procedures,
        query.get("batch"),
        query.get("input"),
        await request.body() if request.method == "POST" else None,
        request.headers.get("content-type"),
    )
    accounts: Accounts | None = getattr(request.app.state, "accounts", None)
    procedures_of = Procedures(db, settings, principal_of(request), accounts)
    return await trpc.resolve(call, procedures_of.get)


async def answer_mutation(request: WriteRequest) -> Response:
    """A POST of ``/api/trpc/<procedures>``, as the hot write takes it (for the local person:
    hot writes answer only without accounts)."""
    query = QueryParams(request.query_string)
    call = trpc.Request(
        "POST",
        request.path_params["procedures"],
        query.get("batch"),
        query.get("input"),
        request.body,
        request.content_type,
    )
    return await trpc.resolve(call, Procedures(request.database, request.settings).get)


HOT_READS = (HotRead(PREFIX + "{procedures}", answer_query, {"batch": text, "input": text}),)
HOT_WRITES = (HotWrite(PREFIX + "{procedures}", answer_mutation),)
