"""Bearer tokens from the bank's identity provider, and per-call access checks.

A token is an asymmetrically signed JWT (ES256 by default; RS256 and EdDSA accepted) verified against the
provider's JWKS (`TokenVerifier`, PyJWT's `PyJWKClient`: cached, refetched when a token names an unknown key id).
Every token must carry `iss` (the configured issuer), `aud` (this service's audience), `exp`, `nbf` and `sub`.
It carries a role: a customer reaches only its own data, an advisor only its queues, operators what their RPC
allows, an auditor the audit log; a `service` caller (another system) reaches an RPC only with that RPC's scope
(`scope` claim, space-separated, e.g. `fraud:ScoreTransaction`). The gRPC bootstrap verifies the token of every
call and sets the caller's `Principal` for the handler; handlers then call `require_customer` / `require_queue`,
and a sensitive customer action `require_step_up` (a recent strong authentication: `acr`/`amr` and `auth_time`).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import ssl
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import unquote, urlparse

import jwt

from services.platform.errors import NotFoundError, PermissionDeniedError

# what the bank's providers sign with (FAPI 2.0 allows PS256, ES256, EdDSA); never HS* nor `none`
ALGORITHMS = ("ES256", "ES384", "RS256", "PS256", "EdDSA")


class Role(StrEnum):
    CUSTOMER = "customer"
    ADVISOR = "advisor"
    OPERATOR = "operator"
    SERVICE = "service"
    AUDITOR = "auditor"


ALL_ROLES = frozenset(Role)
STAFF_ROLES = frozenset({Role.ADVISOR, Role.OPERATOR})
READERS = frozenset({Role.CUSTOMER, *STAFF_ROLES, Role.SERVICE})  # who may read a customer's data (no auditor)


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    queues: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    expires_at: float = float("inf")
    # how the holder authenticated (OpenID Connect claims): the context class, the methods, and when
    acr: str = ""
    amr: frozenset[str] = frozenset()
    auth_time: float | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


class AuthError(Exception):
    """The token is missing, malformed, badly signed, for another audience or expired (UNAUTHENTICATED). The
    message is plain: it never carries the decoder's internals."""


class StepUpRequired(AuthError):
    """The token is valid but its authentication is not strong or recent enough for this action
    (UNAUTHENTICATED, as RFC 9470's `insufficient_user_authentication`): the client re-authenticates."""


# an `amr` (RFC 8176) that is a strong authentication whatever the `acr`: more than one factor
STRONG_AMR = frozenset({"mfa"})


# PyJWT's exceptions -> the plain reason a caller is told (most specific first)
_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token not yet valid"),
    (jwt.InvalidAudienceError, "token not issued for this service"),
    (jwt.InvalidIssuerError, "token from an unknown issuer"),
    (jwt.MissingRequiredClaimError, "token lacks a required claim"),
    (jwt.InvalidSignatureError, "token signature does not verify"),
    (jwt.InvalidAlgorithmError, "token algorithm not accepted"),
    (jwt.DecodeError, "malformed token"),
)
_VERIFIED_MAX = 10_000


class FileJWKS:
    """A JWKS in a file (a mounted Secret or ConfigMap; the development identity provider), with PyJWKClient's
    behaviour: cached, re-read when a token names an unknown key id (at most once per cooldown)."""

    def __init__(self, path: Path, refresh_cooldown_seconds: float = 30.0) -> None:
        self.path = path
        self.cooldown = refresh_cooldown_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._read_at: float | None = None
        self._lock = threading.Lock()

    def _read(self) -> None:
        try:
            data = json.loads(self.path.read_text())
            keys = jwt.PyJWKSet.from_dict(data).keys
        except (OSError, ValueError, jwt.PyJWTError) as exc:
            raise jwt.PyJWKClientConnectionError(f"JWKS file unreadable: {type(exc).__name__}") from None
        self._keys = {k.key_id: k for k in keys if k.key_id and k.public_key_use in (None, "sig")}
        self._read_at = time.monotonic()

    def get_signing_key(self, kid: str) -> jwt.PyJWK:
        with self._lock:
            if self._read_at is None:
                self._read()
            if kid not in self._keys and time.monotonic() - (self._read_at or 0.0) >= self.cooldown:
                self._read()  # a rotated key
            if kid not in self._keys:
                raise jwt.PyJWKClientError("unknown key id")
            return self._keys[kid]


def jwks_tls_context(ca_file: str = "") -> ssl.SSLContext:
    """The TLS context of a JWKS fetch: the system's trusted CAs, or only `ca_file` (AUTH_JWKS_CA_FILE) for an
    identity provider with a certificate of the bank's own CA."""
    return ssl.create_default_context(cafile=ca_file or None)


def key_source(jwks_url: str, *, refresh_cooldown_seconds: float = 30.0, fetch_timeout_seconds: float = 5.0,
               ca_file: str = "") -> FileJWKS | jwt.PyJWKClient:
    """The identity provider's keys: PyJWKClient for an https:// URL, FileJWKS for a file:// URL."""
    parsed = urlparse(jwks_url)
    if parsed.scheme == "file":
        return FileJWKS(Path(unquote(parsed.path)), refresh_cooldown_seconds)
    return jwt.PyJWKClient(jwks_url, cache_keys=False, cache_jwk_set=True, lifespan=300,
                           timeout=fetch_timeout_seconds, cooldown_duration=refresh_cooldown_seconds,
                           ssl_context=jwks_tls_context(ca_file))


