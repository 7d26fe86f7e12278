"""Helpers that make hostile tokens (the security suite's attack tables)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization

from services.platform.dev_identity import DevIdentity, ensure_dev_identity
from services.platform.settings import Settings
from tests.integration.conftest import dev_identity


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(settings: Settings, subject: str = "A", service: str = "notify", **changes: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {"iss": settings.auth_issuer, "sub": subject, "aud": settings.audience(service),
                               "role": "customer", "iat": now, "nbf": now, "exp": now + 300}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def signed(settings: Settings, **changes: object) -> str:
    """A token signed with the session's real key, with claims changed (None drops a claim)."""
    identity = dev_identity()
    private = serialization.load_pem_private_key(identity.key_path.read_bytes(), password=None)
    return jwt.encode(claims(settings, **changes), private, algorithm="ES256",  # type: ignore[arg-type]
                      headers={"kid": identity.kid})


def alg_none(settings: Settings) -> str:
    header = {"alg": "none", "typ": "JWT", "kid": dev_identity().kid}
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims(settings)).encode())}."


def hs256_with_public_key(settings: Settings) -> str:
    """The classic key-confusion attack: HMAC-sign with the provider's *public* key (from the JWKS)."""
    identity = dev_identity()
    public = identity.jwks_path.read_bytes()
    header = {"alg": "HS256", "typ": "JWT", "kid": identity.kid}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims(settings)).encode())}"
    signature = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def other_key(settings: Settings, directory: Path, *, same_kid: bool) -> str:
    """Signed by a key pair the provider never published: under its own key id, or claiming the real one's."""
    other = ensure_dev_identity(directory)
    if same_kid:
        other = DevIdentity(other.directory, dev_identity().kid)
    return other.issue("A", "customer", audience=settings.audience("notify"), issuer=settings.auth_issuer)
