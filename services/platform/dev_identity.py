"""The development identity provider: an ES256 key pair and its JWKS under the data directory.

Development mode (`make run`, the tests) has no bank identity provider, so it makes its own: a P-256 key pair in
`<data_dir>/dev-identity/` whose public half is published as `jwks.json` and whose private half signs the tokens
`proactive-care token` issues. Its key id starts with `DEV_KID_PREFIX`, so a service outside development mode
recognises the development key in a JWKS and refuses to start with it. There is no signing key in the source.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from services.platform.auth import Role

DEV_KID_PREFIX = "proactive-care-dev-"
DEV_ISSUER = "https://idp.proactive-care.invalid/dev"
DEFAULT_TTL_SECONDS = 900  # access tokens are short-lived


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


@dataclass(frozen=True)
class DevIdentity:
    """The development key pair: `jwks_path` is what services verify against, `key_path` what signs."""

    directory: Path
    kid: str

    @property
    def jwks_path(self) -> Path:
        return self.directory / "jwks.json"

    @property
    def key_path(self) -> Path:
        return self.directory / "signing-key.pem"

    @property
    def jwks_url(self) -> str:
        return self.jwks_path.resolve().as_uri()

    def issue(self, subject: str, role: Role | str, *, audience: str | Sequence[str],
              issuer: str = DEV_ISSUER, queues: Iterable[str] = (), scopes: Iterable[str] = (),
              ttl_seconds: int = DEFAULT_TTL_SECONDS, not_before: int | None = None, acr: str = "",
              amr: Iterable[str] = (), auth_time: int | None = None) -> str:
        """An RFC 9068-shaped access token signed with the development key (`acr`, `amr`, `auth_time`: how the
        holder authenticated, for step-up)."""
        now = int(time.time())
        claims: dict[str, object] = {
            "iss": issuer, "sub": subject, "aud": audience if isinstance(audience, str) else list(audience),
            "role": str(Role(role)), "iat": now, "nbf": now if not_before is None else not_before,
            "exp": now + ttl_seconds, "jti": uuid.uuid4().hex, "client_id": "proactive-care-dev"}
        if queues:
            claims["queues"] = sorted(queues)
        if scopes:
            claims["scope"] = " ".join(sorted(scopes))
        if acr:
            claims["acr"] = acr
        if amr:
            claims["amr"] = sorted(amr)
        if auth_time is not None:
            claims["auth_time"] = auth_time
        key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        return jwt.encode(claims, key, algorithm="ES256",  # type: ignore[arg-type]
                          headers={"kid": self.kid, "typ": "at+jwt"})


def ensure_dev_identity(directory: Path) -> DevIdentity:
    """The development identity in `directory`, created on first use (a key pair and its one-key JWKS)."""
    jwks_path, key_path = directory / "jwks.json", directory / "signing-key.pem"
    if jwks_path.exists() and key_path.exists():
        kid = json.loads(jwks_path.read_text())["keys"][0]["kid"]
        return DevIdentity(directory, kid)
    directory.mkdir(parents=True, exist_ok=True)
    private = ec.generate_private_key(ec.SECP256R1())
    kid = f"{DEV_KID_PREFIX}{uuid.uuid4().hex[:12]}"
    jwk = json.loads(ECAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": kid, "alg": "ES256", "use": "sig"})
    _write_private(key_path, private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
    tmp = jwks_path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"keys": [jwk]}, indent=2))
    tmp.replace(jwks_path)
    return DevIdentity(directory, kid)


def has_dev_key(jwks: dict) -> bool:
    """Whether a JWKS publishes a development key (a production service refuses to start with one)."""
    return any(str(k.get("kid", "")).startswith(DEV_KID_PREFIX) for k in jwks.get("keys", ()))
