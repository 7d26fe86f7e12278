"""Who is signed in to the console, and the token the console calls the services with on their behalf.

The console never holds a token of its own: every gRPC call carries the signed-in user's access token, so the
services decide (and audit) what that advisor or customer may see, exactly as for a call from the bank app.

Where the token comes from:
- behind the bank's auth proxy (production): the proxy (e.g. oauth2-proxy with `--pass-access-token`) puts the
  identity provider's access token in the `X-Forwarded-Access-Token` header (or `Authorization: Bearer ...`) of
  every request; the console verifies it like every service does (JWKS, issuer, audience `<prefix>console`);
- in development mode only, the login page signs a short-lived token for a simulated advisor or customer with
  the development key (as `proactive-care token` does) and keeps it in an HttpOnly, SameSite=Strict cookie.
  Outside development mode the login page refuses (403).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from starlette.requests import Request

from services import registry
from services.platform import auth, security
from services.platform.dev_identity import DEV_ISSUER, ensure_dev_identity
from services.platform.settings import Settings

COOKIE = "pc_console_token"
PROXY_HEADER = "x-forwarded-access-token"
SERVICE = "console"  # the audience a console token must carry (besides the services it calls)
DEV_TOKEN_SECONDS = 3600
DEV_ADVISOR_QUEUES = ("financial-support", "mortgage-care", "wealth")


@dataclass(frozen=True)
class User:
    subject: str
    role: auth.Role
    queues: tuple[str, ...]
    token: str

    @property
    def is_advisor(self) -> bool:
        return self.role in (auth.Role.ADVISOR, auth.Role.OPERATOR)


class Identities:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.verifier = security.verifier(settings, SERVICE)

    def token_of(self, request: Request) -> str:
        header = request.headers.get(PROXY_HEADER, "")
        if header:
            return header.strip()
        authorization = request.headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            return authorization[7:].strip()
        return request.cookies.get(COOKIE, "") if self.settings.development else ""

    def user(self, request: Request) -> User | None:
        """The signed-in user, or None (no token, or one that does not verify)."""
        token = self.token_of(request)
        if not token:
            return None
        try:
            principal = self.verifier.verify(token)
        except auth.AuthError:
            return None
        return User(principal.subject, principal.role, tuple(sorted(principal.queues)), token)

    def dev_token(self, subject: str, role: str, queues: tuple[str, ...] = ()) -> str:
        """Development mode only (security.StartupRefused otherwise): a token for a simulated user, signed by
        the development key whose JWKS the services verify with (AUTH_JWKS_URL, when it is such a key's file)."""
        if not self.settings.development:
            raise security.StartupRefused("the development sign-in works only in development mode")
        jwks = urlparse(security.jwks_url(self.settings.auth_jwks_url))
        directory = Path(unquote(jwks.path)).parent if jwks.scheme == "file" else None
        if directory is None or not (directory / "signing-key.pem").exists():
            return security.issue_dev_token(self.settings, subject, role, services=[*registry.NAMES, SERVICE],
                                            queues=queues, ttl_seconds=DEV_TOKEN_SECONDS)
        return ensure_dev_identity(directory).issue(
            subject, role, audience=[self.settings.audience(s) for s in (*registry.NAMES, SERVICE)],
            issuer=self.settings.auth_issuer or DEV_ISSUER, queues=queues, ttl_seconds=DEV_TOKEN_SECONDS)
