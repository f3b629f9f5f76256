"""The write path's creates: a USER message (or a project with its first one) and its run's
outbox row, in one short transaction, with nothing else on the request path.

On PostgreSQL the rows go in one statement run by the driver itself (data-modifying CTEs: the
project, its options and owner, the message, the queued run): one round trip, one implicit
transaction, no ORM. A foreign key refusing the message (its project does not exist) refuses
the whole statement. Elsewhere (SQLite) the same rows are Core INSERTs in one transaction. Once
committed, the ``code-agent/run`` event is sent: it wakes a worker's own hand-off, or an API-only
process's NOTIFY to the workers (:class:`qai.runs.dispatch.WakeWorkers`). A message that builds on a
chosen version goes through the session path (``messages.service.create_user_message``), which
records the choice too.
"""

from __future__ import annotations

from functools import cache

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from qai.db import Database, new_id, utcnow
from qai.errors import ProjectNotFound
from qai.events import DISPATCH, CodeAgentRun, EventDispatch
from qai.messages.models import Message, MessageRole, MessageType
from qai.messages.repository import MessageRow
from qai.messages.rules import check_prompt
from qai.projects.models import Project, ProjectOptions, ProjectOwner
from qai.projects.names import random_project_name
from qai.projects.repository import ProjectRow
from qai.runs.models import Run
from qai.runs.repository import queued_run

USER = MessageRole.USER.value
RESULT = MessageType.RESULT.value


# The statements, PostgreSQL's SQL for asyncpg. The message and its run:
# $1 message id, $2 content, $3 created at, $4 project id, $5 model.
_MESSAGE = (
    'INSERT INTO "Message" (id, content, role, type, "createdAt", "updatedAt", "projectId") '
    "VALUES ($1, $2, 'USER', 'RESULT', $3, $3, $4)"
)
_RUN = (
    "INSERT INTO qai_run (id, project_id, message_id, status, model, created_at, "
    "input_tokens, output_tokens, turns, handed_off) "
    "VALUES ($1, $4, $1, 'queued', $5, $3, 0, 0, 0, false)"
)
# The project first: $6 project created at, $7 name, $8 template (and $9 owner).
_PROJECT = (
    'new_project AS (INSERT INTO "Project" (id, name, "createdAt", "updatedAt") '
    "VALUES ($4, $7, $6, $6)), "
    "new_options AS (INSERT INTO qai_project_options (project_id, template) VALUES ($4, $8)), "
)
_OWNER = "new_owner AS (INSERT INTO qai_project_owner (project_id, user_id) VALUES ($4, $9)), "


@cache
def _statement(*, project: bool, owner: bool) -> str:
    ctes = (_PROJECT if project else "") + (_OWNER if owner else "")
    return f"WITH {ctes}new_message AS ({_MESSAGE}) {_RUN}"


def _dispatch(database: Database) -> EventDispatch | None:
    dispatch: EventDispatch | None = database.session_info.get(DISPATCH)
    return dispatch


async def send_message(
    database: Database, project_id: str, value: str, *, model: str | None = None
) -> MessageRow:
    """A USER/RESULT message to ``project_id`` and its queued run (using ``model``; None: the
    default), committed; ProjectNotFound when the project does not exist (nothing written)."""
    check_prompt(value)
    message = _new_message(project_id, value)
    await _write(database, message, model=model)
    return message


async def create_project(
    database: Database,
    value: str,
    *,
    template: str,
    owner: str | None = None,
    model: str | None = None,
) -> tuple[ProjectRow, MessageRow]:
    """A project named with a random slug (the user ``owner``'s, when given), its first USER
    message and its queued run, committed."""
    check_prompt(value)  # before anything is written: a refused prompt costs no statement
    at = utcnow()
    project = ProjectRow(new_id(), random_project_name(), at, at, template)
    message = _new_message(project.id, value)
    await _write(database, message, model=model, project=project, owner=owner)
    return project, message


def _new_message(project_id: str, value: str) -> MessageRow:
    at = utcnow()
    return MessageRow(new_id(), value, USER, RESULT, at, at, project_id, None)


async def _write(
    database: Database,
    message: MessageRow,
    *,
    model: str | None,
    project: ProjectRow | None = None,
    owner: str | None = None,
) -> None:
    dispatch = _dispatch(database)
    event = CodeAgentRun(
        project_id=message.project_id, message_id=message.id, value=message.content, model=model
    )
    if database.driver_writes:
        values: list[object] = [message.id, message.content, message.created_at]
        values += [message.project_id, model]
        if project is not None:
            values += [project.created_at, project.name, project.template]
            if owner is not None:
                values.append(owner)
        sql = _statement(project=project is not None, owner=owner is not None)
        try:
            await database.write(sql, *values)
        except asyncpg.ForeignKeyViolationError:
            raise ProjectNotFound() from None
    else:
        await _write_with_core(database, message, model=model, project=project, owner=owner)
    if dispatch is not None:
        await dispatch.send(event)


async def _write_with_core(
    database: Database,
    message: MessageRow,
    *,
    model: str | None,
    project: ProjectRow | None,
    owner: str | None,
) -> None:
    """The same rows as Core INSERTs in one transaction (SQLite: no data-modifying CTEs)."""
    async with database.engine.begin() as connection:
        if project is not None:
            await connection.execute(
                insert(Project).values(
                    id=project.id,
                    name=project.name,
                    created_at=project.created_at,
                    updated_at=project.updated_at,
                )
            )
            await connection.execute(
                insert(ProjectOptions).values(project_id=project.id, template=project.template)
            )
            if owner is not None:
                await connection.execute(
                    insert(ProjectOwner).values(project_id=project.id, user_id=owner)
                )
        try:
            await connection.execute(
                insert(Message).values(
                    id=message.id,
                    content=message.content,
                    role=MessageRole.USER,
                    type=MessageType.RESULT,
                    created_at=message.created_at,
                    updated_at=message.updated_at,
                    project_id=message.project_id,
                )
            )
        except IntegrityError:
            raise ProjectNotFound() from None
        await connection.execute(
            insert(Run).values(
                **queued_run(message.id, message.project_id, message.created_at, model),
                handed_off=False,
            )
        )
