"""Every query of accounts: users, sessions, tokens, owners, the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Text, bindparam, delete, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from qai.accounts.models import (
    ApiToken,
    AuditEntry,
    Invite,
    OidcIdentity,
    PreviewGrant,
    Role,
    Session,
    User,
)
from qai.db import Database
from qai.messages.models import Fragment, Message
from qai.projects.models import Project, ProjectOwner
from qai.runs.models import Run, RunStatus

_PRINCIPAL_COLUMNS = (User.id, User.email, User.role, User.display_name, User.disabled)
_BY_SESSION = (
    select(*_PRINCIPAL_COLUMNS, Session.expires_at, Session.revoked)
    .join(Session, Session.user_id == User.id)
    .where(Session.id_hash == bindparam("hash"))
)
_BY_TOKEN = (
    select(*_PRINCIPAL_COLUMNS, ApiToken.revoked)
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(ApiToken.token_hash == bindparam("hash"))
)
# The owner of the project an object belongs to: one statement per kind of id. An object that
# does not exist gives no row; a project nobody owns gives a row whose owner is NULL.
_OWNER_OF = {
    "project": select(ProjectOwner.user_id)
    .select_from(Project)
    .outerjoin(ProjectOwner, ProjectOwner.project_id == Project.id)
    .where(Project.id == bindparam("id")),
    "message": select(ProjectOwner.user_id)
    .select_from(Message)
    .outerjoin(ProjectOwner, ProjectOwner.project_id == Message.project_id)
    .where(Message.id == bindparam("id")),
    "fragment": select(ProjectOwner.user_id)
    .select_from(Fragment)
    .join(Message, Message.id == Fragment.message_id)
    .outerjoin(ProjectOwner, ProjectOwner.project_id == Message.project_id)
    .where(Fragment.id == bindparam("id")),
    "run": select(ProjectOwner.user_id)
    .select_from(Run)
    .outerjoin(ProjectOwner, ProjectOwner.project_id == Run.project_id)
    .where(Run.id == bindparam("id")),
}
# A run's live preview, before its version (named like the sandbox) exists.
_OWNER_OF_RUN_PREVIEW = (
    select(ProjectOwner.user_id)
    .select_from(Run)
    .outerjoin(ProjectOwner, ProjectOwner.project_id == Run.project_id)
    .where(Run.preview_url == bindparam("url"))
    .limit(1)
)
# The session behind a preview cookie, for the preview origin it was set on.
_BY_PREVIEW_COOKIE = (
    select(Session.expires_at, Session.revoked, User.disabled)
    .select_from(PreviewGrant)
    .join(Session, Session.id_hash == PreviewGrant.session_hash)
    .join(User, User.id == Session.user_id)
    .where(PreviewGrant.cookie_hash == bindparam("hash"), PreviewGrant.host == bindparam("host"))
)


class AccountReads:
    """Reads made on every authenticated request: one statement each, no transaction."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def by_session(self, session_hash: str) -> Sequence[object] | None:
        rows = await self.database.rows(_BY_SESSION, {"hash": session_hash})
        return rows[0] if rows else None

    async def by_token(self, token_hash: str) -> Sequence[object] | None:
        rows = await self.database.rows(_BY_TOKEN, {"hash": token_hash})
        return rows[0] if rows else None

    async def owner_of(self, kind: str, object_id: str) -> tuple[bool, str | None]:
        """(whether the object exists, the user owning its project)."""
        rows = await self.database.rows(_OWNER_OF[kind], {"id": object_id})
        return (True, rows[0][0]) if rows else (False, None)

    async def owner_of_preview(self, name: str, url: str) -> tuple[bool, str | None]:
        """(whether a project is known for the preview named ``name`` at address ``url``, the
        user owning it): a version's preview (the fragment's id), a project's address (its
        id), or a run's live sandbox (the run's recorded preview address)."""
        for kind in ("fragment", "project"):
            exists, owner = await self.owner_of(kind, name)
            if exists:
                return exists, owner
        rows = await self.database.rows(_OWNER_OF_RUN_PREVIEW, {"url": url})
        return (True, rows[0][0]) if rows else (False, None)

    async def by_preview_cookie(self, cookie_hash: str, host: str) -> Sequence[object] | None:
        rows = await self.database.rows(_BY_PREVIEW_COOKIE, {"hash": cookie_hash, "host": host})
        return rows[0] if rows else None


