"""The tables of accounts: people, their sign-ins, their API tokens, the audit log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column

from qai.db.base import Base, Timestamp, new_id, utcnow


class Role(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


class User(Base):
    __tablename__ = "qai_user"

    id: Mapped[str] = mapped_column(Text, primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(Text, default="")
    role: Mapped[str] = mapped_column(String(16), default=Role.MEMBER.value)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # An argon2 hash; None for an account that signs in only through single sign-on.
    password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)
    quota_runs_per_day: Mapped[int | None] = mapped_column(Integer, nullable=True)
    quota_runs_at_once: Mapped[int | None] = mapped_column(Integer, nullable=True)
    quota_tokens_per_month: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        Timestamp, default=utcnow, server_default=text("CURRENT_TIMESTAMP")
    )


class Session(Base):
    """A sign-in. The cookie holds a random secret; the row holds only its SHA-256."""

    __tablename__ = "qai_session"
    __table_args__ = (Index("qai_session_user_idx", "user_id"),)

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        Text, ForeignKey("qai_user.id", ondelete="CASCADE", onupdate="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(
        Timestamp, default=utcnow, server_default=text("CURRENT_TIMESTAMP")
    )
    expires_at: Mapped[datetime] = mapped_column(Timestamp)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ApiToken(Base):
    """An API token (``Authorization: Bearer``), shown once; the row holds only its SHA-256."""

    __tablename__ = "qai_api_token"
    __table_args__ = (Index("qai_api_token_user_idx", "user_id"),)

    id: Mapped[str] = mapped_column(Text, primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(
        Text, ForeignKey("qai_user.id", ondelete="CASCADE", onupdate="CASCADE")
    )
    name: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(
        Timestamp, default=utcnow, server_default=text("CURRENT_TIMESTAMP")
    )
    revoked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class AuditEntry(Base):
    """Who did what to which project or account; never a password or a token."""

    __tablename__ = "qai_audit"
    __table_args__ = (Index("qai_audit_at_idx", "at"),)

    id: Mapped[str] = mapped_column(Text, primary_key=True, default=new_id)
    at: Mapped[datetime] = mapped_column(
        Timestamp, default=utcnow, server_default=text("CURRENT_TIMESTAMP")
    )
    user_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    project_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)


class Invite(Base):
    """An invitation: a link or access code that lets a person make their account, until it
    expires or its uses run out. The row holds only the code's SHA-256."""

    __tablename__ = "qai_invite"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_by: Mapped[str | None] = mapped_column(Text, nullable=True)
    role: Mapped[str] = mapped_column(String(16), default=Role.MEMBER.value)
    max_uses: Mapped[int] = mapped_column(Integer, default=1)
    uses: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    expires_at: Mapped[datetime] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = mapped_column(
        Timestamp, default=utcnow, server_default=text("CURRENT_TIMESTAMP")
    )


class PreviewGrant(Base):
    """A browser's way into one preview origin (``QAI_PREVIEW_REQUIRES_SIGN_IN``), tied to the
    QAI session it was given to: ending the session ends it.

    QAI's ``/preview-auth`` makes the row with a single-use ticket (``ticket_hash``, valid for
    a minute); the preview origin exchanges the ticket for its cookie (``cookie_hash``, set
    then and never again). The rows hold only SHA-256s of the ticket and the cookie.
    """

    __tablename__ = "qai_preview_grant"
    __table_args__ = (
        Index("qai_preview_grant_session_idx", "session_hash", "host"),
        Index("qai_preview_grant_cookie_idx", "cookie_hash", unique=True),
    )

    ticket_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_hash: Mapped[str] = mapped_column(
        String(64), ForeignKey("qai_session.id_hash", ondelete="CASCADE", onupdate="CASCADE")
    )
    # The preview address's {sandbox} label: a grant opens that one origin.
    host: Mapped[str] = mapped_column(Text)
    ticket_expires_at: Mapped[datetime] = mapped_column(Timestamp)
    cookie_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Whether the cookie was set in a frame (SameSite=None; Partitioned) or at the top level.
    partitioned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(
        Timestamp, default=utcnow, server_default=text("CURRENT_TIMESTAMP")
    )


class OidcIdentity(Base):
    """A person at a single sign-on issuer (``iss`` + ``sub``) and the account they sign in
    to: the issuer's subject, not the email, decides, so a changed email there keeps the
    account here."""

    __tablename__ = "qai_oidc_identity"
    __table_args__ = (Index("qai_oidc_identity_user_idx", "user_id"),)

    issuer: Mapped[str] = mapped_column(String(512), primary_key=True)
    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        Text, ForeignKey("qai_user.id", ondelete="CASCADE", onupdate="CASCADE")
    )
    # The email the issuer gave at the last sign-in (for the admin; never used to sign in).
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(
        Timestamp, default=utcnow, server_default=text("CURRENT_TIMESTAMP")
    )
