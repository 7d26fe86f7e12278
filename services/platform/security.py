"""What a process needs to be secure, resolved once before it serves: keys, certificates, start-up refusals.

Development mode fills in what is missing with the generated development identity provider and CA under the
data directory. Anywhere else a service refuses to start (`StartupRefused`, one clear line) when:
- no JWKS is configured (AUTH_JWKS_URL) or no issuer (AUTH_ISSUER);
- the JWKS publishes the development key;
- gRPC listens on a non-loopback address without TLS (TLS_CERT_FILE, TLS_KEY_FILE);
- a certificate, key or CA file named for gRPC or /metrics TLS is missing, or a certificate comes without its key.
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote, urlparse

import grpc
import jwt

from services.platform.auth import TokenVerifier, jwks_tls_context
from services.platform.dev_identity import DEV_ISSUER, ensure_dev_identity, has_dev_key
from services.platform.dev_tls import ensure_dev_tls
from services.platform.settings import Settings


class StartupRefused(Exception):
    """The process must not serve with this configuration; the message says what to set."""


def jwks_url(value: str) -> str:
    """AUTH_JWKS_URL as a URL: an https:// (or file://) URL as given, a plain path as a file:// URL."""
    if not value or "://" in value:
        return value
    return Path(value).resolve().as_uri()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def dev_identity_dir(settings: Settings) -> Path:
    return settings.data_dir / "dev-identity"


def dev_tls_dir(settings: Settings) -> Path:
    return settings.data_dir / "dev-tls"


def resolve(settings: Settings) -> Settings:
    """The settings with the development key and certificates filled in (development mode only)."""
    if not settings.development:
        return settings
    changes: dict[str, object] = {}
    if not settings.auth_jwks_url:
        changes["auth_jwks_url"] = ensure_dev_identity(dev_identity_dir(settings)).jwks_url
        changes["auth_issuer"] = settings.auth_issuer or DEV_ISSUER
    elif not settings.auth_issuer:
        changes["auth_issuer"] = DEV_ISSUER
    if not settings.tls_cert_file:
        tls = ensure_dev_tls(dev_tls_dir(settings))
        changes.update(tls_cert_file=str(tls.server_cert_file), tls_key_file=str(tls.server_key_file))
        if not settings.grpc_tls_ca_file:
            changes["grpc_tls_ca_file"] = str(tls.ca_file)
    return settings.with_overrides(**changes) if changes else settings


def check_startup(settings: Settings) -> None:
    """Raise StartupRefused when the (resolved) settings are not fit to serve."""
    if settings.development:
        return
    if not settings.auth_jwks_url:
        raise StartupRefused("refusing to start: AUTH_JWKS_URL is not set (the identity provider's JWKS: an "
                             "https:// URL or a file); PROACTIVE_CARE_ENV=development only for development")
    if not settings.auth_issuer:
        raise StartupRefused("refusing to start: AUTH_ISSUER is not set (the `iss` of the identity provider)")
    url = jwks_url(settings.auth_jwks_url)
    if urlparse(url).scheme not in ("https", "file"):
        raise StartupRefused(f"refusing to start: AUTH_JWKS_URL must be https:// or a file, not {url!r}")
    try:
        if url.startswith("file:"):
            jwks = json.loads(Path(unquote(urlparse(url).path)).read_text())
        else:
            jwks = jwt.PyJWKClient(url, timeout=10, ssl_context=jwks_tls_context(settings.auth_jwks_ca_file)
                                   ).fetch_data()
        jwt.PyJWKSet.from_dict(jwks)  # at least one usable key
    except (jwt.PyJWTError, ValueError, OSError) as exc:
        raise StartupRefused(f"refusing to start: the JWKS at {url} could not be read ({type(exc).__name__})"
                             ) from None
    if has_dev_key(jwks):
        raise StartupRefused("refusing to start: the JWKS holds the development key; configure the bank's "
                             "identity provider (AUTH_JWKS_URL)")
    tls = bool(settings.tls_cert_file and settings.tls_key_file)
    if bool(settings.tls_cert_file) != bool(settings.tls_key_file):
        raise StartupRefused("refusing to start: TLS_CERT_FILE and TLS_KEY_FILE go together")
    if not tls and not is_loopback(settings.grpc_host):
        raise StartupRefused(f"refusing to start: gRPC on {settings.grpc_host} without TLS; set TLS_CERT_FILE "
                             "and TLS_KEY_FILE (or listen on 127.0.0.1)")
    if bool(settings.metrics_tls_cert_file) != bool(settings.metrics_tls_key_file):
        raise StartupRefused("refusing to start: METRICS_TLS_CERT_FILE and METRICS_TLS_KEY_FILE go together")
    if settings.metrics_tls_client_ca_file and not settings.metrics_tls_cert_file:
        raise StartupRefused("refusing to start: METRICS_TLS_CLIENT_CA_FILE needs METRICS_TLS_CERT_FILE and "
                             "METRICS_TLS_KEY_FILE (client certificates are checked over TLS)")
    for name in ("tls_cert_file", "tls_key_file", "tls_client_ca_file", "metrics_tls_cert_file",
                 "metrics_tls_key_file", "metrics_tls_client_ca_file", "auth_jwks_ca_file"):
        path = getattr(settings, name)
        if path and not Path(path).is_file():
            raise StartupRefused(f"refusing to start: {name.upper()} {path} is not a readable file")


