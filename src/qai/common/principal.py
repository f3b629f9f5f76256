"""Who a request acts for. In ``QAI_AUTH=none`` every request acts for :data:`LOCAL`, the one
person on this machine, who sees everything; with accounts the authentication middleware
(``qai.api.auth``) puts the signed-in person in ``scope["state"]["principal"]``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str | None
    email: str
    admin: bool
    display_name: str = ""
    # The SHA-256 of the session secret when a browser cookie authenticated the request.
    session_hash: str | None = None

    @property
    def owner_filter(self) -> str | None:
        """The user whose projects a list shows: None (every project) for an admin."""
        return None if self.admin else self.user_id


LOCAL = Principal(user_id=None, email="", admin=True)


def principal_of(request: Request) -> Principal:
    principal = request.scope.get("state", {}).get("principal")
    return principal if isinstance(principal, Principal) else LOCAL


PrincipalDep = Annotated[Principal, Depends(principal_of)]
