"""Single sign-on through OpenID Connect, with Authlib: the authorization code flow with PKCE.

``begin`` reads the issuer's discovery document (``{issuer}/.well-known/openid-configuration``)
and gives the address to send the browser to, with a fresh ``state``, ``nonce`` and PKCE
verifier; the browser keeps those in a short-lived cookie of QAI's (:class:`LoginFlow`).
``finish`` takes the issuer's answer at the callback: the ``state`` must be the cookie's, the
code is exchanged (with the verifier and the client secret), and the ID token's signature is
verified against the issuer's JWKS, its ``iss``, ``aud``, ``exp``, ``iat``, ``sub`` and
``nonce`` checked, and its email must be verified. Who that person is here, and whether they
may sign in, is the accounts service's rule (``Accounts.sign_in_with_sso``).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import httpx
import httpx2
import orjson
from authlib.common.errors import AuthlibBaseError
from joserfc.errors import JoseError

from qai.accounts import secrets
from qai.errors import BadRequest, Forbidden, QaiError
from qai.settings import Settings, SettingsError

log = logging.getLogger("qai")

CALLBACK_PATH = "/auth/oidc/callback"
# How long a person may take at the issuer before the callback is refused as stale.
FLOW_SECONDS = 600
# Clock skew allowed between QAI and the issuer on the ID token's times.
LEEWAY_SECONDS = 60
HTTP_TIMEOUT_SECONDS = 10.0
# Authlib talks HTTP through httpx2 when it is installed (it is: the model clients need it),
# else through httpx: not reaching the issuer is either one's HTTPError.
HTTP_ERRORS = (httpx2.HTTPError, httpx.HTTPError)


class SsoFailed(BadRequest):
    default_message = "Single sign-on did not work: start again from the sign-in page"


class SsoRefused(Forbidden):
    default_message = "Single sign-on refused"


class SsoUnavailable(QaiError):
    code = "SERVICE_UNAVAILABLE"
    default_message = "The single sign-on service did not answer: try again later"


@dataclass(frozen=True, slots=True)
class SsoIdentity:
    """Who the issuer vouched for: its ``iss`` and ``sub``, and a verified email."""

    issuer: str
    subject: str
    email: str
    name: str


@dataclass(frozen=True, slots=True)
class LoginFlow:
    """What one sign-in through the issuer must find again at the callback, kept by the browser
    that started it (an HttpOnly cookie): the ``state`` proves the callback is that browser's,
    the ``nonce`` ties the ID token to it, the verifier redeems the code (PKCE)."""

    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str
    next: str = "/"
    invite: str = ""

    def to_cookie(self) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(asdict(self))).decode()

    @classmethod
    def from_cookie(cls, value: str | None) -> LoginFlow | None:
        if not value:
            return None
        try:
            fields = orjson.loads(base64.urlsafe_b64decode(value.encode()))
            return cls(**{key: str(fields[key]) for key in cls.__dataclass_fields__})
        except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None


class SingleSignOn:
    """One issuer, as configured by the ``QAI_OIDC_*`` settings."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_secret: str,
        scopes: str,
        button_label: str,
        allow_signup: bool,
        redirect_url: str | None = None,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.button_label = button_label
        self.allow_signup = allow_signup
        self.redirect_url = redirect_url
        # Here, not at the top: authlib's client (with joserfc and cryptography) is 0.1 s of
        # every start-up, and most servers have no single sign-on.
        from authlib.integrations.starlette_client import OAuth

        self._client = OAuth().register(
            "sso",
            client_id=client_id,
            client_secret=client_secret,
            server_metadata_url=f"{self.issuer}/.well-known/openid-configuration",
            client_kwargs={
                "scope": scopes,
                "code_challenge_method": "S256",
                "timeout": HTTP_TIMEOUT_SECONDS,
            },
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> SingleSignOn | None:
        """The issuer the settings name; None when single sign-on is off."""
        if settings.oidc_issuer is None:
            return None
        problem = settings.oidc_problem
        if problem is not None:
            raise SettingsError(problem)
        assert settings.oidc_client_id is not None
        assert settings.oidc_client_secret is not None
        return cls(
            issuer=settings.oidc_issuer,
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret.get_secret_value(),
            scopes=settings.oidc_scopes,
            button_label=settings.oidc_button_label,
            allow_signup=settings.oidc_allow_signup,
            redirect_url=settings.oidc_redirect_url,
        )

    async def begin(
        self, redirect_uri: str, next_path: str, invite: str = ""
    ) -> tuple[str, LoginFlow]:
        """Where to send the browser, and the flow it keeps until the callback."""
        await self._metadata()
        nonce = secrets.new_secret()
        try:
            started: dict[str, Any] = await self._client.create_authorization_url(
                redirect_uri, nonce=nonce
            )
        except (AuthlibBaseError, RuntimeError) as error:
            log.warning("single sign-on: cannot start at %s: %s", self.issuer, error)
            raise SsoUnavailable() from None
        flow = LoginFlow(
            state=started["state"],
            nonce=nonce,
            code_verifier=started["code_verifier"],
            redirect_uri=redirect_uri,
            next=next_path,
            invite=invite,
        )
        return str(started["url"]), flow

    async def finish(self, query: Mapping[str, str], flow: LoginFlow | None) -> SsoIdentity:
        """The person the issuer's answer at the callback vouches for, every check passed."""
        # The answer is this browser's before anything in it is believed (or shown).
        if flow is None:
            raise SsoFailed(
                "This sign-in was not started here, or took too long: start again from the "
                "sign-in page"
            )
        if not secrets.same(flow.state, query.get("state", "")):
            raise SsoFailed("The sign-in's state does not match: start again from the sign-in page")
        refused = query.get("error")
        if refused:
            if refused == "access_denied":
                raise SsoRefused("You did not allow the sign-in at the single sign-on service")
            said = (query.get("error_description") or refused)[:200]
            raise SsoFailed(f"The single sign-on service refused: {said}")
        code = query.get("code")
        if not code:
            raise SsoFailed("The single sign-on service sent no code")
        metadata = await self._metadata()
        try:
            token = await self._client.fetch_access_token(
                redirect_uri=flow.redirect_uri, code=code, code_verifier=flow.code_verifier
            )
        except HTTP_ERRORS as error:
            log.warning("single sign-on: the token endpoint of %s failed: %s", self.issuer, error)
            raise SsoUnavailable() from None
        except (AuthlibBaseError, ValueError) as error:
            log.warning("single sign-on: %s refused the code: %s", self.issuer, error)
            raise SsoFailed("The single sign-on service did not accept the sign-in") from None
        claims = await self._verified_claims(token, flow.nonce, metadata["issuer"])
        if claims.get("email_verified") not in (True, "true"):
            raise SsoRefused(
                "The single sign-on service has not verified your email address: verify it "
                "there, then sign in again"
            )
        email = claims.get("email")
        if not isinstance(email, str) or not email:
            raise SsoRefused("The single sign-on service gave no email address (scope email)")
        name = claims.get("name") or claims.get("preferred_username") or ""
        return SsoIdentity(
            issuer=str(claims["iss"]), subject=str(claims["sub"]), email=email, name=str(name)
        )

    async def _verified_claims(
        self, token: Mapping[str, Any], nonce: str, issuer: str
    ) -> Mapping[str, Any]:
        if "id_token" not in token:
            raise SsoFailed("The single sign-on service sent no ID token (scope openid)")
        options = {
            "iss": {"essential": True, "value": issuer},
            "aud": {"essential": True, "value": self.client_id},
            "sub": {"essential": True},
            "exp": {"essential": True},
        }
        try:
            claims: Mapping[str, Any] = await self._client.parse_id_token(
                token, nonce=nonce, claims_options=options, leeway=LEEWAY_SECONDS
            )
        except HTTP_ERRORS as error:
            log.warning("single sign-on: cannot read the keys of %s: %s", self.issuer, error)
            raise SsoUnavailable() from None
        except (JoseError, AuthlibBaseError, ValueError, RuntimeError) as error:
            # A forged, expired or misdirected token: refused, and said in the log.
            log.warning("single sign-on: an ID token from %s refused: %r", self.issuer, error)
            raise SsoFailed("The single sign-on service's answer did not check out") from None
        return claims

    async def _metadata(self) -> Mapping[str, Any]:
        """The discovery document (read once, then kept), which must be the issuer's own."""
        try:
            metadata: Mapping[str, Any] = await self._client.load_server_metadata()
        except (*HTTP_ERRORS, ValueError) as error:
            log.warning("single sign-on: cannot read %s's discovery: %s", self.issuer, error)
            raise SsoUnavailable() from None
        if str(metadata.get("issuer", "")).rstrip("/") != self.issuer:
            log.warning(
                "single sign-on: %s's discovery names another issuer, %r",
                self.issuer,
                metadata.get("issuer"),
            )
            raise SsoUnavailable("The single sign-on service is misconfigured (its issuer)")
        return metadata
