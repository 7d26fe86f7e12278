"""gRPC client side: a channel that sends the bearer token on every call (CLI, tests, service-to-service)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from opentelemetry import propagate

from services.platform import tracing


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


def connect(target: str, token: str | None = None) -> grpc.Channel:
    """A channel to `target` ("127.0.0.1:50051"); with a token, every call carries it."""
    channel = grpc.insecure_channel(target)
    return grpc.intercept_channel(channel, _BearerToken(token)) if token else channel


def auth_metadata(token: str) -> tuple[tuple[str, str], ...]:
    """Metadata for one call (for the asyncio client, which takes it per call)."""
    return (("authorization", f"Bearer {token}"),)
