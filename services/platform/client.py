"""gRPC client side: a channel (TLS when a CA is configured) that sends the bearer token on every call (CLI,
tests, service-to-service).

The TLS settings come from the environment (GRPC_TLS_CA_FILE, and GRPC_TLS_CLIENT_CERT_FILE /
GRPC_TLS_CLIENT_KEY_FILE for mutual TLS); in development mode the development CA under the data directory is
trusted when no CA is given."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from opentelemetry import propagate

from services.platform import security, tracing
from services.platform.settings import Settings


class _BearerToken(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    def __init__(self, token: str) -> None:
        self.metadata = (("authorization", f"Bearer {token}"),)

    def _details(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        metadata = (*(details.metadata or ()), *self.metadata)
        if tracing.enabled():  # the current span's context travels to the server as `traceparent` metadata
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            metadata += tuple(carrier.items())
        return _Details(details.method, details.timeout, metadata, details.credentials, details.wait_for_ready,
                        details.compression)

    def intercept_unary_unary(self, continuation: Callable[..., Any], details: grpc.ClientCallDetails,
                              request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Callable[..., Any], details: grpc.ClientCallDetails,
                               request: Any) -> Any:
        return continuation(self._details(details), request)


class _Details(grpc.ClientCallDetails):
    def __init__(self, method: str, timeout: float | None, metadata: Any, credentials: Any,
                 wait_for_ready: bool | None, compression: Any) -> None:
        self.method = method
        self.timeout = timeout
        self.metadata = metadata
        self.credentials = credentials
        self.wait_for_ready = wait_for_ready
        self.compression = compression


def client_credentials(settings: Settings | None = None) -> grpc.ChannelCredentials | None:
    """The TLS credentials clients use (None: plaintext, e.g. no CA configured outside development)."""
    settings = settings or Settings.from_env()
    if not settings.grpc_tls_ca_file and settings.development:
        ca = security.dev_tls_dir(settings) / "ca.pem"
        if ca.exists():
            tls = security.dev_tls_dir(settings)
            settings = settings.with_overrides(
                grpc_tls_ca_file=str(ca),
                grpc_tls_client_cert_file=settings.grpc_tls_client_cert_file or str(tls / "client.pem"),
                grpc_tls_client_key_file=settings.grpc_tls_client_key_file or str(tls / "client-key.pem"))
    return security.channel_credentials(settings)


def connect(target: str, token: str | None = None, *, settings: Settings | None = None) -> grpc.Channel:
    """A channel to `target` ("127.0.0.1:50051"); with a token, every call carries it."""
    credentials = client_credentials(settings)
    channel = grpc.secure_channel(target, credentials) if credentials else grpc.insecure_channel(target)
    return grpc.intercept_channel(channel, _BearerToken(token)) if token else channel


def connect_aio(target: str, *, settings: Settings | None = None) -> grpc.aio.Channel:
    """An asyncio channel to `target` with the same TLS settings (pass `auth_metadata(token)` per call)."""
    credentials = client_credentials(settings)
    return grpc.aio.secure_channel(target, credentials) if credentials else grpc.aio.insecure_channel(target)


def auth_metadata(token: str) -> tuple[tuple[str, str], ...]:
    """Metadata for one call (for the asyncio client, which takes it per call)."""
    return (("authorization", f"Bearer {token}"),)
