"""HTTP: runs of a project, and one run with its steps."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from qai.common.deps import DatabaseDep, ModelsDep
from qai.common.ids import ProjectId
from qai.common.openapi import errors
from qai.runs import service
from qai.runs.schemas import ModelList, RunDetail, RunOut, RunPage, RunStepOut

router = APIRouter(tags=["runs"])


@router.get(
    "/api/projects/{project_id}/runs",
    summary="Runs of a project, newest first",
    responses=errors(400, 404),
)
async def list_runs(
    project_id: ProjectId,
    db: DatabaseDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(description="nextCursor of the previous page")] = None,
) -> RunPage:
    page = await service.list_runs(db, project_id, limit=limit, cursor=cursor)
    return RunPage(
        items=[RunOut.model_validate(run) for run in page.items], next_cursor=page.next_cursor
    )


@router.get("/api/runs/{run_id}", summary="One run with its steps", responses=errors(400, 404))
async def get_run(
    run_id: Annotated[str, Path(description="The run's id.")], db: DatabaseDep
) -> RunDetail:
    async with db.read() as session:
        found = await service.get_run(session, run_id)
    return RunDetail(
        **RunOut.model_validate(found.run).model_dump(),
        steps=[RunStepOut.model_validate(step) for step in found.steps],
    )


@router.post(
    "/api/runs/{run_id}/cancel",
    summary="Stop a run",
    description="Stop: the run ends within seconds, whatever it is doing (a model call, a "
    "sandbox command), with an ERROR answer that says it was stopped and keeps the files it had "
    "written as an unfinished version. The request is recorded on the run, so any server "
    "process may take it; the worker running the run sees it within "
    "QAI_RUN_CANCEL_POLL_SECONDS. Asking again is harmless; a finished run answers 409.",
    status_code=202,
    responses=errors(400, 404, 409),
)
async def cancel_run(
    run_id: Annotated[str, Path(description="The run's id.")], db: DatabaseDep
) -> RunOut:
    async with db.session() as session:
        run = await service.request_cancel(session, run_id)
        out = RunOut.model_validate(run)
    return out


@router.get(
    "/api/models",
    summary="The models a run may use",
    responses=errors(),
    description="Pass one's id as ``model`` when creating a project or sending a message; "
    "another is refused with 400. The run records the model it used (``model``).",
)
async def list_models(models: ModelsDep) -> ModelList:
    return ModelList(items=service.model_list(models))