class TokenVerifier:
    """Verifies the tokens of one service: its issuer, its audience, the provider's keys."""

    def __init__(self, jwks_url: str, *, issuer: str, audience: str, leeway_seconds: float = 30.0,
                 refresh_cooldown_seconds: float = 30.0, fetch_timeout_seconds: float = 5.0,
                 ca_file: str = "") -> None:
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway_seconds
        self.keys = key_source(jwks_url, refresh_cooldown_seconds=refresh_cooldown_seconds,
                               fetch_timeout_seconds=fetch_timeout_seconds, ca_file=ca_file)
        self._verified: dict[str, Principal] = {}
        # tokens not seen before are verified here, off the event loop: their key may have to be fetched from
        # the identity provider (an unknown `kid`), which must not stall the server's other calls
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="token-verify")

    def cached(self, token: str) -> Principal | None:
        """The principal of a token verified before and not yet expired."""
        cached = self._verified.get(token)
        return cached if cached is not None and cached.expires_at > time.time() else None

    def verify(self, token: str) -> Principal:
        """The token's principal, or AuthError. A client sends the same token on every call, so a verified token
        is remembered until it expires: the signature check is paid once per token."""
        cached = self.cached(token)
        if cached is not None:
            return cached
        principal = self._verify(token)
        if len(self._verified) >= _VERIFIED_MAX:
            self._verified.clear()
        self._verified[token] = principal
        return principal

    async def verify_async(self, token: str) -> Principal:
        """`verify` for the event loop: a remembered token at once, any other on the verifier's own threads (a JWKS
        fetch over HTTPS blocks for as long as the identity provider takes to answer)."""
        cached = self.cached(token)
        if cached is not None:
            return cached
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.verify, token)

    def _verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("malformed token") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALGORITHMS:
            raise AuthError("token algorithm not accepted")
        if not isinstance(kid, str) or not kid:
            raise AuthError("token names no signing key")
        try:
            key = self.keys.get_signing_key(kid)
        except jwt.PyJWKClientConnectionError:
            raise AuthError("the identity provider's keys are unavailable") from None
        except jwt.PyJWKClientError:
            raise AuthError("token signed by an unknown key") from None
        if key.algorithm_name != alg:  # a key is used only with its own algorithm
            raise AuthError("token algorithm not accepted")
        try:
            claims = jwt.decode(token, key.key, algorithms=[alg], audience=self.audience, issuer=self.issuer,
                                leeway=self.leeway, options={"require": ["exp", "nbf", "iss", "aud", "sub"]})
            role = Role(claims.get("role", ""))
        except ValueError:
            raise AuthError("token carries no known role") from None
        except jwt.PyJWTError as exc:
            reason = next((text for kind, text in _REASONS if isinstance(exc, kind)), "invalid token")
            raise AuthError(reason) from None
        scope = claims.get("scope", "")
        queues = claims.get("queues", ())
        acr, amr, auth_time = claims.get("acr", ""), claims.get("amr", ()), claims.get("auth_time")
        if (not isinstance(scope, str) or not isinstance(queues, list | tuple) or not isinstance(acr, str)
                or not isinstance(amr, list | tuple) or not all(isinstance(m, str) for m in amr)
                or not (auth_time is None or (isinstance(auth_time, int | float) and not isinstance(auth_time, bool)))):
            raise AuthError("malformed token")
        return Principal(str(claims["sub"]), role, frozenset(map(str, queues)), frozenset(scope.split()),
                         float(claims["exp"]), acr, frozenset(amr), None if auth_time is None else float(auth_time))


_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)


def current_principal() -> Principal:
    principal = _current.get()
    if principal is None:
        raise PermissionDeniedError("no authenticated caller")
    return principal


def set_principal(principal: Principal | None) -> contextvars.Token[Principal | None]:
    return _current.set(principal)


def reset_principal(token: contextvars.Token[Principal | None]) -> None:
    _current.reset(token)


def require_customer(customer_id: str) -> Principal:
    """A customer may act only on its own data; advisors, operators and scoped services on any customer's."""
    principal = current_principal()
    if principal.role == Role.CUSTOMER and principal.subject != customer_id:
        raise PermissionDeniedError("a customer can reach only its own data")
    return principal


def require_owner(owner_customer_id: str | None, what: str) -> Principal:
    """For an object looked up by id: a customer who does not own it is told exactly what a caller asking for a
    missing one is told (NOT_FOUND), so ids cannot be probed."""
    principal = current_principal()
    if owner_customer_id is None or (principal.role == Role.CUSTOMER and principal.subject != owner_customer_id):
        raise NotFoundError(f"no such {what}")
    return principal


def require_step_up(acr_values: Iterable[str], max_age_seconds: float, now: float | None = None) -> Principal:
    """A customer doing something sensitive (lifting a card freeze) must have authenticated strongly and recently:
    the token's `acr` is one of `acr_values` (or its `amr` says `mfa`) and its `auth_time` is at most
    `max_age_seconds` old; otherwise StepUpRequired. Other roles the RPC admits (operators) pass: staff actions are
    audited instead."""
    principal = current_principal()
    if principal.role != Role.CUSTOMER:
        return principal
    wanted = sorted(set(acr_values))
    strong = principal.acr in wanted or bool(principal.amr & STRONG_AMR)
    age = (time.time() if now is None else now) - principal.auth_time if principal.auth_time is not None else None
    if not strong or age is None or age > max_age_seconds:
        raise StepUpRequired(f"step-up authentication required: a token with acr {' or '.join(wanted)} (or amr "
                             f"mfa) and an auth_time within the last {max_age_seconds:.0f} s")
    return principal


def require_queue(queue: str) -> Principal:
    """An advisor reaches only the queues it belongs to; operators (and scoped services) reach every queue."""
    principal = current_principal()
    if principal.role == Role.OPERATOR or principal.role == Role.SERVICE:
        return principal
    if principal.role != Role.ADVISOR or queue not in principal.queues:
        raise PermissionDeniedError(f"not a member of queue {queue!r}")
    return principal
