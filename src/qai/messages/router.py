"""HTTP: sending a message to a project (the original's messages.create), and fragments.

A project's history (messages.getMany) is the projects router's: whether a project exists is
the projects service's rule.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from qai.common.deps import DatabaseDep
from qai.common.ids import check_project_id
from qai.common.openapi import errors
from qai.common.responses import json_response
from qai.messages import service
from qai.messages.encode import fragment_json
from qai.messages.schemas import FragmentOut

router = APIRouter(tags=["messages"])


@router.get(
    "/api/fragments/{fragment_id}",
    summary="One fragment with its files",
    response_model=FragmentOut,
    responses=errors(404),
)
async def get_fragment(
    fragment_id: Annotated[str, Path(description="The fragment's id.")], db: DatabaseDep
) -> Response:
    return json_response(fragment_json(await service.get_fragment(db, fragment_id)))


@router.get(
    "/api/fragments/{fragment_id}/screenshot",
    summary="The page of a fragment's app as the app check saw it",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, **errors(404)},
)
async def get_screenshot(
    fragment_id: Annotated[str, Path(description="The fragment's id.")], db: DatabaseDep
) -> Response:
    png = await service.screenshot_of(db, fragment_id)
    return Response(
        png,
        media_type="image/png",
        headers={"cache-control": "private, max-age=86400", "x-content-type-options": "nosniff"},
    )


@router.api_route("/api/projects//messages", methods=["GET", "POST"], include_in_schema=False)
async def messages_without_project_id() -> None:
    check_project_id("", field="projectId")
