"""Rules of accounts: people, signing in and out, API tokens, who may reach which project."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from qai.accounts import secrets
from qai.accounts.models import ApiToken, AuditEntry, Invite, OidcIdentity, Role, Session, User
from qai.accounts.oidc import LoginFlow, SingleSignOn, SsoFailed, SsoIdentity, SsoRefused
from qai.accounts.quotas import QuotaDefaults
from qai.accounts.repository import AccountReads, AccountRepository, RunInFlight
from qai.accounts.throttle import Throttle
from qai.common.principal import Principal
from qai.db import Database, utcnow
from qai.errors import BadRequest, Conflict, NotFound, QaiError, TooManyRequests, Unauthorized

WRONG_CREDENTIALS = "Wrong email or password"
# An invitation's id: this many hex digits from the start of its code's digest.
INVITE_ID_LENGTH = 12


class UserNotFound(NotFound):
    default_message = "No such user"


class InviteRefused(BadRequest):
    default_message = "This invitation does not work: it has expired or been used up"


class TokenNotFound(NotFound):
    default_message = "No such token"


def normal_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > 320 or any(c.isspace() for c in email):
        raise BadRequest(f"{email!r} is not an email address")
    return email


def check_password(password: str) -> None:
    if len(password) < secrets.MIN_PASSWORD_LENGTH:
        raise BadRequest(f"A password needs at least {secrets.MIN_PASSWORD_LENGTH} characters")


def _principal(
    user_id: str, email: str, role: str, name: str, session_hash: str | None = None
) -> Principal:
    return Principal(user_id, email, role == Role.ADMIN.value, name, session_hash)


async def create_user(
    session: AsyncSession,
    email: str,
    *,
    password: str | None,
    role: Role = Role.MEMBER,
    display_name: str = "",
) -> User:
    """A new account. The first admin is given every project nobody owns (those made before
    accounts, or adopted from the original's database)."""
    email = normal_email(email)
    if password is not None:
        check_password(password)
    repository = AccountRepository(session)
    if await repository.user_by_email(email) is not None:
        raise Conflict(f"An account for {email} exists already")
    first_admin = role is Role.ADMIN and await repository.count_admins() == 0
    user = User(
        email=email,
        display_name=display_name.strip() or email.split("@")[0],
        role=role.value,
        password_hash=None if password is None else secrets.hash_password(password),
    )
    await repository.add(user)
    if first_admin:
        await repository.adopt_unowned_projects(user.id)
    await audit(session, "user.create", user_id=user.id, email=email, detail=role.value)
    return user


async def get_user(session: AsyncSession, email: str) -> User:
    user = await AccountRepository(session).user_by_email(normal_email(email))
    if user is None:
        raise UserNotFound(f"No account for {email.strip()}")
    return user


async def list_users(session: AsyncSession) -> Sequence[User]:
    return await AccountRepository(session).users()


async def has_users(session: AsyncSession) -> bool:
    return await AccountRepository(session).count_users() > 0


async def set_disabled(session: AsyncSession, email: str, disabled: bool) -> User:
    """Disable (every session and token stops working at once) or enable an account."""
    user = await get_user(session, email)
    user.disabled = disabled
    if disabled:
        await AccountRepository(session).revoke_sessions_of(user.id)
    await audit(session, "user.disable" if disabled else "user.enable", user_id=user.id)
    return user


async def set_role(session: AsyncSession, email: str, role: Role) -> User:
    user = await get_user(session, email)
    user.role = role.value
    await audit(session, "user.role", user_id=user.id, detail=role.value)
    return user


async def create_token(session: AsyncSession, email: str, name: str = "") -> tuple[ApiToken, str]:
    """A new API token of ``email``'s: its row and the token itself, shown once."""
    user = await get_user(session, email)
    return await create_token_for(session, user.id, name)


async def create_token_for(session: AsyncSession, user_id: str, name: str) -> tuple[ApiToken, str]:
    token = secrets.new_secret(secrets.TOKEN_PREFIX)
    row = ApiToken(token_hash=secrets.digest(token), user_id=user_id, name=name.strip()[:200])
    await AccountRepository(session).add(row)
    await audit(session, "token.create", user_id=user_id, detail=row.name)
    return row, token


async def list_tokens(
    session: AsyncSession, user_id: str | None = None
) -> Sequence[tuple[ApiToken, str]]:
    """API tokens with their owners' emails: ``user_id``'s, or everyone's."""
    return await AccountRepository(session).tokens(user_id)


async def revoke_token(session: AsyncSession, token_id: str, user_id: str | None = None) -> None:
    """Revoke a token (only one of ``user_id``'s when given)."""
    if not await AccountRepository(session).revoke_token(token_id, user_id):
        raise TokenNotFound()
    await audit(session, "token.revoke", user_id=user_id, detail=token_id)


async def audit(
    session: AsyncSession,
    action: str,
    *,
    user_id: str | None = None,
    email: str | None = None,
    project_id: str | None = None,
    address: str | None = None,
    detail: str | None = None,
) -> None:
    """One line of the audit log, written with the transaction it describes."""
    await AccountRepository(session).audit(
        AuditEntry(
            user_id=user_id,
            email=email,
            action=action,
            project_id=project_id,
            address=address,
            detail=detail,
        )
    )


async def runs_in_flight(session: AsyncSession, limit: int = 200) -> list[RunInFlight]:
    """Everyone's queued and running runs, oldest first (the admin page's)."""
    return await AccountRepository(session).runs_in_flight(limit)


async def audit_log(session: AsyncSession, limit: int = 100) -> Sequence[AuditEntry]:
    return await AccountRepository(session).audit_log(limit)


async def create_invite(
    session: AsyncSession,
    *,
    created_by: str | None,
    hours: int = 72,
    max_uses: int = 1,
    role: Role = Role.MEMBER,
) -> str:
    """A new invitation; its code (for ``/signup?code=...``), shown once."""
    if hours < 1 or max_uses < 1:
        raise BadRequest("An invitation lasts at least an hour and has at least one use")
    code = secrets.new_secret()
    code_hash = secrets.digest(code)
    await AccountRepository(session).add(
        Invite(
            code_hash=code_hash,
            created_by=created_by,
            role=role.value,
            max_uses=max_uses,
            expires_at=utcnow() + timedelta(hours=hours),
        )
    )
    detail = f"{code_hash[:INVITE_ID_LENGTH]}: {max_uses} use(s) as {role.value}"
    await audit(session, "invite.create", user_id=created_by, detail=detail)
    return code


class InviteNotFound(NotFound):
    default_message = "No such invitation: see qai invites list"


def invite_id(invite: Invite) -> str:
    """How people name an invitation (its code is shown once, never stored): the start of
    the code's digest."""
    return invite.code_hash[:INVITE_ID_LENGTH]


def invite_id_of_code(code: str) -> str:
    """The id of the invitation whose code is ``code``."""
    return secrets.digest(code)[:INVITE_ID_LENGTH]


def invite_state(invite: Invite, now: datetime) -> str:
    if invite.uses >= invite.max_uses:
        return "used up"
    return "expired" if invite.expires_at <= now else "active"


async def list_invites(session: AsyncSession) -> Sequence[Invite]:
    """Every invitation, newest first (their codes are not kept: only their ids)."""
    return await AccountRepository(session).invites()


async def revoke_invite(session: AsyncSession, invitation_id: str, *, by: str | None) -> Invite:
    """End an invitation now (it expires at once); InviteNotFound for no such id."""
    wanted = invitation_id.strip().lower()
    if len(wanted) < 6 or any(c not in "0123456789abcdef" for c in wanted):
        raise InviteNotFound()
    found = await AccountRepository(session).invites_by_id(wanted)
    if len(found) != 1:
        raise InviteNotFound(None if not found else "Give more of the id: two invitations match")
    invite = found[0]
    invite.expires_at = min(invite.expires_at, utcnow())
    await audit(session, "invite.revoke", user_id=by, detail=invite_id(invite))
    return invite


async def sign_up(
    session: AsyncSession, code: str, email: str, password: str | None, display_name: str = ""
) -> User:
    """Make an account with an invitation, using one of its uses (``password`` None: one that
    signs in through single sign-on only)."""
    invite = await session.get(Invite, secrets.digest(code), with_for_update=True)
    if invite is None or invite.expires_at <= utcnow() or invite.uses >= invite.max_uses:
        raise InviteRefused()
    user = await create_user(
        session, email, password=password, role=Role(invite.role), display_name=display_name
    )
    invite.uses += 1
    return user


@dataclass
class Accounts:
    """What the server does with accounts on every request: knows who a cookie or a token
    stands for, signs people in (throttled) and out, and says who may reach which object."""

    database: Database
    session_hours: int
    throttle: Throttle
    quotas: QuotaDefaults = field(default_factory=QuotaDefaults)
    # Single sign-on through an OpenID Connect issuer, when configured.
    sso: SingleSignOn | None = None

    async def principal_for_session(self, secret: str) -> Principal | None:
        session_hash = secrets.digest(secret)
        row = await AccountReads(self.database).by_session(session_hash)
        if row is None:
            return None
        user_id, email, role, name, disabled, expires_at, revoked = row
        assert isinstance(expires_at, datetime)
        if disabled or revoked or expires_at <= utcnow():
            return None
        return _principal(str(user_id), str(email), str(role), str(name), session_hash)

    async def principal_for_token(self, token: str) -> Principal | None:
        row = await AccountReads(self.database).by_token(secrets.digest(token))
        if row is None:
            return None
        user_id, email, role, name, disabled, revoked = row
        if disabled or revoked:
            return None
        return _principal(str(user_id), str(email), str(role), str(name))

    async def sign_in(self, email: str, password: str, address: str) -> str:
        """Check the password and open a session: its secret, for the cookie. Wrong passwords
        count against the account and the address; past the limit, a 429 whatever the
        password."""
        try:
            email = normal_email(email)
        except QaiError:
            raise Unauthorized(WRONG_CREDENTIALS) from None
        keys = (f"account:{email}", f"address:{address}")
        wait = self.throttle.retry_after(*keys)
        if wait is not None:
            raise TooManyRequests(
                f"Too many wrong passwords; try again in {wait} seconds", retry_after=wait
            )
        async with self.database.session() as session:
            user = await AccountRepository(session).user_by_email(email)
            ok = secrets.verify_password(user.password_hash if user else None, password)
            if user is None or not ok or user.disabled:
                self.throttle.fail(*keys)
                await audit(session, "sign-in.failed", email=email, address=address)
                failed = True
            else:
                secret = await self.open_session(session, user.id)
                await audit(session, "sign-in", user_id=user.id, email=email, address=address)
                failed = False
        if failed:  # after the commit: the failure is in the audit log
            raise Unauthorized(WRONG_CREDENTIALS)
        self.throttle.forget(keys[0])
        return secret

    async def sign_in_with_sso(
        self, answer: Mapping[str, str], flow: LoginFlow | None, address: str
    ) -> tuple[str, LoginFlow]:
        """The issuer's ``answer`` at the callback checked (``SingleSignOn.finish``), a session
        opened for the person it vouches for: its secret, for the cookie, and the flow it ends.
        Refused for a disabled account, or one this person may not have; every refusal of a
        sign-in this browser started is in the audit log."""
        assert self.sso is not None
        try:
            identity = await self.sso.finish(answer, flow)
            assert flow is not None  # finish refuses an answer without its flow
            email = normal_email(identity.email)
        except QaiError as error:
            if flow is not None:
                await self._audit_failed_sso(None, address, error.message)
            raise
        secret = None
        try:
            async with self.database.session() as session:
                user, refusal = await self._sso_account(session, identity, email, flow.invite)
                if user is not None:
                    secret = await self.open_session(session, user.id)
                    await audit(
                        session,
                        "sign-in",
                        user_id=user.id,
                        email=user.email,
                        address=address,
                        detail="sso",
                    )
        except IntegrityError:
            # Another first sign-in of this person linked (or made) the account meanwhile.
            raise SsoFailed("You signed in twice at the same time: sign in again") from None
        if secret is None:
            await self._audit_failed_sso(email, address, refusal)
            raise SsoRefused(refusal)
        return secret, flow

    async def _audit_failed_sso(self, email: str | None, address: str, reason: str) -> None:
        async with self.database.session() as session:
            await audit(
                session, "sign-in.failed", email=email, address=address, detail=f"sso: {reason}"
            )

    async def _sso_account(
        self, session: AsyncSession, identity: SsoIdentity, email: str, invite: str
    ) -> tuple[User | None, str]:
        """The account ``identity`` signs in to, linked to it; or None and why not.

        The issuer's subject finds the account it signed in to before (whatever its email there
        now); else the verified email links an account (unless someone else at that issuer signs
        in to it); else an invitation, or ``QAI_OIDC_ALLOW_SIGNUP``, makes one."""
        repository = AccountRepository(session)
        known = await repository.identity(identity.issuer, identity.subject)
        if known is not None:
            known.email = email
            user = await repository.user_by_id(known.user_id)
        else:
            user = await repository.user_by_email(email)
            if user is not None and await repository.has_identity_at(user.id, identity.issuer):
                return None, (
                    f"The account for {email} signs in as another person at the single sign-on "
                    "service"
                )
            if user is None and invite:
                try:
                    user = await sign_up(session, invite, email, None, identity.name)
                except QaiError as error:
                    return None, error.message
            elif user is None and self.sso is not None and self.sso.allow_signup:
                user = await create_user(session, email, password=None, display_name=identity.name)
            if user is None:
                return None, f"There is no account for {email} here: ask an admin for an invitation"
            if not user.disabled:
                await repository.add(
                    OidcIdentity(
                        issuer=identity.issuer,
                        subject=identity.subject,
                        user_id=user.id,
                        email=email,
                    )
                )
        if user is None or user.disabled:
            return None, "This account is disabled: ask an admin"
        return user, ""

    async def open_session(self, session: AsyncSession, user_id: str) -> str:
        secret = secrets.new_secret()
        row = Session(
            id_hash=secrets.digest(secret),
            user_id=user_id,
            expires_at=utcnow() + timedelta(hours=self.session_hours),
        )
        await AccountRepository(session).add(row)
        return secret

    async def sign_out(self, session_hash: str) -> None:
        async with self.database.session() as session:
            await AccountRepository(session).revoke_session(session_hash)

    async def may_reach(self, principal: Principal, kind: str, object_id: str) -> bool:
        """Whether the object exists and ``principal`` may reach it (an admin reaches all)."""
        exists, owner = await AccountReads(self.database).owner_of(kind, object_id)
        return exists and (principal.admin or (owner is not None and owner == principal.user_id))

    async def record_owner(self, session: AsyncSession, project_id: str, user_id: str) -> None:
        await AccountRepository(session).own(project_id, user_id)

    async def audit_change(
        self,
        principal: Principal,
        action: str,
        project_id: str | None,
        params: dict[str, object],
    ) -> None:
        detail = ", ".join(f"{k}={v}" for k, v in params.items() if k != "project_id") or None
        async with self.database.session() as session:
            await audit(
                session,
                action,
                user_id=principal.user_id,
                email=principal.email,
                project_id=project_id,
                detail=detail,
            )
