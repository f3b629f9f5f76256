"""A small, real OpenID Connect issuer for tests: an HTTP server on 127.0.0.1 that signs ID
tokens with its own RSA key (joserfc, the JOSE library of Authlib's).

It serves:

- ``GET /.well-known/openid-configuration`` — discovery;
- ``GET /jwks`` — its public key set;
- ``GET /authorize`` — the authorization endpoint: checks the client, the redirect address and
  the PKCE challenge (S256), then sends the browser straight back with a code for the person
  in :attr:`FakeIssuer.user` (no login page: that person is "signed in" there), or with
  ``error=access_denied`` when :attr:`FakeIssuer.deny` is set;
- ``POST /token`` — the token endpoint: checks the client secret (HTTP Basic), the code (once),
  the redirect address and the PKCE verifier, and answers an access token and a signed ID
  token with the ``nonce`` of the authorization request.

Tests change what it answers between requests: :attr:`user` (who signs in),
:attr:`claims` (claims put over the ID token's: a wrong ``aud``, a past ``exp``),
:attr:`sign_with_stranger` (a key that is not in its JWKS, with the same ``kid``);
:meth:`rotate_key` signs with a new key under a new ``kid`` from then on.
:attr:`authorize_requests` and :attr:`token_requests` hold what was asked.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey


@dataclass
class IssuerUser:
    """The person signed in at the issuer."""

    subject: str
    email: str
    email_verified: bool = True
    name: str = ""


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    nonce: str
    code_challenge: str
    user: IssuerUser


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class FakeIssuer:
    client_id: str = "qai-test"
    client_secret: str = "qai-test-secret"
    user: IssuerUser | None = None
    deny: bool = False
    claims: dict[str, Any] = field(default_factory=dict)
    sign_with_stranger: bool = False
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.key_id = "key-1"
        self.key = self._new_key()
        self.stranger = self._new_key()
        self._grants: dict[str, _Grant] = {}
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread: threading.Thread | None = None

    def _new_key(self) -> RSAKey:
        parameters = {"kid": self.key_id, "use": "sig", "alg": "RS256"}
        return RSAKey.generate_key(2048, parameters=parameters, private=True)

    def rotate_key(self) -> None:
        """Sign with a new key, under a new ``kid``, from now on (and publish only that one)."""
        self.key_id = f"key-{int(self.key_id.split('-')[1]) + 1}"
        self.key = self._new_key()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def reset(self, user: IssuerUser | None = None) -> None:
        """Back to honest answers, for ``user``."""
        self.user = user
        self.deny = False
        self.claims = {}
        self.sign_with_stranger = False

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "authorization_endpoint": self.url + "/authorize",
            "token_endpoint": self.url + "/token",
            "jwks_uri": self.url + "/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "scopes_supported": ["openid", "email", "profile"],
        }

    def jwks(self) -> dict[str, Any]:
        return KeySet([self.key]).as_dict(private=False)

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str]]:
        """(status, headers): a redirect back to the client, or a 400."""
        self.authorize_requests.append(query)
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or not redirect_uri.startswith("http"):
            return 400, {}
        back: dict[str, str] = {"state": query.get("state", "")}
        if self.deny or self.user is None:
            back["error"] = "access_denied"
        elif (
            query.get("response_type") != "code"
            or "openid" not in query.get("scope", "").split()
            or query.get("code_challenge_method") != "S256"
            or not query.get("code_challenge")
        ):
            back["error"] = "invalid_request"
        else:
            code = secrets.token_urlsafe(16)
            with self._lock:
                self._grants[code] = _Grant(
                    client_id=self.client_id,
                    redirect_uri=redirect_uri,
                    nonce=query.get("nonce", ""),
                    code_challenge=query["code_challenge"],
                    user=self.user,
                )
            back["code"] = code
        separator = "&" if urlsplit(redirect_uri).query else "?"
        return 302, {"Location": redirect_uri + separator + urlencode(back)}

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        self.token_requests.append(form)
        expected = (
            "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        )
        if authorization != expected:
            return 401, {"error": "invalid_client"}
        with self._lock:
            grant = self._grants.pop(form.get("code", ""), None)
        if (
            grant is None
            or form.get("grant_type") != "authorization_code"
            or form.get("redirect_uri") != grant.redirect_uri
            or _s256(form.get("code_verifier", "")) != grant.code_challenge
        ):
            return 400, {"error": "invalid_grant"}
        access_token = secrets.token_urlsafe(24)
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "sub": grant.user.subject,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": grant.nonce,
            "email": grant.user.email,
            "email_verified": grant.user.email_verified,
            "name": grant.user.name,
            **self.claims,
        }
        key = self.stranger if self.sign_with_stranger else self.key
        id_token = jwt.encode({"alg": "RS256", "kid": self.key_id}, claims, key)
        return 200, {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": id_token,
        }

    def start(self) -> FakeIssuer:
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler(issuer: FakeIssuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/.well-known/openid-configuration":
                self._json(200, issuer.discovery())
            elif parts.path == "/jwks":
                self._json(200, issuer.jwks())
            elif parts.path == "/authorize":
                query = {key: values[0] for key, values in parse_qs(parts.query).items()}
                status, headers = issuer.authorize(query)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            if urlsplit(self.path).path != "/token":
                self._json(404, {"error": "not_found"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            form = {key: values[0] for key, values in parse_qs(body).items()}
            status, answer = issuer.token(form, self.headers.get("Authorization", ""))
            self._json(status, answer)

    return Handler