@dataclass(frozen=True)
class RunInFlight:
    """A queued or running run, as the admin page lists it."""

    id: str
    project_id: str
    project_name: str
    owner_email: str | None
    status: RunStatus
    model: str | None
    created_at: datetime
    started_at: datetime | None
    cancel_requested_at: datetime | None


class AccountRepository:
    """The queries a transaction makes."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, row: object) -> None:
        self.session.add(row)
        await self.session.flush()

    async def user_by_email(self, email: str) -> User | None:
        return await self.session.scalar(select(User).where(User.email == email))

    async def user_by_id(self, user_id: str) -> User | None:
        return await self.session.get(User, user_id)

    async def identity(self, issuer: str, subject: str) -> OidcIdentity | None:
        return await self.session.get(OidcIdentity, (issuer, subject))

    async def has_identity_at(self, user_id: str, issuer: str) -> bool:
        """Whether ``user_id`` signs in as someone at ``issuer`` already."""
        statement = select(OidcIdentity.subject).where(
            OidcIdentity.user_id == user_id, OidcIdentity.issuer == issuer
        )
        return await self.session.scalar(statement.limit(1)) is not None

    async def count_users(self) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(User)) or 0)

    async def count_admins(self) -> int:
        statement = select(func.count()).select_from(User).where(User.role == Role.ADMIN.value)
        return int(await self.session.scalar(statement) or 0)

    async def users(self) -> Sequence[User]:
        return (await self.session.scalars(select(User).order_by(User.created_at))).all()

    async def adopt_unowned_projects(self, user_id: str) -> int:
        """Give ``user_id`` every project nobody owns; the number given."""
        unowned = select(Project.id, literal(user_id, Text())).where(
            ~select(ProjectOwner.project_id).where(ProjectOwner.project_id == Project.id).exists()
        )
        result = await self.session.execute(
            insert(ProjectOwner).from_select(["project_id", "user_id"], unowned)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def own(self, project_id: str, user_id: str) -> None:
        self.session.add(ProjectOwner(project_id=project_id, user_id=user_id))
        await self.session.flush()

    async def revoke_session(self, session_hash: str) -> None:
        await self.session.execute(
            update(Session).where(Session.id_hash == session_hash).values(revoked=True)
        )

    async def revoke_sessions_of(self, user_id: str) -> None:
        await self.session.execute(
            update(Session).where(Session.user_id == user_id).values(revoked=True)
        )

    async def forget_stale_tickets(self, session_hash: str, now: datetime) -> None:
        """Drop ``session_hash``'s preview tickets that expired unused."""
        await self.session.execute(
            delete(PreviewGrant).where(
                PreviewGrant.session_hash == session_hash,
                PreviewGrant.cookie_hash.is_(None),
                PreviewGrant.ticket_expires_at <= now,
            )
        )

    async def use_ticket(
        self, ticket_hash: str, host: str, cookie_hash: str, partitioned: bool, now: datetime
    ) -> PreviewGrant | None:
        """Exchange a preview ticket for a cookie, once: the grant, or None when the ticket is
        unknown, for another preview, expired or used. The browser's older cookie for that
        origin (of the same kind) is replaced, so its grant goes."""
        result = await self.session.execute(
            update(PreviewGrant)
            .where(
                PreviewGrant.ticket_hash == ticket_hash,
                PreviewGrant.host == host,
                PreviewGrant.cookie_hash.is_(None),
                PreviewGrant.ticket_expires_at > now,
            )
            .values(cookie_hash=cookie_hash, partitioned=partitioned)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        grant = await self.session.get(PreviewGrant, ticket_hash)
        assert grant is not None
        await self.session.execute(
            delete(PreviewGrant).where(
                PreviewGrant.session_hash == grant.session_hash,
                PreviewGrant.host == host,
                PreviewGrant.partitioned == partitioned,
                PreviewGrant.cookie_hash.is_not(None),
                PreviewGrant.ticket_hash != ticket_hash,
            )
        )
        return grant

    async def tokens(self, user_id: str | None) -> Sequence[tuple[ApiToken, str]]:
        statement = (
            select(ApiToken, User.email)
            .join(User, User.id == ApiToken.user_id)
            .order_by(ApiToken.created_at)
        )
        if user_id is not None:
            statement = statement.where(ApiToken.user_id == user_id)
        return [(token, email) for token, email in (await self.session.execute(statement))]

    async def revoke_token(self, token_id: str, user_id: str | None) -> bool:
        statement = update(ApiToken).where(ApiToken.id == token_id, ~ApiToken.revoked)
        if user_id is not None:
            statement = statement.where(ApiToken.user_id == user_id)
        result = await self.session.execute(statement.values(revoked=True))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def invites(self) -> Sequence[Invite]:
        """Every invitation, newest first."""
        query = select(Invite).order_by(Invite.created_at.desc(), Invite.code_hash)
        return (await self.session.execute(query)).scalars().all()

    async def invites_by_id(self, prefix: str) -> Sequence[Invite]:
        """The invitations whose id (the start of the code's digest) begins with ``prefix``,
        locked for an update."""
        query = (
            select(Invite)
            .where(Invite.code_hash.startswith(prefix, autoescape=True))
            .limit(2)
            .with_for_update()
        )
        return (await self.session.execute(query)).scalars().all()

    async def runs_in_flight(self, limit: int) -> list[RunInFlight]:
        """Queued and running runs of everyone, oldest first, with their project and owner."""
        statement = (
            select(
                Run.id,
                Run.project_id,
                Project.name,
                User.email,
                Run.status,
                Run.model,
                Run.created_at,
                Run.started_at,
                Run.cancel_requested_at,
            )
            .join(Project, Project.id == Run.project_id)
            .outerjoin(ProjectOwner, ProjectOwner.project_id == Run.project_id)
            .outerjoin(User, User.id == ProjectOwner.user_id)
            .where(Run.status.in_((RunStatus.QUEUED, RunStatus.RUNNING)))
            .order_by(Run.created_at, Run.id)
            .limit(limit)
        )
        return [RunInFlight(*row) for row in (await self.session.execute(statement)).all()]

    async def audit(self, entry: AuditEntry) -> None:
        self.session.add(entry)

    async def audit_log(self, limit: int) -> Sequence[AuditEntry]:
        statement = select(AuditEntry).order_by(AuditEntry.at.desc()).limit(limit)
        return (await self.session.scalars(statement)).all()

    async def usage(
        self, user_id: str, *, day_start: datetime, month_start: datetime
    ) -> tuple[int, int, int]:
        """(runs started since ``day_start``, runs in flight, model tokens since
        ``month_start``) of the projects ``user_id`` owns: one statement."""
        in_flight = Run.status.in_((RunStatus.QUEUED, RunStatus.RUNNING))
        statement = (
            select(
                func.count().filter(Run.created_at >= day_start),
                func.count().filter(in_flight),
                func.coalesce(
                    func.sum(Run.input_tokens + Run.output_tokens).filter(
                        Run.created_at >= month_start
                    ),
                    0,
                ),
            )
            .select_from(Run)
            .join(ProjectOwner, ProjectOwner.project_id == Run.project_id)
            .where(ProjectOwner.user_id == user_id)
        )
        row = (await self.session.execute(statement)).one()
        return int(row[0]), int(row[1]), int(row[2])
