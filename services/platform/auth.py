"""Signed bearer tokens (JWT, HS256) and per-call access checks.

A token carries a subject and a role: a customer reaches only its own data, an advisor only its queues,
operators and services reach everything their RPC allows. The gRPC bootstrap verifies the token of every call
and sets the caller's `Principal` for the handler; handlers then call `require_customer` / `require_queue`.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import jwt

from services.platform.errors import PermissionDeniedError

ISSUER = "proactive-care"
ALGORITHM = "HS256"


class Role(StrEnum):
    CUSTOMER = "customer"
    ADVISOR = "advisor"
    OPERATOR = "operator"
    SERVICE = "service"


ALL_ROLES = frozenset(Role)


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    queues: frozenset[str] = frozenset()


class AuthError(Exception):
    """The token is missing, malformed, badly signed or expired (UNAUTHENTICATED)."""


_VERIFIED_MAX = 10_000
_verified: dict[tuple[str, str], tuple[Principal, float]] = {}  # (key, token) -> (principal, expiry)

_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)


def issue_token(secret: str, subject: str, role: Role | str, *, queues: Iterable[str] = (),
                ttl_seconds: int = 3600) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": subject, "role": str(Role(role)), "iat": now, "exp": now + ttl_seconds}
    if queues:
        claims["queues"] = sorted(queues)
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(secret: str, token: str) -> Principal:
    """The token's principal, or AuthError. A client sends the same token on every call, so a verified token
    is remembered until it expires: the signature check (about a millisecond) is paid once per token."""
    now = time.time()
    cached = _verified.get((secret, token))
    if cached is not None and cached[1] > now:
        return cached[0]
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=ISSUER,
                            options={"require": ["exp", "sub", "iss"]})
        principal = Principal(claims["sub"], Role(claims.get("role", "")), frozenset(claims.get("queues", ())))
    except (jwt.PyJWTError, ValueError) as exc:
        raise AuthError(f"invalid token: {exc}") from exc
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    _verified[(secret, token)] = (principal, float(claims["exp"]))
    return principal


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
    """A customer may act only on its own data; advisors, operators and services on any customer's."""
    principal = current_principal()
    if principal.role == Role.CUSTOMER and principal.subject != customer_id:
        raise PermissionDeniedError("a customer can reach only its own data")
    return principal


def require_queue(queue: str) -> Principal:
    """An advisor reaches only the queues it belongs to; operators reach every queue."""
    principal = current_principal()
    if principal.role == Role.OPERATOR or principal.role == Role.SERVICE:
        return principal
    if principal.role != Role.ADVISOR or queue not in principal.queues:
        raise PermissionDeniedError(f"not a member of queue {queue!r}")
    return principal