def verifier(settings: Settings, service: str) -> TokenVerifier:
    """The token verifier of one service (its own audience)."""
    return TokenVerifier(jwks_url(settings.auth_jwks_url), issuer=settings.auth_issuer,
                         audience=settings.audience(service), leeway_seconds=settings.auth_leeway_seconds,
                         refresh_cooldown_seconds=settings.auth_jwks_refresh_cooldown_seconds,
                         fetch_timeout_seconds=settings.auth_jwks_timeout_seconds, ca_file=settings.auth_jwks_ca_file)


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS for the gRPC server (mutual TLS when a client CA is configured), or None for plaintext."""
    if not settings.tls_cert_file:
        return None
    chain = Path(settings.tls_cert_file).read_bytes()
    key = Path(settings.tls_key_file).read_bytes()
    client_ca = Path(settings.tls_client_ca_file).read_bytes() if settings.tls_client_ca_file else None
    return grpc.ssl_server_credentials([(key, chain)], root_certificates=client_ca,
                                       require_client_auth=client_ca is not None)


def channel_credentials(settings: Settings) -> grpc.ChannelCredentials | None:
    """TLS for a client channel (with a client certificate for mTLS when configured), or None for plaintext."""
    if not settings.grpc_tls_ca_file:
        return None
    ca = Path(settings.grpc_tls_ca_file).read_bytes()
    cert = Path(settings.grpc_tls_client_cert_file).read_bytes() if settings.grpc_tls_client_cert_file else None
    key = Path(settings.grpc_tls_client_key_file).read_bytes() if settings.grpc_tls_client_key_file else None
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)


def issue_dev_token(settings: Settings, subject: str, role: str, *, services: Sequence[str],
                    queues: Sequence[str] = (), scopes: Sequence[str] = (), ttl_seconds: int = 900,
                    step_up: bool = False) -> str:
    """A token signed with the development key for `services` (development mode only: the development key
    signs nothing a production service accepts). `step_up`: the holder has just authenticated strongly (the first
    STEP_UP_ACR_VALUES value as `acr`, `amr` mfa, `auth_time` now), as UnfreezeCard asks of a customer."""
    if not settings.development:
        raise StartupRefused("tokens are signed with the development key only in development mode "
                             "(PROACTIVE_CARE_ENV=development); production tokens come from the identity provider")
    identity = ensure_dev_identity(dev_identity_dir(settings))
    acr = settings.step_up_acr_values.replace(",", " ").split()[0] if step_up else ""
    return identity.issue(subject, role, audience=[settings.audience(s) for s in services],
                          issuer=settings.auth_issuer or DEV_ISSUER, queues=queues, scopes=scopes,
                          ttl_seconds=ttl_seconds, acr=acr, amr=("mfa", "otp", "pwd") if step_up else (),
                          auth_time=int(time.time()) if step_up else None)
